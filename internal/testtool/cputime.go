package testtool

import (
	"testing"
	"time"
)

// ReportCPU reports the process's CPU time per operation since start (a
// CPUTime reading taken before the loop) as the metric cpu-ns/op. On a
// machine other work shares, CPU per operation varies much less than the
// wall time of ns/op. Use it as
//
//	defer testtool.ReportCPU(b, testtool.CPUTime())
//	for b.Loop() { ... }
func ReportCPU(b *testing.B, start time.Duration) {
	if start > 0 && b.N > 0 {
		b.ReportMetric(float64(CPUTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
