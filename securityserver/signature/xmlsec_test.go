package signature

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
)

// TestXmlsec1Accepts has xmlsec1 (libxmlsec1 1.2.x, an independent XML-DSig
// implementation) verify Şlüz's signatures, with the federation root as the
// only trust anchor, run beside message.xml as DESIGN.md gives the command:
//
//	xmlsec1 --verify --url-map:/message.xml message.xml --trusted-pem root.pem --untrusted-pem ca.pem signatures.xml
//
// and refuse them once one byte of the message changes. xmlsec1 checks the
// XML-DSig core (references, SignedInfo, value, chain), not the XAdES
// SigningCertificate digest.
func TestXmlsec1Accepts(t *testing.T) {
	xmlsec := testtool.Require(t, "xmlsec1")
	for _, kt := range keyTypes {
		for _, withExtra := range []bool{false, true} {
			name := string(kt)
			if withExtra {
				name += " with intermediates"
			}
			t.Run(name, func(t *testing.T) {
				p := getPKI(t, kt)
				s := *p.signer
				if withExtra {
					s.Extra = []*x509.Certificate{p.ca.Cert}
					s.ExtraOCSP = [][]byte{p.signer.OCSP}
				}
				dir := t.TempDir()
				msg := soapMessage(1024)
				sig := signTestMessage(t, &s, msg, time.Now())
				write := func(name string, data []byte) {
					if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				write("message.xml", msg)
				write("signatures.xml", sig)
				write("root.pem", pkiutil.EncodeCertificates(p.ca.Root))
				write("ca.pem", pkiutil.EncodeCertificates(p.ca.Cert))
				run := func() (string, error) { return xmlsecVerify(xmlsec, dir, "/message.xml", "message.xml") }
				out, err := run()
				if err != nil || !strings.Contains(out, "OK") {
					t.Fatalf("xmlsec1 refused the signature (%v):\n%s", err, out)
				}

				msg[len(msg)/2] ^= 0x01
				write("message.xml", msg)
				out, err = run()
				if err == nil || strings.Contains(out, "\nOK") || strings.HasPrefix(out, "OK") {
					t.Fatalf("xmlsec1 accepted the signature over a changed message:\n%s", out)
				}
			})
		}
	}
}

// xmlsecVerify runs xmlsec1 in dir on signatures.xml, the signed document
// uri read from file, root.pem trusted and ca.pem untrusted.
func xmlsecVerify(xmlsec, dir, uri, file string) (string, error) {
	cmd := exec.Command(xmlsec, "--verify", "--url-map:"+uri, file,
		"--trusted-pem", "root.pem", "--untrusted-pem", "ca.pem", "signatures.xml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
