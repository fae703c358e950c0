package xmldsig

import (
	"encoding/base64"
	"slices"
	"strings"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/xmltok"
)

// Is reports whether el is the element local in namespace ns: by namespace
// URI, never by prefix (DESIGN.md pitfall 5).
func Is(el *etree.Element, ns, local string) bool {
	return el.Tag == local && el.NamespaceURI() == ns
}

// Cursor walks the child elements of one element in schema order; text
// between them is not its business (Read allows only white space there).
type Cursor struct {
	parent *etree.Element
	i      int // index in parent.Child of the next token to look at
}

// Children returns a Cursor at the first child element of el.
func Children(el *etree.Element) *Cursor { return &Cursor{parent: el} }

// Parent is the element whose children c walks.
func (c *Cursor) Parent() *etree.Element { return c.parent }

func (c *Cursor) peek() *etree.Element {
	for ; c.i < len(c.parent.Child); c.i++ {
		if e, ok := c.parent.Child[c.i].(*etree.Element); ok {
			return e
		}
	}
	return nil
}

// Peek returns the next child if it is ns:local, without moving past it.
func (c *Cursor) Peek(ns, local string) *etree.Element {
	if e := c.peek(); e != nil && Is(e, ns, local) {
		return e
	}
	return nil
}

// Any returns the next child element, whatever it is, and moves past it;
// nil at the end.
func (c *Cursor) Any() *etree.Element {
	e := c.peek()
	if e != nil {
		c.i++
	}
	return e
}

// Next returns the next child if it is ns:local (and moves past it), or nil.
func (c *Cursor) Next(ns, local string) *etree.Element {
	e := c.Peek(ns, local)
	if e != nil {
		c.i++
	}
	return e
}

// Must is Next for a required child; the error names what was required
// and what was found.
func (c *Cursor) Must(ns, local string) (*etree.Element, error) {
	if e := c.Next(ns, local); e != nil {
		return e, nil
	}
	if e := c.peek(); e != nil {
		return nil, malformed("<%s> has <%s> (namespace %q) where <%s> (namespace %q) is required", c.parent.FullTag(), e.FullTag(), e.NamespaceURI(), local, ns)
	}
	return nil, malformed("<%s> lacks <%s> (namespace %q)", c.parent.FullTag(), local, ns)
}

// End refuses children left over.
func (c *Cursor) End() error {
	if e := c.peek(); e != nil {
		return malformed("<%s> has the unexpected child <%s> (namespace %q)", c.parent.FullTag(), e.FullTag(), e.NamespaceURI())
	}
	return nil
}

// Single returns the one child element of el, which must be ns:local with
// no attributes but namespace declarations and those allowed (as for
// OnlyAttrs).
func Single(el *etree.Element, ns, local string, allowed ...string) (*etree.Element, error) {
	k := Children(el)
	c, err := k.Must(ns, local)
	if err != nil {
		return nil, err
	}
	if err := k.End(); err != nil {
		return nil, err
	}
	if err := OnlyAttrs(c, allowed...); err != nil {
		return nil, err
	}
	return c, nil
}

// Each calls fn for every child element of el, each of which must be
// ns:local with no attributes but namespace declarations and those
// allowed; it stops at the first error.
func Each(el *etree.Element, ns, local string, allowed []string, fn func(*etree.Element) error) error {
	k := Children(el)
	for c := k.Any(); c != nil; c = k.Any() {
		if !Is(c, ns, local) {
			return malformed("<%s> has <%s> (namespace %q) where only <%s> (namespace %q) is allowed", el.FullTag(), c.FullTag(), c.NamespaceURI(), local, ns)
		}
		if err := OnlyAttrs(c, allowed...); err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

// Attr returns the value of the unprefixed attribute key. (etree's
// SelectAttr would also match a prefixed x:Id: DESIGN.md pitfall 5.)
func Attr(el *etree.Element, key string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// OnlyAttrs refuses attributes other than namespace declarations and those
// allowed: "local" for an unprefixed attribute, "{uri}local" for one in a
// namespace (matched by URI, never by prefix).
func OnlyAttrs(el *etree.Element, allowed ...string) error {
	for _, a := range el.Attr {
		if _, ok := declaredPrefix(a.Space, a.Key); ok {
			continue
		}
		if a.Space == "" {
			if slices.Contains(allowed, a.Key) {
				continue
			}
		} else if len(allowed) > 0 && slices.Contains(allowed, "{"+prefixURI(el, a.Space)+"}"+a.Key) {
			continue
		}
		return malformed("<%s> has the unexpected attribute %s", el.FullTag(), a.FullKey())
	}
	return nil
}

// prefixURI is the namespace prefix is bound to where el is.
func prefixURI(el *etree.Element, prefix string) string {
	for e := el; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if a.Space == "xmlns" && a.Key == prefix {
				return a.Value
			}
		}
	}
	return ""
}

// Text returns the text of a leaf element; a child element is refused.
func Text(el *etree.Element) (string, error) {
	var s string
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			s += t.Data
		case *etree.Element:
			return "", malformed("<%s> has the child element <%s>; it must hold text only", el.FullTag(), t.FullTag())
		}
	}
	return s, nil
}

// Empty refuses content other than white space.
func Empty(el *etree.Element) error {
	if s, err := Text(el); err != nil || !xmltok.IsSpace(s) {
		return malformed("<%s> must be empty", el.FullTag())
	}
	return nil
}

// Base64 decodes the base64 text of a leaf element (base64Binary: XML
// white space anywhere is ignored, as X-Road wraps at 76 columns,
// sometimes with &#13;). It refuses no data, and non-zero padding bits
// (canonical base64 only, so one value has one spelling).
func Base64(el *etree.Element) ([]byte, error) {
	s, err := Text(el)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, malformedCause(err, "<%s> does not hold base64 data", el.FullTag())
	}
	if len(b) == 0 {
		return nil, malformed("<%s> holds no base64 data", el.FullTag())
	}
	return b, nil
}

// Algorithm returns the Algorithm of an element that has nothing else (no
// parameters such as HMACOutputLength or InclusiveNamespaces).
func Algorithm(el *etree.Element) (string, error) {
	if err := OnlyAttrs(el, "Algorithm"); err != nil {
		return "", err
	}
	if err := Children(el).End(); err != nil {
		return "", err
	}
	if err := Empty(el); err != nil {
		return "", err
	}
	alg, ok := Attr(el, "Algorithm")
	if !ok {
		return "", malformed("<%s> has no Algorithm", el.FullTag())
	}
	return alg, nil
}
