package tsa

import (
	"crypto"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// Object identifiers used by RFC 3161, RFC 5652, RFC 2634 and RFC 5035.
var (
	oidSignedData               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo                  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidAttrContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidAttrSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}

	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}

	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	derNull             = []byte{0x05, 0x00}
	derIntegerOne       = []byte{0x02, 0x01, 0x01}
	derIntegerThree     = []byte{0x02, 0x01, 0x03}
	derBooleanTrue      = []byte{0x01, 0x01, 0xff}
	oidSignedDataDER    = mustOID(oidSignedData)
	oidTSTInfoDER       = mustOID(oidTSTInfo)
	oidContentTypeDER   = mustOID(oidAttrContentType)
	oidMsgDigestDER     = mustOID(oidAttrMessageDigest)
	oidSigningTimeDER   = mustOID(oidAttrSigningTime)
	oidSigningCertV2DER = mustOID(oidAttrSigningCertificateV2)
)

// DER identifier octets used when encoding by hand.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagUTF8String  = 0x0c
	tagGeneralized = 0x18
	tagSequence    = 0x30
	tagSet         = 0x31
	tagCtx0        = 0x80 // [0] primitive
	tagCtx1        = 0x81 // [1] primitive
	tagCtx0Cons    = 0xa0 // [0] constructed
	tagCtx4Cons    = 0xa4 // [4] constructed
)

// supportedHashes maps digest algorithm OIDs to hashes. SHA-1 is recognised
// so that requests can be parsed and refused with badAlg.
var supportedHashes = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}{
	{oidSHA256, crypto.SHA256},
	{oidSHA384, crypto.SHA384},
	{oidSHA512, crypto.SHA512},
	{oidSHA1, crypto.SHA1},
}

func hashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, h := range supportedHashes {
		if h.oid.Equal(oid) {
			return h.hash, true
		}
	}
	return 0, false
}

func hashOID(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	for _, s := range supportedHashes {
		if s.hash == h {
			return s.oid, true
		}
	}
	return nil, false
}

// strongHash reports whether h is acceptable for new time-stamps and for
// signatures: SHA-256, SHA-384 or SHA-512.
func strongHash(h crypto.Hash) bool {
	return h == crypto.SHA256 || h == crypto.SHA384 || h == crypto.SHA512
}

func mustOID(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err) // only called on the constant OIDs above
	}
	return b
}

// tlv encodes one DER element with the single-octet identifier tag and the
// concatenation of content as its contents.
func tlv(tag byte, content ...[]byte) []byte {
	n := 0
	for _, c := range content {
		n += len(c)
	}
	out := make([]byte, 0, n+6)
	out = append(out, tag)
	out = appendLength(out, n)
	for _, c := range content {
		out = append(out, c...)
	}
	return out
}

func appendLength(b []byte, n int) []byte {
	if n < 0x80 {
		return append(b, byte(n))
	}
	var tmp [8]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = byte(n)
		n >>= 8
	}
	b = append(b, 0x80|byte(len(tmp)-i))
	return append(b, tmp[i:]...)
}

// derInteger encodes an INTEGER.
func derInteger(n *big.Int) []byte {
	b, err := asn1.Marshal(n)
	if err != nil {
		// asn1.Marshal never fails for a non-nil *big.Int; keep a
		// well-formed fallback anyway rather than panicking.
		return []byte{tagInteger, 0x01, 0x00}
	}
	return b
}

// generalizedTime encodes t (converted to UTC) as a DER GeneralizedTime with
// fractional seconds only when non-zero and without trailing zeros.
func generalizedTime(t time.Time) []byte {
	return tlv(tagGeneralized, []byte(t.UTC().Format("20060102150405.999999999Z")))
}

// hashAlgorithmID returns the DER AlgorithmIdentifier for h with absent
// parameters (RFC 5754) or, if withNull, NULL parameters.
func hashAlgorithmID(h crypto.Hash, withNull bool) ([]byte, error) {
	oid, ok := hashOID(h)
	if !ok {
		return nil, fmt.Errorf("tsa: unsupported hash algorithm %v", h)
	}
	if withNull {
		return tlv(tagSequence, mustOID(oid), derNull), nil
	}
	return tlv(tagSequence, mustOID(oid)), nil
}

// derReader walks the elements of a constructed DER value.
type derReader struct {
	what string
	rest []byte
}

// parseSequence parses der as exactly one SEQUENCE (no trailing data) and
// returns a reader over its elements.
func parseSequence(der []byte, what string) (*derReader, error) {
	r := &derReader{what: what, rest: der}
	v, err := r.expect(asn1.ClassUniversal, asn1.TagSequence, true, "")
	if err != nil {
		return nil, err
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return &derReader{what: what, rest: v.Bytes}, nil
}

func (r *derReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, r.what, fmt.Sprintf(format, args...))
}

// next reads the next element.
func (r *derReader) next(field string) (asn1.RawValue, error) {
	var v asn1.RawValue
	if len(r.rest) == 0 {
		return v, r.errorf("missing %s", field)
	}
	rest, err := asn1.Unmarshal(r.rest, &v)
	if err != nil {
		return v, r.errorf("%s: %v", field, err)
	}
	r.rest = rest
	return v, nil
}

