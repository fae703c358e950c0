package messagelog

import (
	"context"
	"crypto/sha512"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestQueueLen: appends that wait behind a slow commit show in QueueLen,
// and the queue drains to zero once the commit finishes.
func TestQueueLen(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "messagelog.db"), Options{WALSize: 8 << 10, IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if n := l.QueueLen(); n != 0 {
		t.Fatalf("QueueLen of an idle log = %d", n)
	}
	appendN(t, l, 3)
	base, _ := l.Head()
	// A record larger than the write-ahead file makes the writer move what
	// the file holds into the store first, which the test holds up as a slow
	// disk would.
	l.ingMu.Lock()
	var once sync.Once
	unblock := func() { once.Do(l.ingMu.Unlock) }
	t.Cleanup(unblock) // runs before Close (cleanups run last first), also when the test fails
	waitQueue := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for l.QueueLen() != want {
			if time.Now().After(deadline) {
				t.Fatalf("QueueLen = %d, want %d", l.QueueLen(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	appendOne := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := sample(i)
			r.Message = make([]byte, 16<<10)
			sum := sha512.Sum512(r.Message)
			r.MessageDigest = sum[:]
			if err := l.Append(context.Background(), r); err != nil {
				t.Error(err)
			}
		}()
	}
	// The writer takes a first append and blocks in its commit...
	appendOne(0)
	waitQueue(0)
	time.Sleep(100 * time.Millisecond) // from taking it to waiting for the commit lock
	// ...so that the next ones queue.
	const n = 5
	for i := range n {
		appendOne(1 + i)
	}
	waitQueue(n)
	unblock()
	wg.Wait()
	if got := l.QueueLen(); got != 0 {
		t.Fatalf("QueueLen after the appends returned = %d", got)
	}
	if seq, _ := l.Head(); seq != base+n+1 {
		t.Fatalf("head %d, want %d", seq, base+n+1)
	}
}
