package securityserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluz/sluz/registry/globalconf"
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
	start := time.Now()
	t := trace{peerAddr: r.RemoteAddr}
	req, resp, f := s.serve(r, &t)
	if f != nil {
		s.reply(w, serverSide, req, nil, f, start, &t)
		return
	}
	w.Header().Set(transport.HeaderHashAlgorithm, transport.HashAlgorithm)
	w.Header().Set(transport.HeaderOriginalContentType, resp.origType)
	s.reply(w, serverSide, req, resp, nil, start, &t)
}

// serve handles one request; t gets the times and the peer.
func (s *Server) serve(r *http.Request, t *trace) (*message.Message, *answer, *message.Fault) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, nil, serverSide.fault(message.InvalidMessage, "security servers exchange messages by POST / (PR-MESSTRANSP), not %s %s", r.Method, r.URL.Path)
	}
	snap, err := s.snapshot()
	if err != nil {
		return nil, nil, t.internal(serverSide.fault(message.OutdatedGlobalConf, "this security server has no valid global configuration"), err)
	}
	if f := s.ts.refusal(serverSide); f != nil {
		return nil, nil, f
	}
	if alg := r.Header.Get(transport.HeaderHashAlgorithm); alg != transport.HashAlgorithm {
		return nil, nil, serverSide.fault(message.InvalidMessage, "x-hash-algorithm %q is not supported: use %s", alg, transport.HashAlgorithm)
	}
	max := int64(s.cfg.Limits.MaxMessageSize)
	tr, err := transport.DecodeLength(r.Body, r.ContentLength, r.Header.Get("Content-Type"), max, true)
	if err != nil {
		if errors.Is(err, transport.ErrTooLarge) {
			return nil, nil, serverSide.fault(message.InvalidMessage, "the request is over the %d-byte limit", max)
		}
		return nil, nil, serverSide.fault(message.InvalidMessage, "the request is malformed: %v", err)
	}
	if len(tr.Attachments) > 0 || tr.HashChainResult != nil {
		return nil, nil, serverSide.fault(message.InvalidMessage, "the request carries attachments or a hash chain, which this security server does not verify yet")
	}
	s.metrics.size[serverSide][kindRequest].Observe(float64(len(tr.SOAP)))
	req, err := message.Parse(tr.SOAP, tr.SOAPType, message.ParseOptions{MaxSize: max, Request: true})
	if err != nil {
		return nil, nil, asFault(err, "Client."+message.InvalidMessage)
	}
	h := req.Header

	// The TLS peer must be a server registered as hosting the client
	// (PR-MESSTRANSP §2 step 5), with a good OCSP status for its
	// authentication certificate.
	peer := r.TLS.PeerCertificates
	checkPeer := func(snap *globalconf.Snapshot) (*x509.Certificate, error) {
		return s.verifier.PeerCertificate(snap, peer, x509.ExtKeyUsageClientAuth, func(hash []byte) bool { return snap.AuthCertAllowedFor(hash, h.Client) })
	}
	authIssuer, err := checkPeer(snap)
	if peerReason(err) == reasonNotRegistered { // perhaps registered since the copy in use was fetched
		snap = s.recheck(r.Context(), snap)
		authIssuer, err = checkPeer(snap)
	}
	if err != nil {
		s.metrics.tls.peerRefused(peerReason(err))
		return req, nil, serverSide.fault(message.SslAuthenticationFailed, "%v (client %s; %s)", err, h.Client, s.confNote(snap))
	}
	t.peerCert = peer[0]
	if err := s.verifier.PeerStatus(snap, tr.OCSP[0], peer[0], authIssuer); err != nil {
		s.metrics.tls.peerRefused(peerReason(err))
		return req, nil, t.refused(serverSide, err)
	}
	// The request is signed by the client's member.
	if err := s.checkSignature(serverSide, snap, tr.Signature, tr.SOAP, h.Client.MemberID()); err != nil {
		return req, nil, t.refused(serverSide, err)
	}
	if opmon.IsRequest(&h, s.cfg.Server) { // answered here; its filter by the proven client is its access control
		resp, f := s.serveOperationalData(r, req, tr, t)
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
	signer, f := s.responseSigner(r.Context(), req, t)
	if f != nil {
		return req, nil, f
	}
	requestID := r.Header.Get(transport.HeaderRequestID)
	t.requestID = requestID
	provider := h.Service.Provider
	if f := s.appendLog(r.Context(), serverSide, t, s.record(serverSide, req, requestID, provider,
		logged{messagelog.Request, tr.SOAP, tr.Signature, tr.SOAPType})); f != nil {
		return req, nil, f
	}
	t.out = time.Now()
	body, ct, f := s.callProvider(r.Context(), req, svc.URL, svc.Timeout.D(), r.Header.Get(transport.HeaderOriginalSOAPAction), t)
	t.in = time.Now()
	observeSince(s.metrics.providerObserver(svc.ID), t.out)
	if f != nil {
		return req, nil, f
	}
	s.metrics.size[serverSide][kindResponse].Observe(float64(len(body)))
	resp, f := signResponse(signer, body, ct, s.metrics.sign[serverSide], t)
	if f != nil {
		return req, nil, f
	}
	if f := s.appendLog(r.Context(), serverSide, t, s.record(serverSide, req, requestID, provider,
		logged{messagelog.Response, resp.soap, resp.signature, ct})); f != nil {
		return req, nil, f
	}
	return req, resp, nil
}

