package rest

import (
	"crypto/sha512"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluz/sluz/securityserver/message"
)

const svcPath = "/r1/AZ/GOV/EMDK/registry/extract"

var isFields = []Field{{"X-Road-Client", "AZ/GOV/DIN/population"}}

func TestNewRequest(t *testing.T) {
	bad := message.Code(message.ClientPrefix, BadRequest)
	badID := message.Code(message.ClientPrefix, message.InvalidClientIdentifier)
	for _, tc := range []struct {
		name, method, target string
		fields               []Field
		code                 string // "" = accepted
	}{
		{"plain", "GET", svcPath, isFields, ""},
		{"every method", "PATCH", svcPath + "/x?y=1", isFields, ""},
		{"TRACE is a Verb too", "TRACE", svcPath, isFields, ""},
		{"member client", "GET", svcPath, []Field{{"x-road-client", "AZ/GOV/DIN"}}, ""},
		{"encoded segment", "GET", "/r1/AZ/GOV/EMD%4B/registry/extract", isFields, ""},
		{"absolute form", "GET", "http://ss:8080" + svcPath + "?q", isFields, ""},
		{"lower-case method", "get", svcPath, isFields, bad},
		{"CONNECT", "CONNECT", svcPath, isFields, bad},
		{"four segments", "GET", "/r1/AZ/GOV/EMDK/extract", isFields, bad},
		{"version r2", "GET", "/r2/AZ/GOV/EMDK/registry/extract", isFields, message.Code(message.ClientPrefix, message.InvalidProtocolVersion)},
		{"version v1", "GET", "/v1/AZ/GOV/EMDK/registry/extract", isFields, bad},
		{"incomplete escape", "GET", "/r1/AZ/GOV/EMDK/registry/ex%4", isFields, bad},
		{"bad escape", "GET", "/r1/AZ/GOV/EMDK/registry/ex%zz", isFields, bad},
		{"encoded slash in code", "GET", "/r1/AZ/GOV/EMDK/registry/a%2Fb", isFields, badID},
		{"empty member", "GET", "/r1/AZ//EMDK/registry/extract", isFields, badID},
		{"space in path", "GET", svcPath + "/a b", isFields, bad},
		{"no client", "GET", svcPath, nil, badID},
		{"client two parts", "GET", svcPath, []Field{{"X-Road-Client", "AZ/GOV"}}, bad},
		{"client five parts", "GET", svcPath, []Field{{"X-Road-Client", "AZ/GOV/DIN/a/b"}}, bad},
		{"client empty subsystem", "GET", svcPath, []Field{{"X-Road-Client", "AZ/GOV/DIN/"}}, badID},
		{"client bad char", "GET", svcPath, []Field{{"X-Road-Client", "AZ/GOV/D%20IN"}}, badID},
		{"last client wins", "GET", svcPath, []Field{{"X-Road-Client", "bad"}, {"X-Road-Client", "AZ/GOV/DIN"}}, ""},
		{"server ok", "GET", svcPath, append([]Field{{"X-Road-Security-Server", "AZ/GOV/EMDK/ss1"}}, isFields...), ""},
		{"server three parts", "GET", svcPath, append([]Field{{"X-Road-Security-Server", "AZ/GOV/EMDK"}}, isFields...), bad},
		{"party code", "GET", svcPath, append([]Field{{"X-Road-Represented-Party", "DSMF"}}, isFields...), ""},
		{"party class/code", "GET", svcPath, append([]Field{{"X-Road-Represented-Party", "GOV/DSMF"}}, isFields...), ""},
		{"party three parts", "GET", svcPath, append([]Field{{"X-Road-Represented-Party", "AZ/GOV/DSMF"}}, isFields...), bad},
		{"empty X-Road-Id", "GET", svcPath, append([]Field{{"X-Road-Id", ""}}, isFields...), bad},
		{"LF in value", "GET", svcPath, append([]Field{{"X-A", "a\nb"}}, isFields...), bad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRequest(tc.method, tc.target, tc.fields, "rid", "AZ")
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if r.Client.MemberCode != "DIN" || r.Service.Provider.MemberCode != "EMDK" {
					t.Fatalf("identifiers: %+v %+v", r.Client, r.Service)
				}
				return
			}
			if !message.HasCode(err, tc.code) {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
		})
	}
}

