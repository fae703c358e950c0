// Package pgopmon keeps operational monitoring records (opmon.Backend) in
// the PostgreSQL database that the nodes of one security server share
// (messageLog.storage: postgres): every node adds the records of the
// exchanges it handled, and getSecurityServerOperationalData answered by
// any node reads all of them, since the members asking see one server.
//
// A record is its JSON form in a row keyed by requestInTs and an identity
// column, so that a query by time range reads an index range and records
// of one millisecond keep the order they were stored in. The schema is
// versioned in schema_migrations under component "opmon".
//
// # Caveats
//
// Every node prunes (the deletions are idempotent); each pass deletes at
// most the chunk opmon asks for. The backend uses the connection pool it
// is given (the message log's) and does not close it. While the database
// is unreachable the writer's batches fail and are lost, as opmon's
// caveats say of a failed write: exchanges are not held back for them.
package pgopmon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/internal/pgschema"
	"github.com/sluz/sluz/securityserver/opmon"
)

// component names this store's rows in schema_migrations.
const component = "opmon"

// migrations: see pgschema.Migrate. Append only.
var migrations = []string{
	// 1: the records.
	`
-- request_in_ts is the record's requestInTs (Unix ms), by which queries
-- and pruning select; data its JSON form (opmon.Record).
CREATE TABLE opmon_records (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	request_in_ts bigint NOT NULL,
	data          bytea NOT NULL
);
CREATE INDEX opmon_records_time ON opmon_records (request_in_ts, id);
`,
}

// SchemaVersion is the schema version this code writes and reads.
var SchemaVersion = len(migrations)

// ErrSchemaNewer is wrapped when a newer Şlüz migrated the database.
var ErrSchemaNewer = errors.New("the database's operational monitoring schema is newer than this Şlüz")

// Timeout bounds one statement.
var Timeout = 10 * time.Second

// Backend is opmon's store on PostgreSQL.
type Backend struct {
	pool *pgxpool.Pool
	name string
}

// New migrates the schema in pool's database and returns the backend.
func New(ctx context.Context, pool *pgxpool.Pool) (*Backend, error) {
	c := pool.Config().ConnConfig
	b := &Backend{pool: pool, name: fmt.Sprintf("PostgreSQL %s/%s", c.Host, c.Database)}
	if err := pgschema.Migrate(ctx, pool, component, migrations, ErrSchemaNewer); err != nil {
		return nil, fmt.Errorf("opmon: %s: %w", b.name, err)
	}
	return b, nil
}

// Name is the database's host and name.
func (b *Backend) Name() string { return b.name }

// Close does nothing: the pool is the caller's.
func (b *Backend) Close() error { return nil }

// Insert stores recs in one statement.
func (b *Backend) Insert(recs []opmon.Record) error {
	ts := make([]int64, len(recs))
	data := make([][]byte, len(recs))
	for i := range recs {
		d, err := json.Marshal(&recs[i])
		if err != nil {
			return err
		}
		ts[i], data[i] = recs[i].RequestInTs, d
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	// WITH ORDINALITY keeps the batch's order in the identity column.
	_, err := b.pool.Exec(ctx, `INSERT INTO opmon_records (request_in_ts, data)
SELECT t, d FROM unnest($1::bigint[], $2::bytea[]) WITH ORDINALITY AS r(t, d, i) ORDER BY i`, ts, data)
	return err
}

// DeleteBefore deletes up to limit records older than ms.
func (b *Backend) DeleteBefore(ms int64, limit int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	tag, err := b.pool.Exec(ctx, `DELETE FROM opmon_records WHERE id IN (
	SELECT id FROM opmon_records WHERE request_in_ts < $1 ORDER BY request_in_ts, id LIMIT $2)`, ms, limit)
	return int(tag.RowsAffected()), err
}

// Scan reads the records of [from, to] (to < 0: no upper bound) in order.
func (b *Backend) Scan(from, to int64, fn func(*opmon.Record) (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	rows, err := b.pool.Query(ctx, `SELECT id, data FROM opmon_records
WHERE request_in_ts >= $1::bigint AND ($2::bigint < 0 OR request_in_ts <= $2::bigint) ORDER BY request_in_ts, id`, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return err
		}
		var r opmon.Record
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("record %d: %w", id, err)
		}
		if more, err := fn(&r); !more || err != nil {
			return err
		}
	}
	return rows.Err()
}
