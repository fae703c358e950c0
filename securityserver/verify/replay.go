package verify

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Replays is the in-memory ReplayGuard of one security server: it refuses
// a (client, id) pair seen again within the window. It holds at most max
// pairs; when full of fresh ones it forgets the oldest half.
type Replays struct {
	window time.Duration
	max    int

	mu   sync.Mutex
	seen map[string]time.Time
}

// DefaultReplayCapacity is the most ids Replays keeps when given 0.
const DefaultReplayCapacity = 1_000_000

// NewReplays returns a guard over window holding at most max ids (0:
// DefaultReplayCapacity).
func NewReplays(window time.Duration, max int) *Replays {
	if max <= 0 {
		max = DefaultReplayCapacity
	}
	return &Replays{window: window, max: max, seen: map[string]time.Time{}}
}

func replayKey(client, id string) string { return client + "\x00" + id }

// Fresh implements ReplayGuard; it never fails.
func (g *Replays) Fresh(client, id string, now time.Time) (bool, error) {
	k := replayKey(client, id)
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.seen[k]; ok && now.Sub(t) < g.window {
		return false, nil
	}
	if len(g.seen) >= g.max {
		g.expire(now)
	}
	g.seen[k] = now
	return true, nil
}

// Remember records an id received at at, as when the guard is seeded from
// the message log after a restart.
func (g *Replays) Remember(client, id string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen[replayKey(client, id)] = at
}

func (g *Replays) expire(now time.Time) {
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

// Run forgets expired ids every half window until ctx is done.
func (g *Replays) Run(ctx context.Context) {
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
