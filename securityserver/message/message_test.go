package message

import (
	"bytes"
	"crypto/sha512"
	"encoding/xml"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/spool"
)

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	emdk     = identifier.Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "EMDK", SubsystemCode: "realestate"}
	personBy = identifier.ServiceID{
		Provider:    identifier.Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "DIN", SubsystemCode: "population"},
		ServiceCode: "getPersonByFin", ServiceVersion: "v1",
	}
	dinNS = "http://din.gov.az/population/v1"
)

func TestParseGood(t *testing.T) {
	att := load(t, "request-attachment.mime")
	tests := []struct {
		file, contentType string
		request           bool
		want              Header
		body              xml.Name
		soap              []byte // nil: the whole input
	}{
		{file: "request.xml", contentType: "text/xml; charset=utf-8", request: true,
			want: Header{Client: emdk, Service: personBy, ID: "6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a", UserID: "AZ1234567", Issue: "ƏMDK-2026-001", ProtocolVersion: "4.0"},
			body: xml.Name{Space: dinNS, Local: "getPersonByFin"}},
		{file: "request-crlf-bom.xml", contentType: "text/xml", request: true,
			want: Header{Client: emdk, Service: personBy, ID: "0a7d5e3c-91b2-4f68-a4d0-7c3e9b1f2a84", UserID: "AZ1234567", Issue: "ƏMDK-2026-001", ProtocolVersion: "4.0"},
			body: xml.Name{Space: dinNS, Local: "getPersonByFin"}},
		{file: "request-extra-headers.xml", contentType: `text/xml; charset="UTF-8"`, request: true,
			want: Header{Client: emdk, Service: personBy, ID: "b2e4a7c1-0d3f-4b6a-8e9c-5f1a2d3b4c6e", ProtocolVersion: "4.0",
				RepresentedParty: &RepresentedParty{Class: "COM", Code: "1400057421"},
				SecurityServer:   &identifier.ServerID{Owner: identifier.Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "DIN"}, ServerCode: "ss1"}},
			body: xml.Name{Space: dinNS, Local: "getPersonByFin"}},
		{file: "request-attachment.mime", contentType: `multipart/related; type="text/xml"; start="<rootpart>"; boundary="MIME_boundary"`, request: true,
			want: Header{Client: emdk, Service: personBy, ID: "6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a", UserID: "AZ1234567", Issue: "ƏMDK-2026-001", ProtocolVersion: "4.0"},
			body: xml.Name{Space: dinNS, Local: "getPersonByFin"},
			soap: att[bytes.Index(att, []byte("<?xml")) : bytes.Index(att, []byte("</SOAP-ENV:Envelope>\r\n"))+len("</SOAP-ENV:Envelope>\r\n")]},
		{file: "response.xml", contentType: "text/xml;charset=UTF-8",
			want: Header{Client: emdk, Service: personBy, ID: "6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a", UserID: "AZ1234567", Issue: "ƏMDK-2026-001", ProtocolVersion: "4.0"},
			body: xml.Name{Space: dinNS, Local: "getPersonByFinResponse"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			in := load(t, tc.file)
			orig := bytes.Clone(in)
			m, err := Parse(in, tc.contentType, ParseOptions{Request: tc.request})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, orig) || &m.Raw[0] != &in[0] || len(m.Raw) != len(in) {
				t.Fatal("Raw is not the input, untouched")
			}
			if m.ContentType != tc.contentType {
				t.Errorf("ContentType = %q", m.ContentType)
			}
			soap := tc.soap
			if soap == nil {
				soap = in
			}
			if !bytes.Equal(m.SOAP, soap) {
				t.Errorf("SOAP part = %q…, want %q…", m.SOAP[:40], soap[:40])
			}
			assertHeader(t, m.Header, tc.want)
			if m.Body != tc.body || m.IsFault || m.Fault != nil {
				t.Errorf("Body = %v, IsFault %v", m.Body, m.IsFault)
			}
		})
	}
}

func assertHeader(t *testing.T, got, want Header) {
	t.Helper()
	if got.Client != want.Client || got.Service != want.Service || got.ID != want.ID || got.UserID != want.UserID ||
		got.Issue != want.Issue || got.ProtocolVersion != want.ProtocolVersion {
		t.Errorf("header\n got %+v\nwant %+v", got, want)
	}
	if (got.RepresentedParty == nil) != (want.RepresentedParty == nil) || got.RepresentedParty != nil && *got.RepresentedParty != *want.RepresentedParty {
		t.Errorf("representedParty = %+v, want %+v", got.RepresentedParty, want.RepresentedParty)
	}
	if (got.SecurityServer == nil) != (want.SecurityServer == nil) || got.SecurityServer != nil && *got.SecurityServer != *want.SecurityServer {
		t.Errorf("securityServer = %+v, want %+v", got.SecurityServer, want.SecurityServer)
	}
	if want.RequestHash == nil && got.RequestHash != nil {
		t.Errorf("unexpected requestHash %+v", got.RequestHash)
	}
}

