package pgreplay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/verify"
)

// guard opens a guard on its own pool, as one node of a cluster would.
func guard(t *testing.T, dsn string, window time.Duration) *Guard {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	g, err := New(context.Background(), pool, window, Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func fresh(t *testing.T, g *Guard, client, id string, at time.Time) bool {
	t.Helper()
	ok, err := g.Fresh(client, id, at)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestNodesRefuseEachOthersReplays: an id one node received is a replay at
// the other, within the window and for the same client only; after the
// window it is new again.
func TestNodesRefuseEachOthersReplays(t *testing.T) {
	dsn := testtool.Postgres(t)
	a, b := guard(t, dsn, time.Minute), guard(t, dsn, time.Minute)
	t0 := time.Now()
	steps := []struct {
		g      *Guard
		client string
		id     string
		at     time.Duration
		want   bool
	}{
		{a, "EE/GOV/1/x", "m1", 0, true},
		{b, "EE/GOV/1/x", "m1", time.Second, false},      // the other node
		{a, "EE/GOV/1/x", "m1", 2 * time.Second, false},  // the same node
		{b, "EE/GOV/2/y", "m1", 3 * time.Second, true},   // another client
		{b, "EE/GOV/1/x", "m1", 59 * time.Second, false}, // still within the window of the first
		{b, "EE/GOV/1/x", "m1", time.Minute, true},       // a minute after: new again
		{a, "EE/GOV/1/x", "m1", 90 * time.Second, false}, // and the window restarts from there
	}
	for i, s := range steps {
		if got := fresh(t, s.g, s.client, s.id, t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d: Fresh(%s, %s) at +%s = %v, want %v", i, s.client, s.id, s.at, got, s.want)
		}
	}
}

// TestConcurrentReceiptsAcceptOnce: the same id sent to several nodes at
// once is accepted by exactly one.
func TestConcurrentReceiptsAcceptOnce(t *testing.T) {
	dsn := testtool.Postgres(t)
	nodes := []*Guard{guard(t, dsn, time.Minute), guard(t, dsn, time.Minute), guard(t, dsn, time.Minute)}
	const ids, senders = 50, 6
	var accepted [ids]atomic.Int32
	var wg sync.WaitGroup
	now := time.Now()
	for s := range senders {
		g := nodes[s%len(nodes)]
		wg.Go(func() {
			for i := range ids {
				ok, err := g.Fresh("EE/GOV/1/x", fmt.Sprint("id-", i), now)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					accepted[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for i := range accepted {
		if n := accepted[i].Load(); n != 1 {
			t.Errorf("id-%d accepted %d times by %d senders, want once", i, n, senders)
		}
	}
}

// TestExpire: Expire deletes exactly the pairs older than the window.
func TestExpire(t *testing.T) {
	dsn := testtool.Postgres(t)
	g := guard(t, dsn, time.Minute)
	t0 := time.Now()
	for i := range 5 {
		fresh(t, g, "c", fmt.Sprint(i), t0.Add(time.Duration(i)*20*time.Second)) // +0s .. +80s
	}
	n, err := g.Expire(context.Background(), t0.Add(100*time.Second)) // cutoff +40s
	if err != nil || n != 3 {
		t.Fatalf("Expire: %d deleted (%v), want 3", n, err)
	}
	var left int
	if err := g.pool.QueryRow(context.Background(), `SELECT count(*) FROM replay_guard`).Scan(&left); err != nil || left != 2 {
		t.Fatalf("%d pairs left (%v), want 2", left, err)
	}
}

// TestDatabaseGone: without the database Fresh fails (the rule answers
// LoggingFailed, as the log on that database would) rather than letting a message through, and works again
// once the database is back.
func TestDatabaseGone(t *testing.T) {
	dsn := testtool.Postgres(t)
	g := guard(t, dsn, time.Minute)
	fresh(t, g, "c", "before", time.Now())
	restore := testtool.CutOff(t, dsn)
	ok, err := g.Fresh("c", "during", time.Now())
	if err == nil || !errors.Is(err, verify.ErrGuardUnavailable) {
		t.Fatalf("Fresh with the database gone: %v, %v; want an error wrapping verify.ErrGuardUnavailable", ok, err)
	}
	var ref *verify.Refusal
	if rerr := verify.Replay(g, identifier.Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "EMDK", SubsystemCode: "realestate"}, "during-2", time.Now()); !errors.As(rerr, &ref) || ref.Code != message.LoggingFailed {
		t.Fatalf("the replay rule with the database gone: %v; want a LoggingFailed refusal", rerr)
	}
	t.Logf("database gone: %v", err)
	restore()
	if !fresh(t, g, "c", "after", time.Now()) {
		t.Fatal("a new id after the database came back was refused")
	}
	if fresh(t, g, "c", "before", time.Now()) {
		t.Fatal("an id received before the outage was forgotten")
	}
}
