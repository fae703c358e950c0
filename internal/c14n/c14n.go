// Package c14n canonicalises an element of a parsed XML document in place,
// as Canonical XML 1.0 (inclusive, without comments) or Exclusive XML
// Canonicalization 1.0 (without comments, no InclusiveNamespaces) require
// for a document subset that is one whole subtree, optionally without one
// descendant (the enveloped-signature transform). internal/xmldsig, the
// XML-DSig core of the registry's signed configuration and the security
// server's XAdES signatures, canonicalises with it.
//
// # Caveats
//
// The tree must have been read by a parser that normalises line ends and
// attribute values as XML requires (encoding/xml does not) and checked
// (xmldsig.Read does both): every prefix bound; no processing
// instructions, directives or xml:* attributes. Comments are dropped.
package c14n

import (
	"cmp"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Namespace scope is kept on a stack, not in maps: the security server
// canonicalises twice per message it verifies.

// Binding is one namespace declaration: Prefix "" is the default namespace.
type Binding struct{ Prefix, URI string }

type c14nAttr struct{ ns, space, local, value string }

type canonicalizer struct {
	buf       []byte
	exclusive bool
	skip      *etree.Element // left out with its subtree
	scope     []Binding      // every declaration from the root down to the current element
	rendered  []Binding      // exclusive: the declarations written on output ancestors
	decls     []Binding      // scratch: declarations to write on one element
	attrs     []c14nAttr
}

// Append appends the canonical form of the subtree rooted at apex to dst,
// leaving out skip (and its subtree) if it is a descendant. The namespace
// declarations apex inherits from its ancestors count: inclusive C14N
// writes all of them on apex, exclusive C14N those it uses.
func Append(dst []byte, apex *etree.Element, exclusive bool, skip *etree.Element) []byte {
	c := canonicalizer{buf: dst, exclusive: exclusive, skip: skip}
	var chain []*etree.Element
	for e := apex.Parent(); e != nil; e = e.Parent() {
		chain = append(chain, e)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		c.scope = AppendDecls(c.scope, chain[i])
	}
	c.element(apex, true)
	return c.buf
}

// AppendDecls appends the namespace declarations of el to dst.
func AppendDecls(dst []Binding, el *etree.Element) []Binding {
	for _, a := range el.Attr {
		if p, ok := NSDecl(a); ok {
			dst = append(dst, Binding{p, a.Value})
		}
	}
	return dst
}

// NSDecl reports whether a is a namespace declaration and which prefix it
// binds ("" for the default namespace).
func NSDecl(a etree.Attr) (string, bool) {
	switch {
	case a.Space == "xmlns":
		return a.Key, true
	case a.Space == "" && a.Key == "xmlns":
		return "", true
	}
	return "", false
}

// Lookup returns the innermost Binding of prefix in s ("" if none).
func Lookup(s []Binding, prefix string) (string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Prefix == prefix {
			return s[i].URI, true
		}
	}
	return "", false
}

