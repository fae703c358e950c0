//go:build !nopkcs11

package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// PKCS11Supported reports whether this build opens PKCS#11 keys: it does
// unless built with -tags nopkcs11 (the static, cgo-free build).
const PKCS11Supported = true

// tokenID names a token within the process: the module's resolved path
// and the token's label.
type tokenID struct{ module, label string }

// token is one shared crypto11 context, counted by the keys opened on it.
type token struct {
	id          tokenID
	ctx         *crypto11.Context
	pin         string // compared with the PIN of later Opens (crypto11 keeps it too)
	maxSessions int
	refs        int
}

// tokens are the open tokens of the process. Configure and Close run with
// the lock held, so a module is never initialised twice or finalised while
// another token of it is being opened.
var tokens = struct {
	sync.Mutex
	m map[tokenID]*token
}{m: map[tokenID]*token{}}

func openPKCS11(p *PKCS11, cert *x509.Certificate) (crypto.Signer, io.Closer, error) {
	pin, err := p.readPIN()
	if err != nil {
		return nil, nil, err
	}
	module, err := resolveModule(p.Module)
	if err != nil {
		return nil, nil, err
	}
	id, _ := p.keyID() // checked by Validate
	maxSessions := p.MaxSessions
	if maxSessions == 0 {
		maxSessions = DefaultMaxSessions
	}
	tok, err := acquire(tokenID{module, p.TokenLabel}, p.Module, pin, maxSessions)
	if err != nil {
		return nil, nil, err
	}
	key, err := tok.findKey(p, id, cert)
	if err != nil {
		tok.release()
		return nil, nil, err
	}
	s, c := newHSMSigner(key, p, tok)
	return s, c, nil
}

func newHSMSigner(key crypto11.Signer, p *PKCS11, tok *token) (*hsmSigner, *closer) {
	s := &hsmSigner{key: key, pub: key.Public(), desc: fmt.Sprintf("%s on token %q", keyName(p), p.TokenLabel)}
	if pub, ok := s.pub.(*ecdsa.PublicKey); ok {
		if bits := pub.Curve.Params().N.BitLen(); bits%8 == 0 {
			s.ecdsaMax = bits / 8
		}
	}
	return s, &closer{s: s, tok: tok}
}

// GeneratePKCS11 makes a new key pair on the token p names, with p's key
// label (required) and key ID (a random 8 bytes when p gives none), and
// opens it: ECDSA P-256, or RSA-2048 when rsa is set. The private key is
// generated on the token and never leaves it. A key pair already there
// with that label or ID is refused (ErrKeyExists): open it instead.
func GeneratePKCS11(p *PKCS11, rsa bool) (crypto.Signer, io.Closer, error) {
	if err := (Spec{PKCS11: p}).Validate(); err != nil {
		return nil, nil, err
	}
	if p.KeyLabel == "" {
		return nil, nil, fmt.Errorf("%w: a key generated on token %q needs pkcs11.keyLabel, to find it again", ErrInvalidSpec, p.TokenLabel)
	}
	pin, err := p.readPIN()
	if err != nil {
		return nil, nil, err
	}
	module, err := resolveModule(p.Module)
	if err != nil {
		return nil, nil, err
	}
	id, _ := p.keyID() // checked by Validate
	if len(id) == 0 {
		id = make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return nil, nil, err
		}
	}
	maxSessions := p.MaxSessions
	if maxSessions == 0 {
		maxSessions = DefaultMaxSessions
	}
	tok, err := acquire(tokenID{module, p.TokenLabel}, p.Module, pin, maxSessions)
	if err != nil {
		return nil, nil, err
	}
	for _, probe := range []struct{ id, label []byte }{{nil, []byte(p.KeyLabel)}, {id, nil}} {
		found, err := tok.ctx.FindKeyPairs(probe.id, probe.label)
		if err != nil {
			tok.release()
			return nil, nil, fmt.Errorf("searching token %q for %s: %w", p.TokenLabel, keyName(p), err)
		}
		if len(found) > 0 {
			tok.release()
			return nil, nil, fmt.Errorf("%w: token %q already holds a key pair with label %q or ID %x: open it, or choose another label", ErrKeyExists, p.TokenLabel, p.KeyLabel, id)
		}
	}
	var key crypto11.Signer
	if rsa {
		key, err = tok.ctx.GenerateRSAKeyPairWithLabel(id, []byte(p.KeyLabel), 2048)
	} else {
		key, err = tok.ctx.GenerateECDSAKeyPairWithLabel(id, []byte(p.KeyLabel), elliptic.P256())
	}
	if err != nil {
		tok.release()
		return nil, nil, fmt.Errorf("generating a key pair on token %q: %w", p.TokenLabel, err)
	}
	s, c := newHSMSigner(key, p, tok)
	return s, c, nil
}