// TestRequestHeaderPart: the expectation follows RestRequest's constructor
// and toByteArray: the IS's fields in order minus Host, User-Agent,
// Content-Length, Connection and any x-road-request-id/-hash, then
// "x-road-request-id:<id>", then "x-road-id:<instance>-<uuid>" when the IS
// sent no X-Road-Id; no space after ':'; CRLF after every line, none extra.
// The first case is RestRequestTest.shouldParseRequest's request.
func TestRequestHeaderPart(t *testing.T) {
	r, err := NewRequest("GET", "/r1/Instance/Class/Member/SubSystem/ServiceCode?foo=bar", []Field{
		{"X-Road-Client", "Instance/Class/Member/SubSystem"},
		{"X-Road-Id", "42"},
		{"X-Road-ServerId", "Instance/Class/Member/ServerCode"},
	}, "xid", "Instance")
	if err != nil {
		t.Fatal(err)
	}
	want := "GET\r\n/r1/Instance/Class/Member/SubSystem/ServiceCode?foo=bar\r\n" +
		"X-Road-Client:Instance/Class/Member/SubSystem\r\nX-Road-Id:42\r\n" +
		"X-Road-ServerId:Instance/Class/Member/ServerCode\r\nx-road-request-id:xid\r\n"
	if got := string(r.HeaderPart()); got != want {
		t.Fatalf("part:\n%q\nwant\n%q", got, want)
	}

	r, err = NewRequest("POST", svcPath+"/extract/AZE123?", []Field{
		{"Host", "ss"}, {"user-agent", "curl"}, {"Content-Type", "application/json"},
		{"Content-Length", "2"}, {"Connection", "close"}, {"X-Road-Client", "AZ/GOV/DIN/population"},
		{"X-Road-Request-Hash", "forged"}, {"x-road-request-id", "forged"}, {"Accept", "*/*"},
		{"X-Custom", " spaced value "},
	}, "xid", "AZ")
	if err != nil {
		t.Fatal(err)
	}
	prefix := "POST\r\n" + svcPath + "/extract/AZE123?\r\nContent-Type:application/json\r\n" +
		"X-Road-Client:AZ/GOV/DIN/population\r\nAccept:*/*\r\nX-Custom: spaced value \r\n" +
		"x-road-request-id:xid\r\nx-road-id:AZ-"
	got := string(r.HeaderPart())
	if !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, "\r\n") || len(got) != len(prefix)+36+2 {
		t.Fatalf("part:\n%q\nwant prefix\n%q + uuid CRLF", got, prefix)
	}
	if r.ServicePath != "/extract/AZE123" || r.Query != "" || !r.HasQuery || r.ID != got[len(prefix)-3:len(got)-2] {
		t.Fatalf("request %+v", r)
	}
}

func TestParseRequestPartRoundTrip(t *testing.T) {
	r, err := NewRequest("DELETE", "/r1/AZ/GOV/EMDK/registry/extract/a%2Fb/?x=%20&y", append([]Field{
		{"X-Road-UserId", "AZ1234567"}, {"X-Road-Issue", "İş-42"}, {"X-Road-Represented-Party", "GOV/DSMF"},
		{"X-Road-Security-Server", "AZ/GOV/EMDK/ss1"},
	}, isFields...), "xid", "AZ")
	if err != nil {
		t.Fatal(err)
	}
	part := r.HeaderPart()
	p, err := ParseRequestPart(part)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.HeaderPart()) != string(part) {
		t.Fatalf("round trip changed the part:\n%q\n%q", p.HeaderPart(), part)
	}
	if p.Client != r.Client || p.Service != r.Service || p.ID != r.ID || p.RequestID != "xid" ||
		p.UserID != "AZ1234567" || p.Issue != "İş-42" || *p.RepresentedParty != (RepresentedParty{"GOV", "DSMF"}) ||
		p.SecurityServer.ServerCode != "ss1" || p.ServicePath != "/a%2Fb/" || p.Query != "x=%20&y" {
		t.Fatalf("parsed %+v", p)
	}
}

