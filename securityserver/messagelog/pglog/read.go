package pglog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// readTimeout bounds the short reads (Pending, Leaves, Archived, ...);
// Each and Recent run as long as their callback keeps them.
const readTimeout = 30 * time.Second

// snapshot runs fn in a read-only transaction that sees one snapshot.
func (l *Log) snapshot(ctx context.Context, fn func(pgx.Tx) error) error {
	if err := l.usable(); err != nil {
		return err
	}
	return pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// update runs fn in a read-write transaction.
func (l *Log) update(ctx context.Context, fn func(pgx.Tx) error) error {
	if err := l.usable(); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, l.pool, fn)
}

// Each calls fn for every record from seq from on, in order, with the
// record and its stored bytes, from one snapshot of the log.
func (l *Log) Each(from uint64, fn func(r *messagelog.Record, stored []byte) error) error {
	err := l.snapshot(context.Background(), func(tx pgx.Tx) error {
		return records(tx, fn, `SELECT `+storedColumns+` FROM `+storedFrom+` WHERE r.seq >= $1 ORDER BY r.seq`, int64(from))
	})
	if err != nil {
		return fmt.Errorf("%s: read records from %d: %w", l.name, from, err)
	}
	return nil
}

// Recent calls fn for the records logged at or after since, newest first.
func (l *Log) Recent(since time.Time, fn func(r *messagelog.Record) error) error {
	err := l.snapshot(context.Background(), func(tx pgx.Tx) error {
		return records(tx, func(r *messagelog.Record, _ []byte) error { return fn(r) },
			`SELECT `+storedColumns+` FROM `+storedFrom+` WHERE r.time_ns >= $1 ORDER BY r.seq DESC`, since.UnixNano())
	})
	if err != nil {
		return fmt.Errorf("%s: read records since %s: %w", l.name, since.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// storedColumns FROM storedFrom reads records as stored, each with the
// shared signature document it refers to (messagelog.SharedRef; NULL for a
// record that holds its own), and the sig column it was found by, which
// eachStored requires to be the reference inside the record.
const (
	storedColumns = `r.seq, r.stored, s.doc, r.sig`
	storedFrom    = `messagelog_records r LEFT JOIN messagelog_signatures s ON s.digest = r.sig`
)

// records calls fn for each record a query of storedColumns returns, with
// its full encoding (messagelog.Expand).
func records(tx pgx.Tx, fn func(r *messagelog.Record, stored []byte) error, query string, args ...any) error {
	return eachStored(context.Background(), tx, func(seq uint64, stored, doc []byte) error {
		full, err := messagelog.Expand(stored, doc)
		if err != nil {
			return fmt.Errorf("record %d: %w", seq, err)
		}
		r, err := messagelog.Decode(full)
		if err != nil {
			return fmt.Errorf("record %d: %w", seq, err)
		}
		return fn(r, full)
	}, query, args...)
}

// eachStored calls fn for each (seq, stored, doc) row a query returns.
func eachStored(ctx context.Context, tx pgx.Tx, fn func(seq uint64, stored, doc []byte) error, query string, args ...any) error {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var seq int64
	var stored, doc, sig []byte
	dest := []any{&seq, &stored, &doc}
	withSig := len(rows.FieldDescriptions()) == len(dest)+1 // storedColumns
	if withSig {
		dest = append(dest, &sig)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if withSig {
			if _, err := storedRef(uint64(seq), stored, sig); err != nil {
				return err
			}
		}
		if err := fn(uint64(seq), stored, doc); err != nil {
			return err
		}
	}
	return rows.Err()
}

// storedRef is the reference to a shared signature document inside a
// stored record (nil when it holds its own), which must be its sig column:
// the column only finds the document, and a changed one must not hand out
// another record's document as this one's.
func storedRef(seq uint64, stored, sig []byte) ([]byte, error) {
	ref, err := messagelog.SharedRef(stored)
	if err != nil {
		return nil, fmt.Errorf("record %d: %w", seq, err)
	}
	if !bytes.Equal(ref, sig) {
		return nil, fmt.Errorf("%w: record %d refers to signature document %s but its sig column to %s (changed)",
			messagelog.ErrCorrupt, seq, refName(ref), refName(sig))
	}
	return ref, nil
}

// refName names a signature document's reference in an error.
func refName(ref []byte) string {
	if ref == nil {
		return "none"
	}
	return fmt.Sprintf("SHA-512 %x…", ref[:min(len(ref), 8)])
}

// stampedEnd is the last record and number of the newest batch, or of the
// anchor once every batch was archived; zeros when there is neither.
func stampedEnd(ctx context.Context, tx pgx.Tx) (seq, n uint64, err error) {
	var s, b int64
	err = tx.QueryRow(ctx, `SELECT last_seq, n FROM messagelog_batches ORDER BY n DESC LIMIT 1`).Scan(&s, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `SELECT last_seq, batch FROM messagelog_anchor`).Scan(&s, &b)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read the last time-stamp batch: %w", err)
	}
	return uint64(s), uint64(b), nil
}

// Pending reports the records not yet in a batch: first..last (first >
// last when none) and the time of the first of them.
func (l *Log) Pending() (first, last uint64, oldest time.Time, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	err = l.snapshot(ctx, func(tx pgx.Tx) error {
		end, _, err := stampedEnd(ctx, tx)
		if err != nil {
			return err
		}
		var head int64
		if err := tx.QueryRow(ctx, `SELECT seq FROM messagelog_head`).Scan(&head); err != nil {
			return fmt.Errorf("read the chain head: %w", err)
		}
		first, last = end+1, uint64(head)
		if first > last {
			return nil
		}
		var ns int64
		if err := tx.QueryRow(ctx, `SELECT time_ns FROM messagelog_records WHERE seq = $1`, int64(first)).Scan(&ns); err != nil {
			return fmt.Errorf("record %d: %w", first, err)
		}
		oldest = time.Unix(0, ns).UTC()
		return nil
	})
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("%s: pending records: %w", l.name, err)
	}
	return first, last, oldest, nil
}

// PendingStored is Pending: every acknowledged record is stored.
func (l *Log) PendingStored() (first, last uint64, oldest time.Time, err error) {
	return l.Pending()
}

// Leaves returns the chain hashes of records first..last.
func (l *Log) Leaves(first, last uint64) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var out [][]byte
	err := l.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = leaves(ctx, tx, first, last)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return out, nil
}

