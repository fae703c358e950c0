package message

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
)

// RequestHashOf is the SHA-512 digest of a request's SOAP bytes, the value
// of requestHash (PR-MESS §2.2). Pass Message.SOAP: the whole body, or the
// first MIME part of a message with attachments.
func RequestHashOf(raw []byte) []byte {
	s := sha512.Sum512(raw)
	return s[:]
}

// SOAPDigest is the SHA-512 digest of m.SOAP (RequestHashOf), computed on
// the first call and remembered: a request's digest serves its signature,
// its log record and the check of its response's requestHash, one
// computation for all. It is computed again when m.SOAP was set to another
// slice since (other bytes or another length); its bytes must not be
// changed in place. Like the rest of a Message, it is not for concurrent
// use.
func (m *Message) SOAPDigest() []byte {
	if m.soapDigest == nil || !sameSlice(m.SOAP, m.soapOf) {
		m.soapDigest, m.soapOf = RequestHashOf(m.SOAP), m.SOAP
	}
	return m.soapDigest
}

// sameSlice reports whether a and b are the same bytes in memory.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// InsertRequestHash returns a copy of the response's bytes (m.Raw) with
//
//	<P:requestHash algorithmId="http://www.w3.org/2001/04/xmlenc#sha512">BASE64(sum)</P:requestHash>
//
// inserted immediately after the end tag of the id header, and any
// requestHash element the service sent removed: PR-MESS §2.2 has the
// provider's security server fill it in. P is the prefix bound to the
// X-Road namespace where the id element is (the id element's own prefix
// when it is); if none is, the element declares the id element's prefix
// itself. No white space is added: apart from the removed element, the
// result differs from m.Raw only by the inserted element.
//
// sum must be a SHA-512 digest (see RequestHashOf). m must be a parsed
// response with an id header (not a fault).
func (m *Message) InsertRequestHash(sum []byte) ([]byte, error) {
	if len(sum) != sha512.Size {
		return nil, errors.New("message: requestHash must be a SHA-512 digest (64 bytes)")
	}
	if m.idEnd == 0 {
		return nil, errors.New("message: no xrd:id header to put requestHash after")
	}
	qname := "requestHash"
	if m.hashPrefix != "" {
		qname = m.hashPrefix + ":requestHash"
	}
	raw := m.Raw
	// The element: its start tag (with a namespace declaration if the
	// prefix is not bound there), the digest, its end tag.
	size := 2*len(qname) + 5 + len(` algorithmId="`+HashAlgorithmSHA512+`">`) + base64.StdEncoding.EncodedLen(len(sum))
	if !m.hashBound {
		size += len(` xmlns:="`+NamespaceXRoad+`"`) + len(m.hashPrefix)
	}
	out := make([]byte, 0, len(raw)+size)
	cut := func(from, to int) {
		// copy raw[from:to] without the old requestHash element
		if m.hashEnd > 0 && m.hashStart >= from && m.hashEnd <= to {
			out = append(out, raw[from:m.hashStart]...)
			out = append(out, raw[m.hashEnd:to]...)
			return
		}
		out = append(out, raw[from:to]...)
	}
	cut(0, m.idEnd)
	out = append(out, '<')
	out = append(out, qname...)
	if !m.hashBound {
		if m.hashPrefix == "" {
			out = append(out, ` xmlns="`+NamespaceXRoad+`"`...)
		} else {
			out = append(out, ` xmlns:`...)
			out = append(out, m.hashPrefix...)
			out = append(out, `="`+NamespaceXRoad+`"`...)
		}
	}
	out = append(out, ` algorithmId="`+HashAlgorithmSHA512+`">`...)
	out = base64.StdEncoding.AppendEncode(out, sum)
	out = append(out, "</"...)
	out = append(out, qname...)
	out = append(out, '>')
	cut(m.idEnd, len(raw))
	return out, nil
}

// hashFor computes a request digest with the algorithm a response names.
func hashFor(algorithm string, data []byte) ([]byte, bool) {
	switch algorithm {
	case HashAlgorithmSHA512:
		return RequestHashOf(data), true
	case "http://www.w3.org/2001/04/xmldsig-more#sha384":
		s := sha512.Sum384(data)
		return s[:], true
	case "http://www.w3.org/2001/04/xmlenc#sha256":
		s := sha256.Sum256(data)
		return s[:], true
	}
	return nil, false
}

// CheckResponse checks a response against its request as the client's
// security server must (PR-MESS §2.2; X-Road ClientMessageProcessor): the
// header fields client, service, id, userId, issue and representedParty
// equal the request's, else Server.ClientProxy.ServiceFailed.InconsistentResponse;
// and requestHash is present and equals the digest of the request's SOAP
// bytes, else Server.ClientProxy.InconsistentResponse. A fault response is
// returned as the error (its *Fault), unchanged.
func CheckResponse(req, resp *Message) error {
	if resp.IsFault {
		return resp.Fault
	}
	q, r := &req.Header, &resp.Header
	field := ""
	switch {
	case q.Client != r.Client:
		field = "client"
	case q.Service != r.Service:
		field = "service"
	case q.ID != r.ID:
		field = "id"
	case q.UserID != r.UserID:
		field = "userId"
	case q.Issue != r.Issue:
		field = "issue"
	case (q.RepresentedParty == nil) != (r.RepresentedParty == nil) ||
		q.RepresentedParty != nil && *q.RepresentedParty != *r.RepresentedParty:
		field = "representedParty"
	}
	if field != "" {
		return Faultf(Code(ClientProxy, ServiceFailed, InconsistentResponse),
			"response from server proxy is not consistent with request: field '%s' does not match", field)
	}
	rh := r.RequestHash
	if rh == nil {
		return Faultf(Code(ClientProxy, InconsistentResponse), "response from server proxy is missing request message hash")
	}
	want, ok := []byte(nil), true
	if rh.Algorithm == HashAlgorithmSHA512 {
		want = req.SOAPDigest()
	} else {
		want, ok = hashFor(rh.Algorithm, req.SOAP)
	}
	if !ok {
		return Faultf(Code(ClientProxy, InconsistentResponse), "response requestHash uses unsupported algorithm %q", rh.Algorithm)
	}
	if !bytes.Equal(want, rh.Value) {
		return Faultf(Code(ClientProxy, InconsistentResponse), "request message hash does not match request message")
	}
	return nil
}
