package securityserver

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	TuneGC()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("without GOGC the GC percent is %d, want %d", got, GCPercent)
	}
	t.Setenv("GOGC", "150") // the operator's choice (the runtime read it at start)
	debug.SetGCPercent(150)
	TuneGC()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Fatalf("with GOGC=150 TuneGC changed the GC percent to %d", got)
	}
}
