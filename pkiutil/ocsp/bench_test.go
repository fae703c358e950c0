package ocsp

import (
	"context"
	"crypto"
	"testing"
)

// The benchmarks use only identifiers that predate the internal/der
// toolkit, so that they run unchanged on the commit before it.

func benchResponse(b *testing.B) (*testPKI, *Request, []byte) {
	p := getPKI(b)
	der, err := CreateRequest(p.leaf, p.issuing, crypto.SHA256, []byte("sixteen byte non"))
	if err != nil {
		b.Fatal(err)
	}
	req, err := ParseRequest(der)
	if err != nil {
		b.Fatal(err)
	}
	resp := newDelegated(b, p, newMemSource(p)).Respond(context.Background(), req)
	return p, req, resp
}

// BenchmarkVerify is the hot path: parse and verify a delegated response.
func BenchmarkVerify(b *testing.B) {
	p, req, resp := benchResponse(b)
	opts := VerifyOptions{Cert: p.leaf, Issuer: p.issuing, Nonce: req.Nonce}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(resp, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseResponse is the DER part of Verify alone.
func BenchmarkParseResponse(b *testing.B) {
	_, _, resp := benchResponse(b)
	b.ReportAllocs()
	for b.Loop() {
		if st, _, err := parseResponse(resp); err != nil || st != Successful {
			b.Fatal(st, err)
		}
	}
}

func BenchmarkParseRequest(b *testing.B) {
	p := getPKI(b)
	der, err := CreateRequest(p.leaf, p.issuing, crypto.SHA1, []byte("sixteen byte non"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(der); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRespond(b *testing.B) {
	p, req, _ := benchResponse(b)
	r := newDelegated(b, p, newMemSource(p))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.Respond(ctx, req)
	}
}
