package messagelog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// errPowerCut is what the write-ahead file answers after the power cut.
var errPowerCut = errors.New("power cut")

// powerFile is a fault-injecting layer under the write-ahead writer. Writes
// go to the real file (so the process sees them, as with the page cache);
// beside it the layer keeps the file's durable content: what it held when
// it was opened, plus every write a successful Datasync covered. A power
// cut (cutNow, or armed to strike in the next Datasync, after its write
// reached the page cache and before the sync) stops the disk: every later
// write and sync fails, and img is what the disk holds afterwards — the
// durable content, with the last unsynced write possibly torn to a prefix
// of whole 512-byte sectors. onCut runs at the same moment (the test
// copies the bbolt file there).
type powerFile struct {
	walFile
	mu      sync.Mutex
	durable []byte   // content as of the last successful sync
	pending []pwrite // written since, not yet synced
	off     bool     // the power is cut
	armed   bool     // cut in the next Datasync
	rnd     *rand.Rand
	onCut   func()
	done    chan struct{} // closed at the cut
	img     []byte
	torn    int // bytes of the last unsynced write that reached the disk
	dropped int // unsynced writes the cut lost (wholly or torn)
}

type pwrite struct {
	off  int64
	data []byte
}

func newPowerFile(t *testing.T, f walFile, rnd *rand.Rand) *powerFile {
	content, err := os.ReadFile(f.Name()) // zero-filled and synced by openWAL
	if err != nil {
		t.Fatal(err)
	}
	return &powerFile{walFile: f, durable: content, rnd: rnd, done: make(chan struct{})}
}

func (p *powerFile) WriteAt(b []byte, off int64) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.off {
		return 0, errPowerCut
	}
	n, err := p.walFile.WriteAt(b, off)
	p.pending = append(p.pending, pwrite{off, append([]byte(nil), b[:n]...)})
	return n, err
}

func (p *powerFile) Datasync() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.armed {
		p.cut()
	}
	if p.off {
		return errPowerCut
	}
	if err := p.walFile.Datasync(); err != nil {
		return err
	}
	for _, w := range p.pending {
		p.durable = apply(p.durable, w.off, w.data)
	}
	p.pending = p.pending[:0]
	return nil
}

func apply(img []byte, off int64, data []byte) []byte {
	if end := off + int64(len(data)); end > int64(len(img)) {
		img = append(img, make([]byte, end-int64(len(img)))...)
	}
	copy(img[off:], data)
	return img
}

// cutNow cuts the power between two syncs.
func (p *powerFile) cutNow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut()
}

// arm makes the next Datasync cut the power instead of syncing.
func (p *powerFile) arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = true
}

// cut stops the disk; p.mu is held.
func (p *powerFile) cut() {
	if p.off {
		return
	}
	p.off = true
	p.img = append([]byte(nil), p.durable...)
	p.dropped = len(p.pending)
	if n := len(p.pending); n > 0 && p.rnd.IntN(2) == 0 {
		w := p.pending[n-1]
		p.torn = p.rnd.IntN(len(w.data)/512+1) * 512
		p.img = apply(p.img, w.off, w.data[:p.torn])
	}
	p.onCut()
	close(p.done)
}

// TestPowerCut: many appenders, the power fails at a random moment, and
// every write the write-ahead file did not sync is lost (the last one
// possibly torn). SIGKILL tests keep the page cache; this one does not.
// After reopening, every acknowledged record is there exactly once and the
// chain verifies; a record that was not acknowledged may be there or not,
// but never in part.
//
// bbolt's own fsync ordering is the subject of bbolt's robustness tests
// (dm-flakey); here the bbolt file is taken as of its last completed
// commit: in "no ingest" the ingester never runs (the file is as Open left
// it, synced), in "ingesting" it runs every few milliseconds and the
// write-ahead file is small enough to be reused many times, and the copy
// is made while holding the ingest lock (every write to the bbolt file
// after Open is an ingest's transaction, which returns only after bbolt's
// fsyncs), at the same moment as the cut.
func TestPowerCut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		rounds int
	}{
		{"no ingest", Options{IngestInterval: time.Hour}, 6},
		{"ingesting", Options{IngestInterval: 3 * time.Millisecond, WALSize: 32 << 10}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range tc.rounds {
				powerCutRound(t, tc.opts, uint64(round))
			}
		})
	}
}

func powerCutRound(t *testing.T, opts Options, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 14))
	path := filepath.Join(t.TempDir(), "messagelog.db")
	var pf *powerFile
	opts.wrapWAL = func(f walFile) walFile { pf = newPowerFile(t, f, rnd); return pf }
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Many appenders, each record with its own message ID.
	const workers = 16
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		tried atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := sample(w*1_000_000 + i)
				tried.Add(1)
				if l.Append(context.Background(), r) == nil {
					mu.Lock()
					acked[r.MessageID] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Duration(20+rnd.IntN(60)) * time.Millisecond)

	// The power fails: the write-ahead file keeps only what was synced;
	// the bbolt file is as of its last completed commit.
	var dbimg []byte
	var inStore uint64 // records the bbolt copy holds
	pf.onCut = func() {
		l.ingMu.Lock()
		defer l.ingMu.Unlock()
		if dbimg, err = os.ReadFile(path); err != nil {
			t.Error(err)
		}
		l.db.View(func(tx *bolt.Tx) error { inStore, _, err = storedHead(tx); return err })
	}
	if rnd.IntN(2) == 0 {
		pf.cutNow()
	} else {
		pf.arm() // the appenders keep a commit coming
	}
	<-pf.done
	wimg, torn := pf.img, pf.torn
	close(stop)
	wg.Wait()
	abandon(t, l)
	if err := os.WriteFile(walPath(path), wimg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, dbimg, 0o600); err != nil {
		t.Fatal(err)
	}

	l, err = Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatalf("reopening after the power cut (torn write %d bytes): %v", torn, err)
	}
	defer l.Close()
	seen := map[string]int{}
	if err := l.Each(1, func(r *Record, _ []byte) error {
		seen[r.MessageID]++
		var i int
		if _, err := fmt.Sscanf(r.MessageID, "id-%d", &i); err != nil {
			return fmt.Errorf("record %d: message ID %q", r.Seq, r.MessageID)
		}
		if want := sample(i); !bytes.Equal(r.Message, want.Message) || !bytes.Equal(r.Signature, want.Signature) {
			return fmt.Errorf("record %d (%s) is not the record appended", r.Seq, r.MessageID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s is in the log %d times", id, n)
		}
	}
	lost := 0
	for id := range acked {
		if seen[id] != 1 {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records are missing after the power cut (torn write %d bytes, %d in the log)", lost, len(acked), torn, len(seen))
	}
	res, err := l.Check()
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Records != len(seen) {
		t.Fatalf("check after the power cut: %d records, problems %v; %d read", res.Records, res.Problems, len(seen))
	}
	if len(acked) == 0 {
		t.Fatalf("no append was acknowledged before the cut (%d tried)", tried.Load())
	}
	t.Logf("seed %d: %d acknowledged (bbolt copy up to record %d), %d in the log after the cut; %d unsynced writes lost, %d bytes of the last kept", seed, len(acked), inStore, len(seen), pf.dropped, torn)
}
