package acl_test

import (
	"path/filepath"
	"testing"

	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/acl/acltest"
)

func TestConformance(t *testing.T) {
	acltest.Run(t, func(t *testing.T) (acl.Rules, acl.Rules) {
		path := filepath.Join(t.TempDir(), "acl.db")
		a, err := acl.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := acl.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	})
}