func TestParseRequestPartRefuses(t *testing.T) {
	ok := "GET\r\n" + svcPath + "\r\nX-Road-Client:AZ/GOV/DIN\r\nx-road-request-id:1\r\n"
	if _, err := ParseRequestPart([]byte(ok)); err != nil {
		t.Fatal(err)
	}
	for name, part := range map[string]string{
		"LF only":        strings.ReplaceAll(ok, "\r\n", "\n"),
		"no final CRLF":  strings.TrimSuffix(ok, "\r\n"),
		"blank line":     ok + "\r\n",
		"skipped header": ok + "Host:x\r\n",
		"no colon":       ok + "junk\r\n",
		"authority":      "GET\r\n//h" + svcPath + "\r\nX-Road-Client:AZ/GOV/DIN\r\n",
		"scheme":         "GET\r\nhttp://h" + svcPath + "\r\nX-Road-Client:AZ/GOV/DIN\r\n",
		"fragment":       "GET\r\n" + svcPath + "#f\r\nX-Road-Client:AZ/GOV/DIN\r\n",
		"bad UTF-8":      ok + "X:\xff\r\n",
		"no client":      "GET\r\n" + svcPath + "\r\n",
		"bad verb":       "FOO\r\n" + svcPath + "\r\nX-Road-Client:AZ/GOV/DIN\r\n",
	} {
		if _, err := ParseRequestPart([]byte(part)); err == nil {
			t.Errorf("%s: accepted %q", name, part)
		} else if f := err.(*message.Fault); strings.Contains(f.Code, ".") {
			t.Errorf("%s: code %q has a prefix", name, f.Code)
		}
	}
}

