package xmldsig

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/c14n"
	"github.com/sluz/sluz/internal/xmltok"
)

// Options bound and shape what Read accepts.
type Options struct {
	// MaxBytes, MaxDepth and MaxElements bound the document, its element
	// nesting and its number of elements; 0 is no bound.
	MaxBytes, MaxDepth, MaxElements int
	// PlainText requires every text and attribute value to be text that
	// survives being written by a serialiser that escapes only markup
	// (CheckPlainText: no CR, no control characters; no tab or line feed
	// in attribute values). Attribute values are then read as written;
	// without it they get XML's attribute-value normalisation, as C14N
	// requires. Documents serialised through etree's writer need it.
	PlainText bool
}

// Document is a document Read accepted. Its tree is etree's, built from
// xmltok tokens; treat it as read-only: the signature covers its bytes.
type Document struct {
	// Root is the root element; its parents lead to no other element.
	Root *etree.Element
	ids  idIndex
}

// ByID returns the element whose unprefixed Id attribute is id. Ids are
// unique in a document Read accepted (any attribute named Id, ID or id, in
// any namespace), so the answer is the only candidate; x:Id, ID and id do
// not make an element found.
func (d *Document) ByID(id string) (*etree.Element, bool) {
	return d.ids.lookup(id)
}

// Read parses data strictly and returns its tree. It accepts UTF-8 only,
// an optional BOM and XML declaration (version 1.0, UTF-8), one root
// element with white space around it, elements, attributes, text, CDATA
// sections, the five predefined entities and character references. It
// refuses, as ErrMalformed: DTDs and other <! directives, comments,
// processing instructions, text beside child elements unless it is white
// space, undeclared or reserved prefixes, xmlns:p="", a prefix declared
// twice on one element, xml:* attributes, an attribute twice (by namespace
// URI and local name, whatever the prefixes), and an Id value twice (any
// attribute named Id, ID or id: other tools resolve each of them, so a
// second one is a wrapping attack).
func Read(data []byte, o Options) (*Document, error) {
	if o.MaxBytes > 0 && len(data) > o.MaxBytes {
		return nil, malformed("the document has %d bytes, more than the %d accepted", len(data), o.MaxBytes)
	}
	if !utf8.Valid(data) {
		return nil, malformed("the document is not valid UTF-8")
	}
	r := readers.Get().(*reader)
	defer r.release()
	r.opts, r.elements, r.ids = o, 0, idIndex{}
	r.open, r.scope = r.open[:0], r.scope[:0]
	r.tok.ResetWith(data, xmltok.Options{NormalizeAttributes: !o.PlainText})
	return r.read()
}

// readers keep their stacks and the tokenizer's buffers from one document
// to the next: signature verification is on the security server's hot
// path.
var readers = sync.Pool{New: func() any { return new(reader) }}

// release returns r to the pool without the document and tree it read.
func (r *reader) release() {
	clear(r.open[:cap(r.open)])
	clear(r.scope[:cap(r.scope)])
	r.tok.Reset(nil)
	readers.Put(r)
}

// frame is an open element.
type frame struct {
	el        *etree.Element
	scopeMark int  // len(reader.scope) before its declarations
	elements  bool // it has a child element
	text      bool // it has text other than white space
}

type reader struct {
	opts     Options
	tok      xmltok.Tokenizer
	open     []frame
	scope    []c14n.Binding
	ids      idIndex
	elements int
}

func (r *reader) read() (*Document, error) {
	doc := etree.NewDocument()
	var root *etree.Element
	for {
		tok, err := r.tok.Next()
		if err != nil {
			return nil, malformedCause(err, "the document is not well-formed XML")
		}
		switch tok.Kind {
		case xmltok.EOF:
			if len(r.open) > 0 {
				return nil, malformed("<%s> is not closed", r.open[len(r.open)-1].el.FullTag())
			}
			if root == nil {
				return nil, malformed("the document has no root element")
			}
			doc := &Document{Root: root, ids: r.ids}
			r.ids = idIndex{}
			return doc, nil
		case xmltok.StartElement:
			if root != nil && len(r.open) == 0 {
				return nil, malformed("the document has more than one root element")
			}
			el, err := r.start(tok)
			if err != nil {
				return nil, err
			}
			if len(r.open) == 1 {
				doc.AddChild(el)
				root = el
			}
		case xmltok.EndElement:
			if err := r.end(tok); err != nil {
				return nil, err
			}
		case xmltok.Text:
			if err := r.text(tok.Text); err != nil {
				return nil, err
			}
		case xmltok.Comment:
			return nil, malformed("the document has a comment; comments are not accepted (C14N would drop it from what is signed)")
		case xmltok.ProcInst:
			if tok.Name.Local == "xml" { // xmltok allows it only first, with version 1.0
				if err := checkDeclaration(string(tok.Text)); err != nil {
					return nil, malformedCause(err, "the XML declaration is not accepted")
				}
				continue
			}
			return nil, malformed("the document has the processing instruction <?%s?>; processing instructions are not accepted", tok.Name.Local)
		case xmltok.Directive:
			return nil, malformed("the document has a DOCTYPE or another <! directive; DTDs and entities are not accepted")
		}
	}
}

