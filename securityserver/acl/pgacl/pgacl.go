// Package pgacl keeps a security server's access rights (acl.Rules) in
// the PostgreSQL database that the nodes of the server share
// (messageLog.storage: postgres), so that a right granted with
// `securityserver acl grant` on any node holds on every node at its next
// reload. Each change also advances a version row in the same
// transaction; a Checker's Stamp reads that one row.
//
// The schema is versioned in schema_migrations under component "acl".
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

func key(service identifier.ServiceID, subject acl.Subject) (string, string) {
	return service.WithoutVersion().String(), subject.String()
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
	if err := service.Validate(); err != nil {
		return nil, err
	}
	r := &acl.Rule{Service: service.WithoutVersion(), Subject: subject, Granted: now.UTC().Truncate(time.Second), By: by}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	svc, sub := key(service, subject)
	err = s.change(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO acl_rules (service, subject, rule) VALUES ($1, $2, $3)`, svc, sub, data)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "23505" { // unique_violation
			return fmt.Errorf("%w: %s may already call %s", acl.ErrExists, subject, r.Service)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Revoke removes a right.
func (s *Store) Revoke(service identifier.ServiceID, subject acl.Subject) error {
	svc, sub := key(service, subject)
	return s.change(func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM acl_rules WHERE service = $1 AND subject = $2`, svc, sub)
		if err == nil && tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s has no right to call %s", acl.ErrNotFound, subject, service.WithoutVersion())
		}
		return err
	})
}

// List returns every rule, ordered by service then subject.
func (s *Store) List() ([]acl.Rule, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT rule FROM acl_rules ORDER BY service COLLATE "C", subject COLLATE "C"`)
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
