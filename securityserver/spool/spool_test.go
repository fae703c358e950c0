package spool_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluz/sluz/securityserver/spool"
)

// TestCopy: a short content stays in memory, a long one goes to a file;
// both read back byte-exact, as often as asked, with their SHA-512; a
// stream over the limit is refused; Close removes the files.
func TestCopy(t *testing.T) {
	dir := t.TempDir()
	set := spool.NewSet(dir)
	for _, n := range []int{0, 1, spool.InMemory, spool.InMemory + 1, 3 << 20} {
		data := make([]byte, n)
		rand.Read(data)
		c, err := set.Copy(bytes.NewReader(data), 3<<20)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		sum := sha512.Sum512(data)
		if c.Size() != int64(n) || !bytes.Equal(c.Digest(), sum[:]) || c.InFile() != (n > spool.InMemory) || (c.Path() != "") != c.InFile() {
			t.Fatalf("%d bytes: size %d, in file %v, path %q", n, c.Size(), c.InFile(), c.Path())
		}
		for range 2 {
			got, err := io.ReadAll(c.Reader())
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d bytes: read back %d, %v", n, len(got), err)
			}
		}
		if all, err := c.ReadAll(); err != nil || !bytes.Equal(all, data) {
			t.Fatalf("%d bytes: ReadAll %d, %v", n, len(all), err)
		}
	}
	if _, err := set.Copy(bytes.NewReader(make([]byte, 100<<10)), 100<<10-1); !errors.Is(err, spool.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := set.Copy(bytes.NewReader(make([]byte, 100)), 99); !errors.Is(err, spool.ErrTooLarge) {
		t.Fatalf("over a limit below InMemory: %v", err)
	}
	if c, err := set.Copy(bytes.NewReader(make([]byte, 100<<10)), 100<<10); err != nil || c.Size() != 100<<10 {
		t.Fatalf("exactly at the limit: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 4 { // 65537, 3 MiB, the refused one, 100 KiB
		t.Fatalf("spooled files %v", files)
	}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Fatalf("left after Close: %v", files)
	}
}

// TestClean removes the spool files a dead process left, and nothing else.
func TestClean(t *testing.T) {
	dir := t.TempDir()
	set := spool.NewSet(dir)
	if _, err := set.Copy(bytes.NewReader(make([]byte, 1<<20)), -1); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "keep.txt")
	os.WriteFile(other, []byte("DİN"), 0o600)
	if err := spool.Clean(dir); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 1 || files[0] != other {
		t.Fatalf("after Clean: %v", files)
	}
	if err := spool.Clean(filepath.Join(dir, "missing")); err != nil {
		t.Fatal(err)
	}
}
