package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/pkiutil"
)

// The test token, as the brief for this package names it.
const (
	testToken    = "sluz-test"
	testPIN      = "1234"
	testSOPIN    = "5678"
	testKeyLabel = "AZ-GOV-DIN-sign"
	testMember   = "AZ/GOV/DIN"
)

func TestValidate(t *testing.T) {
	ok := func() *PKCS11 {
		return &PKCS11{Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "sluz-test", PINFile: "/etc/sluz/pin", KeyLabel: "AZ-GOV-DIN-sign"}
	}
	with := func(f func(*PKCS11)) Spec { p := ok(); f(p); return Spec{PKCS11: p} }
	good := []Spec{
		{File: "sign.key"},
		{PKCS11: ok()},
		with(func(p *PKCS11) { p.PINFile, p.PIN = "", "1234" }),
		with(func(p *PKCS11) { p.KeyLabel, p.KeyID = "", "01:A2" }),
		with(func(p *PKCS11) { p.KeyID = "0x01a2" }),
		with(func(p *PKCS11) { p.Module = "libsofthsm2.so"; p.MaxSessions = 2 }),
	}
	for _, s := range good {
		if err := s.Validate(); err != nil {
			t.Errorf("%v: %v", s.PKCS11, err)
		}
	}
	bad := []struct {
		spec Spec
		want string
	}{
		{Spec{}, "neither file nor pkcs11"},
		{Spec{File: "sign.key", PKCS11: ok()}, "both file (sign.key) and pkcs11"},
		{with(func(p *PKCS11) { p.Module = "" }), "pkcs11.module is empty"},
		{with(func(p *PKCS11) { p.TokenLabel = "" }), "pkcs11.tokenLabel is empty"},
		{with(func(p *PKCS11) { p.PINFile = "" }), "pkcs11.pinFile is empty (and so is pkcs11.pin)"},
		{with(func(p *PKCS11) { p.PIN = "1234" }), "both pkcs11.pin and pkcs11.pinFile"},
		{with(func(p *PKCS11) { p.KeyLabel = "" }), "pkcs11.keyLabel is empty (and so is pkcs11.keyID)"},
		{with(func(p *PKCS11) { p.KeyID = "0g" }), `pkcs11.keyID "0g" is not hex`},
		{with(func(p *PKCS11) { p.MaxSessions = 1 }), "pkcs11.maxSessions 1"},
		{with(func(p *PKCS11) { p.MaxSessions = -3 }), "pkcs11.maxSessions -3"},
	}
	for _, tc := range bad {
		err := tc.spec.Validate()
		if err == nil {
			t.Errorf("%q: accepted", tc.want)
			continue
		}
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %q, want it to say %q", err, tc.want)
		}
		var hexErr hex.InvalidByteError
		if strings.Contains(tc.want, "is not hex") && !errors.As(err, &hexErr) {
			t.Errorf("%q does not wrap the hex error", err)
		}
		if _, _, oerr := Open(tc.spec, nil); oerr == nil || oerr.Error() != err.Error() {
			t.Errorf("Open does not validate first: %v", oerr)
		}
	}
}

func TestPKCS11StringHidesPIN(t *testing.T) {
	p := PKCS11{Module: "/m.so", TokenLabel: "t", PIN: "s3cr3t-PIN", KeyLabel: "k"}
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v", &p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprint(Spec{PKCS11: &p})} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("%s shows the PIN", s)
		}
	}
	if s := p.String(); !strings.Contains(s, `tokenLabel: "t"`) || !strings.Contains(s, "pin: <redacted>") {
		t.Errorf("String() = %s", s)
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "pki")})
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "sign.pem"), filepath.Join(dir, "sign.key")
	cert, _, err := ca.IssueToFiles(pkiutil.IssueRequest{Profile: "sign", Member: testMember}, certPath, keyPath, false)
	if err != nil {
		t.Fatal(err)
	}

	key, c, err := Open(Spec{File: keyPath}, cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !pkiutil.KeyMatches(cert, key) {
		t.Fatal("the file's key is not the certificate's")
	}
	d := sha512.Sum512([]byte("m"))
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA512) // a file key outlives its no-op Close
	if err != nil || !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("sign: %v", err)
	}

	// SEC 1 ("EC PRIVATE KEY") works too.
	sec1, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1Path := filepath.Join(dir, "sec1.key")
	if err := os.WriteFile(sec1Path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(Spec{File: sec1Path}, cert); err != nil {
		t.Errorf("SEC 1 key: %v", err)
	}

	// Another key: refused with both fingerprints.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, err := ca.Issue(pkiutil.IssueRequest{Profile: "sign", Member: testMember, PublicKey: otherKey.Public()})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Open(Spec{File: keyPath}, other)
	if !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), "key file "+keyPath) || strings.Count(err.Error(), "SHA-256:") != 2 {
		t.Errorf("mismatch: %v", err)
	}
	if _, _, err := Open(Spec{File: filepath.Join(dir, "missing.key")}, nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
