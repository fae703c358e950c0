package signature

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
)

// testPKI is a throwaway federation: pkiutil's root and issuing CA, a
// signing certificate for AZ/GOV/DIN and its OCSP response from a real
// ocsp.Responder over the CA's status store.
type testPKI struct {
	ca        *pkiutil.CA
	responder *ocsp.Responder
	signer    *Signer
}

var (
	pkiDir  string // removed by TestMain
	pkiOnce = map[pkiutil.KeyType]*sync.Once{pkiutil.KeyECDSAP256: {}, pkiutil.KeyRSA2048: {}}
	pkis    = map[pkiutil.KeyType]*testPKI{}
	pkiErrs = map[pkiutil.KeyType]error{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signature-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pkiDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// getPKI returns the federation of key type kt, made once per test binary
// (RSA key generation is slow).
func getPKI(t testing.TB, kt pkiutil.KeyType) *testPKI {
	t.Helper()
	pkiOnce[kt].Do(func() { pkis[kt], pkiErrs[kt] = newPKI(filepath.Join(pkiDir, string(kt)), kt) })
	if pkiErrs[kt] != nil {
		t.Fatal(pkiErrs[kt])
	}
	return pkis[kt]
}

func newPKI(dir string, kt pkiutil.KeyType) (*testPKI, error) {
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: dir, KeyType: kt})
	if err != nil {
		return nil, err
	}
	ocspCert, err := pkiutil.ReadCertificate(filepath.Join(dir, pkiutil.FileOCSPCert))
	if err != nil {
		return nil, err
	}
	ocspKey, err := pkiutil.ReadPrivateKey(filepath.Join(dir, pkiutil.FileOCSPKey))
	if err != nil {
		return nil, err
	}
	responder, err := ocsp.NewResponder(ocsp.Responder{
		Issuer: ca.Cert, SignerCert: ocspCert, Signer: ocspKey, Source: pkiutil.StoreSource(ca.Store),
	})
	if err != nil {
		return nil, err
	}
	p := &testPKI{ca: ca, responder: responder}
	p.signer, err = p.issueSigner("AZ/GOV/DIN")
	return p, err
}

// issueSigner issues a signing certificate for member and fetches its
// OCSP response.
func (p *testPKI) issueSigner(member string) (*Signer, error) {
	name := filepath.Join(p.ca.Dir, "sign-"+filepath.Base(member))
	cert, key, err := p.ca.IssueToFiles(pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: member},
		name+".pem", name+".key", true)
	if err != nil {
		return nil, err
	}
	der, err := p.ocspFor(cert)
	if err != nil {
		return nil, err
	}
	return &Signer{Key: key, Cert: cert, OCSP: der}, nil
}

// issue issues a certificate of any profile for a new key.
func (p *testPKI) issue(req pkiutil.IssueRequest) (*x509.Certificate, crypto.Signer, error) {
	key, err := pkiutil.GenerateKey(p.ca.Federation.KeyType)
	if err != nil {
		return nil, nil, err
	}
	req.PublicKey = key.Public()
	cert, err := p.ca.Issue(req)
	return cert, key, err
}

// ocspFor asks the responder about cert, as a security server would, and
// checks the answer is a verified "good".
func (p *testPKI) ocspFor(cert *x509.Certificate) ([]byte, error) {
	reqDER, err := ocsp.CreateRequest(cert, p.ca.Cert, crypto.SHA256, nil)
	if err != nil {
		return nil, err
	}
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		return nil, err
	}
	der := p.responder.Respond(context.Background(), req)
	resp, err := ocsp.Verify(der, ocsp.VerifyOptions{Cert: cert, Issuer: p.ca.Cert})
	if err != nil {
		return nil, err
	}
	if resp.Status != ocsp.Good {
		return nil, fmt.Errorf("OCSP status %s", resp.Status)
	}
	return der, nil
}

// soapMessage is a PR-MESS request of about size bytes.
func soapMessage(size int) []byte {
	const head = `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
<SOAP-ENV:Header>
<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>EMDK</id:memberCode><id:subsystemCode>registry</id:subsystemCode></xrd:client>
<xrd:service id:objectType="SERVICE"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DIN</id:memberCode><id:subsystemCode>population</id:subsystemCode><id:serviceCode>getPersonByFin</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>
<xrd:id>4894e35d-bf0f-44a6-867a-8e51f1daa7e0</xrd:id>
<xrd:protocolVersion>4.0</xrd:protocolVersion>
</SOAP-ENV:Header>
<SOAP-ENV:Body><getPersonByFin xmlns="http://din.gov.az/population"><fin>5ZK7Q2M</fin><note>`
	const tail = "</note></getPersonByFin></SOAP-ENV:Body>\r\n</SOAP-ENV:Envelope>\r\n"
	b := []byte(head)
	for len(b) < size-len(tail) {
		b = append(b, "Şəki İsmayıllı "...)
	}
	return append(b, tail...)
}
