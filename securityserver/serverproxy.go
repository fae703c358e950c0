package securityserver

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
	"github.com/sluz/sluz/securityserver/verify"
)

// serveServer is the service proxy: a signed request from a peer security
// server in, the provider IS's signed answer out.
func (s *Server) serveServer(w http.ResponseWriter, r *http.Request) {
	if isRESTTransport(r) {
		s.serveRESTServer(w, r) // restservice.go
		return
	}
	start := time.Now()
	t := trace{peerAddr: r.RemoteAddr, files: s.newSpool()}
	defer t.files.Close()
	req, resp, f := s.serve(r, &t)
	if f != nil {
		s.reply(w, serverSide, req, nil, f, start, &t)
		return
	}
	setHeaders(w.Header(), transport.HeaderHashAlgorithm, transport.HashAlgorithm,
		transport.HeaderOriginalContentType, resp.origType)
	s.reply(w, serverSide, req, resp, nil, start, &t)
}

// decodeRequest reads a peer's request within the limits; attachments
// names, in faults, what limits.maxAttachmentSize bounds.
func (s *Server) decodeRequest(r *http.Request, t *trace, attachments string) (*transport.Message, *message.Fault) {
	max := int64(s.cfg.Limits.MaxMessageSize)
	tr, err := transport.DecodeStream(r.Body, r.ContentLength, r.Header.Get("Content-Type"),
		transport.Streaming{MaxSize: max, MaxAttachments: s.attachmentLimit(), Spool: t.files}, true)
	switch {
	case err == nil:
		return tr, nil
	case errors.Is(err, transport.ErrTooLarge):
		return nil, serverSide.fault(message.InvalidMessage, "the request is over the %d-byte limit", max)
	case errors.Is(err, transport.ErrAttachmentsTooLarge):
		return nil, serverSide.fault(message.InvalidMessage, "%s over the %d-byte limit (%s)", attachments, s.attachmentLimit(), limitAttachments)
	}
	return nil, serverSide.fault(message.InvalidMessage, "the request is malformed: %v", err)
}

// serve handles one request; t gets the times and the peer.
func (s *Server) serve(r *http.Request, t *trace) (*message.Message, *answer, *message.Fault) {
	snap, f := s.admit(r, t)
	if f != nil {
		return nil, nil, f
	}
	max := int64(s.cfg.Limits.MaxMessageSize)
	tr, f := s.decodeRequest(r, t, "the request's attachments are")
	if f != nil {
		return nil, nil, f
	}
	s.metrics.size[serverSide][kindRequest].Observe(float64(len(tr.SOAP)))
	req, err := message.Parse(tr.SOAP, tr.SOAPType, message.ParseOptions{MaxSize: max, Request: true})
	if err != nil {
		return nil, nil, asFault(err, "Client."+message.InvalidMessage)
	}
	h := req.Header

	var soapDigest []byte // computed once for the signature, the request hash and the log
	if sameBytes(req.SOAP, tr.SOAP) {
		soapDigest = req.SOAPDigest()
	}
	if snap, f = s.checkPeer(r, snap, tr, soapDigest, h.Client, t); f != nil {
		return req, nil, f
	}
	if opmon.IsRequest(&h, s.cfg.Server) { // answered here; its filter by the proven client is its access control
		resp, f := s.serveOperationalData(r, req, tr, t)
		return req, resp, f
	}
	if s.isSOAPMeta(&h) && verify.HostedProvider(snap, s.cfg.Server, h.Service.Provider) == nil { // soapmeta.go
		resp, f := s.serveSOAPMeta(r, snap, req, tr, t)
		return req, resp, f
	}
	// The service is one this server provides, and the client may call it
	// (once).
	if verify.HostedProvider(snap, s.cfg.Server, h.Service.Provider) != nil { // perhaps hosted since the copy in use was fetched
		snap = s.recheck(r.Context(), snap)
		if err := verify.HostedProvider(snap, s.cfg.Server, h.Service.Provider); err != nil {
			return req, nil, s.refusedBy(t, serverSide, err, snap)
		}
	}
	svc, err := verify.KnownService(s.cfg.ServiceFor, h.Service)
	if err != nil {
		return req, nil, t.refused(serverSide, err)
	}
	if err := verify.Access(s.acl, h.Service, h.Client, snap.InGroup); err != nil {
		return req, nil, t.refused(serverSide, err)
	}
	if err := verify.Replay(s.replay, h.Client, h.ID, time.Now()); err != nil {
		return req, nil, t.refused(serverSide, err)
	}
	// Make sure the answer can be signed before the provider acts on the
	// request: a refused answer to a state-changing call invites a retry.
	signer, f := s.responseSigner(r.Context(), h.Service.Provider, t)
	if f != nil {
		return req, nil, f
	}
	requestID := r.Header.Get(transport.HeaderRequestID)
	t.requestID = requestID
	provider := h.Service.Provider
	logReq, f := s.startRequestLog(r.Context(), t, svc, s.record(serverSide, t, req, requestID, provider,
		logged{messagelog.Request, tr.SOAP, tr.Signature, tr.SOAPType, attachedOf(tr)}))
	if f != nil {
		return req, nil, f
	}
	resp, f := s.provide(r, t, req, tr, svc, signer, requestID, logReq)
	if f := logReq.then(t, f); f != nil {
		return req, nil, f
	}
	return req, resp, nil
}

