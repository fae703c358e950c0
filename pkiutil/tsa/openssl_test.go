package tsa

import (
	"crypto"
	"encoding/hex"
	"github.com/sluz/sluz/internal/testtool"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenSSLInterop checks that OpenSSL accepts the authority's tokens and
// that the authority answers OpenSSL's requests.
func TestOpenSSLInterop(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	p := fixture(t)
	for _, kt := range []struct {
		name string
		tsa  testCA
	}{{"ECDSA-P256", p.ecTSA}, {"RSA-2048", p.rsaTSA}} {
		t.Run(kt.name, func(t *testing.T) {
			srv := startServer(t, newTestAuthority(t, p, kt.tsa, nil))
			dir := t.TempDir()
			writePEM(t, filepath.Join(dir, "root.pem"), p.root.cert)
			writePEM(t, filepath.Join(dir, "issuing.pem"), p.issuing.cert)
			writePEM(t, filepath.Join(dir, "untrusted.pem"), kt.tsa.cert, p.issuing.cert)
			openssl := func(args ...string) (string, error) {
				cmd := exec.Command(bin, args...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			// postFile POSTs the request in file req and stores the answer
			// in file resp.
			postFile := func(req, resp string) []byte {
				der, err := os.ReadFile(filepath.Join(dir, req))
				if err != nil {
					t.Fatal(err)
				}
				hr, body := post(t, srv.URL, ContentTypeQuery, der)
				if hr.StatusCode != 200 || hr.Header.Get("Content-Type") != ContentTypeReply {
					t.Fatalf("HTTP %d %q", hr.StatusCode, hr.Header.Get("Content-Type"))
				}
				if err := os.WriteFile(filepath.Join(dir, resp), body, 0o600); err != nil {
					t.Fatal(err)
				}
				return body
			}
			wantOK := func(out string, err error) {
				t.Helper()
				if err != nil || !strings.Contains(out, "Verification: OK") {
					t.Fatalf("openssl ts -verify failed: %v\n%s", err, out)
				}
			}

			t.Run("Go request", func(t *testing.T) {
				digest := digestOf("openssl " + kt.name)
				req := &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Nonce: big.NewInt(424242), CertReq: true}
				der, err := req.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "go.tsq"), der, 0o600); err != nil {
					t.Fatal(err)
				}
				postFile("go.tsq", "go.tsr")
				wantOK(openssl("ts", "-verify", "-digest", hex.EncodeToString(digest), "-sha256",
					"-in", "go.tsr", "-CAfile", "root.pem", "-untrusted", "issuing.pem"))
				wantOK(openssl("ts", "-verify", "-queryfile", "go.tsq",
					"-in", "go.tsr", "-CAfile", "root.pem", "-untrusted", "issuing.pem"))

				out, err := openssl("ts", "-verify", "-digest", hex.EncodeToString(digestOf("other")), "-sha256",
					"-in", "go.tsr", "-CAfile", "root.pem", "-untrusted", "issuing.pem")
				if err == nil || strings.Contains(out, "Verification: OK") {
					t.Fatalf("openssl verified the token against another digest:\n%s", out)
				}
				t.Logf("other digest: %s", strings.TrimSpace(out))

				out, err = openssl("ts", "-reply", "-in", "go.tsr", "-text")
				if err != nil || !strings.Contains(out, "Status: Granted") || !strings.Contains(out, "Nonce: 0x067932") {
					t.Fatalf("openssl ts -reply -text: %v\n%s", err, out)
				}
			})

			for _, tc := range []struct {
				name string
				args []string
				// untrusted certificates for openssl: without -cert the
				// token carries no certificates.
				untrusted string
			}{
				{"openssl query with nonce", []string{"-cert"}, "issuing.pem"},
				{"openssl query without nonce", []string{"-cert", "-no_nonce"}, "issuing.pem"},
				{"openssl query without certReq", nil, "untrusted.pem"},
				{"openssl query with policy", []string{"-cert", "-tspolicy", testPolicy.String()}, "issuing.pem"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					digest := digestOf(tc.name)
					args := append([]string{"ts", "-query", "-digest", hex.EncodeToString(digest), "-sha256", "-out", "ossl.tsq"}, tc.args...)
					if out, err := openssl(args...); err != nil {
						t.Fatalf("openssl ts -query: %v\n%s", err, out)
					}
					der, err := os.ReadFile(filepath.Join(dir, "ossl.tsq"))
					if err != nil {
						t.Fatal(err)
					}
					req, err := ParseRequest(der)
					if err != nil {
						t.Fatalf("ParseRequest(openssl query): %v", err)
					}
					wantNonce := !strings.Contains(strings.Join(tc.args, " "), "-no_nonce")
					wantCert := strings.Contains(strings.Join(tc.args, " "), "-cert")
					if (req.Nonce != nil) != wantNonce || req.CertReq != wantCert || req.HashAlgorithm != crypto.SHA256 {
						t.Fatalf("parsed openssl query = %+v", req)
					}
					body := postFile("ossl.tsq", "ossl.tsr")

					out, err := openssl("ts", "-reply", "-in", "ossl.tsr", "-text")
					if err != nil || !strings.Contains(out, "Status: Granted") {
						t.Fatalf("openssl ts -reply -text: %v\n%s", err, out)
					}
					wantOK(openssl("ts", "-verify", "-queryfile", "ossl.tsq",
						"-in", "ossl.tsr", "-CAfile", "root.pem", "-untrusted", tc.untrusted))

					// And the Go verifier agrees.
					resp, err := ParseResponse(body)
					if err != nil {
						t.Fatal(err)
					}
					tok, err := ParseToken(resp.Token)
					if err != nil {
						t.Fatal(err)
					}
					opts := VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest, Nonce: req.Nonce, TSACert: kt.tsa.cert}
					opts.Intermediates = p.issuingPool()
					if err := tok.Verify(opts); err != nil {
						t.Fatalf("Verify: %v", err)
					}
				})
			}
		})
	}
}
