package securityserver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/securityserver"
)

// TestNewClosesWhatItOpened: when a late step of New fails (here the
// message log, opened last), the stores and keys opened before it are
// closed again: the next New on the same data directory opens them at once
// instead of finding them locked by the failed attempt.
func TestNewClosesWhatItOpened(t *testing.T) {
	e := e2eNew(t)
	cfg := *e.agency("EMDK").Config
	cfg.DataDir = filepath.Join(t.TempDir(), "ss")
	blocker := filepath.Join(cfg.DataDir, securityserver.FileMessageLog)
	if err := os.MkdirAll(blocker, 0o700); err != nil { // a directory where the log file must go
		t.Fatal(err)
	}
	if _, err := securityserver.New(&cfg, nil); err == nil {
		t.Fatal("New succeeded with a directory in place of the message log")
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	srv, err := securityserver.New(&cfg, nil)
	if err != nil {
		if strings.Contains(err.Error(), "in use") {
			t.Fatalf("the failed New left a store open: %v", err)
		}
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}
