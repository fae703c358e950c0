package transport

import (
	"bytes"
	"strings"
)

// rawPart is one part of a multipart body held in memory: its first
// Content-Type field (as mime/multipart's Part.Header.Get returns it) and
// its body, exactly as sent (a slice of the body, capacity limited).
type rawPart struct {
	ctype string
	body  []byte
}

// Bounds of the shape splitParts reads; beyond them mime/multipart reads.
const (
	maxSplitBoundary = 200 // mime/multipart reads a boundary line through a 4 KB buffer
	maxSplitFields   = 32  // header fields per part
)

// splitParts reads a multipart body held whole in data, with boundary, as
// mime/multipart's Reader.NextRawPart reads it, for the shape security
// servers write (PR-MESSTRANSP; Encode's framing): the body starts with the
// first delimiter line, every line of a part's header is "Name: value"
// with CR LF, and each part ends with CR LF and a delimiter followed by CR
// LF or, the last, by "--" and CR LF or the end of data. parts is
// appended to and returned. ok is false when data strays from that shape
// in any way (a preamble, padding after a delimiter, folded or unusual
// header lines, a part that starts with the delimiter, no final
// delimiter...): the caller must then read data with mime/multipart, which
// decides what such a body holds. When ok, the parts are what
// mime/multipart reads (FuzzSplitParts compares them).
//
// It spares each message mime/multipart's 4 KB read buffer and a header
// map per part.
func splitParts(data []byte, boundary string, parts []rawPart) (_ []rawPart, ok bool) {
	if boundary == "" || len(boundary) > maxSplitBoundary {
		return parts, false
	}
	// The first delimiter line, exactly.
	if len(data) < len(boundary)+4 || data[0] != '-' || data[1] != '-' || string(data[2:2+len(boundary)]) != boundary ||
		data[2+len(boundary)] != '\r' || data[3+len(boundary)] != '\n' {
		return parts, false
	}
	pos := len(boundary) + 4
	for {
		ctype, n, ok := splitHeader(data[pos:])
		if !ok {
			return parts, false
		}
		pos += n
		rest := data[pos:]
		// A body starting with the delimiter (without the line break)
		// is a case mime/multipart treats apart.
		if len(rest) >= 2+len(boundary) && rest[0] == '-' && rest[1] == '-' && string(rest[2:2+len(boundary)]) == boundary {
			return parts, false
		}
		end := indexDelimiter(rest, boundary)
		if end < 0 {
			return parts, false
		}
		parts = append(parts, rawPart{ctype: ctype, body: rest[:end:end]})
		after := rest[end+4+len(boundary):] // past CR LF "--" boundary
		switch {
		case len(after) >= 2 && after[0] == '\r' && after[1] == '\n':
			pos = len(data) - len(after) + 2 // the next part's header
		case len(after) >= 2 && after[0] == '-' && after[1] == '-':
			if tail := after[2:]; len(tail) == 0 || len(tail) >= 2 && tail[0] == '\r' && tail[1] == '\n' {
				return parts, true // what follows the final delimiter line is not read
			}
			return parts, false
		default:
			return parts, false
		}
	}
}

// indexDelimiter is the offset in b of the first CR LF "--" boundary
// that mime/multipart takes for a delimiter, or -1. Like it, it passes
// over one followed by anything but white space or "--" (part of the
// body), and stops at one that ends b.
func indexDelimiter(b []byte, boundary string) int {
	for from := 0; ; {
		i := bytes.Index(b[from:], []byte("\r\n--"))
		if i < 0 {
			return -1
		}
		i += from
		from = i + 1
		rest := b[i+4:]
		if len(rest) < len(boundary) || string(rest[:len(boundary)]) != boundary {
			continue
		}
		after := rest[len(boundary):]
		if len(after) == 0 {
			return i
		}
		switch c := after[0]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			return i
		case c == '-' && (len(after) == 1 || after[1] == '-'):
			return i // "--" ends it; a lone "-" at the end is for the caller to refuse
		}
	}
}

// splitHeader reads a part's header lines, up to and including the empty
// line that ends them: the first Content-Type field's value and the
// header's length. ok is false unless every line is a field name of
// letters, digits and hyphens, a colon, a value of printable ASCII and
// tabs, and CR LF, and no line continues the one before.
func splitHeader(b []byte) (ctype string, n int, ok bool) {
	found := false
	for fields := 0; ; fields++ {
		if len(b[n:]) >= 2 && b[n] == '\r' && b[n+1] == '\n' {
			return ctype, n + 2, true
		}
		if fields == maxSplitFields {
			return "", 0, false
		}
		line := b[n:]
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", 0, false
			}
		}
		if colon <= 0 {
			return "", 0, false
		}
		end := -1
		for i, c := range line[colon+1:] {
			if c == '\r' {
				end = colon + 1 + i
				break
			}
			if c != '\t' && (c < 0x20 || c > 0x7e) {
				return "", 0, false
			}
		}
		if end < 0 || end+1 >= len(line) || line[end+1] != '\n' {
			return "", 0, false
		}
		if next := line[end+2:]; len(next) > 0 && (next[0] == ' ' || next[0] == '\t') {
			return "", 0, false // a folded line
		}
		if !found && strings.EqualFold(string(line[:colon]), "Content-Type") {
			ctype, found = partType(bytes.Trim(line[colon+1:end], " \t")), true
		}
		n += end + 2
	}
}

// partType is v as a string, without allocating for the types Encode
// writes.
func partType(v []byte) string {
	for _, t := range [...]string{TypeOCSP, "text/xml; charset=UTF-8", TypeSignature, TypeHashChainResult, TypeHashChain,
		TypeRESTRequest, TypeRESTResponse, TypeRESTBody, TypeSOAP} {
		if string(v) == t {
			return t
		}
	}
	return string(v)
}
