package securityserver_test

// End-to-end tests of the security server: a whole local federation
// (internal/harness/localfed: PKI with OCSP responder and TSA, registry, sample
// provider IS, three running security servers) on loopback. Every refused
// exchange is checked the way the calling IS sees it: HTTP 200, text/xml, a
// SOAP Fault with the exact X-Road fault code; where it matters, also that
// the provider IS was never called.
//
// Forged and replayed messages are sent by a hand-made client security
// server (e2eEnv.post): it signs with a member's key from the federation's
// state directory, staples OCSP responses fetched from the federation's
// responder, and speaks mutual TLS to a service proxy directly.
//
// Test-only mutation: the tests rewrite Agency.Config.Services[i].URL (and
// Timeout) of running servers before sending them any request, to count the
// calls that reach a provider IS and to make a provider fail. The server
// reads that *config.Config per request; nothing in the product is changed.

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/harness/sampleis"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
)

// e2eTimeout bounds every HTTP exchange of these tests.
const e2eTimeout = 20 * time.Second

// The sample identifiers (configs/federation.yaml).
const (
	e2eDINService  = "AZ/GOV/DIN/population/getPersonByFin/v1"
	e2eEMDKClient  = "AZ/GOV/EMDK/realestate"
	e2eDSMFClient  = "AZ/GOV/DSMF/insurance"
	e2eDINClient   = "AZ/GOV/DIN/population"
	e2eEMDKService = "AZ/GOV/EMDK/realestate/getLandOwnershipByFin/v1"
	e2eDSMFService = "AZ/GOV/DSMF/insurance/getInsuredPerson/v1"
)

// e2eDuplicate is the replay refusal (securityserver.codeDuplicateMessage).
var e2eDuplicate = message.Code(message.ServerProxy, "DuplicateMessage")

// e2eMember is one sample agency's keys, read from the state directory, with
// good OCSP responses for both certificates.
type e2eMember struct {
	code     string
	auth     tls.Certificate // auth.pem (certificate, issuing CA) and auth.key
	authCert *x509.Certificate
	authOCSP []byte
	signKey  crypto.Signer
	signCert *x509.Certificate
	signOCSP []byte
}

// e2eEnv is a running federation with the members' keys and a counter of
// the requests that reached each provider IS.
type e2eEnv struct {
	f       *localfed.Federation
	close   func()
	members map[string]*e2eMember
	calls   map[string]*atomic.Int64 // by agency code: requests that reached its provider IS
	ids     atomic.Int64
}

// e2eStart starts a federation in dir (reusing its state if any). The
// returned close function may be called early; it runs once.
func e2eStart(t *testing.T, dir string) (*localfed.Federation, func()) {
	t.Helper()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true})
	if err != nil {
		t.Fatalf("starting the local federation: %v", err)
	}
	var once sync.Once
	closeFn := func() {
		once.Do(func() {
			// The security servers fetch OCSP with the ocsp package's
			// default client (http.DefaultTransport). A connection it
			// dialled but never used stays in StateNew at the responder,
			// which makes http.Server.Shutdown in pkiutil.Services.Serve
			// wait 5 s for it; closing the idle client side ends it.
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			if err := f.Close(); err != nil {
				t.Logf("closing the federation: %v", err)
			}
		})
	}
	t.Cleanup(closeFn)
	return f, closeFn
}

// e2eNew starts a federation, loads the members' keys and puts a counting
// relay in front of every provider IS.
func e2eNew(t *testing.T) *e2eEnv {
	t.Helper()
	f, closeFn := e2eStart(t, t.TempDir())
	e := &e2eEnv{f: f, close: closeFn, members: map[string]*e2eMember{}, calls: map[string]*atomic.Int64{}}
	for _, a := range f.Agencies {
		e.members[a.Code] = e.loadMember(t, a.Code)
		e.calls[a.Code] = e2eCountCalls(t, f, a)
	}
	return e
}

func (e *e2eEnv) agency(code string) *localfed.Agency {
	for _, a := range e.f.Agencies {
		if a.Code == code {
			return a
		}
	}
	panic("no agency " + code)
}

func (e *e2eEnv) loadMember(t *testing.T, code string) *e2eMember {
	t.Helper()
	dir := filepath.Join(e.f.Dir, code)
	auth, err := tls.LoadX509KeyPair(filepath.Join(dir, "auth.pem"), filepath.Join(dir, "auth.key"))
	if err != nil {
		t.Fatal(err)
	}
	authCert, err := x509.ParseCertificate(auth.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	signCert, err := pkiutil.ReadCertificate(filepath.Join(dir, "sign.pem"))
	if err != nil {
		t.Fatal(err)
	}
	signKey, err := pkiutil.ReadPrivateKey(filepath.Join(dir, "sign.key"))
	if err != nil {
		t.Fatal(err)
	}
	m := &e2eMember{code: code, auth: auth, authCert: authCert, signKey: signKey, signCert: signCert}
	m.authOCSP = e.ocsp(t, authCert, ocsp.Good).Raw
	m.signOCSP = e.ocsp(t, signCert, ocsp.Good).Raw
	return m
}

// ocsp fetches a verified response about cert from the federation's
// responder and requires the given status.
func (e *e2eEnv) ocsp(t *testing.T, cert *x509.Certificate, want ocsp.CertStatus) *ocsp.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	resp, err := (&ocsp.Client{}).Fetch(ctx, e.f.OCSPURL, cert, e.f.CA.Cert, ocsp.VerifyOptions{MaxAge: time.Hour})
	if err != nil {
		t.Fatalf("OCSP for %q: %v", cert.Subject.CommonName, err)
	}
	if resp.Status != want {
		t.Fatalf("OCSP status of %q is %s, want %s", cert.Subject.CommonName, resp.Status, want)
	}
	return resp
}

