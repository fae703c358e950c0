package securityserver

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// TestHandshakeReason: the handshake errors net/http logs, as crypto/tls
// words them (Go 1.26), fall into the reasons an operator acts on; in
// particular the peer's alert about this server's certificate is not
// mistaken for a bad peer certificate.
func TestHandshakeReason(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"tls: client didn't provide a certificate", reasonNoCertificate},
		{`tls: failed to verify certificate: x509: certificate signed by unknown authority (possibly because of "x509: ECDSA verification failure" while trying to verify candidate authority certificate "Şlüz AZ Root CA")`, reasonUnapprovedCA},
		{"tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-11-26T01:00:00Z is after 2026-11-25T00:00:00Z", reasonExpired},
		{"tls: failed to verify certificate: x509: certificate specifies an incompatible key usage", reasonBadCertificate},
		{"tls: failed to parse client certificate: x509: malformed certificate", reasonBadCertificate},
		{"remote error: tls: bad certificate", reasonPeerAlert},
		{"remote error: tls: unknown certificate authority", reasonPeerAlert},
		{"tls: client offered only unsupported versions: [303 302 301]", reasonProtocol},
		{"tls: no cipher suite supported by both client and server; client offered: [c02f]", reasonProtocol},
		{"tls: first record does not look like a TLS handshake", reasonProtocol},
		{"client sent an HTTP request to an HTTPS server", reasonProtocol},
		{"EOF", reasonAborted},
		{"read tcp 127.0.0.1:5500->127.0.0.1:40000: i/o timeout", reasonAborted},
		{"read tcp 127.0.0.1:5500->127.0.0.1:40000: read: connection reset by peer", reasonAborted},
		{"something new", reasonOther},
	} {
		if got := handshakeReason(tc.msg); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.msg, got, tc.want)
		}
	}
}

// TestHandshakeLogWriter: a handshake error line is counted once under its
// endpoint and reason, other lines are not, and every line reaches the
// server's log.
func TestHandshakeLogWriter(t *testing.T) {
	f := newTLSFailures()
	var logged []string
	w := &handshakeLogWriter{next: writerFunc(func(p []byte) { logged = append(logged, string(p)) }), endpoint: endpointServer, failures: f}
	for _, line := range []string{
		"http: TLS handshake error from [::1]:40000: tls: client didn't provide a certificate\n",
		"http: superfluous response.WriteHeader call\n",
	} {
		w.Write([]byte(line))
	}
	if len(logged) != 2 {
		t.Errorf("%d lines reached the log, want 2", len(logged))
	}
	for reason, c := range map[string]float64{reasonNoCertificate: 1, reasonOther: 0} {
		var m dto.Metric
		if err := f.handshake.WithLabelValues(endpointServer, reason).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != c {
			t.Errorf("handshake failures {server, %s} = %v, want %v", reason, got, c)
		}
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
