package messagelog_test

import (
	"path/filepath"
	"testing"

	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// TestConformance: the bbolt log keeps every promise of a message log store.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Open {
		path := filepath.Join(t.TempDir(), "messagelog.db")
		return func() (storetest.Store, error) { return messagelog.Open(path, messagelog.Options{}) }
	})
}
