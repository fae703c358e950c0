package securityserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
)

// serveClient is the client proxy: an IS request in, the verified provider
// answer (or a SOAP fault) out.
func (s *Server) serveClient(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req, err := message.ReadRequest(r, int64(s.cfg.Limits.MaxMessageSize))
	if err != nil {
		s.reply(w, "client", nil, nil, asFault(err, "Client."+message.InvalidMessage), start, nil)
		return
	}
	s.metrics.size[sideClient][kindRequest].Observe(float64(len(req.Raw)))
	var t trace
	resp, f := s.exchange(r.Context(), req, r.Header.Get("SOAPAction"), &t)
	s.reply(w, "client", req, resp, f, start, &t)
}

// reply writes the answer or the fault and logs one line per exchange. Its
// operational monitoring record is queued before the answer is released, so
// that a query made after the answer arrived finds it.
func (s *Server) reply(w http.ResponseWriter, side string, req *message.Message, resp *answer, f *message.Fault, start time.Time, t *trace) {
	attrs := []any{"side", side, "duration", time.Since(start).Round(time.Microsecond)}
	var client, service string
	if req != nil {
		client, service = req.Header.Client.String(), req.Header.Service.String()
		attrs = append(attrs, "id", req.Header.ID, "client", client, "service", service)
	}
	result := "ok"
	switch {
	case f != nil:
		result = f.Code
	case t != nil && t.providerFault != nil:
		// The provider IS's own SOAP fault, signed and delivered: failed as
		// PR-OPMON counts it, under one label (its codes are the IS's own).
		result = resultProviderFault
		attrs = append(attrs, "provider_fault", t.providerFault.Code)
	}
	s.metrics.observe(side, client, service, result, time.Since(start))
	s.monitor(side, req, resp, f, start, t)
	if f != nil {
		f.WriteHTTP(w)
		s.log.Warn("exchange failed", append(attrs, "fault", f.Code, "reason", f.String, "detail", f.Detail)...)
		return
	}
	w.Header().Set("Content-Type", resp.contentType)
	// A known length lets the peer read to the end and reuse the connection.
	n := resp.body.Len()
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(http.StatusOK)
	resp.body.WriteTo(w)
	s.log.Info("exchange", append(attrs, "result", result, "bytes", n)...)
}

// resultProviderFault is the metrics result of an exchange answered with
// the provider information system's SOAP fault.
const resultProviderFault = "provider_fault"

// answer is what goes back to the caller.
type answer struct {
	body        transport.Body
	contentType string
	origType    string // service proxy: the provider IS's Content-Type (x-original-content-type)
	soap        []byte // the signed SOAP message and its signature, for the message log
	signature   []byte
}

func asFault(err error, code string) *message.Fault {
	var f *message.Fault
	if errors.As(err, &f) {
		return f
	}
	return message.Faultf(code, "%v", err)
}

func cpFault(code, format string, a ...any) *message.Fault {
	return message.Faultf(clientProxy+code, format, a...)
}

// exchange signs req, sends it to the provider's security server and
// returns the verified response; t gets the times and the peer.
func (s *Server) exchange(ctx context.Context, req *message.Message, soapAction string, t *trace) (*answer, *message.Fault) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, cpFault(message.OutdatedGlobalConf, "this security server has no valid global configuration: %v", err)
	}
	if f := s.ts.refusal(clientProxy); f != nil {
		return nil, f
	}
	h := req.Header
	if !snap.IsClient(h.Client) {
		return nil, cpFault(message.UnknownMember, "client %s is not registered in the global configuration", h.Client)
	}
	if !snap.Hosts(s.cfg.Server, h.Client) {
		return nil, cpFault(message.UnknownMember, "client %s is not hosted by this security server (%s)", h.Client, s.cfg.Server)
	}
	mk := s.sign[h.Client.MemberID()]
	if mk == nil {
		return nil, cpFault(message.CannotCreateSignature, "this security server has no signing key for member %s", h.Client.MemberID())
	}
	servers := snap.ServersFor(h.Service.Provider)
	if h.SecurityServer != nil { // PR-TARGETSS: the client picked one server of a cluster
		servers = filterServers(servers, *h.SecurityServer)
	}
	if len(servers) == 0 {
		return nil, cpFault(message.UnknownMember, "no security server in the global configuration hosts provider %s", h.Service.Provider)
	}
	signOCSP, err := s.status.get(ctx, mk.cert)
	if err != nil {
		return nil, cpFault(message.CertValidation, "no valid OCSP response for this server's signing certificate: %v", err)
	}
	authOCSP, err := s.status.get(ctx, s.auth.Leaf)
	if err != nil {
		return nil, cpFault(message.CertValidation, "no valid OCSP response for this server's authentication certificate: %v", err)
	}
	signer := signature.Signer{Key: mk.key, Cert: mk.cert, OCSP: signOCSP, Extra: []*x509.Certificate{mk.issuer}}
	signStart := time.Now()
	sig, err := signer.Sign(signature.Part{URI: "/message.xml", Data: req.Raw, MimeType: "text/xml"}, signStart)
	observeSince(s.metrics.sign[sideClient], signStart)
	if err != nil {
		return nil, cpFault(message.CannotCreateSignature, "signing the request failed: %v", err)
	}
	tm := &transport.Message{OCSP: [][]byte{authOCSP}, SOAPType: req.ContentType, SOAP: req.Raw, Signature: sig}
	body, err := tm.Encode()
	if err != nil {
		return nil, cpFault(message.InternalError, "encoding the request: %v", err)
	}
	requestID := message.NewUUID()
	t.requestID, t.out = requestID, time.Now()
	var resp *http.Response
	var errs []error
	for _, srv := range servers { // in order; the next only if the connection failed
		resp, err = s.post(ctx, snap, srv, body, tm.ContentType, requestID, soapAction, req.ContentType)
		if err == nil {
			t.peer, t.peerAddr, t.in = srv.ID, srv.Address, time.Now()
			break
		}
		errs = append(errs, fmt.Errorf("%s (%s): %w", srv.ID, srv.HostPort(), err))
	}
	if resp == nil {
		return nil, cpFault(message.NetworkError, "cannot reach the provider's security server: %v", errors.Join(errs...))
	}
	defer func() {
		// Read to the end so that net/http can reuse the connection:
		// the multipart decoder stops at the closing boundary.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	ans, f := s.readResponse(snap, req, resp, t)
	if f != nil {
		return nil, f
	}
	s.metrics.size[sideClient][kindResponse].Observe(float64(len(ans.soap)))
	if f := s.appendLog(ctx, clientProxy,
		s.record(messagelog.ClientSide, req, requestID, h.Client, logged{messagelog.Request, req.Raw, sig, req.ContentType}),
		s.record(messagelog.ClientSide, req, requestID, h.Client, logged{messagelog.Response, ans.soap, ans.signature, ans.contentType})); f != nil {
		return nil, f
	}
	return ans, nil
}