// startRequestLog starts the append of a request's record before the
// provider IS is called, so that the group commit overlaps the provider's
// work (issue 14); the response's record is appended only once it is
// durable (skipped if it failed), so the log holds every request before
// its response and no response without its request, and no answer is
// released before both records are durable. The price: when the request's
// append fails, the provider has already seen the request while its client
// gets LoggingFailed — as when the response's append fails. A
// service configured with logRequestFirst keeps X-Road's strict order (the
// provider sees only a request whose record is durable), at the cost of a
// commit's latency; so does every service while the log is known to be
// failing (closed, or its last commit failed), so that a broken log lets
// no provider act on requests it then refuses: only those in flight when
// it first fails can be. An attachment file of the log that cannot be
// written refuses the request at once in either case.
func (s *Server) startRequestLog(ctx context.Context, t *trace, svc config.Service, rec *messagelog.Record) (*pendingLog, *message.Fault) {
	p := s.startLog(ctx, serverSide, t, rec)
	if p.failed() || svc.LogRequestFirst || s.logFailing() {
		if f := p.wait(t); f != nil {
			return nil, f
		}
	}
	return p, nil
}

// provide calls the provider IS with a checked request, signs its answer as
// the provider's member and logs it (durable when it returns) once the
// request's record is (logReq), so that the log never holds a response
// without its request, nor before it.
func (s *Server) provide(r *http.Request, t *trace, req *message.Message, tr *transport.Message, svc config.Service, signer *signature.Signer, requestID string, logReq *pendingLog) (*answer, *message.Fault) {
	// The provider IS gets the request as the client's IS sent it: the
	// SOAP message alone, or multipart/related with its attachments.
	isBody, isType := attachedOf(tr).forIS(tr.SOAPType, tr.SOAP)
	t.out = time.Now()
	ans, f := s.callProvider(r.Context(), req, isBody, isType, svc.URL, svc.Timeout.D(), r.Header.Get(transport.HeaderOriginalSOAPAction), t)
	t.in = time.Now()
	observeSince(s.metrics.providerObserver(svc.ID), t.out)
	if f != nil {
		return nil, f
	}
	s.metrics.size[serverSide][kindResponse].Observe(float64(len(ans.SOAP)))
	resp, f := s.signResponse(signer, ans, s.metrics.sign[serverSide], t)
	if f != nil {
		return nil, f
	}
	if f := logReq.wait(t); f != nil {
		return nil, f
	}
	if f := s.appendLog(r.Context(), serverSide, t, s.record(serverSide, t, req, requestID, req.Header.Service.Provider,
		logged{messagelog.Response, resp.soap, resp.signature, resp.soapType, resp.att})); f != nil {
		return nil, f
	}
	return resp, nil
}

// responseSigner is the provider member's signer with a fresh OCSP response.
func (s *Server) responseSigner(ctx context.Context, service identifier.Client, t *trace) (*signature.Signer, *message.Fault) {
	provider := service.MemberID()
	mk := s.sign[provider]
	if mk == nil {
		return nil, serverSide.fault(message.CannotCreateSignature, "this security server has no signing key for provider %s", provider)
	}
	signOCSP, err := s.status.get(ctx, mk.cert)
	if err != nil {
		return nil, t.internal(serverSide.fault(message.CertValidation, "this security server has no valid OCSP response for its signing certificate"), err)
	}
	return &signature.Signer{Key: mk.key, Cert: mk.cert, OCSP: signOCSP, Extra: []*x509.Certificate{mk.issuer}}, nil
}

