// Package securityserver is an agency's Şlüz security server: the client
// proxy takes plain X-Road SOAP requests from the agency's information
// systems, signs them and sends them over mutually authenticated TLS to the
// provider's security server; the service proxy verifies such requests from
// peers, checks access rights, calls the provider IS, and signs and returns
// its answer. Neither re-serialises a message it signs or forwards.
//
// One message through the code, in order: clientproxy.go (IS request ->
// signed transport message) -> serverproxy.go (the verification rules of
// package verify -> provider IS -> signed response) -> clientproxy.go
// (verify the response -> IS). reply.go is what both proxies share (the
// answer, the trace of an exchange, reply); side.go the one way of saying
// which proxy; staple.go this server's own OCSP responses; logging.go the
// message log as the proxies use it. opmon.go records every exchange's
// operational data where it ends (reply) and answers
// getSecurityServerOperationalData in the service proxy.
//
// The stores sit behind small interfaces (logAppender, stampLog,
// archiveLog, confSource, verify.AccessChecker, verify.ReplayGuard), with
// the embedded implementations on bbolt and in memory, and those on
// PostgreSQL (messageLog.storage: postgres) that the nodes of one server
// share: the message log (pglog), the replay guard (pgreplay), the access
// rights (pgacl) and the operational monitoring records (pgopmon; shared.go
// opens those two). Of those nodes, only the holder of a lease on the
// database (package lease) time-stamps and archives. failover.go is the
// client proxy's X-Road failover between the servers hosting a provider.
//
// # Caveats
//
// A message's SOAP part is held in memory (limits.maxMessageSize); its
// attachments stream through files in dataDir/spool (package spool, see
// attachments.go) and into the message log's attachment files, but each
// hop stores an attachment whole before it forwards it (the signature
// needs its digest first); REST bodies travel the same way
// (limits.maxAttachmentSize). Batch signatures are not supported yet. The REST
// protocol (PR-REST) runs beside SOAP:
// restclient.go and restservice.go, entered from the two proxies by the
// request path (/r1/...) and by x-road-message-type: REST. The meta
// services the provider's server answers itself are in restmeta.go
// (PR-MREST, and listClients at the client proxy) and soapmeta.go
// (PR-META).
// With the embedded log the replay window is kept in memory and seeded
// from the message log at start.
package securityserver

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/lease"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/pglog"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/spool"
	"github.com/sluz/sluz/securityserver/verify"
	"github.com/sluz/sluz/securityserver/verify/pgreplay"
)

// Version is sent as x-proxy-version (semver, PR-MESSTRANSP §2).
const Version = "7.8.0"

// Files in the data directory.
const (
	FileConfCache = "globalconf.xml"
	FileACL       = "acl.db"
)

// memberKey is a hosted member's signing key.
type memberKey struct {
	key    crypto.Signer
	cert   *x509.Certificate
	issuer *x509.Certificate
}

// Server is a running security server.
type Server struct {
	cfg      *config.Config
	conf     confSource
	acl      verify.AccessChecker
	rules    acl.Rules          // the rights acl checks from; the console edits them
	verifier *verify.Verifier   // with its caches of verified chains, OCSP responses and batch signatures
	batcher  *signature.Batcher // every signature this server makes (attachments.go)
	log      *slog.Logger
	auth     tls.Certificate
	authIs   *x509.Certificate // issuer of the auth certificate
	sign     map[identifier.Client]*memberKey
	status   *statusCache
	replay   verify.ReplayGuard
	closers  []io.Closer // key handles (PKCS#11 sessions)
	mlog     messageLog
	appender logAppender      // the proxies' appends: mlog, or a test's wrapper around it
	files    messagelog.Files // the message log's attachment files
	blog     *messagelog.Log  // the embedded store behind mlog (MessageLog); nil on PostgreSQL
	provider *http.Client     // keep-alive connections to the provider IS endpoints
	// restProvider calls REST provider IS: no redirects, no compression
	// of its own.
	restProvider *http.Client
	ts           *timestamper
	archiver     *archiver
	lead         leader // runs ts and archiver on one node of those sharing the log
	db           pinger // the database of the log on PostgreSQL; nil with the embedded log
	opts         options
	metrics      *metrics
	opmon        *opmon.Store // nil when opmon.enabled is false

	// clientTLS, when the configuration asks for it, serves the client
	// proxy over HTTPS and admits only IS certificates of its client CAs.
	clientTLS *tls.Config

	peersMu  sync.Mutex
	peers    map[identifier.ServerID]*http.Client // keep-alive connection pools, one per provider server
	failover failover                             // which provider servers could not be reached lately
}