// e2eCountCalls relays the agency's service endpoints through a counting
// proxy to the sample IS (a test-only mutation of the running server's
// configuration, made before it serves any request).
func e2eCountCalls(t *testing.T, f *localfed.Federation, a *localfed.Agency) *atomic.Int64 {
	t.Helper()
	n := new(atomic.Int64)
	hc := &http.Client{Timeout: e2eTimeout}
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, f.ISURL+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
		req.Header.Set("SOAPAction", r.Header.Get("SOAPAction"))
		resp, err := hc.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(relay.Close)
	for i := range a.Config.Services {
		s := &a.Config.Services[i]
		if !strings.HasPrefix(s.URL, f.ISURL) {
			t.Fatalf("%s service %s: URL %s is not on the sample IS %s", a.Code, s.ID, s.URL, f.ISURL)
		}
		s.URL = relay.URL + strings.TrimPrefix(s.URL, f.ISURL)
	}
	return n
}

// newID returns a message id unique within the test binary.
func (e *e2eEnv) newID(t *testing.T) string {
	return fmt.Sprintf("e2e-%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano(), e.ids.Add(1))
}

// e2eRequest builds an X-Road request as an IS would.
func e2eRequest(t *testing.T, client, service, id, body string) []byte {
	t.Helper()
	c, err := identifier.ParseClient(client)
	if err != nil {
		t.Fatal(err)
	}
	s, err := identifier.ParseService(service)
	if err != nil {
		t.Fatal(err)
	}
	return localfed.RequestXML(c, s, id, "AZTEST0001", body)
}

// e2eReply is an HTTP answer, read whole.
type e2eReply struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

// call sends body to an agency's client proxy as an IS does.
func (e *e2eEnv) call(t *testing.T, code string, body []byte) e2eReply {
	t.Helper()
	return e2eDo(t, http.MethodPost, e.agency(code).ClientURL, "text/xml; charset=UTF-8", body)
}

func e2eDo(t *testing.T, method, url, contentType string, body []byte) e2eReply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return e2eSend(t, &http.Client{Timeout: e2eTimeout}, req)
}

func e2eSend(t *testing.T, hc *http.Client, req *http.Request) e2eReply {
	t.Helper()
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer of %s: %v", req.URL, err)
	}
	return e2eReply{status: resp.StatusCode, header: resp.Header, body: data, took: time.Since(start)}
}

// e2eWantFault requires r to be a SOAP fault as X-Road sends it (HTTP 200,
// text/xml) with exactly the code want.
func e2eWantFault(t *testing.T, r e2eReply, want string) *message.Fault {
	t.Helper()
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	f, ok := message.ParseFault(r.body)
	if r.status != http.StatusOK || mt != "text/xml" || !ok {
		t.Fatalf("want fault %s as HTTP 200 text/xml, got HTTP %d %q:\n%.2000s", want, r.status, r.header.Get("Content-Type"), r.body)
	}
	if f.Code != want {
		t.Fatalf("fault code %q (%s), want %q", f.Code, f.String, want)
	}
	if f.Detail == "" {
		t.Errorf("fault %s has no faultDetail (log correlation id)", f.Code)
	}
	return f
}

// e2eWantAnswer requires r to be the provider's answer to request, carrying
// the requestHash of the request's exact bytes.
func e2eWantAnswer(t *testing.T, r e2eReply, request []byte) *message.Message {
	t.Helper()
	if f, ok := message.ParseFault(r.body); ok {
		t.Fatalf("want an answer, got fault %s: %s", f.Code, f.String)
	}
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if r.status != http.StatusOK || mt != "text/xml" {
		t.Fatalf("want HTTP 200 text/xml, got HTTP %d %q:\n%.2000s", r.status, r.header.Get("Content-Type"), r.body)
	}
	return e2eCheckAnswer(t, r.body, r.header.Get("Content-Type"), request)
}

