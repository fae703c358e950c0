package store

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
)

func mustClient(t *testing.T, s string) identifier.Client {
	t.Helper()
	c, err := identifier.ParseClient(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type fixture struct {
	st       *Store
	ca       *pkiutil.CA
	authPEM  string
	otherPEM string // auth certificate of another federation
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "pki")})
	if err != nil {
		t.Fatal(err)
	}
	other, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "other")})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(c *pkiutil.CA, name string) string {
		p := filepath.Join(dir, name)
		if _, _, err := c.IssueToFiles(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, DNSNames: []string{"ss.din.gov.az"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}, p+".pem", p+".key", false); err != nil {
			t.Fatal(err)
		}
		return pemFile(t, p+".pem")
	}
	st, err := Open(filepath.Join(dir, "registry.db"), "AZ")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{st: st, ca: ca, authPEM: issue(ca, "din-auth"), otherPEM: issue(other, "foreign-auth")}
}

func (f *fixture) sample(t *testing.T) {
	t.Helper()
	din, emdk := mustClient(t, "AZ/GOV/DIN"), mustClient(t, "AZ/GOV/EMDK")
	svc, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	srv, _ := identifier.ParseServer("AZ/GOV/DIN/ss1")
	grp, _ := identifier.ParseGlobalGroup("AZ/state-agencies")
	for _, c := range []Change{
		AddCA{Name: "Şlüz AZ", Cert: pemFile(t, filepath.Join(f.ca.Dir, pkiutil.FileRootCert)), Issuers: pemFile(t, filepath.Join(f.ca.Dir, pkiutil.FileCACert)), OCSPURLs: []string{"http://127.0.0.1:8888/"}},
		AddTSA{Name: "Şlüz TSA", URL: "http://127.0.0.1:8899/", Cert: pemFile(t, filepath.Join(f.ca.Dir, pkiutil.FileTSACert))},
		AddMember{ID: din, Name: "Daxili İşlər Nazirliyi"},
		AddMember{ID: emdk, Name: "Əmlak Məsələləri Dövlət Komitəsi"},
		AddSubsystem{ID: din.Subsystem("population")},
		AddSubsystem{ID: emdk.Subsystem("realestate")},
		AddService{ID: svc, Description: "Şəxsin FİN kodu ilə məlumatı"},
		AddServer{ID: srv, Address: "127.0.0.1:5500", AuthCert: f.authPEM},
		AddServerClient{Server: srv, Client: din.Subsystem("population")},
		ApproveServer{ID: srv},
		AddGroup{ID: grp, Description: "Dövlət orqanları"},
		AddGroupMember{Group: grp, Client: emdk.Subsystem("realestate")},
	} {
		if _, err := f.st.Apply("test operator", c); err != nil {
			t.Fatalf("%s: %v", c.Action(), err)
		}
	}
}

