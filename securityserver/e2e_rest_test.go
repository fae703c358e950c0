package securityserver_test

// End-to-end tests of the REST protocol (PR-REST): an IS's REST request
// through DİN's client proxy and ƏMDK's service proxy to a provider IS,
// over the real sockets of a local federation. The provider IS of the
// service realEstateRegistry is replaced by an echo server (a test-only
// mutation of the running server's configuration) that records exactly what
// it received.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/harness/sampleis"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/rest"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
)

const (
	e2eRESTService = "/r1/AZ/GOV/EMDK/realestate/realEstateRegistry"
	e2eRESTCode    = "AZ/GOV/EMDK/realestate/realEstateRegistry"
)

// e2eSeen is a request as the echo provider received it.
type e2eSeen struct {
	method, uri string
	header      http.Header
	body        []byte
}

// e2eEcho is a provider IS that records every request and answers with
// status 200 (201 for POST), its own header fields and the SHA-256 of the
// body it got; under /redirect it answers 302, under /missing 404 with a
// JSON error of its own, under /mirror e2ePattern as long as the body it
// got. It hashes a body as it arrives, keeping only a short one.
type e2eEcho struct {
	mu   sync.Mutex
	seen []e2eSeen
}

func (e *e2eEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	keep, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	h.Write(keep)
	rest, _ := io.Copy(h, r.Body)
	n := int64(len(keep)) + rest
	if n > 1<<20 {
		keep = nil // the large body is checked by its digest
	}
	e.mu.Lock()
	e.seen = append(e.seen, e2eSeen{r.Method, r.RequestURI, r.Header.Clone(), keep})
	e.mu.Unlock()
	sum := h.Sum(nil)
	switch {
	case strings.Contains(r.URL.Path, "/mirror"):
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("X-Echo-Sha256", hex.EncodeToString(sum))
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		w.WriteHeader(http.StatusOK)
		io.Copy(w, e2ePattern(n))
		return
	case strings.Contains(r.URL.Path, "/redirect"):
		w.Header().Set("Location", "/base/elsewhere")
		w.WriteHeader(http.StatusFound)
		return
	case strings.Contains(r.URL.Path, "/missing"):
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"title":"Tapılmadı","status":404}`)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Add("Set-Cookie", "a=1")
	w.Header().Add("Set-Cookie", "b=2")
	w.Header().Set("X-Echo-Method", r.Method)
	status := http.StatusOK
	if r.Method == http.MethodPost {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "sha256=%s len=%d", hex.EncodeToString(sum), n)
}

// e2ePattern is n bytes of a fixed pseudo-random stream, made as it is
// read (never held whole).
func e2ePattern(n int64) io.Reader {
	return io.LimitReader(mathrand.NewChaCha8([32]byte{'S', 'l', 'u', 'z'}), n)
}

// e2eHeapPeak samples the process's heap (live and not yet collected
// objects) every few milliseconds until stop is closed, and returns the
// highest value seen.
func e2eHeapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-stop:
				out <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

func (e *e2eEcho) last(t *testing.T) e2eSeen {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.seen) == 0 {
		t.Fatal("the provider IS got no request")
	}
	return e.seen[len(e.seen)-1]
}

func (e *e2eEcho) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.seen)
}

// e2eRESTCall sends a REST request to an agency's client proxy as a plain
// IS does (no compression asked for on its behalf).
func e2eRESTCall(t *testing.T, clientURL, method, target string, header http.Header, body []byte) e2eReply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(clientURL, "/")+target, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	return e2eSend(t, &http.Client{Timeout: 3 * e2eTimeout, Transport: &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req)
}

// e2eWantRESTError requires r to be a security server's REST error: the
// status, X-Road-Error and a JSON body {"type","message","detail"}.
func e2eWantRESTError(t *testing.T, r e2eReply, status int, code string) string {
	t.Helper()
	var e struct{ Type, Message, Detail string }
	if r.status != status || r.header.Get("X-Road-Error") != code || json.Unmarshal(r.body, &e) != nil || e.Type != code || e.Detail == "" {
		t.Fatalf("want HTTP %d X-Road-Error %s with a JSON error, got HTTP %d %q X-Road-Error %q:\n%.2000s",
			status, code, r.status, r.header.Get("Content-Type"), r.header.Get("X-Road-Error"), r.body)
	}
	return e.Message
}

// e2eRESTProvider points EMDK's REST service at h, under path /base.
func e2eRESTProvider(t *testing.T, e *e2eEnv, h http.Handler) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	svc := e2eService(t, e.agency("EMDK").Config, e2eRESTCode)
	svc.URL = srv.URL + "/base"
}

func e2eService(t *testing.T, c *config.Config, id string) *config.Service {
	t.Helper()
	for i := range c.Services {
		if c.Services[i].ID.String() == id {
			return &c.Services[i]
		}
	}
	t.Fatalf("no service %s configured", id)
	return nil
}

func TestE2EREST(t *testing.T) {
	e := e2eNew(t)
	din, dsmf := e.agency("DIN"), e.agency("DSMF")
	asDIN := http.Header{"X-Road-Client": {e2eDINClient}}

	t.Run("sample extract", func(t *testing.T) {
		r := e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/extract/5ZJ8K2L", asDIN, nil)
		var x struct {
			FIN           string `json:"fin"`
			PropertyCount int    `json:"propertyCount"`
			Properties    []struct {
				RegisterNumber string `json:"registerNumber"`
			} `json:"properties"`
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &x) != nil || x.FIN != "5ZJ8K2L" || x.PropertyCount != 1 || x.Properties[0].RegisterNumber != "1100452317" {
			t.Fatalf("HTTP %d %q:\n%.2000s", r.status, r.header.Get("Content-Type"), r.body)
		}
		for _, h := range []string{"X-Road-Id", "X-Road-Request-Id", "X-Road-Request-Hash"} {
			if r.header.Get(h) == "" {
				t.Errorf("the answer lacks %s", h)
			}
		}
		if got := r.header.Get("X-Road-Client"); got != e2eDINClient {
			t.Errorf("X-Road-Client %q", got)
		}
		if got := r.header.Get("X-Road-Service"); got != e2eRESTCode {
			t.Errorf("X-Road-Service %q", got)
		}
		if h, err := base64.StdEncoding.DecodeString(r.header.Get("X-Road-Request-Hash")); err != nil || len(h) != 64 {
			t.Errorf("X-Road-Request-Hash %q is not a base64 SHA-512", r.header.Get("X-Road-Request-Hash"))
		}
		// Both servers keep an operational monitoring record of it.
		for _, a := range []*localfed.Agency{din, e.agency("EMDK")} {
			st := a.Server.Opmon()
			if err := st.Flush(); err != nil {
				t.Fatal(err)
			}
			res, err := st.Query(opmon.Query{Match: func(rec *opmon.Record) bool {
				return rec.MessageID == r.header.Get("X-Road-Id") && rec.ServiceCode == "realEstateRegistry" && rec.MessageProtocolVersion == "r1" && rec.Succeeded &&
					rec.ServiceType == "REST" && rec.RestMethod == "GET" && rec.RestPath == "/extract/5ZJ8K2L" && rec.StatusCode == http.StatusOK
			}})
			if err != nil || len(res.Records) != 1 {
				t.Errorf("%s: operational monitoring records of the REST exchange: %d %v", a.Code, len(res.Records), err)
			}
		}
		// The provider's own error passes through as it is.
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/extract/0000000", asDIN, nil)
		if r.status != http.StatusNotFound || r.header.Get("X-Road-Error") != "" || !bytes.Contains(r.body, []byte("tapılmadı")) {
			t.Fatalf("provider's 404: HTTP %d X-Road-Error %q:\n%s", r.status, r.header.Get("X-Road-Error"), r.body)
		}
	})

	t.Run("meta services", func(t *testing.T) {
		type list struct {
			Service []struct {
				XRoadInstance string                          `json:"xroad_instance"`
				MemberCode    string                          `json:"member_code"`
				SubsystemCode string                          `json:"subsystem_code"`
				ServiceCode   string                          `json:"service_code"`
				ServiceType   string                          `json:"service_type"`
				ObjectType    string                          `json:"object_type"`
				EndpointList  []struct{ Method, Path string } `json:"endpoint_list"`
			} `json:"service"`
		}
		get := func(clientURL, client, target string) list {
			t.Helper()
			r := e2eRESTCall(t, clientURL, http.MethodGet, target, http.Header{"X-Road-Client": {client}}, nil)
			var l list
			if r.status != http.StatusOK || json.Unmarshal(r.body, &l) != nil || r.header.Get("X-Road-Request-Hash") == "" {
				t.Fatalf("%s: HTTP %d %s", target, r.status, r.body)
			}
			return l
		}
		l := get(din.ClientURL, e2eDINClient, "/r1/AZ/GOV/EMDK/realestate/listMethods")
		if len(l.Service) != 1 || l.Service[0].ServiceCode != "realEstateRegistry" || l.Service[0].ServiceType != "OPENAPI" || l.Service[0].ObjectType != "SERVICE" ||
			l.Service[0].SubsystemCode != "realestate" || len(l.Service[0].EndpointList) != 1 || l.Service[0].EndpointList[0].Method != "GET" || l.Service[0].EndpointList[0].Path != "/extract/*" {
			t.Errorf("listMethods: %+v", l)
		}
		if l := get(din.ClientURL, e2eDINClient, "/r1/AZ/GOV/DSMF/insurance/listMethods"); len(l.Service) != 1 || l.Service[0].ServiceCode != "insurerReports" || l.Service[0].ServiceType != "REST" {
			t.Errorf("DSMF's listMethods: %+v", l)
		}
		if l := get(din.ClientURL, e2eDINClient, "/r1/AZ/GOV/EMDK/realestate/allowedMethods"); len(l.Service) != 1 || len(l.Service[0].EndpointList) != 1 {
			t.Errorf("allowedMethods for DİN: %+v", l)
		}
		if l := get(dsmf.ClientURL, e2eDSMFClient, "/r1/AZ/GOV/EMDK/realestate/allowedMethods"); len(l.Service) != 1 || l.Service[0].EndpointList[0].Path != "/extract/*" {
			t.Errorf("allowedMethods for DSMF (an endpoint right): %+v", l)
		}
		if l := get(e.agency("EMDK").ClientURL, e2eEMDKClient, "/r1/AZ/GOV/DSMF/insurance/allowedMethods"); len(l.Service) != 0 {
			t.Errorf("allowedMethods for ƏMDK, which holds no right at DSMF: %+v", l)
		}
		r := e2eRESTCall(t, din.ClientURL, http.MethodGet, "/r1/AZ/GOV/EMDK/realestate/getOpenAPI?serviceCode=realEstateRegistry", asDIN, nil)
		want, err := os.ReadFile(e2eService(t, e.agency("EMDK").Config, e2eRESTCode).OpenAPI)
		if err != nil || r.status != http.StatusOK || !bytes.Equal(r.body, want) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/yaml") {
			t.Errorf("getOpenAPI: HTTP %d %q, %d bytes (want %d) %v", r.status, r.header.Get("Content-Type"), len(r.body), len(want), err)
		}
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, "/r1/AZ/GOV/EMDK/realestate/getOpenAPI", asDIN, nil)
		e2eWantRESTError(t, r, http.StatusInternalServerError, "Server.ServerProxy.InvalidRequest")
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, "/r1/AZ/GOV/DSMF/insurance/getOpenAPI?serviceCode=insurerReports", asDIN, nil)
		e2eWantRESTError(t, r, http.StatusInternalServerError, "Server.ServerProxy.UnknownService")

		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, "/listClients", nil, nil)
		if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`<xrd:member><xrd:id id:objectType="SUBSYSTEM"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>EMDK</id:memberCode><id:subsystemCode>realestate</id:subsystemCode></xrd:id><xrd:name>Əmlak Məsələləri Dövlət Komitəsi</xrd:name></xrd:member>`)) {
			t.Errorf("listClients (XML): HTTP %d\n%s", r.status, r.body)
		}
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, "/listClients", http.Header{"Accept": {"application/json"}}, nil)
		var clients struct {
			Member []struct {
				ID struct {
					MemberCode    string `json:"member_code"`
					ObjectType    string `json:"object_type"`
					SubsystemCode string `json:"subsystem_code"`
				} `json:"id"`
				Name string `json:"name"`
			} `json:"member"`
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &clients) != nil || len(clients.Member) != 6 {
			t.Errorf("listClients (JSON): HTTP %d\n%s", r.status, r.body)
		}
	})

	t.Run("SOAP meta services", func(t *testing.T) {
		before := e.calls["DIN"].Load()
		for _, c := range []struct {
			from, client, code string
			want               bool
		}{
			{"EMDK", e2eEMDKClient, "listMethods", true},
			{"DSMF", e2eDSMFClient, "listMethods", true},
			{"EMDK", e2eEMDKClient, "allowedMethods", true},
			{"DSMF", e2eDSMFClient, "allowedMethods", false}, // DSMF holds no right at DİN
		} {
			req := e2eRequest(t, c.client, "AZ/GOV/DIN/population/"+c.code, e.newID(t), "")
			m := e2eWantAnswer(t, e.call(t, c.from, req), req)
			body := string(m.SOAP)
			listed := strings.Contains(body, "<id:serviceCode>getPersonByFin</id:serviceCode><id:serviceVersion>v1</id:serviceVersion>")
			if !strings.Contains(body, "<xrd:"+c.code+"Response>") || listed != c.want || strings.Contains(body, "realEstateRegistry") {
				t.Errorf("%s by %s: want getPersonByFin v1 listed %v:\n%s", c.code, c.client, c.want, body)
			}
		}
		e.expectCalls(t, "DIN", before)

		// getWsdl: the WSDL as an attachment, its address rewritten; zeep
		// loads it.
		req := e2eRequest(t, e2eEMDKClient, "AZ/GOV/DIN/population/getWsdl", e.newID(t),
			"<xrd:serviceCode>getPersonByFin</xrd:serviceCode><xrd:serviceVersion>v1</xrd:serviceVersion>")
		r := e.call(t, "EMDK", req)
		m := e2eCheckAnswer(t, r.body, r.header.Get("Content-Type"), req)
		if !strings.Contains(string(m.SOAP), "<xrd:getWsdlResponse><xrd:serviceCode>getPersonByFin</xrd:serviceCode><xrd:serviceVersion>v1</xrd:serviceVersion></xrd:getWsdlResponse>") || len(m.Attachments) != 1 {
			t.Fatalf("getWsdl: %d attachments:\n%s", len(m.Attachments), m.SOAP)
		}
		wsdl := m.Attachments[0].Body
		if !bytes.Contains(wsdl, []byte(`location="http://example.org/xroad-endpoint"`)) || bytes.Contains(wsdl, []byte(sampleis.DINAddressPlaceholder)) || !bytes.Contains(wsdl, []byte("getPersonByFin")) {
			t.Fatalf("getWsdl's WSDL:\n%s", wsdl)
		}
		r = e.call(t, "EMDK", e2eRequest(t, e2eEMDKClient, "AZ/GOV/DIN/population/getWsdl", e.newID(t), "<xrd:serviceCode>noSuchService</xrd:serviceCode>"))
		e2eWantFault(t, r, "Server.ServerProxy.UnknownService")
		python := e2ePython(t, "zeep", "python3-zeep")
		dir := t.TempDir()
		for _, name := range []string{"xroad.xsd", "identifiers.xsd"} {
			data, err := os.ReadFile(filepath.Join("..", "configs", "wsdl", name))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
		os.WriteFile(filepath.Join(dir, "got.wsdl"), wsdl, 0o644)
		cmd := exec.Command(python, "-c", "import sys\nfrom zeep import Client\nc = Client(sys.argv[1])\nprint('ADDRESS=' + c.service._binding_options['address'])\nprint('OPS=' + ','.join(sorted(c.service._operations)))", filepath.Join(dir, "got.wsdl"))
		cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8", "PYTHONDONTWRITEBYTECODE=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ADDRESS=http://example.org/xroad-endpoint") || !strings.Contains(string(out), "getPersonByFin") {
			t.Fatalf("zeep loading getWsdl's WSDL: %v\n%s", err, out)
		}
	})

	t.Run("third-party clients", func(t *testing.T) { e2eRESTThirdParty(t, din.ClientURL) })

	echo := &e2eEcho{}
	e2eRESTProvider(t, e, echo)

	t.Run("every method", func(t *testing.T) {
		// Percent-encoded identifier segments are decoded; the service path
		// and query reach the provider exactly as sent.
		target := "/r1/AZ/GOV/EMDK/realestate/%72ealEstateRegistry/a%2Fb/%C6%8Fmlak%20ev;v=1/x?q=%C9%99+1&b=1&b=2&empty="
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"} {
			for _, withBody := range []bool{false, true} {
				if method == "HEAD" && withBody {
					continue
				}
				var body []byte
				h := http.Header{"X-Road-Client": {e2eDINClient}, "X-Custom": {"bir", "iki"}, "Accept": {"application/json"},
					"X-Road-Userid": {"AZ12345"}, "X-Road-Issue": {"İş-2025/17"}}
				if withBody {
					body = []byte(fmt.Sprintf(`{"method":%q,"ad":"Əliyev Rəşad"}`, method))
					h.Set("Content-Type", "application/json; charset=utf-8")
				}
				before := echo.count()
				r := e2eRESTCall(t, din.ClientURL, method, target, h, body)
				if echo.count() != before+1 {
					t.Fatalf("%s: the provider IS got %d requests, want 1", method, echo.count()-before)
				}
				seen := echo.last(t)
				if seen.method != method || seen.uri != "/base/a%2Fb/%C6%8Fmlak%20ev;v=1/x?q=%C9%99+1&b=1&b=2&empty=" {
					t.Errorf("%s: the provider IS saw %s %s", method, seen.method, seen.uri)
				}
				if !bytes.Equal(seen.body, body) {
					t.Errorf("%s: the provider IS got body %q, want %q", method, seen.body, body)
				}
				for _, k := range []string{"X-Custom", "Accept", "Content-Type", "X-Road-Userid", "X-Road-Issue", "X-Road-Client"} {
					if !slices.Equal(seen.header[k], h[k]) {
						t.Errorf("%s: the provider IS got %s %q, want %q", method, k, seen.header[k], h[k])
					}
				}
				for _, k := range []string{"User-Agent", "Accept-Encoding"} {
					if v, ok := seen.header[k]; ok {
						t.Errorf("%s: the provider IS got %s %q, which the client did not send", method, k, v)
					}
				}
				if seen.header.Get("X-Road-Id") == "" || seen.header.Get("X-Road-Request-Id") == "" {
					t.Errorf("%s: the provider IS got no X-Road-Id or X-Road-Request-Id: %v", method, seen.header)
				}
				want := http.StatusOK
				if method == http.MethodPost {
					want = http.StatusCreated
				}
				if r.status != want || r.header.Get("X-Echo-Method") != method || !slices.Equal(r.header["Set-Cookie"], []string{"a=1", "b=2"}) {
					t.Errorf("%s: the client got HTTP %d, header %v", method, r.status, r.header)
				}
				sum := sha256.Sum256(body)
				wantBody := fmt.Sprintf("sha256=%s len=%d", hex.EncodeToString(sum[:]), len(body))
				if method == http.MethodHead {
					wantBody = ""
				}
				if string(r.body) != wantBody {
					t.Errorf("%s: the client got body %q, want %q", method, r.body, wantBody)
				}
				if r.header.Get("X-Road-Id") != seen.header.Get("X-Road-Id") || r.header.Get("X-Road-Service") != e2eRESTCode {
					t.Errorf("%s: X-Road-Id %q (provider saw %q), X-Road-Service %q", method, r.header.Get("X-Road-Id"), seen.header.Get("X-Road-Id"), r.header.Get("X-Road-Service"))
				}
			}
		}
	})

	t.Run("IS's X-Road-Id kept", func(t *testing.T) {
		id := e.newID(t)
		r := e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/x", http.Header{"X-Road-Client": {e2eDINClient}, "X-Road-Id": {id}}, nil)
		if r.status != http.StatusOK || r.header.Get("X-Road-Id") != id || echo.last(t).header.Get("X-Road-Id") != id {
			t.Fatalf("HTTP %d, X-Road-Id %q, want %q", r.status, r.header.Get("X-Road-Id"), id)
		}
		// The same id again is a replay.
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/x", http.Header{"X-Road-Client": {e2eDINClient}, "X-Road-Id": {id}}, nil)
		e2eWantRESTError(t, r, http.StatusInternalServerError, e2eDuplicate)
	})

	t.Run("X-Road-Security-Server", func(t *testing.T) {
		h := http.Header{"X-Road-Client": {e2eDINClient}, "X-Road-Security-Server": {"AZ/GOV/EMDK/ss1"}}
		if r := e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/x", h, nil); r.status != http.StatusOK || echo.last(t).header.Get("X-Road-Security-Server") != "AZ/GOV/EMDK/ss1" {
			t.Fatalf("the provider's server named: HTTP %d %s", r.status, r.body)
		}
		h.Set("X-Road-Security-Server", "AZ/GOV/EMDK/ss9")
		e2eWantRESTError(t, e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/x", h, nil), http.StatusInternalServerError, "Server.ClientProxy.UnknownMember")
		h.Set("X-Road-Security-Server", "AZ/GOV/EMDK")
		if r := e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/x", h, nil); r.status != http.StatusBadRequest || !strings.HasPrefix(r.header.Get("X-Road-Error"), "Client.") {
			t.Errorf("a malformed X-Road-Security-Server: HTTP %d X-Road-Error %q", r.status, r.header.Get("X-Road-Error"))
		}
	})

	t.Run("redirects and provider errors pass through", func(t *testing.T) {
		before := echo.count()
		r := e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/redirect", asDIN, nil)
		if r.status != http.StatusFound || r.header.Get("Location") != "/base/elsewhere" || echo.count() != before+1 {
			t.Fatalf("redirect: HTTP %d Location %q, %d provider calls", r.status, r.header.Get("Location"), echo.count()-before)
		}
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/missing", asDIN, nil)
		if r.status != http.StatusNotFound || r.header.Get("X-Road-Error") != "" || r.header.Get("Content-Type") != "application/problem+json" || string(r.body) != `{"title":"Tapılmadı","status":404}` {
			t.Fatalf("provider's 404: HTTP %d %q X-Road-Error %q: %s", r.status, r.header.Get("Content-Type"), r.header.Get("X-Road-Error"), r.body)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		before := echo.count()
		r := e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/x", nil, nil)
		e2eWantRESTError(t, r, http.StatusBadRequest, "Client.InvalidClientIdentifier")
		for _, bad := range []string{"AZ/GOV", "AZ/GOV/DIN/population/extra", "AZ//DIN", "AZ/GOV/DIN/%ZZ"} {
			r = e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/x", http.Header{"X-Road-Client": {bad}}, nil)
			if r.status != http.StatusBadRequest || !strings.HasPrefix(r.header.Get("X-Road-Error"), "Client.") {
				t.Errorf("X-Road-Client %q: HTTP %d X-Road-Error %q", bad, r.status, r.header.Get("X-Road-Error"))
			}
		}
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, "/r1/AZ/GOV/EMDK/realestate", asDIN, nil)
		e2eWantRESTError(t, r, http.StatusBadRequest, "Client.BadRequest")
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, "/r1/AZ/GOV/EMDK/realestate/noSuchService/x", asDIN, nil)
		e2eWantRESTError(t, r, http.StatusInternalServerError, "Server.ServerProxy.UnknownService")
		// A SOAP service is not callable as REST.
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, "/r1/AZ/GOV/EMDK/realestate/getRealEstateExtract", asDIN, nil)
		e2eWantRESTError(t, r, http.StatusInternalServerError, "Server.ServerProxy.UnknownService")
		// DSMF holds a right to GET /extract/* of realEstateRegistry alone.
		asDSMF := http.Header{"X-Road-Client": {e2eDSMFClient}}
		for _, call := range [][2]string{{"GET", "/x"}, {"POST", "/extract/5ZJ8K2L"}, {"GET", "/extract/5ZJ8K2L/history"}, {"GET", "/extract/%2E%2E/x"}} {
			r = e2eRESTCall(t, dsmf.ClientURL, call[0], e2eRESTService+call[1], asDSMF, nil)
			msg := e2eWantRESTError(t, r, http.StatusInternalServerError, "Server.ServerProxy.AccessDenied")
			if !strings.Contains(msg, e2eDSMFClient) || !strings.Contains(msg, call[0]+" "+call[1]) {
				t.Errorf("access refusal %q does not name the client and the call", msg)
			}
		}
		// A client another server hosts.
		r = e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/x", http.Header{"X-Road-Client": {e2eDSMFClient}}, nil)
		e2eWantRESTError(t, r, http.StatusInternalServerError, "Server.ClientProxy.UnknownMember")
		// XML when Accept asks for it.
		r = e2eRESTCall(t, dsmf.ClientURL, http.MethodGet, e2eRESTService+"/x", http.Header{"X-Road-Client": {e2eDSMFClient}, "Accept": {"application/xml"}}, nil)
		if r.status != http.StatusInternalServerError || !strings.HasPrefix(r.header.Get("Content-Type"), "application/xml") ||
			!bytes.Contains(r.body, []byte("<type>Server.ServerProxy.AccessDenied</type>")) {
			t.Errorf("XML error: HTTP %d %q: %s", r.status, r.header.Get("Content-Type"), r.body)
		}
		if echo.count() != before {
			t.Errorf("refused requests reached the provider IS %d times", echo.count()-before)
		}
		if r = e2eRESTCall(t, dsmf.ClientURL, http.MethodGet, e2eRESTService+"/extract/5ZJ8K2L", asDSMF, nil); r.status != http.StatusOK || echo.count() != before+1 {
			t.Errorf("DSMF's call of its endpoint: HTTP %d %s", r.status, r.body)
		}
	})

	t.Run("body limit", func(t *testing.T) {
		before := echo.count()
		// REST bodies stream: limits.maxAttachmentSize bounds them, not
		// limits.maxMessageSize.
		old := din.Config.Limits.MaxAttachmentSize
		din.Config.Limits.MaxAttachmentSize = 64 << 10
		defer func() { din.Config.Limits.MaxAttachmentSize = old }()
		body := bytes.Repeat([]byte("ə"), 32<<10) // exactly 64 KiB
		h := http.Header{"X-Road-Client": {e2eDINClient}, "Content-Type": {"text/plain; charset=utf-8"}}
		if r := e2eRESTCall(t, din.ClientURL, http.MethodPut, e2eRESTService+"/x", h, body); r.status != http.StatusOK {
			t.Fatalf("a body at the limit: HTTP %d %s", r.status, r.body)
		}
		r := e2eRESTCall(t, din.ClientURL, http.MethodPut, e2eRESTService+"/x", h, append(body, '!'))
		e2eWantRESTError(t, r, http.StatusBadRequest, "Client.InvalidMessage")
		if echo.count() != before+1 {
			t.Errorf("the provider IS got %d requests, want 1", echo.count()-before)
		}
	})

	// A 100 MiB body each way streams through both servers: the IS's
	// request body reaches the provider IS, the provider's answer body the
	// client IS, each byte exact, both logs keeping them, while the whole
	// process (IS, both servers, provider) grows its heap by far less than
	// the body: held whole anywhere, it would not.
	t.Run("100 MiB body", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: a 100 MiB body")
		}
		const size = 100 << 20
		emdk := e.agency("EMDK")
		for _, c := range []*config.Config{din.Config, emdk.Config} {
			// maxMessageSize stays at its default (10 MiB): it no longer
			// bounds a REST body, limits.maxAttachmentSize does.
			old := c.Limits.MaxAttachmentSize
			c.Limits.MaxAttachmentSize = size
			defer func() { c.Limits.MaxAttachmentSize = old }()
		}
		h := sha256.New()
		io.Copy(h, e2ePattern(size))
		want := hex.EncodeToString(h.Sum(nil))
		defer debug.SetGCPercent(debug.SetGCPercent(20)) // little garbage between collections: the peak is near what is held
		runtime.GC()
		base := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		metrics.Read(base)
		stop := make(chan struct{})
		peak := e2eHeapPeak(stop)

		req, err := http.NewRequest(http.MethodPost, strings.TrimSuffix(din.ClientURL, "/")+e2eRESTService+"/mirror", e2ePattern(size))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		req.Header = http.Header{"X-Road-Client": {e2eDINClient}, "Content-Type": {"application/octet-stream"}}
		hc := &http.Client{Timeout: 6 * e2eTimeout, Transport: &http.Transport{DisableCompression: true}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		h.Reset()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		close(stop)
		grew := int64(<-peak) - int64(base[0].Value.Uint64())
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Echo-Sha256") != want {
			t.Fatalf("HTTP %d, %v; the provider IS got a body of SHA-256 %q, want %s", resp.StatusCode, err, resp.Header.Get("X-Echo-Sha256"), want)
		}
		if got := hex.EncodeToString(h.Sum(nil)); n != size || got != want {
			t.Fatalf("the answer's body: %d bytes of SHA-256 %s, want %d of %s", n, got, size, want)
		}
		t.Logf("100 MiB each way: heap grew by at most %.1f MiB", float64(grew)/(1<<20))
		if grew > 40<<20 {
			t.Fatalf("the heap grew by %.1f MiB while 100 MiB went each way: a body is held in memory", float64(grew)/(1<<20))
		}
	})
}

// A provider server whose answer carries a wrong X-Road-Request-Hash is
// refused by the client's server. DSMF's server here is a hand-made one
// with DSMF's real keys: it answers like Şlüz, but the hash can be spoilt.
func TestE2ERESTRequestHash(t *testing.T) {
	f, m := e2eHandMadeDSMF(t)
	var spoil atomic.Bool
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tm, err := transport.Decode(r.Body, r.Header.Get("Content-Type"), 1<<20, true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := rest.ParseRequestPart(tm.SOAP)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var digest []byte
		if tm.RESTBody != nil {
			sum := sha512.Sum512(tm.RESTBody.Data)
			digest = sum[:]
		}
		hash := rest.RequestHash(tm.SOAP, digest)
		if spoil.Load() {
			hash[10] ^= 1
		}
		resp, err := rest.NewResponse(req, http.StatusOK, "OK", []rest.Field{{Name: "Content-Type", Value: "application/json"}}, hash, r.Header.Get(transport.HeaderRequestID))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		head := resp.HeaderPart()
		s := signature.Signer{Key: m.signKey, Cert: m.signCert, OCSP: m.signOCSP, Extra: []*x509.Certificate{f.CA.Cert}}
		sig, err := s.Sign(signature.Part{URI: signature.MessageURI, Data: head, MimeType: "text/xml"}, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out := &transport.Message{SOAPType: transport.TypeRESTResponse, SOAP: head, Signature: sig}
		body, err := out.Encode()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", out.ContentType)
		body.WriteTo(w)
	})
	e2eServeAs(t, f.Agency("DSMF").Config.ServerProxy.Listen, m, fake)

	din := f.Agency("DIN")
	target := "/r1/AZ/GOV/DSMF/insurance/insurerReports/quarterly-reports"
	h := http.Header{"X-Road-Client": {e2eDINClient}, "Content-Type": {"application/json"}}
	body := []byte(`{"voen":"1400057421"}`)
	// The honest hash passes: the hand-made server is otherwise accepted.
	if r := e2eRESTCall(t, din.ClientURL, http.MethodPost, target, h, body); r.status != http.StatusOK {
		t.Fatalf("with the right hash: HTTP %d X-Road-Error %q: %s", r.status, r.header.Get("X-Road-Error"), r.body)
	}
	spoil.Store(true)
	r := e2eRESTCall(t, din.ClientURL, http.MethodPost, target, h, body)
	msg := e2eWantRESTError(t, r, http.StatusInternalServerError, "Server.ClientProxy.InconsistentResponse")
	if !strings.Contains(msg, "hash") {
		t.Errorf("refusal %q does not name the hash", msg)
	}
	r = e2eRESTCall(t, din.ClientURL, http.MethodGet, "/r1/AZ/GOV/DSMF/insurance/insurerReports/x", http.Header{"X-Road-Client": {e2eDINClient}}, nil)
	e2eWantRESTError(t, r, http.StatusInternalServerError, "Server.ClientProxy.InconsistentResponse")
}

// e2eRESTThirdParty runs the README's REST clients as they are: curl (the
// shell script) and Python's requests driven by the OpenAPI document,
// once from configs/ and once as X-Road's getOpenAPI serves it.
func e2eRESTThirdParty(t *testing.T, clientURL string) {
	curl := testtool.Require(t, "curl")
	sh := testtool.Require(t, "sh")
	scripts, err := filepath.Abs(filepath.Join("..", "scripts"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8", "PYTHONDONTWRITEBYTECODE=1", "PATH="+filepath.Dir(curl)+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	base := strings.TrimSuffix(clientURL, "/")
	out := run(sh, filepath.Join(scripts, "rest-extract-curl.sh"), base, "5ZJ8K2L")
	if !strings.Contains(out, `"fin":"5ZJ8K2L"`) || !strings.Contains(out, `"registerNumber":"1100452317"`) || !strings.Contains(strings.ToLower(out), "x-road-request-hash:") {
		t.Errorf("curl script:\n%s", out)
	}
	python := e2ePython(t, "requests, yaml", "python3-requests python3-yaml")
	script := filepath.Join(scripts, "rest-openapi-example.py")
	for _, doc := range []string{filepath.Join("..", "configs", "openapi", "emdk-realestate.yaml"),
		base + "/r1/AZ/GOV/EMDK/realestate/getOpenAPI?serviceCode=realEstateRegistry"} {
		out := run(python, script, doc, base, "5ZJ8K2L")
		if !strings.Contains(out, "EXTRACT=ÇX-") || !strings.Contains(out, "PROPERTIES=1") || !strings.Contains(out, "X-Road-Id=AZ-") {
			t.Errorf("OpenAPI client with %s:\n%s", doc, out)
		}
	}
}

// e2ePython is Debian's python3 with modules importable, or skips (fails
// in CI) naming the packages to install.
func e2ePython(t *testing.T, modules, packages string) string {
	t.Helper()
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import "+modules).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (%v): %s", packages, err, out)
		}
		t.Skipf("python3 with %s not available (%v): install %s", modules, err, packages)
	}
	return python
}

// A provider server that answers with a redirect is not followed: the
// signed request goes to the registered server's address once, and the
// client's IS gets an error, not whatever the redirect leads to.
func TestE2EPeerRedirectNotFollowed(t *testing.T) {
	f, m := e2eHandMadeDSMF(t)
	var calls, redirected atomic.Int32
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/elsewhere" {
			redirected.Add(1)
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	e2eServeAs(t, f.Agency("DSMF").Config.ServerProxy.Listen, m, fake)

	din := f.Agency("DIN")
	target := "/r1/AZ/GOV/DSMF/insurance/insurerReports/quarterly-reports"
	h := http.Header{"X-Road-Client": {e2eDINClient}, "Content-Type": {"application/json"}}
	r := e2eRESTCall(t, din.ClientURL, http.MethodPost, target, h, []byte(`{"voen":"1400057421"}`))
	if r.status == http.StatusOK {
		t.Fatalf("a redirecting provider server's answer was accepted: HTTP %d %s", r.status, r.body)
	}
	if n, x := calls.Load(), redirected.Load(); n != 1 || x != 0 {
		t.Fatalf("the provider server got %d requests, %d of them at the redirect's target: want 1 and 0 (a redirect is not followed)", n, x)
	}
	t.Logf("refused: HTTP %d X-Road-Error %q", r.status, r.header.Get("X-Road-Error"))
}

// e2eHandMadeDSMF starts a federation whose DSMF server is left to the
// test (External), with DSMF's keys loaded for a hand-made server.
func e2eHandMadeDSMF(t *testing.T) (*localfed.Federation, *e2eMember) {
	t.Helper()
	f, err := localfed.Start(localfed.Options{Dir: t.TempDir(), AnyPorts: true, External: []string{"DSMF"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		f.Close()
	})
	e := &e2eEnv{f: f, members: map[string]*e2eMember{}}
	return f, e.loadMember(t, "DSMF")
}

// e2eServeAs serves h on addr over mutual TLS with m's authentication
// certificate, as m's security server would, until the test ends.
func e2eServeAs(t *testing.T, addr string, m *e2eMember, h http.Handler) {
	t.Helper()
	ln, err := tls.Listen("tcp", addr, &tls.Config{
		Certificates: []tls.Certificate{m.auth}, MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAnyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: e2eTimeout}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}