// confSource is the global configuration as the server uses it: the
// current verified snapshot (an error once it expired or before the first
// download), and its refreshing (globalconf.Client).
type confSource interface {
	Current() (*globalconf.Snapshot, error)
	Refresh(ctx context.Context) error
	Run(ctx context.Context)
	// Recheck fetches at once unless a fetch was made within minAge, and
	// reports whether the copy in use changed; CheckedAt is when the
	// registry last confirmed it.
	Recheck(ctx context.Context, minAge time.Duration) (bool, error)
	CheckedAt() time.Time
}

// Option adjusts New.
type Option func(*options)

type options struct {
	now          func() time.Time
	noLog        bool
	noTimestamps bool
	wrapAppender func(logAppender) logAppender // tests only (export_test.go)
}

// WithoutMessageLog and WithoutTimestamping exist for benchmarks that
// measure what the message log and time-stamping cost (cmd/loadtest). A
// server without them keeps no proof of its exchanges; the configuration
// file cannot select either.
func WithoutMessageLog() Option { return func(o *options) { o.noLog, o.noTimestamps = true, true } }

// WithoutTimestamping: see WithoutMessageLog.
func WithoutTimestamping() Option { return func(o *options) { o.noTimestamps = true } }

// WithClock makes the server judge the global configuration's expiry by
// now instead of the system clock (tests, and checking a deployment's
// behaviour at a future date).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New loads keys, the configuration anchor and cache, and the access rights
// (Check's checks first), and opens the stores. On failure it has closed
// whatever it opened.
func New(cfg *config.Config, log *slog.Logger, opts ...Option) (_ *Server, err error) {
	if log == nil {
		log = slog.Default()
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.noLog {
		log.Warn("message log switched off (benchmark option): exchanges leave no proof")
	}
	m, err := loadMaterial(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, cfg: cfg, log: log, auth: m.auth, authIs: m.authIs, sign: m.sign, clientTLS: m.clientTLS, closers: m.closers,
		verifier: newVerifier(cfg.Limits.VerifyCacheSize), peers: map[identifier.ServerID]*http.Client{},
		provider:     &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}},
		restProvider: newRESTProviderClient()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("dataDir: %w", err)
	}
	s.files = messagelog.AttachmentsBeside(filepath.Join(cfg.DataDir, FileMessageLog))
	if err := spool.Clean(filepath.Join(cfg.DataDir, DirSpool)); err != nil {
		return nil, fmt.Errorf("dataDir: the spool of an earlier run: %w", err)
	}
	if s.conf, err = globalconf.NewClient(globalconf.ClientOptions{Anchor: m.anchor, CachePath: filepath.Join(cfg.DataDir, FileConfCache),
		Interval: cfg.GlobalConf.RefreshInterval.D(), Now: o.now, Logger: log.With("component", "globalconf")}); err != nil {
		return nil, err
	}
	s.status = newStatusCache(s.snapshot, log.With("component", "ocsp"))
	s.status.add(s.auth.Leaf, s.authIs)
	for _, mk := range s.sign {
		s.status.add(mk.cert, mk.issuer)
	}
	// The log holds its file's lock until Close.
	var pool *pgxpool.Pool // the log's on PostgreSQL
	if cfg.MessageLog.Storage == config.StoragePostgres {
		plog, err := pglog.Open(context.Background(), cfg.MessageLog.Postgres.DSN, pglog.Options{CommitInterval: cfg.MessageLog.CommitInterval.D()})
		if err != nil {
			return nil, err
		}
		s.mlog, s.db, pool = pgWithFiles{plog, s.files}, plog, plog.Pool()
		// One node of those sharing the database time-stamps and archives.
		if s.lead, err = lease.NewPostgres(cfg.MessageLog.Postgres.DSN, lease.Options{Name: "sluz lease " + cfg.Server.String(), Logger: log.With("component", "lease")}); err != nil {
			return nil, err
		}
		// They share the replay guard: a request replayed to another node
		// is refused too.
		if s.replay, err = pgreplay.New(context.Background(), plog.Pool(), cfg.Limits.ReplayWindow.D(), pgreplay.Options{Logger: log.With("component", "replayguard")}); err != nil {
			return nil, err
		}
	} else {
		if s.blog, err = messagelog.Open(filepath.Join(cfg.DataDir, FileMessageLog), messagelog.Options{WALSize: int64(cfg.MessageLog.WALSize), CommitInterval: cfg.MessageLog.CommitInterval.D()}); err != nil {
			return nil, err
		}
		s.mlog = s.blog
		s.lead = soleNode{}
	}
	s.appender = s.mlog
	if o.wrapAppender != nil {
		s.appender = o.wrapAppender(s.mlog)
	}
	// Access rights and operational monitoring: in dataDir, or with the
	// log on PostgreSQL in its database, shared by the nodes.
	if err := s.openShared(pool, o.now); err != nil {
		return nil, err
	}
	if s.replay == nil {
		if s.replay, err = s.seededReplays(); err != nil {
			return nil, err
		}
	}
	s.ts = newTimestamper(s.mlog, s.snapshot, cfg.Timestamping.Interval.D(), cfg.Timestamping.Grace.D(), cfg.Timestamping.MaxBatch, log.With("component", "timestamper"))
	if o.now != nil {
		s.ts.now = o.now
	}
	s.archiver = newArchiver(s.mlog, cfg, log.With("component", "archiver"))
	s.metrics = newMetrics(s)
	s.batcher = &signature.Batcher{Off: !cfg.Signing.Batched(), Observe: s.metrics.observeBatch}
	if s.opmon != nil {
		s.metrics.reg.MustRegister(opmonCollectors(s.opmon)...)
	}
	return s, nil
}

