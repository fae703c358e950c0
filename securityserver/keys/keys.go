package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sluz/sluz/pkiutil"
)

// Spec says where a private key lives: a PEM file, or a PKCS#11 token.
// Exactly one of File and PKCS11 is set.
type Spec struct {
	// File is a PEM private key (PKCS#8, PKCS#1 or SEC 1, unencrypted).
	File string `yaml:"file,omitempty"`
	// PKCS11 is a key pair on a PKCS#11 token, instead of File.
	PKCS11 *PKCS11 `yaml:"pkcs11,omitempty"`
}

// PKCS11 names a key pair on a PKCS#11 token. The YAML names are the ones
// Validate's errors use.
type PKCS11 struct {
	// Module is the path of the token vendor's PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so (Debian's softhsm2). A bare file
	// name is looked up by the dynamic loader.
	Module string `yaml:"module"`
	// TokenLabel is the token's label (CKA_LABEL of the token, as
	// `softhsm2-util --show-slots` or `pkcs11-tool --list-slots` show it).
	TokenLabel string `yaml:"tokenLabel"`
	// PIN is the user PIN. Prefer PINFile; set exactly one of them.
	PIN string `yaml:"pin,omitempty"`
	// PINFile is a file holding the user PIN (one trailing newline is
	// ignored). It must not be readable by others.
	PINFile string `yaml:"pinFile,omitempty"`
	// KeyLabel is the CKA_LABEL of the key pair. Set it, KeyID or both
	// (then a key must match both).
	KeyLabel string `yaml:"keyLabel,omitempty"`
	// KeyID is the CKA_ID of the key pair, in hex (e.g. "01a2").
	KeyID string `yaml:"keyID,omitempty"`
	// MaxSessions bounds the sessions opened on the token, one of which
	// only keeps the login alive: at most MaxSessions-1 signatures run at
	// once. Zero means DefaultMaxSessions; otherwise at least 2.
	MaxSessions int `yaml:"maxSessions,omitempty"`
}

// DefaultMaxSessions is the session pool size of a token when
// PKCS11.MaxSessions is zero: 15 concurrent signatures, plenty for SoftHSM
// (CPU-bound) and below the session limit of common network HSMs.
const DefaultMaxSessions = 16

// PoolWait is how long a signature waits for a free session of the token's
// pool before it fails (when MaxSessions-1 signatures are already under way,
// e.g. because the HSM hangs).
const PoolWait = 10 * time.Second

// Errors, for errors.Is. Open's errors wrap one of them with the detail.
var (
	// ErrInvalidSpec: Validate refused the spec.
	ErrInvalidSpec = errors.New("invalid key spec")
	// ErrModuleNotFound: the PKCS#11 library does not exist or cannot be
	// loaded.
	ErrModuleNotFound = errors.New("PKCS#11 module not found")
	// ErrTokenNotFound: no token with that label is present.
	ErrTokenNotFound = errors.New("PKCS#11 token not found")
	// ErrWrongPIN: the token refused the PIN (or, for a token already open
	// in this process, the PIN differs from the one it was opened with).
	ErrWrongPIN = errors.New("wrong PKCS#11 PIN")
	// ErrKeyNotFound: no key pair with that label and/or ID is on the
	// token, or it is ambiguous.
	ErrKeyNotFound = errors.New("key not found")
	// ErrKeyExists: GeneratePKCS11 found a key pair with that label or ID
	// on the token already.
	ErrKeyExists = errors.New("key already exists")
	// ErrKeyMismatch: the key is not the private half of the certificate's
	// public key.
	ErrKeyMismatch = errors.New("key does not match certificate")
	// ErrClosed: Sign was called after the key's closer ran.
	ErrClosed = errors.New("key is closed")
	// ErrPKCS11Unsupported: the spec names a PKCS#11 key, but this binary
	// was built without PKCS#11 support (-tags nopkcs11; see
	// PKCS11Supported).
	ErrPKCS11Unsupported = errors.New("PKCS#11 is not supported by this build")
)

// where names the token for messages, with the module as configured.
func where(label, module string) string {
	return fmt.Sprintf("token %q (module %s)", label, module)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpec}, args...)...)
}

// Validate checks that s names exactly one place, with every field that
// place needs. It reads no file.
func (s Spec) Validate() error {
	switch {
	case s.File != "" && s.PKCS11 != nil:
		return invalid("both file (%s) and pkcs11 are set: a key lives in one place, set one of them", s.File)
	case s.File == "" && s.PKCS11 == nil:
		return invalid("neither file nor pkcs11 is set: name a PEM key file or a PKCS#11 key")
	case s.PKCS11 != nil:
		return s.PKCS11.validate()
	}
	return nil
}

