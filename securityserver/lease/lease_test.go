package lease

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
)

const retry = 200 * time.Millisecond

// node is one node's lease and what its work saw.
type node struct {
	name    string
	lease   *Postgres
	working atomic.Bool
	starts  atomic.Int32
	stop    context.CancelFunc
	done    chan struct{}
}

// start runs a lease named name on dsn whose work marks the node working
// until its context ends; active counts working nodes.
func start(t *testing.T, dsn, name string, active *atomic.Int32) *node {
	t.Helper()
	l, err := NewPostgres(dsn, Options{Retry: retry, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{name: name, lease: l, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		l.Run(ctx, func(ctx context.Context) {
			n.starts.Add(1)
			n.working.Store(true)
			active.Add(1)
			<-ctx.Done()
			active.Add(-1)
			n.working.Store(false)
		})
	}()
	t.Cleanup(func() { cancel(); <-n.done })
	return n
}

// waitFor polls cond for up to limit and returns how long it took.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond() {
		if time.Since(t0) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(t0)
}

func holders(nodes []*node) []*node {
	var h []*node
	for _, n := range nodes {
		if n.working.Load() {
			h = append(h, n)
		}
	}
	return h
}

// TestOneHolderAndTakeover: of three nodes exactly one works; when its
// database connection is cut, another takes over within a few retries and
// the old one stops; when it stops, another takes over too.
func TestOneHolderAndTakeover(t *testing.T) {
	dsn := testtool.Postgres(t)
	var active atomic.Int32
	nodes := []*node{start(t, dsn, "node-a", &active), start(t, dsn, "node-b", &active), start(t, dsn, "node-c", &active)}
	waitFor(t, 5*time.Second, "a node takes the lease", func() bool { return active.Load() == 1 })
	// Steady: exactly one, always the same.
	first := holders(nodes)[0]
	for range 20 {
		time.Sleep(retry / 2)
		if h := holders(nodes); len(h) != 1 || h[0] != first || active.Load() != 1 {
			t.Fatalf("%d nodes working (%d active), want only %s", len(h), active.Load(), first.name)
		}
	}
	// The holder's session ends as if its machine had gone.
	testtool.Exec(t, dsn, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, first.name)
	took := waitFor(t, 5*time.Second, "another node takes over", func() bool {
		h := holders(nodes)
		return len(h) == 1 && h[0] != first
	})
	if first.lease.Held() {
		t.Fatalf("%s still believes it holds the lease", first.name)
	}
	second := holders(nodes)[0]
	t.Logf("%s took over from %s %s after its connection was cut", second.name, first.name, took.Round(time.Millisecond))
	// A stopping holder finishes its work, then lets go.
	second.stop()
	<-second.done
	if second.working.Load() {
		t.Fatalf("%s works after Run returned", second.name)
	}
	waitFor(t, 5*time.Second, "a third node takes over", func() bool {
		h := holders(nodes)
		return len(h) == 1 && h[0] != second
	})
	if s := first.starts.Load() + second.starts.Load(); s < 2 {
		t.Fatalf("work started %d times on the first two holders", s)
	}
}

// envHolder makes the test binary a lease holder on the DSN it names
// (TestKilledHolder's child).
const envHolder = "SLUZ_TEST_LEASE_HOLDER"

// TestMain lets the test binary serve as the child process that holds the
// lease until it is killed.
func TestMain(m *testing.M) {
	if dsn := os.Getenv(envHolder); dsn != "" {
		l, err := NewPostgres(dsn, Options{Retry: retry, Name: "child"})
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		l.Run(context.Background(), func(ctx context.Context) {
			fmt.Println("holding")
			<-ctx.Done()
		})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestKilledHolder: a holder process killed with SIGKILL (no clean-up of
// its own) loses the lease at once, and a node waiting takes over within
// seconds.
func TestKilledHolder(t *testing.T) {
	dsn := testtool.Postgres(t)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envHolder+"="+dsn)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if strings.TrimSpace(s) != "holding" {
			t.Fatalf("child: %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not take the lease")
	}
	var active atomic.Int32
	n := start(t, dsn, "survivor", &active)
	time.Sleep(5 * retry)
	if n.working.Load() {
		t.Fatal("a second node works while the child holds the lease")
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	child.Wait()
	waitFor(t, 5*time.Second, "the survivor takes over", n.working.Load)
	t.Logf("took over %s after the holder was killed", time.Since(killed).Round(time.Millisecond))
}
