package securityserver

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/registry/globalconf"
)

// verifyChain checks cert against the federation's approved CAs in snap and
// returns the certificate that issued it. Results are cached per
// configuration snapshot, certificate and usage: every message of a peer
// carries the same certificates, and a chain check is costly.
func verifyChain(snap *globalconf.Snapshot, cert *x509.Certificate, extra []*x509.Certificate, usage x509.ExtKeyUsage, at time.Time) (*x509.Certificate, error) {
	key := chainKey{snap: snap, cert: sha256.Sum256(cert.Raw), usage: usage}
	if e, ok := trustCache.chain(key); ok && !at.Before(e.notBefore) && !at.After(e.notAfter) {
		return e.issuer, nil
	}
	inter := snap.Intermediates()
	for _, c := range extra {
		inter.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: snap.Roots(), Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: at})
	if err != nil {
		return nil, err
	}
	if len(chains[0]) < 2 {
		return nil, errors.New("certificate is itself a trust anchor")
	}
	// The chain holds while every certificate in it is valid.
	e := chainEntry{issuer: chains[0][1], notBefore: cert.NotBefore, notAfter: cert.NotAfter}
	for _, c := range chains[0][1:] {
		e.notBefore = later(e.notBefore, c.NotBefore)
		e.notAfter = earlier(e.notAfter, c.NotAfter)
	}
	trustCache.putChain(key, e)
	return e.issuer, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// checkStatus verifies a stapled OCSP response for cert: signed by the
// issuer or its responder, about cert, good, and fresh per the global
// configuration. The cryptographic part is cached per response; the
// freshness is judged anew at every call.
func checkStatus(der []byte, cert, issuer *x509.Certificate, freshness time.Duration, now time.Time) error {
	key := statusKey{resp: sha256.Sum256(der), cert: sha256.Sum256(cert.Raw), issuer: sha256.Sum256(issuer.Raw)}
	resp, ok := trustCache.status(key)
	if !ok {
		var err error
		resp, err = ocsp.Verify(der, ocsp.VerifyOptions{Cert: cert, Issuer: issuer, Now: now})
		if err != nil {
			return err
		}
		trustCache.putStatus(key, resp)
	}
	switch {
	case now.Sub(resp.ThisUpdate) > freshness:
		return fmt.Errorf("%w: the OCSP response for %q is %s old, the limit is %s", ocsp.ErrStale, cert.Subject.CommonName, now.Sub(resp.ThisUpdate).Round(time.Second), freshness)
	case resp.ThisUpdate.After(now.Add(time.Minute)):
		return fmt.Errorf("%w: the OCSP response for %q is dated in the future", ocsp.ErrNotYetValid, cert.Subject.CommonName)
	case !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate):
		return fmt.Errorf("%w: the OCSP response for %q expired at %s", ocsp.ErrExpired, cert.Subject.CommonName, resp.NextUpdate.Format(time.RFC3339))
	}
	switch resp.Status {
	case ocsp.Good:
		return nil
	case ocsp.Revoked:
		return &revokedError{fmt.Sprintf("certificate %q was revoked at %s", cert.Subject.CommonName, resp.RevokedAt.Format(time.RFC3339))}
	default:
		return fmt.Errorf("the CA does not know certificate %q (OCSP status unknown)", cert.Subject.CommonName)
	}
}

// revokedError is checkStatus's refusal of a revoked certificate, apart
// from the others for metrics.
type revokedError struct{ msg string }

func (e *revokedError) Error() string { return e.msg }

type chainKey struct {
	snap  *globalconf.Snapshot // a new configuration may change the approved CAs
	cert  [32]byte
	usage x509.ExtKeyUsage
}

type chainEntry struct {
	issuer              *x509.Certificate
	notBefore, notAfter time.Time
}

type statusKey struct{ resp, cert, issuer [32]byte }

// verifiedCache remembers verified chains and OCSP responses. It is
// bounded: when full it starts over.
type verifiedCache struct {
	mu     sync.Mutex
	chains map[chainKey]chainEntry
	stats  map[statusKey]*ocsp.Response
}

const maxCached = 10000

var trustCache = &verifiedCache{chains: map[chainKey]chainEntry{}, stats: map[statusKey]*ocsp.Response{}}

func (c *verifiedCache) chain(k chainKey) (chainEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.chains[k]
	return e, ok
}

func (c *verifiedCache) putChain(k chainKey, e chainEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.chains) >= maxCached {
		clear(c.chains)
	}
	c.chains[k] = e
}

func (c *verifiedCache) status(k statusKey) (*ocsp.Response, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.stats[k]
	return r, ok
}

func (c *verifiedCache) putStatus(k statusKey, r *ocsp.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.stats) >= maxCached {
		clear(c.stats)
	}
	c.stats[k] = r
}

// statusCache keeps fresh OCSP responses for this server's own
// certificates (authentication and signing), to staple into every message.
type statusCache struct {
	conf   func() (*globalconf.Snapshot, error)
	client ocsp.Client // with its own connection pool, closed when the server stops
	log    *slog.Logger

	mu      sync.Mutex
	entries map[[32]byte]*statusEntry
}

