package pglog

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// BenchmarkAppend compares the two stores in one run: "serial" is one
// exchange at a time (the latency of one durable append), "parallel" 64 at
// once (group commit's throughput). Each op appends a request and a
// response record, as one exchange's side does.
func BenchmarkAppend(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) storetest.Store
	}{
		{"bbolt", func(b *testing.B) storetest.Store {
			l, err := messagelog.Open(filepath.Join(b.TempDir(), "messagelog.db"), messagelog.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return l
		}},
		{"postgres", func(b *testing.B) storetest.Store { return open(b, testtool.Postgres(b)) }},
	}
	for _, s := range stores {
		for _, mode := range []string{"serial", "parallel"} {
			b.Run(s.name+"/"+mode, func(b *testing.B) {
				l := s.open(b)
				defer l.Close()
				exchange := func() {
					if err := l.Append(context.Background(), storetest.Rec(0, time.Time{}), storetest.Rec(1, time.Time{})); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				if mode == "serial" {
					for b.Loop() {
						exchange()
					}
					return
				}
				b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						exchange()
					}
				})
			})
		}
	}
}