// leaves reads the hashes of records first..last from the hash column,
// or, with recompute (the auditor's check), hashes their full encodings.
func leaves(ctx context.Context, tx pgx.Tx, first, last uint64, recompute ...bool) ([][]byte, error) {
	query := `SELECT r.seq, r.hash, NULL::bytea FROM messagelog_records r`
	if len(recompute) > 0 && recompute[0] {
		query = `SELECT ` + storedColumns + ` FROM ` + storedFrom
	}
	if last < first {
		return nil, fmt.Errorf("no records in %d..%d", first, last)
	}
	out := make([][]byte, 0, min(last-first+1, 1<<16))
	want := first
	errGap := errors.New("gap")
	err := eachStored(ctx, tx, func(seq uint64, h, doc []byte) error {
		if seq != want {
			return errGap
		}
		if len(recompute) > 0 && recompute[0] {
			full, err := messagelog.Expand(h, doc)
			if err != nil {
				return fmt.Errorf("record %d: %w", seq, err)
			}
			h = messagelog.Hash(full)
		} else {
			h = bytes.Clone(h)
		}
		out = append(out, h)
		want++
		return nil
	}, query+` WHERE r.seq BETWEEN $1 AND $2 ORDER BY r.seq`, int64(first), int64(last))
	if err != nil && !errors.Is(err, errGap) {
		return nil, fmt.Errorf("read the chain hashes of records %d..%d: %w", first, last, err)
	}
	if want != last+1 {
		return nil, fmt.Errorf("%w: record %d missing", messagelog.ErrCorrupt, want)
	}
	return out, nil
}

// SignatureDigests returns the messagelog.SignatureDigest of records
// first..last, read from the store.
func (l *Log) SignatureDigests(first, last uint64) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var out [][]byte
	err := l.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = signatureDigests(ctx, tx, first, last)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return out, nil
}

