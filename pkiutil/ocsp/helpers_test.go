package ocsp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// testPKI is a throwaway federation PKI:
//
//	root -> issuing -> responder (EKU OCSPSigning), noEKU (EKU serverAuth),
//	                   rsaResponder (RSA key, EKU OCSPSigning), leaf, leaf2, unknownLeaf
//	otherRoot -> otherResponder (EKU OCSPSigning)
type testPKI struct {
	root, issuing                     *x509.Certificate
	rootKey, issuingKey               *ecdsa.PrivateKey
	responder, noEKU                  *x509.Certificate
	responderKey, noEKUKey            *ecdsa.PrivateKey
	rsaResponder                      *x509.Certificate
	rsaResponderKey                   *rsa.PrivateKey
	leaf, leaf2, unknownLeaf          *x509.Certificate
	otherRoot, otherResponder         *x509.Certificate
	otherRootKey, otherResponderKey   *ecdsa.PrivateKey
	leafSerial, leaf2Serial, unknownN int64
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
	pkiErr  error
)

// getPKI builds the test PKI once per test binary.
func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = buildPKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

func newECKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) (*x509.Certificate, error) {
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func caTemplate(serial int64, cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Country: []string{"TR"}, Organization: []string{"Şlüz Test"}, CommonName: cn},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
}

func eeTemplate(serial int64, cn string, eku ...x509.ExtKeyUsage) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Country: []string{"TR"}, Organization: []string{"Şlüz Test"}, CommonName: cn},
		NotBefore:             now.Add(-48 * time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
	}
}

func buildPKI() (p *testPKI, err error) {
	p = &testPKI{leafSerial: 1001, leaf2Serial: 1002, unknownN: 999999}
	must := func(c *x509.Certificate, e error) *x509.Certificate {
		if e != nil && err == nil {
			err = e
		}
		return c
	}
	p.rootKey, p.issuingKey = newECKey(), newECKey()
	p.root = must(issue(caTemplate(1, "Test Root CA"), nil, &p.rootKey.PublicKey, p.rootKey))
	if err != nil {
		return nil, err
	}
	it := caTemplate(2, "Test Issuing CA")
	it.MaxPathLen, it.MaxPathLenZero = 0, true
	p.issuing = must(issue(it, p.root, &p.issuingKey.PublicKey, p.rootKey))
	if err != nil {
		return nil, err
	}
	p.responderKey, p.noEKUKey = newECKey(), newECKey()
	p.responder = must(issue(eeTemplate(100, "Test OCSP Responder", x509.ExtKeyUsageOCSPSigning), p.issuing, &p.responderKey.PublicKey, p.issuingKey))
	p.noEKU = must(issue(eeTemplate(101, "Test TLS Server", x509.ExtKeyUsageServerAuth), p.issuing, &p.noEKUKey.PublicKey, p.issuingKey))
	p.rsaResponderKey, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p.rsaResponder = must(issue(eeTemplate(102, "Test OCSP Responder RSA", x509.ExtKeyUsageOCSPSigning), p.issuing, &p.rsaResponderKey.PublicKey, p.issuingKey))
	leafKey := newECKey()
	p.leaf = must(issue(eeTemplate(p.leafSerial, "member1.test", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth), p.issuing, &leafKey.PublicKey, p.issuingKey))
	p.leaf2 = must(issue(eeTemplate(p.leaf2Serial, "member2.test", x509.ExtKeyUsageServerAuth), p.issuing, &leafKey.PublicKey, p.issuingKey))
	p.unknownLeaf = must(issue(eeTemplate(p.unknownN, "stranger.test", x509.ExtKeyUsageServerAuth), p.issuing, &leafKey.PublicKey, p.issuingKey))

	p.otherRootKey, p.otherResponderKey = newECKey(), newECKey()
	p.otherRoot = must(issue(caTemplate(1, "Other Root CA"), nil, &p.otherRootKey.PublicKey, p.otherRootKey))
	if err != nil {
		return nil, err
	}
	p.otherResponder = must(issue(eeTemplate(100, "Other OCSP Responder", x509.ExtKeyUsageOCSPSigning), p.otherRoot, &p.otherResponderKey.PublicKey, p.otherRootKey))
	return p, err
}

// memSource is an in-memory Source whose content the tests change.
type memSource struct {
	mu sync.Mutex
	m  map[string]Status
}

func newMemSource(p *testPKI) *memSource {
	s := &memSource{m: map[string]Status{}}
	s.set(p.leafSerial, Status{Status: Good, Reason: -1})
	s.set(p.leaf2Serial, Status{Status: Good, Reason: -1})
	return s
}

func (s *memSource) set(serial int64, st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[big.NewInt(serial).String()] = st
}

func (s *memSource) Status(ctx context.Context, serial *big.Int) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[serial.String()]; ok {
		return st, nil
	}
	return Status{Status: Unknown, Reason: -1}, nil
}

// newDelegated returns a validated responder signing with the delegated
// responder certificate.
func newDelegated(t testing.TB, p *testPKI, src Source) *Responder {
	t.Helper()
	r, err := NewResponder(Responder{Issuer: p.issuing, SignerCert: p.responder, Signer: p.responderKey, Source: src})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// serve runs h on a real 127.0.0.1 listener for the duration of the test.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// wantErr is errors.Is with a helpful failure message.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}
