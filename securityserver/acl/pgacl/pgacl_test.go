package pgacl_test

import (
	"context"
	"testing"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/acl/acltest"
	"github.com/sluz/sluz/securityserver/acl/pgacl"
)

func TestConformance(t *testing.T) {
	acltest.Run(t, func(t *testing.T) (acl.Rules, acl.Rules) {
		dsn := testtool.Postgres(t)
		var out [2]acl.Rules
		for i := range out {
			s, err := pgacl.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			out[i] = s
		}
		return out[0], out[1]
	})
}
