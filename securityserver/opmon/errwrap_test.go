package opmon_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/testtool"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/securityserver/opmon"
)

// The errors of opening the store name the file and keep their cause.
func TestOpenErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "opmon.db")
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bbolt file ", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	inUse := filepath.Join(dir, "opmon.db")
	s, err := opmon.Open(inUse, opmon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		path string
		want string
		is   error
	}{
		{missing, "opmon: " + missing + ": open " + missing + ": no such file or directory", fs.ErrNotExist},
		{garbage, "opmon: " + garbage + ": invalid database", bolt.ErrInvalid},
		{inUse, "opmon: " + inUse + " is in use by another process: timeout", bolt.ErrTimeout},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			_, err := opmon.Open(tc.path, opmon.Options{})
			testtool.WantError(t, err, tc.want, tc.is)
		})
	}
}
