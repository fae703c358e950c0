package messagelog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketBatches = []byte("batches")

// Batch is one time-stamped run of consecutive records: an RFC 3161 token
// over the Merkle root of their chain hashes.
type Batch struct {
	N        uint64    `json:"n"` // batch number, from 1
	FirstSeq uint64    `json:"firstSeq"`
	LastSeq  uint64    `json:"lastSeq"`
	Root     []byte    `json:"root"`  // MerkleRoot of the records' chain hashes
	Token    []byte    `json:"token"` // DER TimeStampToken whose imprint is SHA-256 = Root
	Time     time.Time `json:"time"`  // the token's genTime
	TSA      string    `json:"tsa"`   // where it came from
}

// Pending reports the records not yet in a batch: first..last (first >
// last when none) and the time of the first of them. It first moves
// appended records into the store (Flush).
func (l *Log) Pending() (first, last uint64, oldest time.Time, err error) {
	if err := l.Flush(); err != nil {
		return 0, 0, time.Time{}, err
	}
	return l.PendingStored()
}

// PendingStored is Pending without the Flush: records still in the
// write-ahead file count once they move into the store (within
// Options.IngestInterval). The time-stamper polls with it, so that its
// ticks do not add store commits, and their disk flushes, to the exchanges'.
func (l *Log) PendingStored() (first, last uint64, oldest time.Time, err error) {
	l.pendMu.Lock()
	var queued uint64
	if n := len(l.pendBatches); n > 0 {
		queued = l.pendBatches[n-1].LastSeq
	}
	l.pendMu.Unlock()
	err = l.db.View(func(tx *bolt.Tx) error {
		end, _, err := lastBatchEnd(tx)
		if err != nil {
			return err
		}
		first = max(end, queued) + 1
		if last, _, err = storedHead(tx); err != nil {
			return err
		}
		if first <= last {
			v := tx.Bucket(bucketRecords).Get(seqKey(first))
			r, err := Decode(v)
			if err != nil {
				return fmt.Errorf("record %d: %w", first, err)
			}
			oldest = r.Time
		}
		return nil
	})
	return
}

// leafCacheMax bounds the chain hashes kept for time-stamping (32 bytes
// each): a backlog longer than that (a TSA down for long) is read back from
// the store instead.
const leafCacheMax = 1 << 18

// cacheLeaves keeps the chain hashes of records first, first+1, … as the
// writer computed them, for the time-stamper: they are the hashes of the
// very bytes written to the write-ahead file and then to the store, so
// stamping needs neither to read the records back nor to hash them again.
// (The auditor's verification reads and hashes what is stored.)
func (l *Log) cacheLeaves(first uint64, hashes [][]byte) {
	l.leafMu.Lock()
	defer l.leafMu.Unlock()
	if len(l.leafs) == 0 || l.leafFirst+uint64(len(l.leafs)) != first || len(l.leafs)+len(hashes) > leafCacheMax {
		l.leafs, l.leafFirst = l.leafs[:0], first
	}
	l.leafs = append(l.leafs, hashes...)
}

// cachedLeaves returns the cached chain hashes of first..last, if all are.
func (l *Log) cachedLeaves(first, last uint64) ([][]byte, bool) {
	l.leafMu.Lock()
	defer l.leafMu.Unlock()
	if len(l.leafs) == 0 || first < l.leafFirst || last >= l.leafFirst+uint64(len(l.leafs)) || last < first {
		return nil, false
	}
	return append([][]byte(nil), l.leafs[first-l.leafFirst:last-l.leafFirst+1]...), true
}

// forgetLeaves drops the cached hashes of records up to last (stamped).
func (l *Log) forgetLeaves(last uint64) {
	l.leafMu.Lock()
	defer l.leafMu.Unlock()
	if last < l.leafFirst {
		return
	}
	n := min(last-l.leafFirst+1, uint64(len(l.leafs)))
	l.leafs = append(l.leafs[:0], l.leafs[n:]...)
	l.leafFirst += n
}

// Leaves returns the chain hashes of records first..last: as the writer
// computed them when it has them, else read from the store.
func (l *Log) Leaves(first, last uint64) ([][]byte, error) {
	if lv, ok := l.cachedLeaves(first, last); ok {
		return lv, nil
	}
	var out [][]byte
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = leaves(tx, first, last)
		return err
	})
	return out, err
}

