// Package pgschema migrates the PostgreSQL schema of one Şlüz component
// (the message log, the replay guard, the node lease) that shares a
// database with the others: each component's versions are rows of the
// table schema_migrations keyed by its name, applied in order in one
// transaction, and a schema newer than the code is refused rather than
// written.
//
// # Caveats
//
// Migrations are append only: a released one must never change, since a
// database that applied it does not apply it again.
package pgschema

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockClass, lockID are the advisory lock ("sluz", 1) held while a schema is
// checked and migrated, so that nodes starting at once migrate once.
const lockClass, lockID = 0x736c757a, 1

// Migrate brings component's schema to version len(migrations):
// migrations[i] takes it from version i to i+1. When the database holds a
// newer version it fails wrapping newer, changing nothing.
func Migrate(ctx context.Context, pool *pgxpool.Pool, component string, migrations []string, newer error) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockClass, lockID); err != nil {
			return fmt.Errorf("lock the schema: %w", err)
		}
		_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  text NOT NULL,
	version    integer NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (component, version)
)`)
		if err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = $1`, component).Scan(&have); err != nil {
			return fmt.Errorf("read the %s schema version: %w", component, err)
		}
		if have > len(migrations) {
			return fmt.Errorf("%w: version %d, this Şlüz knows up to %d; run the newer Şlüz, or restore a database of this version", newer, have, len(migrations))
		}
		for v := have + 1; v <= len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migrate the %s schema to version %d: %w", component, v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version) VALUES ($1, $2)`, component, v); err != nil {
				return fmt.Errorf("record %s schema version %d: %w", component, v, err)
			}
		}
		return nil
	})
}
