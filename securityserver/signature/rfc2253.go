package signature

import (
	"encoding/asn1"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// X-Road writes ds:X509IssuerName with Java's
// X500Principal.getName() — RFC 2253 as the JDK renders it — and Go's
// pkix.Name.String() differs from it (other keywords, other value
// rendering). javaRFC2253 reproduces the JDK's form so that Şlüz's
// signatures read like X-Road's:
//
//   - RDNs last to first, joined by ",", multi-valued RDNs joined by "+" in
//     encoded order;
//   - keywords only for CN, C, L, ST, O, OU, STREET, DC and UID; every other
//     attribute (emailAddress, serialNumber, …) as its dotted OID with the
//     value as "#" and the lower-case hex of its DER encoding;
//   - a keyword attribute whose value is not a PrintableString, T61String,
//     IA5String, GeneralString, BMPString or UTF8String is also written as
//     "#hex";
//   - in string values each of , = + < > # ; " \ is preceded by a backslash,
//     NUL becomes \00, leading and trailing spaces (and CRs) are preceded by
//     a backslash, and every other character, non-ASCII included, is kept.

type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// The names end in SET so that encoding/asn1 reads them as SET OF.
type relativeDistinguishedNameSET []attributeTypeAndValue

type rdnSequence []relativeDistinguishedNameSET

var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// ASN.1 universal string tags the JDK renders as strings.
const (
	tagUTF8String      = 12
	tagPrintableString = 19
	tagT61String       = 20
	tagIA5String       = 22
	tagGeneralString   = 27
	tagBMPString       = 30
)

// javaRFC2253 renders the DER Name raw as Java's X500Principal.getName().
func javaRFC2253(raw []byte) (string, error) {
	var seq rdnSequence
	rest, err := asn1.Unmarshal(raw, &seq)
	if err != nil {
		return "", err
	}
	if len(rest) != 0 {
		return "", errors.New("trailing data after the name")
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if i < len(seq)-1 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAVA(&b, atv)
		}
	}
	return b.String(), nil
}

func writeAVA(b *strings.Builder, atv attributeTypeAndValue) {
	oid := atv.Type.String()
	keyword, known := rfc2253Keywords[oid]
	var s string
	isString := false
	if known && atv.Value.Class == asn1.ClassUniversal {
		s, isString = decodeDirectoryString(atv.Value.Tag, atv.Value.Bytes)
	}
	if !isString {
		if known {
			b.WriteString(keyword)
		} else {
			b.WriteString(oid)
		}
		b.WriteString("=#")
		const hex = "0123456789abcdef"
		for _, c := range atv.Value.FullBytes {
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		}
		return
	}
	b.WriteString(keyword)
	b.WriteByte('=')

	escaped := make([]rune, 0, len(s)+4)
	for _, r := range s {
		switch {
		case strings.ContainsRune(`,=+<>#;"\`, r):
			escaped = append(escaped, '\\', r)
		case r == 0:
			escaped = append(escaped, '\\', '0', '0')
		default:
			escaped = append(escaped, r)
		}
	}
	lead := 0
	for lead < len(escaped) && (escaped[lead] == ' ' || escaped[lead] == '\r') {
		lead++
	}
	trail := len(escaped) - 1
	for trail >= 0 && (escaped[trail] == ' ' || escaped[trail] == '\r') {
		trail--
	}
	for i, r := range escaped {
		if i < lead || i > trail {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
}

// decodeDirectoryString decodes a string value as the JDK 25 does:
// PrintableString, IA5String, GeneralString and T61String byte for byte as
// ISO 8859-1, BMPString as UTF-16BE, UTF8String as UTF-8, with U+FFFD for
// what does not decode. (JDK 17 decoded every string type as UTF-8; the two
// differ only for non-ASCII bytes outside UTF8String. Malformed UTF-8 or
// UTF-16 may get a different number of U+FFFD than from Java.)
func decodeDirectoryString(tag int, data []byte) (string, bool) {
	switch tag {
	case tagUTF8String:
		return strings.ToValidUTF8(string(data), string(utf8.RuneError)), true
	case tagPrintableString, tagIA5String, tagGeneralString, tagT61String:
		if isASCII(data) {
			return string(data), true
		}
		var b strings.Builder
		for _, c := range data {
			b.WriteRune(rune(c))
		}
		return b.String(), true
	case tagBMPString:
		u := make([]uint16, 0, len(data)/2)
		for i := 0; i+1 < len(data); i += 2 {
			u = append(u, uint16(data[i])<<8|uint16(data[i+1]))
		}
		s := string(utf16.Decode(u))
		if len(data)%2 == 1 {
			s += string(utf8.RuneError)
		}
		return s, true
	}
	return "", false
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
