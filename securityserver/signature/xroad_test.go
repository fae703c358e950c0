package signature

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// X-Road's own signature documents (testdata/xroad, see its NOTICE).
const xroadData = "../../testdata/xroad"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(xroadData, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestXRoadSamples verifies signatures X-Road itself wrote.
func TestXRoadSamples(t *testing.T) {
	message0 := readFixture(t, "sign-0/message-0.xml")
	restHeader := readFixture(t, "non-batch-sig/message.xml")
	attachment := readFixture(t, "non-batch-sig/attachment1")
	tests := []struct {
		name      string
		sig       string
		parts     []Part
		wantErr   error
		wantTime  string
		wantOCSPs int
	}{
		// The proxy's format (SignatureXmlBuilder): asic root, inclusive
		// C14N, SignedInfo indented with line breaks, base64 wrapped at 76
		// columns with &#13;.
		{name: "sign-0", sig: "sign-0/sign-0.xml",
			parts:    []Part{{URI: MessageURI, Data: message0}},
			wantTime: "2017-09-08T09:15:11.58Z", wantOCSPs: 1},
		// The same with the ASiC 1.1.1 namespace and references without Id.
		{name: "sign-0-old-format", sig: "sign-0/sign-0-old-format.xml",
			parts:    []Part{{URI: MessageURI, Data: message0}},
			wantTime: "2015-06-03T10:14:49.126Z", wantOCSPs: 1},
		{name: "sign-0 invalid value", sig: "sign-0/sign-0-invalid-signature-value.xml",
			parts: []Part{{URI: MessageURI, Data: message0}}, wantErr: ErrSignatureValue},
		{name: "sign-0 other message", sig: "sign-0/sign-0.xml",
			parts: []Part{{URI: MessageURI, Data: append(bytes.Clone(message0), ' ')}}, wantErr: ErrDigest},
		// A signature over a hash chain result: not supported yet.
		{name: "batch", sig: "sign-0/batch-sig.xml",
			parts: []Part{{URI: MessageURI, Data: message0}}, wantErr: ErrMalformed},
		// Written by another XAdES library (EU DSS): lone ds:Signature,
		// Exclusive C14N, two parts, SigningCertificateV2 with
		// IssuerSerialV2. X-Road's verifier accepts it.
		{name: "non-batch-sig", sig: "non-batch-sig/signatures.xml",
			parts:    []Part{{URI: MessageURI, Data: restHeader}, {URI: "/attachment1", Data: attachment}},
			wantTime: "2024-07-09T07:38:53Z", wantOCSPs: 1},
		{name: "non-batch-sig without the attachment", sig: "non-batch-sig/signatures.xml",
			parts: []Part{{URI: MessageURI, Data: restHeader}}, wantErr: ErrMalformed},
		{name: "non-batch-sig other attachment", sig: "non-batch-sig/signatures.xml",
			parts:   []Part{{URI: MessageURI, Data: restHeader}, {URI: "/attachment1", Data: []byte{1}}},
			wantErr: ErrDigest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := VerifyParts(readFixture(t, tc.sig), tc.parts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v.SigningTime.Format(time.RFC3339Nano); got != tc.wantTime {
				t.Errorf("SigningTime = %s, want %s", got, tc.wantTime)
			}
			if len(v.OCSP) != tc.wantOCSPs {
				t.Errorf("%d OCSP responses, want %d", len(v.OCSP), tc.wantOCSPs)
			}
		})
	}
}

// TestXRoadIssuerName checks javaRFC2253 against what X-Road (Java's
// X500Principal.getName()) wrote for the issuer of the sample's
// certificate.
func TestXRoadIssuerName(t *testing.T) {
	for _, name := range []string{"sign-0/sign-0.xml", "sign-0/sign-0-old-format.xml"} {
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(readFixture(t, name)); err != nil {
			t.Fatal(err)
		}
		p, err := read(readFixture(t, name))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.TrimSpace(doc.FindElement("//X509IssuerName").Text())
		got, err := javaRFC2253(p.cert.RawIssuer)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: issuer %q, X-Road wrote %q", name, got, want)
		}
	}
}
