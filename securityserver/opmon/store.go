// Package opmon is a security server's operational monitoring (PR-OPMON):
// one record per exchange and side (client, service, times, sizes, result;
// never a message body), kept for a retention period in a bbolt file or,
// for the nodes of a server sharing one database, in PostgreSQL (a
// [Backend], package pgopmon), and
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
//     transaction (on bbolt), during which the writer cannot grow the file: records
//     may then wait, and be dropped if the queue fills, but no exchange waits.
//   - The store holds its file's lock while open.
package opmon

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

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
	db    Backend
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

// Backend is where a Store keeps its records: a bbolt file ([Open]) or a
// PostgreSQL database shared by the nodes of one server (package
// pgopmon). The Store calls it from one writer goroutine and from Query;
// the conformance tests in this package's tests hold each backend to the
// same promises.
type Backend interface {
	// Insert stores records whose monitoringDataTs is set, in one
	// transaction.
	Insert(recs []Record) error
	// DeleteBefore deletes up to max records whose requestInTs (ms) is
	// below ms, oldest first, and returns how many.
	DeleteBefore(ms int64, max int) (int, error)
	// Scan calls fn on the records whose requestInTs (ms) is at least from
	// and, when to >= 0, at most to, in requestInTs order (records of one
	// millisecond in the order stored), until fn returns false or an error.
	Scan(from, to int64, fn func(*Record) (bool, error)) error
	// Name says where the records are, in errors: the file's path, the
	// database's host and name.
	Name() string
	Close() error
}

// Open opens or creates the store at path (a bbolt file) and starts its
// writer.
func Open(path string, opts Options) (*Store, error) {
	b, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	return OpenBackend(b, opts), nil
}

// OpenBackend starts a store's writer over b, which Close closes.
func OpenBackend(b Backend, opts Options) *Store {
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
	s := &Store{db: b, opts: opts, queue: make(chan Record, opts.QueueSize), flush: make(chan chan error),
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.writer()
	return s
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

func (s *Store) commit(batch []Record) error {
	now := s.opts.Now().Unix()
	for i := range batch {
		r := &batch[i]
		if s.opts.Complete != nil {
			s.opts.Complete(r)
		}
		r.MonitoringDataTs = now
		r.clamp()
	}
	if err := s.db.Insert(batch); err != nil {
		return fmt.Errorf("opmon: %s: storing %d records: %w", s.db.Name(), len(batch), err)
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
	cutoff := s.opts.Now().Add(-s.opts.Retention).UnixMilli()
	total := 0
	for {
		n, err := s.db.DeleteBefore(cutoff, pruneChunk)
		if err != nil {
			return total, fmt.Errorf("opmon: %s: prune: %w", s.db.Name(), err)
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
		return fmt.Errorf("opmon: %s: close: %w", s.db.Name(), err)
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
	to := int64(-1)
	if !q.To.IsZero() {
		to = q.To.UnixMilli()
	}
	err := s.db.Scan(q.From.UnixMilli(), to, func(r *Record) (bool, error) {
		if q.Match != nil && !q.Match(r) {
			return true, nil
		}
		if q.Limit > 0 && len(res.Records) >= q.Limit {
			sec := floorDiv(r.RequestInTs, 1000)
			last := floorDiv(res.Records[len(res.Records)-1].RequestInTs, 1000)
			if sec != last {
				res.Next = sec
				return false, nil
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
				return false, nil
			}
		}
		res.Records = append(res.Records, *r)
		return true, nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("opmon: %s: query: %w", s.db.Name(), err)
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
