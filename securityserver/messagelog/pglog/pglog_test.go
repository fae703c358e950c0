package pglog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

func open(t testing.TB, dsn string) *Log {
	t.Helper()
	l, err := Open(context.Background(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestConformance: the PostgreSQL log keeps every promise of a message log
// store, as the bbolt log does.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Open {
		dsn := testtool.Postgres(t)
		return func() (storetest.Store, error) { return Open(context.Background(), dsn, Options{}) }
	})
}

// TestNodesShareOneChain: several processes' logs on one database (nodes
// of one security server) append at once and make one chain.
func TestNodesShareOneChain(t *testing.T) {
	dsn := testtool.Postgres(t)
	nodes := []*Log{open(t, dsn), open(t, dsn), open(t, dsn)}
	const perNode, workers = 40, 4
	var wg sync.WaitGroup
	var failed atomic.Value
	for i, l := range nodes {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range perNode {
					n := (i*workers+w)*perNode + k
					if err := l.Append(context.Background(), storetest.Rec(2*n, time.Time{}), storetest.Rec(2*n+1, time.Time{})); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	want := 2 * len(nodes) * workers * perNode
	if n := storetest.CheckChain(t, nodes[1]); n != want {
		t.Fatalf("%d records in the chain, %d appended", n, want)
	}
}

// TestOpenRefusesNewerSchema: a database a newer Şlüz migrated is not
// written by an older one.
func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := testtool.Postgres(t)
	open(t, dsn).Close()
	exec(t, dsn, `INSERT INTO schema_migrations (component, version) VALUES ('messagelog', $1)`, SchemaVersion+1)
	_, err := Open(context.Background(), dsn, Options{})
	if !errors.Is(err, ErrSchemaNewer) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaNewer", err)
	}
	t.Log(err)
}

// TestOpenMigratesOnce: nodes starting at once on an empty database all
// open it, and the schema is migrated once.
func TestOpenMigratesOnce(t *testing.T) {
	dsn := testtool.Postgres(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Open(context.Background(), dsn, Options{})
			if err == nil {
				err = l.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n int
	query(t, dsn, `SELECT count(*) FROM schema_migrations WHERE component = 'messagelog'`, &n)
	if n != SchemaVersion {
		t.Fatalf("%d schema versions recorded, want %d", n, SchemaVersion)
	}
}

// TestSynchronousCommit: appends are durable whatever the database's
// default, and a DSN that would make them not is refused.
func TestSynchronousCommit(t *testing.T) {
	dsn := testtool.Postgres(t)
	var db string
	query(t, dsn, `SELECT current_database()`, &db)
	exec(t, dsn, `ALTER DATABASE `+db+` SET synchronous_commit = off`)
	l := open(t, dsn)
	var sc string
	if err := l.pool.QueryRow(context.Background(), `SHOW synchronous_commit`).Scan(&sc); err != nil || sc != "on" {
		t.Fatalf("the log's sessions run with synchronous_commit %q (%v), want on", sc, err)
	}
	_, err := Open(context.Background(), dsn+"&synchronous_commit=off", Options{})
	if err == nil || !strings.Contains(err.Error(), "synchronous_commit=off") {
		t.Fatalf("Open with synchronous_commit=off: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	addr := testtool.FreeAddr(t) // nothing listens there
	_, err := Open(context.Background(), "postgres://sluz:sluz@"+addr+"/none?sslmode=disable&connect_timeout=2", Options{})
	if err == nil {
		t.Fatal("Open of an unreachable database succeeded")
	}
	t.Log(err)
}

func TestBackupRefused(t *testing.T) {
	l := open(t, testtool.Postgres(t))
	if _, err := l.Backup(nil); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("Backup: %v, want ErrNoBackup", err)
	}
}

// TestConnectionsKilled: PostgreSQL drops every connection of the log
// again and again under load (a failover, a restart). Appends may fail
// meanwhile, but every acknowledged one is in the chain exactly once, and
// appends work again afterwards without reopening.
func TestConnectionsKilled(t *testing.T) {
	dsn := testtool.Postgres(t)
	l := open(t, dsn)
	var dbName string
	query(t, dsn, `SELECT current_database()`, &dbName)
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		fails atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := storetest.Rec(0, time.Time{})
				r.MessageID = fmt.Sprintf("w%d-%d", w, i)
				if err := l.Append(context.Background(), r); err != nil {
					fails.Add(1)
					continue
				}
				mu.Lock()
				acked[r.MessageID] = true
				mu.Unlock()
			}
		}()
	}
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		exec(t, dsn, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, dbName)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := l.Append(context.Background(), storetest.Rec(1, time.Time{})); err != nil {
		t.Fatalf("append after the connections came back: %v", err)
	}
	if l.LastError() != nil {
		t.Fatalf("LastError after a good append: %v", l.LastError())
	}
	requireOnce(t, l, acked)
	t.Logf("%d appends acknowledged, %d failed while connections were killed", len(acked), fails.Load())
}

// requireOnce requires a whole chain holding each acknowledged message id
// exactly once; it returns the number of records.
func requireOnce(t *testing.T, l *Log, acked map[string]bool) int {
	t.Helper()
	n := storetest.CheckChain(t, l)
	seen := map[string]int{}
	l.Each(0, func(r *messagelog.Record, _ []byte) error {
		seen[r.MessageID]++
		return nil
	})
	for id := range acked {
		if seen[id] != 1 {
			t.Fatalf("acknowledged record %s is in the log %d times", id, seen[id])
		}
	}
	return n
}

func exec(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	testtool.Exec(t, dsn, sql, args...)
}

func query(t *testing.T, dsn, sql string, dst any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), sql).Scan(dst); err != nil {
		t.Fatal(err)
	}
}
