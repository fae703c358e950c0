package signature

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
)

// replaceBetween replaces what lies between the first start and the next
// end after it.
func replaceBetween(t testing.TB, doc []byte, start, end, with string) []byte {
	t.Helper()
	i := bytes.Index(doc, []byte(start))
	if i < 0 {
		t.Fatalf("no %s in the document", start)
	}
	i += len(start)
	j := bytes.Index(doc[i:], []byte(end))
	if j < 0 {
		t.Fatalf("no %s after %s", end, start)
	}
	out := append(bytes.Clone(doc[:i]), with...)
	return append(out, doc[i+j:]...)
}

func between(t testing.TB, doc []byte, start, end string) string {
	t.Helper()
	i := bytes.Index(doc, []byte(start))
	if i < 0 {
		t.Fatalf("no %s in the document", start)
	}
	i += len(start)
	j := bytes.Index(doc[i:], []byte(end))
	if j < 0 {
		t.Fatalf("no %s after %s", end, start)
	}
	return string(doc[i : i+j])
}

const valueStart = `<ds:SignatureValue Id="signature-value">`

func signatureValue(t testing.TB, doc []byte) []byte {
	v, err := base64.StdEncoding.DecodeString(between(t, doc, valueStart, "<"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func withSignatureValue(t testing.TB, doc, v []byte) []byte {
	return replaceBetween(t, doc, valueStart, "<", base64.StdEncoding.EncodeToString(v))
}

// TestVerifyTampering changes one thing at a time in a good signature (or
// in the message) and checks the error Verify gives.
func TestVerifyTampering(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			p := getPKI(t, kt)
			other, err := p.issueSigner("AZ/GOV/EMDK")
			if err != nil {
				t.Fatal(err)
			}
			admin, adminKey, err := p.issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "operator"})
			if err != nil {
				t.Fatal(err)
			}
			msg := soapMessage(1024)
			good := signTestMessage(t, p.signer, msg, time.Now())
			ec := kt == pkiutil.KeyECDSAP256
			otherCert := base64.StdEncoding.EncodeToString(other.Cert.Raw)
			const sp = `<xades:SignedProperties Id="signed-properties">`
			const spEnd = `</xades:SignedProperties>`
			originalSP := sp + between(t, good, sp, spEnd) + spEnd

			tests := []struct {
				name    string
				ecOnly  bool
				sig     func() []byte
				msg     func() []byte
				wantErr error // nil: must verify
			}{
				{name: "untouched"},
				{name: "one message byte changed", wantErr: ErrDigest, msg: func() []byte {
					m := bytes.Clone(msg)
					m[len(m)/2] ^= 0x01
					return m
				}},
				{name: "message line ends changed", wantErr: ErrDigest, msg: func() []byte {
					return bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
				}},
				{name: "SigningTime changed", wantErr: ErrDigest, sig: func() []byte {
					return replaceBetween(t, good, "<xades:SigningTime>", "<", "2001-01-01T00:00:00.000Z")
				}},
				{name: "MimeType changed", wantErr: ErrDigest, sig: func() []byte {
					return replaceBetween(t, good, "<xades:MimeType>", "<", "application/octet-stream")
				}},
				{name: "signature value bit flipped", wantErr: ErrSignatureValue, sig: func() []byte {
					v := signatureValue(t, good)
					v[len(v)/3] ^= 0x10
					return withSignatureValue(t, good, v)
				}},
				{name: "ECDSA value of 63 bytes", ecOnly: true, wantErr: ErrSignatureValue, sig: func() []byte {
					return withSignatureValue(t, good, signatureValue(t, good)[1:])
				}},
				{name: "ECDSA value of 65 bytes", ecOnly: true, wantErr: ErrSignatureValue, sig: func() []byte {
					return withSignatureValue(t, good, append([]byte{0}, signatureValue(t, good)...))
				}},
				{name: "ECDSA value in DER", ecOnly: true, wantErr: ErrSignatureValue, sig: func() []byte {
					v := signatureValue(t, good)
					der := []byte{0x30, 68, 0x02, 32}
					der = append(der, v[:32]...)
					der = append(der, 0x02, 32)
					return withSignatureValue(t, good, append(der, v[32:]...))
				}},
				{name: "KeyInfo certificate swapped for another signing certificate", wantErr: ErrCertificate, sig: func() []byte {
					return replaceBetween(t, good, "<ds:X509Certificate>", "<", otherCert)
				}},
				{name: "KeyInfo certificate and CertDigest swapped", wantErr: ErrDigest, sig: func() []byte {
					s := replaceBetween(t, good, "<ds:X509Certificate>", "<", otherCert)
					return replaceBetween(t, s, "<xades:CertDigest>"+digestMethodSHA512+"<ds:DigestValue>", "<", b64sha512(other.Cert.Raw))
				}},
				{name: "second ds:Signature", wantErr: ErrMalformed, sig: func() []byte {
					whole := `<ds:Signature Id="signature">` + between(t, good, `<ds:Signature Id="signature">`, `</asic:XAdESSignatures>`)
					copySig := strings.ReplaceAll(whole, `Id="`, `Id="x-`)
					return bytes.Replace(good, []byte(`</asic:XAdESSignatures>`), []byte(copySig+`</asic:XAdESSignatures>`), 1)
				}},
				{name: "wrapping: forged properties in place, original hidden in unsigned properties", wantErr: ErrMalformed, sig: func() []byte {
					forged := strings.Replace(originalSP, between(t, good, "<xades:SigningTime>", "<"), "2001-01-01T00:00:00.000Z", 1)
					s := bytes.Replace(good, []byte(originalSP), []byte(forged), 1)
					return bytes.Replace(s, []byte(`<xades:UnsignedSignatureProperties>`),
						[]byte(`<xades:UnsignedSignatureProperties><xades:SignatureTimeStamp>`+originalSP+`</xades:SignatureTimeStamp>`), 1)
				}},
				{name: "wrapping: prefixed x:Id repeating signed-properties", wantErr: ErrMalformed, sig: func() []byte {
					return bytes.Replace(good, []byte(`<ds:KeyInfo>`), []byte(`<ds:KeyInfo xmlns:x="urn:x" x:Id="signed-properties">`), 1)
				}},
				{name: "properties reference pointed elsewhere", wantErr: ErrMalformed, sig: func() []byte {
					return bytes.Replace(good, []byte(`URI="#signed-properties"`), []byte(`URI="#signature-value"`), 1)
				}},
				{name: "message reference renamed", wantErr: ErrMalformed, sig: func() []byte {
					return bytes.Replace(good, []byte(`URI="/message.xml"`), []byte(`URI="/attachment1"`), 1)
				}},
				{name: "whitespace added in SignedInfo", wantErr: ErrSignatureValue, sig: func() []byte {
					return bytes.Replace(good, []byte(`<ds:SignatureMethod`), []byte("\n<ds:SignatureMethod"), 1)
				}},
				{name: "SHA-1 digest method", wantErr: ErrMalformed, sig: func() []byte {
					return bytes.Replace(good, []byte(digestSHA512), []byte("http://www.w3.org/2000/09/xmldsig#sha1"), 1)
				}},
				{name: "comments in the SignedInfo", wantErr: ErrMalformed, sig: func() []byte {
					return bytes.Replace(good, []byte(`<ds:SignatureMethod`), []byte("<!--x--><ds:SignatureMethod"), 1)
				}},
				{name: "DOCTYPE with an entity", wantErr: ErrMalformed, sig: func() []byte {
					return bytes.Replace(good, []byte(`<asic:XAdESSignatures`), []byte(`<!DOCTYPE x [<!ENTITY e "e">]><asic:XAdESSignatures`), 1)
				}},
				{name: "no OCSP response", wantErr: ErrMalformed, sig: func() []byte {
					return replaceBetween(t, good, `<xades:UnsignedSignatureProperties>`, `</xades:UnsignedSignatureProperties>`, "")
				}},
				{name: "root renamed", wantErr: ErrMalformed, sig: func() []byte {
					return bytes.ReplaceAll(good, []byte(`asic:XAdESSignatures`), []byte(`asic:Signatures`))
				}},
				{name: "ds namespace changed", wantErr: ErrMalformed, sig: func() []byte {
					return bytes.Replace(good, []byte(`xmlns:ds="`+nsDS+`"`), []byte(`xmlns:ds="urn:not-dsig"`), 1)
				}},
				{name: "unsigned properties indented", sig: func() []byte {
					return bytes.ReplaceAll(good, []byte(`<xades:EncapsulatedOCSPValue`), []byte("\n    <xades:EncapsulatedOCSPValue"))
				}},
				{name: "base64 wrapped at 76 columns with &#13;", sig: func() []byte {
					v := base64.StdEncoding.EncodeToString(signatureValue(t, good))
					var w strings.Builder
					for len(v) > 76 {
						w.WriteString(v[:76] + "&#13;\n")
						v = v[76:]
					}
					w.WriteString(v)
					return replaceBetween(t, good, valueStart, "<", "\n"+w.String()+"\n")
				}},
				{name: "certificate without nonRepudiation", wantErr: ErrCertificate, sig: func() []byte {
					s := Signer{Key: adminKey, Cert: admin, OCSP: p.signer.OCSP}
					sig, err := s.sign(Part{URI: MessageURI, Data: msg, MimeType: "text/xml"}, time.Now())
					if err != nil {
						t.Fatal(err)
					}
					return sig
				}},
			}
			for _, tc := range tests {
				if tc.ecOnly && !ec {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					sig, m := good, msg
					if tc.sig != nil {
						sig = tc.sig()
					}
					if tc.msg != nil {
						m = tc.msg()
					}
					_, err := Verify(sig, Part{URI: MessageURI, Data: m})
					// The strict reader alone (no fastRead) gives the same
					// answer.
					_, strictErr := verifyParts(sig, []Part{{URI: MessageURI, Data: m}}, readStrict)
					if sentinelOf(err) != sentinelOf(strictErr) {
						t.Fatalf("Verify: %v; with the strict reader alone: %v", err, strictErr)
					}
					if _, fast := fastRead(sig); fast {
						t.Log("read by fastRead")
					}
					if tc.wantErr == nil {
						if err != nil {
							t.Fatal(err)
						}
						return
					}
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("err = %v, want %v", err, tc.wantErr)
					}
					t.Log(err)
				})
			}
		})
	}
}

