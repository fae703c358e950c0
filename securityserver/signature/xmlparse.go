package signature

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/sluz/sluz/internal/c14n"
	"github.com/sluz/sluz/internal/xmltok"

	"github.com/beevik/etree"
)

// parseXML parses a signature document into an etree tree. It replaces
// encoding/xml (through etree's reader), which spends most of Verify's time
// reading the base64 of certificates and OCSP responses byte by byte.
//
// It accepts only the XML a signature document needs and refuses the rest
// as ErrMalformed: an optional UTF-8 BOM and XML declaration, one root
// element with whitespace around it; elements, attributes, text, CDATA
// sections, the five predefined entities and character references. It
// refuses DOCTYPE declarations, comments and processing instructions. It
// checks XML 1.0 well-formedness — names, characters, quoting, matching end
// tags — and applies XML's line-end normalisation everywhere and attribute
// value normalisation (literal tab, CR and LF become spaces; references to
// them stay), so canonical forms come out as the XML recommendation says.
// Namespace rules are the checker's. data must be valid UTF-8.
func parseXML(data []byte) (*etree.Document, error) {
	p := xmlParser{data: data}
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		p.pos = 3 // a UTF-8 byte order mark
	}
	if bytes.HasPrefix(data[p.pos:], []byte("<?xml")) && len(data) > p.pos+5 && isSpaceByte(data[p.pos+5]) {
		end := bytes.Index(data[p.pos:], []byte("?>"))
		if end < 0 {
			return nil, malformed("the XML declaration is not closed")
		}
		decl := string(data[p.pos+5 : p.pos+end])
		if !strings.Contains(decl, "version") {
			return nil, malformed("the XML declaration has no version")
		}
		if err := checkDeclaration(decl); err != nil {
			return nil, err
		}
		p.pos += end + 2
	}
	doc := etree.NewDocument()
	if err := p.misc(); err != nil {
		return nil, err
	}
	if p.pos == len(data) {
		return nil, malformed("the document has no root element")
	}
	if err := p.element(&doc.Element); err != nil {
		return nil, err
	}
	if err := p.misc(); err != nil {
		return nil, err
	}
	if p.pos != len(data) {
		return nil, malformed("the document has more than one root element")
	}
	return doc, nil
}

// checkDeclaration accepts an XML declaration for version 1.0 in UTF-8.
func checkDeclaration(inst string) error {
	if err := c14n.CheckDeclaration(inst); err != nil {
		return malformed("%v", err)
	}
	return nil
}

type xmlParser struct {
	data     []byte
	pos      int
	depth    int
	elements int
	buf      []byte // scratch for decoded text
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *xmlParser) skipSpace() bool {
	start := p.pos
	for p.pos < len(p.data) && isSpaceByte(p.data[p.pos]) {
		p.pos++
	}
	return p.pos > start
}

func (p *xmlParser) has(s string) bool {
	return len(p.data)-p.pos >= len(s) && string(p.data[p.pos:p.pos+len(s)]) == s
}

// misc skips whitespace outside the root element and refuses anything
// else but the root's start tag.
func (p *xmlParser) misc() error {
	p.skipSpace()
	switch {
	case p.pos == len(p.data):
		return nil
	case p.has("<!--"):
		return malformed("the document has a comment")
	case p.has("<?"):
		return malformed("the document has a processing instruction")
	case p.has("<!"):
		return malformed("the document has a DOCTYPE or another <! directive; DTDs and entities are not accepted")
	case p.data[p.pos] != '<':
		return malformed("the document has text outside the root element")
	}
	return nil
}

