package pkiutil

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
)

// Default listen addresses of `pkiutil serve`.
const (
	DefaultOCSPAddr = "127.0.0.1:8888"
	DefaultTSAAddr  = "127.0.0.1:8899"
)

// TSAPolicy is the policy OID the federation TSA stamps under. It sits in an
// arc reserved for Şlüz's test federations; a production TSA uses its own.
var TSAPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 59999, 1, 1}

// Services are the federation's online trust services over one trust
// directory: the OCSP responder for the issuing CA and the TSA.
type Services struct {
	OCSP    *ocsp.Responder
	TSA     *tsa.Authority
	serials *tsa.BoltSerials
	log     *slog.Logger
}

// NewServices loads the responder and TSA keys of trust directory ca.Dir.
// Close releases the TSA serial store.
func NewServices(ca *CA, log *slog.Logger) (*Services, error) {
	if log == nil {
		log = slog.Default()
	}
	ocspCert, err := ReadCertificate(filepath.Join(ca.Dir, FileOCSPCert))
	if err != nil {
		return nil, fmt.Errorf("OCSP responder: %w", err)
	}
	ocspKey, err := ReadPrivateKey(filepath.Join(ca.Dir, FileOCSPKey))
	if err != nil {
		return nil, fmt.Errorf("OCSP responder: %w", err)
	}
	responder, err := ocsp.NewResponder(ocsp.Responder{
		Issuer: ca.Cert, SignerCert: ocspCert, Signer: ocspKey, Source: StoreSource(ca.Store),
	})
	if err != nil {
		return nil, fmt.Errorf("OCSP responder: %w", err)
	}
	tsaCert, err := ReadCertificate(filepath.Join(ca.Dir, FileTSACert))
	if err != nil {
		return nil, fmt.Errorf("TSA: %w", err)
	}
	tsaKey, err := ReadPrivateKey(filepath.Join(ca.Dir, FileTSAKey))
	if err != nil {
		return nil, fmt.Errorf("TSA: %w", err)
	}
	serials, err := tsa.OpenBoltSerials(filepath.Join(ca.Dir, FileTSASerials))
	if err != nil {
		return nil, fmt.Errorf("TSA serial store: %w", err)
	}
	authority, err := tsa.NewAuthority(tsa.Authority{
		Signer: tsaKey, Cert: tsaCert, Chain: []*x509.Certificate{ca.Cert},
		Policy: TSAPolicy, Accuracy: time.Second, Serials: serials,
	})
	if err != nil {
		serials.Close()
		return nil, fmt.Errorf("TSA: %w", err)
	}
	return &Services{OCSP: responder, TSA: authority, serials: serials, log: log}, nil
}

// Close releases the TSA serial store.
func (s *Services) Close() error { return s.serials.Close() }

// StoreSource answers OCSP status questions from the status store: a serial
// the CA never issued is unknown (RFC 6960 §2.2).
func StoreSource(st *Store) ocsp.Source {
	return ocsp.SourceFunc(func(ctx context.Context, serial *big.Int) (ocsp.Status, error) {
		rec, err := st.Get(serial)
		if errors.Is(err, ErrNotIssued) {
			return ocsp.Status{Status: ocsp.Unknown, Reason: -1}, nil
		}
		if err != nil {
			return ocsp.Status{}, err
		}
		if rec.Revoked {
			return ocsp.Status{Status: ocsp.Revoked, RevokedAt: rec.RevokedAt, Reason: rec.Reason}, nil
		}
		return ocsp.Status{Status: ocsp.Good, Reason: -1}, nil
	})
}

// Serve runs the OCSP responder on ocspLn and the TSA on tsaLn until ctx is
// done, then shuts both down, letting requests in flight finish for up to 5 s.
func (s *Services) Serve(ctx context.Context, ocspLn, tsaLn net.Listener) error {
	servers := []*http.Server{
		s.httpServer("ocsp", s.OCSP),
		s.httpServer("tsa", s.TSA),
	}
	errc := make(chan error, 2)
	for i, ln := range []net.Listener{ocspLn, tsaLn} {
		go func() {
			if err := servers[i].Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(shutdownCtx)
	}
	return err
}

func (s *Services) httpServer(name string, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           accessLog(s.log.With("service", name), h),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	size   int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.size += n
	return n, err
}

// accessLog writes one line per request: who, what, the HTTP status, how long.
func accessLog(log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		log.Info("request", "remote", r.RemoteAddr, "method", r.Method, "status", sw.status,
			"bytes", sw.size, "duration", time.Since(start).Round(time.Microsecond))
	})
}