func TestParseAttachments(t *testing.T) {
	in := load(t, "request-attachment.mime")
	m, err := Parse(in, `multipart/related; type="text/xml"; start="<rootpart>"; boundary="MIME_boundary"`, ParseOptions{Request: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("%d attachments", len(m.Attachments))
	}
	a := m.Attachments[0]
	if a.Header.Get("Content-ID") != "<photo.jpg>" || string(a.Body) != "RsZpbiA1Wko4SzJMIMmZbWxhayBxZXlkaXl5YXTEsQ0K" ||
		!bytes.HasPrefix(a.Raw, []byte("Content-Type: application/octet-stream; name=photo.jpg\r\n")) || !bytes.HasSuffix(a.Raw, a.Body) {
		t.Errorf("attachment %q / %q", a.Raw, a.Body)
	}
	if !bytes.HasPrefix(m.SOAP, []byte("<?xml")) || !bytes.HasSuffix(m.SOAP, []byte("</SOAP-ENV:Envelope>\r\n")) {
		t.Errorf("SOAP part %q", m.SOAP)
	}
	if m.SOAPType != "text/xml; charset=UTF-8" {
		t.Errorf("SOAP part type %q", m.SOAPType)
	}

	// MTOM (PR-MESS Annex G): the root part is application/xop+xml.
	mtom := bytes.Replace(in, []byte("Content-Type: text/xml; charset=UTF-8"), []byte(`Content-Type: application/xop+xml; charset=UTF-8; type="text/xml"`), 1)
	if _, err := Parse(mtom, `multipart/related; type="application/xop+xml"; start="<rootpart>"; start-info="text/xml"; boundary="MIME_boundary"`, ParseOptions{Request: true}); err != nil {
		t.Error(err)
	}
}

func TestParseResponseWithoutService(t *testing.T) {
	in := cutElement(load(t, "response.xml"), "xrd:service")
	m, err := Parse(in, "", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.HasService() {
		t.Error("HasService")
	}
	if _, err := Parse(in, "", ParseOptions{Request: true}); !HasCode(err, "Client.MissingHeaderField") {
		t.Errorf("as a request: %v", err)
	}
}

func TestParseProtocolVersion4x(t *testing.T) {
	in := bytes.Replace(load(t, "request.xml"), []byte(">4.0<"), []byte(">4.1<"), 1)
	m, err := Parse(in, "", ParseOptions{Request: true})
	if err != nil || m.Header.ProtocolVersion != "4.1" {
		t.Fatal(m, err)
	}
}

func TestParseFaultMessage(t *testing.T) {
	in := load(t, "fault.xml")
	m, err := Parse(in, "text/xml; charset=UTF-8", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Fault{Code: "Server.ServerProxy.AccessDenied",
		String: "Request is not allowed: SERVICE:AZ/GOV/DIN/population/getPersonByFin/v1 & client AZ/GOV/EMDK/realestate (ƏMDK)",
		Detail: "3c9d2f61-7a4b-4e0e-b5d2-1a2b3c4d5e6f"}
	if !m.IsFault || m.Fault == nil || *m.Fault != want || m.Body != (xml.Name{Space: NamespaceSOAPEnv, Local: "Fault"}) {
		t.Fatalf("got %+v %+v", m.Fault, m.Body)
	}
	f, ok := ParseFault(in)
	if !ok || *f != want {
		t.Fatalf("ParseFault = %+v, %v", f, ok)
	}
	if _, ok := ParseFault(load(t, "response.xml")); ok {
		t.Error("ParseFault accepted a response")
	}
}

// cutElement removes the first element with this qualified name, with the
// white space before it.
func cutElement(b []byte, qname string) []byte {
	s := string(b)
	i := strings.Index(s, "<"+qname)
	j := strings.Index(s[i:], "</"+qname+">") + i + len("</"+qname+">")
	k := i
	for k > 0 && (s[k-1] == ' ' || s[k-1] == '\n') {
		k--
	}
	return []byte(s[:k] + s[j:])
}

func TestParseMalformed(t *testing.T) {
	req := string(load(t, "request.xml"))
	resp := string(load(t, "response.xml"))
	att := string(load(t, "request-attachment.mime"))
	const mp = `multipart/related; type="text/xml"; boundary="MIME_boundary"`
	rep := func(s, old, new string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("test input lacks %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}
	deep := strings.Repeat("<a>", 600) + strings.Repeat("</a>", 600)
	tests := []struct {
		name, in, contentType string
		opts                  ParseOptions
		code                  string
	}{
		{name: "not XML", in: "GET / HTTP/1.1 this is not XML", code: "Client.InvalidSoap"},
		{name: "empty", in: "", code: "Client.InvalidSoap"},
		{name: "truncated", in: req[:len(req)/2], code: "Client.InvalidSoap"},
		{name: "DOCTYPE", in: rep(req, "?>\n", "?>\n<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY fin \"5ZJ8K2L\">]>\n"), code: "Client.InvalidSoap"},
		{name: "undeclared entity", in: rep(req, "AZ1234567", "&fin;"), code: "Client.InvalidSoap"},
		{name: "processing instruction", in: rep(req, "<SOAP-ENV:Body>", "<?php echo 1; ?><SOAP-ENV:Body>"), code: "Client.InvalidSoap"},
		{name: "SOAP 1.2", in: rep(req, "http://schemas.xmlsoap.org/soap/envelope/", NamespaceSOAP12), code: "Client.InvalidSoap"},
		{name: "root not an envelope", in: `<din:getPersonByFin xmlns:din="http://din.gov.az/population/v1"/>`, code: "Client.InvalidSoap"},
		{name: "mismatched end tag", in: rep(req, "</xrd:userId>", "</xrd:issue>"), code: "Client.InvalidSoap"},
		{name: "unbound prefix", in: rep(req, "<din:fin>", "<fin:fin>"), code: "Client.InvalidSoap"},
		{name: "duplicate attribute", in: rep(req, `id:objectType="SERVICE"`, `id:objectType="SERVICE" id:objectType="SERVICE"`), code: "Client.InvalidSoap"},
		{name: "too deep", in: rep(req, "<din:fin>", "<din:fin>"+deep), code: "Client.InvalidSoap"},
		{name: "second root", in: req + "<x/>", code: "Client.InvalidSoap"},
		{name: "text after root", in: req + "trailing", code: "Client.InvalidSoap"},
		{name: "header after body", in: rep(string(cutElement([]byte(req), "SOAP-ENV:Header")), "</SOAP-ENV:Envelope>", "<SOAP-ENV:Header/></SOAP-ENV:Envelope>"), code: "Client.InvalidSoap"},
		{name: "two headers", in: rep(req, "<SOAP-ENV:Body>", "<SOAP-ENV:Header/><SOAP-ENV:Body>"), code: "Client.InvalidSoap"},
		{name: "two bodies", in: rep(req, "</SOAP-ENV:Envelope>", "<SOAP-ENV:Body/></SOAP-ENV:Envelope>"), code: "Client.InvalidSoap"},
		{name: "element before body", in: rep(req, "<SOAP-ENV:Body>", "<x:extra xmlns:x=\"urn:x\"/><SOAP-ENV:Body>"), code: "Client.InvalidSoap"},
		{name: "no header", in: string(cutElement([]byte(req), "SOAP-ENV:Header")), code: "Client.MissingHeader"},
		{name: "missing client", in: string(cutElement([]byte(req), "xrd:client")), code: "Client.MissingHeaderField"},
		{name: "missing id", in: string(cutElement([]byte(req), "xrd:id")), code: "Client.MissingHeaderField"},
		{name: "empty id", in: rep(req, ">6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a<", "> <"), code: "Client.MissingHeaderField"},
		{name: "missing protocolVersion", in: string(cutElement([]byte(req), "xrd:protocolVersion")), code: "Client.MissingHeaderField"},
		{name: "missing service", in: string(cutElement([]byte(req), "xrd:service")), opts: ParseOptions{Request: true}, code: "Client.MissingHeaderField"},
		{name: "representedParty without partyCode", in: rep(req, "<xrd:protocolVersion>", `<repr:representedParty xmlns:repr="http://x-road.eu/xsd/representation.xsd"><repr:partyClass>COM</repr:partyClass></repr:representedParty><xrd:protocolVersion>`), code: "Client.MissingHeaderField"},
		{name: "duplicate userId", in: rep(req, "<xrd:userId>AZ1234567</xrd:userId>", "<xrd:userId>AZ1234567</xrd:userId><xrd:userId>AZ7654321</xrd:userId>"), code: "Client.DuplicateHeaderField"},
		{name: "duplicate client", in: rep(req, "<xrd:id>", `<xrd:client id:objectType="MEMBER"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DIN</id:memberCode></xrd:client><xrd:id>`), code: "Client.DuplicateHeaderField"},
		{name: "duplicate requestHash", in: rep(resp, "<xrd:protocolVersion>", `<xrd:requestHash algorithmId="`+HashAlgorithmSHA512+`">AA==</xrd:requestHash><xrd:requestHash algorithmId="`+HashAlgorithmSHA512+`">AA==</xrd:requestHash><xrd:protocolVersion>`), code: "Client.DuplicateHeaderField"},
		{name: "duplicate identifier part", in: rep(req, "<id:memberCode>EMDK</id:memberCode>", "<id:memberCode>EMDK</id:memberCode><id:memberCode>DIN</id:memberCode>"), code: "Client.DuplicateHeaderField"},
		{name: "protocolVersion 3.1", in: rep(req, ">4.0<", ">3.1<"), code: "Client.InvalidProtocolVersion"},
		{name: "protocolVersion 40", in: rep(req, ">4.0<", ">40<"), code: "Client.InvalidProtocolVersion"},
		{name: "identifier with a space", in: rep(req, "<id:memberCode>EMDK<", "<id:memberCode>EM DK<"), code: "Client.InvalidClientIdentifier"},
		{name: "identifier with Ə", in: rep(req, "<id:memberCode>EMDK<", "<id:memberCode>ƏMDK<"), code: "Client.InvalidClientIdentifier"},
		{name: "service code with a slash", in: rep(rep(req, "<id:serviceCode>getPersonByFin<", "<id:serviceCode>get/PersonByFin<"), "<din:getPersonByFin>", "<din:get>"), code: "Client.InvalidClientIdentifier"},
		{name: "empty member code", in: rep(req, "<id:memberCode>EMDK</id:memberCode>", "<id:memberCode/>"), code: "Client.InvalidClientIdentifier"},
		{name: "client missing member code", in: rep(req, "<id:memberCode>EMDK</id:memberCode>", ""), code: "Client.InvalidClientIdentifier"},
		{name: "MEMBER with subsystem", in: rep(req, `<xrd:client id:objectType="SUBSYSTEM">`, `<xrd:client id:objectType="MEMBER">`), code: "Client.InvalidClientIdentifier"},
		{name: "SUBSYSTEM without subsystem", in: rep(req, "<id:subsystemCode>realestate</id:subsystemCode>", ""), code: "Client.InvalidClientIdentifier"},
		{name: "client objectType SERVICE", in: rep(req, `<xrd:client id:objectType="SUBSYSTEM">`, `<xrd:client id:objectType="SERVICE">`), code: "Client.InvalidXml"},
		{name: "service objectType SUBSYSTEM", in: rep(req, `<xrd:service id:objectType="SERVICE">`, `<xrd:service id:objectType="SUBSYSTEM">`), code: "Client.InvalidXml"},
		{name: "unknown objectType", in: rep(req, `<xrd:client id:objectType="SUBSYSTEM">`, `<xrd:client id:objectType="PERSON">`), code: "Client.InvalidXml"},
		{name: "objectType without namespace", in: rep(req, `<xrd:client id:objectType="SUBSYSTEM">`, `<xrd:client objectType="SUBSYSTEM">`), code: "Client.InvalidXml"},
		{name: "identifier part in another namespace", in: rep(req, "<id:memberClass>GOV</id:memberClass>\n            <id:memberCode>EMDK", "<xrd:memberClass>GOV</xrd:memberClass>\n            <id:memberCode>EMDK"), code: "Client.InvalidXml"},
		{name: "identifier parts out of order", in: rep(req, "<id:memberClass>GOV</id:memberClass>\n            <id:memberCode>EMDK</id:memberCode>", "<id:memberCode>EMDK</id:memberCode><id:memberClass>GOV</id:memberClass>"), code: "Client.InvalidXml"},
		{name: "client with serviceCode", in: rep(req, "<id:subsystemCode>realestate</id:subsystemCode>", "<id:subsystemCode>realestate</id:subsystemCode><id:serviceCode>x</id:serviceCode>"), code: "Client.InvalidXml"},
		{name: "element inside id", in: rep(req, "<xrd:id>", "<xrd:id><b/>"), code: "Client.InvalidXml"},
		{name: "no body", in: string(cutElement([]byte(req), "SOAP-ENV:Body")), code: "Client.MissingBody"},
		{name: "empty body", in: rep(req, "<din:getPersonByFin>\n            <din:fin>5ZJ8K2L</din:fin>\n        </din:getPersonByFin>", ""), code: "Client.InvalidBody"},
		{name: "two body children", in: rep(req, "</SOAP-ENV:Body>", "<din:getPersonByFin/></SOAP-ENV:Body>"), code: "Client.InvalidBody"},
		{name: "text in body", in: rep(req, "</SOAP-ENV:Body>", "5ZJ8K2L</SOAP-ENV:Body>"), code: "Client.InvalidBody"},
		{name: "declared ISO-8859-1", in: rep(req, `encoding="UTF-8"`, `encoding="ISO-8859-1"`), code: "Client.InvalidContentType"},
		{name: "charset windows-1251", in: req, contentType: "text/xml; charset=windows-1251", code: "Client.InvalidContentType"},
		{name: "charset us-ascii, non-ASCII bytes", in: req, contentType: "text/xml; charset=us-ascii", code: "Client.InvalidContentType"},
		{name: "UTF-16", in: "\xff\xfe<\x00?\x00", code: "Client.InvalidContentType"},
		{name: "application/json", in: req, contentType: "application/json", code: "Client.InvalidContentType"},
		{name: "SOAP 1.2 content type", in: req, contentType: "application/soap+xml; charset=utf-8", code: "Client.InvalidContentType"},
		{name: "bad content type", in: req, contentType: "text/xml; charset", code: "Client.InvalidContentType"},
		{name: "oversized", in: req, opts: ParseOptions{MaxSize: int64(len(req) - 1)}, code: "Client.InvalidMessage"},
		{name: "multipart without boundary", in: att, contentType: `multipart/related; type="text/xml"`, code: "Client.MimeParsingFailed"},
		{name: "multipart without closing boundary", in: att[:strings.LastIndex(att, "--MIME_boundary--")], contentType: mp, code: "Client.MimeParsingFailed"},
		{name: "multipart, other boundary", in: att, contentType: `multipart/related; boundary="other"`, code: "Client.MimeParsingFailed"},
		{name: "multipart, base64 SOAP part", in: rep(att, "Content-Transfer-Encoding: 8bit", "Content-Transfer-Encoding: base64"), contentType: mp, code: "Client.MimeParsingFailed"},
		{name: "multipart, SOAP part not XML", in: rep(att, "Content-Type: text/xml; charset=UTF-8", "Content-Type: image/jpeg"), contentType: mp, code: "Client.InvalidContentType"},
		{name: "multipart, no parts", in: "preamble\r\n--MIME_boundary--\r\n", contentType: mp, code: "Client.MissingSoap"},
		{name: "multipart, malformed SOAP", in: rep(att, "<SOAP-ENV:Body>", "<SOAP-ENV:Body"), contentType: mp, code: "Client.InvalidSoap"},
		{name: "fault prefix option", in: string(cutElement([]byte(resp), "xrd:id")), opts: ParseOptions{FaultPrefix: Code(ServerProxy, ServiceFailed)}, code: "Server.ServerProxy.ServiceFailed.MissingHeaderField"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.in), tc.contentType, tc.opts)
			f, ok := err.(*Fault)
			if !ok {
				t.Fatalf("got %v, %v; want a fault %s", m, err, tc.code)
			}
			t.Logf("%s: %s", f.Code, f.String)
			if f.Code != tc.code {
				t.Errorf("code %s (%s), want %s", f.Code, f.String, tc.code)
			}
			if f.String == "" || len(f.Detail) != 36 {
				t.Errorf("fault %+v lacks a message or detail", f)
			}
			if strings.HasPrefix(tc.contentType, "multipart/") { // streamed, the same fault
				_, err := ReadStream(strings.NewReader(tc.in), tc.contentType, tc.opts, Streaming{MaxAttachments: 1 << 20, Spool: spool.NewSet(t.TempDir())})
				if f, ok := err.(*Fault); !ok || f.Code != tc.code {
					t.Errorf("ReadStream: %v, want %s", err, tc.code)
				}
			}
		})
	}
}

// TestParseBodyWrapper: X-Road accepts a body element whose local name
// starts with the service code, in requests as in responses
// (SoapUtils.validateServiceName, called by SaxSoapParserImpl's
// validateBody), and refuses any other with InconsistentHeaders.
func TestParseBodyWrapper(t *testing.T) {
	req := string(load(t, "request.xml"))
	resp := string(load(t, "response.xml"))
	tests := []struct {
		request bool
		wrapper string
		ok      bool
	}{
		{true, "getPersonByFin", true},
		{true, "getPersonByFinRequest", true},
		{true, "getPersonByFinV2", true},
		{true, "getPersonByFinResponse", true},
		{true, "getPerson", false},
		{true, "GetPersonByFin", false}, // case matters
		{true, "xgetPersonByFin", false},
		{true, "Fault", false}, // a Fault outside the SOAP namespace is just a wrapper
		{false, "getPersonByFinResponse", true},
		{false, "getPersonByFin", true},
		{false, "getPersonByFinResult", true},
		{false, "getAddress", false},
		{false, "getPersonByFi", false},
	}
	for _, tc := range tests {
		in, old := req, "getPersonByFin>"
		if !tc.request {
			in, old = resp, "getPersonByFinResponse>"
		}
		in = strings.ReplaceAll(in, "<din:"+old, "<din:"+tc.wrapper+">")
		in = strings.ReplaceAll(in, "</din:"+old, "</din:"+tc.wrapper+">")
		m, err := Parse([]byte(in), "", ParseOptions{Request: tc.request})
		switch {
		case tc.ok && err != nil:
			t.Errorf("request=%v <%s>: %v", tc.request, tc.wrapper, err)
		case tc.ok && m.Body != (xml.Name{Space: dinNS, Local: tc.wrapper}):
			t.Errorf("request=%v <%s>: Body = %v", tc.request, tc.wrapper, m.Body)
		case !tc.ok && !HasCode(err, "Client.InconsistentHeaders"):
			t.Errorf("request=%v <%s>: got %v, want Client.InconsistentHeaders", tc.request, tc.wrapper, err)
		}
	}
}

// TestParseIdentifierWhiteSpace: X-Road's parser keeps identifier values
// exactly as written (SaxSoapParserImpl's XmlElementHandler collects the
// characters untrimmed), so " EMDK" names no member X-Road knows. Şlüz
// refuses such a value outright: white space is not among the characters
// PR-MESS §2.7 allows.
func TestParseIdentifierWhiteSpace(t *testing.T) {
	req := string(load(t, "request.xml"))
	extra := string(load(t, "request-extra-headers.xml"))
	tests := []struct{ name, in, old, new string }{
		{"leading space in client memberCode", req, ">EMDK<", "> EMDK<"},
		{"trailing newline in client memberCode", req, ">EMDK<", ">EMDK\n<"},
		{"tab in xRoadInstance", req, "<id:xRoadInstance>AZ<", "<id:xRoadInstance>\tAZ<"},
		{"CR in subsystemCode", req, ">realestate<", ">realestate&#13;<"},
		{"spaces in CDATA", req, ">EMDK<", "><![CDATA[ EMDK ]]><"},
		{"indented service memberCode", req, ">DIN<", ">\n                DIN\n            <"},
		{"space after serviceCode", req, ">getPersonByFin</id:serviceCode>", ">getPersonByFin </id:serviceCode>"},
		{"space in serviceVersion", req, ">v1<", "> v1<"},
		{"space in securityServer serverCode", extra, ">ss1<", ">ss1 <"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.in, tc.old) {
				t.Fatalf("input lacks %q", tc.old)
			}
			in := strings.Replace(tc.in, tc.old, tc.new, 1)
			m, err := Parse([]byte(in), "", ParseOptions{Request: true})
			if !HasCode(err, "Client.InvalidClientIdentifier") {
				t.Fatalf("got %+v, %v; want Client.InvalidClientIdentifier", m, err)
			}
		})
	}
}

