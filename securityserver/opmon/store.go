// Package opmon is a security server's operational monitoring (PR-OPMON):
// one record per exchange and side (client, service, times, sizes, result;
// never a message body), kept for a retention period in a bbolt file, and
// the getSecurityServerOperationalData service through which members read
// them over X-Road itself.
//
// The promise: recording never slows or fails an exchange. [Store.Add]
// copies the record into a bounded queue and returns; a background writer
// commits many records per transaction (when MaxBatch are waiting, or every
// FlushInterval). A full queue drops the record and counts it
// ([Store.Dropped]) instead of blocking. [Store.Flush] waits until every
// record added before it is committed, so a query made after an exchange's
// answer was released sees that exchange. Records older than the retention
// period are deleted every PruneInterval.
//
// Access control is the caller's: [Record.Involves] says which records a
// member other than the server's owner may read (those where it is the
// client's or the service provider's member); the security server proves
// the caller's member by its message signature before asking.
//
// # Caveats
//
//   - Records that are queued but not yet committed are lost if the process
//     dies (at most FlushInterval's worth, or MaxBatch); Close commits them.
//   - Records are keyed by requestInTs, so a query by time range reads only
//     that range; any other filter (a member's access, client, service)
//     decodes every record in the range. A long read holds a bbolt read
//     transaction, during which the writer cannot grow the file: records
//     may then wait, and be dropped if the queue fills, but no exchange waits.
//   - The store holds its file's lock while open.
package opmon

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketRecords = []byte("records")

// Defaults of Options.
const (
	DefaultRetention     = 7 * 24 * time.Hour
	DefaultQueueSize     = 4096
	DefaultMaxBatch      = 1024
	DefaultFlushInterval = time.Second
	DefaultPruneInterval = time.Hour
)

// Options tune a Store; zero values take the defaults.
type Options struct {
	// Retention: records whose requestInTs is older are pruned; default 7 days.
	Retention time.Duration
	// QueueSize bounds the records waiting for the writer; a record added
	// to a full queue is dropped. Default 4096.
	QueueSize int
	// MaxBatch: the writer commits once this many records wait; default 1024.
	MaxBatch int
	// FlushInterval: or when the oldest waiting record is this old; default 1 s.
	FlushInterval time.Duration
	// PruneInterval: how often old records are deleted; default 1 h
	// (capped at a tenth of Retention).
	PruneInterval time.Duration
	// Now is the clock of monitoringDataTs and of pruning; default time.Now.
	Now func() time.Time
	// Complete, if set, is called by the writer on each record before it is
	// stored: for work kept off the exchange's path (Record.Peer).
	Complete func(*Record)
	// Log receives write failures; default slog.Default().
	Log *slog.Logger
}

// Store is an open operational monitoring store.
type Store struct {
	db    *bolt.DB
	opts  Options
	queue chan Record
	flush chan chan error

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	stop   chan struct{}
	done   chan struct{}

	dropped atomic.Uint64
	stored  atomic.Uint64
	pruned  atomic.Uint64
}

// ErrClosed is returned by Flush and Query after Close.
var ErrClosed = errors.New("opmon: store is closed")

// Open opens or creates the store at path and starts its writer.
func Open(path string, opts Options) (*Store, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.PruneInterval <= 0 {
		opts.PruneInterval = DefaultPruneInterval
	}
	opts.PruneInterval = min(opts.PruneInterval, max(opts.Retention/10, time.Second))
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("opmon: %s is in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("opmon: %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketRecords)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("opmon: %s: %w", path, err)
	}
	s := &Store{db: db, opts: opts, queue: make(chan Record, opts.QueueSize), flush: make(chan chan error),
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.writer()
	return s, nil
}

// Add queues a copy of r for storing and returns at once. It reports
// false, and counts the record as dropped, when the queue is full or the
// store is closed.
func (s *Store) Add(r *Record) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return false
	}
	select {
	case s.queue <- *r:
		return true
	default:
		s.dropped.Add(1)
		return false
	}
}

// Dropped is the number of records Add could not queue.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }

// Stored is the number of records committed since Open.
func (s *Store) Stored() uint64 { return s.stored.Load() }

// Pruned is the number of records deleted for age since Open.
func (s *Store) Pruned() uint64 { return s.pruned.Load() }

// Flush returns once every record added before the call is committed.
func (s *Store) Flush() error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	done := make(chan error, 1)
	s.flush <- done // the writer runs until Close, which waits for this lock
	s.mu.RUnlock()
	return <-done
}

