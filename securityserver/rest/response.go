package rest

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
)

// Response is a REST response header part as X-Road carries it back from
// the provider's security server.
type Response struct {
	Status int
	Reason string
	// Fields are the header fields in order: the provider's, filtered, then
	// x-road-id, x-road-client, x-road-service, x-road-request-id and
	// x-road-request-hash.
	Fields []Field

	ID          string               // x-road-id
	Client      identifier.Client    // x-road-client
	Service     identifier.ServiceID // x-road-service
	RequestID   string               // x-road-request-id
	RequestHash []byte               // x-road-request-hash, decoded
}

// NewResponse builds the response header part the provider's security
// server signs, as RestResponse's constructor (lines 88-111): the
// provider's fields minus the skipped ones and any x-road-id,
// x-road-request-hash, x-road-client and x-road-request-id, in order; then
// x-road-id, x-road-client, x-road-service (identifiers percent-encoded per
// part), x-road-request-id and x-road-request-hash (standard base64). A
// provider's own x-road-service stays, before X-Road's (X-Road does not
// filter it); readers take the last. requestID is the x-road-request-id
// header of the transport request (ServerRestMessageProcessor line 553).
func NewResponse(req *Request, status int, reason string, fields []Field, requestHash []byte, requestID string) (*Response, error) {
	if status < 100 || status > 999 {
		return nil, fmt.Errorf("rest: response status %d is not a 3-digit HTTP status", status)
	}
	if err := checkText("reason phrase", reason); err != nil {
		return nil, fmt.Errorf("rest: %w", err)
	}
	if err := checkFields(fields); err != nil {
		return nil, fmt.Errorf("rest: provider response: %w", err)
	}
	r := &Response{Status: status, Reason: reason, ID: req.ID, Client: req.Client, Service: req.Service,
		RequestID: requestID, RequestHash: requestHash}
	r.Fields = append(without(fields, HeaderID, HeaderRequestHash, HeaderClient, HeaderRequestID),
		Field{HeaderID, req.ID},
		Field{HeaderClient, EncodeClient(req.Client)},
		Field{HeaderService, EncodeService(req.Service)},
		Field{HeaderRequestID, requestID},
		Field{HeaderRequestHash, base64.StdEncoding.EncodeToString(requestHash)},
	)
	return r, nil
}

// HeaderPart serialises the response header part exactly as X-Road's
// RestResponse.toByteArray (lines 114-127):
//
//	STATUS CRLF reason CRLF (Name:Value CRLF)*
func (r *Response) HeaderPart() []byte {
	return appendPart(nil, strconv.Itoa(r.Status), r.Reason, r.Fields)
}

// IsError reports a 4xx or 5xx status (RestResponse.isErrorResponse).
func (r *Response) IsError() bool { return r.Status >= 400 && r.Status <= 599 }

// ParseResponsePart reads a response header part (RestResponse.of, lines
// 161-206): the status (digits, first one 1-9, as RestMessage.of tells a
// response from a request; Şlüz also requires 100-999), the reason, the
// fields; the last x-road-id, x-road-request-hash, x-road-service,
// x-road-client and x-road-request-id (any case) are read, and x-road-id
// and x-road-request-hash must be present and non-empty. Errors are
// *message.Fault with code InternalError, unprefixed.
func ParseResponsePart(b []byte) (*Response, error) {
	fail := func(format string, a ...any) (*Response, error) {
		return nil, message.Faultf(message.InternalError, "REST response header part: "+format, a...)
	}
	status, reason, fields, err := splitPart(b)
	if err != nil {
		return fail("%v", err)
	}
	code, err := strconv.Atoi(status)
	if err != nil || status[0] < '1' || status[0] > '9' || code > 999 || code < 100 {
		return fail("invalid status %q", status)
	}
	r := &Response{Status: code, Reason: reason, Fields: fields}
	r.ID, _ = Last(fields, HeaderID)
	if h, ok := Last(fields, HeaderRequestHash); ok {
		if r.RequestHash, err = base64.StdEncoding.DecodeString(h); err != nil {
			return fail("x-road-request-hash %q is not base64", h)
		}
	}
	if r.ID == "" || len(r.RequestHash) == 0 {
		return fail("x-road-id and x-road-request-hash are required (invalid REST response message)")
	}
	if v, ok := Last(fields, HeaderService); ok {
		p, err := decodeSegments("x-road-service", v, 5, 5)
		if err != nil {
			return fail("%v", err)
		}
		r.Service = identifier.ServiceID{Provider: identifier.Client{Instance: p[0], MemberClass: p[1], MemberCode: p[2], SubsystemCode: p[3]}, ServiceCode: p[4]}
		if err := r.Service.Validate(); err != nil {
			return fail("x-road-service %q: %v", v, err)
		}
	}
	if v, ok := Last(fields, HeaderClient); ok {
		if r.Client, err = decodeClient(v); err != nil {
			return fail("%v", err)
		}
	}
	r.RequestID, _ = Last(fields, HeaderRequestID)
	return r, nil
}

