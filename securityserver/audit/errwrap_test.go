package audit_test

import (
	"archive/zip"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"

	"github.com/sluz/sluz/securityserver/audit"
)

// The errors of reading containers and archive directories name the file
// and keep their cause for errors.Is.
func TestFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.asice")
	notZip := filepath.Join(dir, "not-a-zip.asice")
	if err := os.WriteFile(notZip, []byte("not a zip file"), 0o600); err != nil {
		t.Fatal(err)
	}
	archives := filepath.Join(dir, "archives")
	if err := os.Mkdir(archives, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(archives, "x-20260101T000000Z-1-2.zip"), []byte("not a zip file"), 0o600); err != nil {
		t.Fatal(err)
	}
	noDir := filepath.Join(dir, "no-such-dir")
	for _, tc := range []struct {
		name string
		run  func() error
		want string
		is   error
	}{
		{"proof of a missing container", func() error { _, err := audit.CheckContainerProof(missing); return err },
			"container " + missing + ": open " + missing + ": no such file or directory", fs.ErrNotExist},
		{"proof of a file that is not a zip", func() error { _, err := audit.CheckContainerProof(notZip); return err },
			"container " + notZip + ": zip: not a valid zip file", zip.ErrFormat},
		{"archive directory with a file that is not a zip", func() error { _, err := audit.OpenArchiveDir(archives); return err },
			"x-20260101T000000Z-1-2.zip is not a Şlüz message log archive (not a readable zip: zip: not a valid zip file): remove it from " + archives +
				", or run `logaudit verify --archives` if it should be one", zip.ErrFormat},
		{"retention in a missing directory", func() error { _, err := audit.RetireOldest(noDir, time.Now(), time.Now()); return err },
			"retention: open " + noDir + ": no such file or directory", fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			testtool.WantError(t, err, tc.want, tc.is)
		})
	}
}
