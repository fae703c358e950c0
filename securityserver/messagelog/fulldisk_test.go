package messagelog

import (
	"context"
	"crypto/sha512"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFullDisk: on a full file system appends fail with an error (which the
// proxies turn into a fault), nothing already logged is damaged, and once
// space returns the log goes on and its chain checks out.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "messagelog.db")
	l, err := Open(path, Options{WALSize: 256 << 10, IngestInterval: 20 * time.Millisecond}) // the write-ahead file must fit on the 4 MiB file system
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 20 {
		if err := l.Append(context.Background(), sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Fill the rest of the file system.
	filler := filepath.Join(dir, "filler")
	f, _ := os.Create(filler)
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			break
		}
	}
	f.Close()
	var failed error
	for i := 0; i < 200 && failed == nil; i++ { // the file has some free pages left; use them up
		big := sample(100 + i)
		big.Message = make([]byte, 32<<10)
		sum := sha512.Sum512(big.Message)
		big.MessageDigest = sum[:]
		failed = l.Append(context.Background(), big)
	}
	if failed == nil {
		t.Fatal("appends kept succeeding on a full file system")
	}
	t.Logf("append on a full disk: %v", failed)
	seqBefore, _ := l.Head()
	res, err := l.Check()
	if err != nil || !res.OK() {
		t.Fatalf("log after the failed append: %+v %v", res, err)
	}
	if l.LastError() == nil {
		t.Fatal("LastError is nil on a full disk")
	}
	// Space returns: the log recovers by itself (no append needed, as a
	// server a load balancer stopped sending to must turn ready again),
	// continues, and the chain holds.
	os.Remove(filler)
	deadline := time.Now().Add(10 * time.Second)
	for l.LastError() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("LastError still %v after space returned", l.LastError())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := l.Append(context.Background(), sample(999)); err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	res, err = l.Check()
	if err != nil || !res.OK() || res.LastSeq != seqBefore+1 {
		t.Fatalf("log after recovery: %+v %v (head was %d)", res, err, seqBefore)
	}
}
