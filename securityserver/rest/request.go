package rest

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
)

// Version is the REST protocol version of PR-REST §2.3, the first segment of
// every request path.
const Version = "r1"

// Fault codes of this package beside those of [message]. BadRequest is
// X-Road 7.7's X_BAD_REQUEST (ErrorCodes.java line 59), the code PR-REST
// §4.6 Example 3 shows for a request that does not follow the protocol.
const (
	BadRequest = "BadRequest"
)

// Methods X-Road's RestRequest.Verb admits (RestRequest.java lines 71-73),
// upper case only: Verb.valueOf is case-sensitive.
var Methods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}

// IsREST reports whether a request path is for the REST protocol: X-Road's
// client proxy hands a request to its REST processor when the path starts
// with "/r1/" (ClientRestMessageHandler.createRequestProcessor, line 87).
func IsREST(path string) bool { return strings.HasPrefix(path, "/"+Version+"/") }

// RepresentedParty is the X-Road-Represented-Party header: [class/]code
// (PR-REST §4.3). Class is empty when the header names only the code.
type RepresentedParty struct {
	Class, Code string
}

// Request is a REST request as X-Road carries it between security servers.
type Request struct {
	Method string
	// Path is the raw (percent-encoded) path, "/r1/INSTANCE/CLASS/MEMBER/
	// SUBSYSTEM/SERVICE[/path]"; Query the raw query without '?', HasQuery
	// whether there was a '?' at all ("/p?" keeps an empty query).
	Path     string
	Query    string
	HasQuery bool
	// Fields are the header fields of the header part in order: the IS's,
	// filtered, then x-road-request-id and (when generated) x-road-id.
	Fields []Field

	Client  identifier.Client
	Service identifier.ServiceID // never has a version: REST service codes have none
	// ServicePath is the raw rest of the path after the service code: ""
	// or "/..." (RestRequest.decodeIdentifiers lines 195-199); the provider
	// sees METHOD <service URL><ServicePath>[?Query].
	ServicePath string

	ID               string // X-Road-Id (the IS's, or generated)
	RequestID        string // x-road-request-id, made by the client's server
	UserID, Issue    string // X-Road-UserId, X-Road-Issue; "" when absent
	SecurityServer   *identifier.ServerID
	RepresentedParty *RepresentedParty
}

// Target is Path plus '?' and Query when there was a query, the second line
// of the header part.
func (r *Request) Target() string {
	if r.HasQuery {
		return r.Path + "?" + r.Query
	}
	return r.Path
}

// HeaderPart serialises the request header part exactly as X-Road's
// RestRequest.toByteArray (lines 121-136):
//
//	METHOD CRLF path[?query] CRLF (Name:Value CRLF)*
func (r *Request) HeaderPart() []byte {
	return appendPart(nil, r.Method, r.Target(), r.Fields)
}

// NewRequest reads an information system's REST request as X-Road's client
// proxy does. target is the request target as sent (origin form, or
// absolute form whose scheme and authority are dropped; a fragment is
// dropped as Jetty's HttpURI does); fields are the IS's header fields in
// order. requestID becomes x-road-request-id (X-Road uses a random UUID per
// request, ClientRestMessageProcessor line 106); instance is this server's
// X-Road instance, for the X-Road-Id generated when the IS sent none
// ("INSTANCE-UUID", ClientRestMessageProcessor.processRequest line 169).
//
// Fields are filtered as RestRequest's constructor does (lines 102-114):
// the skipped ones ([Skipped]) and any x-road-request-id or
// x-road-request-hash of the IS are dropped, the others kept in order,
// then x-road-request-id is appended, then x-road-id if generated
// (RestMessage.setQueryId, lines 94-101).
//
// Errors are *message.Fault: Client.BadRequest for a malformed method,
// path, percent-encoding or header, Client.InvalidClientIdentifier for a
// missing X-Road-Client (X-Road: X_INVALID_CLIENT_IDENTIFIER, "The client
// identifier is missing", AbstractClientMessageProcessor.verifyClientStatus)
// or an identifier X-Road would not accept.
func NewRequest(method, target string, fields []Field, requestID, instance string) (*Request, error) {
	path, query, hasQuery, err := splitTarget(target)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if err := checkFields(fields); err != nil {
		return nil, badRequest("%v; send header values as UTF-8 on one line", err)
	}
	r := &Request{Method: method, Path: path, Query: query, HasQuery: hasQuery}
	r.Fields = append(without(fields, HeaderRequestID, HeaderRequestHash), Field{HeaderRequestID, requestID})
	if err := r.decode(); err != nil {
		return nil, err
	}
	if _, ok := Last(r.Fields, HeaderID); !ok {
		r.ID = instance + "-" + message.NewUUID()
		r.Fields = append(r.Fields, Field{HeaderID, r.ID})
	} else if r.ID == "" {
		// X-Road keeps an empty X-Road-Id and fails later, when the
		// response parse finds it empty (RestResponse.of line 200).
		return nil, badRequest("header X-Road-Id is empty; leave it out to have one generated")
	}
	return r, nil
}

