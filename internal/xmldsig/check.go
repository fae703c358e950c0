package xmldsig

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
	"slices"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/c14n"
)

// Canonicalize appends the canonical form of the subtree at apex to dst,
// without skip (and its subtree) if given: inclusive C14N 1.0 with every
// namespace declaration apex inherits from its ancestors in the document
// (DESIGN.md pitfall 1: canonicalising a copy or a detached element drops
// them and gives another digest), or Exclusive C14N 1.0. apex must be in
// the tree it was read in.
func Canonicalize(dst []byte, apex *etree.Element, exclusive bool, skip *etree.Element) []byte {
	return c14n.Append(dst, apex, exclusive, skip)
}

// Matches reports whether data has this digest.
func (d Digest) Matches(data []byte) bool {
	switch d.Hash {
	case crypto.SHA512:
		sum := sha512.Sum512(data)
		return bytes.Equal(sum[:], d.Value)
	case crypto.SHA256:
		sum := sha256.Sum256(data)
		return bytes.Equal(sum[:], d.Value)
	}
	h := d.Hash.New()
	h.Write(data)
	return bytes.Equal(h.Sum(nil), d.Value)
}

// CheckBytes checks the reference's digest over data exactly as given (a
// detached part: never parsed, never re-serialised). It wraps ErrDigest.
func (r *Reference) CheckBytes(data []byte) error {
	if !r.Digest.Matches(data) {
		return digestMismatch("%s does not match its signed digest: it was changed after signing", r.URI)
	}
	return nil
}

// CheckElement checks the reference's digest over the canonical form of
// el, the element it resolves to in the document (Resolve), and returns
// buf (scratch space, reused) holding that form. The enveloped-signature
// transform leaves s out; the canonicalisation is Exclusive C14N if a
// transform asks for it, else inclusive C14N 1.0 with the namespaces el
// inherits. It wraps ErrDigest.
func (s *Signature) CheckElement(buf []byte, r *Reference, el *etree.Element) ([]byte, error) {
	var skip *etree.Element
	if slices.Contains(r.Transforms, Enveloped) {
		skip = s.Element
	}
	buf = Canonicalize(buf[:0], el, r.Exclusive(), skip)
	if !r.Digest.Matches(buf) {
		if r.URI == "" {
			return buf, digestMismatch("the document's digest differs from the signed one (the content was changed)")
		}
		return buf, digestMismatch("the digest of <%s> (%s) differs from the signed one (it was changed after signing)", el.FullTag(), r.URI)
	}
	return buf, nil
}

// CheckValue checks the signature value with pub over the canonical
// SignedInfo, computed in place with the namespaces it inherits (buf is
// scratch space, reused). It wraps ErrSignatureValue.
func (s *Signature) CheckValue(buf []byte, pub crypto.PublicKey) ([]byte, error) {
	buf = Canonicalize(buf[:0], s.SignedInfo, s.Exclusive, nil)
	return buf, VerifyValue(s.Method, pub, buf, s.Value)
}

// VerifyValue verifies a signature value with method m and key pub over
// signed. An ECDSA value must be raw r||s of exactly twice the curve size
// (DESIGN.md pitfall 3: 64 bytes for P-256; DER, or a half not padded, is
// refused); RSA is PKCS #1 v1.5 or PSS as m says. It wraps
// ErrSignatureValue.
func VerifyValue(m Method, pub crypto.PublicKey, signed, value []byte) error {
	h := m.Hash.New()
	h.Write(signed)
	hashed := h.Sum(nil)
	switch m.Kind {
	case ECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return badValue("the signature method is ECDSA but the certificate has a %T key", pub)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(value) != 2*size {
			return badValue("the ECDSA value has %d bytes; %s needs exactly %d (r||s)", len(value), k.Curve.Params().Name, 2*size)
		}
		r := new(big.Int).SetBytes(value[:size])
		s := new(big.Int).SetBytes(value[size:])
		if !ecdsa.Verify(k, hashed, r, s) {
			return badValue("the ECDSA signature does not verify with the certificate's key")
		}
	case RSA, RSAPSS:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return badValue("the signature method is RSA but the certificate has a %T key", pub)
		}
		var err error
		if m.Kind == RSA {
			err = rsa.VerifyPKCS1v15(k, m.Hash, hashed, value)
		} else {
			err = rsa.VerifyPSS(k, m.Hash, hashed, value, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		if err != nil {
			return badValue("the RSA signature does not verify with the certificate's key")
		}
	default:
		return badValue("the signature method %q has no known key algorithm", m.URI)
	}
	return nil
}