func e2eCheckAnswer(t *testing.T, data []byte, contentType string, request []byte) *message.Message {
	t.Helper()
	req, err := message.Parse(request, "", message.ParseOptions{Request: true})
	if err != nil {
		t.Fatalf("the test's own request does not parse: %v", err)
	}
	resp, err := message.Parse(data, contentType, message.ParseOptions{})
	if err != nil {
		t.Fatalf("the answer is not an X-Road message: %v\n%.2000s", err, data)
	}
	if resp.IsFault {
		t.Fatalf("the answer is a fault: %s: %s", resp.Fault.Code, resp.Fault.String)
	}
	if resp.Header.ID != req.Header.ID || resp.Header.Client != req.Header.Client || resp.Header.Service != req.Header.Service {
		t.Errorf("answer headers (id %q, client %s, service %s) do not echo the request's", resp.Header.ID, resp.Header.Client, resp.Header.Service)
	}
	if want := req.Header.Service.ServiceCode + "Response"; resp.Body.Local != want {
		t.Errorf("answer wrapper <%s>, want <%s>", resp.Body.Local, want)
	}
	rh := resp.Header.RequestHash
	sum := sha512.Sum512(request)
	switch {
	case rh == nil:
		t.Errorf("the answer has no xrd:requestHash")
	case rh.Algorithm != message.HashAlgorithmSHA512 || !bytes.Equal(rh.Value, sum[:]):
		t.Errorf("xrd:requestHash %s %x is not the SHA-512 of the request bytes", rh.Algorithm, rh.Value)
	}
	if !bytes.Contains(data, []byte(":requestHash")) {
		t.Errorf("no xrd:requestHash element in the answer:\n%s", data)
	}
	return resp
}