// leader runs work on one node at a time of those sharing a message log:
// the time-stamper and the archiver. Run returns once ctx is done and work
// has returned; work's context ends when the node is to stop it.
type leader interface {
	Run(ctx context.Context, work func(context.Context))
	Held() bool // whether this node runs the work now
}

// pinger is a database that Ready asks whether it answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// soleNode is the leader of an embedded log, which one process alone opens.
type soleNode struct{}

func (soleNode) Run(ctx context.Context, work func(context.Context)) { work(ctx) }
func (soleNode) Held() bool                                          { return true }

// seededReplays is the in-memory replay guard, seeded from the message
// log: requests received within the replay window before a restart are
// still refused if sent again.
func (s *Server) seededReplays() (*verify.Replays, error) {
	replays := verify.NewReplays(s.cfg.Limits.ReplayWindow.D(), s.cfg.Limits.ReplayCapacity)
	since := time.Now().Add(-s.cfg.Limits.ReplayWindow.D())
	err := s.mlog.Recent(since, func(r *messagelog.Record) error {
		if r.Side == messagelog.ServerSide && r.Kind == messagelog.Request {
			replays.Remember(r.Client, r.MessageID, r.Time)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("message log: %w", err)
	}
	return replays, nil
}

// snapshot is the current global configuration, or an error once it has
// expired or before the first download.
func (s *Server) snapshot() (*globalconf.Snapshot, error) {
	return s.conf.Current()
}

// recheck asks the registry at once (at most once per
// globalConf.recheckInterval) when snap may be too old to know a peer
// server, a client or a service, and returns the copy to judge by: the new
// one, or snap. A peer registered a moment ago is so served on its first
// request instead of after the next periodic refresh.
func (s *Server) recheck(ctx context.Context, snap *globalconf.Snapshot) *globalconf.Snapshot {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	changed, err := s.conf.Recheck(ctx, s.cfg.GlobalConf.RecheckInterval.D())
	if err != nil {
		s.log.Warn("on-demand global configuration fetch failed; judging by the copy in use", "version", snap.Version, "err", err)
	}
	if !changed {
		return snap
	}
	cur, err := s.snapshot()
	if err != nil {
		return snap
	}
	return cur
}

// confNote names the global configuration a refusal was judged by, so that
// a peer told "not registered" knows which version said so.
func (s *Server) confNote(snap *globalconf.Snapshot) string {
	checked := "not since this server started"
	if at := s.conf.CheckedAt(); !at.IsZero() {
		checked = at.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("global configuration version %d, last confirmed by the registry %s", snap.Version, checked)
}

// Serve runs the client proxy on clientLn and the service proxy on serverLn
// until ctx is done. It first tries to download the global configuration.
func (s *Server) Serve(ctx context.Context, clientLn, serverLn net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Start from the newest configuration; the cached copy serves while the
	// registry is unreachable.
	if err := s.conf.Refresh(ctx); err != nil {
		if _, cerr := s.conf.Current(); cerr != nil {
			s.log.Warn("global configuration not available yet; retrying in the background", "err", err)
		} else {
			s.log.Warn("registry unreachable; using the cached global configuration", "err", err)
		}
	}
	go s.conf.Run(ctx)
	go s.status.run(ctx)
	if r, ok := s.replay.(interface{ Run(context.Context) }); ok {
		go r.Run(ctx) // the guard forgets expired ids
	}
	leadDone := make(chan struct{})
	go func() {
		defer close(leadDone)
		s.lead.Run(ctx, func(held context.Context) {
			var wg sync.WaitGroup
			if !s.opts.noTimestamps {
				wg.Go(func() { s.ts.run(held, ctx) })
			}
			if s.cfg.MessageLog.Archive.On() {
				wg.Go(func() { s.archiver.run(held) })
			}
			wg.Wait()
		})
	}()

	lim := s.cfg.Limits
	clientSrv := &http.Server{
		Handler:           http.HandlerFunc(s.serveClient),
		ReadHeaderTimeout: lim.HeaderTimeout.D(),
		ReadTimeout:       lim.ReadTimeout.D(),
		WriteTimeout:      lim.ReadTimeout.D() + lim.PeerTimeout.D() + lim.ProviderTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    int(lim.MaxHeaderBytes),
		ErrorLog:          s.handshakeErrorLog(endpointClient),
	}
	serverSrv := &http.Server{
		Handler:           http.HandlerFunc(s.serveServer),
		ReadHeaderTimeout: lim.HeaderTimeout.D(),
		ReadTimeout:       lim.ReadTimeout.D(),
		WriteTimeout:      lim.ReadTimeout.D() + lim.ProviderTimeout.D() + 10*time.Second,
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    int(lim.MaxHeaderBytes),
		ErrorLog:          s.handshakeErrorLog(endpointServer),
	}
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{s.auth},
		MinVersion:   tls.VersionTLS13,
		// The peer is trusted by its certificate's registration in the
		// global configuration, checked per request against the message's
		// client (PR-MESSTRANSP §2 step 5), not by a CA pool alone.
		ClientAuth: tls.RequireAnyClientCert,
	}
	errc := make(chan error, 2)
	if s.clientTLS != nil {
		clientLn = tls.NewListener(clientLn, s.clientTLS)
	}
	go func() { errc <- ignoreClosed(clientSrv.Serve(clientLn)) }()
	go func() { errc <- ignoreClosed(serverSrv.Serve(tls.NewListener(serverLn, serverTLS))) }()
	s.log.Info("security server serving", "server", s.cfg.Server.String(), "client_proxy", clientLn.Addr().String(), "service_proxy", serverLn.Addr().String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, stop := context.WithTimeout(context.Background(), lim.ShutdownGrace.D())
	defer stop()
	clientSrv.Shutdown(shutdown)
	serverSrv.Shutdown(shutdown)
	cancel()
	<-leadDone // the last batch is stamped before the log can be closed
	s.status.client.HTTPClient.CloseIdleConnections()
	s.provider.CloseIdleConnections()
	s.restProvider.CloseIdleConnections()
	s.peersMu.Lock()
	for _, c := range s.peers {
		c.CloseIdleConnections()
	}
	s.peersMu.Unlock()
	return err
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close releases the keys (PKCS#11 sessions) and closes the message log
// and the operational monitoring store (committing its queued records).
// Call it after Serve returns.
func (s *Server) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	s.closers = nil
	if s.opmon != nil { // first: on PostgreSQL it commits through the log's pool
		errs = append(errs, s.opmon.Close())
		s.opmon = nil
	}
	if s.mlog != nil { // kept: a closed log answers readers (metrics) with an error
		errs = append(errs, s.mlog.Close())
	}
	return errors.Join(errs...)
}