func filterServers(servers []globalconf.ServerAddress, want identifier.ServerID) []globalconf.ServerAddress {
	for _, s := range servers {
		if s.ID == want {
			return []globalconf.ServerAddress{s}
		}
	}
	return nil
}

// post sends the transport message to one provider server over mutual TLS.
func (s *Server) post(ctx context.Context, snap *globalconf.Snapshot, srv globalconf.ServerAddress, body transport.Body, contentType, requestID, soapAction, origType string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.PeerTimeout.D()+s.cfg.Limits.ProviderTimeout.D())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+srv.HostPort()+"/", body.Reader())
	if err != nil {
		cancel()
		return nil, err
	}
	// A known length (no chunking), and the body again for a retry on a
	// fresh connection.
	req.ContentLength = int64(body.Len())
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body.Reader()), nil }
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(transport.HeaderRequestID, requestID)
	req.Header.Set(transport.HeaderHashAlgorithm, transport.HashAlgorithm)
	req.Header.Set(transport.HeaderOriginalContentType, origType)
	req.Header.Set(transport.HeaderOriginalSOAPAction, soapAction)
	req.Header.Set(transport.HeaderProxyVersion, Version)
	resp, err := s.peerClient(srv.ID).Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// peerClient returns the keep-alive client for one provider server. Its TLS
// check accepts only an authentication certificate of an approved CA whose
// hash the global configuration registers for that server (PR-MESSTRANSP §2
// steps 1-4), not a host name.
func (s *Server) peerClient(id identifier.ServerID) *http.Client {
	s.peersMu.Lock()
	defer s.peersMu.Unlock()
	if c := s.peers[id]; c != nil {
		return c
	}
	cfg := &tls.Config{
		Certificates:       []tls.Certificate{s.auth},
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			snap, err := s.snapshot()
			if err != nil {
				s.metrics.tls.handshakeFailed(endpointPeer, reasonOther)
				return err
			}
			err = checkPeer(snap, cs.PeerCertificates, x509.ExtKeyUsageServerAuth, func(hash []byte) bool {
				srv, ok := snap.Server(id)
				return ok && containsHash(srv.AuthCertHashes, hash)
			})
			if err != nil {
				s.metrics.tls.handshakeFailed(endpointPeer, peerReason(err))
			}
			return err
		},
	}
	dialer := &net.Dialer{Timeout: s.cfg.Limits.PeerTimeout.D(), KeepAlive: 30 * time.Second}
	c := &http.Client{Transport: &http.Transport{
		DialContext:           dialer.DialContext,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   s.cfg.Limits.PeerTimeout.D(),
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: s.cfg.Limits.PeerTimeout.D() + s.cfg.Limits.ProviderTimeout.D(),
		ForceAttemptHTTP2:     false,
	}}
	s.peers[id] = c
	return c
}

func containsHash(hashes [][]byte, h []byte) bool {
	for _, x := range hashes {
		if bytes.Equal(x, h) {
			return true
		}
	}
	return false
}

