// Package der reads and writes the DER that OCSP (RFC 6960), time-stamping
// (RFC 3161) and CMS (RFC 5652) use, for pkiutil/ocsp and pkiutil/tsa. The
// Reader walks a structure element by element and refuses anything that is
// not DER: indefinite or non-minimal lengths, lengths past the end of the
// data, non-minimal INTEGERs, BOOLEANs other than 00 and FF, BIT STRINGs
// with non-zero padding, GeneralizedTimes not in the DER form (UTC with a
// "Z", fractional seconds without trailing zeros), invalid UTF-8 in a
// UTF8String, and data after the last element (Done). The writers produce
// the DER of those same types; the OIDs are the algorithm identifiers both
// protocols share. Errors name what was being read, e.g.
// "TSTInfo: messageImprint: hashedMessage: unexpected tag 0x02, want 0x04".
//
// It is built on golang.org/x/crypto/cryptobyte.
//
// # Caveats
//
// Only low-tag-number identifiers (tag numbers below 31) are read; an
// element with a high tag number is malformed here, although DER allows it
// (none of the structures read here uses one). Lengths are limited to four
// octets. The Reader does not enforce DEFAULT values being omitted or SET OF
// elements being sorted: callers that care check that themselves. Write
// helpers trust their input where DER has nothing to refuse (TLV does not
// check that its parts are DER).
package der

import (
	"bytes"
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Tag is a DER identifier octet (low-tag-number form).
type Tag = cbasn1.Tag

// Universal tags.
const (
	TagBoolean         Tag = 0x01
	TagInteger         Tag = 0x02
	TagBitString       Tag = 0x03
	TagOctetString     Tag = 0x04
	TagNull            Tag = 0x05
	TagOID             Tag = 0x06
	TagEnumerated      Tag = 0x0a
	TagUTF8String      Tag = 0x0c
	TagUTCTime         Tag = 0x17
	TagGeneralizedTime Tag = 0x18
	TagSequence        Tag = 0x30 // constructed
	TagSet             Tag = 0x31 // constructed
)

// Context is the identifier of the primitive context-specific tag [n]
// (an IMPLICIT tag on a primitive type), 0 <= n < 31.
func Context(n int) Tag { return Tag(0x80 | n) }

// ContextCons is the identifier of the constructed context-specific tag
// [n]: an EXPLICIT tag, or an IMPLICIT one on a SEQUENCE or SET.
func ContextCons(n int) Tag { return Tag(0xa0 | n) }

// Element is one DER element as read.
type Element struct {
	Tag     Tag
	Raw     []byte // the whole encoding: identifier, length and contents
	Content []byte // the contents octets
}

// Reader reads the elements of a DER value in order. Its errors start with
// what it reads: the what given to Parse or NewReader, followed by the
// fields that Enter and Algorithm went into. A Reader is a small value;
// copying one copies its position.
type Reader struct {
	s      cryptobyte.String
	name   string  // what, or the field entered
	parent *Reader // the Reader the field was read from, nil at the top
}

// NewReader returns a Reader over b, a sequence of DER elements (typically
// the contents of a constructed element).
func NewReader(b []byte, what string) Reader {
	return Reader{s: b, name: what}
}

// Parse checks that b is exactly one DER element with identifier tag, with
// no data after it, and returns a Reader over its contents.
func Parse(b []byte, tag Tag, what string) (Reader, error) {
	top := NewReader(b, what)
	e, err := top.next(tag, "")
	if err != nil {
		return Reader{}, err
	}
	if !top.Empty() {
		return Reader{}, top.Errorf("trailing data")
	}
	return NewReader(e.Content, what), nil
}

// path is what r reads, for errors: the names from the top Reader down to
// r. It is built only when an error is.
func (r *Reader) path() string {
	var names []string
	for p := r; p != nil; p = p.parent {
		names = append(names, p.name)
	}
	slices.Reverse(names)
	return strings.Join(names, ": ")
}

// Errorf returns an error about what r reads: its text is r's path, ": ",
// and the formatted message. It wraps the arguments' errors that format
// marks with %w.
func (r *Reader) Errorf(format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{r.path()}, args...)...)
}

// Empty reports whether all elements have been read.
func (r *Reader) Empty() bool { return len(r.s) == 0 }

// Done returns an error if elements remain unread.
func (r *Reader) Done() error {
	if len(r.s) != 0 {
		return r.Errorf("trailing data")
	}
	return nil
}

// Peek reports whether the next element has identifier tag.
func (r *Reader) Peek(tag Tag) bool { return r.s.PeekASN1Tag(tag) }

// Next reads the next element, whatever its tag.
func (r *Reader) Next(field string) (Element, error) {
	return r.next(0, field)
}

// Read reads the next element, which must have identifier tag.
func (r *Reader) Read(tag Tag, field string) (Element, error) {
	return r.next(tag, field)
}