type statusEntry struct {
	cert, issuer *x509.Certificate
	der          []byte
	thisUpdate   time.Time
	err          error
}

func newStatusCache(conf func() (*globalconf.Snapshot, error), log *slog.Logger) *statusCache {
	return &statusCache{conf: conf, log: log, entries: map[[32]byte]*statusEntry{},
		client: ocsp.Client{HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}}}
}

func (c *statusCache) add(cert, issuer *x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[sha256.Sum256(cert.Raw)] = &statusEntry{cert: cert, issuer: issuer}
}

// age is how old (since thisUpdate) the response kept for cert is at now;
// +Inf when there is none.
func (c *statusCache) age(cert *x509.Certificate, now time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[sha256.Sum256(cert.Raw)]
	if e == nil || e.der == nil {
		return math.Inf(1)
	}
	return now.Sub(e.thisUpdate).Seconds()
}

// get returns a response for cert fresh enough to send: younger than half
// the federation's freshness limit, fetching one if needed.
func (c *statusCache) get(ctx context.Context, cert *x509.Certificate) ([]byte, error) {
	snap, err := c.conf()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e := c.entries[sha256.Sum256(cert.Raw)]
	c.mu.Unlock()
	if e == nil {
		return nil, fmt.Errorf("no OCSP tracking for certificate %q", cert.Subject.CommonName)
	}
	c.mu.Lock()
	der, at := e.der, e.thisUpdate
	c.mu.Unlock()
	if der != nil && time.Since(at) < snap.OCSPFreshness()/2 {
		return der, nil
	}
	if err := c.refresh(ctx, snap, e); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.der, nil
}

// refresh asks the responders named in the global configuration, in order,
// until one gives a verified good answer.
func (c *statusCache) refresh(ctx context.Context, snap *globalconf.Snapshot, e *statusEntry) error {
	urls := snap.OCSPURLs(e.cert)
	if len(urls) == 0 {
		return fmt.Errorf("the global configuration names no OCSP responder for %q", e.cert.Subject.CommonName)
	}
	var errs []error
	for _, u := range urls {
		resp, err := c.client.Fetch(ctx, u, e.cert, e.issuer, ocsp.VerifyOptions{MaxAge: snap.OCSPFreshness()})
		if err == nil && resp.Status != ocsp.Good {
			err = fmt.Errorf("status %s", resp.Status)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		c.mu.Lock()
		e.der, e.thisUpdate, e.err = resp.Raw, resp.ThisUpdate, nil
		c.mu.Unlock()
		return nil
	}
	err := fmt.Errorf("OCSP status of %q: %w", e.cert.Subject.CommonName, errors.Join(errs...))
	c.mu.Lock()
	e.err = err
	c.mu.Unlock()
	return err
}

// run refreshes every tracked certificate before its response gets stale,
// so that messages never wait for a responder.
func (c *statusCache) run(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		snap, err := c.conf()
		if err == nil {
			c.mu.Lock()
			entries := make([]*statusEntry, 0, len(c.entries))
			for _, e := range c.entries {
				entries = append(entries, e)
			}
			c.mu.Unlock()
			for _, e := range entries {
				c.mu.Lock()
				stale := e.der == nil || time.Since(e.thisUpdate) > snap.OCSPFreshness()/4
				c.mu.Unlock()
				if stale {
					if err := c.refresh(ctx, snap, e); err != nil && ctx.Err() == nil {
						c.log.Warn("OCSP refresh failed", "err", err)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// replayGuard refuses a message id seen again from the same client within
// the window (PR-MESS: ids are unique per message).
type replayGuard struct {
	window time.Duration
	max    int

	mu   sync.Mutex
	seen map[string]time.Time
}

func newReplayGuard(window time.Duration) *replayGuard {
	return &replayGuard{window: window, max: 1_000_000, seen: map[string]time.Time{}}
}

// check records (client, id) and reports whether it is new.
func (g *replayGuard) check(client, id string, now time.Time) bool {
	k := client + "\x00" + id
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.seen[k]; ok && now.Sub(t) < g.window {
		return false
	}
	if len(g.seen) >= g.max {
		g.expire(now)
	}
	g.seen[k] = now
	return true
}

func (g *replayGuard) expire(now time.Time) {
	for k, t := range g.seen {
		if now.Sub(t) >= g.window {
			delete(g.seen, k)
		}
	}
	if len(g.seen) >= g.max { // still full of fresh ids: drop the oldest half
		times := make([]time.Time, 0, len(g.seen))
		for _, t := range g.seen {
			times = append(times, t)
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		cut := times[len(times)/2]
		for k, t := range g.seen {
			if t.Before(cut) {
				delete(g.seen, k)
			}
		}
	}
}

func (g *replayGuard) run(ctx context.Context) {
	t := time.NewTicker(g.window / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.mu.Lock()
			g.expire(now)
			g.mu.Unlock()
		}
	}
}