// sign signs soap as member m, stapling signOCSP (m's good response when nil).
func (e *e2eEnv) sign(t *testing.T, m *e2eMember, signOCSP, soap []byte) []byte {
	t.Helper()
	if signOCSP == nil {
		signOCSP = m.signOCSP
	}
	s := signature.Signer{Key: m.signKey, Cert: m.signCert, OCSP: signOCSP, Extra: []*x509.Certificate{e.f.CA.Cert}}
	sig, err := s.Sign(signature.Part{URI: "/message.xml", Data: soap, MimeType: "text/xml"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// e2eTransport encodes a transport request: the sender's auth OCSP, the SOAP
// message and its signature.
func e2eTransport(t *testing.T, authOCSP, soap, sig []byte) ([]byte, string) {
	t.Helper()
	tm := &transport.Message{OCSP: [][]byte{authOCSP}, SOAPType: "text/xml; charset=UTF-8", SOAP: soap, Signature: sig}
	body, err := tm.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return body.Bytes(), tm.ContentType
}

// post sends a transport message to agency to's service proxy over mutual
// TLS with client certificate cert, as a client security server does, and
// checks that the server presented to's registered auth certificate.
func (e *e2eEnv) post(t *testing.T, to string, cert tls.Certificate, body []byte, contentType string) e2eReply {
	t.Helper()
	want := e.members[to].authCert
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			Certificates:       []tls.Certificate{cert},
			MinVersion:         tls.VersionTLS13,
			InsecureSkipVerify: true, // replaced by the exact-certificate check below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 || !cs.PeerCertificates[0].Equal(want) {
					return errors.New("the service proxy did not present its registered authentication certificate")
				}
				return nil
			},
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, "https://"+e.agency(to).Config.ServerProxy.Listen+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(transport.HeaderRequestID, message.NewUUID())
	req.Header.Set(transport.HeaderHashAlgorithm, transport.HashAlgorithm)
	req.Header.Set(transport.HeaderOriginalContentType, "text/xml; charset=UTF-8")
	req.Header.Set(transport.HeaderOriginalSOAPAction, "")
	req.Header.Set(transport.HeaderProxyVersion, securityserver.Version)
	return e2eSend(t, &http.Client{Transport: tr, Timeout: e2eTimeout}, req)
}

// sendAs is the honest client security server of from: signed by from's
// member key, TLS with from's auth certificate.
func (e *e2eEnv) sendAs(t *testing.T, from, to string, soap []byte) e2eReply {
	t.Helper()
	m := e.members[from]
	body, ct := e2eTransport(t, m.authOCSP, soap, e.sign(t, m, nil, soap))
	return e.post(t, to, m.auth, body, ct)
}

// e2eDecode requires a service proxy's reply to be a signed transport
// response and decodes it.
func e2eDecode(t *testing.T, r e2eReply) *transport.Message {
	t.Helper()
	if !transport.IsMultipart(r.header) {
		if f, ok := message.ParseFault(r.body); ok {
			t.Fatalf("the service proxy refused: %s: %s", f.Code, f.String)
		}
		t.Fatalf("the service proxy answered HTTP %d %q:\n%.2000s", r.status, r.header.Get("Content-Type"), r.body)
	}
	tm, err := transport.Decode(bytes.NewReader(r.body), r.header.Get("Content-Type"), message.DefaultMaxSize, false)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Signature == nil {
		t.Fatalf("the response carries no signature (fault part: %s)", tm.Fault)
	}
	return tm
}

// expectCalls requires the provider IS of code to have been called n times
// in total.
func (e *e2eEnv) expectCalls(t *testing.T, code string, n int64) {
	t.Helper()
	if got := e.calls[code].Load(); got != n {
		t.Errorf("the %s provider IS was called %d times, want %d", code, got, n)
	}
}

// e2eQueries are the allowed sample queries and what their answers hold.
var e2eQueries = []struct {
	from, client, to, service, body string
	want                            []string
}{
	{"EMDK", e2eEMDKClient, "DIN", e2eDINService, "<fin>5ZJ8K2L</fin>", []string{"<surname>Əliyev</surname>", "<name>Rəşad</name>"}},
	{"DSMF", e2eDSMFClient, "EMDK", e2eEMDKService, "<fin>2BXR4T6</fin>", []string{"Hüseynov Tural Şahin oğlu", "<parcelCount>2</parcelCount>"}},
	{"DIN", e2eDINClient, "DSMF", e2eDSMFService, "<fin>5ZJ8K2L</fin>", []string{"<surname>Əliyev</surname>"}},
}

// TestE2EExchange runs the sample exchanges and the refusals of one
// federation: malformed input, unknown parties, access rights, replays,
// forged signatures and unregistered TLS peers.
func TestE2EExchange(t *testing.T) {
	e := e2eNew(t)

	t.Run("SampleQueries", func(t *testing.T) {
		if len(localfed.Queries) != 9 {
			t.Fatalf("localfed.Queries has %d sample queries; this test knows 9 (5 SOAP, 4 REST: TestE2EREST)", len(localfed.Queries))
		}
		for _, q := range e2eQueries {
			before := e.calls[q.to].Load()
			req := e2eRequest(t, q.client, q.service, e.newID(t), q.body)
			r := e.call(t, q.from, req)
			e2eWantAnswer(t, r, req)
			for _, w := range q.want {
				if !bytes.Contains(r.body, []byte(w)) {
					t.Errorf("%s -> %s: answer lacks %s:\n%s", q.from, q.service, w, r.body)
				}
			}
			e.expectCalls(t, q.to, before+1)
		}
		// localfed's own runner agrees, the refused query included.
		for _, q := range localfed.Queries {
			ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
			res := e.f.RunQuery(ctx, q)
			cancel()
			if !res.OK {
				t.Errorf("sample query %q: %s", q.Name, res.Outcome)
			}
		}
	})

	t.Run("SignaturesVerifyWithXmlsec1", func(t *testing.T) {
		xmlsec := testtool.Require(t, "xmlsec1")
		for _, q := range e2eQueries {
			req := e2eRequest(t, q.client, q.service, e.newID(t), q.body)
			r := e.sendAs(t, q.from, q.to, req)
			if r.status != http.StatusOK {
				t.Fatalf("%s -> %s: HTTP %d", q.from, q.to, r.status)
			}
			tm := e2eDecode(t, r)
			if got := r.header.Get(transport.HeaderHashAlgorithm); got != transport.HashAlgorithm {
				t.Errorf("response %s %q, want %q", transport.HeaderHashAlgorithm, got, transport.HashAlgorithm)
			}
			e2eCheckAnswer(t, tm.SOAP, tm.SOAPType, req)
			for _, w := range q.want {
				if !bytes.Contains(tm.SOAP, []byte(w)) {
					t.Errorf("%s -> %s: answer lacks %s", q.from, q.service, w)
				}
			}
			// Şlüz's own verifier: signed by the provider member.
			v, err := signature.Verify(tm.Signature, signature.Part{URI: "/message.xml", Data: tm.SOAP, MimeType: "text/xml"})
			if err != nil {
				t.Fatalf("response signature: %v", err)
			}
			if !v.Cert.Equal(e.members[q.to].signCert) {
				t.Errorf("response signed by %q, want %s's signing certificate", v.Cert.Subject, q.to)
			}
			// An independent XML-DSig implementation, both directions.
			sig := e.sign(t, e.members[q.from], nil, req)
			e2eXmlsec(t, xmlsec, e.f.Dir, "request "+q.from+" -> "+q.to, req, sig)
			e2eXmlsec(t, xmlsec, e.f.Dir, "response "+q.to+" -> "+q.from, tm.SOAP, tm.Signature)
		}
	})

	t.Run("MalformedInput", func(t *testing.T) {
		before := e.calls["DIN"].Load()
		good := func() []byte { return e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>") }
		url := e.agency("EMDK").ClientURL

		e2eWantFault(t, e.call(t, "EMDK", []byte("this is not XML <<<")), message.Code(message.ClientPrefix, message.InvalidSoap))

		noID := good()
		i, j := bytes.Index(noID, []byte("<xrd:id>")), bytes.Index(noID, []byte("</xrd:id>"))
		noID = append(noID[:i:i], noID[j+len("</xrd:id>"):]...)
		e2eWantFault(t, e.call(t, "EMDK", noID), message.Code(message.ClientPrefix, message.MissingHeaderField))

		badVersion := bytes.Replace(good(), []byte("<xrd:protocolVersion>4.0<"), []byte("<xrd:protocolVersion>3.1<"), 1)
		e2eWantFault(t, e.call(t, "EMDK", badVersion), message.Code(message.ClientPrefix, message.InvalidProtocolVersion))

		e2eWantFault(t, e2eDo(t, http.MethodGet, url, "", nil), message.Code(message.ClientPrefix, message.InvalidHttpMethod))
		e2eWantFault(t, e2eDo(t, http.MethodPost, url, "application/json", good()), message.Code(message.ClientPrefix, message.InvalidContentType))

		// 10 MiB (the default limits.maxMessageSize) + 1 KiB, with and
		// without an announced length.
		if max := e.agency("EMDK").Config.Limits.MaxMessageSize; int64(max) != message.DefaultMaxSize {
			t.Fatalf("EMDK maxMessageSize is %d, this test assumes %d", max, message.DefaultMaxSize)
		}
		big := good()
		pad := bytes.Repeat([]byte(" "), message.DefaultMaxSize+1024-len(big))
		big = append(big[:len(big)-1:len(big)-1], append(pad, '\n')...) // white space after the envelope
		for _, chunked := range []bool{false, true} {
			r := e2eRawPost(t, url, big, chunked)
			f := e2eWantFault(t, r, message.Code(message.ClientPrefix, message.InvalidMessage))
			if !strings.Contains(f.String, "limit") {
				t.Errorf("chunked=%v: fault string %q does not name the limit", chunked, f.String)
			}
		}
		e.expectCalls(t, "DIN", before)
	})

	// The message protocol's loose ends, as X-Road's client proxy behaves
	// (src/service/proxy/proxy-core: validateSoapActionHeader, the proxy
	// tests SoapActionMalformedHeader and SoapFaultToClientProxy,
	// SoapUtils.validateServiceName): the refusals come from the client
	// proxy as Client.* faults and nothing reaches the provider; what X-Road
	// accepts still gets through.
	t.Run("MessageProtocolLooseEnds", func(t *testing.T) {
		url := e.agency("EMDK").ClientURL
		good := func() []byte { return e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>") }
		withAction := func(body []byte, action string) e2eReply {
			req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
			req.Header.Set("SOAPAction", action)
			return e2eSend(t, &http.Client{Timeout: e2eTimeout}, req)
		}
		replace := func(b []byte, old, new string) []byte {
			if !bytes.Contains(b, []byte(old)) {
				t.Fatalf("request lacks %q", old)
			}
			return bytes.Replace(b, []byte(old), []byte(new), -1)
		}
		before := e.calls["DIN"].Load()

		f := e2eWantFault(t, withAction(good(), "http://example.org/action"), message.Code(message.ClientPrefix, message.InvalidSoapAction))
		e2eContains(t, f, "http://example.org/action")
		e2eWantFault(t, withAction(good(), `"get person"`), message.Code(message.ClientPrefix, message.InvalidSoapAction))

		// X-Road's fault.query, sent as a request.
		faultReq := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xroad="http://x-road.eu/xsd/xroad.xsd">
    <SOAP-ENV:Body>
        <SOAP-ENV:Fault>
            <faultcode>CODE</faultcode>
            <faultstring>STRING</faultstring>
            <faultactor>ACTOR</faultactor>
            <detail><xroad:faultDetail>DETAIL</xroad:faultDetail></detail>
        </SOAP-ENV:Fault>
    </SOAP-ENV:Body>
</SOAP-ENV:Envelope>`)
		f = e2eWantFault(t, e.call(t, "EMDK", faultReq), "Client.CODE")
		e2eContains(t, f, "SOAP Fault")
		// With a client and a service beside the fault, still no exchange.
		withHeaders := good()
		i, j := bytes.Index(withHeaders, []byte("<svc:getPersonByFin ")), bytes.Index(withHeaders, []byte("</svc:getPersonByFin>"))
		if i < 0 || j < i {
			t.Fatalf("request lacks its <svc:getPersonByFin> wrapper:\n%s", withHeaders)
		}
		withHeaders = slices.Concat(withHeaders[:i],
			[]byte("<SOAP-ENV:Fault><faultcode>Server.ServerProxy.AccessDenied</faultcode><faultstring>x</faultstring></SOAP-ENV:Fault>"),
			withHeaders[j+len("</svc:getPersonByFin>"):])
		e2eWantFault(t, e.call(t, "EMDK", withHeaders), "Client.Server.ServerProxy.AccessDenied")

		// An identifier with white space is refused, not trimmed.
		e2eWantFault(t, e.call(t, "EMDK", replace(good(), "<id:memberCode>EMDK<", "<id:memberCode> EMDK<")),
			message.Code(message.ClientPrefix, message.InvalidClientIdentifier))
		e.expectCalls(t, "DIN", before)

		// Accepted as X-Road accepts them: a quoted SOAPAction, and a body
		// element that only starts with the service code, which the
		// provider IS then answers with its own fault.
		req := good()
		e2eWantAnswer(t, withAction(req, `"http://din.gov.az/population/v1/getPersonByFin"`), req)
		e.expectCalls(t, "DIN", before+1)
		r := e.call(t, "EMDK", replace(replace(good(), "<svc:getPersonByFin ", "<svc:getPersonByFinRequest "), "</svc:getPersonByFin>", "</svc:getPersonByFinRequest>"))
		if f, ok := message.ParseFault(r.body); !ok || !strings.Contains(f.String, "getPersonByFinRequest") {
			t.Errorf("want the provider IS's fault about <getPersonByFinRequest>, got HTTP %d:\n%s", r.status, r.body)
		}
		e.expectCalls(t, "DIN", before+2)
	})

	t.Run("UnknownParties", func(t *testing.T) {
		before := e.calls["DIN"].Load()
		unknownMember := message.Code(message.ClientProxy, message.UnknownMember)

		f := e2eWantFault(t, e.call(t, "EMDK", e2eRequest(t, "AZ/GOV/NOPE/x", e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")), unknownMember)
		e2eContains(t, f, "not registered")

		// DSMF's subsystem exists, but DİN's server does not host it.
		f = e2eWantFault(t, e.call(t, "DIN", e2eRequest(t, e2eDSMFClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")), unknownMember)
		e2eContains(t, f, "not hosted by this security server")

		// A provider subsystem no security server hosts.
		f = e2eWantFault(t, e.call(t, "EMDK", e2eRequest(t, e2eEMDKClient, "AZ/GOV/DIN/nosub/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")), unknownMember)
		e2eContains(t, f, "no security server")

		// A service DİN's server does not provide (and nobody was granted).
		e2eWantFault(t, e.call(t, "EMDK", e2eRequest(t, e2eEMDKClient, "AZ/GOV/DIN/population/noSuchService/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")),
			message.Code(message.ServerProxy, message.UnknownService))
		e.expectCalls(t, "DIN", before)
	})

	t.Run("AccessDenied", func(t *testing.T) {
		before := e.calls["DIN"].Load()
		f := e2eWantFault(t, e.call(t, "DSMF", e2eRequest(t, e2eDSMFClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")),
			message.Code(message.ServerProxy, message.AccessDenied))
		e2eContains(t, f, e2eDSMFClient)
		e.expectCalls(t, "DIN", before)
	})

	t.Run("Replay", func(t *testing.T) {
		before := e.calls["DIN"].Load()
		// The same signed transport message twice, straight to DİN's service proxy.
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		m := e.members["EMDK"]
		body, ct := e2eTransport(t, m.authOCSP, req, e.sign(t, m, nil, req))
		e2eCheckAnswer(t, e2eDecode(t, e.post(t, "DIN", m.auth, body, ct)).SOAP, "", req)
		e2eWantFault(t, e.post(t, "DIN", m.auth, body, ct), e2eDuplicate)
		e.expectCalls(t, "DIN", before+1)

		// The same xrd:id sent twice through ƏMDK's client proxy (signed anew each time).
		req = e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		e2eWantAnswer(t, e.call(t, "EMDK", req), req)
		e2eWantFault(t, e.call(t, "EMDK", req), e2eDuplicate)
		e.expectCalls(t, "DIN", before+2)
	})

	t.Run("TamperedBody", func(t *testing.T) {
		before := e.calls["DIN"].Load()
		m := e.members["EMDK"]
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		sig := e.sign(t, m, nil, req)
		changed := bytes.Replace(req, []byte("5ZJ8K2L"), []byte("2BXR4T6"), 1)
		body, ct := e2eTransport(t, m.authOCSP, changed, sig)
		e2eWantFault(t, e.post(t, "DIN", m.auth, body, ct), message.Code(message.ServerProxy, message.InvalidSignatureValue))

		// A signature part that is not a signature document at all.
		body, ct = e2eTransport(t, m.authOCSP, req, []byte("<notASignature/>"))
		e2eWantFault(t, e.post(t, "DIN", m.auth, body, ct), message.Code(message.ServerProxy, message.MalformedSignature))
		e.expectCalls(t, "DIN", before)
	})

	t.Run("WrongSigner", func(t *testing.T) {
		before := e.calls["DIN"].Load()
		emdk, dsmf := e.members["EMDK"], e.members["DSMF"]
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		body, ct := e2eTransport(t, emdk.authOCSP, req, e.sign(t, dsmf, nil, req))
		f := e2eWantFault(t, e.post(t, "DIN", emdk.auth, body, ct), message.Code(message.ServerProxy, message.IncorrectCertificate))
		e2eContains(t, f, "AZ/GOV/EMDK")
		e.expectCalls(t, "DIN", before)
	})

	t.Run("UnregisteredPeer", func(t *testing.T) {
		before := e.calls["DIN"].Load()
		emdk := e.members["EMDK"]
		req := func() []byte { return e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>") }
		sslFailed := message.Code(message.ServerProxy, message.SslAuthenticationFailed)

		// An auth certificate of the federation's CA that no server registered.
		dir := t.TempDir()
		rogueCert, _, err := e.f.CA.IssueToFiles(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: "AZ/GOV/EMDK", DNSNames: []string{"rogue.emdk.gov.az"}},
			filepath.Join(dir, "rogue.pem"), filepath.Join(dir, "rogue.key"), false)
		if err != nil {
			t.Fatal(err)
		}
		rogue, err := tls.LoadX509KeyPair(filepath.Join(dir, "rogue.pem"), filepath.Join(dir, "rogue.key"))
		if err != nil {
			t.Fatal(err)
		}
		rogueOCSP := e.ocsp(t, rogueCert, ocsp.Good).Raw
		soap := req()
		body, ct := e2eTransport(t, rogueOCSP, soap, e.sign(t, emdk, nil, soap))
		f := e2eWantFault(t, e.post(t, "DIN", rogue, body, ct), sslFailed)
		e2eContains(t, f, "not registered")

		// Another server's registered certificate: DSMF's server does not host ƏMDK's subsystem.
		dsmf := e.members["DSMF"]
		soap = req()
		body, ct = e2eTransport(t, dsmf.authOCSP, soap, e.sign(t, emdk, nil, soap))
		e2eWantFault(t, e.post(t, "DIN", dsmf.auth, body, ct), sslFailed)

		// A certificate of another CA: the handshake succeeds
		// (RequireAnyClientCert), the request is refused.
		other, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(t.TempDir(), "pki")})
		if err != nil {
			t.Fatal(err)
		}
		dir = t.TempDir()
		if _, _, err := other.IssueToFiles(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: "AZ/GOV/EMDK", DNSNames: []string{"ss.emdk.gov.az"}},
			filepath.Join(dir, "auth.pem"), filepath.Join(dir, "auth.key"), false); err != nil {
			t.Fatal(err)
		}
		foreign, err := tls.LoadX509KeyPair(filepath.Join(dir, "auth.pem"), filepath.Join(dir, "auth.key"))
		if err != nil {
			t.Fatal(err)
		}
		soap = req()
		body, ct = e2eTransport(t, emdk.authOCSP, soap, e.sign(t, emdk, nil, soap))
		f = e2eWantFault(t, e.post(t, "DIN", foreign, body, ct), sslFailed)
		e2eContains(t, f, "approved CA")
		e.expectCalls(t, "DIN", before)
	})

	t.Run("ThirdPartyClientZeep", func(t *testing.T) {
		e2eZeep(t, e)
	})
}

func e2eContains(t *testing.T, f *message.Fault, want string) {
	t.Helper()
	if !strings.Contains(f.String, want) {
		t.Errorf("fault %s: %q does not mention %q", f.Code, f.String, want)
	}
}

// e2eXmlsec has xmlsec1 verify signatures.xml over message.xml with the
// federation root as the only trust anchor (the invocation of
// signature/xmlsec_test.go), then requires it to refuse the signature once
// one byte of the message changed.
func e2eXmlsec(t *testing.T, xmlsec, stateDir, what string, msg, sig []byte) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{pkiutil.FileRootCert, pkiutil.FileCACert} {
		data, err := os.ReadFile(filepath.Join(stateDir, "pki", name))
		if err != nil {
			t.Fatal(err)
		}
		write(name, data)
	}
	write("message.xml", msg)
	write("signatures.xml", sig)
	run := func() (string, error) {
		cmd := exec.Command(xmlsec, "--verify", "--url-map:/message.xml", "message.xml",
			"--trusted-pem", pkiutil.FileRootCert, "--untrusted-pem", pkiutil.FileCACert, "signatures.xml")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("%s: xmlsec1 refused the signature (%v):\n%s", what, err, out)
	}
	changed := bytes.Clone(msg)
	changed[len(changed)/2] ^= 0x01
	write("message.xml", changed)
	if out, err := run(); err == nil {
		t.Fatalf("%s: xmlsec1 accepted the signature over a changed message:\n%s", what, out)
	}
}

// e2eRawPost POSTs body over a plain TCP connection, reading the answer
// while still writing: a server that refuses an oversized body early and
// closes the connection must not make the client miss its answer.
func e2eRawPost(t *testing.T, rawURL string, body []byte, chunked bool) e2eReply {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, e2eTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(e2eTimeout))
	start := time.Now()
	go func() {
		w := bufio.NewWriterSize(conn, 64<<10)
		fmt.Fprintf(w, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml; charset=UTF-8\r\n", u.RequestURI(), u.Host)
		if chunked {
			fmt.Fprintf(w, "Transfer-Encoding: chunked\r\n\r\n")
			for rest := body; len(rest) > 0; {
				n := min(len(rest), 64<<10)
				fmt.Fprintf(w, "%x\r\n", n)
				w.Write(rest[:n])
				w.WriteString("\r\n")
				rest = rest[n:]
			}
			w.WriteString("0\r\n\r\n")
		} else {
			fmt.Fprintf(w, "Content-Length: %d\r\n\r\n", len(body))
			w.Write(body)
		}
		w.Flush() // fails once the server has closed: that is expected
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to a %d-byte body (chunked=%v): %v", len(body), chunked, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer body: %v", err)
	}
	return e2eReply{status: resp.StatusCode, header: resp.Header, body: data, took: time.Since(start)}
}

// TestE2ERevokedSigningKey revokes ƏMDK's signing certificate: a signature
// stapling the responder's (revoked) answer is refused by the provider; once
// ƏMDK's server asks the responder itself, its client proxy refuses to sign
// and its service proxy to answer.
func TestE2ERevokedSigningKey(t *testing.T) {
	e := e2eNew(t)
	emdk := e.members["EMDK"]
	// A normal exchange first, so that ƏMDK's server has a good OCSP response cached.
	req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	e2eWantAnswer(t, e.call(t, "EMDK", req), req)

	if _, err := e.f.CA.Revoke(emdk.signCert.SerialNumber, 1); err != nil { // keyCompromise
		t.Fatal(err)
	}
	revoked := e.ocsp(t, emdk.signCert, ocsp.Revoked)

	before := e.calls["DIN"].Load()
	req = e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	body, ct := e2eTransport(t, emdk.authOCSP, req, e.sign(t, emdk, revoked.Raw, req))
	f := e2eWantFault(t, e.post(t, "DIN", emdk.auth, body, ct), message.Code(message.ServerProxy, message.CertValidation))
	e2eContains(t, f, "revoked")
	e.expectCalls(t, "DIN", before)

	// ƏMDK's server still staples the good response it fetched before the
	// revocation until that is older than half the freshness limit (30 min
	// in the sample): what the client proxy does now depends on its cache.
	req = e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	if f, ok := message.ParseFault(e.call(t, "EMDK", req).body); ok {
		t.Logf("right after the revocation the client proxy refuses: %s", f.Code)
	} else {
		t.Logf("right after the revocation the client proxy still signs with its cached good OCSP response (expected within freshness/2)")
	}

	// Restarted on the same state, ƏMDK's server has no cached status and
	// asks the responder: deterministic refusals.
	e.close()
	f2, _ := e2eStart(t, e.f.Dir)
	e.f = f2
	for _, a := range f2.Agencies {
		e.calls[a.Code] = e2eCountCalls(t, f2, a)
	}
	req = e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	f = e2eWantFault(t, e.call(t, "EMDK", req), message.Code(message.ClientProxy, message.CertValidation))
	e2eContains(t, f, "signing certificate")
	e.expectCalls(t, "DIN", 0)
	// Other members are unaffected.
	req = e2eRequest(t, e2eDINClient, e2eDSMFService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	e2eWantAnswer(t, e.call(t, "DIN", req), req)

	// As provider, ƏMDK can no longer sign its answers: the caller gets a
	// fault, and the provider IS should not have been called for an answer
	// that cannot be delivered (its services may change state).
	t.Run("ProviderCannotSign", func(t *testing.T) {
		req := e2eRequest(t, e2eDSMFClient, e2eEMDKService, e.newID(t), "<fin>2BXR4T6</fin>")
		e2eWantFault(t, e.call(t, "DSMF", req), message.Code(message.ServerProxy, message.CertValidation))
		if n := e.calls["EMDK"].Load(); n != 0 {
			t.Skipf("product bug (securityserver/serverproxy.go, serve -> callProvider before signResponse): "+
				"the provider IS was called %d time(s) although the provider's signing certificate has no good OCSP status, "+
				"so the IS acted on a request whose answer is then withheld", n)
		}
	})
}

// TestE2EProviderDown points DİN's service at a closed port and at an IS
// that does not answer within the service timeout.
func TestE2EProviderDown(t *testing.T) {
	f, _ := e2eStart(t, t.TempDir())
	var din, emdk *localfed.Agency
	for _, a := range f.Agencies {
		switch a.Code {
		case "DIN":
			din = a
		case "EMDK":
			emdk = a
		}
	}
	svc := &din.Config.Services[0] // test-only mutation, before DİN's server serves any request
	if svc.ID.ServiceCode != "getPersonByFin" {
		t.Fatalf("DİN's first service is %s", svc.ID)
	}
	serviceFailed := message.Code(message.ServerProxy, message.ServiceFailed)
	call := func() e2eReply {
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, fmt.Sprintf("e2e-down-%d", time.Now().UnixNano()), "<fin>5ZJ8K2L</fin>")
		return e2eDo(t, http.MethodPost, emdk.ClientURL, "text/xml; charset=UTF-8", req)
	}

	t.Run("ClosedPort", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		svc.URL, svc.Timeout = "http://"+addr+"/din", config.Duration(5*time.Second)
		r := call()
		f := e2eWantFault(t, r, serviceFailed)
		e2eContains(t, f, "cannot reach the provider")
	})

	t.Run("SlowProvider", func(t *testing.T) {
		var reached atomic.Int64
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			select {
			case <-r.Context().Done():
			case <-release:
			case <-time.After(30 * time.Second):
			}
		}))
		defer slow.Close()
		defer close(release)
		svc.URL, svc.Timeout = slow.URL+"/din", config.Duration(time.Second)
		r := call()
		f := e2eWantFault(t, r, serviceFailed)
		e2eContains(t, f, "did not answer within")
		if reached.Load() != 1 {
			t.Errorf("the slow IS was called %d times, want 1", reached.Load())
		}
		if r.took < 900*time.Millisecond || r.took > 10*time.Second {
			t.Errorf("the refusal took %s with a 1 s service timeout", r.took)
		}
	})
}

// e2eZeepScript calls getPersonByFin with zeep from the WSDL, passing the
// X-Road headers as _soapheaders, and prints the surname.

// e2eZeep drives ƏMDK's client proxy with zeep, an unmodified third-party
// SOAP client, from the shipped WSDL.
func e2eZeep(t *testing.T, e *e2eEnv) {
	python := e2ePython(t, "zeep", "python3-zeep")
	dir := t.TempDir()
	src := filepath.Join("..", "configs", "wsdl")
	for _, name := range []string{"din-population.wsdl", "xroad.xsd", "identifiers.xsd"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "din-population.wsdl" {
			const placeholder = sampleis.DINAddressPlaceholder
			if !bytes.Contains(data, []byte(placeholder)) {
				t.Fatalf("%s has no soap:address placeholder %s", name, placeholder)
			}
			data = bytes.ReplaceAll(data, []byte(placeholder), []byte(e.agency("EMDK").ClientURL))
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "zeep-example.py")) // the README's example, run as it is
	if err != nil {
		t.Fatal(err)
	}
	before := e.calls["DIN"].Load()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, filepath.Join(dir, "din-population.wsdl"))
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("zeep call failed (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "SURNAME=Əliyev") {
		t.Fatalf("zeep did not get the person's surname:\n%s", out)
	}
	e.expectCalls(t, "DIN", before+1)
}
