package verify

import (
	"container/list"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluz/sluz/pkiutil/ocsp"
)

// SignatureCache remembers batch signatures that verified, so that the
// messages of one batch cost one XAdES verification: the first message
// under a signature document is checked in full (signature value, signer's
// chain, identity and OCSP status); each further message under the same
// document only through its own hash chain to the remembered
// HashChainResult, and its signer's identity (each message names the
// member that must have signed it).
//
// An entry is keyed by the configuration's Trust and the SHA-512 of the
// whole signature document, so a document that differs in any byte (a
// sender's choice of OCSP response, signing time or certificate included)
// is a miss and is verified in full. It remembers the SHA-512 of the
// HashChainResult the signature covers; a message with another result is
// refused. Refusals are never remembered. An entry lives no longer than
// the OCSP response it was judged with is fresh (its thisUpdate plus the
// configuration's freshness limit, or its nextUpdate if earlier), nor
// beyond the validity of the signer's certificate chain. The cache holds
// at most its size in entries and forgets the least recently used.
//
// The zero value is not usable: call NewSignatureCache. It is safe for
// concurrent use.
type SignatureCache struct {
	max          int
	mu           sync.Mutex
	order        *list.List // of *cacheEntry, most recently used first
	entries      map[cacheKey]*list.Element
	hits, misses atomic.Uint64
}

// DefaultSignatureCacheSize is the entries a SignatureCache keeps when
// NewSignatureCache is given 0: batches live a few milliseconds, so a few
// thousand cover any burst.
const DefaultSignatureCacheSize = 4096

// NewSignatureCache returns a cache of at most size entries (0:
// DefaultSignatureCacheSize).
func NewSignatureCache(size int) *SignatureCache {
	if size <= 0 {
		size = DefaultSignatureCacheSize
	}
	return &SignatureCache{max: size, order: list.New(), entries: map[cacheKey]*list.Element{}}
}

type cacheKey struct {
	trust Trust
	doc   [64]byte // SHA-512 of the signature document
}

type cacheEntry struct {
	key    cacheKey
	result [64]byte // SHA-512 of the HashChainResult signed
	cert   *x509.Certificate
	until  time.Time // the first instant the entry no longer holds
}

// CacheStats are a SignatureCache's counters since it was made, for
// metrics: lookups of batch signatures that were found (Hits) and not
// found or expired (Misses), and the entries held.
type CacheStats struct {
	Hits, Misses uint64
	Entries      int
}

// Stats returns the cache's counters.
func (c *SignatureCache) Stats() CacheStats {
	c.mu.Lock()
	n := c.order.Len()
	c.mu.Unlock()
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: n}
}

// get returns the entry for key if it holds at now, else nil (and forgets
// an expired one).
func (c *SignatureCache) get(key cacheKey, now time.Time) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		c.misses.Add(1)
		return nil
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.until) {
		c.order.Remove(el)
		delete(c.entries, key)
		c.misses.Add(1)
		return nil
	}
	c.order.MoveToFront(el)
	c.hits.Add(1)
	return e
}

// put remembers e under key, forgetting the least recently used entry if
// the cache is full.
func (c *SignatureCache) put(key cacheKey, e *cacheEntry) {
	e.key = key
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		el.Value = e
		c.order.MoveToFront(el)
		return
	}
	c.entries[key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
}

// validUntil is the first instant at which a signature judged good with
// resp no longer is without a new judgement: resp is no longer fresh under
// t, it expires, or a certificate of the signer's chain does.
func validUntil(t Trust, resp *ocsp.Response, chain []*x509.Certificate) time.Time {
	until := resp.ThisUpdate.Add(t.OCSPFreshness())
	if !resp.NextUpdate.IsZero() && resp.NextUpdate.Before(until) {
		until = resp.NextUpdate
	}
	for _, cert := range chain {
		if cert.NotAfter.Before(until) {
			until = cert.NotAfter.Add(time.Nanosecond) // NotAfter itself is still valid
		}
	}
	return until
}
