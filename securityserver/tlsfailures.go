package securityserver

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Why a TLS peer was refused: a small fixed set, so that the failure
// counters stay bounded whatever peers send.
const (
	reasonNoCertificate  = "no_certificate"  // the peer sent none
	reasonUnapprovedCA   = "unapproved_ca"   // its chain does not lead to a CA the configuration approves (or the IS client CAs)
	reasonNotRegistered  = "not_registered"  // chains fine, but the global configuration does not register it for that server
	reasonExpired        = "expired"         // it or its chain is outside its validity
	reasonRevoked        = "revoked"         // its OCSP status says revoked
	reasonOCSP           = "ocsp"            // no acceptable OCSP status: stale, expired, unknown or unverifiable
	reasonBadCertificate = "bad_certificate" // unparsable, or the wrong key usage
	reasonProtocol       = "protocol"        // no common TLS version or cipher suite, or not TLS at all
	reasonPeerAlert      = "peer_alert"      // the peer aborted with a TLS alert (it refused this server's certificate)
	reasonAborted        = "aborted"         // closed, reset or timed out mid-handshake
	reasonOther          = "other"
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

// peerError is a refused peer certificate, with the reason metrics count.
type peerError struct {
	reason string
	err    error
}

func (e *peerError) Error() string { return e.err.Error() }
func (e *peerError) Unwrap() error { return e.err }

// peerReason classifies an error of checkPeer or checkStatus.
func peerReason(err error) string {
	var pe *peerError
	var re *revokedError
	switch {
	case errors.As(err, &pe):
		return pe.reason
	case errors.As(err, &re):
		return reasonRevoked
	case err != nil:
		return reasonOCSP // checkStatus's other refusals
	}
	return reasonOther
}

// chainReason classifies a verifyChain error.
func chainReason(err error) string {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			return reasonExpired
		case x509.IncompatibleUsage:
			return reasonBadCertificate
		}
	}
	return reasonUnapprovedCA
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
