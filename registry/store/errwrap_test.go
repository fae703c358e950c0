package store

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/testtool"

	bolt "go.etcd.io/bbolt"
)

// The errors of opening a store name its file and keep their cause.
func TestOpenErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir", "registry.db")
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bbolt file ", 4096)), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "az.db")
	st, err := Open(other, "AZ")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		path     string
		instance string
		want     string
		is       error
	}{
		{"missing directory", missing, "AZ", "registry store " + missing + ": open " + missing + ": no such file or directory", fs.ErrNotExist},
		{"not a store", garbage, "AZ", "registry store " + garbage + ": invalid database", bolt.ErrInvalid},
		{"in use", other, "AZ", "registry store " + other + " is in use by another process: timeout", bolt.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.path, tc.instance)
			testtool.WantError(t, err, tc.want, tc.is)
		})
	}
	st.Close()
	_, err = Open(other, "EE")
	if want := `registry store ` + other + `: it belongs to instance "AZ", not "EE"`; err == nil || err.Error() != want {
		t.Fatalf("another instance: %v, want %q", err, want)
	}
}
