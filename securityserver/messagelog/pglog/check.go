package pglog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// ErrReadOnly is returned by Append on a log opened with OpenReadOnly.
var ErrReadOnly = errors.New("the message log was opened read-only")

// OpenReadOnly connects to the log's database to read it only, as an
// auditor does: every transaction of the session is read only
// (default_transaction_read_only), nothing is migrated (a schema of
// another version is refused), and Append fails with ErrReadOnly. A role
// granted SELECT alone on the log's tables suffices.
func OpenReadOnly(ctx context.Context, dsn string) (*Log, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("message log on PostgreSQL: %w", err)
	}
	name := fmt.Sprintf("message log on PostgreSQL %s/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Database)
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var have int
	err = pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations WHERE component = $1`, component).Scan(&have)
	switch {
	case err != nil:
		err = fmt.Errorf("not a Şlüz message log (no schema version): %w", err)
	case have == 0:
		err = errors.New("not a Şlüz message log (no message log schema in this database)")
	case have > SchemaVersion:
		err = fmt.Errorf("%w: version %d, this Şlüz reads up to %d; use the newer Şlüz's logaudit", ErrSchemaNewer, have, SchemaVersion)
	case have < SchemaVersion:
		err = fmt.Errorf("the database's message log schema is version %d, older than this Şlüz's %d: use the logaudit of the Şlüz that wrote it", have, SchemaVersion)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l := &Log{pool: pool, name: name}
	l.group = messagelog.StartGroup(messagelog.GroupOptions{}, func([]*messagelog.Record) error { return ErrReadOnly })
	return l, nil
}

// Check checks the chain as messagelog.Log.Check does (sequence, links,
// digests, batch coverage and roots, the recorded head), from one snapshot
// of the database: records appended meanwhile by running nodes are not
// part of it. Batch roots are checked against hashes of the stored
// records, not against the table's own hash column.
func (l *Log) Check() (*messagelog.CheckResult, error) {
	ctx := context.Background()
	var res *messagelog.CheckResult
	err := l.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		res, err = messagelog.CheckSource(snapshotSource{ctx, tx})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: check: %w", l.name, err)
	}
	return res, nil
}

// snapshotSource is messagelog.Source in one read-only transaction.
type snapshotSource struct {
	ctx context.Context
	tx  pgx.Tx
}

func (s snapshotSource) Archived() (*messagelog.Anchor, error) { return anchor(s.ctx, s.tx) }

func (s snapshotSource) EachStored(fn func(seq uint64, stored, doc []byte) error) error {
	// Without the sig column: CheckSource hashes each document it is
	// given and names the record whose reference it does not match.
	return eachStored(s.ctx, s.tx, fn, `SELECT r.seq, r.stored, s.doc FROM `+storedFrom+` ORDER BY r.seq`)
}

func (s snapshotSource) Batches() ([]*messagelog.Batch, error) {
	rows, err := s.tx.Query(s.ctx, `SELECT `+batchColumns+` FROM messagelog_batches ORDER BY n`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*messagelog.Batch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s snapshotSource) Leaves(first, last uint64) ([][]byte, error) {
	return leaves(s.ctx, s.tx, first, last, true)
}

func (s snapshotSource) Head() (uint64, []byte, bool, error) {
	var seq int64
	var hash []byte
	err := s.tx.QueryRow(s.ctx, `SELECT seq, hash FROM messagelog_head`).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, err
	}
	if seq == 0 { // the head of an empty, never archived log
		return 0, nil, false, nil
	}
	return uint64(seq), hash, true, nil
}