func signatureDigests(ctx context.Context, tx pgx.Tx, first, last uint64) ([][]byte, error) {
	if last < first {
		return nil, fmt.Errorf("no records in %d..%d", first, last)
	}
	out := make([][]byte, 0, min(last-first+1, 1<<16))
	want := first
	// A record that refers to a shared document holds its digest: no need
	// to read the document, let alone hash it. The digest is the one inside
	// the record, which its sig column must equal.
	err := eachStored(ctx, tx, func(seq uint64, sig, stored []byte) error {
		if seq != want {
			return fmt.Errorf("%w: record %d missing", messagelog.ErrCorrupt, want)
		}
		ref, err := storedRef(seq, stored, sig)
		if err != nil {
			return err
		}
		if ref == nil {
			r, err := messagelog.Decode(stored)
			if err != nil {
				return fmt.Errorf("record %d: %w", seq, err)
			}
			ref = messagelog.SignatureDigest(r)
		}
		out = append(out, bytes.Clone(ref))
		want++
		return nil
	}, `SELECT seq, sig, stored FROM messagelog_records WHERE seq BETWEEN $1 AND $2 ORDER BY seq`, int64(first), int64(last))
	if err != nil {
		return nil, fmt.Errorf("read the signatures of records %d..%d: %w", first, last, err)
	}
	if want != last+1 {
		return nil, fmt.Errorf("%w: record %d missing", messagelog.ErrCorrupt, want)
	}
	return out, nil
}

