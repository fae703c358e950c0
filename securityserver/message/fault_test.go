package message

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestFaultMarshal(t *testing.T) {
	f := &Fault{Code: "Server.ClientProxy.ServiceFailed.MissingBody", String: "Malformed SOAP message: body missing", Detail: "f31e7451-f0ac-48f6-9f05-1f0459e48eea"}
	// PR-MESS Annex D.1, written compactly as X-Road's SoapFault.createFaultXml does.
	want := `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault>` +
		`<faultcode>Server.ClientProxy.ServiceFailed.MissingBody</faultcode><faultstring>Malformed SOAP message: body missing</faultstring><faultactor></faultactor>` +
		`<detail><faultDetail xmlns="">f31e7451-f0ac-48f6-9f05-1f0459e48eea</faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`
	if got := string(f.Marshal()); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestFaultRoundTrip(t *testing.T) {
	for _, f := range []*Fault{
		Faultf(Code(ClientProxy, NetworkError), "cannot connect to DİN's security server <ss1.din.gov.az> & retry: %q", "Əli"),
		{Code: "Client.InvalidSoap", String: "line one\nline two\ttab \"quoted\" 'single' ]]>", Actor: "urn:actor?a=1&b=2"},
		{Code: "server.clientproxy.ssl_authentication_failed", String: "", Detail: "x"},
		{Code: "Server.ServerProxy.InternalError", String: "bad \x00 char"},
	} {
		got, ok := ParseFault(f.Marshal())
		if !ok {
			t.Fatalf("ParseFault(%s) failed", f.Marshal())
		}
		want := *f
		if want.String == "bad \x00 char" {
			want.String = "bad \uFFFD char" // XML cannot carry U+0000
		}
		if *got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
}

func TestFaultf(t *testing.T) {
	f := Faultf(Code(ClientPrefix, MissingHeaderField), "required field '%s' is missing", "client")
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if f.Code != "Client.MissingHeaderField" || f.String != "required field 'client' is missing" || !uuid.MatchString(f.Detail) || f.Actor != "" {
		t.Fatalf("%+v", f)
	}
	if g := Faultf(f.Code, "x"); g.Detail == f.Detail {
		t.Error("two faults share a detail UUID")
	}
	if f.Error() != "Client.MissingHeaderField: required field 'client' is missing" {
		t.Error(f.Error())
	}
	if p := f.WithPrefix("Server.ServerProxy.ServiceFailed"); p.Code != "Server.ServerProxy.ServiceFailed.Client.MissingHeaderField" || f.Code != "Client.MissingHeaderField" || p.Detail != f.Detail {
		t.Errorf("WithPrefix: %+v", p)
	}
	if !HasCode(fmt.Errorf("wrapped: %w", f), "client.missing_header_field") || HasCode(f, "Client.MissingHeader") || HasCode(fmt.Errorf("plain"), "Client") {
		t.Error("HasCode")
	}
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{
		"server.clientproxy.ssl_authentication_failed":            "Server.ClientProxy.SslAuthenticationFailed",
		"server.clientproxy.service_failed.missing_body":          "Server.ClientProxy.ServiceFailed.MissingBody",
		"server.serverproxy.access_denied":                        "Server.ServerProxy.AccessDenied",
		"server.serverproxy.unknown_service":                      "Server.ServerProxy.UnknownService",
		"server.clientproxy.global_conf_outdated":                 "Server.ClientProxy.OutdatedGlobalConf",
		"server.clientproxy.io_error":                             "Server.ClientProxy.IOError",
		"server.serverproxy.opmonitor.internal_error":             "Server.ServerProxy.OpMonitor.InternalError",
		"client.invalid_soap":                                     "Client.InvalidSoap",
		"client.missing_header_field":                             "Client.MissingHeaderField",
		"signer.hsm_non_operational":                              "Signer.HSMNonOperational",
		"server.clientproxy.service_failed.inconsistent_response": "Server.ClientProxy.ServiceFailed.InconsistentResponse",
		"Server.ClientProxy.NetworkError":                         "Server.ClientProxy.NetworkError",
		"Server.ServerProxy.ServiceFailed.InternalError":          "Server.ServerProxy.ServiceFailed.InternalError",
		"SOAP-ENV:Server":                                         "SOAP-ENV:Server",
		"soapenv:Client":                                          "soapenv:Client",
		"":                                                        "",
	} {
		if got := NormalizeCode(in); got != want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFaultWriteHTTP(t *testing.T) {
	f := Faultf(Code(ClientProxy, AccessDenied), "ƏMDK may not call %s", "getPersonByFin")
	w := httptest.NewRecorder()
	f.WriteHTTP(w)
	res := w.Result()
	if res.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200 (PR-MESS faults travel with HTTP 200)", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/xml; charset=UTF-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if v, ok := res.Header["SOAPAction"]; !ok || len(v) != 1 || v[0] != "" {
		t.Errorf("SOAPAction header %q, %v", v, ok)
	}
	if res.Header.Get("Content-Length") != fmt.Sprint(w.Body.Len()) {
		t.Error("Content-Length")
	}
	got, ok := ParseFault(w.Body.Bytes())
	if !ok || *got != *f {
		t.Errorf("body %s", w.Body)
	}
}

// TestFaultWriteHTTPWire checks the header lines a real server sends.
func TestFaultWriteHTTPWire(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Faultf(Code(ClientPrefix, InvalidHttpMethod), "must use POST request method instead of %s", r.Method).WriteHTTP(w)
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	wire, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(wire), "\r\n\r\n")
	for _, line := range []string{"HTTP/1.1 200 OK", "\r\nContent-Type: text/xml; charset=UTF-8\r\n", "\r\nSOAPAction: \r\n"} {
		if !strings.Contains(head+"\r\n", line) {
			t.Errorf("response head lacks %q:\n%s", line, head)
		}
	}
	if f, ok := ParseFault([]byte(body)); !ok || f.Code != "Client.InvalidHttpMethod" {
		t.Errorf("body %q", body)
	}
}