// resolveModule returns the path crypto11 loads: absolute, symlinks
// resolved (so two paths to one library are one module). A bare file name
// is left to the dynamic loader's search.
func resolveModule(m string) (string, error) {
	if !strings.ContainsRune(m, filepath.Separator) {
		return m, nil
	}
	abs, err := filepath.Abs(m)
	if err != nil {
		return "", fmt.Errorf("pkcs11.module %s: %w", m, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: pkcs11.module %s does not exist: give the path of the HSM vendor's PKCS#11 library (SoftHSM: apt-get install softhsm2, /usr/lib/softhsm/libsofthsm2.so)", ErrModuleNotFound, m)
	}
	if err != nil {
		return "", fmt.Errorf("%w: pkcs11.module %s: %w", ErrModuleNotFound, m, err)
	}
	if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%w: pkcs11.module %s is not a file", ErrModuleNotFound, m)
	}
	return real, nil
}

// acquire returns the shared context of the token, opening and logging in
// if this is its first key.
func acquire(id tokenID, configured, pin string, maxSessions int) (*token, error) {
	tokens.Lock()
	defer tokens.Unlock()
	if t := tokens.m[id]; t != nil {
		if subtle.ConstantTimeCompare([]byte(pin), []byte(t.pin)) != 1 {
			return nil, fmt.Errorf("%w: %s is already open in this process with another PIN, so this one is wrong: check pkcs11.pin/pinFile", ErrWrongPIN, where(id.label, configured))
		}
		if t.maxSessions != maxSessions {
			return nil, fmt.Errorf("%w: pkcs11.maxSessions %d differs from the %d that token %q was opened with in this process: give every key of a token the same value", ErrInvalidSpec, maxSessions, t.maxSessions, id.label)
		}
		t.refs++
		return t, nil
	}
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:            id.module,
		TokenLabel:      id.label,
		Pin:             pin,
		MaxSessions:     maxSessions,
		PoolWaitTimeout: PoolWait,
	})
	if err != nil {
		return nil, configureError(id, configured, err)
	}
	t := &token{id: id, ctx: ctx, pin: pin, maxSessions: maxSessions, refs: 1}
	tokens.m[id] = t
	return t, nil
}

// release drops one key's reference; the last one closes the context
// (which waits for the signatures under way, logs out and, if no other
// token uses the module, finalises it).
func (t *token) release() error {
	tokens.Lock()
	defer tokens.Unlock()
	t.refs--
	if t.refs > 0 {
		return nil
	}
	delete(tokens.m, t.id)
	if err := t.ctx.Close(); err != nil {
		return fmt.Errorf("closing PKCS#11 token %q: %w", t.id.label, err)
	}
	return nil
}