// ParseRequestPart reads a request header part another security server
// sent (RestRequest(byte[]), lines 78-97). The part must be exactly what
// [Request.HeaderPart] writes for the fields it holds. Errors are
// *message.Fault without a prefix: InternalError (what X-Road's
// translateException makes of its IllegalArgumentException) or
// InvalidClientIdentifier; the server proxy adds its own prefix.
func ParseRequestPart(b []byte) (*Request, error) {
	method, target, fields, err := splitPart(b)
	if err != nil {
		return nil, message.Faultf(message.InternalError, "REST request header part: %v", err)
	}
	if strings.HasPrefix(target, "//") || !strings.HasPrefix(target, "/") || strings.Contains(target, "#") {
		// java.net.URI would find an authority, a scheme or a fragment, and
		// RestRequest refuses the first two (line 85) and drops the third.
		return nil, message.Faultf(message.InternalError, "REST request header part: invalid request URI %q", target)
	}
	if err := checkTarget(target); err != nil {
		return nil, message.Faultf(message.InternalError, "REST request header part: %v", err)
	}
	path, query, hasQuery := cutQuery(target)
	r := &Request{Method: method, Path: path, Query: query, HasQuery: hasQuery, Fields: fields}
	if err := r.decode(); err != nil {
		var f *message.Fault
		if errors.As(err, &f) {
			code := strings.TrimPrefix(f.Code, message.ClientPrefix+".")
			if code == BadRequest {
				code = message.InternalError
			}
			return nil, &message.Fault{Code: code, String: "REST request header part: " + f.String, Detail: f.Detail}
		}
		return nil, err
	}
	return r, nil
}

// splitTarget cuts a request target into raw path and query, after dropping
// an absolute form's scheme and authority and any fragment.
func splitTarget(target string) (path, query string, hasQuery bool, err error) {
	if i := strings.IndexByte(target, '#'); i >= 0 {
		target = target[:i]
	}
	if !strings.HasPrefix(target, "/") {
		scheme, rest, ok := strings.Cut(target, "://")
		if !ok || scheme == "" || strings.ContainsAny(scheme, "/?") {
			return "", "", false, fmt.Errorf("request target %q is neither a path nor an absolute URI", target)
		}
		i := strings.IndexAny(rest, "/?")
		if i < 0 || rest[i] != '/' {
			return "", "", false, fmt.Errorf("request target %q has no path", target)
		}
		target = rest[i:]
	}
	if strings.HasPrefix(target, "//") {
		return "", "", false, fmt.Errorf("request path %q starts with //", target)
	}
	if err := checkTarget(target); err != nil {
		return "", "", false, err
	}
	path, query, hasQuery = cutQuery(target)
	return path, query, hasQuery, nil
}

// checkTarget refuses what java.net.URI refuses in a path and query (RFC
// 2396 with non-ASCII "other" characters allowed): controls, space,
// "<>\^`{|} and a '%' not followed by two hex digits.
func checkTarget(t string) error {
	if err := checkText("request target", t); err != nil {
		return err
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c == '%':
			if i+2 >= len(t) || unhex(t[i+1]) < 0 || unhex(t[i+2]) < 0 {
				return fmt.Errorf("request target %q: '%%' must start a %%XX escape", t)
			}
		case c <= ' ' || c == 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0:
			return fmt.Errorf("request target %q: character %q must be percent-encoded", t, c)
		}
	}
	return nil
}