// callProvider forwards the request (body of Content-Type ct: the SOAP
// bytes unchanged, with the attachments around them if any) to the
// provider IS and returns its answer, parsed, with requestHash over the
// request's SOAP part filled in (PR-MESS §2.4); t notes a SOAP fault of
// the provider IS.
func (s *Server) callProvider(ctx context.Context, req *message.Message, body transport.Body, ct string, url string, timeout time.Duration, soapAction string, t *trace) (*message.Message, *message.Fault) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body.Reader())
	if err != nil {
		return nil, t.internal(serverSide.fault(message.InternalError, "the provider information system's address is not usable"), err)
	}
	hreq.ContentLength = int64(body.Len())
	hreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body.Reader()), nil }
	setHeaders(hreq.Header, "Content-Type", ct, "SOAPAction", soapAction)
	resp, f := s.sendProvider(ctx, s.provider, hreq, timeout, t)
	if f != nil {
		return nil, f
	}
	defer resp.Body.Close()
	max := int64(s.cfg.Limits.MaxMessageSize)
	// The SOAP part is read whole, the attachments stream into the spool.
	respType := resp.Header.Get("Content-Type")
	in := &readFailure{r: resp.Body}
	msg, err := message.ReadStream(in, respType, message.ParseOptions{MaxSize: max}, message.Streaming{MaxAttachments: s.attachmentLimit(), LimitName: limitAttachments, Spool: t.files, Length: resp.ContentLength})
	switch {
	case err == nil:
	case in.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, serverSide.fault(message.ServiceFailed, "the provider information system did not finish its answer within %s", timeout)
	case in.err != nil:
		return nil, t.internal(serverSide.fault(message.ServiceFailed, "the provider information system's answer broke off"), in.err)
	default:
		return nil, serverSide.fault(message.ServiceFailed, "the provider information system answered HTTP %d with something that is not an X-Road message: %v", resp.StatusCode, err)
	}
	if msg.IsFault {
		t.providerFault = msg.Fault
		return msg, nil // a SOAP fault of the provider IS travels back signed, as X-Road does
	}
	// msg.Raw is the SOAP part (ReadStream): the request hash goes into it.
	out, err := msg.InsertRequestHash(req.SOAPDigest())
	if err != nil {
		return nil, serverSide.fault(message.ServiceFailed, "the provider's answer cannot carry the request hash: %v", err)
	}
	return &message.Message{Raw: out, ContentType: respType, SOAP: out, SOAPType: msg.SOAPType, Attachments: msg.Attachments, Header: msg.Header}, nil
}

// askProvider sends hreq (made with ctx, which ends after timeout) to a
// provider IS and reads its answer, at most limits.maxMessageSize bytes of
// body.
func (s *Server) askProvider(ctx context.Context, hc *http.Client, hreq *http.Request, timeout time.Duration, t *trace) (*http.Response, []byte, *message.Fault) {
	resp, f := s.sendProvider(ctx, hc, hreq, timeout, t)
	if f != nil {
		return nil, nil, f
	}
	defer resp.Body.Close()
	max := int64(s.cfg.Limits.MaxMessageSize)
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, nil, serverSide.fault(message.ServiceFailed, "the provider information system did not finish its answer within %s", timeout)
		}
		return nil, nil, t.internal(serverSide.fault(message.ServiceFailed, "the provider information system's answer broke off"), err)
	}
	if int64(len(data)) > max {
		return nil, nil, serverSide.fault(message.ServiceFailed, "the provider's answer is over the %d-byte limit", max)
	}
	return resp, data, nil
}

// sendProvider sends hreq (made with ctx, which ends after timeout) to a
// provider IS; the caller reads and closes the answer's body.
func (s *Server) sendProvider(ctx context.Context, hc *http.Client, hreq *http.Request, timeout time.Duration, t *trace) (*http.Response, *message.Fault) {
	resp, err := hc.Do(hreq)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, serverSide.fault(message.ServiceFailed, "the provider information system did not answer within %s", timeout)
		}
		return nil, t.internal(serverSide.fault(message.ServiceFailed, "cannot reach the provider information system"), err)
	}
	return resp, nil
}

