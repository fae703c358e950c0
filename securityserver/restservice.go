package securityserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/rest"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/spool"
	"github.com/sluz/sluz/securityserver/transport"
	"github.com/sluz/sluz/securityserver/verify"
)

// The REST protocol (PR-REST) through the service proxy: a transport
// message marked x-road-message-type: REST is checked as a SOAP one is
// (peer, signature, hosted provider, known service, access right, replay),
// the provider IS gets METHOD <service URL><path>[?query] with the
// client's header fields and body, and its status, fields and body go back
// in a response header part that carries X-Road-Request-Hash, signed by
// the provider's member. Redirects are not followed: a 3xx is the answer.

// isRESTTransport reports whether a peer's request is a REST exchange.
func isRESTTransport(r *http.Request) bool {
	return r.Header.Get(rest.HeaderMessageType) == rest.MessageTypeREST
}

// serveRESTServer is the service proxy for a REST request from a peer.
func (s *Server) serveRESTServer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t := trace{peerAddr: r.RemoteAddr, files: s.newSpool()}
	defer t.files.Close()
	req, ans, f := s.serveREST(r, &t)
	s.restReply(w, r, serverSide, req, ans, f, start, &t)
}

// serveREST handles one REST request; t gets the times and the peer.
func (s *Server) serveREST(r *http.Request, t *trace) (*rest.Request, *restAnswer, *message.Fault) {
	ctx := r.Context()
	snap, f := s.admit(r, t)
	if f != nil {
		return nil, nil, f
	}
	tr, f := s.decodeRequest(r, t, "the request body is")
	if f != nil {
		return nil, nil, f
	}
	if !transport.IsREST(tr.SOAPType) {
		return nil, nil, serverSide.fault(message.InvalidMessage, "a request marked %s: %s carries a %s part, not a REST header part", rest.HeaderMessageType, rest.MessageTypeREST, tr.SOAPType)
	}
	req, err := rest.ParseRequestPart(tr.SOAP)
	if err != nil {
		return nil, nil, asFault(err, message.InternalError).WithPrefix(message.ServerProxy)
	}
	t.requestID = r.Header.Get(transport.HeaderRequestID)
	if snap, f = s.checkPeer(r, snap, tr, nil, req.Client, t); f != nil {
		return req, nil, f
	}
	if verify.HostedProvider(snap, s.cfg.Server, req.Service.Provider) != nil { // perhaps hosted since the copy in use was fetched
		snap = s.recheck(ctx, snap)
		if err := verify.HostedProvider(snap, s.cfg.Server, req.Service.Provider); err != nil {
			return req, nil, s.refusedBy(t, serverSide, err, snap)
		}
	}
	// A meta service (PR-MREST) is answered here, to any client.
	meta := isRESTMeta(req.Service.ServiceCode)
	var svc config.Service
	if !meta {
		if svc, err = verify.KnownService(s.restService, req.Service); err != nil {
			return req, nil, t.refused(serverSide, err)
		}
		if err := verify.EndpointAccess(s.acl, req.Service, req.Client, snap.InGroup, req.Method, req.ServicePath); err != nil {
			return req, nil, t.refused(serverSide, err)
		}
	}
	if err := verify.Replay(s.replay, req.Client, req.ID, time.Now()); err != nil {
		return req, nil, t.refused(serverSide, err)
	}
	signer, f := s.responseSigner(ctx, req.Service.Provider, t)
	if f != nil {
		return req, nil, f
	}
	provider := req.Service.Provider
	logReq, f := s.startRequestLog(ctx, t, svc, s.newRecord(serverSide, t, req.ID, req.Client, req.Service, t.requestID, provider,
		logged{messagelog.Request, tr.SOAP, tr.Signature, transport.TypeRESTRequest, attachedOf(tr)}))
	if f != nil {
		return req, nil, f
	}
	ans, f := s.provideREST(ctx, t, req, tr, snap, svc, meta, signer, logReq)
	if f := logReq.then(t, f); f != nil {
		return req, nil, f
	}
	return req, ans, nil
}

