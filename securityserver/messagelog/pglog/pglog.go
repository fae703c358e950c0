// Package pglog keeps a security server's message log in PostgreSQL, with
// the promises of the embedded bbolt log (package messagelog): the same
// records in the same encoding, one hash chain (each record carries the
// SHA-256 of the previous record's stored bytes), time-stamp batches, and
// archive pruning that removes records and stores the anchor in one
// transaction. The security server, the time-stamper, the archiver and the
// auditor see the same records whichever store holds them.
//
// A signature document that several records carry (one signing batch's)
// is stored once, in messagelog_signatures, as the bbolt log does
// (messagelog.EncodeShared); readers get every record's full encoding.
//
// Append returns only once its records are committed with
// synchronous_commit on (or the stronger level the DSN names): a message
// answered as a success is in the database, and on its synchronous
// standbys when the cluster has them. Appends from concurrent exchanges
// are group committed: one transaction for everything waiting. Each
// transaction locks the chain head's row, so several security server
// processes (nodes) sharing the database extend one chain.
//
// The schema is versioned (table schema_migrations, component
// "messagelog"); Open migrates an older one and refuses one newer than
// this code.
//
// # Caveats
//
// When the database cannot be reached, Append fails (the proxies answer
// with a LoggingFailed fault) and nothing acknowledged is lost; appends
// work again once it is back, without reopening. A commit cut off by a
// lost connection is reported as failed although PostgreSQL may have
// committed it: such a record is in the log but its message was not
// answered as a success, the safe side of the promise.
//
// Backup is refused: copy the database with pg_dump or the cluster's own
// backups.
package pglog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// Options tune a Log.
type Options struct {
	// MaxBatch caps how many appends share one transaction; default 512.
	MaxBatch int
	// Now stamps records whose Time is zero; default time.Now.
	Now func() time.Time
	// CommitTimeout bounds one group commit, connecting included; its
	// appends fail after it. Default 10 s.
	CommitTimeout time.Duration
	// CommitInterval is the least time between two group commits (0:
	// none): under load more appends share each transaction.
	CommitInterval time.Duration
	// OpenTimeout bounds connecting and migrating in Open; default 30 s.
	OpenTimeout time.Duration
}

// ErrNoBackup is returned by Backup.
var ErrNoBackup = errors.New("a message log on PostgreSQL is not copied by the security server: back up the database with pg_dump or the cluster's own backups")

// Log is an open message log on PostgreSQL.
type Log struct {
	pool  *pgxpool.Pool
	opts  Options
	name  string // "message log on PostgreSQL host/database", for errors
	group *messagelog.Group
	docs  messagelog.SigDocs // the signature documents the writer saw lately
}

