// Package messagelog is a security server's tamper-evident message log:
// every signed request and response it sent or received, appended to a
// bbolt file as hash-chained records (each carries the SHA-256 of the
// previous record's stored bytes), so that a changed, removed or reordered
// record breaks the chain at a record an auditor can name.
//
// Append returns only once its records are durable (committed and synced);
// the proxies release an answer only after that, so a message answered as a
// success is always in the log. Appends from concurrent exchanges are group
// committed: one transaction and one fsync for everything waiting.
//
// # Caveats
//
// The server holds the file's lock while it runs; offline checks (CheckFile)
// need the server stopped or a copy made with Log.Backup. Removing the newest
// records of a stopped log leaves a valid shorter chain: the head recorded in
// time-stamped batches (see the timestamper) is what proves the length.
package messagelog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketRecords = []byte("records")
	bucketMeta    = []byte("meta")
	keyHead       = []byte("head") // seq (8 bytes) then the hash of that record
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("message log is closed")

// Options tune a Log.
type Options struct {
	// MaxBatch caps how many appends share one commit; default 512.
	MaxBatch int
	// Now stamps records whose Time is zero; default time.Now.
	Now func() time.Time
}

// Log is an open message log.
type Log struct {
	db   *bolt.DB
	opts Options
	reqs chan *appendReq

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	done   chan struct{}

	headMu  sync.Mutex
	headSeq uint64
	head    []byte

	commits atomic.Int64 // transactions committed, for tests and metrics

	readOnly bool

	errMu   sync.Mutex
	lastErr error // of the last commit; nil after a good one
}

// Closed reports whether Close was called.
func (l *Log) Closed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed && !l.readOnly
}

// LastError is the error of the last commit, nil if it succeeded.
func (l *Log) LastError() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.lastErr
}

// OpenReadOnly opens a log that no server has open (a stopped server's, or
// a Backup copy) for reading: Each, Batches, Leaves, Check.
func OpenReadOnly(path string) (*Log, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	return &Log{db: db, readOnly: true, closed: true}, nil
}

type appendReq struct {
	recs []*Record
	err  chan error
}

// Open opens or creates the log at path.
func Open(path string, opts Options) (*Log, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("message log %s is in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("message log %s: %w", path, err)
	}
	l := &Log{db: db, opts: opts, reqs: make(chan *appendReq, opts.MaxBatch), done: make(chan struct{}), head: make([]byte, 32)}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketBatches} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if h := meta.Get(keyHead); h != nil {
			if len(h) != 8+32 {
				return fmt.Errorf("%w: head is %d bytes", ErrCorrupt, len(h))
			}
			l.headSeq = binary.BigEndian.Uint64(h)
			l.head = append([]byte(nil), h[8:]...)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("message log %s: %w", path, err)
	}
	go l.writer()
	return l, nil
}

// Append stores recs, in order, after everything appended before, and
// returns once they are durable. It sets each record's Seq and PrevHash
// (and Time when zero).
func (l *Log) Append(ctx context.Context, recs ...*Record) error {
	now := l.opts.Now()
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = now
		}
		r.Time = r.Time.UTC()
	}
	req := &appendReq{recs: recs, err: make(chan error, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	l.mu.RUnlock()
	// Once queued, the records are written whatever the caller does next:
	// wait for the outcome so that no success is reported for a failed write.
	return <-req.err
}

// writer is the only goroutine that writes: it commits whatever is waiting
// in one transaction (group commit).
func (l *Log) writer() {
	defer close(l.done)
	for req := range l.reqs {
		batch := []*appendReq{req}
	drain:
		for len(batch) < l.opts.MaxBatch {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := l.commit(batch)
		l.errMu.Lock()
		l.lastErr = err
		l.errMu.Unlock()
		for _, r := range batch {
			r.err <- err
		}
	}
}

func (l *Log) commit(batch []*appendReq) error {
	l.headMu.Lock()
	seq, prev := l.headSeq, l.head
	l.headMu.Unlock()
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		for _, req := range batch {
			for _, r := range req.recs {
				seq++
				r.Seq, r.PrevHash = seq, prev
				enc := r.encode(make([]byte, 0, 256+len(r.Message)+len(r.Signature)))
				if err := b.Put(seqKey(seq), enc); err != nil {
					return err
				}
				prev = Hash(enc)
			}
		}
		head := make([]byte, 0, 40)
		head = binary.BigEndian.AppendUint64(head, seq)
		head = append(head, prev...)
		return tx.Bucket(bucketMeta).Put(keyHead, head)
	})
	if err != nil {
		return fmt.Errorf("message log write failed: %w", err)
	}
	l.headMu.Lock()
	l.headSeq, l.head = seq, prev
	l.headMu.Unlock()
	l.commits.Add(1)
	return nil
}

// QueueLen is how many appends wait for the writer, not counting those in
// the commit under way: a read-only view for metrics (it grows when commits
// or fsyncs are slow). It is 0 for a closed or read-only log.
func (l *Log) QueueLen() int { return len(l.reqs) }

// Head is the newest record's sequence number and chain hash.
func (l *Log) Head() (uint64, []byte) {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	return l.headSeq, append([]byte(nil), l.head...)
}

// Close waits for queued appends and closes the file.
func (l *Log) Close() error {
	if l.readOnly {
		return l.db.Close()
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.reqs)
	l.mu.Unlock()
	<-l.done
	return l.db.Close()
}

// Backup writes a consistent copy of the log file to w while the server runs.
func (l *Log) Backup(w io.Writer) (int64, error) {
	var n int64
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Each calls fn for every record from seq from on, in order, with the
// record and its stored bytes. It reads a consistent snapshot.
func (l *Log) Each(from uint64, fn func(r *Record, stored []byte) error) error {
	return l.db.View(func(tx *bolt.Tx) error { return each(tx, from, fn) })
}

func each(tx *bolt.Tx, from uint64, fn func(*Record, []byte) error) error {
	b := tx.Bucket(bucketRecords)
	if b == nil {
		return fmt.Errorf("%w: no records bucket", ErrCorrupt)
	}
	c := b.Cursor()
	for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
		r, err := Decode(v)
		if err != nil {
			return fmt.Errorf("record key %x: %w", k, err)
		}
		if err := fn(r, v); err != nil {
			return err
		}
	}
	return nil
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

func openReadOnly(path string) (*bolt.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("message log: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("message log %s is held by a running security server: stop it, or verify a copy made with a backup", path)
	}
	if err != nil {
		return nil, fmt.Errorf("message log %s: %w", path, err)
	}
	return db, nil
}

// Recent calls fn for the records logged at or after since, newest first.
func (l *Log) Recent(since time.Time, fn func(r *Record) error) error {
	return l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			r, err := Decode(v)
			if err != nil {
				return fmt.Errorf("record key %x: %w", k, err)
			}
			if r.Time.Before(since) {
				return nil
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}
