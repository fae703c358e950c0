package acl

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/rest"
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

// Endpoint rights (X-Road's endpoint-level rights on REST services) admit
// only the REST calls of their endpoint; a right on the whole service
// admits every call.
func TestEndpointRights(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "acl.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := mustService(t, "AZ/GOV/EMDK/realestate/realEstateRegistry")
	dsmf, din := mustSubject(t, "AZ/GOV/DSMF/insurance"), mustSubject(t, "AZ/GOV/DIN/population")
	now := time.Now()
	if _, err := st.GrantEndpoint(svc, rest.Endpoint{Method: "GET", Path: "/extract/*"}, dsmf, "admin", now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GrantEndpoint(svc, rest.Endpoint{Method: "GET", Path: "/extract/*"}, dsmf, "admin", now); !errors.Is(err, ErrExists) {
		t.Fatalf("the same endpoint again: %v, want ErrExists", err)
	}
	if _, err := st.Grant(svc, din, "admin", now); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []rest.Endpoint{{Method: "get", Path: "/x"}, {Method: "FETCH", Path: "/x"}, {Method: "GET", Path: "extract"}} {
		if _, err := st.GrantEndpoint(svc, bad, dsmf, "admin", now); err == nil {
			t.Errorf("endpoint %+v granted", bad)
		}
	}
	chk, err := NewChecker(st)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		who          Subject
		method, path string
		want         bool
	}{
		{dsmf, "GET", "/extract/5ZJ8K2L", true},
		{dsmf, "GET", "/extract/%35ZJ8K2L", true}, // matched decoded
		{dsmf, "POST", "/extract/5ZJ8K2L", false},
		{dsmf, "GET", "/extract/5ZJ8K2L/history", false}, // * is one segment
		{dsmf, "GET", "/extract/../admin", false},
		{dsmf, "GET", "", false},
		{din, "DELETE", "/anything/at/all", true},
	}
	for _, tc := range cases {
		got, err := chk.AllowedEndpoint(svc, tc.who.Client, nil, tc.method, tc.path)
		if err != nil || got != tc.want {
			t.Errorf("%s %s %s: %v, %v; want %v", tc.who, tc.method, tc.path, got, err, tc.want)
		}
	}
	if whole, eps, err := chk.Rights(svc, dsmf.Client, nil); err != nil || whole || len(eps) != 1 || eps[0] != (rest.Endpoint{Method: "GET", Path: "/extract/*"}) {
		t.Errorf("DSMF's rights: %v %v %v", whole, eps, err)
	}
	if whole, eps, err := chk.Rights(svc, din.Client, nil); err != nil || !whole || len(eps) != 0 {
		t.Errorf("DİN's rights: %v %v %v", whole, eps, err)
	}
	// An endpoint right is no right to the whole service (SOAP).
	if ok, _ := chk.Allowed(svc, dsmf.Client, nil); ok {
		t.Error("an endpoint right admitted a call of the whole service")
	}
	if err := st.Revoke(svc, dsmf); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking a service right DSMF does not hold: %v", err)
	}
	if err := st.Revoke(svc, dsmf, rest.Endpoint{Method: "GET", Path: "/extract/*"}); err != nil {
		t.Fatal(err)
	}
	rules, err := st.List()
	if err != nil || len(rules) != 1 || rules[0].Subject != din || rules[0].Endpoint != nil {
		t.Fatalf("list after revoking the endpoint right: %+v %v", rules, err)
	}
}
