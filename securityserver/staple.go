package securityserver

import (
	"bytes"
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
	signer       *x509.Certificate // who signed der: the issuer or its delegated responder
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

// responders returns the certificates that signed the responses kept
// (each once), for an auditor who checks OCSP responses offline.
func (c *statusCache) responders() []*x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[[32]byte]bool{}
	var out []*x509.Certificate
	for _, e := range c.entries {
		if e.signer == nil || seen[sha256.Sum256(e.signer.Raw)] {
			continue
		}
		seen[sha256.Sum256(e.signer.Raw)] = true
		out = append(out, e.signer)
	}
	slices.SortFunc(out, func(a, b *x509.Certificate) int { return bytes.Compare(a.Raw, b.Raw) })
	return out
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
		e.der, e.thisUpdate, e.err, e.signer = resp.Raw, resp.ThisUpdate, nil, resp.Signer
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
