package messagelog

import (
	"context"
	"sync"
	"time"
)

// Group is the group commit every store shares: appenders queue their
// records and wait; one goroutine hands everything waiting (up to MaxBatch
// appends) to the store's commit in one call and gives every appender of
// the group its outcome. A store builds its Append, Closed, LastError and
// QueueLen on it.
type Group struct {
	opts   GroupOptions
	commit func(recs []*Record) error
	reqs   chan *appendReq

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	done   chan struct{}

	errMu   sync.Mutex
	lastErr error // of the last commit; nil after a good one
}

// GroupOptions tune a Group.
type GroupOptions struct {
	// MaxBatch caps how many appends share one commit; default 512.
	MaxBatch int
	// Now stamps records whose Time is zero; default time.Now.
	Now func() time.Time
	// Interval is the least time between two commits (0: none). A longer
	// one gathers more records per commit under load, at the cost of that
	// much latency.
	Interval time.Duration
}

type appendReq struct {
	recs []*Record
	err  chan error
}

// StartGroup starts the goroutine that calls commit, one group at a time,
// with the records of every append waiting, in order. commit sets each
// record's Seq and PrevHash and returns once they are durable.
func StartGroup(opts GroupOptions, commit func(recs []*Record) error) *Group {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Group{opts: opts, commit: commit, reqs: make(chan *appendReq, opts.MaxBatch), done: make(chan struct{})}
	go g.run()
	return g
}

// Append queues recs and returns the outcome of the commit that took them:
// ErrClosed after Close, ctx's error if ctx ends before they are queued.
// It stamps records whose Time is zero with the current time, and every
// Time in UTC.
func (g *Group) Append(ctx context.Context, recs ...*Record) error {
	now := g.opts.Now()
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = now
		}
		r.Time = r.Time.UTC()
	}
	req := &appendReq{recs: recs, err: make(chan error, 1)}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return ErrClosed
	}
	select {
	case g.reqs <- req:
	case <-ctx.Done():
		g.mu.RUnlock()
		return ctx.Err()
	}
	g.mu.RUnlock()
	// Once queued, the records are written whatever the caller does next:
	// wait for the outcome so that no success is reported for a failed write.
	return <-req.err
}

func (g *Group) run() {
	defer close(g.done)
	var last time.Time
	var recs []*Record
	for req := range g.reqs {
		if d := g.opts.Interval; d > 0 {
			if wait := d - time.Since(last); wait > 0 {
				time.Sleep(wait)
			}
		}
		group := []*appendReq{req}
	drain:
		for len(group) < g.opts.MaxBatch {
			select {
			case r, ok := <-g.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		last = time.Now()
		recs = recs[:0]
		for _, r := range group {
			recs = append(recs, r.recs...)
		}
		err := g.commit(recs)
		g.setLastError(err)
		for _, r := range group {
			r.err <- err
		}
	}
}

func (g *Group) setLastError(err error) {
	g.errMu.Lock()
	g.lastErr = err
	g.errMu.Unlock()
}

// LastError is the error of the last commit, nil if it succeeded.
func (g *Group) LastError() error {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	return g.lastErr
}

// ForgetError clears the last commit's error if match says it no longer
// holds (the store recovered before the next append).
func (g *Group) ForgetError(match func(error) bool) {
	g.errMu.Lock()
	if g.lastErr != nil && match(g.lastErr) {
		g.lastErr = nil
	}
	g.errMu.Unlock()
}

// QueueLen is how many appends wait, not counting those in the commit
// under way: it grows when commits are slow.
func (g *Group) QueueLen() int { return len(g.reqs) }

// Closed reports whether Close was called.
func (g *Group) Closed() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.closed
}

// Close refuses further appends and returns once every queued one is
// committed (or failed); first is false when it was already closed.
func (g *Group) Close() (first bool) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.closed = true
	close(g.reqs)
	g.mu.Unlock()
	<-g.done
	return true
}
