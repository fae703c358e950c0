package securityserver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
	"github.com/sluz/sluz/securityserver/message"
)

// TestNewPeerServedOnFirstRequest: a security server registered a moment
// ago is accepted by the provider's server on its very first request,
// although the provider's periodic refresh (60 s) has not run since: the
// unknown certificate makes it ask the registry at once. A certificate the
// registry does not know is still refused, and the refusal names the
// configuration version it was judged by.
func TestNewPeerServedOnFirstRequest(t *testing.T) {
	e := e2eNew(t)
	issueAuth := func(name string) tls.Certificate {
		t.Helper()
		dir := t.TempDir()
		req := pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: "AZ/GOV/EMDK", DNSNames: []string{name + ".emdk.gov.az"}}
		if _, _, err := e.f.CA.IssueToFiles(req, filepath.Join(dir, "auth.pem"), filepath.Join(dir, "auth.key"), false); err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "auth.pem"), filepath.Join(dir, "auth.key"))
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	emdk := e.members["EMDK"]
	send := func(cert tls.Certificate) e2eReply {
		soap := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		body, ct := e2eTransport(t, e.ocsp(t, cert.Leaf, ocsp.Good).Raw, soap, e.sign(t, emdk, nil, soap))
		return e.post(t, "DIN", cert, body, ct)
	}

	// ƏMDK registers a second security server, ss2, hosting its subsystem.
	ss2, err := identifier.ParseServer("AZ/GOV/EMDK/ss2")
	if err != nil {
		t.Fatal(err)
	}
	client, err := identifier.ParseClient(e2eEMDKClient)
	if err != nil {
		t.Fatal(err)
	}
	cert := issueAuth("ss2")
	register, _ := adminapi.NewBatchRequest("emdk-ss2", []store.Change{
		store.AddServer{ID: ss2, Address: "127.0.0.1:1", AuthCert: string(pkiutil.EncodeCertificates(cert.Leaf))},
		store.ApproveServer{ID: ss2},
		store.AddServerClient{Server: ss2, Client: client},
	})
	if err := e.f.Operator.Do(context.Background(), http.MethodPost, "/api/v1/batch", register, nil); err != nil {
		t.Fatal(err)
	}
	e2eDecode(t, send(cert)) // signed and answered: no refusal, first try
	e.expectCalls(t, "DIN", 1)

	// A certificate of the federation's CA that no server registered.
	f := e2eWantFault(t, send(issueAuth("ss9")), message.Code(message.ServerProxy, message.SslAuthenticationFailed))
	e2eContains(t, f, "not registered")
	if err := e.f.ConfClient.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	snap, err := e.f.ConfClient.Current()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("global configuration version %d, last confirmed by the registry", snap.Version); !strings.Contains(f.String, want) {
		t.Fatalf("the refusal does not name the configuration version it used (%q): %s", want, f.String)
	}
}
