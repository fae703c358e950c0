package pglog

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// envChildDSN makes TestKilledNode's own binary the node it kills.
const envChildDSN = "PGLOG_TEST_CHILD_DSN"

// TestKilledNode: a node appending from many exchanges is killed (SIGKILL)
// mid-write. Every append it acknowledged is in the log exactly once, the
// chain is whole, and another node appends at once: the dead node's open
// transaction, and its lock on the head, went with its connections.
func TestKilledNode(t *testing.T) {
	if dsn := os.Getenv(envChildDSN); dsn != "" {
		appendUntilKilled(dsn)
		return
	}
	dsn := testtool.Postgres(t)
	t.Setenv(envChildDSN, dsn)
	p := testtool.Start(t, "appending", os.Args[0], "-test.run=^TestKilledNode$", "-test.count=1")
	time.Sleep(time.Second)
	p.Kill(t)
	acked := map[string]bool{}
	for _, line := range strings.Split(p.Log(), "\n") {
		// A line the kill cut short has no " end".
		if id, ok := strings.CutPrefix(line, "acked "); ok && strings.HasSuffix(id, " end") {
			acked[strings.TrimSuffix(id, " end")] = true
		}
	}
	if len(acked) == 0 {
		t.Fatalf("the node acknowledged nothing before it was killed:\n%s", p.Log())
	}
	l := open(t, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Append(ctx, storetest.Rec(0, time.Time{})); err != nil {
		t.Fatalf("append after the other node was killed: %v", err)
	}
	n := requireOnce(t, l, acked)
	t.Logf("%d appends acknowledged before the kill, %d records in the log", len(acked), n)
}

// appendUntilKilled is the node: 8 exchanges appending, each acknowledged
// record's message id written to standard error.
func appendUntilKilled(dsn string) {
	l, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "appending")
	acked := make(chan string, 1024)
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				r := storetest.Rec(0, time.Time{})
				r.MessageID = fmt.Sprintf("w%d-%d", w, i)
				if l.Append(context.Background(), r) == nil {
					acked <- r.MessageID
				}
			}
		}()
	}
	for id := range acked {
		fmt.Fprintf(os.Stderr, "acked %s end\n", id)
	}
}
