package adminapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
)

type env struct {
	url       string
	ca        *pkiutil.CA
	st        *store.Store
	dir       string
	published int
}

func (e *env) issue(t *testing.T, ca *pkiutil.CA, name string, req pkiutil.IssueRequest) (certFile, keyFile string) {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if _, _, err := ca.IssueToFiles(req, p+".pem", p+".key", false); err != nil {
		t.Fatal(err)
	}
	return p + ".pem", p + ".key"
}

func (e *env) client(t *testing.T, cert, key string) *Client {
	t.Helper()
	c, err := NewClient(e.url, cert, key, filepath.Join(e.ca.Dir, pkiutil.FileRootCert))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "pki")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "registry.db"), "AZ")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{ca: ca, st: st, dir: dir}
	srvCert, srvKey := e.issue(t, ca, "registry-tls", pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root)
	inter.AddCert(ca.Cert)
	api := &Server{Store: st, Roots: roots, Intermediates: inter, OnChange: func() error { e.published++; return nil }}
	ts := httptest.NewUnstartedServer(api.Handler())
	ts.TLS = TLSConfig(pair)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	opCert, opKey := e.issue(t, e.ca, "operator", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "Leyla Həsənova"})
	ssCert, ssKey := e.issue(t, e.ca, "ss-auth", pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, DNSNames: []string{"ss.din.gov.az"}})
	other, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(e.dir, "other")})
	if err != nil {
		t.Fatal(err)
	}
	fCert, fKey := e.issue(t, other, "foreign-operator", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "intruder"})

	cases := []struct {
		name      string
		cert, key string
		status    int
		msg       string
	}{
		{"no certificate", "", "", 401, "operator client certificate is required"},
		{"security server auth certificate", ssCert, ssKey, 403, "not an admin-profile certificate"},
		{"operator of another federation", fCert, fKey, 403, "not an operator certificate of this federation"},
	}
	for _, tc := range cases {
		err := e.client(t, tc.cert, tc.key).Do(context.Background(), http.MethodPost, "/api/v1/members",
			store.AddMember{ID: mustMember(t, "AZ/GOV/DIN"), Name: "Daxili İşlər Nazirliyi"}, nil)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Message, tc.msg) {
			t.Errorf("%s: err = %v, want HTTP %d mentioning %q", tc.name, err, tc.status, tc.msg)
		}
	}
	if len(e.st.State().Members) != 0 || e.published != 0 {
		t.Fatal("a refused caller changed the registry")
	}
	var entry store.AuditEntry
	if err := e.client(t, opCert, opKey).Do(context.Background(), http.MethodPost, "/api/v1/members",
		store.AddMember{ID: mustMember(t, "AZ/GOV/DIN"), Name: "Daxili İşlər Nazirliyi"}, &entry); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(entry.Actor, "Leyla Həsənova (serial ") || entry.Action != "member.add" || e.published != 1 {
		t.Fatalf("audit entry %+v, published %d", entry, e.published)
	}
}

