package signature

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/pkiutil"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var keyTypes = []pkiutil.KeyType{pkiutil.KeyECDSAP256, pkiutil.KeyRSA2048}

func signTestMessage(t testing.TB, s *Signer, msg []byte, now time.Time) []byte {
	t.Helper()
	sig, err := s.Sign(Part{URI: MessageURI, Data: msg, MimeType: "text/xml"}, now)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestSignVerifyRoundTrip(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 15, 11, 580_123_456, time.FixedZone("AZT", 4*3600))
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			p := getPKI(t, kt)
			msg := soapMessage(1024)
			sig := signTestMessage(t, p.signer, msg, now)
			v, err := Verify(sig, Part{URI: MessageURI, Data: msg})
			if err != nil {
				t.Fatal(err)
			}
			if !v.Cert.Equal(p.signer.Cert) {
				t.Errorf("Cert = %s, want %s", v.Cert.Subject, p.signer.Cert.Subject)
			}
			if member, err := pkiutil.MemberFromSubject(v.Cert.Subject); err != nil || member != "AZ/GOV/DIN" {
				t.Errorf("member %q (%v), want AZ/GOV/DIN", member, err)
			}
			if want := now.Truncate(time.Millisecond).UTC(); !v.SigningTime.Equal(want) || v.SigningTime.Location() != time.UTC {
				t.Errorf("SigningTime = %v, want %v", v.SigningTime, want)
			}
			if len(v.OCSP) != 1 || !bytes.Equal(v.OCSP[0], p.signer.OCSP) {
				t.Errorf("OCSP = %d responses, want the signer's one", len(v.OCSP))
			}
			if len(v.Extra) != 0 {
				t.Errorf("Extra = %d certificates, want none", len(v.Extra))
			}
		})
	}
}

