package messagelog

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/sluz/sluz/internal/durable"
	bolt "go.etcd.io/bbolt"
)

// The write-ahead file makes appends durable cheaply. A bbolt commit costs
// two fdatasyncs and several page writes; on the 2-core VM the benchmarks
// run on that is ≈ 370 µs of CPU and ≈ 800 µs of waiting per commit. A
// group of records written once into a preallocated, already zero-filled
// file and synced with one fdatasync (no file size or extent change, so no
// journal commit) costs about a third of that. The records move into the
// bbolt file in larger batches in the background ("ingest"); on open, any
// record the file has and bbolt does not is ingested first, so readers never
// see the difference.
//
// Layout: frames one after another from offset 0, each
//
//	magic "SLW1" | first seq (8) | record count (4) | payload length (4) | CRC-32C (4) | payload
//
// where the CRC covers the first 20 header bytes and the payload, and the
// payload is the records' stored forms, each preceded by its length (4).
// A frame with magic "SLW2" continues its payload with signature documents
// kept apart (shared.go), each preceded by its length (4): those its
// records refer to that no earlier frame of the round carried, so that
// recovery, which reads the round from its start, finds every document a
// record needs even when the store no longer has it (pruned meanwhile). When
// every frame has been ingested the writer starts again at offset 0; frames
// left further on from the previous round have lower sequence numbers, so
// recovery stops at the first frame that does not continue the sequence (or
// fails its CRC, or is zeros).

const (
	walMagic      = "SLW1"
	walMagicDocs  = "SLW2" // a frame that also carries signature documents
	walHeaderSize = 24
	// DefaultWALSize is the preallocated size of the write-ahead file.
	DefaultWALSize = 16 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walPath is the write-ahead file beside the log file.
func walPath(path string) string { return path + "-wal" }

// walFile is what the writer needs of the write-ahead file once it is
// open: *os.File in production (osWALFile), a layer that forgets unsynced
// writes in the power-failure test (Options.wrapWAL).
type walFile interface {
	WriteAt(p []byte, off int64) (int, error)
	Datasync() error
	Name() string
	Close() error
}

// osWALFile is the production walFile: the file itself, synced with
// fdatasync.
type osWALFile struct{ *os.File }

func (f osWALFile) Datasync() error { return fdatasync(f.File) }

type wal struct {
	f    walFile
	size int64 // preallocated size
	off  int64 // where the next frame goes
	last uint64
	buf  []byte // frame being built by frame, reused
	// lastAt is where the last frame written starts (tests).
	lastAt int64
}

// openWAL opens or creates (zero-filled to size, synced) the write-ahead
// file. wrap, when not nil (tests only), puts a layer between the writer and
// the file.
func openWAL(path string, size int64, wrap func(walFile) walFile) (*wal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() < size {
		if err := zeroFill(f, st.Size(), size); err != nil {
			f.Close()
			return nil, fmt.Errorf("preallocating %d bytes for %s: %w", size, path, err)
		}
	} else {
		size = st.Size()
	}
	// Always, not only when the file was just created: a process killed
	// after creating and filling it but before this sync leaves a
	// full-size file whose directory entry (and the log file's) may not
	// survive a power loss, with every record appended to it after.
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	var wf walFile = osWALFile{f}
	if wrap != nil {
		wf = wrap(wf)
	}
	return &wal{f: wf, size: size}, nil
}

func zeroFill(f *os.File, from, to int64) error {
	zero := make([]byte, 1<<20)
	for off := from; off < to; {
		n := min(int64(len(zero)), to-off)
		if _, err := f.WriteAt(zero[:n], off); err != nil {
			return err
		}
		off += n
	}
	return f.Sync()
}

// syncDir makes dir's entries durable (a variable for tests).
var syncDir = durable.SyncDir

// walRecord is one encoded record waiting to be ingested.
type walRecord struct {
	seq uint64
	enc []byte // the stored form
	// ref is the SHA-512 of the signature document the stored form refers
	// to (nil when it holds it), doc that document when the writer or the
	// write-ahead file has it (else the store must), hash the record's chain
	// hash when known (else computed from enc and the document).
	ref, doc, hash []byte
}

// frame builds the frame for recs (consecutive, from first). The header
// holds the payload length in 4 bytes: a larger group is refused, as a
// frame with a truncated length would be written, synced and acknowledged
// but never recovered.
func (w *wal) frame(first uint64, recs []walRecord, docs ...[]byte) ([]byte, error) {
	var plen uint64
	for _, r := range recs {
		plen += 4 + uint64(len(r.enc))
	}
	for _, d := range docs {
		plen += 4 + uint64(len(d))
	}
	if plen > math.MaxUint32 {
		return nil, errFrameSize(len(recs), plen)
	}
	b := startFrame(w.buf[:0], first, len(recs))
	for _, r := range recs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(r.enc)))
		b = append(b, r.enc...)
	}
	b, err := finishFrame(b, docs)
	if cap(b) <= 1<<20 {
		w.buf = b
	}
	return b, err
}

