// Package messagelog is a security server's tamper-evident message log:
// every signed request and response it sent or received, appended to a
// bbolt file as hash-chained records (each carries the SHA-256 of the
// previous record's stored bytes), so that a changed, removed or reordered
// record breaks the chain at a record an auditor can name.
//
// Append returns only once its records are durable (written and synced);
// the proxies release an answer only after that, so a message answered as a
// success is always in the log. Appends from concurrent exchanges are group
// committed: one frame in a preallocated write-ahead file (path + "-wal")
// and one fdatasync for everything waiting; a background step moves the
// records into the bbolt file in larger transactions (see wal.go), and
// opening the log, or reading it, moves any that are left.
//
// Attachments' bytes stay out of the records: a record names a file of
// the directory beside the log (Files, AttachmentsBeside) and keeps the
// attachment's SHA-512, which the record's hash covers; the writer puts the
// file (synced) before it appends the record. Record encodings 1 and 2
// (attachments inside the record) are still read.
//
// The records of one signing batch share one signature document: once a
// second record carries it, the store keeps it once, under its SHA-512,
// and the records refer to it (shared.go, sigdocs.go). The certificates and
// OCSP responses inside signature documents are kept once too, when the
// records move into the bbolt file (blobs.go). Chain hashes and every
// reader still see each record's full encoding.
//
// # Caveats
//
// The server holds the file's lock while it runs; offline checks (CheckFile)
// need the server stopped or a copy made with Log.Backup, which copies the
// bbolt file alone: copy the attachments' directory beside it. Removing the newest
// records of a stopped log leaves a valid shorter chain: the head recorded in
// time-stamped batches (see the timestamper) is what proves the length.
//
// Old records leave the log for archive files (the security server's
// archiver): Prune removes whole time-stamped batches from the oldest on and
// stores an Anchor (the last archived record's hash and the archive's
// manifest hash) in the same transaction; the live chain then starts from
// the anchor, and Check, Pending and AddBatch continue from it.
package messagelog

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
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

// errStore marks failures to move records into the bbolt file.
var errStore = errors.New("moving records into")

// initialMmapSize is bbolt's initial mapping of the log file: 1 GiB on
// 64-bit systems.
const initialMmapSize = (strconv.IntSize / 64) << 30

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("message log is closed")

// Options tune a Log.
type Options struct {
	// MaxBatch caps how many appends share one commit; default 512.
	MaxBatch int
	// Now stamps records whose Time is zero; default time.Now.
	Now func() time.Time
	// WALSize is the preallocated size of the write-ahead file; default
	// DefaultWALSize. A group of records larger than that still fits (the
	// file grows).
	WALSize int64
	// IngestInterval is how often records move from the write-ahead file
	// into the bbolt file; default 500 ms (sooner when a quarter of the
	// write-ahead file waits). Readers of the open log see
	// every appended record regardless (they move the rest first).
	IngestInterval time.Duration
	// CommitInterval is the least time between two group commits (0: none).
	// A longer one gathers more records per fdatasync under load, at the
	// cost of that much latency.
	CommitInterval time.Duration

	// wrapWAL, when set (tests only), puts a layer under the writer of the
	// write-ahead file: the power-failure test's, which forgets what was
	// not synced.
	wrapWAL func(walFile) walFile
}

// Log is an open message log.
type Log struct {
	db    *bolt.DB
	opts  Options
	group *Group // nil when read-only

	headMu  sync.Mutex
	headSeq uint64
	head    []byte

	commits atomic.Int64 // group commits (write-ahead frames), for tests and metrics

	wal     *wal
	scratch []walRecord // the group being committed, reused by the writer
	hashes  [][]byte    // their chain hashes, reused by the writer
	sigds   [][]byte    // their signature digests, reused by the writer
	docs    SigDocs     // the signature documents the writer saw lately
	// walDocs are the signature documents (by SHA-512) a frame of the
	// write-ahead file's current round carries: a later frame of the round
	// refers to them without carrying them again.
	walDocs map[string]bool
	encBuf  []byte // a record's full encoding, for its hash, reused by the writer

	// Chain hashes of the records appended since the last time-stamp
	// batch, computed once by the writer, for Leaves (see cacheLeaves).
	leafMu    sync.Mutex
	leafFirst uint64
	leafs     [][]byte
	sigs      [][]byte // SignatureDigest of the same records

	ingMu       sync.Mutex        // serialises ingests
	blobSums    map[string][]byte // ingest's memory of blob digests (blobBatch), under ingMu
	pendMu      sync.Mutex
	pend        []walRecord // durable in the write-ahead file, not yet in bbolt
	pendBatches []*Batch    // time-stamp batches to store with the next ingest
	pendBytes   int
	ingErr      error
	kick        chan struct{}
	stop        chan struct{}
	ingDone     chan struct{}

	readOnly bool
}