// configureError explains why crypto11.Configure failed.
func configureError(id tokenID, configured string, err error) error {
	where := where(id.label, configured)
	var rv pkcs11.Error
	if errors.As(err, &rv) {
		switch rv {
		case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
			return fmt.Errorf("%w: %s refused the PIN (%w): check pkcs11.pin/pinFile; repeated failures may lock the PIN", ErrWrongPIN, where, rv)
		case pkcs11.CKR_PIN_LOCKED:
			return fmt.Errorf("%w: the user PIN of %s is locked after too many wrong PINs (%w): the security officer must unlock it", ErrWrongPIN, where, rv)
		case pkcs11.CKR_PIN_EXPIRED:
			return fmt.Errorf("%w: the user PIN of %s has expired (%w): change it first", ErrWrongPIN, where, rv)
		case pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
			return fmt.Errorf("%w: %s has no user PIN yet (%w): initialise the token first", ErrWrongPIN, where, rv)
		case pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED:
			return fmt.Errorf("opening %s: the module is already loaded in this process by other code or under another path (%w)", where, rv)
		}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "could not find PKCS#11 token"):
		return fmt.Errorf("%w: no token labelled %q in module %s%s", ErrTokenNotFound, id.label, configured, listTokens(id.module))
	case strings.Contains(msg, "failed to open module"):
		return fmt.Errorf("%w: pkcs11.module %s cannot be loaded: not a PKCS#11 library for this system, or a library it needs is missing (%w)", ErrModuleNotFound, configured, err)
	}
	return fmt.Errorf("opening PKCS#11 %s: %w", where, err)
}

// listTokens returns " (tokens present: "a", "b")" for an error message,
// or "" if they cannot be listed. It runs with tokens locked: if other
// tokens of the module are open, the library is initialised already and is
// only queried; otherwise it is initialised and finalised here.
func listTokens(module string) string {
	ctx := pkcs11.New(module)
	if ctx == nil {
		return ""
	}
	defer ctx.Destroy()
	switch err := ctx.Initialize(); {
	case err == nil:
		defer ctx.Finalize()
	case errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)):
	default:
		return ""
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return ""
	}
	var labels []string
	for _, slot := range slots {
		info, err := ctx.GetTokenInfo(slot)
		if err != nil || info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 || info.Label == "" {
			continue
		}
		labels = append(labels, fmt.Sprintf("%q", info.Label))
	}
	if len(labels) == 0 {
		return " (it shows no initialised token)"
	}
	return " (tokens present: " + strings.Join(labels, ", ") + ")"
}

// findKey finds the key pair p names; with several, cert picks.
func (t *token) findKey(p *PKCS11, id []byte, cert *x509.Certificate) (crypto11.Signer, error) {
	var label []byte
	if p.KeyLabel != "" {
		label = []byte(p.KeyLabel)
	}
	name := keyName(p)
	found, err := t.ctx.FindKeyPairs(id, label)
	if err != nil {
		return nil, fmt.Errorf("searching token %q for %s: %w", p.TokenLabel, name, err)
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: token %q holds no key pair with %s; %s (a private key without its public key object is not a key pair)",
			ErrKeyNotFound, p.TokenLabel, name, t.inventory())
	case 1:
		if err := checkKey(found[0].Public(), cert, fmt.Sprintf("%s on token %q", name, p.TokenLabel)); err != nil {
			return nil, err
		}
		return found[0], nil
	}
	if cert == nil {
		return nil, fmt.Errorf("%w: token %q holds %d key pairs with %s: name one by pkcs11.keyID too, or give its certificate", ErrKeyNotFound, p.TokenLabel, len(found), name)
	}
	var match []crypto11.Signer
	for _, k := range found {
		if checkKey(k.Public(), cert, "") == nil {
			match = append(match, k)
		}
	}
	if len(match) == 0 {
		return nil, fmt.Errorf("%w: none of the %d key pairs with %s on token %q is the key of certificate %q serial %s (public key %s)",
			ErrKeyMismatch, len(found), name, p.TokenLabel, cert.Subject, cert.SerialNumber, fingerprint(cert.PublicKey))
	}
	// More than one match means copies of one key: any of them signs alike.
	return match[0], nil
}

