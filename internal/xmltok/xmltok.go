// Package xmltok is a strict, fast XML 1.0 tokenizer over a byte slice, for
// messages that are read once and never re-serialised: it returns element
// boundaries, attributes and text with their byte offsets, and leaves tag
// matching and namespaces to its caller (like encoding/xml's RawToken, whose
// tokens and offsets it reproduces, at several times the speed and without
// an allocation per token).
//
// It checks what a tokenizer can: names, quoting, references (the five
// predefined entities and character references; no other entity exists
// without a DTD), the characters XML allows, "--" in comments, "]]>" in
// text, and that the XML declaration, if any, comes first. Line ends in text
// and attribute values are normalised to LF (XML 1.0 §2.11); attribute
// values are returned without attribute-value normalisation, as encoding/xml
// does. Input must be UTF-8; an initial byte order mark is skipped.
package xmltok

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Kind is what a token is.
type Kind int

const (
	EOF Kind = iota
	StartElement
	EndElement
	Text      // character data or a CDATA section
	Comment   // Text holds the comment's content
	ProcInst  // Name.Local holds the target, Text the instruction
	Directive // <!DOCTYPE ...> and other <! markup; Text holds it
)

// Token is one piece of the document. Attr and Text are valid until the
// next call to Next.
type Token struct {
	Kind Kind
	Name xml.Name   // as written: Space is the prefix
	Attr []xml.Attr // as written: Name.Space is the prefix
	Text []byte
	// Start and End are the token's byte offsets in the input. The end
	// tag of an empty-element tag (<a/>) has Start == End, after it.
	Start, End int
}

// SyntaxError is a well-formedness error at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s (at byte %d)", e.Msg, e.Offset) }

// Tokenizer reads tokens from a byte slice. The zero value is ready after Reset.
type Tokenizer struct {
	data      []byte
	opts      Options
	pos       int
	pendEnd   bool // an empty-element tag's end is due
	pendName  xml.Name
	started   bool // past the XML declaration's position
	attr      []xml.Attr
	buf       []byte // resolved text
	abuf      []byte // resolved attribute value
	attrStore [8]xml.Attr
	names     map[string]string // names seen before, kept across Reset (see name)
}

// Options change how a Tokenizer reads.
type Options struct {
	// NormalizeAttributes applies XML's attribute-value normalisation
	// (§3.3.3, for attributes of type CDATA: every literal tab, line end
	// and CR LF pair becomes one space; characters written as references
	// stay), as canonicalisation (C14N) requires. Off, values keep their
	// tabs and line feeds, as encoding/xml returns them.
	NormalizeAttributes bool
}

// Reset prepares t to read data.
func (t *Tokenizer) Reset(data []byte) { t.ResetWith(data, Options{}) }

// ResetWith prepares t to read data with the given options.
func (t *Tokenizer) ResetWith(data []byte, o Options) {
	*t = Tokenizer{data: data, opts: o, buf: t.buf[:0], abuf: t.abuf[:0], names: t.names}
	t.attr = t.attrStore[:0]
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		t.pos = 3
	}
}

// Offset is the offset of the next byte to read.
func (t *Tokenizer) Offset() int { return t.pos }

func (t *Tokenizer) errorf(at int, format string, a ...any) error {
	return &SyntaxError{Offset: at, Msg: fmt.Sprintf(format, a...)}
}

func (t *Tokenizer) has(s string) bool {
	return len(t.data)-t.pos >= len(s) && string(t.data[t.pos:t.pos+len(s)]) == s
}

// Next returns the next token; Kind EOF at the end of the input.
func (t *Tokenizer) Next() (Token, error) {
	if t.pendEnd {
		t.pendEnd = false
		return Token{Kind: EndElement, Name: t.pendName, Start: t.pos, End: t.pos}, nil
	}
	start := t.pos
	first := !t.started
	t.started = true
	if t.pos == len(t.data) {
		return Token{Kind: EOF, Start: start, End: start}, nil
	}
	if t.data[t.pos] != '<' {
		return t.text(start)
	}
	switch {
	case t.has("</"):
		return t.endTag(start)
	case t.has("<?"):
		return t.procInst(start, first)
	case t.has("<!--"):
		return t.comment(start)
	case t.has("<![CDATA["):
		return t.cdata(start)
	case t.has("<!"):
		return t.directive(start)
	}
	return t.startTag(start)
}