// Closed reports whether Close was called.
func (l *Log) Closed() bool {
	return l.group != nil && l.group.Closed()
}

// LastError is the error of the last commit, or of the last move of
// records into the store, nil if both succeeded.
func (l *Log) LastError() error {
	if l.group != nil {
		if err := l.group.LastError(); err != nil {
			return err
		}
	}
	l.pendMu.Lock()
	defer l.pendMu.Unlock()
	return l.ingErr
}

// OpenReadOnly opens a log that no server has open (a stopped server's, or
// a Backup copy) for reading: Each, Batches, Leaves, Check.
func OpenReadOnly(path string) (*Log, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	return &Log{db: db, readOnly: true}, nil
}

// Open opens or creates the log at path (and its write-ahead file,
// path + "-wal"), moving any record the write-ahead file holds beyond the
// store into it first.
func Open(path string, opts Options) (*Log, error) {
	if opts.WALSize <= 0 {
		opts.WALSize = DefaultWALSize
	}
	if opts.IngestInterval <= 0 {
		opts.IngestInterval = 500 * time.Millisecond
	}
	// A large initial mapping (address space, not memory) spares the log
	// the remaps of a growing file: each copies the writing transaction's
	// records to the heap, and waits for every reader (a backup, an
	// auditor's long read) to finish.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, InitialMmapSize: initialMmapSize})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("message log %s is in use by another process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("message log %s: %w", path, err)
	}
	l := &Log{db: db, opts: opts, blobSums: map[string][]byte{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), ingDone: make(chan struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketBatches, bucketMeta, bucketSigDocs, bucketSigRefs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		_, err = recoverWAL(db, walPath(path))
	}
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error {
			var err error
			l.headSeq, l.head, err = storedHead(tx)
			return err
		})
	}
	if err == nil {
		// Every frame is in the store now: the next round starts at 0.
		l.wal, err = openWAL(walPath(path), opts.WALSize, opts.wrapWAL)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("message log %s: %w", path, err)
	}
	l.group = StartGroup(GroupOptions{MaxBatch: opts.MaxBatch, Now: opts.Now, Interval: opts.CommitInterval}, l.commit)
	go l.ingester()
	return l, nil
}

// Append stores recs, in order, after everything appended before, and
// returns once they are durable. It sets each record's Seq and PrevHash
// (and Time when zero). Appends waiting at once share one commit: one
// write-ahead frame and one fdatasync.
func (l *Log) Append(ctx context.Context, recs ...*Record) error {
	if l.group == nil {
		return ErrClosed
	}
	return l.group.Append(ctx, recs...)
}