// TestParseRequestFault: a request whose body is a SOAP Fault is refused
// with the fault's own code behind "Client" (X-Road: the client proxy's
// SoapMessageHandler.fault throws the fault, ClientException prefixes it;
// the proxy test SoapFaultToClientProxy sends fault.query and expects
// Client.CODE). No client is looked up: the fault has none.
func TestParseRequestFault(t *testing.T) {
	const xroadFault = `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xroad="http://x-road.eu/xsd/xroad.xsd">
<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>CODE</faultcode><faultstring>STRING</faultstring><faultactor>ACTOR</faultactor>
<detail><xroad:faultDetail>DETAIL</xroad:faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`
	withCode := func(code string) string {
		return strings.Replace(xroadFault, "<faultcode>CODE</faultcode>", code, 1)
	}
	req := string(load(t, "request.xml"))
	withHeaders := strings.Replace(req, "<din:getPersonByFin>\n            <din:fin>5ZJ8K2L</din:fin>\n        </din:getPersonByFin>",
		"<SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode><faultstring>x</faultstring></SOAP-ENV:Fault>", 1)
	if withHeaders == req {
		t.Fatal("request.xml changed: its body was not replaced")
	}
	tests := []struct {
		name, in string
		opts     ParseOptions
		code     string
	}{
		{"X-Road's fault.query", xroadFault, ParseOptions{Request: true}, "Client.CODE"},
		{"a security server's fault", string(load(t, "fault.xml")), ParseOptions{Request: true}, "Client.Server.ServerProxy.AccessDenied"},
		{"a Client fault keeps its code", withCode("<faultcode>Client.InvalidSoap</faultcode>"), ParseOptions{Request: true}, "Client.InvalidSoap"},
		{"a QName code", withCode("<faultcode>SOAP-ENV:Client</faultcode>"), ParseOptions{Request: true}, "Client.SOAP-ENV:Client"},
		{"with X-Road headers", withHeaders, ParseOptions{Request: true}, "Client.SOAP-ENV:Server"},
		{"no faultcode", withCode(""), ParseOptions{Request: true}, "Client.InvalidSoap"},
		{"empty faultcode", withCode("<faultcode> </faultcode>"), ParseOptions{Request: true}, "Client.InvalidSoap"},
		{"another prefix", xroadFault, ParseOptions{Request: true, FaultPrefix: ServerProxy}, "Server.ServerProxy.CODE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.in), "text/xml", tc.opts)
			f, ok := err.(*Fault)
			if !ok {
				t.Fatalf("got %+v, %v; want fault %s", m, err, tc.code)
			}
			if f.Code != tc.code || !strings.Contains(f.String, "SOAP Fault") || len(f.Detail) != 36 || f.Detail == "DETAIL" {
				t.Errorf("got %+v, want code %s, a message naming the SOAP Fault and a new UUID as detail", f, tc.code)
			}
			// Not as a request, the same bytes are a fault message.
			if m, err := Parse([]byte(tc.in), "text/xml", ParseOptions{}); err != nil || !m.IsFault {
				t.Errorf("as a response: %+v, %v", m, err)
			}
		})
	}
}

