package acl

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/testtool"

	bolt "go.etcd.io/bbolt"
)

// The errors of a rights file that cannot be used name the file and keep
// their cause for errors.Is.
func TestFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "acl.db")
	if err := os.WriteFile(corrupt, []byte(strings.Repeat("not a bbolt file ", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such-dir", "acl.db")
	removed := filepath.Join(dir, "removed.db")
	for _, tc := range []struct {
		name string
		run  func() error
		want string
		is   error
	}{
		{"open a corrupt file", func() error { _, err := Open(corrupt); return err },
			"access rights " + corrupt + ": invalid database", bolt.ErrInvalid},
		{"list a corrupt file", func() error { _, err := (&Store{path: corrupt}).List(); return err },
			"access rights " + corrupt + ": invalid database", bolt.ErrInvalid},
		{"open in a missing directory", func() error { _, err := Open(missing); return err },
			"access rights " + missing + ": open " + missing + ": no such file or directory", fs.ErrNotExist},
		{"check a removed file", func() error {
			s, err := Open(removed)
			if err != nil {
				return err
			}
			if err := os.Remove(removed); err != nil {
				return err
			}
			_, err = NewChecker(s)
			return err
		}, "access rights " + removed + ": stat " + removed + ": no such file or directory", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			testtool.WantError(t, err, tc.want, tc.is)
		})
	}
}
