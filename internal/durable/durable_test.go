package durable

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// WriteFile's errors name the file it was asked to write, not only its
// temporary file, and keep their cause.
func TestWriteFileNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "key.pem")
	for _, overwrite := range []bool{false, true} {
		err := WriteFile(path, []byte("x"), 0o600, overwrite)
		if err == nil || !strings.HasPrefix(err.Error(), "write "+path+": open ") || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("overwrite %v: %v, want it to start %q and wrap fs.ErrNotExist", overwrite, err, "write "+path+": open ")
		}
	}
}