func leaves(tx *bolt.Tx, first, last uint64) ([][]byte, error) {
	out := make([][]byte, 0, last-first+1)
	c := tx.Bucket(bucketRecords).Cursor()
	want := first
	for k, v := c.Seek(seqKey(first)); k != nil && want <= last; k, v = c.Next() {
		if binary.BigEndian.Uint64(k) != want {
			return nil, fmt.Errorf("%w: record %d missing", ErrCorrupt, want)
		}
		out = append(out, Hash(v))
		want++
	}
	if want != last+1 {
		return nil, fmt.Errorf("%w: record %d missing", ErrCorrupt, want)
	}
	return out, nil
}

// AddBatch adds a batch. It must continue the previous one exactly and
// cover only records in the store; its root must match them. The batch is
// written with the next move of records into the store (Options.
// IngestInterval, or Flush, Close and every reader of batches): a batch is
// not urgent — one lost in a crash is stamped again — and sharing that
// commit saves the disk flushes that would slow the exchanges' appends.
func (l *Log) AddBatch(b *Batch) error {
	if l.readOnly {
		return errors.New("message log opened read-only")
	}
	l.ingMu.Lock() // no ingest may write queued batches meanwhile
	defer l.ingMu.Unlock()
	l.pendMu.Lock()
	var prev *Batch
	if n := len(l.pendBatches); n > 0 {
		prev = l.pendBatches[n-1]
	}
	l.pendMu.Unlock()
	err := l.db.View(func(tx *bolt.Tx) error {
		end, n, err := lastBatchEnd(tx)
		if err != nil {
			return err
		}
		if prev != nil {
			end, n = prev.LastSeq, prev.N
		}
		if b.FirstSeq != end+1 || b.LastSeq < b.FirstSeq {
			return fmt.Errorf("batch covers records %d..%d, but the next batch must start at %d", b.FirstSeq, b.LastSeq, end+1)
		}
		lv, ok := l.cachedLeaves(b.FirstSeq, b.LastSeq)
		if !ok {
			if lv, err = leaves(tx, b.FirstSeq, b.LastSeq); err != nil {
				return err
			}
		}
		if string(MerkleRoot(lv)) != string(b.Root) {
			return fmt.Errorf("batch root does not match records %d..%d", b.FirstSeq, b.LastSeq)
		}
		b.N = n + 1
		return nil
	})
	if err != nil {
		return err
	}
	l.pendMu.Lock()
	l.pendBatches = append(l.pendBatches, b)
	l.pendMu.Unlock()
	l.forgetLeaves(b.LastSeq)
	return nil
}

// putBatches stores queued batches after the stored ones.
func putBatches(tx *bolt.Tx, bs []*Batch) error {
	bb := tx.Bucket(bucketBatches)
	for _, b := range bs {
		end, n, err := lastBatchEnd(tx)
		if err != nil {
			return err
		}
		if b.FirstSeq != end+1 || b.N != n+1 {
			return fmt.Errorf("%w: queued batch %d (records %d..%d) does not continue batch %d (to record %d)", ErrCorrupt, b.N, b.FirstSeq, b.LastSeq, n, end)
		}
		v, err := json.Marshal(b)
		if err != nil {
			return err
		}
		if err := bb.Put(seqKey(b.N), v); err != nil {
			return err
		}
	}
	return nil
}

// Batches returns every batch in order (after Flush).
func (l *Log) Batches() ([]*Batch, error) {
	if err := l.Flush(); err != nil {
		return nil, err
	}
	var out []*Batch
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = batches(tx)
		return err
	})
	return out, err
}

func batches(tx *bolt.Tx) ([]*Batch, error) {
	var out []*Batch
	b := tx.Bucket(bucketBatches)
	if b == nil {
		return nil, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var bt Batch
		if err := json.Unmarshal(v, &bt); err != nil {
			return fmt.Errorf("%w: batch %x: %w", ErrCorrupt, k, err)
		}
		out = append(out, &bt)
		return nil
	})
	return out, err
}