// responseSigner is the provider member's signer with a fresh OCSP response.
func (s *Server) responseSigner(ctx context.Context, req *message.Message, t *trace) (*signature.Signer, *message.Fault) {
	provider := req.Header.Service.Provider.MemberID()
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

// callProvider forwards the request bytes unchanged to the provider IS and
// returns its answer with requestHash filled in (PR-MESS §2.4); t notes a
// SOAP fault of the provider IS.
func (s *Server) callProvider(ctx context.Context, req *message.Message, url string, timeout time.Duration, soapAction string, t *trace) ([]byte, string, *message.Fault) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req.Raw))
	if err != nil {
		return nil, "", t.internal(serverSide.fault(message.InternalError, "the provider information system's address is not usable"), err)
	}
	hreq.Header.Set("Content-Type", req.ContentType)
	hreq.Header.Set("SOAPAction", soapAction)
	resp, err := s.provider.Do(hreq)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, "", serverSide.fault(message.ServiceFailed, "the provider information system did not answer within %s", timeout)
		}
		return nil, "", t.internal(serverSide.fault(message.ServiceFailed, "cannot reach the provider information system"), err)
	}
	defer resp.Body.Close()
	max := int64(s.cfg.Limits.MaxMessageSize)
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, "", serverSide.fault(message.ServiceFailed, "the provider information system did not finish its answer within %s", timeout)
		}
		return nil, "", t.internal(serverSide.fault(message.ServiceFailed, "the provider information system's answer broke off"), err)
	}
	if int64(len(data)) > max {
		return nil, "", serverSide.fault(message.ServiceFailed, "the provider's answer is over the %d-byte limit", max)
	}
	ct := resp.Header.Get("Content-Type")
	msg, err := message.Parse(data, ct, message.ParseOptions{MaxSize: max})
	if err != nil {
		return nil, "", serverSide.fault(message.ServiceFailed, "the provider information system answered HTTP %d with something that is not an X-Road message: %v", resp.StatusCode, err)
	}
	if msg.IsFault {
		t.providerFault = msg.Fault
		return data, ct, nil // a SOAP fault of the provider IS travels back signed, as X-Road does
	}
	out, err := msg.InsertRequestHash(message.RequestHashOf(req.Raw))
	if err != nil {
		return nil, "", serverSide.fault(message.ServiceFailed, "the provider's answer cannot carry the request hash: %v", err)
	}
	return out, ct, nil
}

// signResponse signs the answer as the provider member; took observes
// the signature's time.
func signResponse(signer *signature.Signer, body []byte, ct string, took prometheus.Observer, t *trace) (*answer, *message.Fault) {
	start := time.Now()
	sig, err := signer.Sign(signature.Part{URI: "/message.xml", Data: body, MimeType: "text/xml"}, start)
	observeSince(took, start)
	if err != nil {
		return nil, t.internal(serverSide.fault(message.CannotCreateSignature, "signing the response failed"), err)
	}
	tm := &transport.Message{SOAPType: ct, SOAP: body, Signature: sig}
	out, err := tm.Encode()
	if err != nil {
		return nil, t.internal(serverSide.fault(message.InternalError, "the response could not be encoded"), err)
	}
	return &answer{body: out, contentType: tm.ContentType, origType: ct, soap: body, signature: sig}, nil
}