func TestHeaderValuesNotTrimmed(t *testing.T) {
	in := bytes.Replace(load(t, "request.xml"), []byte("<xrd:userId>AZ1234567<"), []byte("<xrd:userId> AZ1234567&#10;<"), 1)
	m, err := Parse(in, "", ParseOptions{Request: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.UserID != " AZ1234567\n" {
		t.Errorf("userId %q", m.Header.UserID)
	}
}

func TestRequestHashOfCoversBOM(t *testing.T) {
	in := load(t, "request-crlf-bom.xml")
	m, err := Parse(in, "text/xml; charset=UTF-8", ParseOptions{Request: true})
	if err != nil {
		t.Fatal(err)
	}
	want := sha512.Sum512(in) // PR-MESS §2.2: the bytes of the HTTP POST body, BOM included
	if !bytes.Equal(RequestHashOf(m.SOAP), want[:]) {
		t.Error("requestHash does not cover the raw bytes")
	}
}

func BenchmarkParse(b *testing.B) {
	raw := load(b, "request.xml") // 1.3 KB, PR-MESS Annex E.1 shape
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw, "text/xml; charset=UTF-8", ParseOptions{Request: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseMultipartVariants(t *testing.T) {
	soap := string(load(t, "request.xml"))
	tests := []struct{ name, body string }{
		{"LF line breaks, preamble, epilogue", "preamble\n--b\nContent-Type: text/xml\n\n" + soap + "\n--b\nContent-Type: text/plain\n\nFİN\n--b--\nepilogue"},
		{"boundary look-alikes in content", "--b \t\r\nContent-Type: text/xml; charset=utf-8\r\n\r\n" + soap + "\r\n--b\r\nContent-Type: text/plain\r\n\r\n--bx\r\nline\n--b-not\r\n--b--"},
		{"attachment without headers", "--b\r\nContent-Type: text/xml\r\n\r\n" + soap + "\r\n--b\r\n\r\nraw\r\n--b--\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.body), "multipart/related; boundary=b", ParseOptions{Request: true})
			if err != nil {
				t.Fatal(err)
			}
			if string(m.SOAP) != soap || len(m.Attachments) != 1 {
				t.Fatalf("SOAP %q…, %d attachments", m.SOAP[:30], len(m.Attachments))
			}
			if b := string(m.Attachments[0].Body); b != "FİN" && b != "--bx\r\nline\n--b-not" && b != "raw" {
				t.Errorf("attachment body %q", b)
			}
		})
	}
}

func TestParseUSASCII(t *testing.T) {
	in := bytes.Replace(load(t, "request.xml"), []byte("ƏMDK-2026-001"), []byte("EMDK-2026-001"), 1)
	in = bytes.Replace(in, []byte(`encoding="UTF-8"`), []byte(`encoding="US-ASCII"`), 1)
	if _, err := Parse(in, "text/xml; charset=us-ascii", ParseOptions{Request: true}); err != nil {
		t.Fatal(err)
	}
}

func TestParseForeignFault(t *testing.T) {
	// A service's own fault: other prefixes, structured detail, markup in faultstring.
	in := []byte(`<?xml version="1.0"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>
<faultcode xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"> s:Server </faultcode>
<faultstring xml:lang="az">Məlumat <b>tapılmadı</b></faultstring>
<detail><din:error xmlns:din="http://din.gov.az/population/v1"><din:code>404</din:code></din:error>  trace-7  </detail>
<extra/>
</soap:Fault></soap:Body></soap:Envelope>`)
	f, ok := ParseFault(in)
	if !ok {
		t.Fatal("not a fault")
	}
	if *f != (Fault{Code: "s:Server", String: "Məlumat ", Detail: "trace-7"}) {
		t.Errorf("%+v", f)
	}
}

// TestReadStream: a multipart/related message read as a stream: the SOAP
// part parsed as Parse parses it, each attachment byte-exact, a long one
// spooled with its digest, and the attachments' own limit.
func TestReadStream(t *testing.T) {
	in := string(load(t, "request-attachment.mime"))
	const ct = `multipart/related; type="text/xml"; start="<rootpart>"; boundary="MIME_boundary"`
	want, err := Parse([]byte(in), ct, ParseOptions{Request: true})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("DSMF rüblük hesabat\r\n"), 8<<10)
	in = strings.Replace(in, "\r\n--MIME_boundary--", "\r\n--MIME_boundary\r\nContent-Type: application/pdf\r\n\r\n"+string(big)+"\r\n--MIME_boundary--", 1)
	set := spool.NewSet(t.TempDir())
	defer set.Close()
	m, err := ReadStream(strings.NewReader(in), ct, ParseOptions{Request: true}, Streaming{MaxAttachments: int64(len(big)) + 100, Spool: set})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.SOAP, want.SOAP) || !bytes.Equal(m.Raw, m.SOAP) || m.Header != want.Header || m.ContentType != ct || m.SOAPType != want.SOAPType || len(m.Attachments) != 2 {
		t.Fatalf("streamed: %q, %d attachments", m.SOAP, len(m.Attachments))
	}
	a, b := m.Attachments[0], m.Attachments[1]
	if !bytes.Equal(a.Body, want.Attachments[0].Body) || a.Spooled != nil || a.Header.Get("Content-ID") != "<photo.jpg>" {
		t.Errorf("first attachment %q", a.Body)
	}
	sum := sha512.Sum512(big)
	if b.Body != nil || b.Spooled == nil || !bytes.Equal(b.Spooled.Digest(), sum[:]) {
		t.Fatalf("the long attachment is not spooled with its digest: %d bytes in memory", len(b.Body))
	}
	if got, err := b.ReadAll(); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the long attachment reads back %d bytes, %v", len(got), err)
	}
	_, err = ReadStream(strings.NewReader(in), ct, ParseOptions{Request: true}, Streaming{MaxAttachments: int64(len(big)), Spool: set})
	if f, ok := err.(*Fault); !ok || f.Code != "Client.InvalidMessage" || !strings.Contains(f.String, "attachments exceed the limit") {
		t.Fatalf("attachments over their limit: %v", err)
	}
	// A preamble (or any framing) is bounded by the two limits together.
	junk := strings.Repeat("preamble line\r\n", 1000)
	_, err = ReadStream(strings.NewReader(junk+in), ct, ParseOptions{Request: true, MaxSize: 8 << 10}, Streaming{MaxAttachments: int64(len(big)) + 100, Spool: set})
	if f, ok := err.(*Fault); !ok || f.Code != "Client.InvalidMessage" || !strings.Contains(f.String, "SOAP part and its attachments together") {
		t.Fatalf("a body over both limits together: %v", err)
	}
	if _, err := ReadStream(strings.NewReader(junk+in), ct, ParseOptions{Request: true, MaxSize: 32 << 10}, Streaming{MaxAttachments: int64(len(big)) + 100, Spool: set}); err != nil {
		t.Fatalf("the same body within the limits: %v", err)
	}
}