// AddBatch adds a batch. It must continue the previous one exactly and
// cover only stored records; it must match them (Batch.Matches). It sets
// b.N.
func (l *Log) AddBatch(b *messagelog.Batch) error {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	err := l.update(ctx, func(tx pgx.Tx) error {
		end, n, err := stampedEnd(ctx, tx)
		if err != nil {
			return err
		}
		if b.FirstSeq != end+1 || b.LastSeq < b.FirstSeq {
			return fmt.Errorf("batch covers records %d..%d, but the next batch must start at %d", b.FirstSeq, b.LastSeq, end+1)
		}
		err = b.Matches(func() ([][]byte, error) { return leaves(ctx, tx, b.FirstSeq, b.LastSeq) },
			func() ([][]byte, error) { return signatureDigests(ctx, tx, b.FirstSeq, b.LastSeq) })
		if err != nil {
			return fmt.Errorf("batch does not match records %d..%d: %w", b.FirstSeq, b.LastSeq, err)
		}
		// Another node adding the same batch meanwhile makes this insert
		// fail on the batch number: one of them wins.
		_, err = tx.Exec(ctx, `INSERT INTO messagelog_batches (n, first_seq, last_seq, root, token, time_ns, tsa, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			int64(n+1), int64(b.FirstSeq), int64(b.LastSeq), b.Root, b.Token, b.Time.UnixNano(), b.TSA, b.Result)
		if err != nil {
			return fmt.Errorf("store batch %d: %w", n+1, err)
		}
		b.N = n + 1
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", l.name, err)
	}
	return nil
}

const batchColumns = `n, first_seq, last_seq, root, token, time_ns, tsa, result`

// scanBatch reads the batchColumns, then extra.
func scanBatch(row pgx.Row, extra ...any) (*messagelog.Batch, error) {
	var n, first, last, ns int64
	b := &messagelog.Batch{}
	if err := row.Scan(append([]any{&n, &first, &last, &b.Root, &b.Token, &ns, &b.TSA, &b.Result}, extra...)...); err != nil {
		return nil, err
	}
	b.N, b.FirstSeq, b.LastSeq, b.Time = uint64(n), uint64(first), uint64(last), time.Unix(0, ns).UTC()
	return b, nil
}

// Batches returns every batch in order.
func (l *Log) Batches() ([]*messagelog.Batch, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var out []*messagelog.Batch
	err := l.snapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+batchColumns+` FROM messagelog_batches ORDER BY n`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBatch(rows)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("%s: read time-stamp batches: %w", l.name, err)
	}
	return out, nil
}

// Archivable returns the oldest time-stamped batches whose newest record
// was logged before cutoff, in order, stopping at the first that is not
// (archives never leave a gap), holding at most maxRecords records (but
// always at least one batch when the first qualifies).
func (l *Log) Archivable(cutoff time.Time, maxRecords int) ([]*messagelog.Batch, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var out []*messagelog.Batch
	err := l.snapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT b.n, b.first_seq, b.last_seq, b.root, b.token, b.time_ns, b.tsa, b.result, r.time_ns
FROM messagelog_batches b LEFT JOIN messagelog_records r ON r.seq = b.last_seq ORDER BY b.n`)
		if err != nil {
			return err
		}
		defer rows.Close()
		total := 0
		for rows.Next() {
			var lastTime *int64
			b, err := scanBatch(rows, &lastTime)
			if err != nil {
				return err
			}
			if lastTime == nil {
				return fmt.Errorf("%w: record %d of batch %d missing", messagelog.ErrCorrupt, b.LastSeq, b.N)
			}
			n := int(b.LastSeq - b.FirstSeq + 1)
			if !time.Unix(0, *lastTime).Before(cutoff) || (len(out) > 0 && total+n > maxRecords) {
				break
			}
			out = append(out, b)
			total += n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("%s: archivable batches: %w", l.name, err)
	}
	return out, nil
}

// Archived returns the anchor of the last pruning; nil if nothing was ever
// archived.
func (l *Log) Archived() (*messagelog.Anchor, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var a *messagelog.Anchor
	err := l.snapshot(ctx, func(tx pgx.Tx) error {
		var err error
		a, err = anchor(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	return a, nil
}

func anchor(ctx context.Context, tx pgx.Tx) (*messagelog.Anchor, error) {
	var a messagelog.Anchor
	var last, batch int64
	err := tx.QueryRow(ctx, `SELECT last_seq, record_hash, batch, manifest, file, pruned FROM messagelog_anchor`).
		Scan(&last, &a.RecordHash, &batch, &a.Manifest, &a.File, &a.Time)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the archive anchor: %w", err)
	}
	if len(a.RecordHash) != 32 {
		return nil, fmt.Errorf("%w: archive anchor unreadable", messagelog.ErrCorrupt)
	}
	a.LastSeq, a.Batch = uint64(last), uint64(batch)
	return &a, nil
}

// Prune removes the records up to a.LastSeq and their batches, which an
// archive now holds, and stores a as the log's anchor, all in one
// transaction. It checks first that the records to remove are exactly the
// oldest live ones, that a.LastSeq ends a batch and that record a.LastSeq
// hashes to a.RecordHash; prevHash must be the PrevHash of the oldest live
// record (what the archive starts from). See messagelog.Log.Prune.
func (l *Log) Prune(prevHash []byte, a messagelog.Anchor) error {
	if a.Time == "" {
		a.Time = time.Now().UTC().Format(time.RFC3339)
	}
	ctx := context.Background()
	err := l.update(ctx, func(tx pgx.Tx) error {
		// One pruning at a time, on any node; readers go on.
		if _, err := tx.Exec(ctx, `LOCK TABLE messagelog_anchor IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock the archive anchor: %w", err)
		}
		old, err := anchor(ctx, tx)
		if err != nil {
			return err
		}
		start, startHash, startBatch, err := messagelog.PruneStart(old, prevHash, a)
		if err != nil {
			return err
		}
		next, n, err := prunedBatches(ctx, tx, start, startBatch, a.LastSeq)
		if err != nil {
			return err
		}
		if err := messagelog.PruneEnd(a, next, n); err != nil {
			return err
		}
		last, err := chainHash(ctx, tx, start, a.LastSeq, startHash)
		if err != nil {
			return err
		}
		if !bytes.Equal(last, a.RecordHash) {
			return fmt.Errorf("%w: record %d has another hash than the archive's last record", messagelog.ErrPruneMismatch, a.LastSeq)
		}
		var sigs [][]byte // the shared signature documents they referred to
		rows, err := tx.Query(ctx, `WITH gone AS (DELETE FROM messagelog_records WHERE seq <= $1 RETURNING sig)
SELECT DISTINCT sig FROM gone WHERE sig IS NOT NULL`, int64(a.LastSeq))
		if err == nil {
			sigs, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		}
		if err != nil {
			return fmt.Errorf("remove records up to %d: %w", a.LastSeq, err)
		}
		// The shared signature documents no live record refers to any
		// more. The chain head's lock keeps appends out meanwhile: one
		// that refers to a document removed here stores it again
		// (commit), one that committed before is seen here.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM messagelog_head FOR UPDATE`); err != nil {
			return fmt.Errorf("lock the chain head: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM messagelog_signatures s WHERE s.digest = ANY($1)
AND NOT EXISTS (SELECT 1 FROM messagelog_records r WHERE r.sig = s.digest)`, sigs); err != nil {
			return fmt.Errorf("remove signature documents of records up to %d: %w", a.LastSeq, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM messagelog_batches WHERE n <= $1`, int64(n)); err != nil {
			return fmt.Errorf("remove batches up to %d: %w", n, err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO messagelog_anchor (last_seq, record_hash, batch, manifest, file, pruned) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (one) DO UPDATE SET last_seq = excluded.last_seq, record_hash = excluded.record_hash, batch = excluded.batch,
	manifest = excluded.manifest, file = excluded.file, pruned = excluded.pruned`,
			int64(a.LastSeq), a.RecordHash, int64(a.Batch), a.Manifest, a.File, a.Time)
		if err != nil {
			return fmt.Errorf("store the archive anchor: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: prune to record %d: %w", l.name, a.LastSeq, err)
	}
	return nil
}

// prunedBatches walks the batches from the oldest, which must start at
// start and follow batch startBatch, up to the one that reaches record
// last: it returns the record after it and its number.
func prunedBatches(ctx context.Context, tx pgx.Tx, start, startBatch, last uint64) (next, n uint64, err error) {
	rows, err := tx.Query(ctx, `SELECT n, first_seq, last_seq FROM messagelog_batches ORDER BY n`)
	if err != nil {
		return 0, 0, fmt.Errorf("read time-stamp batches: %w", err)
	}
	defer rows.Close()
	next, n = start, startBatch
	for rows.Next() {
		var bn, first, end int64
		if err := rows.Scan(&bn, &first, &end); err != nil {
			return 0, 0, err
		}
		if uint64(first) != next || uint64(bn) != n+1 {
			return 0, 0, fmt.Errorf("%w: live batch %d covers %d..%d, expected to start at %d", messagelog.ErrCorrupt, bn, first, end, next)
		}
		next, n = uint64(end)+1, uint64(bn)
		if uint64(end) >= last {
			break
		}
	}
	return next, n, rows.Err()
}

// chainHash checks that records first..last chain from prev, reading their
// stored bytes, and returns the last one's hash.
func chainHash(ctx context.Context, tx pgx.Tx, first, last uint64, prev []byte) ([]byte, error) {
	want := first
	err := records(tx, func(r *messagelog.Record, full []byte) error {
		if r.Seq != want {
			return fmt.Errorf("%w: record %d missing", messagelog.ErrCorrupt, want)
		}
		if !bytes.Equal(r.PrevHash, prev) {
			return fmt.Errorf("%w: record %d does not chain to record %d", messagelog.ErrCorrupt, r.Seq, r.Seq-1)
		}
		prev = messagelog.Hash(full)
		want++
		return nil
	}, `SELECT `+storedColumns+` FROM `+storedFrom+` WHERE r.seq BETWEEN $1 AND $2 ORDER BY r.seq`, int64(first), int64(last))
	if err != nil {
		return nil, fmt.Errorf("read records %d..%d: %w", first, last, err)
	}
	if want != last+1 {
		return nil, fmt.Errorf("%w: record %d missing", messagelog.ErrCorrupt, want)
	}
	return prev, nil
}

// Span reports the first and last stored record (ok false when none), as
// an auditor's progress total.
func (l *Log) Span() (first, last uint64, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	var lo, hi *int64
	err = l.snapshot(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT min(seq), max(seq) FROM messagelog_records`).Scan(&lo, &hi)
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("%s: record span: %w", l.name, err)
	}
	if lo == nil || hi == nil {
		return 0, 0, false, nil
	}
	return uint64(*lo), uint64(*hi), true, nil
}

// SignatureDocs reports how many shared signature documents the database
// holds and their size in bytes (for tests and metrics: the records of one
// signing batch share one).
func (l *Log) SignatureDocs() (n, size int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	err = l.snapshot(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*), coalesce(sum(length(doc)), 0) FROM messagelog_signatures`).Scan(&n, &size)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("%s: signature documents: %w", l.name, err)
	}
	return n, size, nil
}
