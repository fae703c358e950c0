package ocsp

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	// Register the hash functions used by CertIDs.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// DER tag bytes used when building and checking structures (all tags used
// here are low-tag-number form).
const (
	tagBoolean         = 0x01
	tagInteger         = 0x02
	tagBitString       = 0x03
	tagOctetString     = 0x04
	tagNull            = 0x05
	tagOID             = 0x06
	tagEnumerated      = 0x0a
	tagGeneralizedTime = 0x18
	tagSequence        = 0x30 // constructed
)

// ctxTag returns the identifier octet of a context-specific tag [n].
func ctxTag(n int, constructed bool) byte {
	b := byte(0x80 | n)
	if constructed {
		b |= 0x20
	}
	return b
}

var (
	oidNonce           = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidBasicResponse   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidECDSAWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidSHA1WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidEd25519         = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// hashOIDs maps the CertID hash algorithms this package supports.
var hashOIDs = []struct {
	h   crypto.Hash
	oid asn1.ObjectIdentifier
}{
	{crypto.SHA1, asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}},
	{crypto.SHA256, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
	{crypto.SHA384, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}},
	{crypto.SHA512, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}},
}

func hashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, e := range hashOIDs {
		if e.oid.Equal(oid) {
			return e.h, true
		}
	}
	return 0, false
}

func oidFromHash(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	for _, e := range hashOIDs {
		if e.h == h {
			return e.oid, true
		}
	}
	return nil, false
}

// --- encoding ---------------------------------------------------------------

