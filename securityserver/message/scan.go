package message

import (
	"encoding/xml"

	"github.com/sluz/sluz/internal/xmltok"
)

// The scanner turns internal/xmltok's raw tokens into namespace-resolved
// ones with byte offsets into Message.Raw. It sees the prefixes written in
// the message (InsertRequestHash reuses them) and does the namespace
// bookkeeping and the start/end tag matching itself. It never builds a tree.

const (
	tEOF = iota
	tStart
	tEnd
	tText
)

// Limits against hostile input, beyond ParseOptions.MaxSize and MaxDepth.
const (
	maxBindings = 256  // namespace declarations in scope at once
	maxAttrs    = 1024 // attributes on one element
)

const namespaceXML = "http://www.w3.org/XML/1998/namespace"

type binding struct{ prefix, uri string }

type openElem struct {
	raw  xml.Name // as written: Space is the prefix
	mark int      // len(ns) before this element's declarations
}

type token struct {
	kind       int
	name       xml.Name // resolved: Space is the namespace URI
	prefix     string
	attr       []xml.Attr // as written: Space is the prefix
	text       []byte     // tText only; valid until the next call
	start, end int        // byte offsets in Message.Raw
	mark       int        // tStart: len(ns) before the element's own declarations
}

type scanner struct {
	t        xmltok.Tokenizer
	data     []byte
	base     int // offset of the decoder's input in Message.Raw
	ns       []binding
	open     []openElem
	maxDepth int
	rootDone bool
	fail     func(code, format string, a ...any) *Fault

	nsBuf   [16]binding // initial storage, saving allocations
	openBuf [16]openElem
	tok     token // the token next returned
}

// init prepares s to scan data, which starts at offset base in Message.Raw.
func (s *scanner) init(data []byte, base, maxDepth int, fail func(string, string, ...any) *Fault) {
	s.base, s.maxDepth, s.fail = base, maxDepth, fail
	s.ns, s.open = s.nsBuf[:0], s.openBuf[:0]
	s.data = data
	s.t.Reset(data)
}

// lookup resolves prefix among the first n bindings.
func (s *scanner) lookup(prefix string, n int) (string, bool) {
	switch prefix {
	case "xml":
		return namespaceXML, true
	case "xmlns":
		return "", false
	}
	for i := n - 1; i >= 0; i-- {
		if s.ns[i].prefix == prefix {
			return s.ns[i].uri, true
		}
	}
	if prefix == "" {
		return "", true // no default namespace
	}
	return "", false
}

// attrNS resolves the namespace of an attribute of the element just
// returned (unprefixed attributes are in no namespace).
func (s *scanner) attrNS(a xml.Attr) string {
	if a.Name.Space == "" {
		return ""
	}
	uri, _ := s.lookup(a.Name.Space, len(s.ns))
	return uri
}

// next returns the next element boundary or text inside the root element,
// skipping comments; tEOF once the document ended well-formed. The token
// is the scanner's own, valid until the next call: a caller that needs it
// after that copies it (tokens are too large to return by value at every
// step).
func (s *scanner) next() (*token, error) {
	for {
		t, err := s.t.Next()
		if err != nil {
			return nil, s.fail(InvalidSoap, "malformed XML: %w", err)
		}
		off, end := t.Start, t.End
		switch t.Kind {
		case xmltok.EOF:
			if len(s.open) > 0 {
				return nil, s.fail(InvalidSoap, "malformed XML: unexpected end of message inside <%s>", rawName(s.open[len(s.open)-1].raw))
			}
			if !s.rootDone {
				return nil, s.fail(InvalidSoap, "malformed SOAP message: no root element")
			}
			s.tok = token{kind: tEOF}
			return &s.tok, nil
		case xmltok.StartElement:
			return s.start(xml.StartElement{Name: t.Name, Attr: t.Attr}, off, end)
		case xmltok.EndElement:
			if len(s.open) == 0 {
				return nil, s.fail(InvalidSoap, "malformed XML: unexpected end tag </%s>", rawName(t.Name))
			}
			top := s.open[len(s.open)-1]
			if top.raw != t.Name {
				return nil, s.fail(InvalidSoap, "malformed XML: element <%s> closed by </%s>", rawName(top.raw), rawName(t.Name))
			}
			s.ns = s.ns[:top.mark]
			s.open = s.open[:len(s.open)-1]
			if len(s.open) == 0 {
				s.rootDone = true
			}
			s.tok = token{kind: tEnd, start: s.base + off, end: s.base + end}
			return &s.tok, nil
		case xmltok.Text:
			if len(s.open) == 0 {
				if !xmltok.IsSpace(t.Text) {
					return nil, s.fail(InvalidSoap, "malformed XML: text outside the root element")
				}
				continue
			}
			s.tok = token{kind: tText, text: t.Text, start: s.base + off, end: s.base + end}
			return &s.tok, nil
		case xmltok.Comment:
			continue
		case xmltok.ProcInst:
			if t.Name.Local == "xml" { // the XML declaration (xmltok allows it only first)
				if enc, ok := xmltok.Pseudo(t.Text, "encoding"); ok && !equalFold(enc, "utf-8") && !(isASCIILabel(enc) && isASCII(s.data)) {
					return nil, s.fail(InvalidContentType, "XML declaration names encoding %q; only UTF-8 is supported (PR-MESS §2.6)", enc)
				}
				continue
			}
			return nil, s.fail(InvalidSoap, "processing instruction <?%s?> not allowed in a SOAP message (SOAP 1.1 §3)", t.Name.Local)
		case xmltok.Directive:
			return nil, s.fail(InvalidSoap, "DTDs and entity declarations are not allowed in a SOAP message (SOAP 1.1 §3)")
		}
	}
}

