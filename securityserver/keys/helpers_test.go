//go:build !nopkcs11

package keys

import (
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ThalesGroup/crypto11"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
)

// softhsmModule returns the path of SoftHSM's PKCS#11 library ($SOFTHSM2_MODULE
// or where distributions install it); like testtool.Require, a missing one
// skips the test, or fails it under CI.
func softhsmModule(t testing.TB) string {
	t.Helper()
	testtool.Require(t, "softhsm2-util")
	candidates := []string{
		os.Getenv("SOFTHSM2_MODULE"),
		"/usr/lib/softhsm/libsofthsm2.so", // Debian, Ubuntu (softhsm2)
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so", // Fedora
		"/usr/local/lib/softhsm/libsofthsm2.so",
		"/opt/homebrew/lib/softhsm/libsofthsm2.so",
	}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("softhsm2-util is installed but libsofthsm2.so was not found: set SOFTHSM2_MODULE")
	}
	t.Skip("libsofthsm2.so not found: install softhsm2 or set SOFTHSM2_MODULE")
	return ""
}

// hsm is a fresh SoftHSM token "sluz-test" (user PIN 1234) in the test's
// temporary directory, and a throwaway federation CA.
type hsm struct {
	module string
	dir    string
	ca     *pkiutil.CA
}

// newHSM points SOFTHSM2_CONF at a private token directory and
// initialises the token. SoftHSM reads SOFTHSM2_CONF when the library is
// initialised, so every token of the previous test must be closed by then:
// the cleanup checks that this test leaves none open.
func newHSM(t testing.TB) *hsm {
	t.Helper()
	module := softhsmModule(t)
	if n := openTokens(); n != 0 {
		t.Fatalf("%d PKCS#11 tokens still open from an earlier test", n)
	}
	dir := t.TempDir()
	tokenDir := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokenDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	confText := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokenDir)
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", testToken,
		"--pin", testPIN, "--so-pin", testSOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if n := openTokens(); n != 0 {
			t.Errorf("the test left %d PKCS#11 tokens open", n)
		}
	})
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "pki")})
	if err != nil {
		t.Fatal(err)
	}
	return &hsm{module: module, dir: dir, ca: ca}
}

// admin runs f on a crypto11 context of the test token of its own (as an
// administrator's tool would), closed before admin returns.
func (h *hsm) admin(t testing.TB, f func(*crypto11.Context) error) {
	t.Helper()
	ctx, err := crypto11.Configure(&crypto11.Config{Path: h.module, TokenLabel: testToken, Pin: testPIN})
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	if err := f(ctx); err != nil {
		t.Fatal(err)
	}
}

// generateECDSA makes a P-256 key pair in the token and returns its public key.
func (h *hsm) generateECDSA(t testing.TB, label string, id []byte) crypto.PublicKey {
	t.Helper()
	var pub crypto.PublicKey
	h.admin(t, func(ctx *crypto11.Context) error {
		k, err := ctx.GenerateECDSAKeyPairWithLabel(id, []byte(label), elliptic.P256())
		if err == nil {
			pub = k.Public()
		}
		return err
	})
	return pub
}

// generateRSA makes an RSA key pair in the token and returns its public key.
func (h *hsm) generateRSA(t testing.TB, label string, id []byte, bits int) crypto.PublicKey {
	t.Helper()
	var pub crypto.PublicKey
	h.admin(t, func(ctx *crypto11.Context) error {
		k, err := ctx.GenerateRSAKeyPairWithLabel(id, []byte(label), bits)
		if err == nil {
			pub = k.Public()
		}
		return err
	})
	return pub
}

// certify issues a signing certificate for member AZ/GOV/DIN over pub.
func (h *hsm) certify(t testing.TB, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	cert, err := h.ca.Issue(pkiutil.IssueRequest{Profile: "sign", Member: testMember, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// spec names the key labelled label on the test token, with the PIN inline.
func (h *hsm) spec(label string) Spec {
	return Spec{PKCS11: &PKCS11{Module: h.module, TokenLabel: testToken, PIN: testPIN, KeyLabel: label}}
}

// mustOpen opens s and closes it at the end of the test.
func mustOpen(t testing.TB, s Spec, cert *x509.Certificate) (crypto.Signer, io.Closer) {
	t.Helper()
	key, c, err := Open(s, cert)
	if err != nil {
		t.Fatalf("Open(%v): %v", s.PKCS11, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return key, c
}

// minimalOCSP is a DER OCSPResponse {responseStatus: successful}: the
// signature package embeds it without judging it.
var minimalOCSP = []byte{0x30, 0x03, 0x0a, 0x01, 0x00}