// commit writes a group as one write-ahead frame, with one fdatasync.
func (l *Log) commit(group []*Record) error {
	l.pendMu.Lock()
	failing := l.ingErr != nil
	l.pendMu.Unlock()
	if failing { // the store could not take records: refuse more until it can
		if err := l.ingest(); err != nil {
			return fmt.Errorf("message log write failed: %w", err)
		}
	}
	l.headMu.Lock()
	seq, prev := l.headSeq, l.head
	l.headMu.Unlock()
	first := seq + 1
	if len(group) == 0 {
		// Nothing to make durable (Append with no records). A frame of no
		// records would end recovery before the frames after it.
		return nil
	}
	recs, hashes, sigds := l.scratch[:0], l.hashes[:0], l.sigds[:0]
	size := 0
	digests, docs := l.docs.borrow(group)
	defer l.docs.keep()
	// The records are encoded straight into their write-ahead frame, and
	// the pending records' stored forms (and chain hashes) refer into it
	// (and into one block of hashes) until they are ingested: two
	// allocations per group commit, not one per record and a copy.
	bound := walHeaderSize
	for i, r := range group {
		bound += 4 + r.encodedSize() + sha256.Size // PrevHash, set below
		if docs[i] != nil {
			bound += 4 + len(docs[i])
		}
	}
	frame := startFrame(make([]byte, 0, bound), first, len(group))
	hashBlock := make([]byte, 0, sha256.Size*len(group))
	for i, r := range group {
		seq++
		r.Seq, r.PrevHash = seq, prev
		digest, doc := digests[i], docs[i]
		at := len(frame) + 4
		frame = append(frame, 0, 0, 0, 0) // the record's length
		full := frame
		if doc != nil {
			// The chain hash covers the full encoding; the store keeps
			// the document apart, once.
			l.encBuf = r.encode(l.encBuf[:0])
			full = l.encBuf
			frame = r.encodeShared(frame, digest)
		} else {
			var sigAt int
			frame, sigAt = r.encodeSig(frame)
			full = frame[at:]
			// The frame is never changed once built: the writer may
			// remember the document by its bytes there.
			end := sigAt + len(r.Signature)
			l.docs.own(i, frame[sigAt:end:end])
		}
		enc := frame[at:len(frame):len(frame)]
		binary.BigEndian.PutUint32(frame[at-4:], uint32(len(enc)))
		sum := sha256.Sum256(full)
		hashBlock = append(hashBlock, sum[:]...)
		prev = hashBlock[len(hashBlock)-sha256.Size : len(hashBlock) : len(hashBlock)]
		wr := walRecord{seq: seq, enc: enc, hash: prev}
		if doc != nil {
			wr.ref, wr.doc = digest, doc
		}
		recs = append(recs, wr)
		hashes = append(hashes, prev)
		sigds = append(sigds, digest)
		size += len(wr.enc)
	}
	if cap(l.encBuf) > 1<<20 {
		l.encBuf = nil
	}
	l.scratch, l.hashes, l.sigds = recs[:0], hashes[:0], sigds[:0]
	recEnd := len(frame)
	frame, carried, err := l.finishFrame(frame, recs)
	if err != nil {
		return fmt.Errorf("message log write failed: %w", err)
	}
	if !l.wal.fits(len(frame)) {
		// Start the next round: every earlier frame must be in the store.
		if err := l.ingest(); err != nil {
			return fmt.Errorf("message log write failed: %w", err)
		}
		l.wal.off = 0
		clear(l.walDocs)
		// Its first frame carries every document its records refer to
		// (appended over the documents the frame carried so far: the
		// records before them stay as they are).
		if frame, carried, err = l.finishFrame(frame[:recEnd], recs); err != nil {
			return fmt.Errorf("message log write failed: %w", err)
		}
	}
	if err := l.wal.write(frame); err != nil {
		return fmt.Errorf("message log write failed: %w", err)
	}
	for _, d := range carried {
		l.walDocs[d] = true
	}
	l.headMu.Lock()
	l.headSeq, l.head = seq, prev
	l.headMu.Unlock()
	l.cacheLeaves(first, hashes, sigds)
	l.pendMu.Lock()
	l.pend = append(l.pend, recs...)
	l.pendBytes += size
	full := l.pendBytes >= int(l.opts.WALSize/4)
	l.pendMu.Unlock()
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	l.commits.Add(1)
	return nil
}

// finishFrame finishes the write-ahead frame of recs (their header and
// stored forms, from startFrame), carrying the signature documents they
// refer to that no frame of the round carried yet; docs are those
// documents' digests.
func (l *Log) finishFrame(frame []byte, recs []walRecord) (_ []byte, docs []string, err error) {
	if l.walDocs == nil {
		l.walDocs = map[string]bool{}
	}
	var carry [][]byte
	for _, r := range recs {
		if r.ref == nil || l.walDocs[string(r.ref)] || slices.Contains(docs, string(r.ref)) {
			continue
		}
		docs = append(docs, string(r.ref))
		carry = append(carry, r.doc)
	}
	frame, err = finishFrame(frame, carry)
	return frame, docs, err
}

// ingester moves records from the write-ahead file into the store every
// IngestInterval, or sooner when a quarter of the file is waiting.
func (l *Log) ingester() {
	defer close(l.ingDone)
	t := time.NewTicker(l.opts.IngestInterval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		case <-l.kick:
		}
		l.ingest()
	}
}

// ingest moves every record waiting in the write-ahead file into the store
// in one transaction.
func (l *Log) ingest() error {
	l.ingMu.Lock()
	defer l.ingMu.Unlock()
	l.pendMu.Lock()
	recs, bs := l.pend, l.pendBatches
	l.pendMu.Unlock()
	if len(recs) == 0 && len(bs) == 0 {
		// Nothing waits, so the store is not failing (ingErr is set only
		// while something waits). A refusal the writer recorded after the
		// last good ingest cleared it must not leave the log looking
		// unhealthy until the next append, which may never come.
		l.clearStoreErr()
		return nil
	}
	err := l.db.Update(func(tx *bolt.Tx) error {
		if err := putRecords(tx, recs, l.blobSums); err != nil {
			return err
		}
		return putBatches(tx, bs)
	})
	l.pendMu.Lock()
	defer l.pendMu.Unlock()
	if err != nil {
		l.ingErr = fmt.Errorf("%w %s: %w", errStore, l.db.Path(), err)
		return l.ingErr
	}
	l.ingErr = nil
	// Appends refused only because the store could not take records are
	// no longer a reason to look unhealthy (LastError), even before the
	// next append.
	l.clearStoreErr()
	l.pendBatches = l.pendBatches[len(bs):]
	rest := l.pend[len(recs):]
	l.pend = append(make([]walRecord, 0, len(rest)), rest...)
	l.pendBytes = 0
	for _, r := range l.pend {
		l.pendBytes += len(r.enc)
	}
	return nil
}