// start opens an element: its namespace declarations, its name, its
// attributes, its Ids.
func (r *reader) start(tok xmltok.Token) (*etree.Element, error) {
	if r.opts.MaxDepth > 0 && len(r.open) >= r.opts.MaxDepth {
		return nil, malformed("the document nests elements more than %d deep", r.opts.MaxDepth)
	}
	if r.elements++; r.opts.MaxElements > 0 && r.elements > r.opts.MaxElements {
		return nil, malformed("the document has more than %d elements", r.opts.MaxElements)
	}
	el := etree.NewElement(tok.Name.Local)
	el.Space = tok.Name.Space
	if n := len(r.open); n > 0 {
		parent := &r.open[n-1]
		if parent.text {
			return nil, malformed("<%s> mixes text and elements", parent.el.FullTag())
		}
		parent.elements = true
		parent.el.AddChild(el)
	}
	mark := len(r.scope)
	for _, a := range tok.Attr {
		p, ok := declaredPrefix(a.Name.Space, a.Name.Local)
		if !ok {
			continue
		}
		switch {
		case p == "xml" || p == "xmlns":
			return nil, malformed("<%s> declares the reserved prefix %s", el.FullTag(), p)
		case p != "" && a.Value == "":
			return nil, malformed("<%s> undeclares prefix %s, which XML 1.0 does not allow", el.FullTag(), p)
		case c14n.HasPrefix(r.scope[mark:], p):
			return nil, malformed("<%s> declares prefix %q twice", el.FullTag(), p)
		}
		r.scope = append(r.scope, c14n.Binding{Prefix: p, URI: a.Value})
	}
	switch el.Space {
	case "":
	case "xml", "xmlns":
		return nil, malformed("element <%s> uses a reserved prefix", el.FullTag())
	default:
		if _, ok := c14n.Lookup(r.scope, el.Space); !ok {
			return nil, malformed("element <%s> uses the undeclared prefix %s", el.FullTag(), el.Space)
		}
	}
	for i, a := range tok.Attr {
		if r.opts.PlainText {
			if err := CheckPlainText("attribute "+qualified(a.Name.Space, a.Name.Local), a.Value, false); err != nil {
				return nil, malformedCause(err, "<%s>", el.FullTag())
			}
		}
		if _, ok := declaredPrefix(a.Name.Space, a.Name.Local); ok {
			el.Attr = append(el.Attr, etree.Attr{Space: a.Name.Space, Key: a.Name.Local, Value: a.Value})
			continue
		}
		uri, err := r.attrURI(el, a.Name.Space, a.Name.Local)
		if err != nil {
			return nil, err
		}
		for _, b := range tok.Attr[:i] {
			if _, ok := declaredPrefix(b.Name.Space, b.Name.Local); ok || b.Name.Local != a.Name.Local {
				continue
			}
			if buri, _ := r.attrURI(el, b.Name.Space, b.Name.Local); buri == uri {
				return nil, malformed("<%s> repeats the attribute %s", el.FullTag(), qualified(a.Name.Space, a.Name.Local))
			}
		}
		if a.Name.Local == "Id" || a.Name.Local == "ID" || a.Name.Local == "id" {
			if !r.ids.add(a.Value, el, a.Name.Space == "" && a.Name.Local == "Id") {
				return nil, malformed("the Id %q appears twice; duplicate Ids are refused (signature wrapping)", a.Value)
			}
		}
		if a.Name.Space == "" {
			el.Attr = append(el.Attr, etree.Attr{Key: a.Name.Local, Value: a.Value})
		} else {
			// CreateAttr records the element, which etree's
			// Attr.NamespaceURI needs; duplicates were refused above.
			el.CreateAttr(a.Name.Space+":"+a.Name.Local, a.Value)
		}
	}
	r.open = append(r.open, frame{el: el, scopeMark: mark})
	return el, nil
}

