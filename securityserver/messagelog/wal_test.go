package messagelog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// abandon stops l the way a killed process does: nothing more is moved
// from the write-ahead file into the store.
func abandon(t *testing.T, l *Log) {
	t.Helper()
	l.group.Close()
	close(l.stop)
	<-l.ingDone
	l.wal.close()
	l.db.Close()
}

func appendFrom(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.Append(context.Background(), sample(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func storedCount(t *testing.T, path string) uint64 {
	t.Helper()
	l, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var n uint64
	if err := l.Each(1, func(*Record, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWALRecoversAfterKill: records acknowledged by Append but not yet moved
// into the store survive the process dying: an auditor's read-only open
// sees them (without changing the file), and the next Open moves them in.
func TestWALRecoversAfterKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l, 0, 30)
	if err := l.Flush(); err != nil { // the first 30 reach the store
		t.Fatal(err)
	}
	appendFrom(t, l, 30, 25) // these stay in the write-ahead file only
	seq, head := l.Head()
	abandon(t, l)

	before, _ := os.ReadFile(path)
	res, err := CheckFile(path)
	if err != nil || !res.OK() || res.LastSeq != 55 || string(res.Head) != string(head) {
		t.Fatalf("CheckFile of a killed server's log: %+v, %v; want 55 records ending in the head", res, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("reading a killed server's log changed its file")
	}
	if n := storedCount(t, path); n != 55 {
		t.Fatalf("OpenReadOnly sees %d records, want 55", n)
	}

	l, err = Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if s, h := l.Head(); s != seq || string(h) != string(head) {
		t.Fatalf("reopened head %d, want %d", s, seq)
	}
	appendFrom(t, l, 55, 5)
	res, err = l.Check()
	if err != nil || !res.OK() || res.LastSeq != 60 {
		t.Fatalf("after reopening and appending: %+v, %v", res, err)
	}
	l.Close()
}

// TestWALTornFrame: a frame damaged mid-write (never acknowledged) ends
// recovery; the frames before it are kept.
func TestWALTornFrame(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l, 0, 10)
	lastFrame := l.wal.lastAt
	abandon(t, l)
	f, err := os.OpenFile(walPath(path), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("torn"), lastFrame+walHeaderSize+10)
	f.Close()
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	res, err := l.Check()
	if err != nil || !res.OK() || res.LastSeq != 9 {
		t.Fatalf("after a torn last frame: %+v, %v; want records 1..9", res, err)
	}
}

// TestWALWrapsAround: a small write-ahead file is reused round after round;
// frames of earlier rounds never come back as records.
func TestWALWrapsAround(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	opts := Options{WALSize: 4 << 10, IngestInterval: time.Hour}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l, 0, 200) // ≈ 300 bytes a record: many rounds
	abandon(t, l)
	if n := storedCount(t, path); n != 200 {
		t.Fatalf("read-only open sees %d records, want 200", n)
	}
	l, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l, 200, 3)
	res, err := l.Check()
	if err != nil || !res.OK() || res.LastSeq != 203 {
		t.Fatalf("%+v, %v", res, err)
	}
	l.Close()
	if n := storedCount(t, path); n != 203 {
		t.Fatalf("after a clean stop %d records, want 203", n)
	}
}

// TestWALGap: a write-ahead file that does not continue the store (the
// store was replaced by an older copy) is refused, not silently skipped.
func TestWALGap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "messagelog.db")
	l, err := Open(path, Options{WALSize: 4 << 10, IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l, 0, 5)
	l.Flush()
	old, _ := os.ReadFile(path)
	appendFrom(t, l, 5, 100) // several rounds of the write-ahead file
	abandon(t, l)
	os.WriteFile(path, old, 0o600) // the store back at record 5; the file's round starts much later
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "but the log ends at 5") {
		t.Fatalf("Open with a gap before the write-ahead records: %v", err)
	}
}

// TestEncodedSizeBounds: the writer sizes each record's buffer once.
func TestEncodedSizeBounds(t *testing.T) {
	r := sample(7)
	r.Seq, r.PrevHash, r.Time = 1<<60, make([]byte, 32), time.Now()
	r.Message = make([]byte, 200<<10)
	buf := make([]byte, 0, r.encodedSize())
	if enc := r.encode(buf); len(enc) > cap(buf) || &enc[0] != &buf[:1][0] {
		t.Fatalf("encoding is %d bytes, over the %d reserved", len(enc), cap(buf))
	}
}