// tlv encodes one DER element with the given identifier octet and the
// concatenation of parts as contents.
func tlv(tag byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n+6)
	out = append(out, tag)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		out = append(out, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var derNull = []byte{tagNull, 0}

func derOID(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil { // only for malformed constant OIDs
		panic("ocsp: bad OID " + oid.String())
	}
	return b
}

func derInteger(n *big.Int) ([]byte, error) {
	if n == nil {
		return nil, errors.New("missing integer")
	}
	return asn1.Marshal(n)
}

func derEnumerated(n int) []byte {
	b, _ := asn1.Marshal(asn1.Enumerated(n)) // cannot fail
	return b
}

// derTime encodes t, in UTC and truncated to whole seconds, as a
// GeneralizedTime.
func derTime(t time.Time) ([]byte, error) {
	return asn1.MarshalWithParams(t.UTC().Truncate(time.Second), "generalized")
}

// --- decoding ---------------------------------------------------------------

// errTrailing reports data after a complete DER element.
var errTrailing = errors.New("trailing data")

// readOne parses exactly one DER element from b; anything after it is an
// error. encoding/asn1 rejects indefinite and non-minimal lengths and
// non-minimal tags.
func readOne(b []byte) (asn1.RawValue, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	if err != nil {
		return v, err
	}
	if len(rest) != 0 {
		return v, errTrailing
	}
	return v, nil
}

// children splits the contents of a constructed element into its elements.
func children(v asn1.RawValue) ([]asn1.RawValue, error) {
	if !v.IsCompound {
		return nil, errors.New("expected a constructed element")
	}
	var out []asn1.RawValue
	b := v.Bytes
	for len(b) > 0 {
		var e asn1.RawValue
		rest, err := asn1.Unmarshal(b, &e)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		b = rest
	}
	return out, nil
}

// is reports whether v has identifier octet tag (low-tag-number form only).
func is(v asn1.RawValue, tag byte) bool {
	if v.Tag >= 31 {
		return false
	}
	b := byte(v.Class<<6) | byte(v.Tag)
	if v.IsCompound {
		b |= 0x20
	}
	return b == tag
}

// sequence checks that v is a SEQUENCE and returns its elements.
func sequence(v asn1.RawValue, what string) ([]asn1.RawValue, error) {
	if !is(v, tagSequence) {
		return nil, fmt.Errorf("%s: not a SEQUENCE", what)
	}
	els, err := children(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return els, nil
}

// explicit unwraps a context-specific [n] EXPLICIT element holding exactly
// one element.
func explicit(v asn1.RawValue, what string) (asn1.RawValue, error) {
	if !v.IsCompound || v.Class != asn1.ClassContextSpecific {
		return asn1.RawValue{}, fmt.Errorf("%s: bad tag", what)
	}
	inner, err := readOne(v.Bytes)
	if err != nil {
		return asn1.RawValue{}, fmt.Errorf("%s: %w", what, err)
	}
	return inner, nil
}

func octetString(v asn1.RawValue, what string) ([]byte, error) {
	if !is(v, tagOctetString) {
		return nil, fmt.Errorf("%s: not an OCTET STRING", what)
	}
	return v.Bytes, nil
}

func objectID(v asn1.RawValue, what string) (asn1.ObjectIdentifier, error) {
	if !is(v, tagOID) {
		return nil, fmt.Errorf("%s: not an OBJECT IDENTIFIER", what)
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(v.FullBytes, &oid); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%s: bad OBJECT IDENTIFIER", what)
	}
	return oid, nil
}

func integer(v asn1.RawValue, what string) (*big.Int, error) {
	if !is(v, tagInteger) {
		return nil, fmt.Errorf("%s: not an INTEGER", what)
	}
	n := new(big.Int)
	if rest, err := asn1.Unmarshal(v.FullBytes, &n); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%s: bad INTEGER", what)
	}
	return n, nil
}

func enumerated(v asn1.RawValue, what string) (int, error) {
	if !is(v, tagEnumerated) {
		return 0, fmt.Errorf("%s: not an ENUMERATED", what)
	}
	var e asn1.Enumerated
	if rest, err := asn1.Unmarshal(v.FullBytes, &e); err != nil || len(rest) != 0 {
		return 0, fmt.Errorf("%s: bad ENUMERATED", what)
	}
	return int(e), nil
}

func generalizedTime(v asn1.RawValue, what string) (time.Time, error) {
	if !is(v, tagGeneralizedTime) {
		return time.Time{}, fmt.Errorf("%s: not a GeneralizedTime", what)
	}
	var t time.Time
	if rest, err := asn1.UnmarshalWithParams(v.FullBytes, &t, "generalized"); err != nil || len(rest) != 0 {
		return time.Time{}, fmt.Errorf("%s: bad GeneralizedTime", what)
	}
	return t, nil
}

func boolean(v asn1.RawValue, what string) (bool, error) {
	if !is(v, tagBoolean) {
		return false, fmt.Errorf("%s: not a BOOLEAN", what)
	}
	var b bool
	if rest, err := asn1.Unmarshal(v.FullBytes, &b); err != nil || len(rest) != 0 {
		return false, fmt.Errorf("%s: bad BOOLEAN", what)
	}
	return b, nil
}

// algorithmIdentifier parses an AlgorithmIdentifier, returning the OID and
// the raw parameters (nil when absent).
func algorithmIdentifier(v asn1.RawValue, what string) (asn1.ObjectIdentifier, []byte, error) {
	els, err := sequence(v, what)
	if err != nil {
		return nil, nil, err
	}
	if len(els) < 1 || len(els) > 2 {
		return nil, nil, fmt.Errorf("%s: bad AlgorithmIdentifier", what)
	}
	oid, err := objectID(els[0], what)
	if err != nil {
		return nil, nil, err
	}
	if len(els) == 2 {
		return oid, els[1].FullBytes, nil
	}
	return oid, nil, nil
}

// extension is one parsed Extension.
type extension struct {
	id       asn1.ObjectIdentifier
	critical bool
	value    []byte // contents of extnValue
}

// extensions parses "Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension",
// rejecting duplicates.
func extensions(v asn1.RawValue, what string) ([]extension, error) {
	els, err := sequence(v, what)
	if err != nil {
		return nil, err
	}
	if len(els) == 0 {
		return nil, fmt.Errorf("%s: empty Extensions", what)
	}
	out := make([]extension, 0, len(els))
	for _, e := range els {
		f, err := sequence(e, what)
		if err != nil {
			return nil, err
		}
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("%s: bad Extension", what)
		}
		var x extension
		if x.id, err = objectID(f[0], what); err != nil {
			return nil, err
		}
		if len(f) == 3 {
			if x.critical, err = boolean(f[1], what); err != nil {
				return nil, err
			}
		}
		if x.value, err = octetString(f[len(f)-1], what); err != nil {
			return nil, err
		}
		for _, y := range out {
			if y.id.Equal(x.id) {
				return nil, fmt.Errorf("%s: duplicate extension %v", what, x.id)
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// decodeNonce returns the nonce octets carried in a nonce extension value:
// the contents of the OCTET STRING it should hold (RFC 6960 section 4.4.1),
// or, for clients that put the bare nonce into extnValue, the value itself.
func decodeNonce(extnValue []byte) []byte {
	if v, err := readOne(extnValue); err == nil && is(v, tagOctetString) {
		return v.Bytes
	}
	return extnValue
}

// encodeNonce is the extnValue for nonce octets n.
func encodeNonce(n []byte) []byte { return tlv(tagOctetString, n) }

// Nonce length limits of RFC 8954.
const (
	minNonceLen = 1
	maxNonceLen = 32
)

// --- issuer hashes ----------------------------------------------------------

// subjectPublicKeyBits returns the contents of the subjectPublicKey BIT
// STRING of cert (without the unused-bits octet).
func subjectPublicKeyBits(cert *x509.Certificate) ([]byte, error) {
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("ocsp: malformed subjectPublicKeyInfo")
	}
	return spki.PublicKey.Bytes, nil
}

// issuerHashes computes the issuerNameHash and issuerKeyHash of a CertID
// for issuer with hash algorithm h.
func issuerHashes(issuer *x509.Certificate, h crypto.Hash) (nameHash, keyHash []byte, err error) {
	if issuer == nil {
		return nil, nil, errors.New("ocsp: nil issuer certificate")
	}
	if _, ok := oidFromHash(h); !ok || !h.Available() {
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
