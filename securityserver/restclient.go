package securityserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/rest"
	"github.com/sluz/sluz/securityserver/spool"
	"github.com/sluz/sluz/securityserver/transport"
)

// The REST protocol (PR-REST) through the client proxy: an IS's
// METHOD /r1/{service}[/path][?query] is read with package rest, its header
// part signed as /message.xml and its body, if any, as /attachment1 through
// a hash chain, and the signed transport message sent to the provider's
// server with x-road-message-type: REST (restservice.go answers it). The
// answer's signature, header part and X-Road-Request-Hash are checked
// before the IS gets the provider's status, header fields and body.
// Failures reach the IS as X-Road's REST errors (rest.WriteError).
//
// Bodies stream as SOAP attachments do: each is spooled (package spool,
// dataDir/spool) and hashed while it arrives, sent on from the spool,
// logged as an attachment file, and held to limits.maxAttachmentSize; the
// rest of a REST message (header part, signature) to
// limits.maxMessageSize.

// restAnswer is a REST exchange's result: on the client side the verified
// response for the IS, on the service side the signed transport message.
type restAnswer struct {
	resp *rest.Response
	body *transport.Attachment // the response body (nil when none), held or spooled
	out  transport.Body
	ct   string // Content-Type of out
}

// serveRESTClient is the client proxy for an IS's REST request, and for
// GET /listClients (restmeta.go).
func (s *Server) serveRESTClient(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/listClients" {
		s.serveListClients(w, r)
		return
	}
	start := time.Now()
	t := trace{files: s.newSpool()}
	defer t.files.Close()
	req, ans, f := s.restExchange(r, &t)
	s.restReply(w, r, clientSide, req, ans, f, start, &t)
}

// restExchange reads the IS's request, sends it signed and returns the
// provider's verified answer.
func (s *Server) restExchange(r *http.Request, t *trace) (*rest.Request, *restAnswer, *message.Fault) {
	ctx := r.Context()
	t.requestID = message.NewUUID() // x-road-request-id, as X-Road makes it per request
	req, err := rest.NewRequest(r.Method, r.RequestURI, rest.FieldsFromHeader(r.Header), t.requestID, s.cfg.Server.Owner.Instance)
	if err != nil {
		return nil, nil, asFault(err, message.Code(message.ClientPrefix, rest.BadRequest))
	}
	body, f := readRESTBody(r, s.attachmentLimit(), t)
	if f != nil {
		return req, nil, f
	}
	rt, f := s.route(ctx, req.Client, req.Service.Provider, req.SecurityServer)
	if f != nil {
		return req, nil, f
	}
	head := req.HeaderPart()
	signStart := time.Now()
	sig, att, err := s.signMessage(rt.signer, head, restBodyPart(body), signStart)
	observeSince(s.metrics.sign[clientSide], signStart)
	if err != nil {
		return req, nil, clientSide.fault(message.CannotCreateSignature, "signing the request failed: %v", err)
	}
	tm := &transport.Message{OCSP: [][]byte{rt.authOCSP}, SOAPType: transport.TypeRESTRequest, SOAP: head, Signature: sig}
	att.intoREST(tm)
	out, err := tm.Encode()
	if err != nil {
		return req, nil, clientSide.fault(message.InternalError, "encoding the request: %v", err)
	}
	t.out = time.Now()
	// In turn; the next only if the connection failed (failover.go).
	resp, srv, err := s.failover.tryInTurn(rt.servers, func(srv globalconf.ServerAddress) (*http.Response, error) {
		return s.restPost(ctx, srv, out, tm.ContentType, t.requestID)
	})
	if err != nil {
		return req, nil, clientSide.fault(message.NetworkError, "cannot reach the provider's security server: %v", err)
	}
	t.peer, t.peerAddr, t.in = srv.ID, srv.Address, time.Now()
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	ans, tr, f := s.readRESTResponse(rt.snap, req, bodyDigest(body), resp, t)
	if f != nil {
		return req, nil, f
	}
	if f := s.appendLog(ctx, clientSide, t,
		s.newRecord(clientSide, t, req.ID, req.Client, req.Service, t.requestID, req.Client, logged{messagelog.Request, head, sig, transport.TypeRESTRequest, att}),
		s.newRecord(clientSide, t, req.ID, req.Client, req.Service, t.requestID, req.Client, logged{messagelog.Response, tr.SOAP, tr.Signature, transport.TypeRESTResponse, attachedOf(tr)})); f != nil {
		return req, nil, f
	}
	return req, ans, nil
}

