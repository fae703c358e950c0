package signature

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
)

// proxySigner is the test signer as the proxies configure theirs: the
// issuing CA embedded as an intermediate.
func proxySigner(b *testing.B) *Signer {
	p := getPKI(b, pkiutil.KeyECDSAP256)
	s := *p.signer
	s.Extra = []*x509.Certificate{p.ca.Cert}
	return &s
}

// BenchmarkProxySign signs a 1 KB message as the proxies do (ECDSA P-256).
func BenchmarkProxySign(b *testing.B) {
	s := proxySigner(b)
	part := Part{URI: MessageURI, Data: soapMessage(1024), MimeType: "text/xml"}
	b.ReportAllocs()
	defer testtool.ReportCPU(b, testtool.CPUTime())
	for b.Loop() {
		if _, err := s.Sign(part, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxyVerify verifies a 1 KB message signed as the proxies sign.
func BenchmarkProxyVerify(b *testing.B) {
	s := proxySigner(b)
	part := Part{URI: MessageURI, Data: soapMessage(1024), MimeType: "text/xml"}
	sig, err := s.Sign(part, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer testtool.ReportCPU(b, testtool.CPUTime())
	for b.Loop() {
		if _, err := Verify(sig, part); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxyRawSign and BenchmarkProxyRawVerify are the ECDSA
// operations alone, measured the same way.
func BenchmarkProxyRawSign(b *testing.B) {
	s := proxySigner(b)
	d := sha512.Sum512([]byte("SignedInfo"))
	b.ReportAllocs()
	defer testtool.ReportCPU(b, testtool.CPUTime())
	for b.Loop() {
		if _, err := s.Key.Sign(rand.Reader, d[:], crypto.SHA512); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProxyRawVerify(b *testing.B) {
	s := proxySigner(b)
	d := sha512.Sum512([]byte("SignedInfo"))
	sig, err := s.Key.Sign(rand.Reader, d[:], crypto.SHA512)
	if err != nil {
		b.Fatal(err)
	}
	pub := s.Cert.PublicKey.(*ecdsa.PublicKey)
	b.ReportAllocs()
	defer testtool.ReportCPU(b, testtool.CPUTime())
	for b.Loop() {
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			b.Fatal("does not verify")
		}
	}
}
