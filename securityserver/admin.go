package securityserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluz/sluz/registry/identifier"
)

// metrics are the server's Prometheus metrics. Labels stay bounded: member,
// subsystem and service identifiers come from the federation's
// configuration, results are fault codes; message ids never appear.
type metrics struct {
	reg           *prometheus.Registry
	exchanges     *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	durationOf    [nSides]prometheus.Observer // duration's children
	counters      exchangeCounters
	detailMetrics // metrics.go: signing, verification, provider, log, sizes, certificates, TLS
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.exchanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluz_exchanges_total",
		Help: "Exchanges handled, by proxy side (client or server), client, service and result (ok or the SOAP fault code).",
	}, []string{"side", "client", "service", "result"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluz_exchange_duration_seconds",
		Help:    "Time from receiving a request to releasing its answer, by proxy side.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"side"})
	for sd := range nSides {
		m.durationOf[sd] = m.duration.WithLabelValues(sd.String())
	}
	m.reg.MustRegister(m.exchanges, m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluz_messagelog_records_unstamped",
			Help: "Message log records not yet covered by a time-stamp.",
		}, func() float64 {
			first, last, _, err := s.mlog.PendingStored()
			if err != nil || first > last {
				return 0
			}
			return float64(last - first + 1)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluz_messagelog_oldest_unstamped_age_seconds",
			Help: "Age of the oldest message log record without a time-stamp (0 when none).",
		}, func() float64 {
			first, last, oldest, err := s.mlog.PendingStored()
			if err != nil || first > last {
				return 0
			}
			return time.Since(oldest).Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluz_timestamping_lease_held",
			Help: "1 when this node time-stamps and archives the message log (always with the embedded log; with PostgreSQL, the one node holding the lease), else 0.",
		}, func() float64 {
			if s.lead.Held() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluz_globalconf_version",
			Help: "Version of the global configuration in use (0 when none).",
		}, func() float64 {
			if snap, _ := s.conf.Current(); snap != nil && snap.Conf != nil { // an expired snapshot still has a version
				return float64(snap.Version)
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluz_globalconf_expiry_seconds",
			Help: "Seconds until the global configuration in use expires (negative once expired).",
		}, func() float64 {
			if snap, _ := s.conf.Current(); snap != nil && snap.Conf != nil {
				return time.Until(snap.Expires).Seconds()
			}
			return 0
		}),
	)
	m.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	m.addDetail(s)
	return m
}

// observe counts one exchange of client with service (zero identifiers
// when the request was not read).
func (m *metrics) observe(sd side, client identifier.Client, service identifier.ServiceID, result string, d time.Duration) {
	m.counters.of(m.exchanges, exchangeKey{sd, client, service, result}).Inc()
	m.durationOf[sd].Observe(d.Seconds())
}

// exchangeKey is one child of sluz_exchanges_total.
type exchangeKey struct {
	sd      side
	client  identifier.Client
	service identifier.ServiceID
	result  string
}

// exchangeCounters caches the children of sluz_exchanges_total by
// identifier, so that counting an exchange neither renders its
// identifiers nor hashes label values.
type exchangeCounters struct {
	mu sync.RWMutex
	m  map[exchangeKey]prometheus.Counter
}

// maxCachedCounters bounds the cache; children beyond it are looked up
// by label values each time, as without the cache.
const maxCachedCounters = 4096

func (c *exchangeCounters) of(vec *prometheus.CounterVec, k exchangeKey) prometheus.Counter {
	c.mu.RLock()
	ctr, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return ctr
	}
	var client, service string
	if k.client != (identifier.Client{}) {
		client = k.client.String()
	}
	if k.service != (identifier.ServiceID{}) {
		service = k.service.String()
	}
	ctr = vec.WithLabelValues(k.sd.String(), client, service, k.result)
	c.mu.Lock()
	if c.m == nil {
		c.m = map[exchangeKey]prometheus.Counter{}
	}
	if len(c.m) < maxCachedCounters {
		c.m[k] = ctr
	}
	c.mu.Unlock()
	return ctr
}

// readyPing bounds Ready's check that the message log's database
// answers: a load balancer polling /readyz must get its answer quickly.
const readyPing = 2 * time.Second

// Ready reports whether the server can handle messages, and if not, why:
// a valid unexpired global configuration, a writable message log (with
// the log on PostgreSQL, a database answering within readyPing), and
// time-stamping within its grace period.
func (s *Server) Ready() error {
	var problems []string
	if _, err := s.snapshot(); err != nil {
		problems = append(problems, "global configuration: "+err.Error())
	}
	if s.mlog == nil || s.mlog.Closed() {
		problems = append(problems, "message log: closed")
	} else if err := s.mlog.LastError(); err != nil {
		problems = append(problems, "message log: "+err.Error()) // "message log write failed: ..."
	} else if s.db != nil {
		ctx, cancel := context.WithTimeout(context.Background(), readyPing)
		defer cancel()
		if err := s.db.Ping(ctx); err != nil {
			problems = append(problems, "database unreachable: "+err.Error())
		}
	}
	if f := s.ts.refusal(clientSide); f != nil {
		problems = append(problems, "time-stamping: "+f.String+": "+s.ts.lastError().Error())
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// AdminHandler serves /metrics (Prometheus), /healthz (the process is
// alive), /readyz (Ready; 503 with the reasons when not) and
// /messagelog/backup (a consistent copy of the live message log), and
// X-Road's signed document download: /asic (an exchange's ASiC-E
// containers) and /verificationconf (the certificates to check them with),
// and the administrator's web console below /console/ (console.go).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	if h, err := s.console(); err != nil {
		s.log.Error("the web console is off", "err", err)
	} else {
		mux.Handle(consolePrefix+"/", h)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	// A consistent copy of the live message log, for `logaudit verify` while
	// the server runs (the file itself is locked by the server).
	mux.HandleFunc("GET /messagelog/backup", func(w http.ResponseWriter, r *http.Request) {
		if s.blog == nil { // on PostgreSQL: the database's own backups copy it
			http.Error(w, "this server's message log is on PostgreSQL: back up the database (pg_dump, or the cluster's own backups) instead", http.StatusNotImplemented)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="messagelog.db"`)
		if _, err := s.mlog.Backup(w); err != nil {
			s.log.Error("message log backup failed", "err", err)
		}
	})
	mux.HandleFunc("GET /asic", s.handleAsic)
	mux.HandleFunc("GET /verificationconf", s.handleVerificationConf)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// ServeAdmin serves AdminHandler on ln until ctx is done.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return ignoreClosed(srv.Serve(ln))
}
