package main

import (
	"context"
	"crypto"
	"crypto/sha512"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/signature"
)

// BenchmarkVerifyLog measures `logaudit verify --log` on a large log of
// real exchanges: ƏMDK's requests and DİN's responses, each signed with its
// member's ECDSA key (a fresh OCSP response every 2,000 records, as a
// server refreshes its staple), time-stamped in batches of 1,000 by the
// federation's TSA. SLUZ_BENCH_RECORDS sets the size (default 200,000).
// The log is built once into SLUZ_BENCH_DIR (default the system's temp
// directory), named by its size, and reused: remove it to build it again.
// Each iteration verifies the whole log; records/s is reported.
//
//	SLUZ_BENCH_RECORDS=200000 go test -run '^$' -bench BenchmarkVerifyLog -benchtime 1x ./cmd/logaudit
func BenchmarkVerifyLog(b *testing.B) {
	n := 200000
	if s := os.Getenv("SLUZ_BENCH_RECORDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 {
			b.Fatalf("SLUZ_BENCH_RECORDS=%q: want a number of records, at least 2", s)
		}
	}
	dir := os.Getenv("SLUZ_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, fmt.Sprintf("sluz-bench-verifylog-%d", n))
	logPath := filepath.Join(dir, "messagelog.db")
	if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
		os.RemoveAll(dir)
		start := time.Now()
		if err := buildBenchLog(dir, logPath, n); err != nil {
			os.RemoveAll(dir)
			b.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
		b.Logf("built %d records in %s (%s)", n, time.Since(start).Round(time.Second), dir)
	}
	pki := filepath.Join(dir, "pki")
	args := []string{"verify", "--log", logPath, "--ca", filepath.Join(pki, pkiutil.FileRootCert), "--ca", filepath.Join(pki, pkiutil.FileCACert)}
	debug.FreeOSMemory() // what building the log took is not the verifier's
	peakAnon, peakFile := watchRSS(b)
	b.ResetTimer()
	for b.Loop() {
		code, out, errOut := runCLI(args...)
		if code != cli.ExitOK || !strings.Contains(out, fmt.Sprintf("%d records, %d verified", n, n)) {
			b.Fatalf("verify: exit %d\n%.2000s%s", code, out, errOut)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peakAnon())/(1<<20), "peak-anon-MiB")
	b.ReportMetric(float64(peakFile())/(1<<20), "peak-file-MiB")
}

// watchRSS samples the process's resident memory every 50 ms until the
// benchmark ends: its peaks of anonymous memory (the heap and stacks) and
// of file pages mapped (the log, which bbolt maps and the page cache
// holds).
func watchRSS(b *testing.B) (anon, file func() int64) {
	var mu sync.Mutex
	var pa, pf int64
	stop := make(chan struct{})
	b.Cleanup(func() { close(stop) })
	read := func() {
		data, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return
		}
		for _, line := range strings.Split(string(data), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "RssAnon: %d kB", &kb); err == nil {
				mu.Lock()
				pa = max(pa, kb<<10)
				mu.Unlock()
			}
			if _, err := fmt.Sscanf(line, "RssFile: %d kB", &kb); err == nil {
				mu.Lock()
				pf = max(pf, kb<<10)
				mu.Unlock()
			}
		}
	}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				read()
			}
		}
	}()
	get := func(p *int64) func() int64 {
		return func() int64 {
			read()
			mu.Lock()
			defer mu.Unlock()
			return *p
		}
	}
	return get(&pa), get(&pf)
}

// buildBenchLog writes n signed, chained and time-stamped records into a
// new log at logPath, with a new federation trust directory in dir/pki.
func buildBenchLog(dir, logPath string, n int) error {
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "pki")})
	if err != nil {
		return err
	}
	svc, err := pkiutil.NewServices(ca, nil)
	if err != nil {
		return err
	}
	defer svc.Close()
	type side struct {
		signer *signature.Signer
		kind   messagelog.Kind
	}
	var sides []*side
	for i, member := range []string{"AZ/GOV/EMDK", "AZ/GOV/DIN"} { // the client signs requests, the provider responses
		key, err := pkiutil.GenerateKey(ca.Federation.KeyType)
		if err != nil {
			return err
		}
		cert, err := ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: member, PublicKey: key.Public()})
		if err != nil {
			return err
		}
		sides = append(sides, &side{signer: &signature.Signer{Key: key, Cert: cert}, kind: [2]messagelog.Kind{messagelog.Request, messagelog.Response}[i]})
	}
	staple := func(cert *x509.Certificate) ([]byte, error) {
		reqDER, err := ocsp.CreateRequest(cert, ca.Cert, crypto.SHA256, nil)
		if err != nil {
			return nil, err
		}
		req, err := ocsp.ParseRequest(reqDER)
		if err != nil {
			return nil, err
		}
		return svc.OCSP.Respond(context.Background(), req), nil
	}
	l, err := messagelog.Open(logPath, messagelog.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	client, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
	service, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	const batch = 1000
	var recs []*messagelog.Record
	for i := range n {
		s := sides[i%2]
		if i%2000 < 2 {
			if s.signer.OCSP, err = staple(s.signer.Cert); err != nil {
				return err
			}
		}
		id := fmt.Sprintf("bench-%08d", i/2)
		msg := localfed.RequestXML(client, service, id, "AZTEST0001", fmt.Sprintf("<fin>%07X</fin>", i/2))
		now := time.Now()
		sig, err := s.signer.Sign(signature.Part{URI: signature.MessageURI, Data: msg, MimeType: "text/xml"}, now)
		if err != nil {
			return err
		}
		sum := sha512.Sum512(msg)
		recs = append(recs, &messagelog.Record{Time: now, Side: messagelog.ClientSide, Kind: s.kind, MessageID: id, RequestID: id,
			Client: client.String(), Service: service.String(), Message: msg, MessageDigest: sum[:],
			Signature: sig, ContentType: "text/xml; charset=utf-8"})
		if len(recs) < batch && i < n-1 {
			continue
		}
		if err := l.Append(context.Background(), recs...); err != nil {
			return err
		}
		recs = recs[:0]
		first, last, _, err := l.Pending()
		if err != nil {
			return err
		}
		sigs, err := l.SignatureDigests(first, last)
		if err != nil {
			return err
		}
		bt, err := messagelog.NewBatch(first, last, sigs)
		if err != nil {
			return err
		}
		h, imprint := bt.Imprint()
		resp, err := svc.TSA.Respond(&tsa.Request{HashAlgorithm: h, HashedMessage: imprint, CertReq: true})
		if err != nil {
			return err
		}
		bt.Token, bt.Time, bt.TSA = resp.Token, time.Now(), "federation"
		if err := l.AddBatch(bt); err != nil {
			return err
		}
	}
	return nil
}