// writer is the only goroutine that writes.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]Record, 0, s.opts.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	prune := time.NewTicker(s.opts.PruneInterval)
	defer prune.Stop()
	commit := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.commit(batch)
		if err != nil {
			s.opts.Log.Error("operational monitoring records lost: writing them failed", "records", len(batch), "err", err)
		}
		clear(batch) // drop the strings the records hold
		batch = batch[:0]
		return err
	}
	// drain takes up to n queued records (all, if n < 0): a flush takes
	// only those queued before it, so that it ends under any load.
	drain := func(n int) {
		for ; n != 0; n-- {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
				if len(batch) >= s.opts.MaxBatch {
					commit()
				}
			default:
				return
			}
		}
	}
	if _, err := s.Prune(); err != nil {
		s.opts.Log.Error("pruning operational monitoring records failed", "err", err)
	}
	for {
		select {
		case r := <-s.queue:
			if len(batch) == 0 {
				timer.Reset(s.opts.FlushInterval)
			}
			batch = append(batch, r)
			if len(batch) >= s.opts.MaxBatch {
				timer.Stop()
				commit()
			}
		case <-timer.C:
			commit()
		case done := <-s.flush:
			drain(len(s.queue))
			timer.Stop()
			done <- commit()
		case <-prune.C:
			if _, err := s.Prune(); err != nil {
				s.opts.Log.Error("pruning operational monitoring records failed", "err", err)
			}
		case <-s.stop:
			drain(-1) // Add queues nothing once closed is set
			commit()
			return
		}
	}
}

// key is requestInTs (ms, big-endian, so that keys sort by time) then a
// sequence number that keeps records of the same millisecond apart.
func key(ts int64, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(max(ts, 0)))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

func (s *Store) commit(batch []Record) error {
	now := s.opts.Now().Unix()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		for i := range batch {
			r := &batch[i]
			if s.opts.Complete != nil {
				s.opts.Complete(r)
			}
			r.MonitoringDataTs = now
			r.clamp()
			data, err := json.Marshal(r)
			if err != nil {
				return err
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(key(r.RequestInTs, seq), data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("opmon: %s: storing %d records: %w", s.db.Path(), len(batch), err)
	}
	s.stored.Add(uint64(len(batch)))
	return nil
}

// pruneChunk bounds the deletions of one transaction, so that pruning a
// long backlog (a server that was down for weeks) does not build one huge
// transaction.
const pruneChunk = 10000

// Prune deletes the records whose requestInTs is older than the retention
// period and returns how many.
func (s *Store) Prune() (int, error) {
	cutoff := key(s.opts.Now().Add(-s.opts.Retention).UnixMilli(), 0)
	total := 0
	for {
		n := 0
		err := s.db.Update(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketRecords).Cursor()
			for k, _ := c.First(); k != nil && bytes.Compare(k, cutoff) < 0 && n < pruneChunk; k, _ = c.Next() {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("opmon: prune: %w", err)
		}
		total += n
		s.pruned.Add(uint64(n))
		if n < pruneChunk {
			return total, nil
		}
	}
}

// Close commits the queued records, stops the writer and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("opmon: %s: close: %w", s.db.Path(), err)
	}
	return nil
}

// Query selects records by time and content.
type Query struct {
	// From and To bound requestInTs, both inclusive; a zero To means no
	// upper bound.
	From, To time.Time
	// Match, if set, keeps only the records it returns true for (access
	// filter, client and service criteria).
	Match func(*Record) bool
	// Limit caps the records returned (0: no cap). The cap falls on a
	// second boundary so that paging by Result.Next neither repeats nor
	// skips a record: a single second with more records than Limit is
	// returned whole.
	Limit int
}

// Result is the answer to a Query.
type Result struct {
	Records []Record // by requestInTs
	// Next, when the Limit cut the answer short, is the second (Unix) to
	// ask from for the rest; 0 when Records is complete.
	Next int64
}

// Query returns the committed records that match q (call Flush first to
// include those still queued).
func (s *Store) Query(q Query) (Result, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Result{}, ErrClosed
	}
	var res Result
	from := key(q.From.UnixMilli(), 0)
	to := int64(-1)
	if !q.To.IsZero() {
		to = q.To.UnixMilli()
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Seek(from); k != nil; k, v = c.Next() {
			ts := int64(binary.BigEndian.Uint64(k))
			if to >= 0 && ts > to {
				break
			}
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("record %x: %w", k, err)
			}
			if q.Match != nil && !q.Match(&r) {
				continue
			}
			if q.Limit > 0 && len(res.Records) >= q.Limit {
				sec := floorDiv(ts, 1000)
				last := floorDiv(res.Records[len(res.Records)-1].RequestInTs, 1000)
				if sec != last {
					res.Next = sec
					break
				}
				// Cut before the second the cap falls in, unless that
				// second is all there is.
				cut := len(res.Records)
				for cut > 0 && floorDiv(res.Records[cut-1].RequestInTs, 1000) == sec {
					cut--
				}
				if cut > 0 {
					clear(res.Records[cut:])
					res.Records, res.Next = res.Records[:cut], sec
					break
				}
			}
			res.Records = append(res.Records, r)
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("opmon: query: %w", err)
	}
	return res, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// QueryFit runs q and encodes its result with encode, halving q.Limit
// until the encoding is at most maxBytes long: an answer must fit in a
// message. With Limit 1 the encoding is returned whatever its size (the
// records of one second are never split, see Query.Limit).
func (s *Store) QueryFit(q Query, maxBytes int, encode func(Result) ([]byte, error)) ([]byte, error) {
	if q.Limit <= 0 {
		q.Limit = MaxRecordsInPayload
	}
	for {
		res, err := s.Query(q)
		if err != nil {
			return nil, err
		}
		out, err := encode(res)
		if err != nil || len(out) <= maxBytes || q.Limit == 1 {
			return out, err
		}
		q.Limit /= 2
	}
}