// expect reads the next element and checks its identifier.
func (r *derReader) expect(class, tag int, compound bool, field string) (asn1.RawValue, error) {
	if field == "" {
		field = "element"
	}
	v, err := r.next(field)
	if err != nil {
		return v, err
	}
	if v.Class != class || v.Tag != tag || v.IsCompound != compound {
		return v, r.errorf("%s: unexpected tag (class %d, tag %d, constructed %v)", field, v.Class, v.Tag, v.IsCompound)
	}
	return v, nil
}

// peek reports whether the next element has the given single-octet
// identifier.
func (r *derReader) peek(class, tag int, compound bool) bool {
	if len(r.rest) == 0 || tag >= 31 {
		return false
	}
	id := byte(class<<6) | byte(tag)
	if compound {
		id |= 0x20
	}
	return r.rest[0] == id
}

// optional reads the next element if it has the given identifier.
func (r *derReader) optional(class, tag int, compound bool, field string) (asn1.RawValue, bool, error) {
	if !r.peek(class, tag, compound) {
		return asn1.RawValue{}, false, nil
	}
	v, err := r.expect(class, tag, compound, field)
	if err != nil {
		return v, false, err
	}
	return v, true, nil
}

func (r *derReader) empty() bool { return len(r.rest) == 0 }

// done fails if unread elements remain.
func (r *derReader) done() error {
	if len(r.rest) != 0 {
		return r.errorf("trailing data")
	}
	return nil
}

// Typed readers for universal types.

func (r *derReader) readInt(field string) (int64, error) {
	v, err := r.expect(asn1.ClassUniversal, asn1.TagInteger, false, field)
	if err != nil {
		return 0, err
	}
	var n int64
	if _, err := asn1.Unmarshal(v.FullBytes, &n); err != nil {
		return 0, r.errorf("%s: %v", field, err)
	}
	return n, nil
}

func (r *derReader) readBigInt(field string) (*big.Int, error) {
	v, err := r.expect(asn1.ClassUniversal, asn1.TagInteger, false, field)
	if err != nil {
		return nil, err
	}
	return r.bigInt(v, field)
}

func (r *derReader) bigInt(v asn1.RawValue, field string) (*big.Int, error) {
	var n *big.Int
	if _, err := asn1.Unmarshal(v.FullBytes, &n); err != nil {
		return nil, r.errorf("%s: %v", field, err)
	}
	return n, nil
}

func (r *derReader) readOID(field string) (asn1.ObjectIdentifier, error) {
	v, err := r.expect(asn1.ClassUniversal, asn1.TagOID, false, field)
	if err != nil {
		return nil, err
	}
	return r.oid(v, field)
}

func (r *derReader) oid(v asn1.RawValue, field string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(v.FullBytes, &oid); err != nil {
		return nil, r.errorf("%s: %v", field, err)
	}
	return oid, nil
}

func (r *derReader) boolean(v asn1.RawValue, field string) (bool, error) {
	var b bool
	if _, err := asn1.Unmarshal(v.FullBytes, &b); err != nil {
		return false, r.errorf("%s: %v", field, err)
	}
	return b, nil
}

func (r *derReader) readOctets(field string) ([]byte, error) {
	v, err := r.expect(asn1.ClassUniversal, asn1.TagOctetString, false, field)
	if err != nil {
		return nil, err
	}
	return v.Bytes, nil
}

// readAlgorithm reads an AlgorithmIdentifier and returns its OID, its
// parameters (nil if absent) and its full encoding.
func (r *derReader) readAlgorithm(field string) (oid asn1.ObjectIdentifier, params, full []byte, err error) {
	v, err := r.expect(asn1.ClassUniversal, asn1.TagSequence, true, field)
	if err != nil {
		return nil, nil, nil, err
	}
	ar := &derReader{what: r.what + ": " + field, rest: v.Bytes}
	if oid, err = ar.readOID("algorithm"); err != nil {
		return nil, nil, nil, err
	}
	if !ar.empty() {
		p, err := ar.next("parameters")
		if err != nil {
			return nil, nil, nil, err
		}
		params = p.FullBytes
	}
	if err := ar.done(); err != nil {
		return nil, nil, nil, err
	}
	return oid, params, v.FullBytes, nil
}

// readGeneralizedTime reads a DER GeneralizedTime (UTC, "Z" suffix).
func (r *derReader) readGeneralizedTime(field string) (time.Time, error) {
	v, err := r.expect(asn1.ClassUniversal, asn1.TagGeneralizedTime, false, field)
	if err != nil {
		return time.Time{}, err
	}
	if n := len(v.Bytes); n == 0 || v.Bytes[n-1] != 'Z' {
		return time.Time{}, r.errorf("%s: GeneralizedTime must be in UTC (Z)", field)
	}
	var t time.Time
	if _, err := asn1.UnmarshalWithParams(v.FullBytes, &t, "generalized"); err != nil {
		return time.Time{}, r.errorf("%s: %v", field, err)
	}
	return t.UTC(), nil
}

// retag re-encodes an implicitly tagged primitive value with a universal
// tag so that encoding/asn1 can decode it.
func retag(v asn1.RawValue, universalTag int) []byte {
	id := byte(universalTag)
	if v.IsCompound {
		id |= 0x20
	}
	return tlv(id, v.Bytes)
}