func errFrameSize(n int, plen uint64) error {
	return fmt.Errorf("%d records of %d bytes in all do not fit one write-ahead frame (4 GiB)", n, plen)
}

// startFrame appends to b the header of a frame of count records from
// first; the records follow it, each its length (4) and its stored form,
// then finishFrame.
func startFrame(b []byte, first uint64, count int) []byte {
	b = append(b, walMagic...)
	b = binary.BigEndian.AppendUint64(b, first)
	b = binary.BigEndian.AppendUint32(b, uint32(count))
	return append(b, make([]byte, 8)...) // length and CRC, set by finishFrame
}

// finishFrame appends docs to the frame b (its header and records, from
// startFrame), and sets its magic, payload length and CRC.
func finishFrame(b []byte, docs [][]byte) ([]byte, error) {
	for _, d := range docs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(d)))
		b = append(b, d...)
	}
	if plen := uint64(len(b) - walHeaderSize); plen > math.MaxUint32 {
		return nil, errFrameSize(int(binary.BigEndian.Uint32(b[12:])), plen)
	}
	if len(docs) > 0 {
		copy(b, walMagicDocs)
	} else {
		copy(b, walMagic)
	}
	binary.BigEndian.PutUint32(b[16:], uint32(len(b)-walHeaderSize))
	crc := crc32.Update(0, crcTable, b[:20])
	crc = crc32.Update(crc, crcTable, b[walHeaderSize:])
	binary.BigEndian.PutUint32(b[20:], crc)
	return b, nil
}

// write puts one frame at the current offset and syncs it.
func (w *wal) write(frame []byte) error {
	if _, err := w.f.WriteAt(frame, w.off); err != nil {
		return err
	}
	if err := w.f.Datasync(); err != nil {
		return &os.PathError{Op: "fdatasync", Path: w.f.Name(), Err: err}
	}
	w.lastAt = w.off
	w.off += int64(len(frame))
	if w.off > w.size {
		w.size = w.off // a frame larger than the preallocation grew the file
	}
	return nil
}

// fits reports whether n more bytes fit in the preallocated space.
func (w *wal) fits(n int) bool { return w.off+int64(n) <= w.size }

func (w *wal) close() error { return w.f.Close() }

// readWAL returns the records of the current round of frames whose
// sequence numbers are above head, in order, each that refers to a
// signature document with the document when a frame of the round carries
// it (else the store has it). A frame that continues the
// sequence but is damaged ends the scan like the end of the round: it was
// being written when the process stopped, so it was never acknowledged.
func readWAL(r io.ReaderAt, size int64, head uint64) ([]walRecord, error) {
	var out []walRecord
	docs := map[string][]byte{} // by SHA-512
	var prevLast uint64
	seen := false // a frame of this round was read (prevLast is its last)
	hdr := make([]byte, walHeaderSize)
	for off := int64(0); off+walHeaderSize <= size; {
		if _, err := r.ReadAt(hdr, off); err != nil {
			return nil, err
		}
		magic := string(hdr[:4])
		if magic != walMagic && magic != walMagicDocs {
			break
		}
		first := binary.BigEndian.Uint64(hdr[4:])
		count := binary.BigEndian.Uint32(hdr[12:])
		plen := int64(binary.BigEndian.Uint32(hdr[16:]))
		if first == 0 || (count == 0) != (plen == 0) || off+walHeaderSize+plen > size || (seen && first != prevLast+1) {
			break
		}
		payload := make([]byte, plen)
		if _, err := r.ReadAt(payload, off+walHeaderSize); err != nil {
			return nil, err
		}
		crc := crc32.Update(0, crcTable, hdr[:20])
		if crc32.Update(crc, crcTable, payload) != binary.BigEndian.Uint32(hdr[20:]) {
			break
		}
		recs, ok := splitFrame(first, count, payload, magic == walMagicDocs, docs)
		if !ok {
			break
		}
		for _, rec := range recs {
			if rec.seq <= head {
				continue
			}
			if want := head + 1 + uint64(len(out)); rec.seq != want {
				return nil, fmt.Errorf("%w: the write-ahead file continues at record %d, but the log ends at %d", ErrCorrupt, rec.seq, want-1)
			}
			out = append(out, rec)
		}
		// A frame of no records (written by Append() with none before the
		// writer skipped them) continues the round without records.
		prevLast, seen = first+uint64(count)-1, true
		off += walHeaderSize + plen
	}
	for i := range out {
		ref, err := SharedRef(out[i].enc)
		if err != nil {
			return nil, fmt.Errorf("the write-ahead file's record %d: %w", out[i].seq, err)
		}
		out[i].ref, out[i].doc = ref, docs[string(ref)]
	}
	return out, nil
}