func (t *Tokenizer) startTag(start int) (Token, error) {
	t.pos++
	name, err := t.qname()
	if err != nil {
		return Token{}, err
	}
	t.attr = t.attr[:0]
	for {
		sawSpace := t.skipSpace()
		if t.pos == len(t.data) {
			return Token{}, t.errorf(start, "the start tag of <%s> is not closed", qualified(name))
		}
		switch t.data[t.pos] {
		case '>':
			t.pos++
			return Token{Kind: StartElement, Name: name, Attr: t.attr, Start: start, End: t.pos}, nil
		case '/':
			if !t.has("/>") {
				return Token{}, t.errorf(t.pos, "<%s> has a stray /", qualified(name))
			}
			t.pos += 2
			t.pendEnd, t.pendName = true, name
			return Token{Kind: StartElement, Name: name, Attr: t.attr, Start: start, End: t.pos}, nil
		}
		if !sawSpace {
			return Token{}, t.errorf(t.pos, "the attributes of <%s> are not separated by whitespace", qualified(name))
		}
		aname, err := t.qname()
		if err != nil {
			return Token{}, err
		}
		t.skipSpace()
		if !t.has("=") {
			return Token{}, t.errorf(t.pos, "attribute %s of <%s> has no value", qualified(aname), qualified(name))
		}
		t.pos++
		t.skipSpace()
		if t.pos == len(t.data) || (t.data[t.pos] != '"' && t.data[t.pos] != '\'') {
			return Token{}, t.errorf(t.pos, "attribute %s of <%s> is not quoted", qualified(aname), qualified(name))
		}
		quote := t.data[t.pos]
		t.pos++
		vstart := t.pos
		stop := bytes.IndexByte(t.data[vstart:], quote)
		if stop < 0 {
			return Token{}, t.errorf(vstart, "the value of attribute %s of <%s> is not closed", qualified(aname), qualified(name))
		}
		raw := t.data[vstart : vstart+stop]
		if i := bytes.IndexByte(raw, '<'); i >= 0 {
			return Token{}, t.errorf(vstart+i, "the value of attribute %s of <%s> contains <", qualified(aname), qualified(name))
		}
		value, err := t.resolve(&t.abuf, raw, vstart, t.opts.NormalizeAttributes)
		if err != nil {
			return Token{}, err
		}
		t.pos = vstart + stop + 1
		var v string
		if aname.Space == "xmlns" || aname.Space == "" && aname.Local == "xmlns" {
			v = t.name(value) // a namespace URI: the same in every message of a service
		} else {
			v = intern(value)
		}
		t.attr = append(t.attr, xml.Attr{Name: aname, Value: v})
	}
}

func (t *Tokenizer) endTag(start int) (Token, error) {
	t.pos += 2
	name, err := t.qname()
	if err != nil {
		return Token{}, err
	}
	t.skipSpace()
	if !t.has(">") {
		return Token{}, t.errorf(t.pos, "the end tag </%s> is not closed", qualified(name))
	}
	t.pos++
	return Token{Kind: EndElement, Name: name, Start: start, End: t.pos}, nil
}

func (t *Tokenizer) text(start int) (Token, error) {
	stop := bytes.IndexByte(t.data[start:], '<')
	if stop < 0 {
		stop = len(t.data) - start
	}
	raw := t.data[start : start+stop]
	if i := bytes.Index(raw, []byte("]]>")); i >= 0 {
		return Token{}, t.errorf(start+i, "text contains ]]>")
	}
	text, err := t.resolve(&t.buf, raw, start, false)
	if err != nil {
		return Token{}, err
	}
	t.pos = start + stop
	return Token{Kind: Text, Text: text, Start: start, End: t.pos}, nil
}

