package pgacl

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/internal/pgschema"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/rest"
)

// A database of schema version 1 (before endpoint rights) keeps its rights
// when migrated to the current version, and takes endpoint rights after.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testtool.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pgschema.Migrate(ctx, pool, component, migrations[:1], ErrSchemaNewer); err != nil {
		t.Fatal(err)
	}
	// A right as version 1 wrote it (a Rule's JSON without an endpoint).
	svc, err := identifier.ParseService("AZ/GOV/EMDK/realestate/realEstateRegistry")
	if err != nil {
		t.Fatal(err)
	}
	din, _ := acl.ParseSubject("AZ/GOV/DIN/population")
	old, err := json.Marshal(acl.Rule{Service: svc, Subject: din, Granted: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), By: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO acl_rules (service, subject, rule) VALUES ($1, $2, $3)`, svc.String(), din.String(), old); err != nil {
		t.Fatal(err)
	}
	st, err := New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	var have int
	if err := pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations WHERE component = $1`, component).Scan(&have); err != nil || have != SchemaVersion {
		t.Fatalf("schema version %d (%v), want %d", have, err, SchemaVersion)
	}
	ep := rest.Endpoint{Method: "GET", Path: "/extract/*"}
	if _, err := st.GrantEndpoint(svc, ep, din, "admin", time.Now()); err != nil {
		t.Fatalf("endpoint right beside the migrated right: %v", err)
	}
	rules, err := st.List()
	if err != nil || len(rules) != 2 || rules[0].Endpoint != nil || rules[0].Service != svc || rules[0].Subject != din ||
		rules[1].Endpoint == nil || *rules[1].Endpoint != ep {
		t.Fatalf("rules after the migration: %+v, %v", rules, err)
	}
	if err := st.Revoke(svc, din); err != nil {
		t.Fatalf("revoke the migrated right: %v", err)
	}
}
