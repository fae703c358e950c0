package signature

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver/hashchain"
)

func attachmentsOf(data ...[]byte) []Part {
	out := make([]Part, len(data))
	for i, d := range data {
		out[i] = Part{Data: d}
	}
	return out
}

func TestSignChainedRoundTrip(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			p := getPKI(t, kt)
			soap := soapMessage(512)
			pdf := []byte("%PDF-1.7 quarterly report\r\n")
			csv := []byte("fin;amount\n5AB12CD;120.00\n")
			now := time.Now()
			c, err := p.signer.SignChained(soap, attachmentsOf(pdf, csv), now)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(c.Signature, []byte(`URI="/sig-hashchainresult.xml"`)) ||
				!bytes.Contains(c.Signature, []byte("<xades:MimeType>application/hash-chain-result</xades:MimeType>")) {
				t.Fatalf("the signature does not reference the hash-chain result as X-Road does:\n%s", c.Signature)
			}
			for _, uri := range []string{"/message.xml", "/attachment1", "/attachment2"} {
				if !bytes.Contains(c.Chain, []byte(`URI="`+uri+`"`)) {
					t.Errorf("the chain has no DataRef to %s:\n%s", uri, c.Chain)
				}
			}
			v, err := VerifyChained(c.Signature, Part{Data: soap}, attachmentsOf(pdf, csv), c.Result, c.Chain)
			if err != nil {
				t.Fatal(err)
			}
			if !v.Cert.Equal(p.signer.Cert) || !v.SigningTime.Equal(now.UTC().Truncate(time.Millisecond)) {
				t.Fatalf("verified %s at %s", v.Cert.Subject, v.SigningTime)
			}
			// The attachments as digests computed while they streamed.
			dp, dc := sha512.Sum512(pdf), sha512.Sum512(csv)
			if _, err := VerifyChained(c.Signature, Part{Data: soap}, []Part{{Digest: dp[:]}, {Digest: dc[:]}}, c.Result, c.Chain); err != nil {
				t.Fatalf("with streamed digests: %v", err)
			}
			// The message too by its digest, as a digest-only message log keeps it.
			ds := sha512.Sum512(soap)
			if _, err := VerifyChained(c.Signature, Part{Digest: ds[:]}, []Part{{Digest: dp[:]}, {Data: csv}}, c.Result, c.Chain); err != nil {
				t.Fatalf("with the message's digest: %v", err)
			}
			// Signing from digests gives the same chain.
			c2, err := p.signer.SignChained(soap, []Part{{Digest: dp[:]}, {Data: csv}}, now)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c2.Chain, c.Chain) || !bytes.Equal(c2.Result, c.Result) {
				t.Fatal("signing from streamed digests built another chain")
			}
		})
	}
}

func TestVerifyChainedRefuses(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	soap := soapMessage(512)
	a1, a2, a3 := []byte("first attachment"), []byte("second attachment"), []byte("third")
	now := time.Now()
	c, err := p.signer.SignChained(soap, attachmentsOf(a1, a2), now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := p.signer.SignChained(soapMessage(600), attachmentsOf(a1), now)
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Clone(soap)
	changed[100] ^= 1
	tests := []struct {
		name        string
		sig, soap   []byte
		atts        []Part
		res, chain  []byte
		want        error
		alsoWrapped error
	}{
		{"tampered attachment", c.Signature, soap, attachmentsOf(a1, []byte("second attachmenT")), c.Result, c.Chain, ErrAttachment, hashchain.ErrDataRef},
		{"swapped attachments", c.Signature, soap, attachmentsOf(a2, a1), c.Result, c.Chain, ErrAttachmentOrder, hashchain.ErrDataRef},
		{"unused input", c.Signature, soap, attachmentsOf(a1, a2, a3), c.Result, c.Chain, ErrChainInput, hashchain.ErrUnused},
		{"missing attachment", c.Signature, soap, attachmentsOf(a1), c.Result, c.Chain, ErrChainInput, hashchain.ErrMissing},
		{"signature reused with another message's chain", c.Signature, soapMessage(600), attachmentsOf(a1), other.Result, other.Chain, ErrChain, nil},
		{"another message's chain under the signed result", c.Signature, soapMessage(600), attachmentsOf(a1), c.Result, other.Chain, ErrChain, hashchain.ErrResult},
		{"changed message", c.Signature, changed, attachmentsOf(a1, a2), c.Result, c.Chain, ErrDigest, hashchain.ErrDataRef},
		{"plain signature", signTestMessage(t, p.signer, soap, now), soap, attachmentsOf(a1, a2), c.Result, c.Chain, ErrMalformed, nil},
	}
	sentinels := []error{ErrAttachment, ErrAttachmentOrder, ErrChainInput, ErrChain, ErrDigest, ErrMalformed, ErrSignatureValue, ErrCertificate}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyChained(tt.sig, Part{Data: tt.soap}, tt.atts, tt.res, tt.chain)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.alsoWrapped != nil && !errors.Is(err, tt.alsoWrapped) {
				t.Fatalf("%v does not wrap %v", err, tt.alsoWrapped)
			}
			for _, s := range sentinels {
				if s != tt.want && errors.Is(err, s) {
					t.Fatalf("%v is also %v: each failure has its own error", err, s)
				}
			}
		})
	}
}

func TestSignChainedRefuses(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	for name, atts := range map[string][]Part{
		"no attachments": nil,
		"empty part":     {{}},
		"short digest":   {{Digest: []byte{1, 2, 3}}},
	} {
		if _, err := p.signer.SignChained(soapMessage(100), atts, time.Now()); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

// TestXmlsec1AcceptsChained has xmlsec1 verify a signature over the
// hash-chain result, mapped from its URI as an auditor would:
//
//	xmlsec1 --verify --url-map:/sig-hashchainresult.xml sig-hashchainresult.xml --trusted-pem root.pem --untrusted-pem ca.pem signatures.xml
func TestXmlsec1AcceptsChained(t *testing.T) {
	xmlsec := testtool.Require(t, "xmlsec1")
	p := getPKI(t, pkiutil.KeyECDSAP256)
	c, err := p.signer.SignChained(soapMessage(700), attachmentsOf([]byte("an attachment")), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sig-hashchainresult.xml", c.Result)
	write("signatures.xml", c.Signature)
	write("root.pem", pkiutil.EncodeCertificates(p.ca.Root))
	write("ca.pem", pkiutil.EncodeCertificates(p.ca.Cert))
	run := func() (string, error) {
		return xmlsecVerify(xmlsec, dir, "/sig-hashchainresult.xml", "sig-hashchainresult.xml")
	}
	if out, err := run(); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("xmlsec1 refused the signature over the hash-chain result (%v):\n%s", err, out)
	}
	res := bytes.Clone(c.Result)
	res[len(res)/2] ^= 1
	write("sig-hashchainresult.xml", res)
	if out, err := run(); err == nil || strings.Contains(out, "\nOK") || strings.HasPrefix(out, "OK") {
		t.Fatalf("xmlsec1 accepted a changed hash-chain result:\n%s", out)
	}
}
