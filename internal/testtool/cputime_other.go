//go:build !unix

package testtool

import "time"

// CPUTime is 0 here: the process's CPU time is read on Unix only.
func CPUTime() time.Duration { return 0 }