func cutQuery(target string) (path, query string, hasQuery bool) {
	return strings.Cut(target, "?")
}

func badRequest(format string, a ...any) *message.Fault {
	return message.Faultf(message.Code(message.ClientPrefix, BadRequest), format, a...)
}

func badClientID(format string, a ...any) *message.Fault {
	return message.Faultf(message.Code(message.ClientPrefix, message.InvalidClientIdentifier), format, a...)
}

// decode checks the method and reads the identifiers from the path and the
// X-Road header fields (RestRequest.decodeIdentifiers, lines 165-202, and
// decodeHeaders, lines 204-218).
func (r *Request) decode() error {
	if !isMethod(r.Method) {
		return badRequest("HTTP method %q is not supported; use one of %s", r.Method, strings.Join(Methods, ", "))
	}
	// split("/", 8): "", "r1", five identifier segments, the rest.
	parts := strings.SplitN(r.Path, "/", 8)
	if len(parts) < 7 || parts[0] != "" {
		return badRequest("request path %q must be /%s/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/path] (PR-REST §4.1)", r.Path, Version)
	}
	if v := parts[1]; v != Version {
		if len(v) == 2 && v[0] == 'r' && v[1] >= '0' && v[1] <= '9' {
			return message.Faultf(message.Code(message.ClientPrefix, message.InvalidProtocolVersion), "unsupported REST protocol version %s; this server speaks %s", v, Version)
		}
		return badRequest("invalid REST protocol version %q in request path; use /%s/", v, Version)
	}
	var seg [5]string
	for i := range seg {
		s, err := DecodeSegment(parts[2+i])
		if err != nil {
			return badRequest("request path segment %q: %v", parts[2+i], err)
		}
		seg[i] = s
	}
	r.Service = identifier.ServiceID{
		Provider:    identifier.Client{Instance: seg[0], MemberClass: seg[1], MemberCode: seg[2], SubsystemCode: seg[3]},
		ServiceCode: seg[4],
	}
	if err := r.Service.Validate(); err != nil {
		return badClientID("service in request path: %v", err)
	}
	r.ServicePath = ""
	if len(parts) == 8 {
		r.ServicePath = "/" + parts[7]
	}
	return r.decodeFields()
}

func isMethod(m string) bool {
	for _, v := range Methods {
		if v == m {
			return true
		}
	}
	return false
}

func (r *Request) decodeFields() error {
	v, ok := Last(r.Fields, HeaderClient)
	if !ok {
		return badClientID("the client identifier is missing; send header X-Road-Client: INSTANCE/CLASS/MEMBER[/SUBSYSTEM]")
	}
	c, err := decodeClient(v)
	if err != nil {
		return err
	}
	r.Client = c
	r.ID, _ = Last(r.Fields, HeaderID)
	r.UserID, _ = Last(r.Fields, HeaderUserID)
	r.Issue, _ = Last(r.Fields, HeaderIssue)
	// x-road-request-id is matched case-sensitively (MimeUtils.HEADER_REQUEST_ID.equals,
	// RestRequest.java line 210); X-Road writes it in lower case.
	r.RequestID = ""
	for _, f := range r.Fields {
		if f.Name == HeaderRequestID {
			r.RequestID = f.Value
		}
	}
	if r.SecurityServer, err = optional(r.Fields, HeaderSecurityServer, decodeServer); err != nil {
		return err
	}
	r.RepresentedParty, err = optional(r.Fields, HeaderRepresentedParty, decodeParty)
	return err
}

