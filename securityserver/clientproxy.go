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
	"strings"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/rest"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
)

// serveClient is the client proxy: an IS request in, the verified provider
// answer (or a SOAP fault) out.
func (s *Server) serveClient(w http.ResponseWriter, r *http.Request) {
	if rest.IsREST(r.URL.Path) || r.URL.Path == "/listClients" {
		s.serveRESTClient(w, r) // restclient.go
		return
	}
	start := time.Now()
	t := trace{files: s.newSpool()}
	defer t.files.Close()
	req, err := message.ReadRequestStream(r, int64(s.cfg.Limits.MaxMessageSize), message.Streaming{MaxAttachments: s.attachmentLimit(), LimitName: limitAttachments, Spool: t.files})
	if err != nil {
		s.reply(w, clientSide, nil, nil, asFault(err, "Client."+message.InvalidMessage), start, nil)
		return
	}
	s.metrics.size[clientSide][kindRequest].Observe(float64(len(req.SOAP)))
	resp, f := s.exchange(r.Context(), req, r.Header.Get("SOAPAction"), &t)
	s.reply(w, clientSide, req, resp, f, start, &t)
}

// exchange signs req, sends it to the provider's security server and
// returns the verified response; t gets the times and the peer.
func (s *Server) exchange(ctx context.Context, req *message.Message, soapAction string, t *trace) (*answer, *message.Fault) {
	h := req.Header
	rt, f := s.route(ctx, h.Client, h.Service.Provider, h.SecurityServer)
	if f != nil {
		return nil, f
	}
	snap, servers, signer := rt.snap, rt.servers, rt.signer
	signStart := time.Now()
	// The SOAP part is signed (for a text/xml request, the whole body),
	// with its attachments through a hash chain.
	sig, att, err := s.signDigested(signer, req.SOAP, req.SOAPDigest(), fromIS(req.Attachments), signStart)
	observeSince(s.metrics.sign[clientSide], signStart)
	if err != nil {
		return nil, clientSide.fault(message.CannotCreateSignature, "signing the request failed: %v", err)
	}
	tm := &transport.Message{OCSP: [][]byte{rt.authOCSP}, SOAPType: req.SOAPType, SOAP: req.SOAP, Signature: sig}
	att.into(tm)
	body, err := tm.Encode()
	if err != nil {
		return nil, clientSide.fault(message.InternalError, "encoding the request: %v", err)
	}
	requestID := message.NewUUID()
	t.requestID, t.out = requestID, time.Now()
	// In turn; the next only if the connection failed (failover.go).
	resp, srv, err := s.failover.tryInTurn(servers, func(srv globalconf.ServerAddress) (*http.Response, error) {
		return s.post(ctx, snap, srv, body, tm.ContentType, requestID, soapAction, req.ContentType)
	})
	if err != nil {
		return nil, clientSide.fault(message.NetworkError, "cannot reach the provider's security server: %v", err)
	}
	t.peer, t.peerAddr, t.in = srv.ID, srv.Address, time.Now()
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
	s.metrics.size[clientSide][kindResponse].Observe(float64(len(ans.soap)))
	if f := s.appendLog(ctx, clientSide, t,
		s.record(clientSide, t, req, requestID, h.Client, logged{messagelog.Request, req.SOAP, sig, req.SOAPType, att}),
		s.record(clientSide, t, req, requestID, h.Client, logged{messagelog.Response, ans.soap, ans.signature, ans.soapType, ans.att})); f != nil {
		return nil, f
	}
	return ans, nil
}

// route is what the client proxy needs before it can send a request: the
// global configuration judged by, the provider's servers in order, the
// client member's signer and this server's OCSP response for its
// authentication certificate.
type route struct {
	snap     *globalconf.Snapshot
	servers  []globalconf.ServerAddress
	signer   *signature.Signer
	authOCSP []byte
}