// signResponse signs the answer's SOAP part (with its attachments through
// a hash chain) as the provider member; took observes the signature's time.
func (s *Server) signResponse(signer *signature.Signer, ans *message.Message, took prometheus.Observer, t *trace) (*answer, *message.Fault) {
	start := time.Now()
	sig, att, err := s.signDigested(signer, ans.SOAP, ans.SOAPDigest(), fromIS(ans.Attachments), start)
	t.signed.soap, t.signed.digest = ans.SOAP, ans.SOAPDigest()
	observeSince(took, start)
	if err != nil {
		return nil, t.internal(serverSide.fault(message.CannotCreateSignature, "signing the response failed"), err)
	}
	tm := &transport.Message{SOAPType: ans.SOAPType, SOAP: ans.SOAP, Signature: sig}
	att.into(tm)
	out, err := tm.Encode()
	if err != nil {
		return nil, t.internal(serverSide.fault(message.InternalError, "the response could not be encoded"), err)
	}
	return &answer{body: out, contentType: tm.ContentType, origType: ans.SOAPType, soap: ans.SOAP, signature: sig, soapType: ans.SOAPType, att: att}, nil
}

// admit is the service proxy's first look at a request from a peer: POST /
// (PR-MESSTRANSP), a valid global configuration (the one returned),
// time-stamping not too far behind, and the hash algorithm.
func (s *Server) admit(r *http.Request, t *trace) (*globalconf.Snapshot, *message.Fault) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, serverSide.fault(message.InvalidMessage, "security servers exchange messages by POST / (PR-MESSTRANSP), not %s %s", r.Method, r.URL.Path)
	}
	snap, err := s.snapshot()
	if err != nil {
		return nil, t.internal(serverSide.fault(message.OutdatedGlobalConf, "this security server has no valid global configuration"), err)
	}
	if f := s.ts.refusal(serverSide); f != nil {
		return nil, f
	}
	if alg := r.Header.Get(transport.HeaderHashAlgorithm); alg != transport.HashAlgorithm {
		return nil, serverSide.fault(message.InvalidMessage, "x-hash-algorithm %q is not supported: use %s", alg, transport.HashAlgorithm)
	}
	return snap, nil
}

// checkPeer checks the sender of a decoded request tr that client's
// member signed, and returns the global configuration to judge by from
// now on (a newer one when the peer's registration had to be rechecked).
// soapDigest is the SHA-512 of tr.SOAP when computed already, else nil.
func (s *Server) checkPeer(r *http.Request, snap *globalconf.Snapshot, tr *transport.Message, soapDigest []byte, client identifier.Client, t *trace) (*globalconf.Snapshot, *message.Fault) {
	// The TLS peer must be a server registered as hosting the client
	// (PR-MESSTRANSP §2 step 5), with a good OCSP status for its
	// authentication certificate.
	peer := r.TLS.PeerCertificates
	checkPeer := func(snap *globalconf.Snapshot) (*x509.Certificate, error) {
		return s.verifier.PeerCertificate(snap, peer, x509.ExtKeyUsageClientAuth, func(hash []byte) bool { return snap.AuthCertAllowedFor(hash, client) })
	}
	authIssuer, err := checkPeer(snap)
	if peerReason(err) == reasonNotRegistered { // perhaps registered since the copy in use was fetched
		snap = s.recheck(r.Context(), snap)
		authIssuer, err = checkPeer(snap)
	}
	if err != nil {
		s.metrics.tls.peerRefused(peerReason(err))
		return snap, serverSide.fault(message.SslAuthenticationFailed, "%v (client %s; %s)", err, client, s.confNote(snap))
	}
	t.peerCert = peer[0]
	if err := s.verifier.PeerStatus(snap, tr.OCSP[0], peer[0], authIssuer); err != nil {
		s.metrics.tls.peerRefused(peerReason(err))
		return snap, t.refused(serverSide, err)
	}
	// The request is signed by the client's member.
	signed := received(tr)
	signed.SOAPDigest = soapDigest
	if err := s.checkSignature(serverSide, t, snap, tr.Signature, signed, client.MemberID()); err != nil {
		return snap, t.refused(serverSide, err)
	}
	return snap, nil
}
