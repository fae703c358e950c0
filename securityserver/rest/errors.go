package rest

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluz/sluz/securityserver/message"
)

// Content types of security-server errors. PR-REST §4.6 requires a
// Content-Type with the character encoding; these are the forms of its
// examples ("application/json;charset=utf-8").
const (
	ContentTypeJSON = "application/json;charset=utf-8"
	contentTypeXML  = ";charset=utf-8" // after text/xml or application/xml
)

// Status is the HTTP status of a security-server error with this fault
// code: 500 for a Server.* code (either spelling), else 400
// (ClientRestMessageHandler.sendErrorResponse, lines 115-119; PR-REST §4.6
// categories 3 and 4).
func Status(code string) int {
	if strings.HasPrefix(message.NormalizeCode(code), "Server.") {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// ErrorMediaType picks the error body's media type from the IS's Accept
// header values as X-Road does (ClientRestMessageHandler
// .decideErrorResponseContentType, lines 158-170): the values are split at
// ',', each media range cut at ';', trimmed and lower-cased; the first that
// is text/xml, application/xml or text/* gives XML (text/* as text/xml),
// even after a JSON one; otherwise application/json.
func ErrorMediaType(accept []string) string {
	for _, h := range accept {
		for _, r := range strings.Split(h, ",") {
			r, _, _ = strings.Cut(r, ";")
			switch r = strings.ToLower(strings.TrimSpace(r)); r {
			case "text/xml", "application/xml":
				return r
			case "text/*":
				return "text/xml"
			}
		}
	}
	return "application/json"
}

// ErrorBody is the body of a security-server error in the media type
// ErrorMediaType chose.
//
// JSON is Jackson's compact form as X-Road writes it (lines 145-151):
//
//	{"type":"CODE","message":"STRING","detail":"DETAIL"}
//
// XML is the document X-Road builds and prints with the JDK transformer,
// no indentation (lines 124-138):
//
//	<?xml version="1.0" encoding="UTF-8" standalone="no"?><error><type>CODE</type><message>STRING</message><detail>DETAIL</detail></error>
//
// where an empty text gives an empty-element tag (<message/>).
func ErrorBody(f *message.Fault, mediaType string) []byte {
	if mediaType == "application/json" {
		b := []byte(`{"type":`)
		b = appendJSONString(b, f.Code)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, f.String)
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, f.Detail)
		return append(b, '}')
	}
	b := []byte(`<?xml version="1.0" encoding="UTF-8" standalone="no"?><error>`)
	b = appendXMLElement(b, "type", f.Code)
	b = appendXMLElement(b, "message", f.String)
	b = appendXMLElement(b, "detail", f.Detail)
	return append(b, "</error>"...)
}

// WriteError sends f to the information system as X-Road's client proxy
// does: status [Status], header X-Road-Error with the code, and the body in
// the media type the request's Accept asks for ([ErrorMediaType]).
func WriteError(w http.ResponseWriter, r *http.Request, f *message.Fault) {
	mt := ErrorMediaType(r.Header.Values("Accept"))
	body := ErrorBody(f, mt)
	h := w.Header()
	if mt == "application/json" {
		h.Set("Content-Type", ContentTypeJSON)
	} else {
		h.Set("Content-Type", mt+contentTypeXML)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Road-Error", f.Code)
	w.WriteHeader(Status(f.Code))
	_, _ = w.Write(body)
}

// maxErrorBody caps what ReadError reads: X-Road's error bodies are a few
// hundred bytes.
const maxErrorBody = 64 << 10

// ReadError reports whether resp is a security-server error (it has an
// X-Road-Error header, PR-REST §4.6 Example 5) and returns it as a fault.
// The body is read (at most 64 KiB) and parsed as JSON or XML per its
// Content-Type; when it is neither or does not parse, the fault has the
// header's code and the body text as its message. The body is not closed.
// A response without X-Road-Error is the provider's own, passed through.
func ReadError(resp *http.Response) (*message.Fault, bool) {
	code := resp.Header.Get("X-Road-Error")
	if code == "" {
		return nil, false
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	f := ParseErrorBody(resp.Header.Get("Content-Type"), body)
	if f == nil {
		f = &message.Fault{Code: code, String: strings.TrimSpace(string(body))}
	}
	if f.Code == "" {
		f.Code = code
	}
	return f, true
}

// ParseErrorBody reads an error body of the given Content-Type (JSON, or
// XML for any */xml or *+xml type), or returns nil.
func ParseErrorBody(contentType string, body []byte) *message.Fault {
	mt, _, _ := mime.ParseMediaType(contentType)
	var e struct {
		Type    string `json:"type" xml:"type"`
		Message string `json:"message" xml:"message"`
		Detail  string `json:"detail" xml:"detail"`
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if json.Unmarshal(body, &e) != nil {
			return nil
		}
	case strings.HasSuffix(mt, "/xml") || strings.HasSuffix(mt, "+xml"):
		var x struct {
			XMLName xml.Name `xml:"error"`
			Type    string   `xml:"type"`
			Message string   `xml:"message"`
			Detail  string   `xml:"detail"`
		}
		if xml.Unmarshal(body, &x) != nil {
			return nil
		}
		e.Type, e.Message, e.Detail = x.Type, x.Message, x.Detail
	default:
		return nil
	}
	return &message.Fault{Code: e.Type, String: e.Message, Detail: e.Detail}
}

// appendJSONString quotes s as Jackson does: '"' and '\\' escaped, \b \t
// \n \f \r short, other controls \u00XX with upper-case hex, everything
// else (non-ASCII and '/' included) as is; invalid UTF-8 becomes U+FFFD (a
// Java string cannot hold it).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		case '\b':
			b = append(b, `\b`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\f':
			b = append(b, `\f`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			if r < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&15])
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}

// appendXMLElement writes <name>text</name>, or <name/> for empty text, with
// the escapes of the JDK's XML serializer: & < > as entities, CR as &#13;,
// the rest as is. Characters XML 1.0 cannot carry become U+FFFD.
func appendXMLElement(b []byte, name, s string) []byte {
	if s == "" {
		return append(append(append(b, '<'), name...), "/>"...)
	}
	b = append(append(append(b, '<'), name...), '>')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '\r':
			b = append(b, "&#13;"...)
		case r < 0x20 && r != '\t' && r != '\n', r == 0xFFFE, r == 0xFFFF:
			b = utf8.AppendRune(b, utf8.RuneError)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(append(append(b, "</"...), name...), '>')
}
