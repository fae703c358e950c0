package securityserver_test

import (
	"context"
	"crypto/x509"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/store"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBatchTimestamps: records get an RFC 3161 token over their batch's
// time-stamp hash chain result (X-Road's ts-hashchainresult.xml over the
// records' signatures) soon after they are written; openssl verifies the
// token over the result's bytes with the federation CA files only.
func TestBatchTimestamps(t *testing.T) {
	e := e2eNew(t)
	for range 3 {
		req := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
		e2eWantAnswer(t, e.call(t, "EMDK", req), req)
	}
	log := e.agency("EMDK").Server.MessageLog()
	waitFor(t, "the records to be time-stamped", func() bool {
		res, err := log.Check()
		return err == nil && res.OK() && res.Stamped == res.LastSeq && res.LastSeq >= 6
	})
	batches, err := log.Batches()
	if err != nil || len(batches) == 0 {
		t.Fatalf("batches: %v %v", batches, err)
	}
	b := batches[len(batches)-1]
	sigs, _ := log.SignatureDigests(b.FirstSeq, b.LastSeq)
	want, err := messagelog.NewBatch(b.FirstSeq, b.LastSeq, sigs)
	if err != nil || !b.HashChain() || string(want.Result) != string(b.Result) || string(want.Root) != string(b.Root) {
		t.Fatalf("batch's hash chain does not match its records' signatures (%v)", err)
	}
	openssl := testtool.Require(t, "openssl")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "token.der"), b.Token, 0o644)
	os.WriteFile(filepath.Join(dir, "ts-hashchainresult.xml"), b.Result, 0o644)
	pki := filepath.Join(e.f.Dir, "pki")
	out, err := exec.Command(openssl, "ts", "-verify", "-token_in", "-in", filepath.Join(dir, "token.der"), "-data", filepath.Join(dir, "ts-hashchainresult.xml"),
		"-CAfile", filepath.Join(pki, pkiutil.FileRootCert), "-untrusted", filepath.Join(pki, pkiutil.FileCACert)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}
}

type counter struct{ n atomic.Int64 }

func (c *counter) Next() (*big.Int, error) { return big.NewInt(c.n.Add(1)), nil }

// TestTimestampingGracePeriod: with the TSA unreachable, exchanges go on
// within the grace period; past it new messages are refused with
// TimestampingFailed and /readyz on the admin listener says 503 and why;
// when the TSA is back the backlog is stamped, messages flow again and
// /readyz says ready.
func TestTimestampingGracePeriod(t *testing.T) {
	e := e2eNew(t)
	// A TSA address with nothing listening yet.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tsaAddr := ln.Addr().String()
	ln.Close()
	// The operator points the federation at it before our server starts.
	op := e.f.Operator
	tsaPEM, _ := os.ReadFile(filepath.Join(e.f.Dir, "pki", pkiutil.FileTSACert))
	name := e.f.Registry.Store().State().Trust.TSAs[0].Name
	req, _ := adminapi.NewBatchRequest("tsa-moved", []store.Change{store.RemoveTrust{Kind: "tsa", Name: name},
		store.AddTSA{Name: name, URL: "http://" + tsaAddr + "/", Cert: string(tsaPEM)}})
	if err := op.Do(context.Background(), http.MethodPost, "/api/v1/batch", req, nil); err != nil {
		t.Fatal(err)
	}
	var srv *securityserver.Server
	addr := startExtraServer(t, e, func(c *config.Config) {
		c.Timestamping = config.Timestamping{Interval: config.Duration(100 * time.Millisecond), MaxBatch: 1000, Grace: config.Duration(2 * time.Second)}
	}, &srv)
	admin := serveAdmin(t, srv)
	call := func() e2eReply {
		body := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
		return e2eDo(t, http.MethodPost, "http://"+addr+"/", "text/xml; charset=UTF-8", body)
	}
	// Within the grace period: answered.
	if r := call(); !strings.Contains(string(r.body), "requestHash") {
		t.Fatalf("within the grace period the exchange failed:\n%s", r.body)
	}
	// Past it: refused, with the reason.
	var refused e2eReply
	waitFor(t, "the grace period to run out", func() bool {
		refused = call()
		f, ok := message.ParseFault(refused.body)
		return ok && f.Code == message.Code(message.ClientProxy, message.TimestampingFailed)
	})
	f, _ := message.ParseFault(refused.body)
	e2eContains(t, f, "grace period")
	wantReady(t, admin, http.StatusServiceUnavailable, "not ready", "time-stamping", "grace period")

	// The TSA comes back on that address: the backlog is stamped, messages flow again.
	pki := filepath.Join(e.f.Dir, "pki")
	tsaCert, _ := pkiutil.ReadCertificate(filepath.Join(pki, pkiutil.FileTSACert))
	tsaKey, _ := pkiutil.ReadPrivateKey(filepath.Join(pki, pkiutil.FileTSAKey))
	auth, err := tsa.NewAuthority(tsa.Authority{Signer: tsaKey, Cert: tsaCert, Chain: []*x509.Certificate{e.f.CA.Cert}, Policy: pkiutil.TSAPolicy, Serials: &counter{}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err = net.Listen("tcp", tsaAddr)
	if err != nil {
		t.Skipf("the TSA address was taken meanwhile: %v", err)
	}
	hs := &http.Server{Handler: auth}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	waitFor(t, "the backlog to be time-stamped", func() bool {
		res, err := srv.MessageLog().Check()
		return err == nil && res.OK() && res.LastSeq > 0 && res.Stamped == res.LastSeq
	})
	waitReady(t, admin)
	if r := call(); !strings.Contains(string(r.body), "requestHash") {
		t.Fatalf("after the TSA returned the exchange failed:\n%s", r.body)
	}
}
