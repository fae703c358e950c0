package pgacl_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/registry/identifier"
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

// TestDatabaseGone: while the database cannot be reached, a Checker
// answers from the rules it loaded (the log on the same database refuses
// the exchanges meanwhile), and sees changes again once it is back.
func TestDatabaseGone(t *testing.T) {
	dsn := testtool.Postgres(t)
	st, err := pgacl.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin")
	emdk, _ := acl.ParseSubject("AZ/GOV/EMDK/realestate")
	dsmf, _ := acl.ParseSubject("AZ/GOV/DSMF/insurance")
	if _, err := st.Grant(svc, emdk, "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	chk, err := acl.NewChecker(st)
	if err != nil {
		t.Fatal(err)
	}
	chk.ReloadEvery = 0
	restore := testtool.CutOff(t, dsn)
	if _, err := st.Stamp(); !errors.Is(err, acl.ErrUnreachable) {
		t.Fatalf("Stamp with the database gone: %v, want ErrUnreachable", err)
	}
	if ok, err := chk.Allowed(svc, emdk.Client, nil); !ok || err != nil {
		t.Fatalf("granted client with the database gone: %v, %v; want the loaded rules' answer", ok, err)
	}
	if ok, err := chk.Allowed(svc, dsmf.Client, nil); ok || err != nil {
		t.Fatalf("client without a right, database gone: %v, %v", ok, err)
	}
	restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := st.Grant(svc, dsmf, "admin", time.Now())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ok, err := chk.Allowed(svc, dsmf.Client, nil); !ok || err != nil {
		t.Fatalf("right granted after the database came back: %v, %v", ok, err)
	}
}