// RequestHash is X-Road-Request-Hash before base64 (PR-REST §4.3 "Request
// hash header"): SHA-512(SHA-512(request header part) ‖ bodyDigest) when the
// request had a body, SHA-512(request header part) when it had none
// (bodyDigest nil). bodyDigest is SHA-512 of the body bytes; a body of zero
// bytes counts as none (X-Road's client proxy sends a body part only when
// the first read returns data, ClientRestMessageProcessor lines 325-343;
// the provider hashes as ServerRestMessageProcessor lines 533-544 and the
// client checks as checkConsistency lines 246-261).
func RequestHash(headerPart, bodyDigest []byte) []byte {
	h := sha512.Sum512(headerPart)
	if bodyDigest == nil {
		return h[:]
	}
	d := sha512.New()
	d.Write(h[:])
	d.Write(bodyDigest)
	return d.Sum(nil)
}

// CheckResponse is the client security server's check of a response part
// against the request it sent (ClientRestMessageProcessor.checkConsistency,
// lines 231-262): the same client, X-Road-Id, service and request id, and
// an X-Road-Request-Hash equal to RequestHash(req.HeaderPart(), bodyDigest).
// The error is a *message.Fault Server.ClientProxy.InconsistentResponse.
func CheckResponse(req *Request, bodyDigest []byte, resp *Response) error {
	field := ""
	switch {
	case req.Client != resp.Client:
		field = "client id"
	case req.ID != resp.ID:
		field = "message id"
	case req.Service != resp.Service:
		field = "service id"
	case req.RequestID != resp.RequestID:
		field = "request id"
	case !bytes.Equal(RequestHash(req.HeaderPart(), bodyDigest), resp.RequestHash):
		field = "message hash"
	}
	if field != "" {
		return message.Faultf(message.Code(message.ClientProxy, message.InconsistentResponse),
			"response %s does not match request message", field)
	}
	return nil
}

// EncodeClient writes a client identifier as X-Road writes x-road-client
// in a response: each part escaped as a URL path segment, joined by '/'
// (RestResponse.encodeXRoadId, lines 208-221, Guava's
// urlPathSegmentEscaper).
func EncodeClient(c identifier.Client) string {
	s := EncodeSegment(c.Instance) + "/" + EncodeSegment(c.MemberClass) + "/" + EncodeSegment(c.MemberCode)
	if c.SubsystemCode != "" {
		s += "/" + EncodeSegment(c.SubsystemCode)
	}
	return s
}

// EncodeService writes a service identifier as X-Road writes
// x-road-service (see EncodeClient); a version, if any, is a last part.
func EncodeService(s identifier.ServiceID) string {
	out := EncodeClient(s.Provider) + "/" + EncodeSegment(s.ServiceCode)
	if s.ServiceVersion != "" {
		out += "/" + EncodeSegment(s.ServiceVersion)
	}
	return out
}

// EncodeSegment percent-encodes s as Guava's urlPathSegmentEscaper: ALPHA,
// DIGIT and -._~!$&'()*+,;=@: stay, every other UTF-8 byte becomes %XX
// (upper-case hex). Of the identifier characters only '?' is escaped.
func EncodeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safe(c) {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
