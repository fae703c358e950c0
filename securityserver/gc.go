package securityserver

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector target the security server runs with
// unless GOGC is set: an exchange allocates a few hundred KiB that die at
// once, and collecting at 3× the live heap instead of 2× cut the CPU per
// exchange by about a tenth in the load test (BENCHMARKS.md), for a heap of
// a few tens of MiB more.
const GCPercent = 300

// TuneGC applies GCPercent when the environment does not set GOGC. The
// binaries that run security servers call it once at start.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