// TestResponse: the expectation follows RestResponse's constructor and
// toByteArray (and RestResponseTest.shouldParseResponse): the provider's
// fields minus Content-Length, Transfer-Encoding, Server and its own
// x-road-id/-client/-request-id/-request-hash, then x-road-id,
// x-road-client, x-road-service, x-road-request-id, x-road-request-hash.
func TestResponse(t *testing.T) {
	req, err := NewRequest("GET", "/r1/AZ/GOV/EMDK/registry/extract?fin=1", append([]Field{{"X-Road-Id", "42"}}, isFields...), "xid", "AZ")
	if err != nil {
		t.Fatal(err)
	}
	reqPart := req.HeaderPart()
	body := []byte(`{"fin":"1"}`)
	bd := sha512.Sum512(body)
	hash := RequestHash(reqPart, bd[:])
	resp, err := NewResponse(req, 200, "OK", []Field{
		{"Content-Type", "application/json"}, {"Content-Length", "11"}, {"Transfer-Encoding", "chunked"},
		{"Server", "nginx"}, {"X-Road-Id", "forged"}, {"X-Road-Request-Hash", "forged"}, {"Date", "Sun, 06 Dec 2026 20:00:00 GMT"},
	}, hash, "xid")
	if err != nil {
		t.Fatal(err)
	}
	want := "200\r\nOK\r\nContent-Type:application/json\r\nDate:Sun, 06 Dec 2026 20:00:00 GMT\r\n" +
		"x-road-id:42\r\nx-road-client:AZ/GOV/DIN/population\r\nx-road-service:AZ/GOV/EMDK/registry/extract\r\n" +
		"x-road-request-id:xid\r\nx-road-request-hash:" + base64.StdEncoding.EncodeToString(hash) + "\r\n"
	part := resp.HeaderPart()
	if string(part) != want {
		t.Fatalf("part:\n%q\nwant\n%q", part, want)
	}
	p, err := ParseResponsePart(part)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.HeaderPart()) != want {
		t.Fatal("round trip changed the part")
	}
	if err := CheckResponse(req, bd[:], p); err != nil {
		t.Fatal(err)
	}
	// A response whose hash is over the request without its body is refused.
	if err := CheckResponse(req, nil, p); !message.HasCode(err, "Server.ClientProxy.InconsistentResponse") {
		t.Fatalf("wrong hash: %v", err)
	}
	other := *p
	other.RequestID = "other"
	if err := CheckResponse(req, bd[:], &other); err == nil || !strings.Contains(err.Error(), "request id") {
		t.Fatalf("wrong request id: %v", err)
	}
	for name, bad := range map[string]string{
		"no id":        strings.Replace(want, "x-road-id:42\r\n", "", 1),
		"no hash":      want[:strings.Index(want, "x-road-request-hash")],
		"status 0200":  "0" + want,
		"status word":  "OK" + want[3:],
		"bad base64":   strings.Replace(want, "x-road-request-hash:", "x-road-request-hash:*", 1),
		"service four": strings.Replace(want, "registry/extract", "extract", 1),
	} {
		if _, err := ParseResponsePart([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRequestHash(t *testing.T) {
	part := []byte("GET\r\n/r1/a/b/c/d/e\r\n")
	h := sha512.Sum512(part)
	if got := RequestHash(part, nil); string(got) != string(h[:]) {
		t.Fatal("no body: want SHA-512(part)")
	}
	bd := sha512.Sum512([]byte("body"))
	outer := sha512.Sum512(append(h[:], bd[:]...))
	if got := RequestHash(part, bd[:]); string(got) != string(outer[:]) {
		t.Fatal("body: want SHA-512(SHA-512(part) || SHA-512(body))")
	}
}

func TestEncodeSegment(t *testing.T) {
	for in, want := range map[string]string{
		"getX": "getX", "a?b": "a%3Fb", "a/b": "a%2Fb", "(+,-.=')": "(+,-.=')", "ə": "%C9%99", "a b": "a%20b",
	} {
		if got := EncodeSegment(in); got != want {
			t.Errorf("EncodeSegment(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorMediaType(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   string
	}{
		{nil, "application/json"},
		{[]string{"*/*"}, "application/json"},
		{[]string{"application/json, text/xml"}, "text/xml"},
		{[]string{"application/json", "Application/XML;q=0.1"}, "application/xml"},
		{[]string{"text/*"}, "text/xml"},
		{[]string{"text/html"}, "application/json"},
	} {
		if got := ErrorMediaType(tc.accept); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.accept, got, tc.want)
		}
	}
}

func TestErrorBody(t *testing.T) {
	f := &message.Fault{Code: "Server.ServerProxy.AccessDenied", String: "Request is not allowed: \"a\" <b> & c\r\n\x01/ə", Detail: "3c4d0f08"}
	wantJSON := `{"type":"Server.ServerProxy.AccessDenied","message":"Request is not allowed: \"a\" <b> & c\r\n\u0001/ə","detail":"3c4d0f08"}`
	if got := string(ErrorBody(f, "application/json")); got != wantJSON {
		t.Errorf("JSON\n%s\nwant\n%s", got, wantJSON)
	}
	wantXML := `<?xml version="1.0" encoding="UTF-8" standalone="no"?><error><type>Server.ServerProxy.AccessDenied</type>` +
		"<message>Request is not allowed: \"a\" &lt;b&gt; &amp; c&#13;\n\uFFFD/ə</message><detail>3c4d0f08</detail></error>"
	if got := string(ErrorBody(f, "text/xml")); got != wantXML {
		t.Errorf("XML\n%s\nwant\n%s", got, wantXML)
	}
	empty := &message.Fault{Code: "Client.BadRequest"}
	if got := string(ErrorBody(empty, "text/xml")); !strings.HasSuffix(got, "<message/><detail/></error>") {
		t.Errorf("empty XML %s", got)
	}
}

func TestWriteReadError(t *testing.T) {
	for _, accept := range []string{"", "text/xml"} {
		for _, code := range []string{"Client.BadRequest", "Server.ClientProxy.NetworkError", "server.serverproxy.access_denied"} {
			f := message.Faultf(code, "went <wrong>")
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", svcPath, nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			WriteError(rec, req, f)
			resp := rec.Result()
			want := 400
			if strings.HasPrefix(strings.ToLower(code), "server.") {
				want = 500
			}
			if resp.StatusCode != want || resp.Header.Get("X-Road-Error") != code {
				t.Fatalf("%s: status %d, X-Road-Error %q", code, resp.StatusCode, resp.Header.Get("X-Road-Error"))
			}
			got, ok := ReadError(resp)
			if !ok || *got != *f {
				t.Fatalf("accept %q: read %+v, want %+v", accept, got, f)
			}
		}
	}
	plain := &http.Response{Header: http.Header{}, Body: http.NoBody, StatusCode: 500}
	if _, ok := ReadError(plain); ok {
		t.Fatal("a provider's own 500 is not a security-server error")
	}
}

func TestMatchPath(t *testing.T) {
	for _, tc := range []struct {
		glob, path string
		want       bool
	}{
		// PathGlobTest.params, all rows.
		{"**", "", true}, {"***", "match/anything/*", true}, {"**", "/a/b/c", true},
		{"/*/", "/a/", true}, {"/*/", "/a/b/", false}, {"", "", true}, {"", " ", false},
		{".^$+{[]|()", ".^$+{[]|()", true}, {"**/bar/**", "a/b/c/bar/e/f", true},
		{"**/bar/**", "a/b/c/foo/e/f", false}, {"**\\*", "/what/ever*", true},
		{"**\\*", "/what/ever!", false}, {"simple", "simple", true},
		{"simple", "prefix.simple.suffix", false}, {"**/*/**", "something/bar/something/else", true},
		{"**/*/**", "/bar/", true}, {"**/*/**", "//", true}, {"**/*/**", "something/else", false},
		{"\\A", "\\A", true}, {"\\*", "*", true}, {"\\*", "\\*", false}, {"\\\\", "\\", true},
		{"aa\\", "aa\\", true},
		// '*' is possessive ([^/]*+): it never gives characters back.
		{"/extract/*", "/extract/AZE123", true}, {"/extract/*", "/extract/a/b", false},
		{"/a*b", "/axb", false}, {"/a*/c", "/axx/c", true}, {"/*", "/", true},
		{"/extract/**", "/extract/", true}, {"/extract/**", "/extract", false},
	} {
		if got := MatchPath(tc.glob, tc.path); got != tc.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", tc.glob, tc.path, got, tc.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	eps := []Endpoint{{"GET", "/extract/*"}, {"post", "/reports/**"}}
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/extract/AZE123", true},
		{"get", "/extract/AZE123", true},
		{"PUT", "/extract/AZE123", false},
		{"GET", "/extract/a/b", false},
		{"GET", "/extract/./AZE123", true},
		{"GET", "/x/../extract/AZE123", true},
		{"GET", "/extract/%41ZE", true},
		{"GET", "/extract/a%2Fb", false}, // %2F is decoded to '/'
		{"GET", "/../extract/a", false},  // ".." left over
		{"GET", "/extract/%252E%252E", false},
		// X-Road cuts these short (or drops "//host") and forwards the raw
		// path: refused here, so the rights and the provider see one path.
		{"GET", "/extract/a%3Fb", false},
		{"GET", "//evil/extract/a", false},
		{"GET", "/extract/1%3F/../../admin/delete", false},
		{"GET", "/extract/1%23/../../admin", false},
		{"GET", "/%2Fx/extract/1", false},
		{"GET", "/extract/1%5C..%5C..%5Cadmin", false},
		{"GET", "/extract/%", false},
		{"GET", "", false},
		{"POST", "/reports/2026/Q1", true},
		{"POST", "/reports//2026", true},
	} {
		if got := Allowed(eps, tc.method, tc.path); got != tc.want {
			t.Errorf("Allowed(%s %q) = %v, want %v", tc.method, tc.path, got, tc.want)
		}
	}
	if !Allowed([]Endpoint{{"*", "**"}}, "OPTIONS", "") {
		t.Error("the service-level endpoint * ** admits everything")
	}
}

// TestProviderFields: the provider IS sees each identity field once, with
// the value the security servers checked, whatever the client added.
func TestProviderFields(t *testing.T) {
	r, err := NewRequest("GET", "/r1/AZ/GOV/EMDK/realestate/extract/AZE123", []Field{
		{"X-Road-Client", "AZ/GOV/DIN/population"}, // a victim, first: what Header.Get returns
		{"X-Road-Service", "AZ/GOV/DIN/population/getPersonByFin"},
		{"X-Road-Request-Hash", "forged"},
		{"Connection", "X-Road-Client"},
		{"Accept", "application/json"},
		{"X-Road-Client", "AZ/GOV/DSMF/insurance"}, // the one checked (the last)
	}, "xid", "AZ")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRequestPart(r.HeaderPart()) // as the provider's server reads it
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	for _, f := range ProviderFields(p) {
		h.Add(f.Name, f.Value)
	}
	if got := h.Values("X-Road-Client"); len(got) != 1 || got[0] != "AZ/GOV/DSMF/insurance" || p.Client.MemberCode != "DSMF" {
		t.Errorf("X-Road-Client to the provider: %q (checked: %s)", got, p.Client)
	}
	if got := h.Values("X-Road-Service"); len(got) != 1 || got[0] != EncodeService(p.Service) {
		t.Errorf("X-Road-Service to the provider: %q, want the request path's %q", got, EncodeService(p.Service))
	}
	if h.Get("X-Road-Request-Hash") != "" || h.Get("Connection") != "" {
		t.Errorf("a client-sent X-Road-Request-Hash or Connection reached the provider: %v", h)
	}
	if h.Get("Accept") != "application/json" || len(h.Values("X-Road-Id")) != 1 || h.Get("X-Road-Request-Id") != "xid" {
		t.Errorf("the client's own fields and the ids: %v", h)
	}
}
