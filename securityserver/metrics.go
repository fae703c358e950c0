package securityserver

import (
	"crypto/x509"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/verify"
)

// Message kinds, for sizes.
const (
	kindRequest = iota
	kindResponse
	nKinds
)

var kindNames = [nKinds]string{"request", "response"}

// detailMetrics say where the time of an exchange goes and how this
// server's own trust material stands. Every child on the exchange path is
// resolved here, once: observing costs a time.Now and an Observe, no
// allocation.
// Labels are bounded: side and kind are fixed sets, service comes from the
// configuration's services, certificate and member from its keys.
type detailMetrics struct {
	sign     [nSides]prometheus.Observer
	verify   [nSides]prometheus.Observer
	logWrite [nSides]prometheus.Observer
	size     [nSides][nKinds]prometheus.Observer

	batch       prometheus.Observer // messages per signature
	batchCounts batchCounts         // the same, summed (SigningStats)

	providerVec *prometheus.HistogramVec
	provider    map[identifier.ServiceID]prometheus.Observer // by configured service

	tls *tlsFailures
}

func (m *metrics) addDetail(s *Server) {
	d := &m.detailMetrics
	signVec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluz_sign_duration_seconds",
		Help:    "Time to sign one message (the XAdES signature document; on a PKCS#11 token, the token's time included; with signing.batch, the wait for the batch too), by proxy side: client signs requests, server signs responses.",
		Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16), // 25 µs .. 0.8 s (RSA on an HSM)
	}, []string{"side"})
	verifyVec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluz_verify_duration_seconds",
		Help:    "Time to verify one message's signature: the XAdES signature, the signer's chain to an approved CA and its stapled OCSP responses, by proxy side: client verifies responses, server verifies requests.",
		Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16),
	}, []string{"side"})
	d.providerVec = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluz_provider_duration_seconds",
		Help:    "Time the provider information system took to answer, by configured service (as written in services[].service).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1 ms .. 33 s (limits.providerTimeout defaults to 30 s)
	}, []string{"service"})
	logVec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluz_messagelog_append_duration_seconds",
		Help:    "Time until one append's records were durable in the message log (queueing, group commit and fsync), by proxy side; the service side appends the request's record (while the provider works) and the response's apart.",
		Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16), // 100 µs .. 3.3 s
	}, []string{"side"})
	sizeVec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sluz_message_size_bytes",
		Help:    "Size of the SOAP messages handled (the signed bytes, without transport envelope), by proxy side and kind (request or response).",
		Buckets: prometheus.ExponentialBuckets(256, 4, 10), // 256 B .. 64 MiB
	}, []string{"side", "kind"})
	batchHist := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sluz_signature_batch_size",
		Help:    "Messages under one signature this server made (requests and responses): 1 for a message signed alone; more when messages waiting for the same signing key were signed together (signing.batch).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 9), // 1 .. 256 (signature.MaxBatch)
	})
	d.batch = batchHist
	for sd := range nSides {
		d.sign[sd] = signVec.WithLabelValues(sd.String())
		d.verify[sd] = verifyVec.WithLabelValues(sd.String())
		d.logWrite[sd] = logVec.WithLabelValues(sd.String())
		for k, kind := range kindNames {
			d.size[sd][k] = sizeVec.WithLabelValues(sd.String(), kind)
		}
	}
	d.provider = map[identifier.ServiceID]prometheus.Observer{}
	for _, svc := range s.cfg.Services {
		d.provider[svc.ID] = d.providerVec.WithLabelValues(svc.ID.String())
	}
	d.tls = newTLSFailures()
	m.reg.MustRegister(batchHist, verifyCacheCounter(s, "hits", func(c verify.CacheStats) uint64 { return c.Hits }),
		verifyCacheCounter(s, "misses", func(c verify.CacheStats) uint64 { return c.Misses }))
	m.reg.MustRegister(signVec, verifyVec, d.providerVec, logVec, sizeVec, d.tls.handshake, d.tls.peer,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluz_messagelog_append_queue_length",
			Help: "Message log appends waiting for the writer (not counting the commit under way); it grows when commits or fsyncs are slow.",
		}, func() float64 {
			if l := s.mlog; l != nil {
				return float64(l.QueueLen())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluz_globalconf_ocsp_freshness_seconds",
			Help: "The federation's OCSP freshness limit from the global configuration in use: older stapled responses are refused (0 when none).",
		}, func() float64 {
			if snap, _ := s.conf.Current(); snap != nil && snap.Conf != nil {
				return snap.OCSPFreshness().Seconds()
			}
			return 0
		}),
		&ownCertsCollector{s: s, certs: ownCertificates(s)},
	)
}

