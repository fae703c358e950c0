package message

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkSOAPAction accepts the SOAPAction header values X-Road's client
// proxy accepts (MessageProcessorBase.validateSoapActionHeader in
// src/service/proxy/proxy-core): none or empty, "" (two double quotes), or a
// URI reference in double quotes (SOAP 1.1 §6.1.1) that java.net.URI
// parses. The header travels on to the provider's IS
// (x-original-soapaction), so X-Road refuses anything else up front.
func checkSOAPAction(v string) error {
	if v == "" || v == `""` {
		return nil
	}
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return errors.New("it is not in double quotes")
	}
	if !utf8.ValidString(v) {
		return errors.New("it is not UTF-8")
	}
	return checkURIReference(v[1 : len(v)-1])
}

// URI character classes of RFC 2396 §2 and §3, with RFC 2732's "[" and "]"
// among the reserved characters, as java.net.URI has them.
const (
	uriAlnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	uriUnreserved = uriAlnum + "-_.!~*'()"
)

var (
	uricClass     = newURIClass(true, uriUnreserved, ";/?:@&=+$,[]")
	pathClass     = newURIClass(true, uriUnreserved, ":@&=+$,;/")
	userinfoClass = newURIClass(true, uriUnreserved, ";:&=+$,")
	regNameClass  = newURIClass(true, uriUnreserved, "$,;:@&=+")
	// serverClass: the characters of an authority with an IPv6 literal,
	// where "%" starts a scope id rather than an escape.
	serverClass  = newURIClass(true, uriUnreserved, ";:&=+$,.:@[]%")
	schemeClass  = newURIClass(false, uriAlnum, "+-.")
	scopeIDClass = newURIClass(false, uriAlnum, "_.")
	digitClass   = newURIClass(false, "0123456789")
)

// uriClass is a set of ASCII characters, plus, when escapes is set, %XX
// escapes and the visible characters beyond U+0080 (java.net.URI accepts
// those unescaped wherever it accepts escapes).
type uriClass struct {
	ascii   [128]bool
	escapes bool
}

func newURIClass(escapes bool, sets ...string) *uriClass {
	c := &uriClass{escapes: escapes}
	for _, s := range sets {
		for i := 0; i < len(s); i++ {
			c.ascii[s[i]] = true
		}
	}
	return c
}

// visibleNonASCII is java.net.URI's test for an unescaped character beyond
// US-ASCII: above U+0080, neither a control (U+0080–U+009F) nor a space
// separator.
func visibleNonASCII(r rune) bool {
	return r > 0x9f && !unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp)
}

// uriParser checks one URI reference; positions index s, as java.net.URI
// indexes characters.
type uriParser struct{ s []rune }

func (u *uriParser) at(p int, c rune) bool { return p < len(u.s) && u.s[p] == c }

// stop returns the position of the first character of stop in [p, n), or n.
func (u *uriParser) stop(p, n int, stop string) int {
	for ; p < n; p++ {
		if strings.ContainsRune(stop, u.s[p]) {
			break
		}
	}
	return p
}

// scan returns the end of the run of class characters from p; a "%" not
// followed by two hex digits is an error where escapes are allowed.
func (u *uriParser) scan(p, n int, c *uriClass) (int, error) {
	for p < n {
		r := u.s[p]
		switch {
		case r < 128 && r != 0 && c.ascii[r]:
			p++
		case c.escapes && r == '%':
			if p+2 >= n || !isHex(u.s[p+1]) || !isHex(u.s[p+2]) {
				return p, fmt.Errorf("malformed escape at index %d", p)
			}
			p += 3
		case c.escapes && visibleNonASCII(r):
			p++
		default:
			return p, nil
		}
	}
	return p, nil
}

func isHex(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'
}

// check requires [p, n) to be class characters.
func (u *uriParser) check(p, n int, c *uriClass, what string) error {
	q, err := u.scan(p, n, c)
	if err != nil {
		return err
	}
	if q < n {
		return fmt.Errorf("illegal character %q in %s at index %d", u.s[q], what, q)
	}
	return nil
}

