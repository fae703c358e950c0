package ocsp

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/sluz/sluz/internal/der"

	// Register the hash functions used by CertIDs.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// subjectPublicKeyBits returns the contents of the subjectPublicKey BIT
// STRING of cert (without the unused-bits octet).
func subjectPublicKeyBits(cert *x509.Certificate) ([]byte, error) {
	spki, err := der.Parse(cert.RawSubjectPublicKeyInfo, der.TagSequence, "subjectPublicKeyInfo")
	if err != nil {
		return nil, fmt.Errorf("ocsp: malformed %w", err)
	}
	if _, err := spki.Next("algorithm"); err != nil {
		return nil, fmt.Errorf("ocsp: malformed %w", err)
	}
	key, err := spki.BitString("subjectPublicKey")
	if err != nil {
		return nil, fmt.Errorf("ocsp: malformed %w", err)
	}
	return key.Bytes, nil
}

// issuerHashes computes the issuerNameHash and issuerKeyHash of a CertID
// for issuer with hash algorithm h.
func issuerHashes(issuer *x509.Certificate, h crypto.Hash) (nameHash, keyHash []byte, err error) {
	if issuer == nil {
		return nil, nil, errors.New("ocsp: nil issuer certificate")
	}
	if _, ok := der.HashOID(h); !ok || !h.Available() {
		return nil, nil, fmt.Errorf("ocsp: unsupported hash algorithm %v", h)
	}
	key, err := subjectPublicKeyBits(issuer)
	if err != nil {
		return nil, nil, err
	}
	hn := h.New()
	hn.Write(issuer.RawSubject)
	nameHash = hn.Sum(nil)
	hk := h.New()
	hk.Write(key)
	keyHash = hk.Sum(nil)
	return nameHash, keyHash, nil
}

// keyID is the SHA-1 hash of cert's subjectPublicKey, as used in the byKey
// ResponderID.
func keyID(cert *x509.Certificate) ([]byte, error) {
	key, err := subjectPublicKeyBits(cert)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(key)
	return sum[:], nil
}

// sameCert reports whether a and b are the same certificate.
func sameCert(a, b *x509.Certificate) bool {
	return a != nil && b != nil && bytes.Equal(a.Raw, b.Raw)
}
