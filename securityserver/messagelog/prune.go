package messagelog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyArchived holds the Anchor (JSON): where the live log continues after
// the records moved to archives.
var keyArchived = []byte("archived")

// Anchor is where the live log starts after records were archived and
// pruned: the last archived record, its chain hash, and the archive that
// holds it. The first live record's PrevHash must equal RecordHash, and
// the next archive's manifest links to Manifest.
type Anchor struct {
	LastSeq    uint64 `json:"lastSeq"`    // the last archived record
	RecordHash []byte `json:"recordHash"` // its chain hash
	Batch      uint64 `json:"batch"`      // the last archived time-stamp batch
	Manifest   []byte `json:"manifest"`   // SHA-256 of that archive's manifest
	File       string `json:"file"`       // that archive's file name (for messages)
	Time       string `json:"time"`       // when it was pruned (RFC 3339)
}

// Archived returns the anchor of the last pruning; nil if nothing was ever
// archived.
func (l *Log) Archived() (*Anchor, error) {
	var a *Anchor
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		a, err = anchor(tx)
		return err
	})
	return a, err
}

func anchor(tx *bolt.Tx) (*Anchor, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return nil, nil
	}
	v := meta.Get(keyArchived)
	if v == nil {
		return nil, nil
	}
	var a Anchor
	if err := json.Unmarshal(v, &a); err != nil {
		return nil, fmt.Errorf("%w: archive anchor unreadable: %w", ErrCorrupt, err)
	}
	if len(a.RecordHash) != 32 {
		return nil, fmt.Errorf("%w: archive anchor unreadable", ErrCorrupt)
	}
	return &a, nil
}

// lastBatchEnd is the last record and number of the newest batch, or of
// the anchor once every batch was archived; zeros when there is neither.
func lastBatchEnd(tx *bolt.Tx) (seq, n uint64, err error) {
	if k, v := tx.Bucket(bucketBatches).Cursor().Last(); k != nil {
		var b Batch
		if err := json.Unmarshal(v, &b); err != nil {
			return 0, 0, fmt.Errorf("%w: batch %x: %w", ErrCorrupt, k, err)
		}
		return b.LastSeq, b.N, nil
	}
	a, err := anchor(tx)
	if err != nil || a == nil {
		return 0, 0, err
	}
	return a.LastSeq, a.Batch, nil
}

// Archivable returns the oldest time-stamped batches whose newest record
// was logged before cutoff, in order, stopping at the first that is not
// (archives never leave a gap), holding at most maxRecords records (but
// always at least one batch when the first qualifies).
func (l *Log) Archivable(cutoff time.Time, maxRecords int) ([]*Batch, error) {
	if err := l.Flush(); err != nil { // queued batches first
		return nil, err
	}
	var out []*Batch
	err := l.db.View(func(tx *bolt.Tx) error {
		bs, err := batches(tx)
		if err != nil {
			return err
		}
		recs := tx.Bucket(bucketRecords)
		total := 0
		for _, b := range bs {
			v := recs.Get(seqKey(b.LastSeq))
			if v == nil {
				return fmt.Errorf("%w: record %d of batch %d missing", ErrCorrupt, b.LastSeq, b.N)
			}
			r, err := decodeStored(v)
			if err != nil {
				return fmt.Errorf("record %d: %w", b.LastSeq, err)
			}
			n := int(b.LastSeq - b.FirstSeq + 1)
			if !r.Time.Before(cutoff) || (len(out) > 0 && total+n > maxRecords) {
				break
			}
			out = append(out, b)
			total += n
		}
		return nil
	})
	return out, err
}

// ErrPruneMismatch is wrapped when Prune is asked to remove records that
// are not the ones the archive holds.
var ErrPruneMismatch = errors.New("the archive does not match the live log")