// TestSignLayout checks the document against X-Road's layout
// (SignatureXmlBuilder) element by element.
func TestSignLayout(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			p := getPKI(t, kt)
			now := time.Date(2026, 3, 1, 9, 15, 11, 0, time.UTC)
			sig := signTestMessage(t, p.signer, soapMessage(300), now)
			if !bytes.HasPrefix(sig, []byte(`<?xml version="1.0" encoding="UTF-8" standalone="no"?><asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><ds:Signature Id="signature"><ds:SignedInfo>`)) {
				t.Errorf("document starts %s", sig[:300])
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(sig); err != nil {
				t.Fatal(err)
			}
			method := sigECDSASHA512
			if kt == pkiutil.KeyRSA2048 {
				method = sigRSASHA512
			}
			issuer := "CN=Şlüz AZ Issuing CA,O=Şlüz AZ,C=AZ"
			want := map[string]string{
				"ds:Signature/ds:SignedInfo/ds:CanonicalizationMethod[@Algorithm]":                                                                                                          algC14N,
				"ds:Signature/ds:SignedInfo/ds:SignatureMethod[@Algorithm]":                                                                                                                 method,
				"ds:Signature/ds:SignedInfo/ds:Reference[1][@Id='signature-reference-0'][@URI='/message.xml']/ds:DigestMethod":                                                              "",
				"ds:Signature/ds:SignedInfo/ds:Reference[2][@Id='signature-reference-1'][@URI='#signed-properties'][@Type='http://uri.etsi.org/01903#SignedProperties']/ds:DigestValue":     "",
				"ds:Signature/ds:SignatureValue[@Id='signature-value']":                                                                                                                     "",
				"ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate":                                                                                                                    base64.StdEncoding.EncodeToString(p.signer.Cert.Raw),
				"ds:Signature/ds:Object/xades:QualifyingProperties[@Target='#signature']/xades:SignedProperties[@Id='signed-properties']/xades:SignedSignatureProperties/xades:SigningTime": "2026-03-01T09:15:11.000Z",
				"//xades:SigningCertificate/xades:Cert/xades:IssuerSerial/ds:X509IssuerName":                                                                                                issuer,
				"//xades:SigningCertificate/xades:Cert/xades:IssuerSerial/ds:X509SerialNumber":                                                                                              p.signer.Cert.SerialNumber.String(),
				"//xades:SigningCertificate/xades:Cert/xades:CertDigest/ds:DigestValue":                                                                                                     b64sha512(p.signer.Cert.Raw),
				"//xades:SignaturePolicyId/xades:SigPolicyId/xades:Identifier[@Qualifier='OIDAsURN']":                                                                                       "urn:oid:1.3.6.1.4.1.3516.16.2",
				"//xades:SignaturePolicyId/xades:SigPolicyId/xades:Description":                                                                                                             "Profile for High Performance Digital Signatures (version 1.2)",
				"//xades:SignaturePolicyId/xades:SigPolicyHash/ds:DigestValue":                                                                                                              "BuO0EDNfkxSVlUbxCzmQPzX1AUF1/xx9ytWHk3/6SAOePxQiniEfDYk+90QeYb3lWpV3Izhuz9fKaYyE+lTcXw==",
				"//xades:SignaturePolicyId/xades:SigPolicyQualifiers/xades:SigPolicyQualifier/xades:SPURI":                                                                                  "https://repo.cyber.ee/dsig-profile-1.2.pdf",
				"//xades:SignedDataObjectProperties/xades:DataObjectFormat[@ObjectReference='#signature-reference-0']/xades:MimeType":                                                       "text/xml",
				"//xades:UnsignedSignatureProperties/xades:RevocationValues/xades:OCSPValues/xades:EncapsulatedOCSPValue[@Id='ocsp-response-1']":                                            base64.StdEncoding.EncodeToString(p.signer.OCSP),
			}
			root := doc.Root()
			for path, text := range want {
				el := root.FindElement(path)
				if el == nil {
					t.Errorf("no %s", path)
					continue
				}
				if strings.Contains(path, "@Algorithm") {
					if got := el.SelectAttrValue("Algorithm", ""); got != text {
						t.Errorf("%s = %q, want %q", path, got, text)
					}
				} else if text != "" && el.Text() != text {
					t.Errorf("%s = %q, want %q", path, el.Text(), text)
				}
			}
			for _, path := range []string{"//ds:DigestMethod"} {
				for _, el := range root.FindElements(path) {
					if a := el.SelectAttrValue("Algorithm", ""); a != digestSHA512 {
						t.Errorf("DigestMethod %s, want SHA-512", a)
					}
				}
			}
			if root.FindElement("//xades:CompleteCertificateRefs") != nil || root.FindElement("//xades:CertificateValues") != nil {
				t.Error("certificate refs/values written without Extra certificates")
			}
		})
	}
}

func b64sha512(b []byte) string {
	d := sha512.Sum512(b)
	return base64.StdEncoding.EncodeToString(d[:])
}

