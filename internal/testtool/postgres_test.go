package testtool

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://u:p@127.0.0.1:5432/sluz_test?sslmode=disable", "postgres://u:p@127.0.0.1:5432/other?sslmode=disable"},
		{"postgresql:///sluz_test?host=/run/postgresql", "postgresql:///other?host=/run/postgresql"},
		{"host=/run/postgresql dbname=sluz_test", "host=/run/postgresql dbname=sluz_test dbname=other"},
	} {
		if got := withDatabase(tc.dsn, "other"); got != tc.want {
			t.Errorf("withDatabase(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
		cfg, err := pgx.ParseConfig(withDatabase(tc.dsn, "other"))
		if err != nil || cfg.Database != "other" {
			t.Errorf("%q: database %v, %v; want other", tc.dsn, cfg, err)
		}
	}
}

// Each call is a database of its own: a table made in one is not in the other.
func TestPostgresIsolates(t *testing.T) {
	ctx := context.Background()
	a, b := Postgres(t), Postgres(t)
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_here (x int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the second database sees the first's table: %d, %v", n, err)
	}
}
