package registry

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluz/sluz/internal/durable"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/console"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/store"
)

// Files in the data directory.
const (
	FileStore     = "registry.db"
	FilePublished = "globalconf.xml" // the last signed configuration, as served
)

// Server is a running central registry.
type Server struct {
	cfg       *Config
	store     *store.Store
	signer    crypto.Signer
	signCert  *x509.Certificate
	publisher *globalconf.Publisher
	admin     *adminapi.Server
	console   *console.Console
	adminTLS  *tls.Config
	log       *slog.Logger

	mu      sync.Mutex // serialises Publish
	status  Status
	history []console.Published // newest first, at most maxHistory

	metrics   *prometheus.Registry
	published prometheus.Counter
	calls     *prometheus.CounterVec
}

// Status describes the configuration being served.
type Status struct {
	Version   uint64    `json:"version"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	SHA256    string    `json:"sha256"`
	URL       string    `json:"url"`
	Published int       `json:"publishedSinceStart"`
}

// New opens the store and loads the keys named by cfg (already provisioned).
func New(cfg *Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	signCert, err := pkiutil.ReadCertificate(cfg.Signing.Cert)
	if err != nil {
		return nil, fmt.Errorf("signing.cert: %w", err)
	}
	signer, err := pkiutil.ReadPrivateKey(cfg.Signing.Key)
	if err != nil {
		return nil, fmt.Errorf("signing.key: %w", err)
	}
	if !pkiutil.KeyMatches(signCert, signer) {
		return nil, fmt.Errorf("signing.key does not belong to signing.cert %s", cfg.Signing.Cert)
	}
	tlsPair, err := tls.LoadX509KeyPair(cfg.Admin.TLS.Cert, cfg.Admin.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("admin.tls: %w", err)
	}
	roots, err := certPool(cfg.Admin.OperatorRoots)
	if err != nil {
		return nil, fmt.Errorf("admin.operatorRoots: %w", err)
	}
	issuers, err := certPool(cfg.Admin.OperatorIssuers)
	if err != nil {
		return nil, fmt.Errorf("admin.operatorIssuers: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("dataDir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, FileStore), cfg.Instance)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, signer: signer, signCert: signCert, publisher: &globalconf.Publisher{},
		adminTLS: adminapi.TLSConfig(tlsPair), log: log}
	s.metrics = prometheus.NewRegistry()
	s.published = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluz_registry_publish_total", Help: "Global configuration versions published since start."})
	s.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluz_registry_admin_requests_total", Help: "Admin API calls by method and HTTP status."}, []string{"method", "code"})
	s.metrics.MustRegister(s.published, s.calls,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluz_registry_globalconf_version", Help: "Version of the published global configuration."},
			func() float64 { return float64(s.Status().Version) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluz_registry_globalconf_expiry_seconds", Help: "Seconds until the published configuration expires."},
			func() float64 {
				if st := s.Status(); !st.Expires.IsZero() {
					return time.Until(st.Expires).Seconds()
				}
				return 0
			}),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	s.admin = &adminapi.Server{
		Store: st, Roots: roots, Intermediates: issuers, Operators: cfg.Admin.Operators,
		OnChange: s.Publish, Status: func() any { return s.Status() }, Log: log.With("component", "adminapi"),
		Observe: func(method string, status int) { s.calls.WithLabelValues(method, strconv.Itoa(status)).Inc() },
	}
	if s.console, err = console.New(console.Options{API: s.admin, Store: st, Published: s.publishedVersions,
		Remote: cfg.Admin.ConsoleRemote, Log: log.With("component", "console")}); err != nil {
		return nil, err
	}
	return s, nil
}

// maxHistory is how many published versions the console lists.
const maxHistory = 50

func (s *Server) publishedVersions() []console.Published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.history)
}

func certPool(files []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		certs, err := pkiutil.ReadCertificates(f)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

// Store is the registry's store.
func (s *Server) Store() *store.Store { return s.store }

// Anchor is the configuration anchor security servers are given out of band.
func (s *Server) Anchor() *globalconf.Anchor {
	return &globalconf.Anchor{Instance: s.cfg.Instance, URL: s.cfg.Publish.URL, Cert: s.signCert}
}

// Status reports the configuration being served.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Publish signs the current state as a new configuration version, saves it
// and serves it.
func (s *Server) Publish() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	version, err := s.store.NextConfVersion()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	conf, err := s.store.State().Conf(version, time.Now())
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	data, err := globalconf.Build(conf, s.signer, s.signCert)
	if err != nil {
		return fmt.Errorf("publish version %d: %w", version, err)
	}
	if err := durable.WriteFile(filepath.Join(s.cfg.DataDir, FilePublished), data, 0o644, true); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	s.publisher.Publish(data, version)
	s.published.Inc()
	sum := sha256.Sum256(data)
	s.status = Status{Version: version, Created: conf.Created, Expires: conf.Expires, SHA256: hex.EncodeToString(sum[:]),
		URL: s.cfg.Publish.URL, Published: s.status.Published + 1}
	s.history = slices.Insert(s.history, 0, console.Published{Version: version, Created: conf.Created, Expires: conf.Expires, SHA256: s.status.SHA256})
	s.history = s.history[:min(len(s.history), maxHistory)]
	s.log.Info("published global configuration", "version", version, "expires", conf.Expires.Format(time.RFC3339), "bytes", len(data))
	return nil
}

// republishEvery is how often the configuration is re-signed so that it
// never comes near its expiry while the registry runs.
func (s *Server) republishEvery() time.Duration {
	d := time.Duration(s.store.State().Trust.ConfValiditySeconds) * time.Second / 4
	return max(d, 15*time.Second)
}

// Serve publishes the configuration, then serves the admin API (TLS) on
// adminLn and the configuration on publishLn until ctx is done.
func (s *Server) Serve(ctx context.Context, adminLn, publishLn net.Listener) error {
	if err := s.Publish(); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+ConfPath, s.publisher)
	mux.Handle("HEAD "+ConfPath, s.publisher)
	servers := []*http.Server{
		{Handler: s.adminHandler(), TLSConfig: s.adminTLS},
		{Handler: mux},
	}
	errc := make(chan error, 3)
	for i, srv := range servers {
		srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = 5*time.Second, 30*time.Second, 30*time.Second, 2*time.Minute
		srv.MaxHeaderBytes = 16 << 10
		srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
		go func() {
			var err error
			if i == 0 {
				err = srv.Serve(tls.NewListener(adminLn, s.adminTLS))
			} else {
				err = srv.Serve(publishLn)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	go func() {
		t := time.NewTicker(s.republishEvery())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.Publish(); err != nil {
					s.log.Error("re-publishing the global configuration failed", "err", err)
				}
				t.Reset(s.republishEvery())
			}
		}
	}()
	s.log.Info("registry serving", "admin", "https://"+adminLn.Addr().String(), "globalconf", s.cfg.Publish.URL, "instance", s.cfg.Instance)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		srv.Shutdown(shutdown)
	}
	return err
}

// adminHandler serves the admin API, and the console below console.Prefix.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(console.Prefix+"/", s.console)
	mux.Handle("/", s.admin.Handler())
	return mux
}

// MetricsHandler serves the registry's Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{})
}

// Close closes the store.
func (s *Server) Close() error { return s.store.Close() }

// AnchorFromConfig builds the configuration anchor from a registry
// configuration without starting the registry.
func AnchorFromConfig(cfg *Config) (*globalconf.Anchor, error) {
	cert, err := pkiutil.ReadCertificate(cfg.Signing.Cert)
	if err != nil {
		return nil, fmt.Errorf("signing.cert: %w", err)
	}
	return &globalconf.Anchor{Instance: cfg.Instance, URL: cfg.Publish.URL, Cert: cert}, nil
}
