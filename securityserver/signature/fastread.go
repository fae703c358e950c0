package signature

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/internal/xmltok"
)

// fastRead reads a signature document that is byte for byte in the shape
// Sign writes (sign.go's segments, in order),
// without building a tree: every message a Şlüz peer sends is in that
// shape, and the general reader costs about as much as the ECDSA
// verification itself.
//
// It answers ok only for documents the strict reader (read) accepts, with
// the same content: each value between two segments is limited to bytes
// that need no XML processing (base64 characters, digits, the characters
// of a part URI, or text without markup, references, CR or control
// characters), so the document is well formed, its Ids are the template's
// distinct ones, and the canonical forms of SignedInfo and SignedProperties
// are their bytes in the document with the root's namespace declarations
// added to the start tag, as Sign computes them. Anything else (another
// layout, white space, an X-Road document, an entity reference, an
// unparsable certificate or time) is not ok, and the caller reads the
// document with the strict reader, which accepts or refuses it with its
// detailed error. FuzzFastRead checks the equivalence.
func fastRead(doc []byte) (*parsed, bool) {
	s := scanner{b: doc}
	s.lit(docStart)
	siBody := s.i
	s.lit(siStart)
	method := s.field('"', algorithm)
	s.lit(afterMethod)
	uri := s.field('"', partURI)
	s.lit(afterPartURI)
	partDigest := s.digest()
	s.lit(afterPartDigest)
	spDigest := s.digest()
	s.lit(siEnd)
	siBodyEnd := s.i
	s.lit(sigValueStart)
	value := s.base64()
	s.lit(afterValue)
	cert := s.certificate()
	s.lit(afterCertificate)
	spBody := s.i
	s.lit(spStart)
	signingTime := s.field('<', timeText)
	s.lit(afterSigningTime + certIDStart)
	certDigest := s.digest()
	s.lit(afterCertDigest)
	s.text()
	s.lit(afterIssuerName)
	serial := s.field('<', digits)
	s.lit(certIDEnd + afterSigningCert)
	s.text()
	s.lit(spEnd)
	spBodyEnd := s.i
	s.lit(unsignedStart)
	var certRefs []certRef
	var extra []*x509.Certificate
	var extraCached []*cachedCert
	var extraIDs []string
	if s.peek(certRefsStart) {
		s.lit(certRefsStart)
		for n := 1; !s.bad && (n == 1 || !s.peek(certValuesStart)); n++ {
			if n > maxFastList {
				return nil, false
			}
			s.lit(certRefStart)
			s.lit(strconv.Itoa(n))
			s.lit(`">` + certIDStart)
			d := s.digest()
			s.lit(afterCertDigest)
			s.text()
			s.lit(afterIssuerName)
			s.field('<', digits)
			s.lit(certIDEnd + certRefEnd)
			certRefs = append(certRefs, certRef{uri: "#encapsulated-cert-" + strconv.Itoa(n), digest: sha512Digest(d)})
		}
		s.lit(certValuesStart)
		for n := 1; !s.bad && n <= len(certRefs); n++ {
			s.lit(certValueStart)
			s.lit(strconv.Itoa(n))
			s.lit(`">`)
			c := s.certificate()
			s.lit(certValueEnd)
			if s.bad {
				return nil, false
			}
			extra = append(extra, c.cert)
			extraCached = append(extraCached, c)
			extraIDs = append(extraIDs, "encapsulated-cert-"+strconv.Itoa(n))
		}
		s.lit(certValuesEnd)
	}
	s.lit(ocspStart)
	var ocsp [][]byte
	for n := 1; !s.bad && (n == 1 || !s.peek(ocspEnd)); n++ {
		if n > maxFastList {
			return nil, false
		}
		s.lit(ocspValueStart)
		s.lit(strconv.Itoa(n))
		s.lit(`">`)
		der := s.base64()
		if !s.bad && !isDERSequence(der) {
			return nil, false
		}
		ocsp = append(ocsp, der)
		s.lit(ocspValueEnd)
	}
	s.lit(ocspEnd)
	if s.bad || s.i != len(doc) || len(uri) < 2 || uri[0] != '/' {
		return nil, false
	}

	m, ok := xmldsig.Methods[string(method)]
	if !ok || (m.URI != sigECDSASHA512 && m.URI != sigRSASHA512) {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(signingTime))
	if err != nil {
		return nil, false
	}
	sn, ok := new(big.Int).SetString(string(serial), 10)
	if !ok {
		return nil, false
	}

	// The canonical forms, in one buffer.
	const (
		siTag = "<ds:SignedInfo"
		spTag = "<xades:SignedProperties"
	)
	siLen := len(siTag) + len(inheritedNS) + siBodyEnd - siBody
	canon := make([]byte, 0, siLen+len(spTag)+len(inheritedNS)+spBodyEnd-spBody)
	canon = append(canon, siTag+inheritedNS...)
	canon = append(canon, doc[siBody:siBodyEnd]...)
	canon = append(canon, spTag+inheritedNS...)
	canon = append(canon, doc[spBody:spBodyEnd]...)

	refs := []xmldsig.Reference{
		{URI: string(uri), HasURI: true, Digest: sha512Digest(partDigest)},
		{URI: "#" + signedPropertiesID, HasURI: true, Type: typeSignedProperties, HasType: true, Digest: sha512Digest(spDigest)},
	}
	return &parsed{
		sig: &xmldsig.Signature{
			ID:          "signature",
			Method:      m,
			References:  refs,
			Value:       value,
			Certificate: cert.cert.Raw,
		},
		canonSignedInfo:       canon[:siLen:siLen],
		canonSignedProperties: canon[siLen:],
		data:                  []*xmldsig.Reference{&refs[0]},
		properties:            &refs[1],
		cert:                  cert.cert,
		certCached:            cert,
		certDigest:            sha512Digest(certDigest),
		certSerial:            sn,
		signingTime:           t.UTC(),
		ocsp:                  ocsp,
		extra:                 extra,
		extraCached:           extraCached,
		extraIDs:              extraIDs,
		certRefs:              certRefs,
	}, true
}

