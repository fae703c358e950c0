package messagelog_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluz/sluz/securityserver/messagelog"
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
				ctx := context.Background()
				batch := 0
				recs := make([]*messagelog.Record, n)
				w0, cpu0 := wchar(b), cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i += n {
					batch++
					doc := benchDoc(batch)
					for j := range recs {
						recs[j] = benchRecord(i+j, doc)
					}
					if mode == "commit" {
						err = l.Append(ctx, recs...)
					}
					for j := 0; mode == "apart" && j < n && err == nil; j++ {
						err = l.Append(ctx, recs[j])
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Flush(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				recsDone := float64((b.N + n - 1) / n * n)
				b.ReportMetric(float64(wchar(b)-w0)/recsDone, "B-written/rec")
				b.ReportMetric(float64(cpuTime()-cpu0)/recsDone, "cpu-ns/rec")
			})
		}
	}
}

// benchDoc is a signature document of a real one's size; n makes it
// distinct.
func benchDoc(n int) []byte {
	filler := bytes.Repeat(fmt.Appendf(nil, "certificate and OCSP response of batch %d;", n), 80)
	return fmt.Appendf(nil, `<asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#"><ds:Signature Id="batch-%d">%s</ds:Signature></asic:XAdESSignatures>`,
		n, base64.StdEncoding.EncodeToString(filler))
}

func benchRecord(i int, doc []byte) *messagelog.Record {
	body := fmt.Appendf(nil, "<SOAP-ENV:Envelope><SOAP-ENV:Header>%s</SOAP-ENV:Header><SOAP-ENV:Body>FİN 5ZJ8K2L, sorğu %d</SOAP-ENV:Body></SOAP-ENV:Envelope>",
		strings.Repeat("<xrd:client>AZ/GOV/EMDK/realestate</xrd:client>", 20), i)
	sum := sha512.Sum512(body)
	return &messagelog.Record{Side: messagelog.ClientSide, Kind: messagelog.Request, MessageID: fmt.Sprintf("id-%d", i), RequestID: "rq",
		Client: "AZ/GOV/EMDK/realestate", Service: "AZ/GOV/DIN/population/getPersonByFin/v1",
		Message: body, MessageDigest: sum[:], Signature: bytes.Clone(doc), ContentType: "text/xml; charset=UTF-8"}
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
