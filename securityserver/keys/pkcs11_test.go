//go:build !nopkcs11

package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver/signature"
)

func TestPKCS11ECDSA(t *testing.T) {
	h := newHSM(t)
	cert := h.certify(t, h.generateECDSA(t, testKeyLabel, []byte{1}))
	pinFile := filepath.Join(h.dir, "pin")
	if err := os.WriteFile(pinFile, []byte(testPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{PKCS11: &PKCS11{Module: h.module, TokenLabel: testToken, PINFile: pinFile, KeyLabel: testKeyLabel}}
	key, _ := mustOpen(t, spec, cert)

	if !key.Public().(*ecdsa.PublicKey).Equal(cert.PublicKey) {
		t.Fatal("Public() is not the certificate's key")
	}
	d := sha512.Sum512([]byte("<message/>"))
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA512)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), d[:], sig) {
		t.Fatalf("the token's signature (%x) does not verify with the certificate", sig)
	}

	t.Run("concurrent", func(t *testing.T) {
		const goroutines, total = 16, 200
		var wg sync.WaitGroup
		var bad, done atomic.Int64
		for g := range goroutines {
			wg.Go(func() {
				for i := g; i < total; i += goroutines {
					d := sha512.Sum512(fmt.Appendf(nil, "message %d", i))
					sig, err := key.Sign(rand.Reader, d[:], crypto.SHA512)
					if err != nil {
						t.Errorf("sign %d: %v", i, err)
						bad.Add(1)
						continue
					}
					if !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), d[:], sig) {
						t.Errorf("signature %d does not verify", i)
						bad.Add(1)
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		if done.Load() != total || bad.Load() != 0 {
			t.Fatalf("%d of %d signatures done, %d bad", done.Load(), total, bad.Load())
		}
	})

	// The token returns DER, which the signature package turns into raw
	// r||s with each half left-padded: sign X-Road documents until a
	// signature with a short r or s (1 in ~128) has gone through and
	// verified.
	t.Run("signature package", func(t *testing.T) {
		spy := &derSpy{Signer: key}
		signer := &signature.Signer{Key: spy, Cert: cert, OCSP: minimalOCSP}
		const goroutines, atLeast, atMost = 16, 200, 5000
		var n atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for {
					i := n.Add(1)
					if i > atMost || i > atLeast && spy.short.Load() > 0 {
						return
					}
					msg := fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?><m>%d Daxili İşlər Nazirliyi</m>`, i)
					doc, err := signer.Sign(signature.Part{URI: "/message.xml", Data: msg, MimeType: "text/xml"}, time.Now())
					if err != nil {
						t.Errorf("Sign %d: %v", i, err)
						return
					}
					v, err := signature.Verify(doc, signature.Part{URI: "/message.xml", Data: msg, MimeType: "text/xml"})
					if err != nil {
						t.Errorf("Verify %d: %v", i, err)
						return
					}
					if !v.Cert.Equal(cert) {
						t.Errorf("Verify %d: signed by %s", i, v.Cert.Subject)
						return
					}
				}
			})
		}
		wg.Wait()
		t.Logf("%d documents signed on the token and verified; %d had an r or s shorter than 32 bytes",
			spy.signed.Load(), spy.short.Load())
		if spy.short.Load() == 0 {
			t.Fatalf("no DER signature with a short r or s in %d: the padding path was not exercised", spy.signed.Load())
		}
	})
}

// derSpy counts the DER signatures whose r or s is shorter than 32 bytes
// (those the raw r||s encoding must left-pad).
type derSpy struct {
	crypto.Signer
	signed, short atomic.Int64
}

func (s *derSpy) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := s.Signer.Sign(r, digest, opts)
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("the token's ECDSA signature is not DER: %x", sig)
	}
	s.signed.Add(1)
	if rs.R.BitLen() <= 248 || rs.S.BitLen() <= 248 {
		s.short.Add(1)
	}
	return sig, nil
}

func TestPKCS11RSA(t *testing.T) {
	h := newHSM(t)
	const label = "AZ-GOV-DIN-sign-rsa"
	cert := h.certify(t, h.generateRSA(t, label, []byte{2}, 2048))
	key, _ := mustOpen(t, h.spec(label), cert)
	pub := cert.PublicKey.(*rsa.PublicKey)
	if pub.N.BitLen() != 2048 {
		t.Fatalf("RSA-%d", pub.N.BitLen())
	}

	d := sha512.Sum512([]byte("<message/>"))
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA512)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA512, d[:], sig); err != nil {
		t.Fatalf("PKCS #1 v1.5 SHA-512: %v", err)
	}

	// PSS as TLS 1.3 asks for it, and with PSSSaltLengthAuto (mapped to
	// the hash length, which crypto11 supports).
	d256 := sha256.Sum256([]byte("handshake"))
	for _, salt := range []int{rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto} {
		sig, err := key.Sign(rand.Reader, d256[:], &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256})
		if err != nil {
			t.Fatalf("PSS salt %d: %v", salt, err)
		}
		if err := rsa.VerifyPSS(pub, crypto.SHA256, d256[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Fatalf("PSS salt %d: %v", salt, err)
		}
	}

	// Refused rather than signed wrongly: a hash crypto11 has no
	// DigestInfo for, and a digest of the wrong size.
	if _, err := key.Sign(rand.Reader, d256[:], crypto.SHA3_256); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("SHA3-256: %v", err)
	}
	if _, err := key.Sign(rand.Reader, d256[:], crypto.SHA512); err == nil || !strings.Contains(err.Error(), "digest of 32 bytes") {
		t.Errorf("short digest: %v", err)
	}

	msg := []byte(`<?xml version="1.0" encoding="UTF-8"?><m>RSA</m>`)
	part := signature.Part{URI: "/message.xml", Data: msg, MimeType: "text/xml"}
	doc, err := (&signature.Signer{Key: key, Cert: cert, OCSP: minimalOCSP}).Sign(part, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "rsa-sha512") {
		t.Error("the signature document does not name rsa-sha512")
	}
	if _, err := signature.Verify(doc, part); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestPKCS11Errors(t *testing.T) {
	h := newHSM(t)
	din := h.certify(t, h.generateECDSA(t, testKeyLabel, []byte{1}))
	other := h.certify(t, h.generateECDSA(t, "other", []byte{2}))

	notALibrary := filepath.Join(h.dir, "libnot-pkcs11.so")
	if err := os.WriteFile(notALibrary, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(h.dir, "din.key")
	if _, _, err := h.ca.IssueToFiles(pkiutil.IssueRequest{Profile: "sign", Member: testMember}, filepath.Join(h.dir, "din.pem"), keyFile, false); err != nil {
		t.Fatal(err)
	}

	with := func(f func(p *PKCS11)) Spec {
		s := h.spec(testKeyLabel)
		f(s.PKCS11)
		return s
	}
	tests := []struct {
		name string
		spec Spec
		cert *x509.Certificate
		is   error
		want []string // in the message
	}{
		{"wrong PIN", with(func(p *PKCS11) { p.PIN = "0000" }), din, ErrWrongPIN,
			[]string{`token "sluz-test"`, "refused the PIN", "CKR_PIN_INCORRECT"}},
		{"unknown token label", with(func(p *PKCS11) { p.TokenLabel = "no-such-token" }), din, ErrTokenNotFound,
			[]string{`no token labelled "no-such-token"`, `tokens present: "sluz-test"`}},
		{"unknown key label", with(func(p *PKCS11) { p.KeyLabel = "AZ-GOV-EMDK-sign" }), din, ErrKeyNotFound,
			[]string{`label "AZ-GOV-EMDK-sign"`, `it holds: label "AZ-GOV-DIN-sign" id 01, label "other" id 02`}},
		{"unknown key id", with(func(p *PKCS11) { p.KeyLabel, p.KeyID = "", "ff" }), din, ErrKeyNotFound,
			[]string{"id ff"}},
		{"label and id of different keys", with(func(p *PKCS11) { p.KeyID = "02" }), din, ErrKeyNotFound,
			[]string{`label "AZ-GOV-DIN-sign" and id 02`}},
		{"module does not exist", with(func(p *PKCS11) { p.Module = "/nonexistent/lib/libpkcs11.so" }), din, ErrModuleNotFound,
			[]string{"/nonexistent/lib/libpkcs11.so does not exist"}},
		{"module is not a library", with(func(p *PKCS11) { p.Module = notALibrary }), din, ErrModuleNotFound,
			[]string{notALibrary, "cannot be loaded"}},
		{"key does not match the certificate", h.spec("other"), din, ErrKeyMismatch,
			[]string{`label "other" on token "sluz-test"`, "is not the key of certificate", "CN=DIN"}},
		{"both file and pkcs11", Spec{File: keyFile, PKCS11: h.spec(testKeyLabel).PKCS11}, din, ErrInvalidSpec,
			[]string{"both file", "and pkcs11 are set"}},
		{"PIN file readable by all", with(func(p *PKCS11) { p.PIN, p.PINFile = "", writePIN(t, h.dir, 0o644) }), din, nil,
			[]string{"pkcs11.pinFile", "accessible to others", "0644"}},
		{"PIN file missing", with(func(p *PKCS11) { p.PIN, p.PINFile = "", filepath.Join(h.dir, "nopin") }), din, os.ErrNotExist,
			[]string{"pkcs11.pinFile", "nopin"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, c, err := Open(tc.spec, tc.cert)
			if err == nil {
				c.Close()
				t.Fatalf("Open succeeded (key %T)", key)
			}
			t.Logf("error: %v", err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error does not wrap %v", tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
			if strings.Contains(err.Error(), testPIN) || strings.Contains(err.Error(), "0000") {
				t.Error("the error shows the PIN")
			}
			if n := openTokens(); n != 0 {
				t.Errorf("a failed Open left %d tokens open", n)
			}
		})
	}

	// A refused PIN keeps the token's return value for errors.Is.
	t.Run("wrong PIN keeps the return value", func(t *testing.T) {
		_, c, err := Open(with(func(p *PKCS11) { p.PIN = "0000" }), din)
		if err == nil {
			c.Close()
			t.Fatal("a wrong PIN opened the token")
		}
		if !errors.Is(err, ErrWrongPIN) || !errors.Is(err, pkcs11.Error(pkcs11.CKR_PIN_INCORRECT)) {
			t.Errorf("error %v does not wrap both ErrWrongPIN and CKR_PIN_INCORRECT", err)
		}
	})

	// The PIN is checked even when the token is already logged in by
	// another key of this process (PKCS#11 would not check it).
	t.Run("wrong PIN while the token is open", func(t *testing.T) {
		mustOpen(t, h.spec(testKeyLabel), din)
		_, c, err := Open(with(func(p *PKCS11) { p.PIN, p.KeyLabel = "0000", "other" }), other)
		if err == nil {
			c.Close()
			t.Fatal("a wrong PIN opened the token")
		}
		if !errors.Is(err, ErrWrongPIN) || !strings.Contains(err.Error(), "already open in this process with another PIN") {
			t.Errorf("error: %v", err)
		}
		_, c, err = Open(with(func(p *PKCS11) { p.KeyLabel, p.MaxSessions = "other", 4 }), other)
		if err == nil {
			c.Close()
			t.Fatal("another pool size was accepted for an open token")
		}
		if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), "pkcs11.maxSessions 4") {
			t.Errorf("error: %v", err)
		}
	})
}

func writePIN(t *testing.T, dir string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("pin-%04o", mode))
	if err := os.WriteFile(p, []byte(testPIN+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask
		t.Fatal(err)
	}
	return p
}

// Keys of one token share one context, whichever path names the module;
// each closer releases its own key only.
func TestPKCS11SharedContext(t *testing.T) {
	h := newHSM(t)
	dinCert := h.certify(t, h.generateECDSA(t, testKeyLabel, []byte{1}))
	emdkPub := h.generateECDSA(t, "AZ-GOV-EMDK-sign", []byte{2})

	link := filepath.Join(h.dir, "libsofthsm2-link.so")
	if err := os.Symlink(h.module, link); err != nil {
		t.Fatal(err)
	}
	viaLink := h.spec(testKeyLabel)
	viaLink.PKCS11.Module = link
	din, dinClose, err := Open(viaLink, dinCert)
	if err != nil {
		t.Fatal(err)
	}
	emdk, emdkClose, err := Open(h.spec("AZ-GOV-EMDK-sign"), nil)
	if err != nil {
		dinClose.Close()
		t.Fatal(err)
	}
	if n := openTokens(); n != 1 {
		t.Errorf("%d contexts for one token", n)
	}
	if !emdk.Public().(*ecdsa.PublicKey).Equal(emdkPub) {
		t.Error("EMDK's key is not the one generated")
	}

	d := sha512.Sum512([]byte("x"))
	if err := dinClose.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dinClose.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := din.Sign(rand.Reader, d[:], crypto.SHA512); !errors.Is(err, ErrClosed) {
		t.Errorf("signing with a closed key: %v", err)
	}
	if sig, err := emdk.Sign(rand.Reader, d[:], crypto.SHA512); err != nil || !ecdsa.VerifyASN1(emdkPub.(*ecdsa.PublicKey), d[:], sig) {
		t.Errorf("the other key of the token stopped working: %v", err)
	}
	if n := openTokens(); n != 1 {
		t.Errorf("%d tokens open while one key is", n)
	}
	if err := emdkClose.Close(); err != nil {
		t.Fatal(err)
	}
	if n := openTokens(); n != 0 {
		t.Errorf("%d tokens open after the last key closed", n)
	}
	if _, err := emdk.Sign(rand.Reader, d[:], crypto.SHA512); !errors.Is(err, ErrClosed) {
		t.Errorf("signing after the token closed: %v", err)
	}

	// Open again after the last close (the library was finalised).
	key, _ := mustOpen(t, h.spec(testKeyLabel), dinCert)
	if _, err := key.Sign(rand.Reader, d[:], crypto.SHA512); err != nil {
		t.Fatal(err)
	}
}

// A pool of one signing session: callers queue for it, none fails.
func TestPKCS11SmallPool(t *testing.T) {
	h := newHSM(t)
	cert := h.certify(t, h.generateECDSA(t, testKeyLabel, []byte{1}))
	s := h.spec(testKeyLabel)
	s.PKCS11.MaxSessions = 2
	key, _ := mustOpen(t, s, cert)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				d := sha512.Sum512(fmt.Appendf(nil, "%d/%d", g, i))
				sig, err := key.Sign(rand.Reader, d[:], crypto.SHA512)
				if err != nil || !ecdsa.VerifyASN1(cert.PublicKey.(*ecdsa.PublicKey), d[:], sig) {
					t.Errorf("sign %d/%d: %v", g, i, err)
				}
			}
		})
	}
	wg.Wait()
}

// Two key pairs with one label: the certificate picks, or the key ID.
func TestPKCS11SameLabel(t *testing.T) {
	h := newHSM(t)
	h.generateECDSA(t, testKeyLabel, []byte{1})
	second := h.certify(t, h.generateECDSA(t, testKeyLabel, []byte{2}))

	_, _, err := Open(h.spec(testKeyLabel), nil)
	if !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), "holds 2 key pairs") {
		t.Errorf("ambiguous label without a certificate: %v", err)
	}
	key, _ := mustOpen(t, h.spec(testKeyLabel), second)
	if !key.Public().(*ecdsa.PublicKey).Equal(second.PublicKey) {
		t.Error("the certificate did not pick its key")
	}
	byID := h.spec(testKeyLabel)
	byID.PKCS11.KeyID = "02"
	key, _ = mustOpen(t, byID, nil)
	if !key.Public().(*ecdsa.PublicKey).Equal(second.PublicKey) {
		t.Error("keyID did not pick its key")
	}
}

// TestGeneratePKCS11: a key generated on the token signs, is found again
// by its label after the token is closed (it lives on the token, not in
// the process), and a second generation with that label is refused.
func TestGeneratePKCS11(t *testing.T) {
	h := newHSM(t)
	for _, tc := range []struct {
		label string
		rsa   bool
	}{{"AZ-GOV-DGK-sign", false}, {"AZ-GOV-DGK-sign-rsa", true}} {
		spec := h.spec(tc.label)
		key, c, err := GeneratePKCS11(spec.PKCS11, tc.rsa)
		if err != nil {
			t.Fatal(err)
		}
		if _, isRSA := key.Public().(*rsa.PublicKey); isRSA != tc.rsa {
			t.Fatalf("%s: generated a %T", tc.label, key.Public())
		}
		cert := h.certify(t, key.Public())
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		again, c2, err := Open(spec, cert) // found on the token by label, matching the certificate
		if err != nil {
			t.Fatalf("%s: the generated key is not on the token: %v", tc.label, err)
		}
		digest := sha256.Sum256([]byte("Dövlət Gömrük Komitəsi"))
		var opts crypto.SignerOpts = crypto.SHA256
		sig, err := again.Sign(nil, digest[:], opts)
		if err != nil {
			t.Fatal(err)
		}
		switch pub := cert.PublicKey.(type) {
		case *ecdsa.PublicKey:
			if !ecdsa.VerifyASN1(pub, digest[:], sig) {
				t.Fatalf("%s: the token's signature does not verify", tc.label)
			}
		case *rsa.PublicKey:
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
				t.Fatalf("%s: %v", tc.label, err)
			}
		}
		c2.Close()
		if _, _, err := GeneratePKCS11(spec.PKCS11, tc.rsa); !errors.Is(err, ErrKeyExists) {
			t.Fatalf("%s: generating again: %v, want ErrKeyExists", tc.label, err)
		}
	}
	noLabel := h.spec("")
	if _, _, err := GeneratePKCS11(noLabel.PKCS11, false); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("generation without a label: %v", err)
	}
}