// Prune removes the records up to a.LastSeq and their batches, which an
// archive now holds, and stores a as the log's anchor, all in one
// transaction: after a crash either everything is still in the live log
// or the anchor names the archive. It checks first that the records to
// remove are exactly the oldest live ones, that a.LastSeq ends a batch
// and that record a.LastSeq hashes to a.RecordHash; prevHash must be the
// PrevHash of the oldest live record (what the archive starts from).
func (l *Log) Prune(prevHash []byte, a Anchor) error {
	if l.readOnly { // possibly a private copy (openReadOnly): pruning it would change nothing
		return errors.New("message log opened read-only")
	}
	if a.Time == "" {
		a.Time = time.Now().UTC().Format(time.RFC3339)
	}
	return l.db.Update(func(tx *bolt.Tx) error {
		recs, bb, meta := tx.Bucket(bucketRecords), tx.Bucket(bucketBatches), tx.Bucket(bucketMeta)
		old, err := anchor(tx)
		if err != nil {
			return err
		}
		start, startHash, startBatch, err := PruneStart(old, prevHash, a)
		if err != nil {
			return err
		}
		// The batches to remove: from the oldest, ending exactly at a.LastSeq.
		var batchKeys [][]byte
		next, n := start, startBatch
		c := bb.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var b Batch
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("%w: batch %x: %w", ErrCorrupt, k, err)
			}
			if b.FirstSeq != next || b.N != n+1 {
				return fmt.Errorf("%w: live batch %d covers %d..%d, expected to start at %d", ErrCorrupt, b.N, b.FirstSeq, b.LastSeq, next)
			}
			batchKeys = append(batchKeys, append([]byte(nil), k...))
			next, n = b.LastSeq+1, b.N
			if b.LastSeq >= a.LastSeq {
				break
			}
		}
		if err := PruneEnd(a, next, n); err != nil {
			return err
		}
		prev := startHash
		refs := map[string]uint64{} // references to shared signature documents that go
		for s := start; s <= a.LastSeq; s++ {
			v := recs.Get(seqKey(s))
			if v == nil {
				return fmt.Errorf("%w: record %d missing", ErrCorrupt, s)
			}
			full, err := expandIn(tx, v)
			if err != nil {
				return fmt.Errorf("record %d: %w", s, err)
			}
			r, err := Decode(full)
			if err != nil {
				return fmt.Errorf("record %d: %w", s, err)
			}
			if !bytes.Equal(r.PrevHash, prev) {
				return fmt.Errorf("%w: record %d does not chain to record %d", ErrCorrupt, s, s-1)
			}
			if v[0]&storedShared != 0 {
				ref, _ := SharedRef(v) // read by expandIn already
				refs[string(ref)]++
			}
			prev = Hash(full)
		}
		if !bytes.Equal(prev, a.RecordHash) {
			return fmt.Errorf("%w: record %d has another hash than the archive's last record", ErrPruneMismatch, a.LastSeq)
		}
		for s := start; s <= a.LastSeq; s++ {
			if err := recs.Delete(seqKey(s)); err != nil {
				return err
			}
		}
		for _, k := range batchKeys {
			if err := bb.Delete(k); err != nil {
				return err
			}
		}
		// A record still waiting in the write-ahead file that refers to a
		// document removed here brings it back when it is stored (it
		// carries the document; so does its round of the file).
		if err := dropSigRefs(tx, refs); err != nil {
			return err
		}
		v, err := json.Marshal(a)
		if err != nil {
			return err
		}
		return meta.Put(keyArchived, v)
	})
}

// PruneStart checks a pruning to a, whose archive starts from prevHash,
// against the live log's anchor old (nil before the first pruning), and
// returns where the live log starts: its oldest record, that record's
// PrevHash and the last archived batch. Every store's Prune begins so.
func PruneStart(old *Anchor, prevHash []byte, a Anchor) (start uint64, startHash []byte, startBatch uint64, err error) {
	start, startHash = 1, make([]byte, 32)
	if old != nil {
		start, startHash, startBatch = old.LastSeq+1, old.RecordHash, old.Batch
	}
	if !bytes.Equal(prevHash, startHash) {
		return 0, nil, 0, fmt.Errorf("%w: it starts from another chain hash than the live log's oldest record %d", ErrPruneMismatch, start)
	}
	if a.LastSeq < start {
		return 0, nil, 0, fmt.Errorf("%w: it ends at record %d, before the live log's oldest record %d", ErrPruneMismatch, a.LastSeq, start)
	}
	return start, startHash, startBatch, nil
}

// PruneEnd checks that the live batches from the oldest up to a.LastSeq,
// which end before record next with batch n, are exactly a's.
func PruneEnd(a Anchor, next, n uint64) error {
	if next != a.LastSeq+1 {
		return fmt.Errorf("%w: record %d does not end a time-stamped batch", ErrPruneMismatch, a.LastSeq)
	}
	if n != a.Batch {
		return fmt.Errorf("%w: it ends with batch %d, the live log with batch %d", ErrPruneMismatch, a.Batch, n)
	}
	return nil
}

// Oldest is the oldest live record's sequence number and its PrevHash (the
// hash an archive of it must start from); ok is false when the live log
// holds no record.
func (l *Log) Oldest() (seq uint64, prevHash []byte, ok bool, err error) {
	err = l.db.View(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketRecords).Cursor().First()
		if k == nil {
			return nil
		}
		r, err := decodeStored(v)
		if err != nil {
			return fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
		}
		seq, prevHash, ok = r.Seq, r.PrevHash, true
		return nil
	})
	return
}