// Open connects to the database that dsn names (a URL or keyword/value
// connection string) and migrates its schema to SchemaVersion.
func Open(ctx context.Context, dsn string, opts Options) (*Log, error) {
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = 10 * time.Second
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 30 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("message log on PostgreSQL: %w", err)
	}
	name := fmt.Sprintf("message log on PostgreSQL %s/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Database)
	// Durable before acknowledged: whatever the server's default, unless
	// the DSN asks for a level that also waits for the local flush.
	switch sc := cfg.ConnConfig.RuntimeParams["synchronous_commit"]; sc {
	case "":
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	case "off":
		return nil, fmt.Errorf("%s: the DSN sets synchronous_commit=off, which would acknowledge records a crash can lose; remove it", name)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.OpenTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l := &Log{pool: pool, opts: opts, name: name}
	l.group = messagelog.StartGroup(messagelog.GroupOptions{MaxBatch: opts.MaxBatch, Now: opts.Now, Interval: opts.CommitInterval}, l.commitGroup)
	return l, nil
}

// Append stores recs, in order, after everything appended before on any
// node, and returns once they are committed. It sets each record's Seq and
// PrevHash (and Time when zero). Appends waiting at once share one
// transaction.
func (l *Log) Append(ctx context.Context, recs ...*messagelog.Record) error {
	return l.group.Append(ctx, recs...)
}

// commitGroup commits a group, once more when the first try failed before
// anything reached the server (a pooled connection the server had closed,
// say after a restart of PostgreSQL).
func (l *Log) commitGroup(recs []*messagelog.Record) error {
	if len(recs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	defer cancel()
	err := l.commit(ctx, recs)
	if err != nil && pgconn.SafeToRetry(err) && ctx.Err() == nil {
		err = l.commit(ctx, recs)
	}
	if err != nil {
		return fmt.Errorf("%s: commit %d records: %w", l.name, len(recs), err)
	}
	return nil
}

// commit chains recs to the head, stores them and moves the head, in one
// transaction that holds the head's row lock.
func (l *Log) commit(ctx context.Context, recs []*messagelog.Record) error {
	return pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var seq int64
		var prev []byte
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM messagelog_head FOR UPDATE`).Scan(&seq, &prev); err != nil {
			return fmt.Errorf("lock the chain head: %w", err)
		}
		seqs, times := make([]int64, len(recs)), make([]int64, len(recs))
		hashes, stored, sigs := make([][]byte, len(recs)), make([][]byte, len(recs)), make([][]byte, len(recs))
		var digests, docs [][]byte // the shared signature documents, once each
		sigDigests, sigDocs := l.docs.Group(recs)
		for i, r := range recs {
			seq++
			r.Seq, r.PrevHash = uint64(seq), prev
			enc := r.Encode() // the chain hash covers the document
			prev = messagelog.Hash(enc)
			if digest, doc := sigDigests[i], sigDocs[i]; doc != nil {
				enc, sigs[i] = r.EncodeShared(digest), digest
				if !slices.ContainsFunc(digests, func(d []byte) bool { return bytes.Equal(d, digest) }) {
					digests, docs = append(digests, digest), append(docs, doc)
				}
			}
			seqs[i], times[i], hashes[i], stored[i] = seq, r.Time.UnixNano(), prev, enc
		}
		// Always sent, though an earlier commit may have stored it: a
		// pruning may have removed it since (see Prune, which holds this
		// head's lock while it removes documents).
		if len(docs) > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO messagelog_signatures (digest, doc)
SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (digest) DO NOTHING`, digests, docs)
			if err != nil {
				return fmt.Errorf("insert signature documents of records %d..%d: %w", seqs[0], seq, err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO messagelog_records (seq, time_ns, hash, stored, sig)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[], $5::bytea[])`, seqs, times, hashes, stored, sigs)
		if err != nil {
			return fmt.Errorf("insert records %d..%d: %w", seqs[0], seq, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE messagelog_head SET seq = $1, hash = $2`, seq, prev); err != nil {
			return fmt.Errorf("move the chain head to %d: %w", seq, err)
		}
		return nil
	})
}

// Pool is the log's connection pool, for the stores that share its
// database (the replay guard); Close closes it.
func (l *Log) Pool() *pgxpool.Pool { return l.pool }

// Ping reports whether the database answers, on a connection of the pool
// (a new one when those it had are gone), within ctx.
func (l *Log) Ping(ctx context.Context) error {
	if err := l.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%s: %w", l.name, err)
	}
	return nil
}

// Closed reports whether Close was called.
func (l *Log) Closed() bool { return l.group.Closed() }

// LastError is the error of the last group commit, nil if it succeeded.
func (l *Log) LastError() error { return l.group.LastError() }

// QueueLen is how many appends wait for the writer, not counting those in
// the commit under way (it grows when commits are slow).
func (l *Log) QueueLen() int { return l.group.QueueLen() }

// Flush does nothing: every acknowledged record is already in the
// database. It fails after Close, like the readers.
func (l *Log) Flush() error { return l.usable() }

// Backup refuses with ErrNoBackup.
func (l *Log) Backup(io.Writer) (int64, error) {
	return 0, fmt.Errorf("%s: %w", l.name, ErrNoBackup)
}

// Close waits for queued appends, then closes the connections.
func (l *Log) Close() error {
	if l.group.Close() {
		l.pool.Close()
	}
	return nil
}

// usable is messagelog.ErrClosed, with the store's name, after Close.
func (l *Log) usable() error {
	if l.Closed() {
		return fmt.Errorf("%s: %w", l.name, messagelog.ErrClosed)
	}
	return nil
}
