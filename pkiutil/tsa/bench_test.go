package tsa

import (
	"crypto"
	"math/big"
	"testing"
)

// The benchmarks use only identifiers that predate the internal/der
// toolkit, so that they run unchanged on the commit before it.

func benchToken(b *testing.B) (*testPKI, *Authority, *Request, *Token) {
	p := fixture(b)
	a := newTestAuthority(b, p, p.ecTSA, nil)
	req := &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digestOf("bench"), Nonce: big.NewInt(12345), CertReq: true}
	return p, a, req, issue(b, a, req)
}

func BenchmarkParseToken(b *testing.B) {
	_, _, _, tok := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseToken(tok.Raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	p, _, req, tok := benchToken(b)
	opts := VerifyOptions{Roots: p.roots, HashAlgorithm: req.HashAlgorithm, HashedMessage: req.HashedMessage, Nonce: req.Nonce}
	b.ReportAllocs()
	for b.Loop() {
		if err := tok.Verify(opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequest(b *testing.B) {
	der, err := (&Request{HashAlgorithm: crypto.SHA256, HashedMessage: digestOf("bench"), Nonce: big.NewInt(12345), CertReq: true}).Marshal()
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
	_, a, req, _ := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Respond(req); err != nil {
			b.Fatal(err)
		}
	}
}