// optional decodes the last field named name, or returns nil when there is
// none.
func optional[T any](fields []Field, name string, decode func(string) (T, error)) (*T, error) {
	v, ok := Last(fields, name)
	if !ok {
		return nil, nil
	}
	t, err := decode(v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// decodeSegments splits v at '/' into n parts (X-Road's split with a limit
// one more than allowed, so an extra '/' is an error) and percent-decodes
// each.
func decodeSegments(what, v string, min, max int) ([]string, error) {
	parts := strings.SplitN(v, "/", max+1)
	if len(parts) < min || len(parts) > max {
		return nil, badRequest("invalid %s %q", what, v)
	}
	for i, p := range parts {
		s, err := DecodeSegment(p)
		if err != nil {
			return nil, badRequest("%s %q: %v", what, v, err)
		}
		parts[i] = s
	}
	return parts, nil
}

// decodeClient reads X-Road-Client: INSTANCE/CLASS/MEMBER[/SUBSYSTEM], each
// part percent-encoded (RestMessage.decodeClientId, lines 178-190).
func decodeClient(v string) (identifier.Client, error) {
	p, err := decodeSegments("X-Road-Client", v, 3, 4)
	if err != nil {
		return identifier.Client{}, err
	}
	c := identifier.Client{Instance: p[0], MemberClass: p[1], MemberCode: p[2]}
	if len(p) == 4 {
		if p[3] == "" {
			return c, badClientID("X-Road-Client %q has an empty subsystem code", v)
		}
		c.SubsystemCode = p[3]
	}
	if err := c.Validate(); err != nil {
		return c, badClientID("X-Road-Client %q: %v", v, err)
	}
	return c, nil
}

// decodeServer reads X-Road-Security-Server: INSTANCE/CLASS/MEMBER/SERVER
// (RestRequest.decodeServerId, lines 220-232).
func decodeServer(v string) (identifier.ServerID, error) {
	p, err := decodeSegments("X-Road-Security-Server", v, 4, 4)
	if err != nil {
		return identifier.ServerID{}, err
	}
	s := identifier.ServerID{Owner: identifier.Client{Instance: p[0], MemberClass: p[1], MemberCode: p[2]}, ServerCode: p[3]}
	if err := s.Validate(); err != nil {
		return s, badClientID("X-Road-Security-Server %q: %v", v, err)
	}
	return s, nil
}

// decodeParty reads X-Road-Represented-Party: [CLASS/]CODE
// (RestRequest.decodeRepresentedParty, lines 234-251; X-Road's split drops
// trailing empty parts, Şlüz refuses every empty part).
func decodeParty(v string) (RepresentedParty, error) {
	p, err := decodeSegments("X-Road-Represented-Party", v, 1, 2)
	if err != nil {
		return RepresentedParty{}, err
	}
	rp := RepresentedParty{Code: p[len(p)-1]}
	if len(p) == 2 {
		rp.Class = p[0]
		if err := identifier.CheckPart("representedParty class", rp.Class); err != nil {
			return rp, badClientID("X-Road-Represented-Party %q: %v", v, err)
		}
	}
	if err := identifier.CheckPart("representedParty code", rp.Code); err != nil {
		return rp, badClientID("X-Road-Represented-Party %q: %v", v, err)
	}
	return rp, nil
}

// DecodeSegment percent-decodes one path segment as X-Road's
// UriUtils.uriSegmentPercentDecode (UriUtils.java lines 64-153): the
// characters of RFC 3986 pchar (unreserved, sub-delims, ':' and '@') pass,
// %XX (either case) is decoded, anything else, '/' included, is an error;
// the decoded bytes are read as UTF-8 (invalid sequences are an error here;
// Java would substitute U+FFFD).
func DecodeSegment(s string) (string, error) {
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !safe(s[i]) {
				return "", fmt.Errorf("character %q is not allowed in a path segment; percent-encode it", s[i])
			}
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) {
				return "", errors.New("incomplete percent encoding")
			}
			h, l := unhex(s[i+1]), unhex(s[i+2])
			if h < 0 || l < 0 {
				return "", fmt.Errorf("invalid percent encoding %q", s[i:i+3])
			}
			b = append(b, byte(h<<4|l))
			i += 2
		case safe(c):
			b = append(b, c)
		default:
			return "", fmt.Errorf("character %q is not allowed in a path segment; percent-encode it", c)
		}
	}
	if !utf8.Valid(b) {
		return "", errors.New("percent-encoded bytes are not UTF-8")
	}
	return string(b), nil
}

// safe is UriUtils.safeChar: ALPHA DIGIT - . _ ~ ! $ & ' ( ) * + , ; = : @
func safe(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}
