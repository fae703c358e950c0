// Package acltest is the conformance suite of access-rights stores
// (acl.Rules): the bbolt file and the PostgreSQL database are checked the
// same way. A store's tests call Run with a way to make an empty store.
//
// The promises checked: rights ignore the service version; a right is
// granted once and revoked once, with refusals wrapping acl.ErrExists and
// acl.ErrNotFound and naming the right; an endpoint right (REST) is kept
// apart from the right on the whole service, admits only its endpoint's
// calls and is revoked by naming its endpoint; a bad endpoint is refused
// and nothing stored; List orders by service, subject, then endpoint; a
// Checker (ReloadEvery 0) sees every grant and revocation made through
// another handle on the same store, as the acl command's are.
package acltest

import (
	"errors"
	"testing"
	"time"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/rest"
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
	t.Run("EndpointRights", func(t *testing.T) { endpointRights(t, open) })
	t.Run("EndpointRefusals", func(t *testing.T) { endpointRefusals(t, open) })
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
	extract := service(t, "AZ/GOV/EMDK/realestate/realEstateRegistry")
	for _, g := range []struct {
		sub string
		ep  rest.Endpoint
	}{
		{"AZ/GOV/DSMF/insurance", rest.Endpoint{Method: "POST", Path: "/b"}},
		{"AZ/GOV/DSMF/insurance", rest.Endpoint{Method: "GET", Path: "/a/b"}},
		{"AZ/GOV/DIN/population", rest.Endpoint{Method: "*", Path: "**"}},
		{"AZ/GOV/DSMF/insurance", rest.Endpoint{Method: "GET", Path: "/a"}},
	} {
		if _, err := st.GrantEndpoint(extract, g.ep, subject(t, g.sub), "admin", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Grant(extract, subject(t, "AZ/GOV/DSMF/insurance"), "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	rules, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		s := r.Service.String() + " " + r.Subject.String()
		if r.Endpoint != nil {
			s += " " + r.Endpoint.Method + " " + r.Endpoint.Path
		}
		got = append(got, s)
	}
	want := []string{
		"AZ/GOV/DIN/population/getPassport AZ/GOV/EMDK/realestate",
		"AZ/GOV/DIN/population/getPassport group:AZ/state-agencies",
		"AZ/GOV/DIN/population/getPersonByFin AZ/GOV/DSMF/insurance",
		"AZ/GOV/DIN/population/getPersonByFin AZ/GOV/EMDK/realestate",
		"AZ/GOV/EMDK/realestate/realEstateRegistry AZ/GOV/DIN/population * **",
		"AZ/GOV/EMDK/realestate/realEstateRegistry AZ/GOV/DSMF/insurance", // the whole service first
		"AZ/GOV/EMDK/realestate/realEstateRegistry AZ/GOV/DSMF/insurance GET /a",
		"AZ/GOV/EMDK/realestate/realEstateRegistry AZ/GOV/DSMF/insurance GET /a/b",
		"AZ/GOV/EMDK/realestate/realEstateRegistry AZ/GOV/DSMF/insurance POST /b",
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

// endpointRights: endpoint rights (X-Road's endpoint-level rights on REST
// services) admit only the REST calls of their endpoint; a right on the
// whole service admits every call.
func endpointRights(t *testing.T, open Open) {
	srv, st := open(t)
	svc := service(t, "AZ/GOV/EMDK/realestate/realEstateRegistry")
	dsmf, din := subject(t, "AZ/GOV/DSMF/insurance"), subject(t, "AZ/GOV/DIN/population")
	extract := rest.Endpoint{Method: "GET", Path: "/extract/*"}
	now := time.Now()
	chk, err := acl.NewChecker(srv)
	if err != nil {
		t.Fatal(err)
	}
	chk.ReloadEvery = 0
	if ok, err := chk.AllowedEndpoint(svc, dsmf.Client, nil, "GET", "/extract/5ZJ8K2L"); ok || err != nil {
		t.Fatalf("before any grant: %v, %v", ok, err)
	}
	r, err := st.GrantEndpoint(svc, extract, dsmf, "admin", now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Endpoint == nil || *r.Endpoint != extract || r.Service != svc {
		t.Fatalf("granted rule: %+v", r)
	}
	if _, err := st.Grant(svc, din, "admin", now); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		who          acl.Subject
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
	if whole, eps, err := chk.Rights(svc, dsmf.Client, nil); err != nil || whole || len(eps) != 1 || eps[0] != extract {
		t.Errorf("DSMF's rights: %v %v %v", whole, eps, err)
	}
	if whole, eps, err := chk.Rights(svc, din.Client, nil); err != nil || !whole || len(eps) != 0 {
		t.Errorf("DİN's rights: %v %v %v", whole, eps, err)
	}
	// An endpoint right is no right to the whole service (SOAP).
	if ok, _ := chk.Allowed(svc, dsmf.Client, nil); ok {
		t.Error("an endpoint right admitted a call of the whole service")
	}
	// A group's endpoint right holds for the group's members.
	group := subject(t, "group:AZ/state-agencies")
	inGroup := func(g identifier.GlobalGroupID, c identifier.Client) bool {
		return g.String() == "AZ/state-agencies" && c.String() == "AZ/GOV/FIN/tax"
	}
	if _, err := st.GrantEndpoint(svc, rest.Endpoint{Method: "*", Path: "/extract/**"}, group, "admin", now); err != nil {
		t.Fatal(err)
	}
	if ok, err := chk.AllowedEndpoint(svc, subject(t, "AZ/GOV/FIN/tax").Client, inGroup, "HEAD", "/extract/5ZJ8K2L/history"); !ok || err != nil {
		t.Errorf("group member with the group's endpoint right: %v, %v", ok, err)
	}
	if err := st.Revoke(svc, dsmf, extract); err != nil {
		t.Fatal(err)
	}
	if ok, err := chk.AllowedEndpoint(svc, dsmf.Client, nil, "GET", "/extract/5ZJ8K2L"); ok || err != nil {
		t.Errorf("after revoking the endpoint right: %v, %v", ok, err)
	}
	rules, err := srv.List()
	if err != nil || len(rules) != 2 || rules[0].Subject != din || rules[0].Endpoint != nil ||
		rules[1].Subject != group || rules[1].Endpoint == nil || *rules[1].Endpoint != (rest.Endpoint{Method: "*", Path: "/extract/**"}) ||
		rules[1].By != "admin" || !rules[1].Granted.Equal(now.UTC().Truncate(time.Second)) {
		t.Fatalf("list after revoking the endpoint right: %+v %v", rules, err)
	}
}

// endpointRefusals: an endpoint right is refused twice, revoked only by
// naming it, a bad endpoint is refused and nothing is stored.
func endpointRefusals(t *testing.T, open Open) {
	_, st := open(t)
	svc := service(t, "AZ/GOV/EMDK/realestate/realEstateRegistry")
	dsmf := subject(t, "AZ/GOV/DSMF/insurance")
	extract := rest.Endpoint{Method: "GET", Path: "/extract/*"}
	now := time.Now()
	if _, err := st.GrantEndpoint(svc, extract, dsmf, "admin", now); err != nil {
		t.Fatal(err)
	}
	_, err := st.GrantEndpoint(service(t, "AZ/GOV/EMDK/realestate/realEstateRegistry/v2"), extract, dsmf, "admin", now)
	if want := "access right already granted: AZ/GOV/DSMF/insurance may already call AZ/GOV/EMDK/realestate/realEstateRegistry endpoint GET /extract/*"; err == nil || err.Error() != want || !errors.Is(err, acl.ErrExists) {
		t.Errorf("the same endpoint again (another version): %v, want %q", err, want)
	}
	// The right on the whole service is another right, granted apart.
	err = st.Revoke(svc, dsmf)
	if want := "no such access right: AZ/GOV/DSMF/insurance has no right to call AZ/GOV/EMDK/realestate/realEstateRegistry"; err == nil || err.Error() != want || !errors.Is(err, acl.ErrNotFound) {
		t.Errorf("revoking a service right DSMF does not hold: %v, want %q", err, want)
	}
	err = st.Revoke(svc, dsmf, rest.Endpoint{Method: "GET", Path: "/extract/**"})
	if want := "no such access right: AZ/GOV/DSMF/insurance has no right to call AZ/GOV/EMDK/realestate/realEstateRegistry endpoint GET /extract/**"; err == nil || err.Error() != want || !errors.Is(err, acl.ErrNotFound) {
		t.Errorf("revoking another endpoint: %v, want %q", err, want)
	}
	for _, bad := range []rest.Endpoint{{Method: "get", Path: "/x"}, {Method: "FETCH", Path: "/x"}, {Method: "GET", Path: "extract"}, {Method: "GET", Path: ""}} {
		if _, err := st.GrantEndpoint(svc, bad, dsmf, "admin", now); err == nil {
			t.Errorf("endpoint %+v granted", bad)
		}
	}
	rules, err := st.List()
	if err != nil || len(rules) != 1 || rules[0].Endpoint == nil || *rules[0].Endpoint != extract {
		t.Fatalf("list after the refusals: %+v %v; want the one endpoint right", rules, err)
	}
}