func TestBadInputLeavesStoreUnchanged(t *testing.T) {
	e := newEnv(t)
	opCert, opKey := e.issue(t, e.ca, "operator", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "op"})
	cl := e.client(t, opCert, opKey)
	ctx := context.Background()
	if err := cl.Do(ctx, http.MethodPost, "/api/v1/members", store.AddMember{ID: mustMember(t, "AZ/GOV/DIN"), Name: "Daxili İşlər Nazirliyi"}, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := json.Marshal(e.st.State())
	raw := func(method, path, ctype string, body []byte) (int, string) {
		req, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := cl.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Error
	}
	big := append([]byte(`{"id":"AZ/GOV/X","name":"`), bytes.Repeat([]byte("ə"), DefaultMaxBody)...)
	big = append(big, `"}`...)
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		msg                             string
	}{
		{"malformed JSON", "POST", "/api/v1/members", "application/json", `{"id": "AZ/GOV/X",`, 400, "not valid JSON"},
		{"unknown field", "POST", "/api/v1/members", "application/json", `{"id":"AZ/GOV/X","name":"x","owner":"y"}`, 400, "unknown field"},
		{"bad identifier", "POST", "/api/v1/members", "application/json", `{"id":"AZ/GOV/X Y","name":"x"}`, 400, "allow only"},
		{"duplicate", "POST", "/api/v1/members", "application/json", `{"id":"AZ/GOV/DIN","name":"x"}`, 409, "already exists"},
		{"unknown owner", "POST", "/api/v1/subsystems", "application/json", `{"id":"AZ/GOV/NOPE/x"}`, 400, "add it first"},
		{"not JSON", "POST", "/api/v1/members", "text/plain", `id=AZ/GOV/X`, 415, "application/json"},
		{"oversized", "POST", "/api/v1/members", "application/json", string(big), 413, "limit"},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", "", 404, "no such endpoint"},
		{"delete unknown", "DELETE", "/api/v1/members/AZ/GOV/NOPE", "", "", 404, "does not exist"},
		{"bad batch action", "POST", "/api/v1/batch", "application/json", `{"name":"x","changes":[{"action":"member.fly","change":{}}]}`, 400, "unknown action"},
		{"empty batch", "POST", "/api/v1/batch", "application/json", `{"name":"x","changes":[]}`, 400, "no changes"},
	}
	for _, tc := range cases {
		status, msg := raw(tc.method, tc.path, tc.ctype, []byte(tc.body))
		if status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: HTTP %d %q, want %d mentioning %q", tc.name, status, msg, tc.status, tc.msg)
		}
	}
	after, _ := json.Marshal(e.st.State())
	if !bytes.Equal(before, after) || e.published != 1 {
		t.Fatalf("refused requests changed the registry (published %d times)", e.published)
	}
	audit, _ := e.st.Audit(0)
	if len(audit) != 1 {
		t.Fatalf("audit has %d entries, want 1", len(audit))
	}
}

func TestBatchAllOrNothing(t *testing.T) {
	e := newEnv(t)
	opCert, opKey := e.issue(t, e.ca, "operator", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "op"})
	cl := e.client(t, opCert, opKey)
	rootPEM, _ := os.ReadFile(filepath.Join(e.ca.Dir, pkiutil.FileRootCert))
	good := []store.Change{
		store.AddCA{Name: "Şlüz AZ", Cert: string(rootPEM), OCSPURLs: []string{"http://127.0.0.1:8888/"}},
		store.AddMember{ID: mustMember(t, "AZ/GOV/EMDK"), Name: "Əmlak Məsələləri Dövlət Komitəsi"},
	}
	bad := append(append([]store.Change{}, good...), store.AddMember{ID: mustMember(t, "AZ/GOV/EMDK"), Name: "dup"})
	req, _ := NewBatchRequest("sample", bad)
	err := cl.Do(context.Background(), http.MethodPost, "/api/v1/batch", req, nil)
	if err == nil || !strings.Contains(err.Error(), "step 3") {
		t.Fatalf("bad batch: %v", err)
	}
	if len(e.st.State().Members) != 0 || len(e.st.State().Trust.ApprovedCAs) != 0 {
		t.Fatal("a failed batch left changes behind")
	}
	req, _ = NewBatchRequest("sample", good)
	if err := cl.Do(context.Background(), http.MethodPost, "/api/v1/batch", req, nil); err != nil {
		t.Fatal(err)
	}
	if m := e.st.State().Members["AZ/GOV/EMDK"]; m == nil || m.Name != "Əmlak Məsələləri Dövlət Komitəsi" {
		t.Fatalf("member after batch: %+v", m)
	}
}

func mustMember(t *testing.T, s string) identifier.Client {
	t.Helper()
	c, err := identifier.ParseMember(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
