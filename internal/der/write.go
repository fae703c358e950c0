package der

import (
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Null is the DER encoding of NULL.
var Null = []byte{0x05, 0x00}

// TLV encodes one element with identifier tag whose contents are the
// concatenation of parts.
func TLV(tag Tag, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, 1+5+n)
	out = append(out, byte(tag))
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

// build runs add on a fresh cryptobyte.Builder.
func build(add func(*cryptobyte.Builder)) ([]byte, error) {
	var b cryptobyte.Builder
	add(&b)
	return b.Bytes()
}

// OID encodes an OBJECT IDENTIFIER; it fails for an invalid one (fewer
// than two components, a first component above 2, a second above 39 under
// 0 or 1, a negative component).
func OID(oid asn1.ObjectIdentifier) ([]byte, error) {
	b, err := build(func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
	if err != nil {
		return nil, fmt.Errorf("der: OBJECT IDENTIFIER %v: %w", oid, err)
	}
	return b, nil
}

// MustOID is OID for the constant OIDs of a program; it panics on an
// invalid one.
func MustOID(oid asn1.ObjectIdentifier) []byte {
	b, err := OID(oid)
	if err != nil {
		panic(err)
	}
	return b
}

// Integer encodes a non-nil n as an INTEGER.
func Integer(n *big.Int) []byte {
	b, _ := build(func(b *cryptobyte.Builder) { b.AddASN1BigInt(n) }) // cannot fail
	return b
}

// Int encodes n as an INTEGER.
func Int(n int64) []byte {
	b, _ := build(func(b *cryptobyte.Builder) { b.AddASN1Int64(n) }) // cannot fail
	return b
}

// Enumerated encodes n as an ENUMERATED.
func Enumerated(n int64) []byte {
	b, _ := build(func(b *cryptobyte.Builder) { b.AddASN1Enum(n) }) // cannot fail
	return b
}

// Bool encodes v as a BOOLEAN.
func Bool(v bool) []byte {
	if v {
		return []byte{byte(TagBoolean), 1, 0xff}
	}
	return []byte{byte(TagBoolean), 1, 0}
}

// BitString encodes a BIT STRING of the bits of data but its last unused
// ones (0 to 7), which must be zero.
func BitString(data []byte, unused int) []byte {
	return TLV(TagBitString, []byte{byte(unused)}, data)
}

// GeneralizedTime encodes t, converted to UTC, as a GeneralizedTime in DER
// form: fractional seconds only when non-zero, without trailing zeros
// (truncate t first for whole seconds). Years outside 0 to 9999 cannot be
// encoded.
func GeneralizedTime(t time.Time) ([]byte, error) {
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		return nil, fmt.Errorf("der: cannot represent %v as a GeneralizedTime", t)
	}
	return TLV(TagGeneralizedTime, t.AppendFormat(nil, generalizedTimeLayout)), nil
}

// Time encodes t, converted to UTC and truncated to whole seconds, as the
// Time of RFC 5280 and RFC 5652 (signingTime): a UTCTime for the years
// 1950 to 2049, a GeneralizedTime otherwise.
func Time(t time.Time) ([]byte, error) {
	t = t.UTC().Truncate(time.Second)
	if y := t.Year(); y < 1950 || y >= 2050 {
		return GeneralizedTime(t)
	}
	return build(func(b *cryptobyte.Builder) { b.AddASN1UTCTime(t) })
}

// AlgorithmID encodes an AlgorithmIdentifier for the constant oid with
// params (nil for absent parameters, Null for NULL ones).
func AlgorithmID(oid asn1.ObjectIdentifier, params []byte) []byte {
	return TLV(TagSequence, MustOID(oid), params)
}