// clearStoreErr forgets a last commit error that was only a refusal
// because the store could not take records.
func (l *Log) clearStoreErr() {
	if l.group != nil {
		l.group.ForgetError(func(err error) bool { return errors.Is(err, errStore) })
	}
}

// Flush moves every appended record into the store now; readers of the
// open log call it, so they see everything appended before.
func (l *Log) Flush() error {
	if l.readOnly {
		return nil
	}
	return l.ingest()
}

// QueueLen is how many appends wait for the writer, not counting those in
// the commit under way: a read-only view for metrics (it grows when commits
// or fsyncs are slow). It is 0 for a closed or read-only log.
func (l *Log) QueueLen() int {
	if l.group == nil {
		return 0
	}
	return l.group.QueueLen()
}

// Head is the newest record's sequence number and chain hash.
func (l *Log) Head() (uint64, []byte) {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	return l.headSeq, append([]byte(nil), l.head...)
}

// Close waits for queued appends and closes the file.
func (l *Log) Close() error {
	if l.readOnly {
		return l.closeDB()
	}
	if !l.group.Close() {
		return nil
	}
	close(l.stop)
	<-l.ingDone
	err := l.ingest()
	if cerr := l.wal.close(); err == nil {
		err = cerr // a *PathError naming the write-ahead file
	}
	if cerr := l.closeDB(); err == nil {
		err = cerr
	}
	return err
}

func (l *Log) closeDB() error {
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("message log %s: close: %w", l.db.Path(), err)
	}
	return nil
}

// Backup writes a consistent copy of the log file to w while the server runs.
func (l *Log) Backup(w io.Writer) (int64, error) {
	if err := l.Flush(); err != nil {
		return 0, err
	}
	var n int64
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("message log %s: backup: %w", l.db.Path(), err)
	}
	return n, nil
}

// Each calls fn for every record from seq from on, in order, with the
// record and its stored bytes. It reads a consistent snapshot; the record
// and the bytes are valid only during the call (copy what must outlive it).
func (l *Log) Each(from uint64, fn func(r *Record, stored []byte) error) error {
	if err := l.Flush(); err != nil {
		return err
	}
	return l.db.View(func(tx *bolt.Tx) error { return each(tx, from, fn) })
}

func each(tx *bolt.Tx, from uint64, fn func(*Record, []byte) error) error {
	b := tx.Bucket(bucketRecords)
	if b == nil {
		return fmt.Errorf("%w: no records bucket", ErrCorrupt)
	}
	c := b.Cursor()
	for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
		v, err := expandIn(tx, v)
		if err != nil {
			return fmt.Errorf("record key %x: %w", k, err)
		}
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

// openReadOnly opens a log no server holds. When its write-ahead file has
// records the store does not (the server was killed, not stopped), it opens
// a private copy with those records moved in, leaving the original as it is.
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
	tail, err := walTail(db, walPath(path))
	if err != nil || !tail {
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("message log %s: %w", path, err)
		}
		return db, nil
	}
	copyPath, err := copyToTemp(db)
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("message log %s: copying it to add the records of its write-ahead file: %w", path, err)
	}
	defer os.Remove(copyPath) // the open file stays readable
	db, err = bolt.Open(copyPath, 0o600, &bolt.Options{Timeout: time.Second})
	if err == nil {
		_, err = recoverWAL(db, walPath(path))
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, fmt.Errorf("message log %s: %w", path, err)
	}
	return db, nil
}

func copyToTemp(db *bolt.DB) (string, error) {
	f, err := os.CreateTemp("", "sluz-messagelog-*.db")
	if err != nil {
		return "", err
	}
	err = db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(f)
		return err
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// Recent calls fn for the records logged at or after since, newest first.
func (l *Log) Recent(since time.Time, fn func(r *Record) error) error {
	if err := l.Flush(); err != nil {
		return err
	}
	return l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			r, err := decodeStored(v)
			if err != nil {
				return fmt.Errorf("record key %x: %w", k, err)
			}
			if r.Time.Before(since) {
				return nil
			}
			if v[0]&storedBlobs != 0 {
				if _, err := expandRecordBlobs(tx, r, false); err != nil {
					return err
				}
			}
			if v[0]&storedShared != 0 {
				if r.Signature = sigDocIn(tx, r.Signature); r.Signature == nil {
					return fmt.Errorf("record %d: %w: its signature document is missing", r.Seq, ErrCorrupt)
				}
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}
