package messagelog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestWALEmptyAppendKeepsLaterRecords: an Append with no records is
// acknowledged like any other; it must not leave anything in the
// write-ahead file that stops recovery before the records acknowledged
// after it.
func TestWALEmptyAppendKeepsLaterRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l, 0, 2)
	if err := l.Append(context.Background()); err != nil { // e.g. recs... of an empty slice
		t.Fatal(err)
	}
	appendFrom(t, l, 2, 3) // acknowledged, only in the write-ahead file
	seq, _ := l.Head()
	abandon(t, l)
	if n := storedCount(t, path); n != seq {
		t.Fatalf("a killed server's log shows %d records, %d were acknowledged", n, seq)
	}
	l, err = Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if s, _ := l.Head(); s != seq {
		t.Fatalf("after recovery the head is %d, %d records were acknowledged", s, seq)
	}
}

// TestReadWALEmptyFrame: a write-ahead file written before the writer
// skipped empty appends can hold a frame of no records between
// acknowledged frames; recovery reads on past it.
func TestReadWALEmptyFrame(t *testing.T) {
	w := &wal{}
	rec := func(seq uint64) walRecord { return walRecord{seq: seq, enc: []byte(fmt.Sprintf("record %d", seq))} }
	var file []byte
	for _, f := range []struct {
		first uint64
		recs  []walRecord
	}{{1, []walRecord{rec(1), rec(2)}}, {3, nil}, {3, []walRecord{rec(3)}}} {
		b, err := w.frame(f.first, f.recs)
		if err != nil {
			t.Fatal(err)
		}
		file = append(file, b...)
	}
	file = append(file, make([]byte, 100)...)
	got, err := readWAL(bytesReaderAt(file), int64(len(file)), 0)
	if err != nil || len(got) != 3 || got[2].seq != 3 {
		t.Fatalf("readWAL = %d records, %v; want 3", len(got), err)
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, fmt.Errorf("EOF")
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, fmt.Errorf("short")
	}
	return n, nil
}

// TestWALDirectorySynced: opening the log syncs the directory even when
// the write-ahead file already has its full size (a process killed between
// filling it and syncing the directory left it so): otherwise the records
// appended to it may vanish with its directory entry in a power loss.
func TestWALDirectorySynced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "messagelog.db")
	opts := Options{WALSize: 64 << 10}
	// What the killed process left: a zero-filled write-ahead file.
	if err := os.WriteFile(walPath(path), make([]byte, opts.WALSize), 0o600); err != nil {
		t.Fatal(err)
	}
	var synced []string
	orig := syncDir
	syncDir = func(d string) error { synced = append(synced, d); return orig(d) }
	defer func() { syncDir = orig }()
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !slices.Contains(synced, dir) {
		t.Fatalf("Open synced directories %q, not %s", synced, dir)
	}
}

// TestStoreRecoveryClearsLastError: an append refused because the store
// failed records that error after its commit; if the ingester's next
// move succeeds in between (space returned), nothing is left to move and
// no append may come (a load balancer stopped sending): LastError must
// still turn nil by itself.
func TestStoreRecoveryClearsLastError(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "messagelog.db"), Options{IngestInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendFrom(t, l, 0, 1)
	l.Flush()
	// A record before the store fails: appended now, because once the
	// ingester (every 10 ms) has met the bad batch below, appends are
	// refused, and that may happen before the next line runs.
	appendFrom(t, l, 1, 1)
	// The store refuses (a queued batch it cannot take stands for a full disk).
	l.ingMu.Lock()
	l.pendMu.Lock()
	l.pendBatches = append(l.pendBatches, &Batch{N: 7, FirstSeq: 99, LastSeq: 99})
	l.pendMu.Unlock()
	l.ingMu.Unlock()
	if err := l.Flush(); err == nil {
		t.Fatal("the store took a batch that does not continue")
	}
	refused := l.Append(context.Background(), sample(2))
	if !errors.Is(refused, errStore) {
		t.Fatalf("append while the store fails: %v", refused)
	}
	// Space returns: the ingester moves everything ...
	l.ingMu.Lock()
	l.pendMu.Lock()
	l.pendBatches = nil
	l.pendMu.Unlock()
	l.ingMu.Unlock()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	// ... just before the writer records the refused append's error.
	l.group.setLastError(refused)
	deadline := time.Now().Add(2 * time.Second)
	for l.LastError() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("LastError still %v with the store healthy and nothing waiting", l.LastError())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPruneReadOnlyRefused: a killed server's log opened read-only is a
// private copy with the write-ahead records added; pruning it must fail,
// not report success while the real log keeps the records.
func TestPruneReadOnlyRefused(t *testing.T) {
	stamp := stamper(t)
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3)
	b := stamp(l)
	a := anchorAt(t, l, b) // (stores the batch)
	appendN(t, l, 2)       // only in the write-ahead file
	abandon(t, l)
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Prune(make([]byte, 32), a); err == nil {
		if n := storedCount(t, path); n == 5 {
			t.Fatal("Prune of a read-only log reported success; the log still holds the records")
		}
	}
}

// TestWALFrameOver4GiB: a frame's payload length has 4 bytes. A group of
// records larger than that (up to 512 appends of 10 MiB messages) used to
// be written with a truncated length, synced and acknowledged, and then
// recovery dropped it (its CRC did not match what the length delimits).
// Now the group is refused before anything is written. (Before the fix
// this test needed over 8 GiB of memory; now the 4 GiB record below is
// never touched, so the operating system does not back it.)
func TestWALFrameOver4GiB(t *testing.T) {
	w := &wal{}
	huge := walRecord{seq: 1, enc: make([]byte, 1<<32)}
	if f, err := w.frame(1, []walRecord{huge}); err == nil {
		got, _ := readWAL(bytesReaderAt(f), int64(len(f)), 0)
		t.Fatalf("a %d-byte frame was built; recovery reads %d records of it", len(f), len(got))
	}
}