// TestAppendsDoNotWaitForTheStore: while the bbolt file is busy in a long
// write transaction (a time-stamp batch being stored, records moving in),
// appends still complete: they only need the write-ahead file. This is why
// closing a time-stamp batch does not stall exchanges.
func TestAppendsDoNotWaitForTheStore(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "messagelog.db"), Options{IngestInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendFrom(t, l, 0, 3)
	inTx, release := make(chan struct{}), make(chan struct{})
	go l.db.Update(func(*bolt.Tx) error { // holds the store's writer lock until released
		close(inTx)
		<-release
		return nil
	})
	<-inTx
	done := make(chan error, 1)
	go func() {
		for i := 3; i < 103; i++ {
			if err := l.Append(context.Background(), sample(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("appends waited for the store's write transaction")
	}
	close(release)
	if res, err := l.Check(); err != nil || !res.OK() || res.LastSeq != 103 {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestQueuedBatches: a batch waits for the next move into the store, the
// time-stamper does not offer its records again meanwhile, readers see it,
// and a batch lost with a killed process leaves its records to be stamped
// again.
func TestQueuedBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l, 0, 6)
	first, last, _, err := l.Pending()
	if err != nil || first != 1 || last != 6 {
		t.Fatalf("pending %d..%d %v", first, last, err)
	}
	batch := func(first, last uint64) *Batch {
		lv, err := l.Leaves(first, last)
		if err != nil {
			t.Fatal(err)
		}
		return &Batch{FirstSeq: first, LastSeq: last, Root: MerkleRoot(lv), Token: []byte("token")}
	}
	if err := l.AddBatch(batch(1, 4)); err != nil {
		t.Fatal(err)
	}
	if f, _, _, _ := l.PendingStored(); f != 5 {
		t.Fatalf("after a queued batch over 1..4 pending starts at %d", f)
	}
	if err := l.AddBatch(batch(3, 6)); err == nil {
		t.Fatal("an overlapping batch was accepted")
	}
	if err := l.AddBatch(batch(5, 6)); err != nil {
		t.Fatal(err)
	}
	abandon(t, l) // both batches were only queued
	l, err = Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if f, la, _, _ := l.Pending(); f != 1 || la != 6 {
		t.Fatalf("after losing the queued batches pending %d..%d, want 1..6", f, la)
	}
	if err := l.AddBatch(batch(1, 6)); err != nil {
		t.Fatal(err)
	}
	bs, err := l.Batches()
	if err != nil || len(bs) != 1 || bs[0].N != 1 || bs[0].LastSeq != 6 {
		t.Fatalf("batches %+v %v", bs, err)
	}
	if res, err := l.Check(); err != nil || res.Batches != 1 || res.Stamped != 6 { // (the token here is not a real one)
		t.Fatalf("%+v %v", res, err)
	}
}

// TestCommitInterval: with a least time between group commits, appends
// arriving one after another within it share the next commit (one
// fdatasync) instead of taking one each.
func TestCommitInterval(t *testing.T) {
	commits := func(interval time.Duration) int64 {
		l, err := Open(filepath.Join(t.TempDir(), "messagelog.db"), Options{CommitInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		appendFrom(t, l, 0, 1) // with the interval, the next commit waits for it to pass
		before := l.commits.Load()
		var wg sync.WaitGroup
		for i := range 10 { // one every 8 ms: each finds the writer idle
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.Append(context.Background(), sample(1+i)); err != nil {
					t.Error(err)
				}
			}()
			time.Sleep(8 * time.Millisecond)
		}
		wg.Wait()
		if res, err := l.Check(); err != nil || !res.OK() || res.LastSeq != 11 {
			t.Fatalf("%+v %v", res, err)
		}
		return l.commits.Load() - before
	}
	without, with := commits(0), commits(200*time.Millisecond)
	t.Logf("10 appends 8 ms apart: %d commits without an interval, %d with 200 ms", without, with)
	if with > 2 || with >= without {
		t.Fatalf("with a 200 ms commit interval %d commits (without: %d)", with, without)
	}
}

// TestWALOfAnotherLog: a write-ahead file left beside a different log is
// refused instead of being added to it, when the two chains differ (a
// fresh, empty log cannot tell: every chain starts from zeros).
func TestWALOfAnotherLog(t *testing.T) {
	path2 := filepath.Join(t.TempDir(), "messagelog.db")
	l2, err := Open(path2, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l2, 100, 1)
	l2.Flush()
	appendFrom(t, l2, 101, 2) // records 2..3 in its write-ahead file
	abandon(t, l2)
	l3path := filepath.Join(t.TempDir(), "messagelog.db")
	l3, err := Open(l3path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l3, 200, 1) // another log's record 1
	l3.Close()
	data, _ := os.ReadFile(l3path)
	os.WriteFile(path2, data, 0o600) // path2's write-ahead file (records 2..3) beside l3's store (record 1)
	if _, err := Open(path2, Options{}); err == nil || !strings.Contains(err.Error(), "belongs to another log") {
		t.Fatalf("Open with another log's write-ahead file: %v", err)
	}
	if _, err := CheckFile(path2); err == nil || !strings.Contains(err.Error(), "belongs to another log") {
		t.Fatalf("CheckFile with another log's write-ahead file: %v", err)
	}
}

// TestLeavesCache: the chain hashes the writer keeps for time-stamping are
// those of the stored records (what a reopened log reads back), and a
// batch drops the ones it covers.
func TestLeavesCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendFrom(t, l, 0, 9)
	cached, ok := l.cachedLeaves(2, 8, false)
	if !ok {
		t.Fatal("no cached leaves for records the log just appended")
	}
	l.Flush()
	var stored [][]byte
	l.db.View(func(tx *bolt.Tx) error { stored, err = leaves(tx, 2, 8); return err })
	if err != nil || len(stored) != len(cached) {
		t.Fatalf("stored leaves %d %v", len(stored), err)
	}
	for i := range stored {
		if !bytes.Equal(stored[i], cached[i]) {
			t.Fatalf("leaf %d: cached %x, stored %x", 2+i, cached[i], stored[i])
		}
	}
	lv, _ := l.Leaves(1, 5)
	if err := l.AddBatch(&Batch{FirstSeq: 1, LastSeq: 5, Root: MerkleRoot(lv), Token: []byte("t")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.cachedLeaves(5, 6, false); ok {
		t.Error("leaves of stamped records still cached")
	}
	if _, ok := l.cachedLeaves(6, 9, false); !ok {
		t.Error("leaves of unstamped records dropped")
	}
	l.Close()
	l, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, ok := l.cachedLeaves(6, 9, false); ok {
		t.Fatal("a reopened log has cached leaves")
	}
	if lv, err := l.Leaves(6, 9); err != nil || len(lv) != 4 || !bytes.Equal(lv[0], stored[4]) {
		t.Fatalf("leaves from the store after reopening: %d %v", len(lv), err)
	}
}