// TestPlainXMLType: the allocation-free reading of the common text/xml
// Content-Types agrees with mime.ParseMediaType on everything it accepts,
// and leaves the rest to it.
func TestPlainXMLType(t *testing.T) {
	for _, ct := range []string{
		"text/xml", "TEXT/XML", "text/xml; charset=UTF-8", "text/xml;charset=utf-8", "Text/Xml;   CHARSET=us-ascii",
		"text/xml; charset=iso-8859-1", "text/xml; charset=", "text/xml;", "text/xml ", " text/xml", "text/xml ; charset=utf-8",
		"text/xml; charset=\"utf-8\"", "text/xml; charset=utf-8; action=x", "text/xml; charset=utf-8 ", "text/xmlx",
		"text/xml\t; charset=utf-8", "text/xml;\tcharset=utf-8", "text/xml; charset=utf 8", "text/xml; charset=utf-8;",
		"text/xml; boundary=x", "text/html", "application/xop+xml", "",
	} {
		checkPlainXMLType(t, ct)
	}
	for _, ct := range []string{"text/xml", "text/xml; charset=UTF-8", "TEXT/XML;charset=utf-8"} {
		if _, ok := plainXMLType(ct); !ok {
			t.Errorf("%q not read by the fast path", ct)
		}
	}
}

