package testtool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPostgres names the variable that gives tests a PostgreSQL to use: a
// DSN (URL or keyword/value form) of a role that may create databases. The
// Makefile's test target sets it to the cluster scripts/install-test-deps
// starts.
const EnvPostgres = "SLUZ_TEST_POSTGRES"

// Postgres returns the DSN of a new, empty database made for t alone on
// the PostgreSQL that SLUZ_TEST_POSTGRES names, and drops it when t ends,
// so tests neither see each other's tables nor leave any behind. Without
// the variable t is skipped, or fails with CI set (.ci/run provides one);
// with it, a server that cannot be reached fails t.
func Postgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set; make test (scripts/install-test-deps) should have set up PostgreSQL", EnvPostgres)
		}
		t.Skipf("no PostgreSQL: set %s (make test sets it; scripts/install-test-deps starts one as root)", EnvPostgres)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("%s: %v", EnvPostgres, err)
	}
	defer conn.Close(ctx)
	dropStale(ctx, conn)
	var b [4]byte
	rand.Read(b[:])
	name := fmt.Sprintf("%s%d_%s", dbPrefix, time.Now().Unix(), hex.EncodeToString(b[:]))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("%s: create a database for the test: %v", EnvPostgres, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			defer conn.Close(ctx)
			// FORCE: connections the test left open (a process it killed)
			// must not keep it. FORCE refuses while an autovacuum worker is
			// in the database (the role may not end it); a plain DROP
			// stops the worker, and is tried until the connections left.
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			for err != nil && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
				_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
			}
		}
		if err != nil {
			t.Errorf("%s: drop the test's database %s: %v", EnvPostgres, name, err)
		}
	})
	return withDatabase(dsn, name)
}

// dbPrefix starts the name of every test's database, then its creation
// time (Unix seconds).
const dbPrefix = "sluz_t_"

// dropStale drops, as best it can, test databases older than an hour
// (longer than make test's timeout): those of test processes killed before
// their cleanup.
func dropStale(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, dbPrefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		created, _, _ := strings.Cut(strings.TrimPrefix(name, dbPrefix), "_")
		if sec, err := strconv.ParseInt(created, 10, 64); err == nil && time.Since(time.Unix(sec, 0)) > time.Hour {
			conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
		}
	}
}

// withDatabase is dsn naming database name instead of its own.
func withDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + name
}

// Exec runs sql on dsn's database from a connection of its own (to set up
// or break what a test needs), failing t on error.
func Exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// CutOff makes the database of dsn (one Postgres made) unreachable, as a
// database gone away looks to its clients: new connections are refused and
// the open ones are terminated. The returned func lets connections in
// again; t's cleanup calls it too.
func CutOff(t testing.TB, dsn string) (restore func()) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := pgx.Identifier{cfg.Database}.Sanitize()
	admin := os.Getenv(EnvPostgres)
	Exec(t, admin, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false")
	Exec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, cfg.Database)
	done := false
	restore = func() {
		if !done {
			done = true
			Exec(t, admin, "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
		}
	}
	t.Cleanup(restore)
	return restore
}