// TestSignCanonicalFormIndependent recomputes both reference digests and
// the signed bytes with goxmldsig's C14N 1.0 (an independent
// implementation) over the parsed document.
func TestSignCanonicalFormIndependent(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			p := getPKI(t, kt)
			msg := soapMessage(700)
			sig := signTestMessage(t, p.signer, msg, time.Now())
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(sig); err != nil {
				t.Fatal(err)
			}
			canon := dsig.MakeC14N10RecCanonicalizer()
			c14n := func(el *etree.Element) []byte {
				ctx, err := etreeutils.NSBuildParentContext(el)
				if err != nil {
					t.Fatal(err)
				}
				detached, err := etreeutils.NSDetatch(ctx, el)
				if err != nil {
					t.Fatal(err)
				}
				b, err := canon.Canonicalize(detached)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			sp := doc.FindElement("//xades:SignedProperties")
			si := doc.FindElement("//ds:SignedInfo")
			refs := si.FindElements("ds:Reference/ds:DigestValue")
			if got, want := refs[0].Text(), b64sha512(msg); got != want {
				t.Errorf("message digest %s, want %s", got, want)
			}
			if got, want := refs[1].Text(), b64sha512(c14n(sp)); got != want {
				t.Errorf("signed properties digest %s, goxmldsig C14N gives %s", got, want)
			}
			if ours := xmldsig.Canonicalize(nil, sp, false, nil); !bytes.Equal(ours, c14n(sp)) {
				t.Errorf("C14N of SignedProperties differs:\nours      %s\ngoxmldsig %s", ours, c14n(sp))
			}
			if ours := xmldsig.Canonicalize(nil, si, false, nil); !bytes.Equal(ours, c14n(si)) {
				t.Errorf("C14N of SignedInfo differs:\nours      %s\ngoxmldsig %s", ours, c14n(si))
			}
			// The signature value verifies over goxmldsig's C14N of SignedInfo.
			value, err := base64.StdEncoding.DecodeString(doc.FindElement("//ds:SignatureValue").Text())
			if err != nil {
				t.Fatal(err)
			}
			method := xmldsig.Methods[si.FindElement("ds:SignatureMethod").SelectAttrValue("Algorithm", "")]
			if err := xmldsig.VerifyValue(method, p.signer.Cert.PublicKey, c14n(si), value); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestECDSARawPadding signs until both a short r or s has certainly been
// met (each half is shorter than 32 bytes 1 time in 256) and checks every
// value is exactly 64 bytes and verifies.
func TestECDSARawPadding(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	msg := soapMessage(200)
	for i := range 300 {
		sig := signTestMessage(t, p.signer, msg, time.Now())
		if _, err := Verify(sig, Part{URI: MessageURI, Data: msg}); err != nil {
			t.Fatalf("signature %d: %v", i, err)
		}
	}

	// And the conversion itself, on DER values with short and padded
	// integers.
	for _, tc := range []struct{ r, s []byte }{
		{[]byte{1}, bytes.Repeat([]byte{0x7f}, 32)},
		{append([]byte{0}, bytes.Repeat([]byte{0xff}, 32)...), []byte{0, 0x80}},
		{bytes.Repeat([]byte{0x11}, 31), bytes.Repeat([]byte{0x22}, 30)},
	} {
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(tc.r) })
			b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(tc.s) })
		})
		raw, err := rawECDSA(b.BytesOrPanic(), 32)
		if err != nil {
			t.Fatal(err)
		}
		r, s := new(big.Int).SetBytes(tc.r), new(big.Int).SetBytes(tc.s)
		if len(raw) != 64 || new(big.Int).SetBytes(raw[:32]).Cmp(r) != 0 || new(big.Int).SetBytes(raw[32:]).Cmp(s) != 0 {
			t.Errorf("rawECDSA(%x, %x) = %x", tc.r, tc.s, raw)
		}
	}
	long := bytes.Repeat([]byte{0x11}, 33)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(long) })
		b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes([]byte{1}) })
	})
	if _, err := rawECDSA(b.BytesOrPanic(), 32); err == nil {
		t.Error("rawECDSA accepted a 33-byte integer")
	}
}

func TestSignWithIntermediates(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	s := *p.signer
	s.Extra = []*x509.Certificate{p.ca.Cert}
	s.ExtraOCSP = [][]byte{p.signer.OCSP} // any DER response will do here: Verify hands them back unjudged
	msg := soapMessage(500)
	sig := signTestMessage(t, &s, msg, time.Now())
	v, err := Verify(sig, Part{URI: MessageURI, Data: msg})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Extra) != 1 || !v.Extra[0].Equal(p.ca.Cert) {
		t.Errorf("Extra = %v, want the issuing CA", v.Extra)
	}
	if len(v.OCSP) != 2 {
		t.Errorf("%d OCSP responses, want 2", len(v.OCSP))
	}
	for _, want := range []string{
		`<xades:CompleteCertificateRefs Id="complete-certificate-refs"><xades:CertRefs><xades:Cert URI="#encapsulated-cert-1"><xades:CertDigest>`,
		`<xades:CertificateValues><xades:EncapsulatedX509Certificate Id="encapsulated-cert-1">`,
		`<xades:EncapsulatedOCSPValue Id="ocsp-response-2">`,
		`<ds:X509IssuerName>CN=Şlüz AZ Root CA,O=Şlüz AZ,C=AZ</ds:X509IssuerName>`,
	} {
		if !bytes.Contains(sig, []byte(want)) {
			t.Errorf("document lacks %s", want)
		}
	}

	// The unsigned references must still match the embedded certificates.
	bad := bytes.Replace(sig, []byte(`URI="#encapsulated-cert-1"`), []byte(`URI="#encapsulated-cert-2"`), 1)
	if _, err := Verify(bad, Part{URI: MessageURI, Data: msg}); !errors.Is(err, ErrMalformed) {
		t.Errorf("reference to a missing certificate: err = %v, want ErrMalformed", err)
	}
	other := base64.StdEncoding.EncodeToString(p.ca.Root.Raw)
	bad = replaceBetween(t, sig, `<xades:EncapsulatedX509Certificate Id="encapsulated-cert-1">`, `</`, other)
	if _, err := Verify(bad, Part{URI: MessageURI, Data: msg}); !errors.Is(err, ErrMalformed) {
		t.Errorf("embedded certificate swapped: err = %v, want ErrMalformed", err)
	}
}

