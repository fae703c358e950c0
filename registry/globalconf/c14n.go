package globalconf

import (
	"github.com/beevik/etree"

	"github.com/sluz/sluz/internal/c14n"
)

// canonicalize is inclusive C14N 1.0 of the subtree at apex, without skip
// (the enveloped signature) when it is given.
func canonicalize(apex, skip *etree.Element) []byte {
	return c14n.Append(nil, apex, false, skip)
}

// nsDecl reports whether a is a namespace declaration and which prefix it
// binds ("" for the default namespace).
func nsDecl(a etree.Attr) (string, bool) { return c14n.NSDecl(a) }

// bind records a namespace declaration; xmlns="" removes the default.
func bind(ns map[string]string, prefix, uri string) {
	if prefix == "" && uri == "" {
		delete(ns, "")
		return
	}
	ns[prefix] = uri
}