// route checks that client may send through this server to provider
// (target: the provider's server the client picked, or nil) and finds the
// way.
func (s *Server) route(ctx context.Context, client, provider identifier.Client, target *identifier.ServerID) (*route, *message.Fault) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, clientSide.fault(message.OutdatedGlobalConf, "this security server has no valid global configuration: %v", err)
	}
	if f := s.ts.refusal(clientSide); f != nil {
		return nil, f
	}
	servers := snap.ServersFor(provider)
	if !snap.IsClient(client) || !snap.Hosts(s.cfg.Server, client) || len(servers) == 0 {
		// Perhaps registered since the copy in use was fetched.
		snap = s.recheck(ctx, snap)
		servers = snap.ServersFor(provider)
	}
	if !snap.IsClient(client) {
		return nil, clientSide.fault(message.UnknownMember, "client %s is not registered in the global configuration (%s)", client, s.confNote(snap))
	}
	if !snap.Hosts(s.cfg.Server, client) {
		return nil, clientSide.fault(message.UnknownMember, "client %s is not hosted by this security server (%s; %s)", client, s.cfg.Server, s.confNote(snap))
	}
	mk := s.sign[client.MemberID()]
	if mk == nil {
		return nil, clientSide.fault(message.CannotCreateSignature, "this security server has no signing key for member %s", client.MemberID())
	}
	if target != nil { // PR-TARGETSS: the client picked one server of a cluster
		servers = filterServers(servers, *target)
	}
	if len(servers) == 0 {
		return nil, clientSide.fault(message.UnknownMember, "no security server in the global configuration hosts provider %s (%s)", provider, s.confNote(snap))
	}
	signOCSP, err := s.status.get(ctx, mk.cert)
	if err != nil {
		return nil, clientSide.fault(message.CertValidation, "no valid OCSP response for this server's signing certificate: %v", err)
	}
	authOCSP, err := s.status.get(ctx, s.auth.Leaf)
	if err != nil {
		return nil, clientSide.fault(message.CertValidation, "no valid OCSP response for this server's authentication certificate: %v", err)
	}
	signer := &signature.Signer{Key: mk.key, Cert: mk.cert, OCSP: signOCSP, Extra: []*x509.Certificate{mk.issuer}}
	return &route{snap: snap, servers: servers, signer: signer, authOCSP: authOCSP}, nil
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
	h := make(http.Header, 8)
	setHeaders(h, "Content-Type", contentType,
		transport.HeaderRequestID, requestID,
		transport.HeaderHashAlgorithm, transport.HashAlgorithm,
		transport.HeaderOriginalContentType, origType,
		transport.HeaderOriginalSOAPAction, soapAction,
		transport.HeaderProxyVersion, Version)
	return s.postTo(ctx, srv, body, h)
}