// next reads one element with identifier tag, or any tag if tag is 0.
// Field is empty when Parse reads the whole input.
func (r *Reader) next(tag Tag, field string) (Element, error) {
	if len(r.s) == 0 {
		if field == "" {
			return Element{}, r.Errorf("empty")
		}
		return Element{}, r.Errorf("missing %s", field)
	}
	var raw cryptobyte.String
	var got Tag
	if !r.s.ReadAnyASN1Element(&raw, &got) {
		return Element{}, r.fieldError(field, headerProblem(r.s))
	}
	if tag != 0 && got != tag {
		return Element{}, r.fieldError(field, fmt.Sprintf("unexpected tag 0x%02x, want 0x%02x", uint8(got), uint8(tag)))
	}
	hdr := 2
	if raw[1]&0x80 != 0 {
		hdr += int(raw[1] & 0x7f)
	}
	return Element{Tag: got, Raw: raw, Content: raw[hdr:]}, nil
}

// fieldError is the error msg about field (or, without one, about what r
// reads).
func (r *Reader) fieldError(field, msg string) error {
	if field == "" {
		return r.Errorf("%s", msg)
	}
	return r.Errorf("%s: %s", field, msg)
}

// headerProblem says why b does not start with a DER element.
func headerProblem(b []byte) string {
	switch {
	case len(b) < 2:
		return "truncated element"
	case b[0]&0x1f == 0x1f:
		return "high tag number form not supported"
	case b[1] == 0x80:
		return "indefinite length (not DER)"
	case b[1] < 0x80:
		return "truncated element"
	}
	n := int(b[1] & 0x7f)
	switch {
	case n > 4:
		return "length too large"
	case len(b) < 2+n:
		return "truncated length"
	case b[2] == 0 || (n == 1 && b[2] < 0x80):
		return "non-minimal length (not DER)"
	}
	return "truncated element"
}

// Enter reads the next element, which must have the constructed identifier
// tag, and returns a Reader over its contents whose errors name field. The
// new Reader refers to r for its error texts.
func (r *Reader) Enter(tag Tag, field string) (Reader, error) {
	e, err := r.Read(tag, field)
	if err != nil {
		return Reader{}, err
	}
	return Reader{s: e.Content, name: field, parent: r}, nil
}

// Explicit reads "[n] EXPLICIT T": the constructed element [n], which must
// hold exactly one element. It returns a Reader over that element, to be
// read with the method for T.
func (r *Reader) Explicit(n int, field string) (Reader, error) {
	x, err := r.Enter(ContextCons(n), field)
	if err != nil {
		return Reader{}, err
	}
	e, err := x.Next("value")
	if err != nil {
		return Reader{}, err
	}
	if err := x.Done(); err != nil {
		return Reader{}, err
	}
	x.s = e.Raw
	return x, nil
}

// value reads an element with identifier tag and returns its whole
// encoding, for a cryptobyte read method (which checks the tag again).
func (r *Reader) value(tag Tag, field string) (cryptobyte.String, error) {
	e, err := r.Read(tag, field)
	return e.Raw, err
}

// malformed is the error for a value of type what that does not decode.
func (r *Reader) malformed(field, what string) error {
	return r.Errorf("%s: malformed %s", field, what)
}

// BigInt reads an INTEGER (minimally encoded).
func (r *Reader) BigInt(field string) (*big.Int, error) {
	s, err := r.value(TagInteger, field)
	if err != nil {
		return nil, err
	}
	n := new(big.Int)
	if !s.ReadASN1Integer(n) {
		return nil, r.malformed(field, "INTEGER")
	}
	return n, nil
}

// Int64 reads an INTEGER (minimally encoded) that fits in an int64.
func (r *Reader) Int64(field string) (int64, error) {
	return r.ImplicitInt64(TagInteger, field)
}

// ImplicitInt64 reads an INTEGER that fits in an int64, with identifier tag
// (for example Context(0) for [0] IMPLICIT INTEGER).
func (r *Reader) ImplicitInt64(tag Tag, field string) (int64, error) {
	s, err := r.value(tag, field)
	if err != nil {
		return 0, err
	}
	var n int64
	if !s.ReadASN1Int64WithTag(&n, tag) {
		return 0, r.malformed(field, "INTEGER")
	}
	return n, nil
}

// Enumerated reads an ENUMERATED (minimally encoded) that fits in an
// int32, as encoding/asn1 requires.
func (r *Reader) Enumerated(field string) (int, error) {
	s, err := r.value(TagEnumerated, field)
	if err != nil {
		return 0, err
	}
	var n int
	if !s.ReadASN1Enum(&n) || n != int(int32(n)) {
		return 0, r.malformed(field, "ENUMERATED")
	}
	return n, nil
}

// OID reads an OBJECT IDENTIFIER (components minimally encoded, each
// below 2^31).
func (r *Reader) OID(field string) (asn1.ObjectIdentifier, error) {
	s, err := r.value(TagOID, field)
	if err != nil {
		return nil, err
	}
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1ObjectIdentifier(&oid) {
		return nil, r.malformed(field, "OBJECT IDENTIFIER")
	}
	return oid, nil
}

