package signature

import (
	"github.com/beevik/etree"

	"github.com/sluz/sluz/internal/c14n"
)

// canonicalize appends the canonical form of the subtree at apex to dst.
func canonicalize(dst []byte, apex *etree.Element, exclusive bool) []byte {
	return c14n.Append(dst, apex, exclusive, nil)
}

var (
	appendEscapedText = c14n.AppendEscapedText
	appendEscapedAttr = c14n.AppendEscapedAttr
)