// splitFrame splits a frame's payload into its records and, when withDocs,
// adds the signature documents after them to docs.
func splitFrame(first uint64, count uint32, p []byte, withDocs bool, docs map[string][]byte) ([]walRecord, bool) {
	recs := make([]walRecord, 0, count)
	for i := uint32(0); i < count; i++ {
		if len(p) < 4 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint32(p))
		if len(p)-4 < n {
			return nil, false
		}
		recs = append(recs, walRecord{seq: first + uint64(i), enc: p[4 : 4+n]})
		p = p[4+n:]
	}
	for withDocs && len(p) > 0 {
		if len(p) < 4 || len(p)-4 < int(binary.BigEndian.Uint32(p)) {
			return nil, false
		}
		n := int(binary.BigEndian.Uint32(p))
		d := p[4 : 4+n]
		sum := sha512.Sum512(d)
		docs[string(sum[:])] = d
		p = p[4+n:]
	}
	return recs, len(p) == 0
}

// putRecords stores recs (consecutive, continuing the head), the
// signature documents they refer to that the store does not have yet, one
// more reference to each, and the new head.
//
// blobSums is the writer's memory of blobs' digests (blobBatch), nil for
// none.
func putRecords(tx *bolt.Tx, recs []walRecord, blobSums map[string][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	b := tx.Bucket(bucketRecords)
	// Records are appended in sequence order, at the end: full pages, not
	// bbolt's default half-full ones (which would double the pages each
	// ingest writes for small records).
	b.FillPercent = 1
	refs := map[string]uint64{}
	docs := map[string][]byte{}
	bb := &blobBatch{sums: blobSums}
	for _, r := range recs {
		v, err := compactRecord(r.enc, bb)
		if err != nil {
			return fmt.Errorf("record %d: %w", r.seq, err)
		}
		if err := b.Put(seqKey(r.seq), v); err != nil {
			return err
		}
		if r.ref != nil {
			refs[string(r.ref)]++
			if r.doc != nil {
				docs[string(r.ref)] = r.doc
			}
		}
	}
	if err := addSigRefs(tx, refs, docs, bb); err != nil {
		return err
	}
	if err := putBlobs(tx, bb); err != nil {
		return err
	}
	last := recs[len(recs)-1]
	hash := last.hash
	if hash == nil {
		full, err := expandIn(tx, last.enc)
		if err != nil {
			return err
		}
		hash = Hash(full)
	}
	head := make([]byte, 0, 40)
	head = binary.BigEndian.AppendUint64(head, last.seq)
	head = append(head, hash...)
	return tx.Bucket(bucketMeta).Put(keyHead, head)
}

// recoverWAL ingests the records the write-ahead file at path holds beyond
// the head of db. It reports how many it moved.
func recoverWAL(db *bolt.DB, path string) (int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var n int
	err = db.Update(func(tx *bolt.Tx) error {
		recs, err := tailOf(tx, f, st.Size())
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketSigDocs, bucketSigRefs} { // a log from before them
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		n = len(recs)
		return putRecords(tx, recs, nil)
	})
	return n, err
}

// walTail reports whether the write-ahead file at path holds records that
// db does not.
func walTail(db *bolt.DB, path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	var tail bool
	err = db.View(func(tx *bolt.Tx) error {
		recs, err := tailOf(tx, f, st.Size())
		tail = len(recs) > 0
		return err
	})
	return tail, err
}

// tailOf reads the records of the write-ahead file beyond the store's head
// and checks that the first of them chains to it: a write-ahead file left
// beside another log (a restored or replaced messagelog.db) is refused, not
// added to it.
func tailOf(tx *bolt.Tx, r io.ReaderAt, size int64) ([]walRecord, error) {
	head, hash, err := storedHead(tx)
	if err != nil {
		return nil, err
	}
	recs, err := readWAL(r, size, head)
	if err != nil || len(recs) == 0 {
		return recs, err
	}
	first, err := decodeStored(recs[0].enc)
	if err != nil {
		return nil, fmt.Errorf("%w: the write-ahead file's record %d: %w", ErrCorrupt, recs[0].seq, err)
	}
	if !bytes.Equal(first.PrevHash, hash) {
		return nil, fmt.Errorf("%w: the write-ahead file's record %d does not chain to record %d of the log: it belongs to another log", ErrCorrupt, recs[0].seq, head)
	}
	return recs, nil
}

func storedHead(tx *bolt.Tx) (uint64, []byte, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, make([]byte, 32), nil
	}
	h := meta.Get(keyHead)
	if h == nil {
		return 0, make([]byte, 32), nil
	}
	if len(h) != 8+32 {
		return 0, nil, fmt.Errorf("%w: head is %d bytes", ErrCorrupt, len(h))
	}
	return binary.BigEndian.Uint64(h), append([]byte(nil), h[8:]...), nil
}