func TestSignRefuses(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	msg := Part{URI: MessageURI, Data: []byte("<x/>"), MimeType: "text/xml"}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	admin, adminKey, err := p.issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		signer  Signer
		part    Part
		wantErr error
		want    string
	}{
		{"no nonRepudiation", Signer{Key: adminKey, Cert: admin, OCSP: p.signer.OCSP}, msg, ErrCertificate, "nonRepudiation"},
		{"key of another certificate", Signer{Key: otherKey, Cert: p.signer.Cert, OCSP: p.signer.OCSP}, msg, nil, "does not belong"},
		{"no OCSP", Signer{Key: p.signer.Key, Cert: p.signer.Cert}, msg, nil, "OCSP"},
		{"no certificate", Signer{Key: p.signer.Key}, msg, nil, "no certificate"},
		{"empty URI", *p.signer, Part{Data: msg.Data, MimeType: "text/xml"}, nil, "/message.xml"},
		{"URI needing escapes", *p.signer, Part{URI: `/a"b`, Data: msg.Data, MimeType: "text/xml"}, nil, "character"},
		{"same-document URI", *p.signer, Part{URI: "#signed-properties", Data: msg.Data, MimeType: "text/xml"}, nil, "form /name"},
		{"no MIME type", *p.signer, Part{URI: MessageURI, Data: msg.Data}, nil, "MIME"},
		{"MIME type with a control character", *p.signer, Part{URI: MessageURI, Data: msg.Data, MimeType: "text/xml\x01"}, nil, "MIME"},
		{"ExtraOCSP without Extra", Signer{Key: p.signer.Key, Cert: p.signer.Cert, OCSP: p.signer.OCSP, ExtraOCSP: [][]byte{{1}}}, msg, nil, "Extra"},
		{"empty ExtraOCSP entry", Signer{Key: p.signer.Key, Cert: p.signer.Cert, OCSP: p.signer.OCSP,
			Extra: []*x509.Certificate{p.ca.Cert}, ExtraOCSP: [][]byte{nil}}, msg, nil, "ExtraOCSP[0] is empty"},
		{"nil Extra certificate", Signer{Key: p.signer.Key, Cert: p.signer.Cert, OCSP: p.signer.OCSP,
			Extra: []*x509.Certificate{nil}}, msg, nil, "nil certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.signer.Sign(tc.part, time.Now())
			if err == nil {
				t.Fatal("Sign succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// A MIME type with markup characters is escaped, and still verifies.
func TestSignEscapesText(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	part := Part{URI: MessageURI, Data: []byte("<x/>"), MimeType: `text/xml; x="<&>"`}
	sig, err := p.signer.Sign(part, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sig, []byte(`<xades:MimeType>text/xml; x="&lt;&amp;&gt;"</xades:MimeType>`)) {
		t.Errorf("MIME type not escaped: %s", sig)
	}
	if _, err := Verify(sig, part); err != nil {
		t.Error(err)
	}
}
