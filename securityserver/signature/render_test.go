package signature

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
)

// TestSignRenderingFollowsSigner: the cached KeyInfo and unsigned
// properties always hold the signer's current certificates and OCSP
// responses, even when a response's bytes are changed in place.
func TestSignRenderingFollowsSigner(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	msg := soapMessage(200)
	s := *p.signer
	s.OCSP = bytes.Clone(p.signer.OCSP)
	holds := func(doc []byte, der []byte) bool {
		return bytes.Contains(doc, []byte(">"+base64.StdEncoding.EncodeToString(der)+"<"))
	}
	check := func(what string, wantExtra int) {
		t.Helper()
		doc := signTestMessage(t, &s, msg, time.Now())
		v, err := Verify(doc, Part{URI: MessageURI, Data: msg})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(v.OCSP[0], s.OCSP) || !holds(doc, s.OCSP) || !holds(doc, s.Cert.Raw) || len(v.Extra) != wantExtra {
			t.Fatalf("%s: the document does not hold the signer's current certificates and OCSP response", what)
		}
		for i, c := range s.Extra {
			if !v.Extra[i].Equal(c) || !holds(doc, c.Raw) {
				t.Fatalf("%s: intermediate %d is not the signer's", what, i)
			}
		}
	}
	check("first", 0)
	check("again (cached)", 0)
	// The same slice, changed in place: still a DER SEQUENCE of the same
	// length, another response.
	s.OCSP[len(s.OCSP)-1] ^= 0xff
	check("response changed in place", 0)
	s.Extra = []*x509.Certificate{p.ca.Cert}
	check("with an intermediate", 1)
	s.Extra = []*x509.Certificate{p.ca.Cert, p.ca.Root}
	s.ExtraOCSP = [][]byte{p.signer.OCSP}
	check("two intermediates, one more response", 2)
	other, err := p.issueSigner("AZ/GOV/EMDK")
	if err != nil {
		t.Fatal(err)
	}
	s.Key, s.Cert, s.OCSP = other.Key, other.Cert, other.OCSP
	check("another certificate", 2)
}