func (t *Tokenizer) cdata(start int) (Token, error) {
	t.pos += len("<![CDATA[")
	end := bytes.Index(t.data[t.pos:], []byte("]]>"))
	if end < 0 {
		return Token{}, t.errorf(start, "a CDATA section is not closed")
	}
	raw := t.data[t.pos : t.pos+end]
	if err := t.checkChars(raw, t.pos); err != nil {
		return Token{}, err
	}
	t.buf = AppendNormalizedLines(t.buf[:0], raw)
	t.pos += end + 3
	return Token{Kind: Text, Text: t.buf, Start: start, End: t.pos}, nil
}

func (t *Tokenizer) comment(start int) (Token, error) {
	t.pos += len("<!--")
	end := bytes.Index(t.data[t.pos:], []byte("--"))
	if end < 0 {
		return Token{}, t.errorf(start, "a comment is not closed")
	}
	body := t.data[t.pos : t.pos+end]
	if t.pos+end+2 >= len(t.data) || t.data[t.pos+end+2] != '>' {
		return Token{}, t.errorf(t.pos+end, "-- inside a comment")
	}
	if err := t.checkChars(body, t.pos); err != nil {
		return Token{}, err
	}
	t.pos += end + 3
	return Token{Kind: Comment, Text: body, Start: start, End: t.pos}, nil
}

func (t *Tokenizer) procInst(start int, first bool) (Token, error) {
	t.pos += 2
	name, err := t.qname()
	if err != nil {
		return Token{}, err
	}
	if name.Space != "" {
		return Token{}, t.errorf(start, "processing instruction target %s has a colon", qualified(name))
	}
	end := bytes.Index(t.data[t.pos:], []byte("?>"))
	if end < 0 {
		return Token{}, t.errorf(start, "processing instruction <?%s is not closed", name.Local)
	}
	inst := t.data[t.pos : t.pos+end]
	if len(inst) > 0 && !isSpaceByte(inst[0]) {
		return Token{}, t.errorf(t.pos, "processing instruction <?%s has no space after its target", name.Local)
	}
	if err := t.checkChars(inst, t.pos); err != nil {
		return Token{}, err
	}
	inst = bytes.TrimLeft(inst, " \t\r\n")
	if equalFoldASCII(name.Local, "xml") {
		if name.Local != "xml" || !first {
			return Token{}, t.errorf(start, "the XML declaration must come first, written <?xml")
		}
		if v, ok := Pseudo(inst, "version"); !ok || v != "1.0" {
			return Token{}, t.errorf(start, "the XML declaration must say version=\"1.0\"")
		}
	}
	t.pos += end + 2
	return Token{Kind: ProcInst, Name: name, Text: inst, Start: start, End: t.pos}, nil
}

func (t *Tokenizer) directive(start int) (Token, error) {
	// Directives are refused by every caller; find the end roughly (a '>'
	// outside quotes) so the caller can name it.
	t.pos += 2
	var quote byte
	depth := 0
	for ; t.pos < len(t.data); t.pos++ {
		c := t.data[t.pos]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '<':
			depth++
		case c == '>' && depth > 0:
			depth--
		case c == '>':
			t.pos++
			return Token{Kind: Directive, Text: t.data[start+2 : t.pos-1], Start: start, End: t.pos}, nil
		}
	}
	return Token{}, t.errorf(start, "a <! directive is not closed")
}

// Pseudo returns the value of a pseudo-attribute (version, encoding,
// standalone) of an XML declaration's instruction.
func Pseudo(inst []byte, name string) (string, bool) {
	for len(inst) > 0 {
		inst = bytes.TrimLeft(inst, " \t\r\n")
		eq := bytes.IndexByte(inst, '=')
		if eq < 0 {
			return "", false
		}
		key := string(bytes.TrimRight(inst[:eq], " \t\r\n"))
		rest := bytes.TrimLeft(inst[eq+1:], " \t\r\n")
		if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
			return "", false
		}
		end := bytes.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return "", false
		}
		if key == name {
			return string(rest[1 : 1+end]), true
		}
		inst = rest[end+2:]
	}
	return "", false
}