// checkPeer verifies a TLS peer's authentication certificate: chain to an
// approved CA with the given usage, and registered per allowed.
func checkPeer(snap *globalconf.Snapshot, chain []*x509.Certificate, usage x509.ExtKeyUsage, allowed func(hash []byte) bool) error {
	if len(chain) == 0 {
		return &peerError{reasonNoCertificate, errors.New("the peer presented no certificate")}
	}
	if _, err := verifyChain(snap, chain[0], chain[1:], usage, time.Now()); err != nil {
		return &peerError{chainReason(err), fmt.Errorf("peer certificate %q is not an authentication certificate of an approved CA: %w", chain[0].Subject.CommonName, err)}
	}
	if !allowed(globalconf.AuthCertHash(chain[0])) {
		return &peerError{reasonNotRegistered, fmt.Errorf("peer certificate %q is not registered for that security server in the global configuration", chain[0].Subject.CommonName)}
	}
	return nil
}

// readResponse checks the provider's answer before anything reaches the IS;
// t notes a SOAP fault of the provider IS.
func (s *Server) readResponse(snap *globalconf.Snapshot, req *message.Message, resp *http.Response, t *trace) (*answer, *message.Fault) {
	max := int64(s.cfg.Limits.MaxMessageSize)
	if !transport.IsMultipart(resp.Header) {
		// The provider failed before answering: a bare SOAP fault (PR-MESSTRANSP §2).
		data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
		if err != nil {
			return nil, cpFault(message.NetworkError, "reading the provider's answer: %v", err)
		}
		if f, ok := message.ParseFault(data); ok {
			return nil, f
		}
		return nil, cpFault(message.InvalidMessage, "the provider's security server answered HTTP %d with %q, not a transport message", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	tr, err := transport.DecodeLength(resp.Body, resp.ContentLength, resp.Header.Get("Content-Type"), max, false)
	if err != nil {
		if errors.Is(err, transport.ErrTooLarge) {
			return nil, cpFault(message.InvalidMessage, "the provider's answer is over the %d-byte limit", max)
		}
		return nil, cpFault(message.InvalidMessage, "the provider's answer is malformed: %v", err)
	}
	if tr.Fault != nil {
		if f, ok := message.ParseFault(tr.Fault); ok {
			return nil, f
		}
		return nil, cpFault(message.InvalidMessage, "the provider's answer ends in an unreadable fault")
	}
	provider := req.Header.Service.Provider.MemberID()
	if f := s.checkSignature(snap, tr.Signature, tr.SOAP, provider, clientProxy); f != nil {
		return nil, f
	}
	respMsg, err := message.Parse(tr.SOAP, tr.SOAPType, message.ParseOptions{MaxSize: max})
	if err != nil {
		return nil, cpFault(message.InvalidMessage, "the provider's signed answer is not a valid X-Road message: %v", err)
	}
	t.providerFault = respMsg.Fault
	if !respMsg.IsFault {
		if err := message.CheckResponse(req, respMsg); err != nil {
			return nil, asFault(err, clientProxy+message.InconsistentResponse)
		}
	}
	ct := resp.Header.Get(transport.HeaderOriginalContentType)
	if ct == "" {
		ct = tr.SOAPType
	}
	return &answer{body: transport.Body{tr.SOAP}, contentType: ct, soap: tr.SOAP, signature: tr.Signature}, nil
}

// checkSignature verifies a signed message: the XAdES signature over the
// exact bytes, the signer's chain to an approved CA, that the signer is the
// member it must be, and the stapled OCSP status (good, fresh).
func (s *Server) checkSignature(snap *globalconf.Snapshot, sigXML, data []byte, signer identifier.Client, prefix string) *message.Fault {
	if len(sigXML) == 0 {
		return message.Faultf(prefix+message.MalformedSignature, "the message carries no signature")
	}
	defer observeSince(s.metrics.verify[sideOf(prefix)], time.Now())
	v, err := signature.Verify(sigXML, signature.Part{URI: "/message.xml", Data: data, MimeType: "text/xml"})
	switch {
	case errors.Is(err, signature.ErrMalformed):
		return message.Faultf(prefix+message.MalformedSignature, "malformed signature: %v", err)
	case err != nil:
		return message.Faultf(prefix+message.InvalidSignatureValue, "the signature does not verify: %v", err)
	}
	issuer, err := verifyChain(snap, v.Cert, v.Extra, x509.ExtKeyUsageAny, time.Now())
	if err != nil {
		return message.Faultf(prefix+message.CertValidation, "the signing certificate %q is not from an approved CA: %v", v.Cert.Subject.CommonName, err)
	}
	if id := memberOf(v.Cert); id != signer.String() {
		return message.Faultf(prefix+message.IncorrectCertificate, "the message is signed by %q, but must be signed by %s", id, signer)
	}
	var errs []error
	for _, der := range v.OCSP {
		err := checkStatus(der, v.Cert, issuer, snap.OCSPFreshness(), time.Now())
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return message.Faultf(prefix+message.CertValidation, "the signature carries no OCSP response for its certificate")
	}
	return message.Faultf(prefix+message.CertValidation, "the signing certificate's status is not acceptable: %v", errors.Join(errs...))
}
