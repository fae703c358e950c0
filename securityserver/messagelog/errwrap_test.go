package messagelog

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/testtool"

	bolt "go.etcd.io/bbolt"
)

// The errors a user meets opening or checking a log name the file and keep
// their cause for errors.Is.
func TestOpenErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "messagelog.db")
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bbolt file ", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		open func() error
		want string
		is   error
	}{
		{"open in a missing directory", func() error { _, err := Open(missing, Options{}); return err },
			"message log " + missing + ": open " + missing + ": no such file or directory", fs.ErrNotExist},
		{"open read-only a missing file", func() error { _, err := OpenReadOnly(missing); return err },
			"message log: stat " + missing + ": no such file or directory", fs.ErrNotExist},
		{"check a missing file", func() error { _, err := CheckFile(missing); return err },
			"message log: stat " + missing + ": no such file or directory", fs.ErrNotExist},
		{"open a file that is not a log", func() error { _, err := Open(garbage, Options{}); return err },
			"message log " + garbage + ": invalid database", bolt.ErrInvalid},
		{"check a file that is not a log", func() error { _, err := CheckFile(garbage); return err },
			"message log " + garbage + ": invalid database", bolt.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.open()
			testtool.WantError(t, err, tc.want, tc.is)
		})
	}
}

// A log whose buckets are missing is corrupt, and CheckFile says which file.
func TestCheckFileNamesACorruptLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = CheckFile(path)
	want := "message log " + path + ": corrupt message log record: not a message log (buckets missing)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("CheckFile: %v, want %q wrapping ErrCorrupt", err, want)
	}
}

// A second Open of a log in use says so and keeps bbolt's timeout.
func TestOpenInUseKeepsTheCause(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "message log "+path+" is in use by another process") || !errors.Is(err, bolt.ErrTimeout) {
		t.Fatalf("second Open: %v", err)
	}
}