// checkURIReference accepts what java.net.URI's constructor parses: RFC
// 2396's URI-reference, [scheme:]scheme-specific-part[#fragment], with
// the deviations that class documents (empty paths and authorities before
// a path, RFC 2732 IPv6 literals, unescaped visible non-ASCII characters).
func checkURIReference(str string) error {
	u := &uriParser{s: []rune(str)}
	n := len(u.s)
	p := u.stop(0, n, ":/?#")
	var err error
	if u.at(p, ':') {
		if p == 0 {
			return errors.New("expected a scheme name before ':'")
		}
		if r := u.s[0]; !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return fmt.Errorf("illegal character %q in scheme name at index 0", r)
		}
		if err := u.check(1, p, schemeClass, "scheme name"); err != nil {
			return err
		}
		p++
		if u.at(p, '/') {
			p, err = u.hierarchical(p, n)
		} else { // opaque, like urn:x-road:getPersonByFin
			q := u.stop(p, n, "#")
			if q == p {
				return fmt.Errorf("expected a scheme-specific part at index %d", p)
			}
			err = u.check(p, q, uricClass, "opaque part")
			p = q
		}
	} else {
		p, err = u.hierarchical(0, n)
	}
	if err != nil {
		return err
	}
	if u.at(p, '#') {
		return u.check(p+1, n, uricClass, "fragment")
	}
	return nil
}

// hierarchical checks [//authority][path][?query] from p and returns where
// it ended (n, or a '#').
func (u *uriParser) hierarchical(p, n int) (int, error) {
	if u.at(p, '/') && u.at(p+1, '/') {
		p += 2
		q := u.stop(p, n, "/?#")
		if q > p {
			if err := u.authority(p, q); err != nil {
				return 0, err
			}
			p = q
		} else if q == n {
			return 0, fmt.Errorf("expected an authority at index %d", p)
		}
	}
	q := u.stop(p, n, "?#")
	if err := u.check(p, q, pathClass, "path"); err != nil {
		return 0, err
	}
	p = q
	if u.at(p, '?') {
		q = u.stop(p+1, n, "#")
		if err := u.check(p+1, q, uricClass, "query"); err != nil {
			return 0, err
		}
		p = q
	}
	return p, nil
}

// authority checks [p, n): a registry name (any run of its characters,
// host names and IPv4 addresses with ports included), or else a server
// with an IPv6 literal, [userinfo@]"["address[%scope]"]"[:port].
func (u *uriParser) authority(p, n int) error {
	q, err := u.scan(p, n, regNameClass)
	if err != nil || q == n {
		return err
	}
	for i := p; i < n; i++ {
		if r := u.s[i]; !(r < 128 && serverClass.ascii[r] || visibleNonASCII(r)) {
			return fmt.Errorf("illegal character %q in authority at index %d", r, i)
		}
	}
	if at := u.stop(p, n, "@"); at < n {
		if err := u.check(p, at, userinfoClass, "user info"); err != nil {
			return err
		}
		p = at + 1
	}
	if !u.at(p, '[') {
		return fmt.Errorf("illegal character %q in authority at index %d", u.s[q], q)
	}
	end := u.stop(p+1, n, "]")
	if end == n || end == p+1 {
		return fmt.Errorf("expected an IPv6 address and ']' at index %d", p+1)
	}
	addr := end
	if pct := u.stop(p+1, end, "%"); pct < end {
		if pct+1 == end {
			return fmt.Errorf("expected a scope id at index %d", pct+1)
		}
		if err := u.check(pct+1, end, scopeIDClass, "scope id"); err != nil {
			return err
		}
		addr = pct
	}
	// net/netip's IPv6 grammar is java.net.URI's, except that it refuses
	// leading zeros in an embedded IPv4 part ("::1.2.3.04").
	if a, err := netip.ParseAddr(string(u.s[p+1 : addr])); err != nil || !a.Is6() {
		return fmt.Errorf("malformed IPv6 address at index %d", p+1)
	}
	p = end + 1
	if u.at(p, ':') && p+1 < n {
		if err := u.check(p+1, n, digitClass, "port number"); err != nil {
			return err
		}
		if _, err := strconv.ParseInt(string(u.s[p+1:n]), 10, 32); err != nil {
			return fmt.Errorf("malformed port number at index %d", p+1)
		}
		return nil
	}
	if u.at(p, ':') { // an empty port
		p++
	}
	if p < n {
		return fmt.Errorf("expected a port number at index %d", p)
	}
	return nil
}