// inventory says which key pairs the token holds, for an error message.
func (t *token) inventory() string {
	all, err := t.ctx.FindAllKeyPairs()
	if err != nil {
		return "its key pairs cannot be listed: " + err.Error()
	}
	if len(all) == 0 {
		return "it holds none"
	}
	const max = 10
	var names []string
	for i, k := range all {
		if i == max {
			names = append(names, fmt.Sprintf("and %d more", len(all)-max))
			break
		}
		attrs, err := t.ctx.GetAttributes(k, []crypto11.AttributeType{crypto11.CkaLabel, crypto11.CkaId})
		if err != nil {
			continue
		}
		n := "no label"
		if a := attrs[crypto11.CkaLabel]; a != nil && len(a.Value) > 0 {
			n = fmt.Sprintf("label %q", a.Value)
		}
		if a := attrs[crypto11.CkaId]; a != nil && len(a.Value) > 0 {
			n += " id " + hex.EncodeToString(a.Value)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	return "it holds: " + strings.Join(names, ", ")
}

// keyName says how p names its key, for messages.
func keyName(p *PKCS11) string {
	switch {
	case p.KeyLabel != "" && p.KeyID != "":
		return fmt.Sprintf("label %q and id %s", p.KeyLabel, p.KeyID)
	case p.KeyLabel != "":
		return fmt.Sprintf("label %q", p.KeyLabel)
	}
	return "id " + p.KeyID
}

// closer releases one opened key.
type closer struct {
	once sync.Once
	s    *hsmSigner
	tok  *token
	err  error
}

func (c *closer) Close() error {
	c.once.Do(func() {
		c.s.closed.Store(true)
		c.err = c.tok.release()
	})
	return c.err
}

// hsmSigner is a key on a token. crypto11's signer is safe for concurrent
// use (each Sign takes a session of the pool); this adds the closed check,
// digest checks and errors that name the key.
type hsmSigner struct {
	key      crypto11.Signer
	pub      crypto.PublicKey
	desc     string
	ecdsaMax int // for ECDSA on a curve of whole bytes: the order's size, longer digests are cut to it
	closed   atomic.Bool
}

func (s *hsmSigner) Public() crypto.PublicKey { return s.pub }

// rsaHashes are the hashes crypto11 writes a PKCS #1 v1.5 DigestInfo for
// (for any other it would sign the bare digest).
var rsaHashes = map[crypto.Hash]bool{
	crypto.SHA1: true, crypto.SHA224: true, crypto.SHA256: true, crypto.SHA384: true, crypto.SHA512: true,
}

// Sign signs digest on the token. ECDSA signatures are ASN.1 DER.
func (s *hsmSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: %s", ErrClosed, s.desc)
	}
	if opts == nil {
		return nil, fmt.Errorf("signing with %s: no crypto.SignerOpts given", s.desc)
	}
	switch s.pub.(type) {
	case *ecdsa.PublicKey:
		if s.ecdsaMax > 0 && len(digest) > s.ecdsaMax {
			digest = digest[:s.ecdsaMax]
		}
	case *rsa.PublicKey:
		h := opts.HashFunc()
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			if pss.SaltLength == rsa.PSSSaltLengthAuto {
				c := *pss
				c.SaltLength = rsa.PSSSaltLengthEqualsHash
				opts = &c
			}
		} else if h != 0 && !rsaHashes[h] {
			return nil, fmt.Errorf("signing with %s: hash %v is not supported for RSA PKCS #1 v1.5 on PKCS#11", s.desc, h)
		}
		if h != 0 && len(digest) != h.Size() {
			return nil, fmt.Errorf("signing with %s: digest of %d bytes for %v, which gives %d", s.desc, len(digest), h, h.Size())
		}
	}
	sig, err := s.key.Sign(rand, digest, opts)
	if err != nil {
		if s.closed.Load() {
			return nil, fmt.Errorf("%w: %s", ErrClosed, s.desc)
		}
		return nil, fmt.Errorf("PKCS#11 signing with %s: %w", s.desc, err)
	}
	return sig, nil
}

// openTokens reports how many tokens are open (tests check for leaks).
func openTokens() int {
	tokens.Lock()
	defer tokens.Unlock()
	return len(tokens.m)
}