// provideREST answers a checked REST request (a meta service here, else
// through the provider IS), signs the answer as the provider's member and
// logs it (durable when it returns) once the request's record is (logReq).
func (s *Server) provideREST(ctx context.Context, t *trace, req *rest.Request, tr *transport.Message, snap *globalconf.Snapshot, svc config.Service, meta bool, signer *signature.Signer, logReq *pendingLog) (*restAnswer, *message.Fault) {
	var (
		pr *providerAnswer
		f  *message.Fault
	)
	if meta {
		pr, f = s.answerRESTMeta(req, snap, t)
	} else {
		t.out = time.Now()
		pr, f = s.callRESTProvider(ctx, req, tr.RESTBody, svc, t)
		t.in = time.Now()
		observeSince(s.metrics.providerObserver(svc.ID), t.out)
	}
	if f != nil {
		return nil, f
	}
	// X-Road-Request-Hash binds the answer to the request exactly as
	// received (PR-REST §4.3).
	resp, err := rest.NewResponse(req, pr.status, pr.reason, pr.fields, rest.RequestHash(tr.SOAP, bodyDigest(tr.RESTBody)), t.requestID)
	if err != nil {
		return nil, serverSide.fault(message.ServiceFailed, "the provider information system's answer cannot be carried: %v", err)
	}
	head := resp.HeaderPart()
	signStart := time.Now()
	sig, att, err := s.signMessage(signer, head, restBodyPart(pr.body), signStart)
	observeSince(s.metrics.sign[serverSide], signStart)
	if err != nil {
		return nil, t.internal(serverSide.fault(message.CannotCreateSignature, "signing the response failed"), err)
	}
	tm := &transport.Message{SOAPType: transport.TypeRESTResponse, SOAP: head, Signature: sig}
	att.intoREST(tm)
	out, err := tm.Encode()
	if err != nil {
		return nil, t.internal(serverSide.fault(message.InternalError, "the response could not be encoded"), err)
	}
	if f := logReq.wait(t); f != nil {
		return nil, f
	}
	if f := s.appendLog(ctx, serverSide, t, s.newRecord(serverSide, t, req.ID, req.Client, req.Service, t.requestID, req.Service.Provider,
		logged{messagelog.Response, head, sig, transport.TypeRESTResponse, att})); f != nil {
		return nil, f
	}
	return &restAnswer{resp: resp, out: out, ct: tm.ContentType}, nil
}

// restService is the configured REST service for a service id: a SOAP
// service of the same code is not one.
func (s *Server) restService(id identifier.ServiceID) (config.Service, bool) {
	svc, ok := s.cfg.ServiceFor(id)
	return svc, ok && svc.IsREST()
}

// providerAnswer is a provider IS's REST answer.
type providerAnswer struct {
	status int
	reason string
	fields []rest.Field
	body   *transport.Attachment // nil when empty; spooled when long
}

// callRESTProvider sends the request to the provider IS as
// METHOD <svc.URL><path>[?query] with the client's header fields and body,
// and spools its answer's body (at most limits.maxAttachmentSize), hashing
// it on the way; the request body is sent from the spool.
func (s *Server) callRESTProvider(ctx context.Context, req *rest.Request, body *transport.Attachment, svc config.Service, t *trace) (*providerAnswer, *message.Fault) {
	timeout := svc.Timeout.D()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := svc.URL
	if req.ServicePath != "" {
		target = strings.TrimSuffix(target, "/") + req.ServicePath
	}
	if req.HasQuery {
		target += "?" + req.Query
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, target, http.NoBody)
	if err != nil {
		return nil, t.internal(serverSide.fault(message.InternalError, "the provider information system's address is not usable with this request"), err)
	}
	if body != nil {
		hreq.Body, hreq.ContentLength = io.NopCloser(body.Reader()), body.Size()
		hreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body.Reader()), nil }
	}
	for _, f := range rest.ProviderFields(req) {
		hreq.Header.Add(f.Name, f.Value)
	}
	if _, ok := hreq.Header["User-Agent"]; !ok {
		hreq.Header.Set("User-Agent", "") // none of Go's: the IS sees the fields the client sent
	}
	resp, f := s.sendProvider(ctx, s.restProvider, hreq, timeout, t)
	if f != nil {
		return nil, f
	}
	defer resp.Body.Close()
	c, err := t.files.Copy(resp.Body, s.attachmentLimit())
	switch {
	case errors.Is(err, spool.ErrTooLarge):
		return nil, serverSide.fault(message.ServiceFailed, "the provider's answer body is over the %d-byte limit (%s)", s.attachmentLimit(), limitAttachments)
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, serverSide.fault(message.ServiceFailed, "the provider information system did not finish its answer within %s", timeout)
	case err != nil:
		return nil, t.internal(serverSide.fault(message.ServiceFailed, "the provider information system's answer broke off"), err)
	}
	reason := strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))
	return &providerAnswer{status: resp.StatusCode, reason: strings.TrimSpace(reason), fields: rest.FieldsFromHeader(resp.Header), body: restBody(c)}, nil
}

// newRESTProviderClient is the client for REST provider IS: no redirects
// followed (PR-REST §4.5: a 3xx is the answer) and no compression
// negotiated on the client's behalf, so that the provider sees the
// client's Accept-Encoding and the client the provider's bytes.
func newRESTProviderClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
