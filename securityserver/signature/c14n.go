package signature

import (
	"cmp"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// This file canonicalises an element of a parsed signature document in
// place, as Canonical XML 1.0 (inclusive, without comments) or Exclusive
// XML Canonicalization 1.0 (without comments, no InclusiveNamespaces)
// require for a document subset that is one whole subtree. It starts from
// registry/globalconf's canonicaliser and keeps namespace scope on a stack
// instead of maps, because Verify runs it twice per message.
//
// The tree must come from parseXML (which normalises line ends and
// attribute values as XML requires, unlike encoding/xml) and have passed
// the checker: every prefix bound, no comments, processing instructions,
// directives or xml:* attributes.

// binding is one namespace declaration: prefix "" is the default namespace.
type binding struct{ prefix, uri string }

type c14nAttr struct{ uri, space, local, value string }

type canonicalizer struct {
	buf       []byte
	exclusive bool
	scope     []binding // every declaration from the root down to the current element
	rendered  []binding // exclusive: the declarations written on output ancestors
	decls     []binding // scratch: declarations to write on one element
	attrs     []c14nAttr
}

// canonicalize appends the canonical form of the subtree rooted at apex to
// dst. The namespace declarations apex inherits from its ancestors count:
// inclusive C14N writes all of them on apex, exclusive C14N those it uses.
func canonicalize(dst []byte, apex *etree.Element, exclusive bool) []byte {
	c := canonicalizer{buf: dst, exclusive: exclusive}
	var chain []*etree.Element
	for e := apex.Parent(); e != nil; e = e.Parent() {
		chain = append(chain, e)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		c.scope = appendDecls(c.scope, chain[i])
	}
	c.element(apex, true)
	return c.buf
}

func appendDecls(dst []binding, el *etree.Element) []binding {
	for _, a := range el.Attr {
		if p, ok := nsDecl(a); ok {
			dst = append(dst, binding{p, a.Value})
		}
	}
	return dst
}

// nsDecl reports whether a is a namespace declaration and which prefix it
// binds ("" for the default namespace).
func nsDecl(a etree.Attr) (string, bool) {
	switch {
	case a.Space == "xmlns":
		return a.Key, true
	case a.Space == "" && a.Key == "xmlns":
		return "", true
	}
	return "", false
}

// lookup returns the innermost binding of prefix in s ("" if none).
func lookup(s []binding, prefix string) (string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].prefix == prefix {
			return s[i].uri, true
		}
	}
	return "", false
}

func (c *canonicalizer) element(el *etree.Element, apex bool) {
	parentScope := len(c.scope)
	c.scope = appendDecls(c.scope, el)
	renderedMark := len(c.rendered)

	c.decls = c.decls[:0]
	switch {
	case c.exclusive:
		c.utilized(el.Space)
		for _, a := range el.Attr {
			if _, isNS := nsDecl(a); !isNS && a.Space != "" {
				c.utilized(a.Space)
			}
		}
	case apex:
		// Every binding in scope, the innermost for each prefix; an
		// empty default namespace is no namespace node at all.
		for i := len(c.scope) - 1; i >= 0; i-- {
			b := c.scope[i]
			if b.prefix == "xml" || (b.prefix == "" && b.uri == "") || hasPrefix(c.decls, b.prefix) {
				continue
			}
			c.decls = append(c.decls, b)
		}
	default:
		// Within a whole subtree a namespace node differs from the output
		// parent's only where this element declares it anew.
		for _, b := range c.scope[parentScope:] {
			parentURI, _ := lookup(c.scope[:parentScope], b.prefix)
			if b.uri != parentURI && !hasPrefix(c.decls, b.prefix) {
				c.decls = append(c.decls, b)
			}
		}
	}
	slices.SortFunc(c.decls, func(x, y binding) int { return strings.Compare(x.prefix, y.prefix) })

	c.buf = append(c.buf, '<')
	c.buf = appendQName(c.buf, el.Space, el.Tag)
	for _, d := range c.decls {
		if d.prefix == "" {
			c.buf = append(c.buf, ` xmlns="`...)
		} else {
			c.buf = append(c.buf, " xmlns:"...)
			c.buf = append(c.buf, d.prefix...)
			c.buf = append(c.buf, `="`...)
		}
		c.buf = appendEscapedAttr(c.buf, d.uri)
		c.buf = append(c.buf, '"')
	}

	c.attrs = c.attrs[:0]
	for _, a := range el.Attr {
		if _, isNS := nsDecl(a); isNS {
			continue
		}
		uri := ""
		if a.Space != "" {
			uri, _ = lookup(c.scope, a.Space)
		}
		c.attrs = append(c.attrs, c14nAttr{uri, a.Space, a.Key, a.Value})
	}
	slices.SortFunc(c.attrs, func(x, y c14nAttr) int {
		return cmp.Or(strings.Compare(x.uri, y.uri), strings.Compare(x.local, y.local))
	})
	for _, a := range c.attrs {
		c.buf = append(c.buf, ' ')
		c.buf = appendQName(c.buf, a.space, a.local)
		c.buf = append(c.buf, `="`...)
		c.buf = appendEscapedAttr(c.buf, a.value)
		c.buf = append(c.buf, '"')
	}
	c.buf = append(c.buf, '>')

	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			c.buf = appendEscapedText(c.buf, t.Data)
		case *etree.Element:
			c.element(t, false)
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
// unless an output ancestor already rendered the same binding (Exclusive
// C14N §3). An unprefixed element in no namespace needs xmlns="" only when
// an output ancestor rendered a default namespace.
func (c *canonicalizer) utilized(prefix string) {
	if prefix == "xml" || hasPrefix(c.decls, prefix) {
		return
	}
	uri, _ := lookup(c.scope, prefix)
	rendered, ok := lookup(c.rendered, prefix)
	if (ok && rendered == uri) || (!ok && prefix == "" && uri == "") {
		return
	}
	b := binding{prefix, uri}
	c.decls = append(c.decls, b)
	c.rendered = append(c.rendered, b)
}

func hasPrefix(bs []binding, prefix string) bool {
	for _, b := range bs {
		if b.prefix == prefix {
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

// appendEscapedText escapes character data as C14N requires. Its output
// is also valid XML text, so Sign writes text through it.
func appendEscapedText(b []byte, s string) []byte {
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

// appendEscapedAttr escapes an attribute value as C14N requires.
func appendEscapedAttr(b []byte, s string) []byte {
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
