package messagelog_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// BenchmarkAppendSigningBatch appends the records of signing batches of N
// messages, each carrying its own copy of the batch's signature document
// (about 4.7 KB, as the proxies log them), and reports per record the bytes
// the process wrote (wchar: the write-ahead file and the bbolt file's
// pages) and its CPU (user+system, the store's background moves
// included: everything is flushed into the bbolt file before the clock
// stops). "commit" appends each batch's records in one Append (one group
// commit), "apart" one Append each (a group commit each, the document
// shared across commits).
func BenchmarkAppendSigningBatch(b *testing.B) {
	for _, mode := range []string{"commit", "apart"} {
		for _, n := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/N=%d", mode, n), func(b *testing.B) {
				l, err := messagelog.Open(filepath.Join(b.TempDir(), "messagelog.db"), messagelog.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				w0, cpu0 := wchar(b), cpuTime()
				b.ResetTimer()
				recsDone := float64(storetest.AppendSigningBatches(b, l, n, b.N, mode == "apart"))
				if err := l.Flush(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(wchar(b)-w0)/recsDone, "B-written/rec")
				b.ReportMetric(float64(cpuTime()-cpu0)/recsDone, "cpu-ns/rec")
			})
		}
	}
}

// wchar is the bytes this process passed to write calls (/proc/self/io).
func wchar(b *testing.B) int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skip("no wchar in /proc/self/io")
	return 0
}

// cpuTime is this process's user and system CPU time in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
