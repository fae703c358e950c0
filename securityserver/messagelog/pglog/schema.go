package pglog

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/internal/pgschema"
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
	// 2: time-stamp batches over X-Road's time-stamp hash chain: its
	// HashChainResult (ts-hashchainresult.xml), which the token stamps;
	// NULL in the batches stamped before (a Merkle root).
	`ALTER TABLE messagelog_batches ADD COLUMN result bytea;`,
	// 3: signature documents stored once (messagelog.EncodeShared): the
	// records of one signing batch share one. A record whose sig is set
	// holds that digest (SHA-512 of the document) in place of the
	// document in stored; records written before keep it inline. A
	// document goes with the last record that refers to it (Prune).
	`
CREATE TABLE messagelog_signatures (
	digest bytea PRIMARY KEY,
	doc    bytea NOT NULL
);
ALTER TABLE messagelog_records ADD COLUMN sig bytea;
CREATE INDEX messagelog_records_sig ON messagelog_records (sig) WHERE sig IS NOT NULL;
`,
}

// SchemaVersion is the schema version this code writes and reads.
var SchemaVersion = len(migrations)

// ErrSchemaNewer is wrapped when the database's schema is newer than this
// code knows: a newer Şlüz migrated it, and an older one must not write.
var ErrSchemaNewer = errors.New("the database's message log schema is newer than this Şlüz")

// migrate brings the schema to SchemaVersion in one transaction.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgschema.Migrate(ctx, pool, component, migrations, ErrSchemaNewer)
}
