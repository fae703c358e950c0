package pkiutil

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
)

// TestServicesAlone: the OCSP responder and the TSA of one trust directory
// run as two service sets side by side (two processes in production), each
// answering its protocol; a second TSA on the same directory is refused,
// naming the serial store another one holds, while a second OCSP
// responder is fine.
func TestServicesAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "trust")
	ca, err := Init(InitOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	start := func(which Which) string {
		t.Helper()
		svc, err := NewServicesOf(ca, nil, which)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		if which.OCSP {
			go func() { done <- svc.Serve(ctx, ln, nil) }()
		} else {
			go func() { done <- svc.Serve(ctx, nil, ln) }()
		}
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
			svc.Close()
		})
		return "http://" + ln.Addr().String() + "/"
	}
	ocspURL := start(Which{OCSP: true})
	tsaURL := start(Which{TSA: true})
	if _, err := NewServicesOf(ca, nil, Which{TSA: true}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("a second TSA on one trust directory: %v", err)
	}
	second, err := NewServicesOf(ca, nil, Which{OCSP: true})
	if err != nil {
		t.Fatalf("a second OCSP responder on one trust directory: %v", err)
	}
	second.Close()
	if _, err := NewServicesOf(ca, nil, Which{}); err == nil {
		t.Fatal("no service at all was accepted")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key, err := GenerateKey(KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(IssueRequest{Profile: ProfileSign, Member: "AZ/GOV/DIN", PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&ocsp.Client{}).Fetch(ctx, ocspURL, cert, ca.Cert, ocsp.VerifyOptions{MaxAge: time.Hour})
	if err != nil || resp.Status != ocsp.Good {
		t.Fatalf("OCSP alone: %v %v", resp, err)
	}
	digest := sha256.Sum256([]byte("Şəki"))
	c := &tsa.Client{URL: tsaURL, Verify: tsa.VerifyOptions{Roots: ca.Roots()}}
	tok, err := c.Timestamp(ctx, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("TSA alone: %v", err)
	}
	if !bytes.Equal(tok.HashedMessage, digest[:]) {
		t.Fatalf("TSA alone stamped another digest")
	}
}
