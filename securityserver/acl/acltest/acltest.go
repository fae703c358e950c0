// Package acltest is the conformance suite of access-rights stores
// (acl.Rules): the bbolt file and the PostgreSQL database are checked the
// same way. A store's tests call Run with a way to make an empty store.
//
// The promises checked: rights ignore the service version; a right is
// granted once and revoked once, with refusals wrapping acl.ErrExists and
// acl.ErrNotFound and naming the right; List orders by service then
// subject; a Checker (ReloadEvery 0) sees every grant and revocation made
// through another handle on the same store, as the acl command's are.
package acltest

import (
	"errors"
	"testing"
	"time"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
)

// Open returns two handles on one new, empty store: the server's and the
// administrator's command's.
type Open func(t *testing.T) (server, command acl.Rules)

func service(t *testing.T, s string) identifier.ServiceID {
	t.Helper()
	id, err := identifier.ParseService(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func subject(t *testing.T, s string) acl.Subject {
	t.Helper()
	sub, err := acl.ParseSubject(s)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// Run runs the suite.
func Run(t *testing.T, open Open) {
	t.Run("GrantCheckRevoke", func(t *testing.T) { grantCheckRevoke(t, open) })
	t.Run("Refusals", func(t *testing.T) { refusals(t, open) })
	t.Run("ListOrder", func(t *testing.T) { listOrder(t, open) })
}

func grantCheckRevoke(t *testing.T, open Open) {
	srv, st := open(t)
	svc := service(t, "AZ/GOV/DIN/population/getPersonByFin/v1")
	emdk := subject(t, "AZ/GOV/EMDK/realestate")
	group := subject(t, "group:AZ/state-agencies")
	now := time.Now()
	if _, err := st.Grant(svc, emdk, "admin", now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Grant(service(t, "AZ/GOV/DIN/population/getPersonByFin/v2"), emdk, "admin", now); !errors.Is(err, acl.ErrExists) {
		t.Fatalf("grant for another version of the same service: %v, want ErrExists (rights ignore the version)", err)
	}
	chk, err := acl.NewChecker(srv)
	if err != nil {
		t.Fatal(err)
	}
	chk.ReloadEvery = 0 // see every change at once
	client := func(s string) identifier.Client { return subject(t, s).Client }
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
		got, err := chk.Allowed(service(t, tc.service), client(tc.client), dsmfInGroup)
		if err != nil || got != tc.want {
			t.Errorf("%s -> %s: %v, %v; want %v", tc.client, tc.service, got, err, tc.want)
		}
	}
	if _, err := st.Grant(svc, group, "admin", now); err != nil {
		t.Fatal(err)
	}
	if ok, err := chk.Allowed(svc, client("AZ/GOV/DSMF/insurance"), dsmfInGroup); !ok {
		t.Errorf("group member refused after the group was granted (%v)", err)
	}
	if err := st.Revoke(svc, emdk); err != nil {
		t.Fatal(err)
	}
	if ok, _ := chk.Allowed(svc, client("AZ/GOV/EMDK/realestate"), dsmfInGroup); ok {
		t.Error("client still allowed after revocation")
	}
	rules, err := srv.List()
	if err != nil || len(rules) != 1 || rules[0].Subject.String() != "group:AZ/state-agencies" || rules[0].Service.ServiceVersion != "" || rules[0].By != "admin" || !rules[0].Granted.Equal(now.UTC().Truncate(time.Second)) {
		t.Fatalf("list: %+v %v", rules, err)
	}
}

// refusals name the right and wrap the sentinel, unprefixed by the store.
func refusals(t *testing.T, open Open) {
	_, st := open(t)
	svc := service(t, "AZ/GOV/DIN/population/getPersonByFin")
	sub := subject(t, "AZ/GOV/EMDK")
	err := st.Revoke(svc, sub)
	if want := "no such access right: AZ/GOV/EMDK has no right to call AZ/GOV/DIN/population/getPersonByFin"; err == nil || err.Error() != want || !errors.Is(err, acl.ErrNotFound) {
		t.Errorf("Revoke: %v, want %q", err, want)
	}
	if _, err := st.Grant(svc, sub, "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = st.Grant(svc, sub, "admin", time.Now())
	if want := "access right already granted: AZ/GOV/EMDK may already call AZ/GOV/DIN/population/getPersonByFin"; err == nil || err.Error() != want || !errors.Is(err, acl.ErrExists) {
		t.Errorf("Grant again: %v, want %q", err, want)
	}
}

func listOrder(t *testing.T, open Open) {
	_, st := open(t)
	grants := [][2]string{
		{"AZ/GOV/DIN/population/getPersonByFin", "AZ/GOV/EMDK/realestate"},
		{"AZ/GOV/DIN/population/getPassport", "group:AZ/state-agencies"},
		{"AZ/GOV/DIN/population/getPersonByFin", "AZ/GOV/DSMF/insurance"},
		{"AZ/GOV/DIN/population/getPassport", "AZ/GOV/EMDK/realestate"},
	}
	for _, g := range grants {
		if _, err := st.Grant(service(t, g[0]), subject(t, g[1]), "admin", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.Service.String()+" "+r.Subject.String())
	}
	want := []string{
		"AZ/GOV/DIN/population/getPassport AZ/GOV/EMDK/realestate",
		"AZ/GOV/DIN/population/getPassport group:AZ/state-agencies",
		"AZ/GOV/DIN/population/getPersonByFin AZ/GOV/DSMF/insurance",
		"AZ/GOV/DIN/population/getPersonByFin AZ/GOV/EMDK/realestate",
	}
	if len(got) != len(want) {
		t.Fatalf("List: %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("List: %q, want %q", got, want)
		}
	}
}
