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
// directory: the OCSP responder for the issuing CA and the TSA. Either may
// be left out (nil), so that each runs in a process of its own.
type Services struct {
	OCSP    *ocsp.Responder
	TSA     *tsa.Authority
	serials *tsa.BoltSerials
	log     *slog.Logger
}

// Which names the services NewServicesOf loads.
type Which struct{ OCSP, TSA bool }

// NewServices loads the responder and TSA keys of trust directory ca.Dir.
// Close releases the TSA serial store.
func NewServices(ca *CA, log *slog.Logger) (*Services, error) {
	return NewServicesOf(ca, log, Which{OCSP: true, TSA: true})
}

// NewServicesOf loads the services which names. The OCSP responder reads
// the status store per request and so shares the trust directory with
// other processes; the TSA holds its serial number store, so only one
// process of a trust directory may run it.
func NewServicesOf(ca *CA, log *slog.Logger, which Which) (*Services, error) {
	if log == nil {
		log = slog.Default()
	}
	if !which.OCSP && !which.TSA {
		return nil, errors.New("no service to run: name the OCSP responder, the TSA or both")
	}
	s := &Services{log: log}
	if which.OCSP {
		responder, err := newResponder(ca)
		if err != nil {
			return nil, err
		}
		s.OCSP = responder
	}
	if which.TSA {
		authority, serials, err := newAuthority(ca)
		if err != nil {
			return nil, err
		}
		s.TSA, s.serials = authority, serials
	}
	return s, nil
}

func newResponder(ca *CA) (*ocsp.Responder, error) {
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
	return responder, nil
}

func newAuthority(ca *CA) (*tsa.Authority, *tsa.BoltSerials, error) {
	tsaCert, err := ReadCertificate(filepath.Join(ca.Dir, FileTSACert))
	if err != nil {
		return nil, nil, fmt.Errorf("TSA: %w", err)
	}
	tsaKey, err := ReadPrivateKey(filepath.Join(ca.Dir, FileTSAKey))
	if err != nil {
		return nil, nil, fmt.Errorf("TSA: %w", err)
	}
	serials, err := tsa.OpenBoltSerials(filepath.Join(ca.Dir, FileTSASerials))
	if err != nil {
		return nil, nil, fmt.Errorf("TSA serial store: %w", err)
	}
	authority, err := tsa.NewAuthority(tsa.Authority{
		Signer: tsaKey, Cert: tsaCert, Chain: []*x509.Certificate{ca.Cert},
		Policy: TSAPolicy, Accuracy: time.Second, Serials: serials,
	})
	if err != nil {
		serials.Close()
		return nil, nil, fmt.Errorf("TSA: %w", err)
	}
	return authority, serials, nil
}

// Close releases the TSA serial store (if the TSA was loaded).
func (s *Services) Close() error {
	if s.serials == nil {
		return nil
	}
	return s.serials.Close()
}

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

// Serve runs the OCSP responder on ocspLn and the TSA on tsaLn (each only
// if loaded; its listener is then required) until ctx is done, then shuts
// them down, letting requests in flight finish for up to 5 s.
func (s *Services) Serve(ctx context.Context, ocspLn, tsaLn net.Listener) error {
	var servers []*http.Server
	var lns []net.Listener
	add := func(name string, h http.Handler, ln net.Listener) error {
		if ln == nil {
			return fmt.Errorf("pkiutil: the %s service is loaded but has no listener", name)
		}
		servers, lns = append(servers, s.httpServer(name, h)), append(lns, ln)
		return nil
	}
	if s.OCSP != nil {
		if err := add("ocsp", s.OCSP, ocspLn); err != nil {
			return err
		}
	}
	if s.TSA != nil {
		if err := add("tsa", s.TSA, tsaLn); err != nil {
			return err
		}
	}
	errc := make(chan error, len(servers))
	for i, ln := range lns {
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
