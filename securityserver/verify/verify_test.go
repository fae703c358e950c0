package verify_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/verify"
)

// federation is a throwaway PKI: the approved CA with its OCSP responder,
// a CA nobody approved, and certificates of both.
type federation struct {
	ca, rogue *pkiutil.CA
	responder *ocsp.Responder
	trust     *trust

	auth, rogueAuth, sign, rogueSign *x509.Certificate
	signKey, rogueSignKey            crypto.Signer
}

// trust is the global configuration's trust as the rules see it.
type trust struct {
	ca        *pkiutil.CA
	freshness time.Duration
}

func (t *trust) Roots() *x509.CertPool { return t.ca.Roots() }
func (t *trust) Intermediates() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(t.ca.Cert)
	return p
}
func (t *trust) OCSPFreshness() time.Duration { return t.freshness }

var (
	fedOnce sync.Once
	fed     *federation
	fedErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "verify-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fedDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var fedDir string // the federation's files, removed by TestMain

func getFederation(t testing.TB) *federation {
	t.Helper()
	fedOnce.Do(func() { fed, fedErr = newFederation(fedDir) })
	if fedErr != nil {
		t.Fatal(fedErr)
	}
	return fed
}

func newFederation(dir string) (*federation, error) {
	f := &federation{}
	var err error
	if f.ca, err = pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "ca"), KeyType: pkiutil.KeyECDSAP256}); err != nil {
		return nil, err
	}
	if f.rogue, err = pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "rogue"), KeyType: pkiutil.KeyECDSAP256}); err != nil {
		return nil, err
	}
	svc, err := pkiutil.NewServicesOf(f.ca, nil, pkiutil.Which{OCSP: true}) // the federation's responder, as pkiutil serve runs it
	if err != nil {
		return nil, err
	}
	f.responder = svc.OCSP
	f.trust = &trust{ca: f.ca, freshness: 10 * time.Minute}
	issue := func(ca *pkiutil.CA, req pkiutil.IssueRequest) (*x509.Certificate, crypto.Signer, error) {
		key, err := pkiutil.GenerateKey(pkiutil.KeyECDSAP256)
		if err != nil {
			return nil, nil, err
		}
		req.PublicKey = key.Public()
		cert, err := ca.Issue(req)
		return cert, key, err
	}
	authReq := pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: "AZ/GOV/DIN", DNSNames: []string{"ss.din.gov.az"}}
	if f.auth, _, err = issue(f.ca, authReq); err != nil {
		return nil, err
	}
	if f.rogueAuth, _, err = issue(f.rogue, authReq); err != nil {
		return nil, err
	}
	signReq := pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: "AZ/GOV/DIN"}
	if f.sign, f.signKey, err = issue(f.ca, signReq); err != nil {
		return nil, err
	}
	if f.rogueSign, f.rogueSignKey, err = issue(f.rogue, signReq); err != nil {
		return nil, err
	}
	return f, nil
}

// ocspFor is the responder's answer about cert now.
func (f *federation) ocspFor(t testing.TB, cert *x509.Certificate) []byte {
	t.Helper()
	reqDER, err := ocsp.CreateRequest(cert, f.ca.Cert, crypto.SHA256, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		t.Fatal(err)
	}
	return f.responder.Respond(context.Background(), req)
}