// Bool reads a BOOLEAN (one octet, 00 or FF).
func (r *Reader) Bool(field string) (bool, error) {
	s, err := r.value(TagBoolean, field)
	if err != nil {
		return false, err
	}
	var b bool
	if !s.ReadASN1Boolean(&b) {
		return false, r.malformed(field, "BOOLEAN")
	}
	return b, nil
}

// OctetString reads a (primitive) OCTET STRING and returns its contents.
func (r *Reader) OctetString(field string) ([]byte, error) {
	e, err := r.Read(TagOctetString, field)
	return e.Content, err
}

// BitString reads a BIT STRING (unused bits below 8 and zero).
func (r *Reader) BitString(field string) (asn1.BitString, error) {
	s, err := r.value(TagBitString, field)
	if err != nil {
		return asn1.BitString{}, err
	}
	var bs asn1.BitString
	if !s.ReadASN1BitString(&bs) {
		return asn1.BitString{}, r.malformed(field, "BIT STRING")
	}
	return bs, nil
}

// UTF8String reads a UTF8String, which must be valid UTF-8.
func (r *Reader) UTF8String(field string) (string, error) {
	e, err := r.Read(TagUTF8String, field)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(e.Content) {
		return "", r.Errorf("%s: invalid UTF-8", field)
	}
	return string(e.Content), nil
}

// generalizedTimeLayout parses and formats the DER GeneralizedTime form
// once the "Z" is checked: fractional seconds only when non-zero, without
// trailing zeros.
const generalizedTimeLayout = "20060102150405.999999999Z0700"

// GeneralizedTime reads a GeneralizedTime in its DER form (X.690 11.7,
// RFC 3161 2.4.2, RFC 5280 4.1.2.5.2): YYYYMMDDHHMMSS[.fff]Z, in UTC,
// fractional seconds without trailing zeros. The time is in UTC.
func (r *Reader) GeneralizedTime(field string) (time.Time, error) {
	e, err := r.Read(TagGeneralizedTime, field)
	if err != nil {
		return time.Time{}, err
	}
	s := string(e.Content)
	if n := len(s); n == 0 || s[n-1] != 'Z' {
		return time.Time{}, r.Errorf("%s: GeneralizedTime must be in UTC (Z)", field)
	}
	t, err := time.Parse(generalizedTimeLayout, s)
	if err != nil {
		return time.Time{}, r.Errorf("%s: bad GeneralizedTime %q: %w", field, s, err)
	}
	if t.Format(generalizedTimeLayout) != s {
		return time.Time{}, r.Errorf("%s: GeneralizedTime %q is not in DER form", field, s)
	}
	return t.UTC(), nil
}

// Algorithm is a parsed AlgorithmIdentifier.
type Algorithm struct {
	OID    asn1.ObjectIdentifier
	Params []byte // the whole encoding of the parameters, nil if absent
	Raw    []byte // the whole AlgorithmIdentifier
}

// NullParams reports whether the parameters are absent or NULL.
func (a Algorithm) NullParams() bool {
	return a.Params == nil || bytes.Equal(a.Params, Null)
}

// Algorithm reads "AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT
// IDENTIFIER, parameters ANY OPTIONAL }".
func (r *Reader) Algorithm(field string) (Algorithm, error) {
	e, err := r.Read(TagSequence, field)
	if err != nil {
		return Algorithm{}, err
	}
	ar := Reader{s: e.Content, name: field, parent: r}
	a := Algorithm{Raw: e.Raw}
	if a.OID, err = ar.OID("algorithm"); err != nil {
		return Algorithm{}, err
	}
	if !ar.Empty() {
		p, err := ar.Next("parameters")
		if err != nil {
			return Algorithm{}, err
		}
		a.Params = p.Raw
	}
	if err := ar.Done(); err != nil {
		return Algorithm{}, err
	}
	return a, nil
}

// Extension is one parsed Extension.
type Extension struct {
	ID       asn1.ObjectIdentifier
	Critical bool
	Value    []byte // contents of extnValue
}

// Extensions reads an element with identifier tag holding "Extensions ::=
// SEQUENCE SIZE (1..MAX) OF Extension" (TagSequence, or the IMPLICIT tag
// that replaces it), refusing an empty list and duplicate extnIDs. An
// explicitly encoded critical FALSE is accepted, as most parsers do.
func (r *Reader) Extensions(tag Tag, field string) ([]Extension, error) {
	l, err := r.Enter(tag, field)
	if err != nil {
		return nil, err
	}
	if l.Empty() {
		return nil, l.Errorf("empty")
	}
	var out []Extension
	for !l.Empty() {
		er, err := l.Enter(TagSequence, "Extension")
		if err != nil {
			return nil, err
		}
		var x Extension
		if x.ID, err = er.OID("extnID"); err != nil {
			return nil, err
		}
		if er.Peek(TagBoolean) {
			if x.Critical, err = er.Bool("critical"); err != nil {
				return nil, err
			}
		}
		if x.Value, err = er.OctetString("extnValue"); err != nil {
			return nil, err
		}
		if err := er.Done(); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(y Extension) bool { return y.ID.Equal(x.ID) }) {
			return nil, l.Errorf("duplicate extension %v", x.ID)
		}
		out = append(out, x)
	}
	return out, nil
}
