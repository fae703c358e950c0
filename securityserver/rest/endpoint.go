package rest

import (
	"errors"
	"strings"
)

// Endpoint is one endpoint-level access right of a REST service: an HTTP
// method or "*" for any, and a path pattern or "**" for any
// (BaseEndpoint.java in X-Road's src/lib/serverconf-core: ANY_METHOD,
// ANY_PATH).
type Endpoint struct {
	Method, Path string
}

// Matches reports whether the endpoint admits method and a normalised
// service path (see [NormalizePath]), as BaseEndpoint.matches: the method
// is "*" or equal ignoring case, and the path pattern is "**" or
// [MatchPath] matches.
func (e Endpoint) Matches(method, path string) bool {
	return (e.Method == "*" || strings.EqualFold(e.Method, method)) &&
		(e.Path == "**" || MatchPath(e.Path, path))
}

// Allowed reports whether any endpoint admits a request with this method
// and raw service path ([Request.ServicePath]), as X-Road's
// ServerConfImpl.checkAccessRights (lines 473-489): the path is normalised
// first, and a path that cannot be, or that still has "..", is refused.
func Allowed(endpoints []Endpoint, method, servicePath string) bool {
	p, err := NormalizePath(servicePath)
	if err != nil || strings.Contains(p, "..") {
		return false
	}
	for _, e := range endpoints {
		if e.Matches(method, p) {
			return true
		}
	}
	return false
}

// MatchPath reports whether path matches the glob as X-Road's PathGlob
// (PathGlob.java, toPattern lines 81-119, tests in PathGlobTest.java):
// "**" (or more stars) matches any characters, '/' included; one '*'
// matches the longest run of characters other than '/' and never gives any
// back (the possessive [^/]*+), so "/a*b" matches nothing; "\*" is a
// literal '*', "\\" a literal '\', any other '\' itself; everything else
// is literal. The whole path must match.
func MatchPath(glob, path string) bool {
	type tok struct {
		kind byte // 'l' literal, 's' star, 'd' double star
		lit  string
	}
	var toks []tok
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, tok{'l', lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '\\':
			if i+1 < len(glob) && (glob[i+1] == '*' || glob[i+1] == '\\') {
				lit.WriteByte(glob[i+1])
				i++
			} else {
				lit.WriteByte('\\')
			}
		case '*':
			flush()
			if i+1 < len(glob) && glob[i+1] == '*' {
				for i+1 < len(glob) && glob[i+1] == '*' {
					i++
				}
				toks = append(toks, tok{kind: 'd'})
			} else {
				toks = append(toks, tok{kind: 's'})
			}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	// memo[t][p]: 0 unknown, 1 no, 2 yes. Only '**' backtracks.
	memo := make([][]byte, len(toks)+1)
	for i := range memo {
		memo[i] = make([]byte, len(path)+1)
	}
	var match func(t, p int) bool
	match = func(t, p int) bool {
		if t == len(toks) {
			return p == len(path)
		}
		if m := memo[t][p]; m != 0 {
			return m == 2
		}
		ok := false
		switch k := toks[t]; k.kind {
		case 'l':
			ok = strings.HasPrefix(path[p:], k.lit) && match(t+1, p+len(k.lit))
		case 's':
			q := p
			for q < len(path) && path[q] != '/' {
				q++
			}
			ok = match(t+1, q)
		case 'd':
			for q := len(path); q >= p && !ok; q-- {
				ok = match(t+1, q)
			}
		}
		memo[t][p] = 1
		if ok {
			memo[t][p] = 2
		}
		return ok
	}
	return match(0, 0)
}

// NormalizePath turns a raw service path into the form access rights are
// matched against, as X-Road's UriUtils.decodeAndNormalize (UriUtils.java
// lines 46-49 and 78-125) followed by java.net.URI's parse, normalize and
// getPath:
//   - percent-decoding with '/' allowed; other characters outside RFC 3986
//     pchar are an error, and "%2D" (X-Road's test for an encoded '/',
//     which is really '-') is kept encoded;
//   - unlike X-Road, a decoded '?', '#' or '\' and a leading "//" are an
//     error, not a path cut short or an authority dropped: the provider gets
//     the whole raw path, so checking the rights on a shortened one let
//     "/extract/1%3F/../../admin" pass a right on "/extract/*" and reach
//     the provider as a path that resolves to "/admin"; characters a URI
//     cannot hold are an error;
//   - "." segments are removed, "seg/.." pairs resolved, repeated '/'
//     collapsed (RFC 2396 normalisation as java.net.URI does it);
//   - getPath decodes %XX once more (so %252E%252E ends up as "..", which
//     [Allowed] refuses).
func NormalizePath(raw string) (string, error) {
	var b []byte
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '/' || safe(c):
			b = append(b, c)
		case c == '%':
			if i+2 >= len(raw) || unhex(raw[i+1]) < 0 || unhex(raw[i+2]) < 0 {
				return "", errors.New("invalid percent encoding")
			}
			if unhex(raw[i+1]) == 2 && unhex(raw[i+2]) == 13 {
				b = append(b, "%2D"...)
			} else {
				b = append(b, byte(unhex(raw[i+1])<<4|unhex(raw[i+2])))
			}
			i += 2
		default:
			return "", errors.New("invalid character in path")
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if strings.ContainsAny(s, "?#\\") {
		return "", errors.New("an encoded '?', '#' or '\\' in the path: the provider would not see the path the rights are checked on")
	}
	if strings.HasPrefix(s, "//") {
		return "", errors.New("the path starts with \"//\" (an authority to a URI parser)")
	}
	if err := checkTarget(s); err != nil {
		return "", err
	}
	return decodeLoose(normalizeSegments(s)), nil
}

// decodeLoose decodes every valid %XX, as URI.getPath does.
func decodeLoose(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && unhex(s[i+1]) >= 0 && unhex(s[i+2]) >= 0 {
			b = append(b, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// normalizeSegments removes "." segments, resolves ".." against the
// previous segment (a leading ".." stays) and collapses repeated '/'.
func normalizeSegments(s string) string {
	if s == "" {
		return s
	}
	abs := strings.HasPrefix(s, "/")
	trail := strings.HasSuffix(s, "/") || strings.HasSuffix(s, "/.") || strings.HasSuffix(s, "/..")
	var out []string
	for _, seg := range strings.Split(s, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 && out[len(out)-1] != ".." {
				out = out[:len(out)-1]
			} else {
				out = append(out, "..")
			}
		default:
			out = append(out, seg)
		}
	}
	r := strings.Join(out, "/")
	if abs {
		r = "/" + r
	}
	if trail && len(out) > 0 {
		r += "/"
	}
	return r
}