// element parses one element, starting at its '<', and adds it to parent.
func (p *xmlParser) element(parent *etree.Element) error {
	p.depth++
	if p.depth > maxDepth {
		return malformed("the document nests elements more than %d deep", maxDepth)
	}
	if p.elements++; p.elements > maxElements {
		return malformed("the document has more than %d elements", maxElements)
	}
	p.pos++
	prefix, local, err := p.qname()
	if err != nil {
		return err
	}
	el := etree.NewElement(local)
	el.Space = prefix
	parent.AddChild(el)
	for {
		sawSpace := p.skipSpace()
		if p.pos == len(p.data) {
			return malformed("the start tag of <%s> is not closed", el.FullTag())
		}
		switch p.data[p.pos] {
		case '>':
			p.pos++
			return p.content(el)
		case '/':
			if !p.has("/>") {
				return malformed("<%s> has a stray /", el.FullTag())
			}
			p.pos += 2
			p.depth--
			return nil
		}
		if !sawSpace {
			return malformed("the attributes of <%s> are not separated by whitespace", el.FullTag())
		}
		aprefix, alocal, err := p.qname()
		if err != nil {
			return err
		}
		p.skipSpace()
		if !p.has("=") {
			return malformed("attribute %s of <%s> has no value", alocal, el.FullTag())
		}
		p.pos++
		p.skipSpace()
		if p.pos == len(p.data) || (p.data[p.pos] != '"' && p.data[p.pos] != '\'') {
			return malformed("attribute %s of <%s> is not quoted", alocal, el.FullTag())
		}
		quote := p.data[p.pos]
		p.pos++
		value, err := p.text(quote, true)
		if err != nil {
			return err
		}
		p.pos++ // the closing quote
		el.Attr = append(el.Attr, etree.Attr{Space: aprefix, Key: alocal, Value: value})
	}
}

// content parses the content of el up to and including its end tag.
func (p *xmlParser) content(el *etree.Element) error {
	for {
		if p.pos == len(p.data) {
			return malformed("<%s> is not closed", el.FullTag())
		}
		if p.data[p.pos] != '<' {
			s, err := p.text('<', false)
			if err != nil {
				return err
			}
			el.AddChild(etree.NewText(s))
			continue
		}
		switch {
		case p.has("</"):
			p.pos += 2
			prefix, local, err := p.qname()
			if err != nil {
				return err
			}
			if prefix != el.Space || local != el.Tag {
				return malformed("<%s> is closed by </%s>", el.FullTag(), qualified(prefix, local))
			}
			p.skipSpace()
			if !p.has(">") {
				return malformed("the end tag of <%s> is not closed", el.FullTag())
			}
			p.pos++
			p.depth--
			return nil
		case p.has("<![CDATA["):
			p.pos += len("<![CDATA[")
			end := bytes.Index(p.data[p.pos:], []byte("]]>"))
			if end < 0 {
				return malformed("a CDATA section in <%s> is not closed", el.FullTag())
			}
			raw := p.data[p.pos : p.pos+end]
			if err := checkChars(raw); err != nil {
				return err
			}
			p.buf = xmltok.AppendNormalizedLines(p.buf[:0], raw)
			el.AddChild(etree.NewText(string(p.buf)))
			p.pos += end + 3
		case p.has("<!--"):
			return malformed("<%s> contains a comment", el.FullTag())
		case p.has("<?"):
			return malformed("<%s> contains a processing instruction", el.FullTag())
		case p.has("<!"):
			return malformed("<%s> contains a directive", el.FullTag())
		default:
			if err := p.element(el); err != nil {
				return err
			}
		}
	}
}

func qualified(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

// qname reads a name of the form NCName or NCName:NCName.
func (p *xmlParser) qname() (prefix, local string, err error) {
	first, err := p.ncname()
	if err != nil {
		return "", "", err
	}
	if !p.has(":") {
		return "", first, nil
	}
	p.pos++
	second, err := p.ncname()
	if err != nil {
		return "", "", err
	}
	if p.has(":") {
		return "", "", malformed("the name %s:%s: has more than one colon", first, second)
	}
	return first, second, nil
}

// ncname reads an XML Name without colons.
func (p *xmlParser) ncname() (string, error) {
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c < utf8.RuneSelf {
			if !xmltok.IsNameByte(c, p.pos == start) {
				break
			}
			p.pos++
			continue
		}
		r, size := utf8.DecodeRune(p.data[p.pos:])
		if !xmltok.IsNameRune(r, p.pos == start) {
			break
		}
		p.pos += size
	}
	if p.pos == start {
		if p.pos == len(p.data) {
			return "", malformed("the document ends inside a tag")
		}
		return "", malformed("a name is expected at byte %d", p.pos)
	}
	if s, ok := knownNames[string(p.data[start:p.pos])]; ok {
		return s, nil // no allocation for the names every signature has
	}
	return string(p.data[start:p.pos]), nil
}

