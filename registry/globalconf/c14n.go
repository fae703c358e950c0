package globalconf

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

const xmlNamespaceURI = "http://www.w3.org/XML/1998/namespace"

// canonicalize returns the inclusive Canonical XML 1.0 form (without
// comments) of the subtree rooted at apex, leaving out the subtree skip (the
// enveloped signature) if it is met. The apex's in-scope namespace
// declarations, including those made by its ancestors, are rendered on it, as
// the standard requires for a document subset: this is why SignedInfo must be
// canonicalised in place in its document, never as a detached copy.
//
// The tree must have passed checkTree, or have been built by this package:
// every prefix bound, no comments, processing instructions or directives
// below the apex (they are dropped here), no DOCTYPE.
func canonicalize(apex, skip *etree.Element) []byte {
	var b bytes.Buffer
	c14nElement(&b, apex, inScope(apex), nil, skip)
	return b.Bytes()
}

// inScope returns the namespace bindings in scope at el ("" is the default
// namespace), from the declarations of el and all its ancestors.
func inScope(el *etree.Element) map[string]string {
	var chain []*etree.Element
	for e := el; e != nil; e = e.Parent() {
		chain = append(chain, e)
	}
	ns := map[string]string{}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, a := range chain[i].Attr {
			if p, ok := nsDecl(a); ok {
				bind(ns, p, a.Value)
			}
		}
	}
	return ns
}

// bind records a namespace declaration; xmlns="" removes the default.
func bind(ns map[string]string, prefix, uri string) {
	if prefix == "" && uri == "" {
		delete(ns, "")
		return
	}
	ns[prefix] = uri
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

type c14nAttr struct {
	uri, local, qname, value string
}

// c14nElement writes el. ns holds the bindings in scope at el; rendered
// holds those in scope at the nearest output ancestor (nil for the apex).
func c14nElement(b *bytes.Buffer, el *etree.Element, ns, rendered map[string]string, skip *etree.Element) {
	b.WriteByte('<')
	b.WriteString(el.FullTag())

	// Namespace nodes: those that differ from the output parent's, default
	// namespace first, then by prefix.
	prefixes := make([]string, 0, len(ns))
	for p, uri := range ns {
		if p == "xml" {
			continue
		}
		if parentURI := rendered[p]; uri != parentURI {
			prefixes = append(prefixes, p)
		}
	}
	if _, ok := ns[""]; !ok && rendered[""] != "" {
		prefixes = append(prefixes, "") // xmlns="" undoes an inherited default
	}
	slices.Sort(prefixes)
	for _, p := range prefixes {
		if p == "" {
			b.WriteString(` xmlns="`)
		} else {
			b.WriteString(" xmlns:")
			b.WriteString(p)
			b.WriteString(`="`)
		}
		escapeAttr(b, ns[p])
		b.WriteByte('"')
	}

	// Other attributes, by namespace URI then local name.
	attrs := make([]c14nAttr, 0, len(el.Attr))
	for _, a := range el.Attr {
		if _, isNS := nsDecl(a); isNS {
			continue
		}
		uri := ""
		switch a.Space {
		case "":
		case "xml":
			uri = xmlNamespaceURI
		default:
			uri = ns[a.Space]
		}
		attrs = append(attrs, c14nAttr{uri, a.Key, a.FullKey(), a.Value})
	}
	slices.SortFunc(attrs, func(x, y c14nAttr) int {
		return cmp.Or(strings.Compare(x.uri, y.uri), strings.Compare(x.local, y.local))
	})
	for _, a := range attrs {
		b.WriteByte(' ')
		b.WriteString(a.qname)
		b.WriteString(`="`)
		escapeAttr(b, a.value)
		b.WriteByte('"')
	}
	b.WriteByte('>')

	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			escapeText(b, t.Data)
		case *etree.Element:
			if t == skip {
				continue
			}
			childNS, cloned := ns, false
			for _, a := range t.Attr {
				if p, ok := nsDecl(a); ok {
					if !cloned {
						childNS, cloned = maps.Clone(ns), true
					}
					bind(childNS, p, a.Value)
				}
			}
			c14nElement(b, t, childNS, ns, skip)
		case *etree.ProcInst:
			b.WriteString("<?")
			b.WriteString(t.Target)
			if t.Inst != "" {
				b.WriteByte(' ')
				b.WriteString(t.Inst)
			}
			b.WriteString("?>")
		}
		// Comments are dropped (C14N without comments); directives cannot
		// occur inside an element.
	}
	b.WriteString("</")
	b.WriteString(el.FullTag())
	b.WriteByte('>')
}

// escapeText escapes character data as C14N requires.
func escapeText(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteByte(c)
		}
	}
}

// escapeAttr escapes an attribute value as C14N requires.
func escapeAttr(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '"':
			b.WriteString("&quot;")
		case '\t':
			b.WriteString("&#x9;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			b.WriteByte(c)
		}
	}
}