// maxFastList bounds the intermediate certificates and the OCSP responses
// fastRead takes (Şlüz writes one of each); a document with more is read
// by readStrict.
const maxFastList = 8

func sha512Digest(v []byte) xmldsig.Digest {
	return xmldsig.Digest{Method: digestSHA512, Hash: crypto.SHA512, Value: v}
}

// scanner matches a document against literal segments and the values
// between them; once a match fails it is bad and matches nothing more.
type scanner struct {
	b   []byte
	i   int
	bad bool
}

// lit consumes l.
func (s *scanner) lit(l string) {
	if s.bad || len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		s.bad = true
		return
	}
	s.i += len(l)
}

// peek reports whether l comes next.
func (s *scanner) peek(l string) bool {
	return !s.bad && len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l
}

// field consumes and returns the non-empty run of bytes up to stop, each
// of which the class accepts.
func (s *scanner) field(stop byte, class *byteClass) []byte {
	if s.bad {
		return nil
	}
	j := bytes.IndexByte(s.b[s.i:], stop)
	if j <= 0 {
		s.bad = true
		return nil
	}
	f := s.b[s.i : s.i+j]
	for _, c := range f {
		if !class[c] {
			s.bad = true
			return nil
		}
	}
	s.i += j
	return f
}

// base64Text consumes a non-empty base64 text without white space.
func (s *scanner) base64Text() []byte {
	if s.bad {
		return nil
	}
	j := bytes.IndexByte(s.b[s.i:], '<')
	if j <= 0 {
		s.bad = true
		return nil
	}
	f := s.b[s.i : s.i+j]
	// The decoder refuses every byte outside the alphabet but CR and LF,
	// which it skips.
	if bytes.IndexByte(f, '\n') >= 0 || bytes.IndexByte(f, '\r') >= 0 {
		s.bad = true
		return nil
	}
	s.i += j
	return f
}

// base64 consumes a base64 text and returns it decoded (strictly, as
// xmldsig.Base64 decodes).
func (s *scanner) base64() []byte {
	f := s.base64Text()
	if s.bad {
		return nil
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(f)))
	n, err := base64.StdEncoding.Strict().Decode(out, f)
	if err != nil || n == 0 {
		s.bad = true
		return nil
	}
	return out[:n]
}

// certificate consumes the base64 text of a certificate that parses.
func (s *scanner) certificate() *cachedCert {
	f := s.base64Text()
	if s.bad {
		return nil
	}
	c, err := parseCertificateBase64(f)
	if err != nil {
		s.bad = true
		return nil
	}
	return c
}

// digest consumes a SHA-512 DigestValue.
func (s *scanner) digest() []byte {
	d := s.base64()
	if !s.bad && len(d) != crypto.SHA512.Size() {
		s.bad = true
	}
	return d
}

// text consumes element text that reads, and canonicalises, as written:
// UTF-8 XML characters without markup or references ('<', '&', '>'), CR or
// other control characters (tab and line feed are allowed).
func (s *scanner) text() {
	f := s.field('<', plainText)
	if s.bad {
		return
	}
	for i := 0; i < len(f); {
		if f[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(f[i:])
		if r == utf8.RuneError && n == 1 || !xmltok.IsXMLChar(r) {
			s.bad = true
			return
		}
		i += n
	}
}

// byteClass is the set of bytes a field may hold.
type byteClass [256]bool

func newByteClass(in func(c byte) bool) *byteClass {
	var t byteClass
	for c := range 256 {
		t[c] = in(byte(c))
	}
	return &t
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

var (
	// plainText: text without markup, references, CR or control
	// characters (bytes of non-ASCII UTF-8 are checked by text).
	plainText = newByteClass(func(c byte) bool {
		return c >= 0x20 && c != '<' && c != '&' && c != '>' && c != 0x7f || c == '\t' || c == '\n'
	})
	digits   = newByteClass(isDigit)
	timeText = newByteClass(func(c byte) bool {
		return isDigit(c) || c == '-' || c == ':' || c == '.' || c == 'T' || c == 'Z' || c == '+'
	})
	// partURI: the characters checkPart allows in a part URI.
	partURI = newByteClass(func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '.' || c == '_' || c == '-' || c == '/'
	})
	algorithm = newByteClass(func(c byte) bool {
		return c > 0x20 && c < 0x7f && c != '"' && c != '<' && c != '&' && c != '>'
	})
)
