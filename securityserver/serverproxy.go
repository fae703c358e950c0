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

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
)

func spFault(code, format string, a ...any) *message.Fault {
	return message.Faultf(serverProxy+code, format, a...)
}

func memberOf(cert *x509.Certificate) string {
	id, err := pkiutil.MemberFromSubject(cert.Subject)
	if err != nil {
		return cert.Subject.String()
	}
	return id
}

// serveServer is the service proxy: a signed request from a peer security
// server in, the provider IS's signed answer out.
func (s *Server) serveServer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t := trace{peerAddr: r.RemoteAddr}
	req, resp, f := s.serve(r, &t)
	if f != nil {
		s.reply(w, "server", req, nil, f, start, &t)
		return
	}
	w.Header().Set(transport.HeaderHashAlgorithm, transport.HashAlgorithm)
	w.Header().Set(transport.HeaderOriginalContentType, resp.origType)
	s.reply(w, "server", req, resp, nil, start, &t)
}

// serve handles one request; t gets the times and the peer.
func (s *Server) serve(r *http.Request, t *trace) (*message.Message, *answer, *message.Fault) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, nil, spFault(message.InvalidMessage, "security servers exchange messages by POST / (PR-MESSTRANSP), not %s %s", r.Method, r.URL.Path)
	}
	snap, err := s.snapshot()
	if err != nil {
		return nil, nil, spFault(message.OutdatedGlobalConf, "this security server has no valid global configuration: %v", err)
	}
	if f := s.ts.refusal(serverProxy); f != nil {
		return nil, nil, f
	}
	if alg := r.Header.Get(transport.HeaderHashAlgorithm); alg != transport.HashAlgorithm {
		return nil, nil, spFault(message.InvalidMessage, "x-hash-algorithm %q is not supported: use %s", alg, transport.HashAlgorithm)
	}
	max := int64(s.cfg.Limits.MaxMessageSize)
	tr, err := transport.DecodeLength(r.Body, r.ContentLength, r.Header.Get("Content-Type"), max, true)
	if err != nil {
		if errors.Is(err, transport.ErrTooLarge) {
			return nil, nil, spFault(message.InvalidMessage, "the request is over the %d-byte limit", max)
		}
		return nil, nil, spFault(message.InvalidMessage, "the request is malformed: %v", err)
	}
	s.metrics.size[sideServer][kindRequest].Observe(float64(len(tr.SOAP)))
	req, err := message.Parse(tr.SOAP, tr.SOAPType, message.ParseOptions{MaxSize: max, Request: true})
	if err != nil {
		return nil, nil, asFault(err, "Client."+message.InvalidMessage)
	}
	h := req.Header

	// The TLS peer must be a server registered as hosting the client (PR-MESSTRANSP §2 step 5).
	peer := r.TLS.PeerCertificates
	if err := checkPeer(snap, peer, x509.ExtKeyUsageClientAuth, func(hash []byte) bool { return snap.AuthCertAllowedFor(hash, h.Client) }); err != nil {
		s.metrics.tls.peerRefused(peerReason(err))
		return req, nil, spFault(message.SslAuthenticationFailed, "%v (client %s)", err, h.Client)
	}
	t.peerCert = peer[0]
	authIssuer, _ := verifyChain(snap, peer[0], peer[1:], x509.ExtKeyUsageClientAuth, time.Now())
	if err := checkStatus(tr.OCSP[0], peer[0], authIssuer, snap.OCSPFreshness(), time.Now()); err != nil {
		s.metrics.tls.peerRefused(peerReason(err))
		return req, nil, spFault(message.SslAuthenticationFailed, "the peer's authentication certificate status is not acceptable: %v", err)
	}
	if f := s.checkSignature(snap, tr.Signature, tr.SOAP, h.Client.MemberID(), serverProxy); f != nil {
		return req, nil, f
	}
	if opmon.IsRequest(&h, s.cfg.Server) { // answered here; its filter by the proven client is its access control
		resp, f := s.serveOperationalData(r, req, tr, t)
		return req, resp, f
	}
	if !snap.Hosts(s.cfg.Server, h.Service.Provider) {
		return req, nil, spFault(message.UnknownService, "provider %s is not hosted by this security server (%s)", h.Service.Provider, s.cfg.Server)
	}
	svc, ok := s.cfg.ServiceFor(h.Service)
	if !ok {
		return req, nil, spFault(message.UnknownService, "service %s is not provided by this security server", h.Service)
	}
	allowed, err := s.acl.Allowed(h.Service, h.Client, snap.InGroup)
	if err != nil {
		return req, nil, spFault(message.InternalError, "%v", err)
	}
	if !allowed {
		return req, nil, spFault(message.AccessDenied, "client %s is not allowed to call %s", h.Client, h.Service.WithoutVersion())
	}
	if !s.replay.check(h.Client.String(), h.ID, time.Now()) {
		return req, nil, spFault(codeDuplicateMessage, "message id %q from %s was already received: each request needs a new id", h.ID, h.Client)
	}
	// Make sure the answer can be signed before the provider acts on the
	// request: a refused answer to a state-changing call invites a retry.
	signer, f := s.responseSigner(r.Context(), req)
	if f != nil {
		return req, nil, f
	}
	requestID := r.Header.Get(transport.HeaderRequestID)
	t.requestID = requestID
	provider := h.Service.Provider
	if f := s.appendLog(r.Context(), serverProxy, s.record(messagelog.ServerSide, req, requestID, provider,
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
	s.metrics.size[sideServer][kindResponse].Observe(float64(len(body)))
	resp, f := signResponse(signer, body, ct, s.metrics.sign[sideServer])
	if f != nil {
		return req, nil, f
	}
	if f := s.appendLog(r.Context(), serverProxy, s.record(messagelog.ServerSide, req, requestID, provider,
		logged{messagelog.Response, resp.soap, resp.signature, ct})); f != nil {
		return req, nil, f
	}
	return req, resp, nil
}

// responseSigner is the provider member's signer with a fresh OCSP response.
func (s *Server) responseSigner(ctx context.Context, req *message.Message) (*signature.Signer, *message.Fault) {
	provider := req.Header.Service.Provider.MemberID()
	mk := s.sign[provider]
	if mk == nil {
		return nil, spFault(message.CannotCreateSignature, "this security server has no signing key for provider %s", provider)
	}
	signOCSP, err := s.status.get(ctx, mk.cert)
	if err != nil {
		return nil, spFault(message.CertValidation, "no valid OCSP response for this server's signing certificate: %v", err)
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
		return nil, "", spFault(message.InternalError, "provider URL %q: %v", url, err)
	}
	hreq.Header.Set("Content-Type", req.ContentType)
	hreq.Header.Set("SOAPAction", soapAction)
	resp, err := providerClient.Do(hreq)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, "", spFault(message.ServiceFailed, "the provider information system did not answer within %s", timeout)
		}
		return nil, "", spFault(message.ServiceFailed, "cannot reach the provider information system: %v", err)
	}
	defer resp.Body.Close()
	max := int64(s.cfg.Limits.MaxMessageSize)
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, "", spFault(message.ServiceFailed, "the provider information system did not finish its answer within %s", timeout)
		}
		return nil, "", spFault(message.ServiceFailed, "reading the provider's answer: %v", err)
	}
	if int64(len(data)) > max {
		return nil, "", spFault(message.ServiceFailed, "the provider's answer is over the %d-byte limit", max)
	}
	ct := resp.Header.Get("Content-Type")
	msg, err := message.Parse(data, ct, message.ParseOptions{MaxSize: max})
	if err != nil {
		return nil, "", spFault(message.ServiceFailed, "the provider information system answered HTTP %d with something that is not an X-Road message: %v", resp.StatusCode, err)
	}
	if msg.IsFault {
		t.providerFault = msg.Fault
		return data, ct, nil // a SOAP fault of the provider IS travels back signed, as X-Road does
	}
	out, err := msg.InsertRequestHash(message.RequestHashOf(req.Raw))
	if err != nil {
		return nil, "", spFault(message.ServiceFailed, "the provider's answer cannot carry the request hash: %v", err)
	}
	return out, ct, nil
}

// providerClient calls local IS endpoints with keep-alive connections.
var providerClient = &http.Client{Transport: &http.Transport{
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     90 * time.Second,
}}

// signResponse signs the answer as the provider member; took observes
// the signature's time.
func signResponse(signer *signature.Signer, body []byte, ct string, took prometheus.Observer) (*answer, *message.Fault) {
	start := time.Now()
	sig, err := signer.Sign(signature.Part{URI: "/message.xml", Data: body, MimeType: "text/xml"}, start)
	observeSince(took, start)
	if err != nil {
		return nil, spFault(message.CannotCreateSignature, "signing the response failed: %v", err)
	}
	tm := &transport.Message{SOAPType: ct, SOAP: body, Signature: sig}
	out, err := tm.Encode()
	if err != nil {
		return nil, spFault(message.InternalError, "encoding the response: %v", err)
	}
	return &answer{body: out, contentType: tm.ContentType, origType: ct, soap: body, signature: sig}, nil
}
