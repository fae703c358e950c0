package messagelog_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// BenchmarkAppendExchange is the message log's cost per exchange as a
// security server's proxy pays it: 16 concurrent callers each append a
// request and a response record (about 1 KB of SOAP and a 4.7 KB
// signature document each, every document distinct: messages signed
// alone, the usual case) in one Append, so group commits form as under
// load. It reports the process's CPU per exchange (cpu-ns/op: the commit,
// its write and fdatasync, and the background moves into the bbolt file,
// all flushed before the clock stops) and the allocations.
func BenchmarkAppendExchange(b *testing.B) {
	l, err := messagelog.Open(filepath.Join(b.TempDir(), "messagelog.db"), messagelog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	base := storetest.SignatureDoc(1)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	start := testtool.CPUTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			req := storetest.BatchRec(2*i, distinctDoc(base, 2*i))
			resp := storetest.BatchRec(2*i+1, distinctDoc(base, 2*i+1))
			resp.Kind = messagelog.Response
			if err := l.Append(context.Background(), req, resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	testtool.ReportCPU(b, start)
}

// distinctDoc is base made distinct by n in its first bytes, as cheaply
// as the proxies get their documents (no hashing here).
func distinctDoc(base []byte, n int) []byte {
	d := bytes.Clone(base)
	copy(d[len(d)-40:], fmt.Sprintf("<!--%034d-->", n))
	return d
}
