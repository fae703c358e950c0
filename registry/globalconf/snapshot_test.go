package globalconf

import (
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/sluz/sluz/registry/identifier"
)

func TestSnapshotLookups(t *testing.T) {
	p := newPKI(t, "")
	conf, err := Verify(build(t, p, sampleConf(t, p, 1)), p.anchor("http://127.0.0.1/"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSnapshot(conf)
	din, dinPop := mustClient(t, "AZ/GOV/DIN"), mustClient(t, "AZ/GOV/DIN/population")
	emdkRE := mustClient(t, "AZ/GOV/EMDK/realestate")
	group := identifier.GlobalGroupID{Instance: "AZ", GroupCode: "state-agencies"}

	servers := []struct {
		client identifier.Client
		want   []string // server id @ host:port
	}{
		{dinPop, []string{"AZ/GOV/DIN/ss1@127.0.0.1:5500"}},
		{din, []string{"AZ/GOV/DIN/ss1@127.0.0.1:5500"}}, // the owner is hosted implicitly
		{emdkRE, []string{"AZ/GOV/EMDK/ss1@127.0.0.1:5501"}},
		{mustClient(t, "AZ/GOV/DSMF/insurance"), []string{"AZ/GOV/DSMF/ss1@127.0.0.1:5502"}},
		{mustClient(t, "AZ/GOV/DIN/passport"), nil},
	}
	for _, tc := range servers {
		var got []string
		for _, a := range s.ServersFor(tc.client) {
			got = append(got, a.ID.String()+"@"+a.HostPort())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ServersFor(%s) = %v, want %v", tc.client, got, tc.want)
		}
	}

	auth := []struct {
		hash   []byte
		client identifier.Client
		want   bool
	}{
		{authHash("din"), dinPop, true},
		{authHash("din"), din, true},
		{authHash("din"), emdkRE, false},
		{authHash("emdk"), emdkRE, true},
		{authHash("unknown"), dinPop, false},
		{[]byte{1, 2, 3}, dinPop, false},
	}
	for _, tc := range auth {
		if got := s.AuthCertAllowedFor(tc.hash, tc.client); got != tc.want {
			t.Errorf("AuthCertAllowedFor(%x…, %s) = %v", tc.hash[:3], tc.client, got)
		}
	}
	if srv, ok := s.ServerByAuthCert(authHash("dsmf")); !ok || srv.ID.String() != "AZ/GOV/DSMF/ss1" {
		t.Errorf("ServerByAuthCert = %v %v", srv.ID, ok)
	}

	names := map[string]string{
		"AZ/GOV/DIN":             "Daxili İşlər Nazirliyi",
		"AZ/GOV/EMDK/realestate": "Əmlak Məsələləri Dövlət Komitəsi",
		"AZ/GOV/DSMF":            "Dövlət Sosial Müdafiə Fondu",
	}
	for id, want := range names {
		if got, ok := s.MemberName(mustClient(t, id)); !ok || got != want {
			t.Errorf("MemberName(%s) = %q %v", id, got, ok)
		}
	}
	if _, ok := s.MemberName(mustClient(t, "AZ/GOV/NONE")); ok {
		t.Error("MemberName of an unknown member")
	}
	if got := s.Subsystems(din); len(got) != 1 || got[0] != dinPop {
		t.Errorf("Subsystems(DIN) = %v", got)
	}
	if !s.IsClient(dinPop) || s.IsClient(mustClient(t, "AZ/GOV/DIN/passport")) {
		t.Error("IsClient")
	}

	var svcs []string
	for _, sv := range s.ServicesOf(dinPop) {
		svcs = append(svcs, sv.ID.ServiceCode)
	}
	if !slices.Equal(svcs, []string{"getPassport", "getPersonByFin"}) {
		t.Errorf("Services(DIN/population) = %v", svcs)
	}
	if sv, ok := s.Service(mustService(t, "AZ/GOV/EMDK/realestate/getOwnershipByFin/v1")); !ok || sv.Description != "Daşınmaz əmlak üzrə mülkiyyət" {
		t.Errorf("Service = %v %v", sv, ok)
	}

	groups := []struct {
		client identifier.Client
		want   bool
	}{{emdkRE, true}, {mustClient(t, "AZ/GOV/DSMF/insurance"), true}, {dinPop, false}, {mustClient(t, "AZ/GOV/EMDK"), false}}
	for _, tc := range groups {
		if got := s.InGroup(group, tc.client); got != tc.want {
			t.Errorf("InGroup(%s) = %v", tc.client, got)
		}
	}
	if s.InGroup(identifier.GlobalGroupID{Instance: "AZ", GroupCode: "other"}, emdkRE) {
		t.Error("InGroup of an unknown group")
	}

	// Trust: the OCSP responder certificate is issued by the issuing CA,
	// the issuing CA by the root; both belong to the approved CA.
	for _, c := range []*x509.Certificate{p.ocsp, p.ca.Cert} {
		if got := s.OCSPURLs(c); !slices.Equal(got, []string{"http://127.0.0.1:8888/ocsp"}) {
			t.Errorf("OCSPURLs(%s) = %v", c.Subject, got)
		}
	}
	stranger := newPKI(t, "")
	if got := s.OCSPURLs(stranger.ocsp); got != nil {
		t.Errorf("OCSPURLs of a foreign certificate = %v", got)
	}
	if got := s.AllOCSPURLs(); !slices.Equal(got, []string{"http://127.0.0.1:8888/ocsp"}) {
		t.Errorf("AllOCSPURLs = %v", got)
	}
	if tsas := s.TSAs(); len(tsas) != 1 || tsas[0].URL != "http://127.0.0.1:8889/tsa" || !tsas[0].Cert.Equal(p.tsa) {
		t.Errorf("TSAs = %v", tsas)
	}
	if s.OCSPFreshness() != 10*time.Minute {
		t.Errorf("OCSPFreshness = %s", s.OCSPFreshness())
	}
	opts := x509.VerifyOptions{Roots: s.Roots(), Intermediates: s.Intermediates(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: time.Now()}
	if _, err := p.ocsp.Verify(opts); err != nil {
		t.Errorf("a federation certificate does not chain to the approved CAs: %v", err)
	}
	if _, err := stranger.ocsp.Verify(opts); err == nil {
		t.Error("a foreign certificate chains to the approved CAs")
	}
}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": "127.0.0.1:5500", "127.0.0.1:6000": "127.0.0.1:6000", "ss1.din.gov.az": "ss1.din.gov.az:5500",
		"::1": "[::1]:5500", "[::1]": "[::1]:5500", "[::1]:6000": "[::1]:6000",
	} {
		if got := (ServerAddress{Address: in}).HostPort(); got != want {
			t.Errorf("HostPort(%s) = %s, want %s", in, got, want)
		}
	}
}
