package registration_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/registration"
)

// newRequest makes a request for server as securityserver init would,
// with fresh keys.
func newRequest(t *testing.T, server string) *registration.Request {
	t.Helper()
	id, err := identifier.ParseServer(server)
	if err != nil {
		t.Fatal(err)
	}
	o := id.Owner
	r := &registration.Request{Format: registration.RequestFormat, Server: id, Address: "127.0.0.1:5599",
		MemberName: "Dövlət Gömrük Komitəsi", Subsystems: []identifier.Client{o.Subsystem("customs")}}
	r.AuthCSR, r.AuthKeySHA256 = csr(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	r.SignCSR, r.SignKeySHA256 = csr(t, &x509.CertificateRequest{Subject: pkix.Name{Country: []string{o.Instance}, Organization: []string{o.MemberClass}, CommonName: o.MemberCode}})
	return r
}

func csr(t *testing.T, tmpl *x509.CertificateRequest) (string, string) {
	key, err := pkiutil.GenerateKey(pkiutil.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := registration.KeySHA256(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), sum
}

// refusingBatch is the admin API with every batch refused, as if the
// registry changed between Register's check and its batch.
type refusingBatch struct{ registration.Operator }

func (r refusingBatch) Do(ctx context.Context, method, path string, in, out any) error {
	if method == http.MethodPost {
		return errors.New("registry refused (HTTP 409): conflict")
	}
	return r.Operator.Do(ctx, method, path, in, out)
}

// TestRegister: a new agency's request becomes one batch (member,
// subsystem, server with its certificate, approval, hosted subsystem) and
// a response whose certificates chain and hold the request's keys; each
// refusal says what to fix and changes neither the registry nor the CA's
// issued certificates (or revokes the two it issued when the batch fails).
func TestRegister(t *testing.T) {
	f, err := localfed.Start(localfed.Options{Dir: t.TempDir(), AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ctx := context.Background()
	state := func() string {
		var raw json.RawMessage
		if err := f.Operator.Do(ctx, http.MethodGet, "/api/v1/state", nil, &raw); err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	issued := func() []*pkiutil.CertRecord {
		recs, err := f.CA.Store.List()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}

	swapped := newRequest(t, "AZ/GOV/DGK/ss1")
	swapped.SignCSR = newRequest(t, "AZ/GOV/DGK/ss1").SignCSR // another key than signKeySha256 names
	misnamed := newRequest(t, "AZ/GOV/DGK/ss1")
	din := newRequest(t, "AZ/GOV/DIN/ss9")
	misnamed.SignCSR, misnamed.SignKeySHA256 = din.SignCSR, din.SignKeySHA256 // a key of its own, but for DİN
	for _, tc := range []struct {
		name string
		req  *registration.Request
		op   registration.Operator
		want string
	}{
		{"server exists", newRequest(t, "AZ/GOV/DIN/ss1"), nil, "security server AZ/GOV/DIN/ss1 is already registered: give the new server another code"},
		{"member class unknown", newRequest(t, "AZ/XYZ/DGK/ss1"), nil, "member class XYZ of AZ/XYZ/DGK is not known to the registry (it has COM, GOV, NGO): correct the server identifier"},
		{"CSR key swapped", swapped, nil, "the key of signCsr (SHA-256 "},
		{"CSR of another member", misnamed, nil, `signCsr names "CN=DIN,O=GOV,C=AZ", not the owner member AZ/GOV/DGK`},
		{"another instance", newRequest(t, "EE/GOV/DGK/ss1"), nil, "is of instance EE, but this trust directory's CA issues for AZ"},
		{"batch refused", newRequest(t, "AZ/GOV/DGK/ss1"), refusingBatch{f.Operator}, "(the certificates issued for it were revoked)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, certs := state(), len(issued())
			op := tc.op
			if op == nil {
				op = f.Operator
			}
			_, err := registration.Register(ctx, op, f.CA, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if state() != before {
				t.Error("the registry changed")
			}
			after := issued()
			if tc.op == nil && len(after) != certs {
				t.Errorf("the CA issued %d certificates", len(after)-certs)
			}
			for _, r := range after[certs:] {
				if !r.Revoked || r.Reason != pkiutil.RevocationReasons["cessationOfOperation"] {
					t.Errorf("certificate %s issued for a refused registration is not revoked", r.SerialHex())
				}
			}
		})
	}

	req := newRequest(t, "AZ/GOV/DGK/ss1")
	res, err := registration.Register(ctx, f.Operator, f.CA, req)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, c := range res.Changes {
		actions = append(actions, c.Action())
	}
	if got := strings.Join(actions, " "); got != "member.add subsystem.add server.add server.approve server.client.add" || !res.NewMember {
		t.Errorf("batch %s (new member %v)", got, res.NewMember)
	}
	srv := f.Registry.Store().State().Servers["AZ/GOV/DGK/ss1"]
	if srv == nil || !srv.Approved || len(srv.Clients) != 1 || srv.Clients[0].String() != "AZ/GOV/DGK/customs" {
		t.Fatalf("registered server: %+v", srv)
	}
	auth, sign, err := res.Response.Chains()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cert *x509.Certificate
		want string
	}{{auth.Leaf, req.AuthKeySHA256}, {sign.Leaf, req.SignKeySHA256}} {
		if got, _ := registration.KeySHA256(c.cert.PublicKey); got != c.want {
			t.Errorf("certificate %q holds key %s, want %s", c.cert.Subject, got, c.want)
		}
	}
	if m, _ := pkiutil.MemberFromSubject(sign.Leaf.Subject); m != "AZ/GOV/DGK" {
		t.Errorf("signing certificate names %q", m)
	}

	// A second server of the now existing member adds no member and no
	// subsystem.
	res, err = registration.Register(ctx, f.Operator, f.CA, newRequest(t, "AZ/GOV/DGK/ss2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.NewMember || len(res.Changes) != 3 {
		t.Errorf("second server: new member %v, %d changes, want 3 (server, approval, client)", res.NewMember, len(res.Changes))
	}
}

// TestReadRequestRefuses: a malformed request file is refused with what
// to do, before anything else.
func TestReadRequestRefuses(t *testing.T) {
	good := newRequest(t, "AZ/GOV/DGK/ss1")
	data, _ := json.Marshal(good)
	for _, tc := range []struct {
		name, text, want string
	}{
		{"not JSON", "registration please", "is not a registration request (JSON as securityserver init writes it)"},
		{"unknown field", strings.Replace(string(data), `"format"`, `"colour":"blue","format"`, 1), `unknown field "colour"`},
		{"wrong format", strings.Replace(string(data), registration.RequestFormat, "x-road/1", 1), `format "x-road/1" is not`},
		{"bad server id", strings.Replace(string(data), "AZ/GOV/DGK/ss1", "DGK", 1), "not a registration request"},
		{"not a CSR", strings.Replace(string(data), "CERTIFICATE REQUEST", "CERTIFICATE", 2), "authCsr is not a PEM CERTIFICATE REQUEST"},
		{"two values", string(data) + string(data), "more than one JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "req.json")
			os.WriteFile(p, []byte(tc.text), 0o644)
			_, err := registration.ReadRequest(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, registration.ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}