func (p *PKCS11) validate() error {
	if p.Module == "" {
		return invalid("pkcs11.module is empty: give the path of the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so")
	}
	if p.TokenLabel == "" {
		return invalid("pkcs11.tokenLabel is empty: give the token's label (softhsm2-util --show-slots lists them)")
	}
	switch {
	case p.PIN != "" && p.PINFile != "":
		return invalid("both pkcs11.pin and pkcs11.pinFile are set: set one (pinFile keeps the PIN out of the configuration)")
	case p.PIN == "" && p.PINFile == "":
		return invalid("pkcs11.pinFile is empty (and so is pkcs11.pin): give a file holding the token's user PIN")
	}
	if p.KeyLabel == "" && p.KeyID == "" {
		return invalid("pkcs11.keyLabel is empty (and so is pkcs11.keyID): name the key pair by its CKA_LABEL or CKA_ID")
	}
	if p.KeyID != "" {
		if _, err := p.keyID(); err != nil {
			return invalid("pkcs11.keyID %q is not hex: %w", p.KeyID, err)
		}
	}
	if p.MaxSessions < 0 || p.MaxSessions == 1 {
		return invalid("pkcs11.maxSessions %d: use 0 for the default (%d) or at least 2 (one session keeps the login alive)", p.MaxSessions, DefaultMaxSessions)
	}
	return nil
}

// keyID decodes KeyID; ":" and spaces between bytes are allowed, as tools
// print them (01:a2, "01 a2").
func (p *PKCS11) keyID() ([]byte, error) {
	if p.KeyID == "" {
		return nil, nil
	}
	s := strings.NewReplacer(":", "", " ", "").Replace(p.KeyID)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	id, err := hex.DecodeString(s)
	if err == nil && len(id) == 0 {
		err = errors.New("no bytes")
	}
	return id, err
}

// String describes p without its PIN.
func (p PKCS11) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pkcs11{module: %s, tokenLabel: %q", p.Module, p.TokenLabel)
	if p.KeyLabel != "" {
		fmt.Fprintf(&b, ", keyLabel: %q", p.KeyLabel)
	}
	if p.KeyID != "" {
		fmt.Fprintf(&b, ", keyID: %s", p.KeyID)
	}
	switch {
	case p.PINFile != "":
		fmt.Fprintf(&b, ", pinFile: %s", p.PINFile)
	case p.PIN != "":
		b.WriteString(", pin: <redacted>")
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, so %#v does not print the PIN either.
func (p PKCS11) GoString() string { return p.String() }

// Open returns a crypto.Signer for the key s names, and a Closer that
// releases it: for PKCS#11 it drops this key's reference to the token's
// shared context (closing the context and logging out with the last one);
// for a file it does nothing. Close may be called more than once.
//
// If cert is not nil, Open fails with ErrKeyMismatch unless the key is the
// private half of cert's public key. Only ECDSA and RSA keys are accepted.
func Open(s Spec, cert *x509.Certificate) (crypto.Signer, io.Closer, error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	if s.PKCS11 != nil {
		return openPKCS11(s.PKCS11, cert)
	}
	key, err := pkiutil.ReadPrivateKey(s.File)
	if err != nil {
		return nil, nil, err
	}
	if err := checkKey(key.Public(), cert, "key file "+s.File); err != nil {
		return nil, nil, err
	}
	return key, nopCloser{}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// checkKey accepts ECDSA and RSA public keys and, with cert, only cert's.
func checkKey(pub crypto.PublicKey, cert *x509.Certificate, what string) error {
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
	default:
		return fmt.Errorf("%s holds a %T key: only ECDSA and RSA keys can sign X-Road messages", what, pub)
	}
	if cert == nil {
		return nil
	}
	if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(cert.PublicKey) {
		return nil
	}
	return fmt.Errorf("%w: %s (public key %s) is not the key of certificate %q serial %s (public key %s)",
		ErrKeyMismatch, what, fingerprint(pub), cert.Subject, cert.SerialNumber, fingerprint(cert.PublicKey))
}

// fingerprint names a public key by its type and the start of the SHA-256
// of its SubjectPublicKeyInfo, enough to tell two keys apart in a message.
func fingerprint(pub crypto.PublicKey) string {
	kind := fmt.Sprintf("%T", pub)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		kind = "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		kind = fmt.Sprintf("RSA-%d", k.N.BitLen())
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return kind
	}
	sum := sha256.Sum256(der)
	return kind + " SHA-256:" + hex.EncodeToString(sum[:8])
}

// readPIN returns the PIN of p, from PINFile if set.
func (p *PKCS11) readPIN() (string, error) {
	if p.PINFile == "" {
		return p.PIN, nil
	}
	f, err := os.Open(p.PINFile)
	if err != nil {
		return "", fmt.Errorf("pkcs11.pinFile: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("pkcs11.pinFile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("pkcs11.pinFile %s is not a regular file", p.PINFile)
	}
	if perm := fi.Mode().Perm(); perm&0o007 != 0 {
		return "", fmt.Errorf("pkcs11.pinFile %s is accessible to others (mode %04o): chmod o-rwx it (0600, or 0640 for a group)", p.PINFile, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("pkcs11.pinFile: %w", err)
	}
	pin := string(data)
	pin = strings.TrimSuffix(pin, "\n")
	pin = strings.TrimSuffix(pin, "\r")
	if pin == "" {
		return "", fmt.Errorf("pkcs11.pinFile %s is empty", p.PINFile)
	}
	if strings.ContainsAny(pin, "\r\n") {
		return "", fmt.Errorf("pkcs11.pinFile %s holds more than one line: put only the PIN in it", p.PINFile)
	}
	return pin, nil
}