func (t *Tokenizer) skipSpace() bool {
	start := t.pos
	for t.pos < len(t.data) && isSpaceByte(t.data[t.pos]) {
		t.pos++
	}
	return t.pos > start
}

// qname reads Name or Prefix:Local.
func (t *Tokenizer) qname() (xml.Name, error) {
	first, err := t.ncname()
	if err != nil {
		return xml.Name{}, err
	}
	if !t.has(":") {
		return xml.Name{Local: first}, nil
	}
	t.pos++
	second, err := t.ncname()
	if err != nil {
		return xml.Name{}, err
	}
	if t.has(":") {
		return xml.Name{}, t.errorf(t.pos, "the name %s:%s: has more than one colon", first, second)
	}
	return xml.Name{Space: first, Local: second}, nil
}

func (t *Tokenizer) ncname() (string, error) {
	start := t.pos
	for t.pos < len(t.data) {
		c := t.data[t.pos]
		if c < utf8.RuneSelf {
			if !IsNameByte(c, t.pos == start) {
				break
			}
			t.pos++
			continue
		}
		r, size := utf8.DecodeRune(t.data[t.pos:])
		if r == utf8.RuneError || !IsNameRune(r, t.pos == start) {
			break
		}
		t.pos += size
	}
	if t.pos == start {
		if t.pos == len(t.data) {
			return "", t.errorf(t.pos, "the document ends inside a tag")
		}
		return "", t.errorf(t.pos, "a name is expected")
	}
	return t.name(t.data[start:t.pos]), nil
}

// Bounds of a Tokenizer's cache of names that intern does not know (a
// service's own element names and namespaces, read again in every
// message when the Tokenizer is reused).
const (
	maxNames   = 256
	maxNameLen = 128
)

// name returns b as a string: one intern knows, or the copy this
// Tokenizer made when it read b before, so that a reused Tokenizer
// allocates a service's own names once rather than in every message.
func (t *Tokenizer) name(b []byte) string {
	if s, ok := lookupKnown(b); ok {
		return s
	}
	if len(b) > maxNameLen {
		return string(b)
	}
	if s, ok := t.names[string(b)]; ok {
		return s
	}
	if t.names == nil || len(t.names) >= maxNames {
		t.names = make(map[string]string, 32) // full: start again, bounded whatever the input
	}
	s := string(b)
	t.names[s] = s
	return s
}

// resolve returns raw with references resolved and line ends normalised
// (spaces: every tab and line end becomes a space), after checking its
// characters: raw itself when nothing changes, else the result built in
// *buf.
func (t *Tokenizer) resolve(buf *[]byte, raw []byte, at int, spaces bool) ([]byte, error) {
	if err := t.checkChars(raw, at); err != nil {
		return nil, err
	}
	special := "&\r"
	if spaces {
		special = "&\r\n\t"
	}
	if bytes.IndexAny(raw, special) < 0 {
		return raw, nil
	}
	lineEnd := byte('\n')
	if spaces {
		lineEnd = ' '
	}
	b := (*buf)[:0]
	defer func() { *buf = b[:0] }()
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '&':
			semi := bytes.IndexByte(raw[i:], ';')
			if semi < 0 {
				return nil, t.errorf(at+i, "an & is not the start of a reference")
			}
			var err error
			if b, err = AppendReference(b, raw[i+1:i+semi]); err != nil {
				return nil, t.errorf(at+i, "%v", err)
			}
			i += semi
		case '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			b = append(b, lineEnd)
		case '\n', '\t':
			if spaces {
				c = ' '
			}
			b = append(b, c)
		default:
			b = append(b, c)
		}
	}
	return b, nil
}

