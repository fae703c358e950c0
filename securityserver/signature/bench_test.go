package signature

import (
	"crypto"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/pkiutil"
)

// BenchmarkSign signs a 1 KB message (compare DESIGN.md, "Library notes":
// raw ECDSA sign 33 µs, etree-built 124 µs, byte template 49 µs).
func BenchmarkSign(b *testing.B) {
	for _, kt := range keyTypes {
		b.Run(string(kt), func(b *testing.B) {
			p := getPKI(b, kt)
			part := Part{URI: MessageURI, Data: soapMessage(1024), MimeType: "text/xml"}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.signer.Sign(part, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawSign is the key operation alone, to read BenchmarkSign
// against on a busy machine.
func BenchmarkRawSign(b *testing.B) {
	for _, kt := range keyTypes {
		b.Run(string(kt), func(b *testing.B) {
			p := getPKI(b, kt)
			d := sha512.Sum512([]byte("SignedInfo"))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.signer.Key.Sign(rand.Reader, d[:], crypto.SHA512); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawVerify is the public-key operation of Verify alone.
func BenchmarkRawVerify(b *testing.B) {
	for _, kt := range keyTypes {
		b.Run(string(kt), func(b *testing.B) {
			p := getPKI(b, kt)
			signed := []byte("SignedInfo")
			d := sha512.Sum512(signed)
			value, err := p.signer.Key.Sign(rand.Reader, d[:], crypto.SHA512)
			if err != nil {
				b.Fatal(err)
			}
			method := xmldsig.Methods[sigRSASHA512]
			if kt == pkiutil.KeyECDSAP256 {
				method = xmldsig.Methods[sigECDSASHA512]
				if value, err = rawECDSA(value, 32); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := xmldsig.VerifyValue(method, p.signer.Cert.PublicKey, signed, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify verifies a signature over a 1 KB message (DESIGN.md:
// etree parse and verify 220 µs, ECDSA verify alone 63 µs).
func BenchmarkVerify(b *testing.B) {
	for _, kt := range keyTypes {
		b.Run(string(kt), func(b *testing.B) {
			p := getPKI(b, kt)
			part := Part{URI: MessageURI, Data: soapMessage(1024), MimeType: "text/xml"}
			sig, err := p.signer.Sign(part, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Verify(sig, part); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyParse is Verify without the public-key operation: the
// parse, structure checks and both canonical forms, of a document as the
// proxies sign it (with the issuing CA as an intermediate), through read
// (fastRead) and through readStrict.
func BenchmarkVerifyParse(b *testing.B) {
	p := getPKI(b, pkiutil.KeyECDSAP256)
	s := *p.signer
	s.Extra = []*x509.Certificate{p.ca.Cert}
	part := Part{URI: MessageURI, Data: soapMessage(1024), MimeType: "text/xml"}
	sig, err := s.Sign(part, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range []struct {
		name string
		read func([]byte) (*parsed, error)
	}{{"read", read}, {"strict", readStrict}} {
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ps, err := r.read(sig)
				if err != nil {
					b.Fatal(err)
				}
				if ps.canonSignedInfo == nil {
					buf := xmldsig.Canonicalize(nil, ps.signedProperties, false, nil)
					xmldsig.Canonicalize(buf[:0], ps.sig.SignedInfo, false, nil)
				}
			}
		})
	}
}
