package messagelog

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestQueueLen: appends that wait behind a slow commit show in QueueLen,
// and the queue drains to zero once the commit finishes.
func TestQueueLen(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "messagelog.db"))
	t.Cleanup(func() { l.Close() })
	if n := l.QueueLen(); n != 0 {
		t.Fatalf("QueueLen of an idle log = %d", n)
	}
	// A write transaction of our own stands in for a slow fsync: the
	// writer's commit waits for it.
	release, held := make(chan struct{}), make(chan struct{})
	go l.db.Update(func(*bolt.Tx) error {
		close(held)
		<-release
		return nil
	})
	<-held
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
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
			if err := l.Append(context.Background(), sample(i)); err != nil {
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
	if seq, _ := l.Head(); seq != n+1 {
		t.Fatalf("head %d, want %d", seq, n+1)
	}
}