func (t *Tokenizer) checkChars(raw []byte, at int) error {
	if err := CheckChars(raw); err != nil {
		return &SyntaxError{Offset: at, Msg: err.Error()}
	}
	return nil
}

// CheckChars refuses invalid UTF-8 and the characters XML 1.0 does not
// allow in a document.
func CheckChars(raw []byte) error {
	for i := 0; i < len(raw); {
		// Fast path: eight printable ASCII bytes (0x20..0x7F) at a time,
		// which is most of a message and all of base64.
		if i+8 <= len(raw) {
			w := binary.LittleEndian.Uint64(raw[i:])
			if w&0x8080808080808080 == 0 && (w-0x2020202020202020)&^w&0x8080808080808080 == 0 {
				i += 8
				continue
			}
		}
		c := raw[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return fmt.Errorf("the control character %#x is not allowed in XML", c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("invalid UTF-8")
		}
		if !IsXMLChar(r) {
			return fmt.Errorf("the character %U is not allowed in XML", r)
		}
		i += size
	}
	return nil
}

// AppendReference appends what &ref; stands for: one of the five
// predefined entities or a character reference.
func AppendReference(b, ref []byte) ([]byte, error) {
	switch string(ref) {
	case "lt":
		return append(b, '<'), nil
	case "gt":
		return append(b, '>'), nil
	case "amp":
		return append(b, '&'), nil
	case "apos":
		return append(b, '\''), nil
	case "quot":
		return append(b, '"'), nil
	}
	if len(ref) < 2 || ref[0] != '#' {
		return nil, fmt.Errorf("the entity &%s; is not one of XML's five; entities are not accepted", ref)
	}
	var n uint64
	var err error
	if ref[1] == 'x' {
		n, err = strconv.ParseUint(string(ref[2:]), 16, 32)
	} else {
		n, err = strconv.ParseUint(string(ref[1:]), 10, 32)
	}
	r := rune(n)
	if err != nil || !IsXMLChar(r) {
		return nil, fmt.Errorf("the character reference &%s; is not a valid XML character", ref)
	}
	return utf8.AppendRune(b, r), nil
}

// IsXMLChar reports whether r is an XML 1.0 Char.
func IsXMLChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || 0x20 <= r && r <= 0xD7FF ||
		0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF
}

// AppendNormalizedLines appends raw with CRLF and lone CR turned into LF.
func AppendNormalizedLines(b, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '\r':
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
			b = append(b, '\n')
		default:
			b = append(b, c)
		}
	}
	return b
}

// IsNameByte reports whether the ASCII byte c may start (first) or continue
// an XML name without colons.
func IsNameByte(c byte, first bool) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		return true
	case '0' <= c && c <= '9', c == '-', c == '.':
		return !first
	}
	return false
}

// IsNameRune reports whether a non-ASCII r is a NameStartChar (first) or
// NameChar (XML 1.0 fifth edition, productions [4] and [4a]).
func IsNameRune(r rune, first bool) bool {
	switch {
	case 0xC0 <= r && r <= 0xD6, 0xD8 <= r && r <= 0xF6, 0xF8 <= r && r <= 0x2FF,
		0x370 <= r && r <= 0x37D, 0x37F <= r && r <= 0x1FFF, 0x200C <= r && r <= 0x200D,
		0x2070 <= r && r <= 0x218F, 0x2C00 <= r && r <= 0x2FEF, 0x3001 <= r && r <= 0xD7FF,
		0xF900 <= r && r <= 0xFDCF, 0xFDF0 <= r && r <= 0xFFFD, 0x10000 <= r && r <= 0xEFFFF:
		return true
	case r == 0xB7, 0x300 <= r && r <= 0x36F, 0x203F <= r && r <= 0x2040:
		return !first
	}
	return false
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func qualified(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y {
			return false
		}
	}
	return true
}

// IsSpace reports whether s is XML white space only (XML 1.0 §2.3 S).
func IsSpace[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if !isSpaceByte(s[i]) {
			return false
		}
	}
	return true
}