// observeBatch is the Batcher's Observe: one signature over n messages.
func (m *metrics) observeBatch(n int) {
	m.batch.Observe(float64(n))
	m.batchCounts.add(n)
}

// verifyCacheCounter counts the receiving side's cache of verified batch
// signatures: a hit checks a message through its own hash chain only.
func verifyCacheCounter(s *Server, what string, n func(verify.CacheStats) uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sluz_signature_cache_" + what + "_total",
		Help: "Messages signed through a hash chain whose signature was (hits) or was not (misses) found among the batch signatures verified before (limits.verifyCacheSize).",
	}, func() float64 {
		if c := s.verifier.Signatures; c != nil {
			return float64(n(c.Stats()))
		}
		return 0
	})
}

// providerObserver is the provider-latency child of a configured service.
func (d *detailMetrics) providerObserver(id identifier.ServiceID) prometheus.Observer {
	if o, ok := d.provider[id]; ok {
		return o
	}
	return d.providerVec.WithLabelValues(id.String()) // not reached: services come from the configuration
}

// observeSince observes the time elapsed since start.
func observeSince(o prometheus.Observer, start time.Time) { o.Observe(time.Since(start).Seconds()) }

// ownCert is one of this server's own certificates, as metrics name it.
type ownCert struct {
	kind   string // auth, sign or clientproxy_tls
	member string // the member it belongs to ("" for clientproxy_tls)
	cert   *x509.Certificate
	ocsp   bool // its status is kept fresh by the status cache (auth and sign)
}

func ownCertificates(s *Server) []ownCert {
	certs := []ownCert{{kind: "auth", member: memberOf(s.auth.Leaf), cert: s.auth.Leaf, ocsp: true}}
	for _, k := range s.cfg.Keys.Sign { // configuration order, for a stable exposition
		if mk := s.sign[k.Member]; mk != nil {
			certs = append(certs, ownCert{kind: "sign", member: k.Member.String(), cert: mk.cert, ocsp: true})
		}
	}
	if s.clientTLS != nil {
		if leaf := s.clientTLS.Certificates[0].Leaf; leaf != nil {
			certs = append(certs, ownCert{kind: "clientproxy_tls", cert: leaf})
		}
	}
	return certs
}

// ownCertsCollector reports, at each scrape, the time left on this
// server's own certificates and the age of the OCSP responses it staples
// for them.
type ownCertsCollector struct {
	s     *Server
	certs []ownCert
}

var (
	certExpiryDesc = prometheus.NewDesc("sluz_certificate_expiry_seconds",
		"Seconds until this server's own certificate expires (negative once expired), by certificate (auth, sign, clientproxy_tls) and member.",
		[]string{"certificate", "member"}, nil)
	ocspAgeDesc = prometheus.NewDesc("sluz_ocsp_response_age_seconds",
		"Age (since thisUpdate) of the OCSP response this server staples for its own certificate, by certificate (auth, sign) and member; +Inf while it has none. Peers refuse responses older than sluz_globalconf_ocsp_freshness_seconds.",
		[]string{"certificate", "member"}, nil)
)

func (c *ownCertsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- certExpiryDesc
	ch <- ocspAgeDesc
}

func (c *ownCertsCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now() // as the proxies judge certificates and OCSP responses
	for _, oc := range c.certs {
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, oc.cert.NotAfter.Sub(now).Seconds(), oc.kind, oc.member)
		if oc.ocsp {
			ch <- prometheus.MustNewConstMetric(ocspAgeDesc, prometheus.GaugeValue, c.s.status.age(oc.cert, now), oc.kind, oc.member)
		}
	}
}

// memberOf is the member a certificate names, or its subject when it names
// none.
func memberOf(cert *x509.Certificate) string {
	id, err := pkiutil.MemberFromSubject(cert.Subject)
	if err != nil {
		return cert.Subject.String()
	}
	return id
}
