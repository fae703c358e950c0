package securityserver

import (
	"bytes"
	"errors"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluz/sluz/securityserver/verify"
)

// Why a TLS peer was refused: a small fixed set, so that the failure
// counters stay bounded whatever peers send.
// The certificate reasons are the verification rules' (verify.Reason*);
// the handshake adds its own.
const (
	reasonNoCertificate  = verify.ReasonNoCertificate
	reasonUnapprovedCA   = verify.ReasonUnapprovedCA // also: not chaining to the IS client CAs
	reasonNotRegistered  = verify.ReasonNotRegistered
	reasonExpired        = verify.ReasonExpired
	reasonRevoked        = verify.ReasonRevoked
	reasonOCSP           = verify.ReasonOCSP
	reasonBadCertificate = verify.ReasonBadCertificate
	reasonOther          = verify.ReasonOther
	reasonProtocol       = "protocol"   // no common TLS version or cipher suite, or not TLS at all
	reasonPeerAlert      = "peer_alert" // the peer aborted with a TLS alert (it refused this server's certificate)
	reasonAborted        = "aborted"    // closed, reset or timed out mid-handshake
)

var handshakeReasons = []string{reasonNoCertificate, reasonUnapprovedCA, reasonNotRegistered, reasonExpired,
	reasonBadCertificate, reasonProtocol, reasonPeerAlert, reasonAborted, reasonOther}

var peerAuthReasons = []string{reasonNoCertificate, reasonUnapprovedCA, reasonNotRegistered, reasonExpired,
	reasonRevoked, reasonOCSP, reasonBadCertificate, reasonOther}

// Where a TLS handshake failed (the endpoint label).
const (
	endpointServer = "server" // the service proxy's listener (peer security servers)
	endpointClient = "client" // the client proxy's HTTPS listener (information systems)
	endpointPeer   = "peer"   // this server's connections to provider security servers
)

// tlsFailures counts refused TLS peers. Handshake failures are counted
// where they happen: this server's own check of a provider server
// (VerifyConnection) and, on the listeners, the "TLS handshake error"
// lines net/http writes to the server's ErrorLog. The service proxy
// completes the handshake with any client certificate, as X-Road does, and
// judges the peer per request so that the peer gets a SOAP fault saying
// why (SslAuthenticationFailed): those refusals are counted apart.
type tlsFailures struct {
	handshake *prometheus.CounterVec
	peer      *prometheus.CounterVec
	children  map[[2]string]prometheus.Counter // (endpoint, reason) and ("", reason) for peer
}

func newTLSFailures() *tlsFailures {
	f := &tlsFailures{
		handshake: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluz_tls_handshake_failures_total",
			Help: "TLS handshakes that failed, by endpoint (server: the service proxy listener; client: the client proxy's HTTPS listener; peer: this server's connections to provider security servers) and reason.",
		}, []string{"endpoint", "reason"}),
		peer: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluz_peer_auth_failures_total",
			Help: "Requests the service proxy refused (SslAuthenticationFailed) because the TLS peer's authentication certificate is not acceptable, by reason. The handshake itself succeeds, as in X-Road, so that the peer learns why.",
		}, []string{"reason"}),
		children: map[[2]string]prometheus.Counter{},
	}
	// Resolved up front: every series exists from the start (rate() sees
	// the first failure) and counting never allocates.
	for _, ep := range []string{endpointServer, endpointClient, endpointPeer} {
		for _, r := range handshakeReasons {
			f.children[[2]string{ep, r}] = f.handshake.WithLabelValues(ep, r)
		}
	}
	for _, r := range peerAuthReasons {
		f.children[[2]string{"", r}] = f.peer.WithLabelValues(r)
	}
	return f
}

func (f *tlsFailures) handshakeFailed(endpoint, reason string) {
	if c, ok := f.children[[2]string{endpoint, reason}]; ok {
		c.Inc()
	}
}

func (f *tlsFailures) peerRefused(reason string) {
	if c, ok := f.children[[2]string{"", reason}]; ok {
		c.Inc()
	}
}

// peerReason is the metrics reason of a refused peer certificate (a
// verify.Refusal of PeerCertificate or PeerStatus).
func peerReason(err error) string {
	var r *verify.Refusal
	if errors.As(err, &r) && r.Reason != "" {
		return r.Reason
	}
	return reasonOther
}

// handshakeReason classifies the text of a handshake error as net/http
// logs it (crypto/tls's messages; only text reaches the ErrorLog).
func handshakeReason(msg string) string {
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("didn't provide a certificate"):
		return reasonNoCertificate
	case has("remote error: tls:"):
		return reasonPeerAlert
	case has("signed by unknown authority", "not authorized to sign other certificates", "not a CA"):
		return reasonUnapprovedCA
	case has("has expired or is not yet valid"):
		return reasonExpired
	case has("failed to parse", "incompatible key usage", "failed to verify certificate", "x509:", "bad certificate"):
		return reasonBadCertificate
	case has("unsupported versions", "no cipher suite", "does not look like a TLS handshake", "HTTP request to an HTTPS server",
		"no application protocol", "no mutually supported", "unsupported", "unexpected message"):
		return reasonProtocol
	case has("EOF", "timeout", "connection reset", "broken pipe", "closed"):
		return reasonAborted
	}
	return reasonOther
}

// handshakeErrorLog is an http.Server's ErrorLog: it counts the "TLS
// handshake error" lines by reason and passes every line on to the
// server's log as before.
func (s *Server) handshakeErrorLog(endpoint string) *log.Logger {
	next := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	return log.New(&handshakeLogWriter{next: next.Writer(), endpoint: endpoint, failures: s.metrics.tls}, "", 0)
}

type handshakeLogWriter struct {
	next     io.Writer
	endpoint string
	failures *tlsFailures
}

// handshakeErrorPrefix starts the line net/http logs for a failed
// handshake: "http: TLS handshake error from ADDR: REASON".
var handshakeErrorPrefix = []byte("http: TLS handshake error from ")

func (w *handshakeLogWriter) Write(p []byte) (int, error) {
	if rest, ok := bytes.CutPrefix(p, handshakeErrorPrefix); ok {
		reason := reasonOther
		if _, msg, ok := bytes.Cut(rest, []byte(": ")); ok { // IPv6 addresses hold colons, not ": "
			reason = handshakeReason(string(msg))
		}
		w.failures.handshakeFailed(w.endpoint, reason)
	}
	return w.next.Write(p)
}
