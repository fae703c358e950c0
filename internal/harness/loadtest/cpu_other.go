//go:build !unix

package loadtest

import "time"

func ProcessCPU() time.Duration { return 0 }
