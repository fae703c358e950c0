// Package pgacl keeps a security server's access rights (acl.Rules) in
// the PostgreSQL database that the nodes of the server share
// (messageLog.storage: postgres), so that a right granted with
// `securityserver acl grant` on any node holds on every node at its next
// reload. Each change also advances a version row in the same
// transaction; a Checker's Stamp reads that one row.
//
// The schema is versioned in schema_migrations under component "acl":
// version 2 added endpoint rights (REST), kept beside the rights on whole
// services; a version 1 database keeps its rights when migrated.
//
// # Caveats
//
// Rights kept in a node's dataDir/acl.db before the switch to PostgreSQL
// are not read: grant them again (`securityserver acl list` on the old
// configuration shows them). While the database cannot be reached a
// Checker answers from the rules it loaded last (Stamp wraps
// acl.ErrUnreachable): the message log on the same database refuses
// every exchange meanwhile.
package pgacl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/internal/pgschema"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/rest"
)

// component names this store's rows in schema_migrations.
const component = "acl"

// migrations: see pgschema.Migrate. Append only.
var migrations = []string{
	// 1: the rules, and the version that each change advances.
	`
-- service is the service without its version, subject the client or
-- group:INSTANCE/GROUP (acl.Subject's string form); rule is acl.Rule's JSON.
CREATE TABLE acl_rules (
	service text NOT NULL,
	subject text NOT NULL,
	rule    bytea NOT NULL,
	PRIMARY KEY (service, subject)
);
CREATE TABLE acl_version (
	one     boolean PRIMARY KEY DEFAULT true CHECK (one),
	version bigint NOT NULL
);
INSERT INTO acl_version (version) VALUES (0);
`,
	// 2: endpoint rights (REST): a right may name a method and a path
	// pattern; '' and '' is the right on the whole service.
	`
ALTER TABLE acl_rules
	ADD COLUMN endpoint_method text NOT NULL DEFAULT '',
	ADD COLUMN endpoint_path   text NOT NULL DEFAULT '';
ALTER TABLE acl_rules
	DROP CONSTRAINT acl_rules_pkey,
	ADD PRIMARY KEY (service, subject, endpoint_method, endpoint_path);
`,
}

// SchemaVersion is the schema version this code writes and reads.
var SchemaVersion = len(migrations)

// ErrSchemaNewer is wrapped when a newer Şlüz migrated the database.
var ErrSchemaNewer = errors.New("the database's access rights schema is newer than this Şlüz")

// Timeout bounds one operation.
var Timeout = 10 * time.Second

// Store is the access rights on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	own  bool // Close closes pool
	name string
}

var _ acl.Rules = (*Store)(nil)

// New migrates the schema in pool's database; the pool stays the caller's.
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	c := pool.Config().ConnConfig
	s := &Store{pool: pool, name: fmt.Sprintf("access rights on PostgreSQL %s/%s", c.Host, c.Database)}
	if err := pgschema.Migrate(ctx, pool, component, migrations, ErrSchemaNewer); err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return s, nil
}

// Open connects to the database dsn names (for the acl command) and
// migrates its schema; Close disconnects.
func Open(ctx context.Context, dsn string) (*Store, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("access rights on PostgreSQL: %w", err)
	}
	s, err := New(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// Close disconnects a store made by Open.
func (s *Store) Close() error {
	if s.own {
		s.pool.Close()
	}
	return nil
}

// key is a rule's primary key: the endpoint's method and path are empty
// for the right on the whole service.
func key(service identifier.ServiceID, subject acl.Subject, ep *rest.Endpoint) []any {
	k := []any{service.WithoutVersion().String(), subject.String(), "", ""}
	if ep != nil {
		k[2], k[3] = ep.Method, ep.Path
	}
	return k
}

// change runs fn in a transaction that also advances the version.
func (s *Store) change(fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := fn(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE acl_version SET version = version + 1`)
		return err
	})
	if err != nil && !errors.Is(err, acl.ErrExists) && !errors.Is(err, acl.ErrNotFound) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return err
}

// Grant allows subject to call service (any version).
func (s *Store) Grant(service identifier.ServiceID, subject acl.Subject, by string, now time.Time) (*acl.Rule, error) {
	return s.grant(service, nil, subject, by, now)
}

// GrantEndpoint allows subject to call one endpoint of a REST service.
func (s *Store) GrantEndpoint(service identifier.ServiceID, ep rest.Endpoint, subject acl.Subject, by string, now time.Time) (*acl.Rule, error) {
	return s.grant(service, &ep, subject, by, now)
}

func (s *Store) grant(service identifier.ServiceID, ep *rest.Endpoint, subject acl.Subject, by string, now time.Time) (*acl.Rule, error) {
	r, err := acl.NewRule(service, ep, subject, by, now)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	err = s.change(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO acl_rules (service, subject, endpoint_method, endpoint_path, rule) VALUES ($1, $2, $3, $4, $5)`,
			append(key(service, subject, ep), data)...)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "23505" { // unique_violation
			return acl.ExistsError(r.Service, ep, subject)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Revoke removes a right; ep names the endpoint of an endpoint right (none
// for a right on the whole service).
func (s *Store) Revoke(service identifier.ServiceID, subject acl.Subject, ep ...rest.Endpoint) error {
	e := acl.RevokedEndpoint(ep)
	return s.change(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM acl_rules WHERE service = $1 AND subject = $2 AND endpoint_method = $3 AND endpoint_path = $4`,
			key(service, subject, e)...)
		if err == nil && tag.RowsAffected() == 0 {
			return acl.NotFoundError(service, e, subject)
		}
		return err
	})
}

// List returns every rule, ordered by service, subject, then endpoint.
func (s *Store) List() ([]acl.Rule, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT rule FROM acl_rules ORDER BY service COLLATE "C", subject COLLATE "C", endpoint_method COLLATE "C", endpoint_path COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (acl.Rule, error) {
		var data []byte
		var r acl.Rule
		if err := row.Scan(&data); err != nil {
			return r, err
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return r, fmt.Errorf("corrupt rule: %w", err)
		}
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return out, nil
}

// Stamp is the version row.
func (s *Store) Stamp() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM acl_version`).Scan(&v); err != nil {
		return "", fmt.Errorf("%s: %w: %w", s.name, acl.ErrUnreachable, err)
	}
	return strconv.FormatInt(v, 10), nil
}