func (r *reader) attrURI(el *etree.Element, prefix, local string) (string, error) {
	switch prefix {
	case "":
		return "", nil
	case "xml":
		return "", malformed("<%s> has the attribute xml:%s; xml:* attributes are not accepted", el.FullTag(), local)
	}
	uri, ok := c14n.Lookup(r.scope, prefix)
	if !ok {
		return "", malformed("attribute %s:%s of <%s> uses an undeclared prefix", prefix, local, el.FullTag())
	}
	return uri, nil
}

func (r *reader) end(tok xmltok.Token) error {
	if len(r.open) == 0 {
		return malformed("the end tag </%s> closes nothing", qualified(tok.Name.Space, tok.Name.Local))
	}
	f := r.open[len(r.open)-1]
	if tok.Name.Space != f.el.Space || tok.Name.Local != f.el.Tag {
		return malformed("<%s> is closed by </%s>", f.el.FullTag(), qualified(tok.Name.Space, tok.Name.Local))
	}
	r.scope = r.scope[:f.scopeMark]
	r.open = r.open[:len(r.open)-1]
	return nil
}

func (r *reader) text(text []byte) error {
	if len(r.open) == 0 {
		if !xmltok.IsSpace(text) {
			return malformed("the document has text outside the root element")
		}
		return nil
	}
	f := &r.open[len(r.open)-1]
	if !xmltok.IsSpace(text) {
		if f.elements {
			return malformed("<%s> mixes text and elements", f.el.FullTag())
		}
		f.text = true
	}
	s := string(text)
	if r.opts.PlainText {
		if err := CheckPlainText("the text", s, true); err != nil {
			return malformedCause(err, "<%s>", f.el.FullTag())
		}
	}
	f.el.AddChild(etree.NewText(s))
	return nil
}

// declaredPrefix reports whether the attribute prefix:local is a namespace
// declaration and which prefix it binds ("" for the default namespace).
func declaredPrefix(prefix, local string) (string, bool) {
	switch {
	case prefix == "xmlns":
		return local, true
	case prefix == "" && local == "xmlns":
		return "", true
	}
	return "", false
}

func qualified(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

// idIndex holds the Id values of a document: a slice while small (a
// signature has about ten), a map beyond.
type idIndex struct {
	list []idEntry
	m    map[string]idEntry
}

type idEntry struct {
	value string
	el    *etree.Element
	plain bool // the attribute is the unprefixed Id
}

const idListMax = 32

// add records id on el; false if the value was seen before.
func (x *idIndex) add(id string, el *etree.Element, plain bool) bool {
	if _, seen := x.find(id); seen {
		return false
	}
	e := idEntry{id, el, plain}
	if x.m == nil && len(x.list) < idListMax {
		x.list = append(x.list, e)
		return true
	}
	if x.m == nil {
		x.m = make(map[string]idEntry, 2*idListMax)
		for _, e := range x.list {
			x.m[e.value] = e
		}
		x.list = nil
	}
	x.m[id] = e
	return true
}

func (x *idIndex) find(id string) (idEntry, bool) {
	if x.m != nil {
		e, ok := x.m[id]
		return e, ok
	}
	for _, e := range x.list {
		if e.value == id {
			return e, true
		}
	}
	return idEntry{}, false
}

func (x *idIndex) lookup(id string) (*etree.Element, bool) {
	e, ok := x.find(id)
	if !ok || !e.plain {
		return nil, false
	}
	return e.el, true
}

// CheckPlainText accepts UTF-8 text that an XML 1.0 document carries
// unchanged through any serialiser (DESIGN.md pitfall 4: etree's writer
// writes CR and tabs raw, and the next parser normalises them, so the
// signed bytes and the re-read text would differ): no control characters,
// not even CR, which parsers turn into line feeds; tab and line feed only
// where multiline is set (text; never in attribute values, which parsers
// normalise to spaces). what names the text in the error.
func CheckPlainText(what, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if (r < 0x20 && !(multiline && (r == '\t' || r == '\n'))) || r == 0x7f || (r >= 0xfffe && r <= 0xffff) {
			return fmt.Errorf("%s contains the control character %U", what, r)
		}
	}
	return nil
}

// checkDeclaration accepts the content of an XML declaration for version
// 1.0 in UTF-8, the only documents Şlüz signs or verifies.
func checkDeclaration(inst string) error {
	for _, f := range strings.Fields(inst) {
		k, v, ok := strings.Cut(f, "=")
		v = strings.Trim(v, `"'`)
		switch {
		case !ok:
			return fmt.Errorf("the XML declaration %q is invalid", inst)
		case k == "version" && v != "1.0":
			return fmt.Errorf("XML version %q is not 1.0", v)
		case k == "encoding" && !strings.EqualFold(v, "UTF-8"):
			return fmt.Errorf("the document is declared as %s; only UTF-8 is accepted", v)
		}
	}
	return nil
}