// FuzzPlainXMLType: whatever the fast path accepts, mime.ParseMediaType
// reads as text/xml with the same charset and nothing else.
func FuzzPlainXMLType(f *testing.F) {
	f.Add("text/xml; charset=UTF-8")
	f.Add("text/xml;charset=x")
	f.Fuzz(checkPlainXMLType)
}

// checkPlainXMLType: if the fast path reads ct, mime.ParseMediaType reads
// it as text/xml with the same charset and no other parameter.
func checkPlainXMLType(t *testing.T, ct string) {
	cs, ok := plainXMLType(ct)
	if !ok {
		return
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "text/xml" || params["charset"] != cs || len(params) > 1 || cs == "" && len(params) != 0 {
		t.Errorf("%q: fast path gives text/xml, charset %q; mime.ParseMediaType %q %v %v", ct, cs, mt, params, err)
	}
}

// TestParseSharedTexts: header values a pooled parser keeps from message to
// message come back as each message has them, however many distinct ones
// pass, and a repeated message's identifiers are not allocated again.
func TestParseSharedTexts(t *testing.T) {
	raw := string(load(t, "request.xml"))
	for i := range 600 { // more than a parser keeps
		code := fmt.Sprintf("EMDK%d", i%300)
		m, err := Parse([]byte(strings.Replace(raw, "<id:memberCode>EMDK<", "<id:memberCode>"+code+"<", 1)), "text/xml; charset=UTF-8", ParseOptions{Request: true})
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Client.MemberCode != code || m.Header.Service.Provider.MemberCode != "DIN" || m.Header.Client.SubsystemCode != "realestate" {
			t.Fatalf("message %d: client %v, service %v", i, m.Header.Client, m.Header.Service)
		}
	}
	before := testing.AllocsPerRun(1, func() { Parse([]byte(raw), "text/xml; charset=UTF-8", ParseOptions{Request: true}) })
	if n := testing.AllocsPerRun(20, func() { Parse([]byte(raw), "text/xml; charset=UTF-8", ParseOptions{Request: true}) }); n > 12 {
		t.Errorf("parsing a message seen before allocates %.0f times (%.0f)", n, before)
	}
}
