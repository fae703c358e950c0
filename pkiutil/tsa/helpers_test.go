package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var testPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1}

// testCA is a certificate with its key.
// oidKPTimeStamping is id-kp-timeStamping (RFC 5280 4.2.1.12).
var oidKPTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// testPKI is a federation: root CA -> issuing CA -> TSA certificates.
type testPKI struct {
	root, issuing testCA
	ecTSA, rsaTSA testCA
	roots         *x509.CertPool
}

var (
	pkiOnce  sync.Once
	pkiValue *testPKI
	pkiErr   error
)

// fixture returns the shared test federation (generated once; RSA key
// generation is slow).
func fixture(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiValue, pkiErr = newTestPKI(t, "Test Federation") })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiValue
}

func newTestPKI(t testing.TB, name string) (*testPKI, error) {
	p := new(testPKI)
	p.root = newCA(t, name+" Root CA", nil)
	p.issuing = newCA(t, name+" Issuing CA", &p.root)
	p.ecTSA = newTSA(t, &p.issuing, ecKey(t), tsaEKUCritical)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p.rsaTSA = newTSA(t, &p.issuing, rk, tsaEKUCritical)
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.root.cert)
	return p, nil
}

func ecKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randSerial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func newCA(t testing.TB, name string, parent *testCA) testCA {
	t.Helper()
	key := ecKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Şlüz Test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuer, issuerKey := tmpl, key
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	return testCA{cert: createCert(t, tmpl, issuer, key.Public(), issuerKey), key: key}
}

// ekuStyle selects how the TSA certificate carries the extended key usage.
type ekuStyle int

const (
	tsaEKUCritical    ekuStyle = iota // critical, timeStamping only
	tsaEKUNonCritical                 // non-critical timeStamping
	tsaEKUNone                        // no extended key usage
	tsaEKUExtra                       // critical, timeStamping and serverAuth
)

func ekuExtension(t testing.TB, critical bool, oids ...asn1.ObjectIdentifier) pkix.Extension {
	t.Helper()
	v, err := asn1.Marshal(oids)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidExtKeyUsage, Critical: critical, Value: v}
}

func tsaTemplate(t testing.TB, style ekuStyle) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(t),
		Subject:      pkix.Name{CommonName: "Test TSA", Organization: []string{"Şlüz Test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	switch style {
	case tsaEKUCritical:
		tmpl.ExtraExtensions = []pkix.Extension{ekuExtension(t, true, oidKPTimeStamping)}
	case tsaEKUNonCritical:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	case tsaEKUExtra:
		tmpl.ExtraExtensions = []pkix.Extension{ekuExtension(t, true, oidKPTimeStamping, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1})}
	}
	return tmpl
}

func newTSA(t testing.TB, issuer *testCA, key crypto.Signer, style ekuStyle) testCA {
	t.Helper()
	return testCA{cert: createCert(t, tsaTemplate(t, style), issuer.cert, key.Public(), issuer.key), key: key}
}

func createCert(t testing.TB, tmpl, issuer *x509.Certificate, pub crypto.PublicKey, issuerKey crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// memSerials is an in-memory SerialSource for tests.
type memSerials struct {
	mu sync.Mutex
	n  int64
}

func (m *memSerials) Next() (*big.Int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	return big.NewInt(m.n), nil
}

func newTestAuthority(t testing.TB, p *testPKI, tsa testCA, serials SerialSource) *Authority {
	t.Helper()
	if serials == nil {
		serials = new(memSerials)
	}
	a, err := NewAuthority(Authority{
		Signer:   tsa.key,
		Cert:     tsa.cert,
		Chain:    []*x509.Certificate{p.issuing.cert},
		Policy:   testPolicy,
		Accuracy: time.Second,
		Serials:  serials,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func digestOf(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// issue asks a for a token over digest directly (no HTTP).
func issue(t testing.TB, a *Authority, req *Request) *Token {
	t.Helper()
	resp, err := a.Respond(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != StatusGranted {
		t.Fatalf("status %d failInfo %d %q", resp.Status, resp.FailInfo, resp.StatusText)
	}
	tok, err := ParseToken(resp.Token)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// post sends body to url with the given content type and returns the
// HTTP response and its body.
func post(t testing.TB, url, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func startServer(t testing.TB, a *Authority) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv
}

func writePEM(t testing.TB, path string, certs ...*x509.Certificate) {
	t.Helper()
	var buf bytes.Buffer
	for _, c := range certs {
		pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tempFile(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), name)
}

func (p *testPKI) issuingPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.issuing.cert)
	return pool
}