func (c *canonicalizer) element(el *etree.Element, apex bool) {
	parentScope := len(c.scope)
	c.scope = AppendDecls(c.scope, el)
	renderedMark := len(c.rendered)

	c.decls = c.decls[:0]
	switch {
	case c.exclusive:
		c.utilized(el.Space)
		for _, a := range el.Attr {
			if _, isNS := NSDecl(a); !isNS && a.Space != "" {
				c.utilized(a.Space)
			}
		}
	case apex:
		// Every Binding in scope, the innermost for each prefix; an
		// empty default namespace is no namespace node at all.
		for i := len(c.scope) - 1; i >= 0; i-- {
			b := c.scope[i]
			if b.Prefix == "xml" || (b.Prefix == "" && b.URI == "") || HasPrefix(c.decls, b.Prefix) {
				continue
			}
			c.decls = append(c.decls, b)
		}
	default:
		// Within a whole subtree a namespace node differs from the output
		// parent's only where this element declares it anew.
		for _, b := range c.scope[parentScope:] {
			parentURI, _ := Lookup(c.scope[:parentScope], b.Prefix)
			if b.URI != parentURI && !HasPrefix(c.decls, b.Prefix) {
				c.decls = append(c.decls, b)
			}
		}
	}
	slices.SortFunc(c.decls, func(x, y Binding) int { return strings.Compare(x.Prefix, y.Prefix) })

	c.buf = append(c.buf, '<')
	c.buf = appendQName(c.buf, el.Space, el.Tag)
	for _, d := range c.decls {
		if d.Prefix == "" {
			c.buf = append(c.buf, ` xmlns="`...)
		} else {
			c.buf = append(c.buf, " xmlns:"...)
			c.buf = append(c.buf, d.Prefix...)
			c.buf = append(c.buf, `="`...)
		}
		c.buf = AppendEscapedAttr(c.buf, d.URI)
		c.buf = append(c.buf, '"')
	}

	c.attrs = c.attrs[:0]
	for _, a := range el.Attr {
		if _, isNS := NSDecl(a); isNS {
			continue
		}
		uri := ""
		if a.Space != "" {
			uri, _ = Lookup(c.scope, a.Space)
		}
		c.attrs = append(c.attrs, c14nAttr{uri, a.Space, a.Key, a.Value})
	}
	slices.SortFunc(c.attrs, func(x, y c14nAttr) int {
		return cmp.Or(strings.Compare(x.ns, y.ns), strings.Compare(x.local, y.local))
	})
	for _, a := range c.attrs {
		c.buf = append(c.buf, ' ')
		c.buf = appendQName(c.buf, a.space, a.local)
		c.buf = append(c.buf, `="`...)
		c.buf = AppendEscapedAttr(c.buf, a.value)
		c.buf = append(c.buf, '"')
	}
	c.buf = append(c.buf, '>')

	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			c.buf = AppendEscapedText(c.buf, t.Data)
		case *etree.Element:
			if t != c.skip {
				c.element(t, false)
			}
		}
		// Comments are dropped (C14N without comments); the checker refuses
		// processing instructions and directives.
	}
	c.buf = append(c.buf, "</"...)
	c.buf = appendQName(c.buf, el.Space, el.Tag)
	c.buf = append(c.buf, '>')

	c.scope = c.scope[:parentScope]
	c.rendered = c.rendered[:renderedMark]
}

// utilized adds to c.decls the declaration of a visibly utilised prefix
// unless an output ancestor already rendered the same Binding (Exclusive
// C14N §3). An unprefixed element in no namespace needs xmlns="" only when
// an output ancestor rendered a default namespace.
func (c *canonicalizer) utilized(prefix string) {
	if prefix == "xml" || HasPrefix(c.decls, prefix) {
		return
	}
	uri, _ := Lookup(c.scope, prefix)
	rendered, ok := Lookup(c.rendered, prefix)
	if (ok && rendered == uri) || (!ok && prefix == "" && uri == "") {
		return
	}
	b := Binding{prefix, uri}
	c.decls = append(c.decls, b)
	c.rendered = append(c.rendered, b)
}

// HasPrefix reports whether bs binds prefix.
func HasPrefix(bs []Binding, prefix string) bool {
	for _, b := range bs {
		if b.Prefix == prefix {
			return true
		}
	}
	return false
}

func appendQName(b []byte, space, local string) []byte {
	if space != "" {
		b = append(b, space...)
		b = append(b, ':')
	}
	return append(b, local...)
}

// AppendEscapedText escapes character data as C14N requires. Its output is
// also valid XML text, so templates can write text through it.
func AppendEscapedText(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "&<>\r") {
		return append(b, s...) // the usual case, and all of base64
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '\r':
			b = append(b, "&#xD;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// AppendEscapedAttr escapes an attribute value as C14N requires.
func AppendEscapedAttr(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "&<\"\t\n\r") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\t':
			b = append(b, "&#x9;"...)
		case '\n':
			b = append(b, "&#xA;"...)
		case '\r':
			b = append(b, "&#xD;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}
