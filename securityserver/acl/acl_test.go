package acl

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluz/sluz/registry/identifier"
)

func mustService(t *testing.T, s string) identifier.ServiceID {
	t.Helper()
	id, err := identifier.ParseService(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustSubject(t *testing.T, s string) Subject {
	t.Helper()
	sub, err := ParseSubject(s)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func TestGrantCheckRevoke(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "acl.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := mustService(t, "AZ/GOV/DIN/population/getPersonByFin/v1")
	emdk := mustSubject(t, "AZ/GOV/EMDK/realestate")
	group := mustSubject(t, "group:AZ/state-agencies")
	now := time.Now()
	if _, err := st.Grant(svc, emdk, "admin", now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Grant(mustService(t, "AZ/GOV/DIN/population/getPersonByFin/v2"), emdk, "admin", now); !errors.Is(err, ErrExists) {
		t.Fatalf("grant for another version of the same service: %v, want ErrExists (rights ignore the version)", err)
	}
	chk, err := NewChecker(st)
	if err != nil {
		t.Fatal(err)
	}
	chk.ReloadEvery = 0 // see every change at once
	client := func(s string) identifier.Client { return mustSubject(t, s).Client }
	dsmfInGroup := func(g identifier.GlobalGroupID, c identifier.Client) bool {
		return g.String() == "AZ/state-agencies" && c.String() == "AZ/GOV/DSMF/insurance"
	}
	cases := []struct {
		client, service string
		want            bool
	}{
		{"AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", true},
		{"AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v9", true}, // any version
		{"AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin", true},
		{"AZ/GOV/EMDK", "AZ/GOV/DIN/population/getPersonByFin/v1", false},           // the member is not its subsystem
		{"AZ/GOV/EMDK/other", "AZ/GOV/DIN/population/getPersonByFin/v1", false},     // nor another subsystem
		{"AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPassport/v1", false},   // another service
		{"AZ/GOV/DSMF/insurance", "AZ/GOV/DIN/population/getPersonByFin/v1", false}, // group not granted yet
	}
	for _, tc := range cases {
		got, err := chk.Allowed(mustService(t, tc.service), client(tc.client), dsmfInGroup)
		if err != nil || got != tc.want {
			t.Errorf("%s -> %s: %v, %v; want %v", tc.client, tc.service, got, err, tc.want)
		}
	}
	if _, err := st.Grant(svc, group, "admin", now); err != nil {
		t.Fatal(err)
	}
	if ok, _ := chk.Allowed(svc, client("AZ/GOV/DSMF/insurance"), dsmfInGroup); !ok {
		t.Error("group member refused after the group was granted")
	}
	if err := st.Revoke(svc, emdk); err != nil {
		t.Fatal(err)
	}
	if ok, _ := chk.Allowed(svc, client("AZ/GOV/EMDK/realestate"), dsmfInGroup); ok {
		t.Error("client still allowed after revocation")
	}
	if err := st.Revoke(svc, emdk); !errors.Is(err, ErrNotFound) {
		t.Errorf("second revoke: %v", err)
	}
	rules, err := st.List()
	if err != nil || len(rules) != 1 || rules[0].Subject.String() != "group:AZ/state-agencies" || rules[0].Service.ServiceVersion != "" {
		t.Fatalf("list: %+v %v", rules, err)
	}
}

func TestParseSubjectErrors(t *testing.T) {
	for _, s := range []string{"", "AZ", "group:AZ", "group:AZ/x y", "AZ/GOV/DİN"} {
		if _, err := ParseSubject(s); err == nil {
			t.Errorf("ParseSubject(%q) accepted", s)
		}
	}
}
