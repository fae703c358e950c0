package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"github.com/sluz/sluz/internal/testtool"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// opensslEnv holds the PEM files of the test PKI for openssl.
type opensslEnv struct {
	t   *testing.T
	dir string
	bin string
}

func newOpenSSL(t *testing.T, p *testPKI) *opensslEnv {
	t.Helper()
	bin := testtool.Require(t, "openssl")
	e := &opensslEnv{t: t, dir: t.TempDir(), bin: bin}
	for name, c := range map[string]*x509.Certificate{
		"root.pem": p.root, "issuing.pem": p.issuing, "leaf.pem": p.leaf, "leaf2.pem": p.leaf2,
		"unknown.pem": p.unknownLeaf, "responder.pem": p.responder,
	} {
		e.write(name, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	key, err := x509.MarshalPKCS8PrivateKey(p.responderKey)
	if err != nil {
		t.Fatal(err)
	}
	e.write("responder.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}))
	return e
}

func (e *opensslEnv) write(name string, b []byte) string {
	e.t.Helper()
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// run runs openssl in the PKI directory and returns stdout and stderr.
func (e *opensslEnv) run(args ...string) (string, string, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Dir = e.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// query asks the responder at u about the given certificates with openssl,
// verifying the response against root.pem, and checks openssl's verdict.
func (e *opensslEnv) query(u string, wantVerified bool, extra ...string) string {
	e.t.Helper()
	args := append([]string{"ocsp", "-issuer", "issuing.pem", "-url", u,
		"-CAfile", "root.pem", "-verify_other", "issuing.pem", "-timeout", "5"}, extra...)
	stdout, stderr, err := e.run(args...)
	out := stdout + stderr
	verified := strings.Contains(out, "Response verify OK")
	if verified != wantVerified || (wantVerified && err != nil) {
		e.t.Fatalf("openssl %s: verified=%v err=%v\n%s", strings.Join(args, " "), verified, err, out)
	}
	e.t.Logf("openssl %s:\n%s", strings.Join(args, " "), out)
	return out
}

func TestOpenSSLClient(t *testing.T) {
	p := getPKI(t)
	e := newOpenSSL(t, p)
	src := newMemSource(p)
	u := serve(t, newDelegated(t, p, src))

	out := e.query(u, true, "-cert", "leaf.pem")
	if !strings.Contains(out, "leaf.pem: good") {
		t.Fatalf("want good:\n%s", out)
	}

	src.set(p.leafSerial, Status{Status: Revoked, RevokedAt: time.Now().Add(-time.Hour), Reason: 1})
	out = e.query(u, true, "-cert", "leaf.pem")
	if !strings.Contains(out, "leaf.pem: revoked") || !strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("want revoked (keyCompromise):\n%s", out)
	}

	out = e.query(u, true, "-cert", "unknown.pem")
	if !strings.Contains(out, "unknown.pem: unknown") {
		t.Fatalf("want unknown:\n%s", out)
	}

	// SHA-256 CertIDs, two certificates in one request, without nonce.
	out = e.query(u, true, "-sha256", "-cert", "leaf.pem", "-cert", "leaf2.pem", "-no_nonce")
	if !strings.Contains(out, "leaf.pem: revoked") || !strings.Contains(out, "leaf2.pem: good") {
		t.Fatalf("want revoked and good:\n%s", out)
	}

	// A serial given directly, under a path prefix.
	out = e.query(u+"/some/prefix/", true, "-serial", "0x"+fmt.Sprintf("%X", p.unknownN))
	if !strings.Contains(out, ": unknown") {
		t.Fatalf("want unknown:\n%s", out)
	}
}

func TestOpenSSLIssuerSigned(t *testing.T) {
	p := getPKI(t)
	e := newOpenSSL(t, p)
	r, err := NewResponder(Responder{Issuer: p.issuing, SignerCert: p.issuing, Signer: p.issuingKey, Source: newMemSource(p)})
	if err != nil {
		t.Fatal(err)
	}
	out := e.query(serve(t, r), true, "-cert", "leaf.pem")
	if !strings.Contains(out, "leaf.pem: good") {
		t.Fatalf("want good:\n%s", out)
	}
}

// TestOpenSSLRejects checks that openssl refuses what Verify refuses.
func TestOpenSSLRejects(t *testing.T) {
	p := getPKI(t)
	e := newOpenSSL(t, p)
	src := newMemSource(p)
	for name, r := range map[string]*Responder{
		"no OCSPSigning EKU":  {Issuer: p.issuing, SignerCert: p.noEKU, Signer: p.noEKUKey, Source: src},
		"unrelated responder": {Issuer: p.issuing, SignerCert: p.otherResponder, Signer: p.otherResponderKey, Source: src},
	} {
		t.Run(name, func(t *testing.T) {
			se := *e
			se.t = t
			se.query(serve(t, r), false, "-cert", "leaf.pem")
		})
	}
}

// TestOpenSSLGET fetches with GET (which openssl ocsp cannot send) and lets
// openssl verify the response read from a file.
func TestOpenSSLGET(t *testing.T) {
	p := getPKI(t)
	e := newOpenSSL(t, p)
	src := newMemSource(p)
	src.set(p.leaf2Serial, Status{Status: Revoked, RevokedAt: time.Now().Add(-time.Hour), Reason: 5})
	u := serve(t, newDelegated(t, p, src))
	for _, c := range []struct {
		file string
		cert *x509.Certificate
		want string
	}{{"leaf.pem", p.leaf, "leaf.pem: good"}, {"leaf2.pem", p.leaf2, "leaf2.pem: revoked"}} {
		der, err := CreateRequest(c.cert, p.issuing, crypto.SHA1, nil)
		if err != nil {
			t.Fatal(err)
		}
		res := do(t, mustGET(t, u+"/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(der))))
		if res.code != 200 {
			t.Fatalf("HTTP %d", res.code)
		}
		e.write("get.der", res.body)
		stdout, stderr, err := e.run("ocsp", "-respin", "get.der", "-issuer", "issuing.pem", "-cert", c.file,
			"-CAfile", "root.pem", "-verify_other", "issuing.pem", "-no_nonce")
		out := stdout + stderr
		if err != nil || !strings.Contains(out, "Response verify OK") || !strings.Contains(out, c.want) {
			t.Fatalf("err %v, want %q:\n%s", err, c.want, out)
		}
	}
}

// TestOpenSSLInterop has openssl produce a request (parsed by ParseRequest
// and answered by the Responder) and answer one as a responder (verified by
// Verify).
func TestOpenSSLInterop(t *testing.T) {
	p := getPKI(t)
	e := newOpenSSL(t, p)

	_, stderr, err := e.run("ocsp", "-issuer", "issuing.pem", "-sha256", "-cert", "leaf.pem", "-nonce", "-reqout", "req.der")
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	der, err := os.ReadFile(filepath.Join(e.dir, "req.der"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Certs) != 1 || req.Certs[0].HashAlgorithm != crypto.SHA256 || req.Certs[0].SerialNumber.Cmp(p.leaf.SerialNumber) != 0 || len(req.Nonce) == 0 {
		t.Fatalf("openssl request parsed as %+v", req)
	}
	resp, err := Verify(newDelegated(t, p, newMemSource(p)).Respond(context.Background(), req),
		VerifyOptions{Cert: p.leaf, Issuer: p.issuing, Nonce: req.Nonce})
	if err != nil || resp.Status != Good {
		t.Fatalf("%v %+v", err, resp)
	}

	// openssl as the responder, answering our request.
	revokedAt := time.Now().Add(-2 * time.Hour).UTC()
	idx := fmt.Sprintf("R\t%s\t%s,keyCompromise\t%X\tunknown\t/CN=member1.test\nV\t%s\t\t%X\tunknown\t/CN=member2.test\n",
		p.leaf.NotAfter.UTC().Format("060102150405Z"), revokedAt.Format("060102150405Z"), p.leafSerial,
		p.leaf2.NotAfter.UTC().Format("060102150405Z"), p.leaf2Serial)
	e.write("index.txt", []byte(idx))
	for _, c := range []struct {
		cert   *x509.Certificate
		h      crypto.Hash
		status CertStatus
	}{{p.leaf, crypto.SHA1, Revoked}, {p.leaf2, crypto.SHA256, Good}, {p.unknownLeaf, crypto.SHA1, Unknown}} {
		nonce := []byte("openssl nonce 16")
		der, err := CreateRequest(c.cert, p.issuing, c.h, nonce)
		if err != nil {
			t.Fatal(err)
		}
		e.write("ourreq.der", der)
		_, stderr, err := e.run("ocsp", "-index", "index.txt", "-CA", "issuing.pem", "-rsigner", "responder.pem",
			"-rkey", "responder.key", "-reqin", "ourreq.der", "-respout", "theirresp.der", "-ndays", "1")
		if err != nil {
			t.Fatalf("%v: %s", err, stderr)
		}
		out, err := os.ReadFile(filepath.Join(e.dir, "theirresp.der"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := Verify(out, VerifyOptions{Cert: c.cert, Issuer: p.issuing, Nonce: nonce})
		if err != nil {
			t.Fatalf("openssl response for %v: %v", c.cert.SerialNumber, err)
		}
		if resp.Status != c.status {
			t.Fatalf("openssl says %v for %v, want %v", resp.Status, c.cert.SerialNumber, c.status)
		}
		if c.status == Revoked && (resp.Reason != 1 || !resp.RevokedAt.Equal(revokedAt.Truncate(time.Second))) {
			t.Fatalf("revocation: reason %d at %v, want 1 at %v", resp.Reason, resp.RevokedAt, revokedAt)
		}
	}
}