func TestSampleAndConf(t *testing.T) {
	f := newFixture(t)
	f.sample(t)
	st := f.st.State()
	conf, err := st.Conf(7, time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if conf.Version != 7 || !conf.Expires.Equal(conf.Created.Add(time.Hour)) {
		t.Errorf("version %d, created %s, expires %s", conf.Version, conf.Created, conf.Expires)
	}
	if len(conf.Members) != 2 || conf.Members[1].Name != "Əmlak Məsələləri Dövlət Komitəsi" {
		t.Errorf("members: %+v", conf.Members)
	}
	if len(conf.Servers) != 1 || len(conf.Servers[0].AuthCertHashes[0]) != 32 || conf.Servers[0].Clients[0].String() != "AZ/GOV/DIN/population" {
		t.Errorf("servers: %+v", conf.Servers)
	}
	if len(conf.Trust.ApprovedCAs) != 1 || len(conf.Trust.ApprovedCAs[0].Issuers) != 1 || len(conf.Trust.TSAs) != 1 {
		t.Errorf("trust: %+v", conf.Trust)
	}
}

func TestRefusedChangesLeaveStoreUnchanged(t *testing.T) {
	f := newFixture(t)
	f.sample(t)
	din := mustClient(t, "AZ/GOV/DIN")
	srv, _ := identifier.ParseServer("AZ/GOV/DIN/ss1")
	srv2, _ := identifier.ParseServer("AZ/GOV/DIN/ss2")
	cases := []struct {
		c    Change
		want error
		msg  string
	}{
		{AddMember{ID: din, Name: "again"}, ErrConflict, "already exists"},
		{AddMember{ID: mustClient(t, "AZ/XYZ/ABC"), Name: "x"}, ErrInvalid, "member class"},
		{AddMember{ID: mustClient(t, "EE/GOV/ABC"), Name: "x"}, ErrInvalid, "instance"},
		{AddMember{ID: mustClient(t, "AZ/GOV/ABC"), Name: "  "}, ErrInvalid, "name is empty"},
		{AddMember{ID: mustClient(t, "AZ/GOV/DIN/population"), Name: "x"}, ErrInvalid, "subsystem, not a member"},
		{AddSubsystem{ID: mustClient(t, "AZ/GOV/NOPE/x")}, ErrInvalid, "add it first"},
		{AddService{ID: identifier.ServiceID{Provider: mustClient(t, "AZ/GOV/DIN/nosuch"), ServiceCode: "x"}, Description: "d"}, ErrInvalid, "does not exist"},
		{AddServer{ID: srv2, Address: "127.0.0.1:5509", AuthCert: f.otherPEM}, ErrInvalid, "approved CA"},
		{AddServer{ID: srv2, Address: "127.0.0.1:5509", AuthCert: f.authPEM}, ErrConflict, "already registered"},
		{AddServer{ID: srv2, Address: "no such host!", AuthCert: f.authPEM}, ErrInvalid, "address"},
		{AddServer{ID: srv2, Address: "127.0.0.1:99999", AuthCert: f.authPEM}, ErrInvalid, "port"},
		{AddServer{ID: srv2, Address: "127.0.0.1:5509", AuthCert: "not pem"}, ErrInvalid, "PEM"},
		{RemoveMember{ID: din}, ErrConflict, "subsystems"},
		{RemoveSubsystem{ID: din.Subsystem("population")}, ErrConflict, "hosted by"},
		{RemoveMember{ID: mustClient(t, "AZ/GOV/NOPE")}, ErrNotFound, "does not exist"},
		{ApproveServer{ID: srv}, ErrConflict, "already approved"},
		{SetServerAddress{ID: srv, Address: "127.0.0.1:5500"}, ErrConflict, "already at"},
		{SetServerAddress{ID: srv2, Address: "127.0.0.1:5509"}, ErrNotFound, "does not exist"},
		{SetServerAddress{ID: srv, Address: "bad host!"}, ErrInvalid, "address"},
		{RemoveService{ID: identifier.ServiceID{Provider: din.Subsystem("population"), ServiceCode: "nope"}}, ErrNotFound, "does not exist"},
		{SetTrustSettings{}, ErrInvalid, "nothing to change"},
		{AddCA{Name: "bad", Cert: pemFile(t, filepath.Join(f.ca.Dir, pkiutil.FileCACert))}, ErrInvalid, "self-signed CA"},
		{AddCA{Name: "bundle", Cert: f.authPEM}, ErrInvalid, "exactly one"},
		{Batch{Name: "half", Changes: []Change{AddMember{ID: mustClient(t, "AZ/GOV/NEW"), Name: "Yeni"}, AddMember{ID: din, Name: "dup"}}}, ErrConflict, "step 2"},
	}
	before, _ := json.Marshal(f.st.State())
	auditBefore, _ := f.st.Audit(0)
	for _, tc := range cases {
		_, err := f.st.Apply("op", tc.c)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %+v: err = %v, want %v mentioning %q", tc.c.Action(), tc.c, err, tc.want, tc.msg)
		}
	}
	after, _ := json.Marshal(f.st.State())
	auditAfter, _ := f.st.Audit(0)
	if string(before) != string(after) || len(auditBefore) != len(auditAfter) {
		t.Fatal("refused changes modified the state or the audit trail")
	}
	// The half-applied batch left no member behind.
	if _, ok := f.st.State().Members["AZ/GOV/NEW"]; ok {
		t.Fatal("a failed batch kept its first step")
	}
}

func TestDurableAndAudited(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.db")
	st, err := Open(path, "AZ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, "AZ"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
	if _, err := st.Apply("Əli Məmmədov (serial 1F)", AddMember{ID: mustClient(t, "AZ/GOV/DSMF"), Name: "Dövlət Sosial Müdafiə Fondu"}); err != nil {
		t.Fatal(err)
	}
	v1, _ := st.NextConfVersion()
	st.Close()
	if _, err := Open(path, "EE"); err == nil || !strings.Contains(err.Error(), `instance "AZ"`) {
		t.Fatalf("open as another instance: %v", err)
	}
	st, err = Open(path, "AZ")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if m := st.State().Members["AZ/GOV/DSMF"]; m == nil || m.Name != "Dövlət Sosial Müdafiə Fondu" {
		t.Fatalf("member after reopen: %+v", m)
	}
	if v2, _ := st.NextConfVersion(); v2 != v1+1 {
		t.Fatalf("conf version after reopen %d, want %d", v2, v1+1)
	}
	audit, err := st.Audit(10)
	if err != nil || len(audit) != 1 || audit[0].Actor != "Əli Məmmədov (serial 1F)" || audit[0].Action != "member.add" ||
		!strings.Contains(string(audit[0].Change), "AZ/GOV/DSMF") {
		t.Fatalf("audit: %+v %v", audit, err)
	}
}
