package pglog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// component names this store's rows in schema_migrations, which other
// stores sharing the database (operational monitoring, access rights)
// can use for theirs.
const component = "messagelog"

// migrations are the schema's versions in order: migrations[i] takes the
// schema from version i to i+1. Append only; never change one that was
// released.
var migrations = []string{
	// 1: the record chain, its head, time-stamp batches, the archive anchor.
	`
-- The newest record of the chain (seq 0 and 32 zero bytes before the
-- first): each group commit locks this row, so that appenders on every node
-- extend one chain. It stays when every record went to archives.
CREATE TABLE messagelog_head (
	one  boolean PRIMARY KEY DEFAULT true CHECK (one),
	seq  bigint NOT NULL,
	hash bytea NOT NULL
);
INSERT INTO messagelog_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

-- stored is the record's encoding (messagelog.Record.Encode), which the
-- chain hashes; hash is SHA-256 of it, computed by the appender, for
-- time-stamping; time_ns is the record's time (Unix nanoseconds), for the
-- replay guard's and the archiver's searches.
CREATE TABLE messagelog_records (
	seq     bigint PRIMARY KEY,
	time_ns bigint NOT NULL,
	hash    bytea NOT NULL,
	stored  bytea NOT NULL
);
CREATE INDEX messagelog_records_time ON messagelog_records (time_ns);

CREATE TABLE messagelog_batches (
	n         bigint PRIMARY KEY,
	first_seq bigint NOT NULL UNIQUE,
	last_seq  bigint NOT NULL,
	root      bytea NOT NULL,
	token     bytea NOT NULL,
	time_ns   bigint NOT NULL,
	tsa       text NOT NULL
);

-- Where the live log continues after records went to archives
-- (messagelog.Anchor); no row before the first pruning.
CREATE TABLE messagelog_anchor (
	one         boolean PRIMARY KEY DEFAULT true CHECK (one),
	last_seq    bigint NOT NULL,
	record_hash bytea NOT NULL,
	batch       bigint NOT NULL,
	manifest    bytea NOT NULL,
	file        text NOT NULL,
	pruned      text NOT NULL
);
`,
}

// SchemaVersion is the schema version this code writes and reads.
var SchemaVersion = len(migrations)

// ErrSchemaNewer is wrapped when the database's schema is newer than this
// code knows: a newer Şlüz migrated it, and an older one must not write.
var ErrSchemaNewer = errors.New("the database's message log schema is newer than this Şlüz")

// migrateLock is the advisory lock (two keys: "sluz", 1) held while the
// schema is checked and migrated, so that nodes starting at once migrate
// once.
const migrateLockClass, migrateLockID = 0x736c757a, 1

// migrate brings the schema to SchemaVersion in one transaction.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, migrateLockClass, migrateLockID); err != nil {
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
			return fmt.Errorf("read the schema version: %w", err)
		}
		if have > len(migrations) {
			return fmt.Errorf("%w: version %d, this Şlüz knows up to %d; run the newer Şlüz, or restore a database of this version", ErrSchemaNewer, have, len(migrations))
		}
		for v := have + 1; v <= len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migrate the schema to version %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version) VALUES ($1, $2)`, component, v); err != nil {
				return fmt.Errorf("record schema version %d: %w", v, err)
			}
		}
		return nil
	})
}
