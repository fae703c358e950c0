//go:build !linux

package messagelog

import "os"

func fdatasync(f *os.File) error { return f.Sync() }
