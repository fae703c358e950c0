package signature

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
)

// paddedCert is a self-signed certificate whose DER is about size bytes,
// made large by a non-critical private extension, as a peer could send
// one among a signature's certificates.
func paddedCert(t *testing.T, serial int64, size int) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "DİN padding"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{
			Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: make([]byte, size),
		}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// verifyWithExtra signs a message carrying extra among the signature's
// certificates and verifies it as a receiving proxy does.
func verifyWithExtra(t *testing.T, p *testPKI, extra *x509.Certificate) {
	t.Helper()
	s := *p.signer
	s.Extra = []*x509.Certificate{extra}
	part := Part{URI: MessageURI, Data: soapMessage(256), MimeType: "text/xml"}
	sig, err := s.Sign(part, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []func([]byte) (*parsed, error){read, readStrict} {
		ps, err := r(sig)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps.extra) != 1 || !ps.extra[0].Equal(extra) {
			t.Fatalf("the signature's extra certificate was not read back")
		}
	}
	if _, err := Verify(sig, part); err != nil {
		t.Fatal(err)
	}
}

// cachedBytes is the DER the certificate caches hold, and whether they
// hold cert.
func cachedBytes(cert *x509.Certificate) (der, b64 int, held bool) {
	certs.RLock()
	defer certs.RUnlock()
	for k, c := range certs.m {
		der += 2 * len(k)
		held = held || c.cert.Equal(cert)
	}
	for _, c := range certs.b64 {
		b64 += len(c.cert.Raw)
		held = held || c.cert.Equal(cert)
	}
	return der, b64, held
}

// A peer's certificate larger than maxCachedCert is read and used, but
// not kept: what a peer sends does not decide what the cache holds.
func TestCertCacheKeepsLargeCertificatesOut(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	small := paddedCert(t, 1, 512)
	verifyWithExtra(t, p, small)
	if _, _, held := cachedBytes(small); !held {
		t.Fatal("a 1 KB certificate was not cached")
	}
	large := paddedCert(t, 2, maxCachedCert+1024)
	verifyWithExtra(t, p, large)
	verifyWithExtra(t, p, large)
	if _, _, held := cachedBytes(large); held {
		t.Fatalf("a %d-byte certificate was cached", len(large.Raw))
	}
}

// Many distinct certificates, each under maxCachedCert, never make the
// caches hold more than certCacheBytes.
func TestCertCacheBoundedByBytes(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	for i := range 600 {
		verifyWithExtra(t, p, paddedCert(t, int64(100+i), 15<<10))
		if der, b64, _ := cachedBytes(nil); der > certCacheBytes || b64 > certCacheBytes {
			t.Fatalf("after %d certificates of 15 KiB the caches hold %d and %d bytes of DER, over %d",
				i+1, der, b64, certCacheBytes)
		}
	}
}