func (s *scanner) start(t xml.StartElement, off, end int) (*token, error) {
	if s.rootDone {
		return nil, s.fail(InvalidSoap, "malformed XML: second root element <%s>", rawName(t.Name))
	}
	if len(s.open) >= s.maxDepth {
		return nil, s.fail(InvalidSoap, "XML nesting deeper than %d elements", s.maxDepth)
	}
	if len(t.Attr) > maxAttrs {
		return nil, s.fail(InvalidSoap, "element <%s> has more than %d attributes", rawName(t.Name), maxAttrs)
	}
	mark := len(s.ns)
	for _, a := range t.Attr {
		switch {
		case a.Name.Space == "xmlns":
			if a.Value == "" || a.Name.Local == "xmlns" || (a.Name.Local == "xml") != (a.Value == namespaceXML) {
				return nil, s.fail(InvalidSoap, "malformed XML: invalid namespace declaration xmlns:%s=%q", a.Name.Local, a.Value)
			}
			s.ns = append(s.ns, binding{a.Name.Local, a.Value})
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			s.ns = append(s.ns, binding{"", a.Value})
		}
	}
	if len(s.ns) > maxBindings {
		return nil, s.fail(InvalidSoap, "more than %d namespace declarations in scope", maxBindings)
	}
	uri, ok := s.lookup(t.Name.Space, len(s.ns))
	if !ok {
		return nil, s.fail(InvalidSoap, "malformed XML: element <%s> uses an undeclared namespace prefix", rawName(t.Name))
	}
	if err := s.checkAttrs(t); err != nil {
		return nil, err
	}
	s.open = append(s.open, openElem{raw: t.Name, mark: mark})
	s.tok = token{kind: tStart, name: xml.Name{Space: uri, Local: t.Name.Local}, prefix: t.Name.Space, attr: t.Attr,
		start: s.base + off, end: s.base + end, mark: mark}
	return &s.tok, nil
}

// checkAttrs enforces bound attribute prefixes and unique attribute names
// (XML 1.0 §3.1, Namespaces in XML §6.3); encoding/xml checks neither.
func (s *scanner) checkAttrs(t xml.StartElement) error {
	type key struct{ space, local string }
	var small [8]key
	keys := small[:0]
	var seen map[key]bool
	if len(t.Attr) > len(small) {
		seen = make(map[key]bool, len(t.Attr))
	}
	for _, a := range t.Attr {
		var k key
		switch {
		case a.Name.Space == "xmlns":
			k = key{"\x00xmlns:", a.Name.Local}
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			k = key{"\x00xmlns", ""}
		case a.Name.Space == "":
			k = key{"", a.Name.Local}
		default:
			uri, ok := s.lookup(a.Name.Space, len(s.ns))
			if !ok {
				return s.fail(InvalidSoap, "malformed XML: attribute %s of <%s> uses an undeclared namespace prefix", rawName(a.Name), rawName(t.Name))
			}
			k = key{uri, a.Name.Local}
		}
		dup := false
		if seen != nil {
			dup = seen[k]
			seen[k] = true
		} else {
			for _, o := range keys {
				dup = dup || o == k
			}
			keys = append(keys, k)
		}
		if dup {
			return s.fail(InvalidSoap, "malformed XML: duplicate attribute %s on <%s>", rawName(a.Name), rawName(t.Name))
		}
	}
	return nil
}

// skip consumes the rest of the element whose start tag was just returned.
func (s *scanner) skip() (end int, err error) {
	d := len(s.open)
	for {
		t, err := s.next()
		if err != nil {
			return 0, err
		}
		if t.kind == tEnd && len(s.open) < d {
			return t.end, nil
		}
	}
}

func rawName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func isASCIILabel(label string) bool {
	return equalFold(label, "us-ascii") || equalFold(label, "ascii")
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
