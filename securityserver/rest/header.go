package rest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// Header names X-Road gives a meaning to (MimeUtils.java in X-Road's
// src/common/common-core, HEADER_*). X-Road writes the ones it adds in these
// lower-case spellings.
const (
	HeaderClient           = "x-road-client"
	HeaderService          = "x-road-service"
	HeaderID               = "x-road-id"
	HeaderRequestID        = "x-road-request-id"
	HeaderRequestHash      = "x-road-request-hash"
	HeaderUserID           = "x-road-userid"
	HeaderIssue            = "x-road-issue"
	HeaderSecurityServer   = "x-road-security-server"
	HeaderRepresentedParty = "x-road-represented-party"
	HeaderError            = "x-road-error"
	// HeaderMessageType with the value MessageTypeREST marks a REST exchange
	// between security servers (ClientRestMessageProcessor.sendRequest).
	HeaderMessageType = "x-road-message-type"
	MessageTypeREST   = "REST"
)

// Field is one header field, name and value exactly as they travel.
type Field struct {
	Name, Value string
}

// skipped are the header names X-Road never carries in a REST header part:
// hop-by-hop headers, those that leak the origin host, and the ones the
// transport redoes (RestMessage.java SKIPPED_HEADERS, lines 211-227;
// PR-REST §4.3 "Filtered headers" and "Specially handled headers").
var skipped = []string{
	"transfer-encoding", "keep-alive", "proxy-authenticate", "proxy-authorization",
	"te", "trailer", "upgrade", "connection", "user-agent", "host",
	"content-length", "server", "expect",
}

// Skipped reports whether X-Road drops a header of this name (any case)
// from a REST header part.
func Skipped(name string) bool {
	return slices.ContainsFunc(skipped, func(s string) bool { return strings.EqualFold(s, name) })
}

// FieldsFromHeader lists h as fields: names sorted, each name's values in
// order, names as h spells them (canonical for headers net/http read).
func FieldsFromHeader(h http.Header) []Field {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []Field
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, Field{k, v})
		}
	}
	return out
}

// Last returns the value of the last field named name (any case), as X-Road
// reads its fields: each later one overwrites (RestRequest.decodeHeaders,
// RestResponse.of). PR-REST §4.3: with several X-Road-Client headers "the
// Security Server SHOULD use the last".
func Last(fields []Field, name string) (string, bool) {
	for i := len(fields) - 1; i >= 0; i-- {
		if strings.EqualFold(fields[i].Name, name) {
			return fields[i].Value, true
		}
	}
	return "", false
}

// without returns fields minus the skipped ones and those named in drop.
func without(fields []Field, drop ...string) []Field {
	out := make([]Field, 0, len(fields)+5)
	for _, f := range fields {
		if Skipped(f.Name) || slices.ContainsFunc(drop, func(d string) bool { return strings.EqualFold(d, f.Name) }) {
			continue
		}
		out = append(out, f)
	}
	return out
}

var errLine = errors.New("line breaks and NUL are not allowed")

// checkText refuses what cannot be written on one line of a header part or
// read back identically: CR, LF, NUL, invalid UTF-8.
func checkText(what, s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return fmt.Errorf("%s %q: %w", what, s, errLine)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	return nil
}

// checkFields checks that every field can be serialised and read back: a
// non-empty name without ':', and text without line breaks.
func checkFields(fields []Field) error {
	for _, f := range fields {
		if f.Name == "" || strings.Contains(f.Name, ":") {
			return fmt.Errorf("header name %q must be non-empty and without ':'", f.Name)
		}
		if err := checkText("header name", f.Name); err != nil {
			return err
		}
		if err := checkText("header "+f.Name+" value", f.Value); err != nil {
			return err
		}
	}
	return nil
}

// appendPart writes X-Road's header part: two start lines, then one
// "Name:Value" line per field, each line ended by CRLF, no blank line at
// the end, no space after the colon (RestRequest.toByteArray lines 121-136,
// RestResponse.toByteArray lines 114-127, RestMessage.serializeHeaders lines
// 192-201).
func appendPart(b []byte, line1, line2 string, fields []Field) []byte {
	b = append(b, line1...)
	b = append(b, "\r\n"...)
	b = append(b, line2...)
	b = append(b, "\r\n"...)
	for _, f := range fields {
		b = append(b, f.Name...)
		b = append(b, ':')
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	return b
}

// splitPart reads a header part back: two start lines and the fields. Each
// field line is split at its first ':' (name before, value after, nothing
// trimmed); a skipped name is refused (RestMessage.split lines 142-161).
func splitPart(b []byte) (line1, line2 string, fields []Field, err error) {
	if !utf8.Valid(b) {
		return "", "", nil, errors.New("header part is not valid UTF-8")
	}
	s := string(b)
	if !strings.HasSuffix(s, "\r\n") {
		return "", "", nil, errors.New("header part must end with CRLF")
	}
	lines := strings.Split(s[:len(s)-2], "\r\n")
	if len(lines) < 2 {
		return "", "", nil, errors.New("header part needs two start lines")
	}
	for _, l := range lines {
		if strings.ContainsAny(l, "\r\n\x00") {
			return "", "", nil, fmt.Errorf("line %q: bare CR or LF, or NUL", l)
		}
	}
	fields = make([]Field, 0, len(lines)-2)
	for _, l := range lines[2:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" {
			return "", "", nil, fmt.Errorf("invalid header line %q", l)
		}
		if Skipped(name) {
			return "", "", nil, fmt.Errorf("invalid header: %s", name)
		}
		fields = append(fields, Field{name, value})
	}
	return lines[0], lines[1], fields, nil
}

// identity are the fields that name who asks for what. The security servers
// check the last of each (Last); a provider IS reading the first, as
// net/http's Header.Get does, must not see another value.
var identity = []string{
	HeaderClient, HeaderService, HeaderID, HeaderUserID, HeaderIssue,
	HeaderSecurityServer, HeaderRepresentedParty, HeaderRequestID,
}

// ProviderFields are the fields the provider's IS gets for req: the
// client's fields without the skipped (hop-by-hop) ones and without a
// client-sent X-Road-Request-Hash, each identity field once with the value
// the security servers checked (the last), and X-Road-Service naming the
// service of the request path.
func ProviderFields(req *Request) []Field {
	out := without(req.Fields, append([]string{HeaderRequestHash}, identity...)...)
	for _, name := range identity {
		if name == HeaderService {
			out = append(out, Field{HeaderService, EncodeService(req.Service)})
			continue
		}
		if v, ok := Last(req.Fields, name); ok {
			out = append(out, Field{name, v})
		}
	}
	return out
}