// readRESTBody spools an IS's request body (t.files), hashing it as it
// arrives, at most limit bytes (limits.maxAttachmentSize); an empty body
// is none (nil), as X-Road sends a body part only for data.
func readRESTBody(r *http.Request, limit int64, t *trace) (*transport.Attachment, *message.Fault) {
	tooLarge := func() *message.Fault {
		return message.Faultf(message.Code(message.ClientPrefix, message.InvalidMessage), "the request body exceeds the limit of %d bytes (%s)", limit, limitAttachments)
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	c, err := t.files.Copy(r.Body, limit)
	if errors.Is(err, spool.ErrTooLarge) {
		return nil, tooLarge()
	}
	if err != nil {
		return nil, t.internal(message.Faultf(message.Code(message.ClientPrefix, message.IOError), "reading the request body failed"), err)
	}
	return restBody(c), nil
}

// restBody is spooled content as a REST body, nil when it is empty.
func restBody(c *spool.Content) *transport.Attachment {
	if c.Size() == 0 {
		return nil
	}
	a := transport.FromSpool(c)
	a.ContentType = transport.TypeRESTBody
	return &a
}

// bodyDigest is a REST body's SHA-512 (computed as it streamed in), nil
// for none.
func bodyDigest(body *transport.Attachment) []byte {
	if body == nil {
		return nil
	}
	return body.Digest()
}

// restBodyPart is a REST body as the one attachment signMessage chains
// (/attachment1), or none.
func restBodyPart(body *transport.Attachment) []transport.Attachment {
	if body == nil {
		return nil
	}
	return []transport.Attachment{*body}
}

// intoREST puts a REST body and its hash chain into a transport message.
func (a *attached) intoREST(tm *transport.Message) {
	if a != nil {
		if len(a.atts) > 0 { // a bodiless message signed in a batch has only the chain
			tm.RESTBody = &a.atts[0]
		}
		tm.HashChainResult, tm.HashChain = a.result, a.chain
	}
}

// restPost sends a REST transport message to one provider server (post
// for REST: X-Road marks it with x-road-message-type and sends no
// x-original-* headers).
func (s *Server) restPost(ctx context.Context, srv globalconf.ServerAddress, body transport.Body, contentType, requestID string) (*http.Response, error) {
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set(rest.HeaderMessageType, rest.MessageTypeREST)
	h.Set(transport.HeaderRequestID, requestID)
	h.Set(transport.HeaderHashAlgorithm, transport.HashAlgorithm)
	h.Set(transport.HeaderProxyVersion, Version)
	return s.postTo(ctx, srv, body, h)
}

// readRESTResponse checks the provider's answer before anything reaches
// the IS: a fault of the provider's server, or a transport message signed
// by the provider's member whose header part answers req
// (rest.CheckResponse: ids and X-Road-Request-Hash).
func (s *Server) readRESTResponse(snap *globalconf.Snapshot, req *rest.Request, bodyDigest []byte, resp *http.Response, t *trace) (*restAnswer, *transport.Message, *message.Fault) {
	tr, f := s.decodeAnswer(resp, t, "the provider's answer body is")
	if f != nil {
		return nil, nil, f
	}
	if !transport.IsREST(tr.SOAPType) {
		return nil, nil, clientSide.fault(message.InvalidMessage, "the provider's security server answered a REST request with a %s part", tr.SOAPType)
	}
	if err := s.checkSignature(clientSide, t, snap, tr.Signature, received(tr), req.Service.Provider.MemberID()); err != nil {
		return nil, nil, t.refused(clientSide, err)
	}
	rr, err := rest.ParseResponsePart(tr.SOAP)
	if err != nil {
		return nil, nil, asFault(err, message.InternalError).WithPrefix(message.ClientProxy)
	}
	if err := rest.CheckResponse(req, bodyDigest, rr); err != nil {
		return nil, nil, asFault(err, clientSide.prefix()+message.InconsistentResponse)
	}
	return &restAnswer{resp: rr, body: tr.RESTBody}, tr, nil
}

// restReply ends a REST exchange on either side: the answer, or the fault
// (to the IS as X-Road's REST error, to a peer server as a SOAP fault, as
// X-Road's server proxy answers any failure), and one log line.
func (s *Server) restReply(w http.ResponseWriter, r *http.Request, sd side, req *rest.Request, ans *restAnswer, f *message.Fault, start time.Time, t *trace) {
	attrs := []any{"side", sd.String(), "protocol", "rest", "duration", time.Since(start).Round(time.Microsecond)}
	var client identifier.Client
	var service identifier.ServiceID
	if req != nil {
		client, service = req.Client, req.Service
		attrs = append(attrs, "id", req.ID, "client", client.String(), "service", service.String(), "method", req.Method)
	}
	result := "ok"
	if f != nil {
		result = f.Code
	}
	s.metrics.observe(sd, client, service, result, time.Since(start))
	s.monitorREST(sd, req, ans, f, start, t)
	if f != nil {
		if sd == clientSide {
			rest.WriteError(w, r, f)
		} else {
			f.WriteHTTP(w)
		}
		attrs = append(attrs, "fault", f.Code, "reason", f.String, "detail", f.Detail)
		if t.cause != nil {
			attrs = append(attrs, "cause", t.cause)
		}
		s.log.Warn("exchange failed", attrs...)
		return
	}
	if sd == serverSide {
		w.Header().Set("Content-Type", ans.ct)
		w.Header().Set(transport.HeaderHashAlgorithm, transport.HashAlgorithm)
		w.Header().Set("Content-Length", strconv.FormatInt(ans.out.Len(), 10))
		w.WriteHeader(http.StatusOK)
		ans.out.WriteTo(w)
		s.log.Info("exchange", append(attrs, "result", result, "status", ans.resp.Status, "bytes", ans.out.Len())...)
		return
	}
	// The provider's status, fields (its own and X-Road's x-road-*) and
	// body, as X-Road's ClientRestMessageProcessor.sendResponse writes them.
	h := w.Header()
	for _, fl := range ans.resp.Fields {
		h.Add(fl.Name, fl.Value)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // no sniffed type the provider did not send
	}
	st := ans.resp.Status
	var n int64
	if ans.body != nil {
		n = ans.body.Size()
	}
	if r.Method != http.MethodHead && st >= 200 && st != http.StatusNoContent && st != http.StatusNotModified {
		h.Set("Content-Length", strconv.FormatInt(n, 10))
	}
	w.WriteHeader(st)
	if ans.body != nil {
		transport.Body{ans.body.Segment()}.WriteTo(w) // from the spool
	}
	s.log.Info("exchange", append(attrs, "result", result, "status", st, "bytes", n)...)
}

// monitorREST queues the operational monitoring record of a REST exchange
// (monitor for REST): its identifiers, protocol version r1, service type
// REST with the method, service path and the provider's status, and the
// size of the answer's body (client side) or of the signed answer
// (service side).
func (s *Server) monitorREST(sd side, req *rest.Request, ans *restAnswer, f *message.Fault, start time.Time, t *trace) {
	if s.opmon == nil {
		return
	}
	rec := s.traced(sd, start, t)
	if req != nil {
		rec.SetClient(req.Client)
		rec.SetService(req.Service)
		rec.MessageID, rec.MessageUserID, rec.MessageIssue, rec.MessageProtocolVersion = req.ID, req.UserID, req.Issue, rest.Version
		if rp := req.RepresentedParty; rp != nil {
			rec.RepresentedPartyClass, rec.RepresentedPartyCode = rp.Class, rp.Code
		}
		rec.ServiceType, rec.RestMethod, rec.RestPath = "REST", req.Method, req.ServicePath
	}
	var respSize int64
	if ans != nil {
		respSize = ans.out.Len()
		if ans.body != nil {
			respSize += ans.body.Size()
		}
		rec.StatusCode = ans.resp.Status
	}
	s.finish(rec, f, t, respSize)
}
