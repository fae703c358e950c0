package opmon_test

import (
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/opmon"
)

// BenchmarkWriter is the background writer's cost per record: encoding,
// one bbolt commit per batch (time per record, Add to committed). What an
// exchange itself pays, Add, is a copy into the queue: about 0.2 µs and no
// allocation (TestAddAllocatesNothing) on the 2-core VM where this takes
// about 10 µs.
func BenchmarkWriter(b *testing.B) {
	s, err := opmon.Open(b.TempDir()+"/opmon.db", opmon.Options{QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rec("bench", time.Now())
	b.ReportAllocs()
	defer testtool.ReportCPU(b, testtool.CPUTime())
	for i := 0; b.Loop(); i++ {
		for !s.Add(r) {
			s.Flush()
		}
	}
	s.Flush()
}
