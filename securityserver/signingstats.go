package securityserver

import "sync/atomic"

// SigningStats are a server's batch-signing and verification-cache counts
// since it started: what the sluz_signature_batch_size histogram and the
// sluz_signature_cache_* counters export, for a caller in the same process
// (cmd/loadtest reports how large batches grew under its load).
type SigningStats struct {
	// Messages this server signed (requests and answers) and the
	// signatures it made for them: fewer signatures than messages when
	// messages waiting for the same key were signed together.
	Messages, Signatures uint64
	// CacheHits and CacheMisses count received messages signed through a
	// hash chain whose batch signature was, or was not, verified before.
	CacheHits, CacheMisses uint64
}

// batchCounts sums the batch sizes the Batcher observes.
type batchCounts struct{ messages, signatures atomic.Uint64 }

func (c *batchCounts) add(n int) {
	c.messages.Add(uint64(n))
	c.signatures.Add(1)
}

// SigningStats reads this server's counts.
func (s *Server) SigningStats() SigningStats {
	st := SigningStats{Messages: s.metrics.batchCounts.messages.Load(), Signatures: s.metrics.batchCounts.signatures.Load()}
	if c := s.verifier.Signatures; c != nil {
		cs := c.Stats()
		st.CacheHits, st.CacheMisses = cs.Hits, cs.Misses
	}
	return st
}