// postTo sends a transport message with header h to one provider server
// over mutual TLS; the answer's body ends the exchange's deadline when
// closed.
func (s *Server) postTo(ctx context.Context, srv globalconf.ServerAddress, body transport.Body, h http.Header) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.PeerTimeout.D()+s.cfg.Limits.ProviderTimeout.D())
	ctx, notSent := traceConnection(ctx)
	body = body.Flat(peerWriteBuffer - 1<<10) // with its header, through the connection's buffer in one write
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+srv.HostPort()+"/", body.Reader())
	if err != nil {
		cancel()
		return nil, notSent(err)
	}
	// A known length (no chunking), and the body again for a retry on a
	// fresh connection.
	req.ContentLength = int64(body.Len())
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body.Reader()), nil }
	req.Header = h
	resp, err := s.peerClient(srv.ID).Do(req)
	if err != nil {
		cancel()
		return nil, notSent(err)
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

// peerWriteBuffer is the size of a connection's write buffer towards a
// provider's server: a transport message (signature document, OCSP
// response, SOAP part: some 10 KB) goes out through it with its header in
// one write (postTo flattens it), where net/http's default 4 KB buffer
// made each request copy its body through a buffer allocated for it.
const peerWriteBuffer = 32 << 10

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
			registered := func(snap *globalconf.Snapshot) error {
				_, err := s.verifier.PeerCertificate(snap, cs.PeerCertificates, x509.ExtKeyUsageServerAuth, func(hash []byte) bool {
					srv, ok := snap.Server(id)
					return ok && containsHash(srv.AuthCertHashes, hash)
				})
				return err
			}
			err = registered(snap)
			if peerReason(err) == reasonNotRegistered { // perhaps a new certificate, registered since
				snap = s.recheck(context.Background(), snap)
				if err = registered(snap); err != nil {
					err = fmt.Errorf("%w (%s)", err, s.confNote(snap))
				}
			}
			if err != nil {
				s.metrics.tls.handshakeFailed(endpointPeer, peerReason(err))
			}
			return err
		},
	}
	dialer := &net.Dialer{Timeout: s.cfg.Limits.PeerTimeout.D(), KeepAlive: 30 * time.Second}
	c := &http.Client{
		// A provider's server answers; it does not send the signed request
		// on: a redirect is its answer (refused as not a message), never
		// followed, so the request reaches the registered address once.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSClientConfig:       cfg,
			TLSHandshakeTimeout:   s.cfg.Limits.PeerTimeout.D(),
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: s.cfg.Limits.PeerTimeout.D() + s.cfg.Limits.ProviderTimeout.D(),
			ForceAttemptHTTP2:     false,
			WriteBufferSize:       peerWriteBuffer,
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

// decodeAnswer reads the answer of the provider's security server within
// the limits: a bare SOAP fault (the provider's server failed before
// answering, PR-MESSTRANSP §2) or a transport message ending in a fault
// become that fault; attachments names, in faults, what
// limits.maxAttachmentSize bounds.
func (s *Server) decodeAnswer(resp *http.Response, t *trace, attachments string) (*transport.Message, *message.Fault) {
	max := int64(s.cfg.Limits.MaxMessageSize)
	if !transport.IsMultipart(resp.Header) {
		data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
		if err != nil {
			return nil, clientSide.fault(message.NetworkError, "reading the provider's answer: %v", err)
		}
		if f, ok := message.ParseFault(data); ok {
			return nil, f
		}
		return nil, clientSide.fault(message.InvalidMessage, "the provider's security server answered HTTP %d with %q, not a transport message", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body := &readFailure{r: resp.Body}
	tr, err := transport.DecodeStream(body, resp.ContentLength, resp.Header.Get("Content-Type"),
		transport.Streaming{MaxSize: max, MaxAttachments: s.attachmentLimit(), Spool: t.files}, false)
	if err != nil {
		if body.err != nil { // the connection failed mid-answer: the network, not the answer's form
			return nil, t.internal(clientSide.fault(message.NetworkError, "the connection to the provider's security server broke while its answer was read"), body.err)
		}
		if errors.Is(err, transport.ErrTooLarge) {
			return nil, clientSide.fault(message.InvalidMessage, "the provider's answer is over the %d-byte limit", max)
		}
		if errors.Is(err, transport.ErrAttachmentsTooLarge) {
			return nil, clientSide.fault(message.InvalidMessage, "%s over the %d-byte limit (%s)", attachments, s.attachmentLimit(), limitAttachments)
		}
		return nil, clientSide.fault(message.InvalidMessage, "the provider's answer is malformed: %v", err)
	}
	if tr.Fault != nil {
		if f, ok := message.ParseFault(tr.Fault); ok {
			return nil, f
		}
		return nil, clientSide.fault(message.InvalidMessage, "the provider's answer ends in an unreadable fault")
	}
	return tr, nil
}

// readResponse checks the provider's answer before anything reaches the IS;
// t notes a SOAP fault of the provider IS.
func (s *Server) readResponse(snap *globalconf.Snapshot, req *message.Message, resp *http.Response, t *trace) (*answer, *message.Fault) {
	tr, f := s.decodeAnswer(resp, t, "the provider's answer has attachments")
	if f != nil {
		return nil, f
	}
	provider := req.Header.Service.Provider.MemberID()
	signed := received(tr)
	signed.SOAPDigest = message.RequestHashOf(tr.SOAP) // for the log record too
	t.received.soap, t.received.digest = tr.SOAP, signed.SOAPDigest
	if err := s.checkSignature(clientSide, t, snap, tr.Signature, signed, provider); err != nil {
		return nil, t.refused(clientSide, err)
	}
	respMsg, err := message.Parse(tr.SOAP, tr.SOAPType, message.ParseOptions{MaxSize: int64(s.cfg.Limits.MaxMessageSize)})
	if err != nil {
		return nil, clientSide.fault(message.InvalidMessage, "the provider's signed answer is not a valid X-Road message: %v", err)
	}
	t.providerFault = respMsg.Fault
	if !respMsg.IsFault {
		if err := message.CheckResponse(req, respMsg); err != nil {
			return nil, asFault(err, clientSide.prefix()+message.InconsistentResponse)
		}
	}
	ans := &answer{soap: tr.SOAP, signature: tr.Signature, soapType: tr.SOAPType, att: attachedOf(tr)}
	if len(tr.Attachments) > 0 || isXOP(tr.SOAPType) {
		ans.body, ans.contentType = ans.att.forIS(tr.SOAPType, tr.SOAP)
		return ans, nil
	}
	ans.body, ans.contentType = transport.Bytes(tr.SOAP), resp.Header.Get(transport.HeaderOriginalContentType)
	if ans.contentType == "" || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ans.contentType)), "text/xml") {
		ans.contentType = tr.SOAPType
	}
	return ans, nil
}

// readFailure remembers the error its reader failed with (other than EOF),
// to tell a connection that broke from an answer that is malformed.
type readFailure struct {
	r   io.Reader
	err error
}

func (f *readFailure) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		f.err = err
	}
	return n, err
}