// issueAuth issues a fresh authentication certificate (for tests that
// revoke it).
func (f *federation) issueAuth(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := pkiutil.GenerateKey(pkiutil.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := f.ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: "AZ/GOV/EMDK", DNSNames: []string{"ss.emdk.gov.az"}, PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// wantRefusal checks that err is a refusal with the code, and that it
// names what was required and what was found, both in its fields and in
// the sentence the peer reads.
func wantRefusal(t *testing.T, err error, code, required, found string) *verify.Refusal {
	t.Helper()
	var r *verify.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("got %v (%T), want a refusal %s", err, err, code)
	}
	if r.Code != code {
		t.Errorf("code %s, want %s (%v)", r.Code, code, r)
	}
	if !strings.Contains(r.Required, required) {
		t.Errorf("required %q, want it to say %q", r.Required, required)
	}
	if !strings.Contains(r.Found, found) {
		t.Errorf("found %q, want it to say %q", r.Found, found)
	}
	if found != "none" && !strings.Contains(r.Error(), found) { // an absence is said in words
		t.Errorf("message %q does not name what was found (%q)", r.Error(), found)
	}
	return r
}

func member(t testing.TB, s string) identifier.Client {
	t.Helper()
	c, err := identifier.ParseClient(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func service(t *testing.T, s string) identifier.ServiceID {
	t.Helper()
	id, err := identifier.ParseService(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPeerCertificate(t *testing.T) {
	f := getFederation(t)
	registered := globalconf.AuthCertHash(f.auth)
	isRegistered := func(h []byte) bool { return string(h) == string(registered) }
	for _, tc := range []struct {
		name            string
		chain           []*x509.Certificate
		usage           x509.ExtKeyUsage
		registered      func([]byte) bool
		code            string // "" accepts
		required, found string
		reason          string
	}{
		{"registered auth certificate", []*x509.Certificate{f.auth}, x509.ExtKeyUsageClientAuth, isRegistered, "", "", "", ""},
		{"no certificate", nil, x509.ExtKeyUsageClientAuth, isRegistered,
			message.SslAuthenticationFailed, "a client certificate", "none", verify.ReasonNoCertificate},
		{"unapproved CA", []*x509.Certificate{f.rogueAuth}, x509.ExtKeyUsageClientAuth, isRegistered,
			message.SslAuthenticationFailed, "approved CA", f.rogueAuth.Subject.CommonName, verify.ReasonUnapprovedCA},
		{"not registered for that server", []*x509.Certificate{f.auth}, x509.ExtKeyUsageClientAuth, func([]byte) bool { return false },
			message.SslAuthenticationFailed, "registers for that security server", f.auth.Subject.CommonName, verify.ReasonNotRegistered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := verify.New(0)
			issuer, err := v.PeerCertificate(f.trust, tc.chain, tc.usage, tc.registered)
			if tc.code == "" {
				if err != nil || !issuer.Equal(f.ca.Cert) {
					t.Fatalf("refused: %v (issuer %v)", err, issuer)
				}
				return
			}
			r := wantRefusal(t, err, tc.code, tc.required, tc.found)
			if r.Reason != tc.reason {
				t.Errorf("reason %q, want %q", r.Reason, tc.reason)
			}
		})
	}
}

func TestPeerStatus(t *testing.T) {
	f := getFederation(t)
	good := f.ocspFor(t, f.auth)
	revokedCert := f.issueAuth(t)
	if _, err := f.ca.Revoke(revokedCert.SerialNumber, 1); err != nil {
		t.Fatal(err)
	}
	revoked := f.ocspFor(t, revokedCert)
	later := func() time.Time { return time.Now().Add(15 * time.Minute) } // past the freshness limit, before nextUpdate
	for _, tc := range []struct {
		name            string
		der             []byte
		cert            *x509.Certificate
		now             func() time.Time
		code            string
		required, found string
		reason          string
	}{
		{"good and fresh", good, f.auth, nil, "", "", "", ""},
		{"no response", nil, f.auth, nil, message.SslAuthenticationFailed, "at most 10m0s old", "none", verify.ReasonOCSP},
		{"stale", good, f.auth, later, message.SslAuthenticationFailed, "at most 10m0s old", "the limit is 10m0s", verify.ReasonOCSP},
		{"about another certificate", good, revokedCert, nil, message.SslAuthenticationFailed, "good OCSP response for", "ocsp", verify.ReasonOCSP},
		{"revoked", revoked, revokedCert, nil, message.SslAuthenticationFailed, "good OCSP response", "was revoked at", verify.ReasonRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := verify.New(0)
			v.Now = tc.now
			err := v.PeerStatus(f.trust, tc.der, tc.cert, f.ca.Cert)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			r := wantRefusal(t, err, tc.code, tc.required, tc.found)
			if r.Reason != tc.reason {
				t.Errorf("reason %q, want %q", r.Reason, tc.reason)
			}
		})
	}
}

// signed returns data and its X-Road signature by key and cert, with
// stapled OCSP responses.
func signed(t *testing.T, key crypto.Signer, cert *x509.Certificate, responses ...[]byte) (data, sig []byte) {
	t.Helper()
	data = []byte(`<x>Şəki</x>`)
	s := &signature.Signer{Key: key, Cert: cert}
	if len(responses) > 0 {
		s.OCSP = responses[0]
	}
	sig, err := s.Sign(signature.Part{URI: "/message.xml", Data: data, MimeType: "text/xml"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return data, sig
}

func TestSignatureValue(t *testing.T) {
	f := getFederation(t)
	data, sig := signed(t, f.signKey, f.sign, f.ocspFor(t, f.sign))
	for _, tc := range []struct {
		name            string
		sig, data       []byte
		code            string
		required, found string
	}{
		{"verifies", sig, data, "", "", ""},
		{"no signature", nil, data, message.MalformedSignature, "a signature part", "none"},
		{"not XML", []byte("<asic:XAdESSignatures"), data, message.MalformedSignature, "well-formed XAdES", "malformed"},
		{"other bytes", sig, []byte(`<x>Şamaxı</x>`), message.InvalidSignatureValue, "exact bytes", "digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verify.SignatureValue(tc.sig, tc.data)
			if tc.code == "" {
				if err != nil || !got.Cert.Equal(f.sign) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefusal(t, err, tc.code, tc.required, tc.found)
		})
	}
}

func TestSignerChain(t *testing.T) {
	f := getFederation(t)
	v := verify.New(0)
	if issuer, err := v.SignerChain(f.trust, f.sign, nil); err != nil || !issuer.Equal(f.ca.Cert) {
		t.Fatalf("approved signer refused: %v", err)
	}
	_, err := v.SignerChain(f.trust, f.rogueSign, nil)
	wantRefusal(t, err, message.CertValidation, "approved CA", f.rogueSign.Subject.CommonName)
}

func TestSignerIdentity(t *testing.T) {
	f := getFederation(t)
	for _, tc := range []struct {
		name string
		want string
		code string
	}{
		{"the member that must sign", "AZ/GOV/DIN", ""},
		{"another member", "AZ/GOV/EMDK", message.IncorrectCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verify.SignerIdentity(f.sign, member(t, tc.want))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			r := wantRefusal(t, err, tc.code, tc.want, "AZ/GOV/DIN")
			if !strings.Contains(r.Error(), tc.want) {
				t.Errorf("message %q does not name the member required", r.Error())
			}
		})
	}
}

func TestSignerStatus(t *testing.T) {
	f := getFederation(t)
	good := f.ocspFor(t, f.sign)
	other := f.ocspFor(t, f.auth)
	for _, tc := range []struct {
		name            string
		responses       [][]byte
		code            string
		required, found string
	}{
		{"good response", [][]byte{good}, "", "", ""},
		{"good one after another's", [][]byte{other, good}, "", "", ""},
		{"none", nil, message.CertValidation, "good OCSP response", "none"},
		{"only another certificate's", [][]byte{other}, message.CertValidation, "good OCSP response", "ocsp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verify.New(0).SignerStatus(f.trust, tc.responses, f.sign, f.ca.Cert)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefusal(t, err, tc.code, tc.required, tc.found)
		})
	}
}

// TestSignature: the rules in turn, each refusal carrying its own code.
func TestSignature(t *testing.T) {
	f := getFederation(t)
	data, sig := signed(t, f.signKey, f.sign, f.ocspFor(t, f.sign))
	_, rogueSig := signed(t, f.rogueSignKey, f.rogueSign, f.ocspFor(t, f.sign))
	_, noOCSP := signed(t, f.signKey, f.sign, f.ocspFor(t, f.auth)) // only another certificate's
	v := verify.New(0)
	din, emdk := member(t, "AZ/GOV/DIN"), member(t, "AZ/GOV/EMDK")
	for _, tc := range []struct {
		name   string
		sig    []byte
		signer identifier.Client
		code   string
	}{
		{"valid", sig, din, ""},
		{"unapproved CA", rogueSig, din, message.CertValidation},
		{"wrong signer", sig, emdk, message.IncorrectCertificate},
		{"no OCSP", noOCSP, din, message.CertValidation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Signature(f.trust, tc.sig, data, tc.signer)
			var r *verify.Refusal
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && (!errors.As(err, &r) || r.Code != tc.code):
				t.Fatalf("got %v, want a %s refusal", err, tc.code)
			}
		})
	}
}

type hosting map[identifier.Client]bool

func (h hosting) Hosts(_ identifier.ServerID, c identifier.Client) bool { return h[c] }

func TestHostedProvider(t *testing.T) {
	server, err := identifier.ParseServer("AZ/GOV/DIN/ss1")
	if err != nil {
		t.Fatal(err)
	}
	pop := member(t, "AZ/GOV/DIN/population")
	h := hosting{pop: true}
	if err := verify.HostedProvider(h, server, pop); err != nil {
		t.Fatalf("hosted provider refused: %v", err)
	}
	err = verify.HostedProvider(h, server, member(t, "AZ/GOV/EMDK/realestate"))
	wantRefusal(t, err, message.UnknownService, "AZ/GOV/DIN/ss1", "AZ/GOV/EMDK/realestate")
}

func TestKnownService(t *testing.T) {
	provided := service(t, "AZ/GOV/DIN/population/getPersonByFin/v1")
	lookup := func(id identifier.ServiceID) (string, bool) {
		if id == provided {
			return "http://127.0.0.1:9000/din", true
		}
		return "", false
	}
	if url, err := verify.KnownService(lookup, provided); err != nil || url == "" {
		t.Fatalf("provided service refused: %v", err)
	}
	_, err := verify.KnownService(lookup, service(t, "AZ/GOV/DIN/population/getPassport/v1"))
	wantRefusal(t, err, message.UnknownService, "a service this security server provides", "getPassport")
}

func TestAccess(t *testing.T) {
	store, err := acl.Open(filepath.Join(t.TempDir(), "acl.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := service(t, "AZ/GOV/DIN/population/getPersonByFin/v1")
	emdk := member(t, "AZ/GOV/EMDK/realestate")
	sub, err := acl.ParseSubject(emdk.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Grant(svc.WithoutVersion(), sub, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	checker, err := acl.NewChecker(store)
	if err != nil {
		t.Fatal(err)
	}
	noGroups := func(identifier.GlobalGroupID, identifier.Client) bool { return false }
	if err := verify.Access(checker, svc, emdk, noGroups); err != nil {
		t.Fatalf("granted client refused: %v", err)
	}
	err = verify.Access(checker, svc, member(t, "AZ/GOV/DSMF/insurance"), noGroups)
	wantRefusal(t, err, message.AccessDenied, "getPersonByFin", "AZ/GOV/DSMF/insurance")
}

func TestReplay(t *testing.T) {
	emdk := member(t, "AZ/GOV/EMDK/realestate")
	dsmf := member(t, "AZ/GOV/DSMF/insurance")
	g := verify.NewReplays(time.Minute, 0)
	now := time.Now()
	for _, tc := range []struct {
		name   string
		client identifier.Client
		id     string
		at     time.Time
		code   string
	}{
		{"first", emdk, "id-1", now, ""},
		{"same id again", emdk, "id-1", now.Add(time.Second), verify.DuplicateMessage},
		{"same id, another client", dsmf, "id-1", now.Add(time.Second), ""},
		{"same id after the window", emdk, "id-1", now.Add(2 * time.Minute), ""},
	} {
		err := verify.Replay(g, tc.client, tc.id, tc.at)
		if tc.code == "" {
			if err != nil {
				t.Fatalf("%s: refused: %v", tc.name, err)
			}
			continue
		}
		wantRefusal(t, err, tc.code, "new from "+tc.client.String(), tc.id)
	}
	// Seeded from the log after a restart.
	g = verify.NewReplays(time.Minute, 0)
	g.Remember(emdk.String(), "id-2", now)
	wantRefusal(t, verify.Replay(g, emdk, "id-2", now.Add(time.Second)), verify.DuplicateMessage, "new from", "id-2")
}

// TestChainCache: a verified chain is reused, but not across
// configurations (another Trust value), which may approve other CAs.
func TestChainCache(t *testing.T) {
	f := getFederation(t)
	v := verify.New(0)
	if _, err := v.Chain(f.trust, f.auth, nil, x509.ExtKeyUsageClientAuth); err != nil {
		t.Fatal(err)
	}
	other := &trust{ca: f.rogue, freshness: time.Minute}
	if _, err := v.Chain(other, f.auth, nil, x509.ExtKeyUsageClientAuth); err == nil {
		t.Fatal("a chain verified under one configuration was accepted under another that does not approve its CA")
	}
}

// BenchmarkSignature applies the signature rules to one message signed as
// the proxies sign (the issuing CA embedded), with the Verifier's chain
// and OCSP caches warm, as on a security server under load.
func BenchmarkSignature(b *testing.B) {
	f := getFederation(b)
	din := member(b, "AZ/GOV/DIN")
	s := &signature.Signer{Key: f.signKey, Cert: f.sign, OCSP: f.ocspFor(b, f.sign), Extra: []*x509.Certificate{f.ca.Cert}}
	data := []byte(`<x>DİN message, FİN 5ZK7Q2M</x>`)
	sig, err := s.Sign(signature.Part{URI: signature.MessageURI, Data: data, MimeType: "text/xml"}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	v := verify.New(0)
	b.ReportAllocs()
	defer testtool.ReportCPU(b, testtool.CPUTime())
	for b.Loop() {
		if err := v.Signature(f.trust, sig, data, din); err != nil {
			b.Fatal(err)
		}
	}
}
