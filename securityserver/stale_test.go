package securityserver_test

import (
	"context"
	"crypto"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/securityserver/message"
)

// TestStaleOCSPRefused: a signature whose stapled OCSP response is older
// than the federation's freshness limit (1 h in the sample) is refused,
// although the response itself is genuine and says good.
func TestStaleOCSPRefused(t *testing.T) {
	e := e2eNew(t)
	m := e.members["EMDK"]
	pki := filepath.Join(e.f.Dir, "pki")
	signerCert, err := pkiutil.ReadCertificate(filepath.Join(pki, pkiutil.FileOCSPCert))
	if err != nil {
		t.Fatal(err)
	}
	signerKey, err := pkiutil.ReadPrivateKey(filepath.Join(pki, pkiutil.FileOCSPKey))
	if err != nil {
		t.Fatal(err)
	}
	// The federation's own responder key, answering as it did two hours ago.
	old, err := ocsp.NewResponder(ocsp.Responder{Issuer: e.f.CA.Cert, SignerCert: signerCert, Signer: signerKey,
		Source: pkiutil.StoreSource(e.f.CA.Store), Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }, Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	der, err := ocsp.CreateRequest(m.signCert, e.f.CA.Cert, crypto.SHA256, nil)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ocsp.ParseRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	stale := old.Respond(context.Background(), parsed)
	if r, err := ocsp.Verify(stale, ocsp.VerifyOptions{Cert: m.signCert, Issuer: e.f.CA.Cert}); err != nil || r.Status != ocsp.Good {
		t.Fatalf("the old response should be genuine and good: %v", err)
	}
	soap := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
	body, ct := e2eTransport(t, m.authOCSP, soap, e.sign(t, m, stale, soap))
	f := e2eWantFault(t, e.post(t, "DIN", m.auth, body, ct), message.Code(message.ServerProxy, message.CertValidation))
	e2eContains(t, f, "stale")
	e.expectCalls(t, "DIN", 0)
}