// knownNames are the prefixes and local names of X-Road signatures.
var knownNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"asic", "ds", "xades", "xsi", "xmlns", "XAdESSignatures", "Signature", "SignedInfo",
		"CanonicalizationMethod", "SignatureMethod", "Reference", "Transforms", "Transform",
		"DigestMethod", "DigestValue", "SignatureValue", "KeyInfo", "X509Data", "X509Certificate",
		"Object", "QualifyingProperties", "SignedProperties", "SignedSignatureProperties",
		"SigningTime", "SigningCertificate", "SigningCertificateV2", "Cert", "CertDigest",
		"IssuerSerial", "IssuerSerialV2", "X509IssuerName", "X509SerialNumber",
		"SignaturePolicyIdentifier", "SignaturePolicyId", "SigPolicyId", "Identifier",
		"Description", "SigPolicyHash", "SigPolicyQualifiers", "SigPolicyQualifier", "SPURI",
		"SignedDataObjectProperties", "DataObjectFormat", "MimeType", "UnsignedProperties",
		"UnsignedSignatureProperties", "CompleteCertificateRefs", "CertRefs", "CertificateValues",
		"EncapsulatedX509Certificate", "RevocationValues", "OCSPValues", "EncapsulatedOCSPValue",
		"SignatureTimeStamp", "EncapsulatedTimeStamp",
		"Id", "URI", "Type", "Algorithm", "Target", "Qualifier", "ObjectReference",
	} {
		m[n] = n
	}
	return m
}()

// text reads character data up to (not including) end — '<' in content,
// the quote in an attribute value — resolving references and normalising
// line ends (and, in attributes, whitespace).
func (p *xmlParser) text(end byte, attr bool) (string, error) {
	start := p.pos
	stop := bytes.IndexByte(p.data[start:], end)
	if stop < 0 {
		if attr {
			return "", malformed("an attribute value is not closed")
		}
		stop = len(p.data) - start
	}
	raw := p.data[start : start+stop]
	if err := checkChars(raw); err != nil {
		return "", err
	}
	if attr && bytes.IndexByte(raw, '<') >= 0 {
		return "", malformed("an attribute value contains <")
	}
	if !attr && bytes.Contains(raw, []byte("]]>")) {
		return "", malformed("text contains ]]>")
	}
	p.pos = start + stop
	special := "&\r"
	if attr {
		special = "&\r\n\t"
	}
	if bytes.IndexAny(raw, special) < 0 {
		return string(raw), nil
	}
	b := p.buf[:0]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '&':
			semi := bytes.IndexByte(raw[i:], ';')
			if semi < 0 {
				return "", malformed("an & is not the start of a reference")
			}
			var err error
			if b, err = appendReference(b, string(raw[i+1:i+semi])); err != nil {
				return "", err
			}
			i += semi
		case c == '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			b = append(b, lineEnd(attr))
		case c == '\n':
			b = append(b, lineEnd(attr))
		case c == '\t' && attr:
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	p.buf = b
	return string(b), nil
}

// lineEnd is what a line end becomes: LF in text, a space in attribute
// values (XML 1.0 §2.11, §3.3.3).
func lineEnd(attr bool) byte {
	if attr {
		return ' '
	}
	return '\n'
}

// appendReference appends what &ref; stands for.
func appendReference(b []byte, ref string) ([]byte, error) {
	b, err := xmltok.AppendReference(b, []byte(ref))
	if err != nil {
		return nil, malformed("%v", err)
	}
	return b, nil
}

// checkChars refuses the characters XML 1.0 does not allow in a document.
func checkChars(raw []byte) error {
	if err := xmltok.CheckChars(raw); err != nil {
		return malformed("the document contains %v", err)
	}
	return nil
}