// TestVerifyErrorsAreDistinct: each failure wraps exactly one sentinel.
func TestVerifyErrorsAreDistinct(t *testing.T) {
	all := []error{ErrMalformed, ErrDigest, ErrSignatureValue, ErrCertificate}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v is %v", a, b)
			}
		}
	}
}

func TestVerifyParts(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	msg := soapMessage(300)
	sig := signTestMessage(t, p.signer, msg, time.Now())
	tests := []struct {
		name    string
		parts   []Part
		wantErr error
		want    string
	}{
		{"no parts", nil, nil, "no parts"},
		{"part given twice", []Part{{URI: MessageURI, Data: msg}, {URI: MessageURI, Data: msg}}, nil, "twice"},
		{"other URI", []Part{{URI: "/attachment1", Data: msg}}, ErrMalformed, "/message.xml"},
		{"an unsigned extra part", []Part{{URI: MessageURI, Data: msg}, {URI: "/attachment1", Data: []byte("x")}}, ErrMalformed, "/attachment1 is not signed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyParts(sig, tc.parts)
			if err == nil {
				t.Fatal("VerifyParts succeeded")
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

func TestVerifyRejectsGarbage(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":           "",
		"not XML":         "signature",
		"unclosed":        `<asic:XAdESSignatures xmlns:asic="` + nsASiC + `">`,
		"no signature":    `<asic:XAdESSignatures xmlns:asic="` + nsASiC + `"/>`,
		"Latin-1":         `<?xml version="1.0" encoding="ISO-8859-1"?><asic:XAdESSignatures xmlns:asic="` + nsASiC + `"/>`,
		"undeclared ds":   `<asic:XAdESSignatures xmlns:asic="` + nsASiC + `"><ds:Signature/></asic:XAdESSignatures>`,
		"invalid UTF-8":   "<a>\xff</a>",
		"two roots":       "<a/><b/>",
		"too deep":        strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40),
		"too big":         "<a>" + strings.Repeat(" ", maxDocumentSize) + "</a>",
		"empty Signature": `<ds:Signature xmlns:ds="` + nsDS + `" Id="s"/>`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Verify([]byte(doc), Part{URI: MessageURI, Data: []byte("m")}); !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestVerifyDataDigest: a part's DataDigest (SHA-512 its caller computed
// from Data) stands in for hashing Data under a SHA-512 reference: the
// right one verifies, a wrong one is refused as a changed part even though
// Data is intact; under another digest method Data itself is hashed.
func TestVerifyDataDigest(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	msg := soapMessage(300)
	sig := signTestMessage(t, p.signer, msg, time.Now())
	sum := sha512.Sum512(msg)
	if _, err := Verify(sig, Part{URI: MessageURI, Data: msg, DataDigest: sum[:]}); err != nil {
		t.Fatalf("with its own digest: %v", err)
	}
	wrong := sha512.Sum512([]byte("another message"))
	if _, err := Verify(sig, Part{URI: MessageURI, Data: msg, DataDigest: wrong[:]}); !errors.Is(err, ErrDigest) {
		t.Fatalf("with a digest of other bytes: %v, want ErrDigest", err)
	}
	// The message's reference made SHA-256 (over the right bytes): the
	// SHA-512 given is not compared with it, the data is hashed, so the
	// parts check passes and only the signature value (over the changed
	// SignedInfo) fails.
	ref := between(t, sig, `<ds:Reference Id="`, `</ds:Reference>`)
	if !strings.Contains(ref, `URI="/message.xml"`) {
		t.Skip("the first reference is not the message's")
	}
	s256 := sha256.Sum256(msg)
	changed := strings.Replace(ref, "http://www.w3.org/2001/04/xmlenc#sha512", "http://www.w3.org/2001/04/xmlenc#sha256", 1)
	changed = strings.Replace(changed, base64.StdEncoding.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(s256[:]), 1)
	if changed == ref {
		t.Fatal("could not rewrite the message's reference")
	}
	sig256 := []byte(strings.Replace(string(sig), ref, changed, 1))
	_, err := Verify(sig256, Part{URI: MessageURI, Data: msg, DataDigest: sum[:]})
	if !errors.Is(err, ErrSignatureValue) {
		t.Fatalf("a SHA-256 reference with a SHA-512 DataDigest: %v, want the parts to pass and ErrSignatureValue", err)
	}
}
