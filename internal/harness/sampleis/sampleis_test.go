package sampleis

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// ---- helpers ----

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit returns a copy of the testdata request with old replaced by new
// (exactly once, so a stale edit fails loudly).
func edit(t *testing.T, req []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(req, []byte(old)); n != 1 {
		t.Fatalf("edit: %q occurs %d times in the request", old, n)
	}
	return bytes.Replace(req, []byte(old), []byte(new), 1)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func post(t *testing.T, url, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("SOAPAction", `""`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func postXML(t *testing.T, url string, body []byte) reply {
	t.Helper()
	return post(t, url, "text/xml; charset=utf-8", bytes.NewReader(body))
}

func parse(t *testing.T, b []byte) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatalf("response is not XML: %v\n%s", err, b)
	}
	return doc
}

// soapChild returns the child of the envelope (Header or Body) in the SOAP namespace.
func soapChild(t *testing.T, doc *etree.Document, local string) *etree.Element {
	t.Helper()
	env := doc.Root()
	if env == nil || env.Tag != "Envelope" || env.NamespaceURI() != soapEnvNS {
		t.Fatalf("root is not a SOAP 1.1 Envelope")
	}
	for _, c := range env.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == soapEnvNS {
			return c
		}
	}
	return nil
}

// responseWrapper checks a successful (HTTP 200) response and returns its wrapper.
func responseWrapper(t *testing.T, r reply, op, ns string) *etree.Element {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200\n%s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if !utf8.Valid(r.body) {
		t.Fatal("response is not valid UTF-8")
	}
	body := soapChild(t, parse(t, r.body), "Body")
	if body == nil {
		t.Fatalf("no SOAP Body\n%s", r.body)
	}
	kids := body.ChildElements()
	if len(kids) != 1 {
		t.Fatalf("Body has %d elements, want 1", len(kids))
	}
	w := kids[0]
	if w.Tag != op+"Response" || w.NamespaceURI() != ns {
		t.Fatalf("wrapper {%s}%s, want {%s}%sResponse", w.NamespaceURI(), w.Tag, ns, op)
	}
	for _, c := range w.ChildElements() {
		if c.NamespaceURI() != "" {
			t.Errorf("response field <%s> is in namespace %q, want unqualified", c.Tag, c.NamespaceURI())
		}
	}
	return w
}

// canon writes an element tree with resolved namespaces, sorted attributes
// (namespace declarations left out) and exact text, for comparing meaning.
func canon(e *etree.Element) string {
	var b strings.Builder
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		fmt.Fprintf(&b, "<{%s}%s", e.NamespaceURI(), e.Tag)
		var attrs []string
		for _, a := range e.Attr {
			if a.Space == "xmlns" || (a.Space == "" && a.Key == "xmlns") {
				continue
			}
			attrs = append(attrs, fmt.Sprintf(" {%s}%s=%q", a.NamespaceURI(), a.Key, a.Value))
		}
		sort.Strings(attrs)
		b.WriteString(strings.Join(attrs, ""))
		b.WriteString(">")
		for _, c := range e.Child {
			switch t := c.(type) {
			case *etree.Element:
				walk(t)
			case *etree.CharData:
				b.WriteString(t.Data)
			}
		}
		b.WriteString("</>")
	}
	walk(e)
	return b.String()
}

var headerRE = regexp.MustCompile(`(?s)<(?:[\w.-]+:)?Header[\s>].*?</(?:[\w.-]+:)?Header>`)

// checkHeaderEcho checks that the response header equals the request header:
// same elements in the same order with the same values and namespaces, and
// the very same bytes.
func checkHeaderEcho(t *testing.T, request, response []byte) {
	t.Helper()
	reqH := soapChild(t, parse(t, request), "Header")
	respH := soapChild(t, parse(t, response), "Header")
	if respH == nil {
		t.Fatal("response has no SOAP Header")
	}
	if got, want := canon(respH), canon(reqH); got != want {
		t.Errorf("header not echoed:\n got %s\nwant %s", got, want)
	}
	var names []string
	for _, c := range respH.ChildElements() {
		names = append(names, c.Tag)
	}
	if len(names) < 4 || names[0] != "client" || names[1] != "service" {
		t.Errorf("header fields %v", names)
	}
	if got, want := headerRE.Find(response), headerRE.Find(request); !bytes.Equal(got, want) || want == nil {
		t.Errorf("header bytes differ:\n got %s\nwant %s", got, want)
	}
}

func field(t *testing.T, e *etree.Element, path string) string {
	t.Helper()
	f := e.FindElement(path)
	if f == nil {
		t.Fatalf("no %s in <%s>", path, e.Tag)
	}
	return f.Text()
}

// bodyErr checks a body-level error response and returns code and message.
func bodyErr(t *testing.T, r reply, op, ns string) (code, msg string) {
	t.Helper()
	w := responseWrapper(t, r, op, ns)
	if len(w.ChildElements()) != 1 || w.SelectElement("error") == nil {
		t.Fatalf("want exactly one <error> in the wrapper\n%s", r.body)
	}
	return field(t, w, "error/code"), field(t, w, "error/message")
}

type soapFault struct{ code, str, detail string }

func faultOf(t *testing.T, r reply, status int) soapFault {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d\n%s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
		t.Errorf("fault Content-Type %q", ct)
	}
	body := soapChild(t, parse(t, r.body), "Body")
	f := body.FindElement("Fault")
	if f == nil || f.NamespaceURI() != soapEnvNS {
		t.Fatalf("no SOAP Fault\n%s", r.body)
	}
	return soapFault{field(t, f, "faultcode"), field(t, f, "faultstring"), field(t, f, "detail/faultDetail")}
}

func wantClientFault(t *testing.T, r reply, detail, inString string) soapFault {
	t.Helper()
	f := faultOf(t, r, http.StatusInternalServerError)
	if f.code != "Client" || f.detail != detail || !strings.Contains(f.str, inString) {
		t.Errorf("fault %+v, want Client/%s with %q", f, detail, inString)
	}
	return f
}

// ---- operations with full X-Road requests ----

func TestOperations(t *testing.T) {
	srv := newServer(t, NewMux())
	tests := []struct {
		path, file, op, ns string
		want               map[string]string // path under the wrapper -> text
		count              map[string]int    // path under the wrapper -> number of elements
	}{
		{"/din", "din-getPersonByFin.xml", "getPersonByFin", DINNamespace, map[string]string{
			"person/fin":                           "5ZJ8K2L",
			"person/surname":                       "Əliyev",
			"person/name":                          "Rəşad",
			"person/patronymic":                    "Həsən oğlu",
			"person/birthDate":                     "1984-03-12",
			"person/birthPlace":                    "Bakı şəhəri",
			"person/sex":                           "kişi",
			"person/citizenship":                   "Azərbaycan Respublikası",
			"person/registeredAddress/fullAddress": "Bakı şəhəri, Nəsimi rayonu, Süleyman Rəhimov küçəsi, ev 45, mənzil 12",
			"person/identityCard/series":           "AZE",
			"person/identityCard/number":           "14873206",
			"person/identityCard/expiryDate":       "2029-06-18",
			"person/identityCard/issuingAuthority": "Bakı şəhəri 1 saylı ASAN xidmət mərkəzi",
			"person/passport/series":               "C",
		}, nil},
		{"/emdk", "emdk-getRealEstateExtract.xml", "getRealEstateExtract", EMDKNamespace, map[string]string{
			"extract/propertyCount":                            "2",
			"extract/property[1]/propertyType":                 "mənzil",
			"extract/property[1]/address":                      "Sumqayıt şəhəri, 9-cu mikrorayon, Sülh küçəsi, ev 21, mənzil 34",
			"extract/property[2]/propertyType":                 "torpaq sahəsi",
			"extract/property[2]/owner/fullName":               "Hüseynov Tural Şahin oğlu",
			"extract/property[2]/encumbrance/type":             "həbs",
			"extract/property[2]/encumbrance/holder":           "Sumqayıt Şəhər Məhkəməsi",
			"extract/property[2]/areaSqm":                      "600.00",
			"extract/property[1]/owner/share":                  "1/1",
			"extract/property[1]/registrationDate":             "2008-10-21",
			"extract/property[2]/cadastralCode":                "10:05:0311:0118",
			"extract/property[2]/encumbrance/document":         "Məhkəmənin 2024-11-05 tarixli qərardadı № 2(003)-2291/2024",
			"extract/property[2]/owner/fin":                    "2BXR4T6",
			"extract/property[1]/registerNumber":               "1800337265",
			"extract/property[2]/registerNumber":               "1000864412",
			"extract/property[2]/encumbrance/registrationDate": "2024-11-05",
		}, map[string]int{"extract/property": 2}},
		{"/emdk", "emdk-getRealEstateExtract-registerNumber.xml", "getRealEstateExtract", EMDKNamespace, map[string]string{
			"extract/propertyCount":               "1",
			"extract/property/registerNumber":     "1100452317",
			"extract/property/owner[1]/fullName":  "Əliyev Rəşad Həsən oğlu",
			"extract/property/owner[2]/fullName":  "Əliyeva Aytən Vaqif qızı",
			"extract/property/owner[2]/share":     "1/2",
			"extract/property/encumbrance/type":   "ipoteka",
			"extract/property/encumbrance/holder": `"Abşeron Bank" ASC`,
		}, map[string]int{"extract/property/owner": 2}},
		{"/emdk", "emdk-getLandOwnershipByFin.xml", "getLandOwnershipByFin", EMDKNamespace, map[string]string{
			"landOwnership/fin":                    "2BXR4T6",
			"landOwnership/parcelCount":            "2",
			"landOwnership/totalAreaHa":            "3.75",
			"landOwnership/parcel[1]/district":     "Quba rayonu",
			"landOwnership/parcel[1]/landUse":      "çoxillik əkmələr (alma bağı)",
			"landOwnership/parcel[2]/areaHa":       "1.25",
			"landOwnership/parcel[2]/landCategory": "kənd təsərrüfatı təyinatlı torpaqlar",
		}, map[string]int{"landOwnership/parcel": 2}},
		{"/dsmf", "dsmf-getInsuredPerson.xml", "getInsuredPerson", DSMFNamespace, map[string]string{
			"insuredPerson/fin":                            "9HD5W1C",
			"insuredPerson/insuranceNumber":                "5203195801194",
			"insuredPerson/surname":                        "Quliyeva",
			"insuredPerson/name":                           "Səbinə",
			"insuredPerson/patronymic":                     "Ağası qızı",
			"insuredPerson/insurancePeriod[1]/insurerName": `"Şəki İpəkçilik" ASC`,
			"insuredPerson/insurancePeriod[2]/insurerVoen": "1401782391",
			"insuredPerson/insuranceRecord/years":          "44",
			"insuredPerson/insuranceRecord/months":         "2",
			"insuredPerson/lastContributionMonth":          "2022-12",
			"insuredPerson/pension/status":                 "təyin edilib",
			"insuredPerson/pension/pensionType":            "yaşa görə əmək pensiyası",
		}, map[string]int{"insuredPerson/employer": 0, "insuredPerson/insurancePeriod": 2}},
		{"/dsmf", "dsmf-submitQuarterlyReport.xml", "submitQuarterlyReport", DSMFNamespace, map[string]string{
			"receipt/status":             "qəbul edildi",
			"receipt/voen":               "1403005721",
			"receipt/insurerName":        "Azərbaycan Respublikasının Əmlak Məsələləri Dövlət Komitəsi",
			"receipt/form":               "B1",
			"receipt/quarter":            "4",
			"receipt/insuredCount":       "412",
			"receipt/totalContributions": "386250.75",
			"receipt/registrationNumber": "DSMF-2025-R4-B1-000001",
		}, nil},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.file, ".xml"), func(t *testing.T) {
			req := readTestdata(t, tc.file)
			r := postXML(t, srv.URL+tc.path, req)
			w := responseWrapper(t, r, tc.op, tc.ns)
			checkHeaderEcho(t, req, r.body)
			if w.SelectElement("error") != nil {
				t.Fatalf("unexpected body error\n%s", r.body)
			}
			for p, want := range tc.want {
				if got := field(t, w, p); got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
				if !bytes.Contains(r.body, []byte(xmlText(want))) {
					t.Errorf("raw response lacks %q (UTF-8 text not intact?)", want)
				}
			}
			for p, n := range tc.count {
				if got := len(w.FindElements(p)); got != n {
					t.Errorf("%d × %s, want %d", got, p, n)
				}
			}
			validateResponse(t, tc.path, w)
		})
	}
}

// xmlText escapes what etree escapes in canonical text.
func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func TestGetPersonByFinEveryone(t *testing.T) {
	srv := newServer(t, DIN())
	tmpl := readTestdata(t, "din-getPersonByFin.xml")
	for _, p := range People() {
		r := postXML(t, srv.URL, edit(t, tmpl, "<fin>5ZJ8K2L</fin>", "<fin>"+p.FIN+"</fin>"))
		w := responseWrapper(t, r, "getPersonByFin", DINNamespace)
		if got := field(t, w, "person/surname") + " " + field(t, w, "person/name") + " " + field(t, w, "person/patronymic"); got != p.FullName() {
			t.Errorf("%s: name %q, want %q", p.FIN, got, p.FullName())
		}
		if has := w.FindElement("person/passport") != nil; has != (p.Passport != nil) {
			t.Errorf("%s: passport present %v", p.FIN, has)
		}
		validateResponse(t, "/din", w)
	}
}

// Fields qualified in the service namespace are accepted too (lenient), as
// some hand-written clients put the wrapper's namespace in the default one.
func TestQualifiedFieldsAccepted(t *testing.T) {
	srv := newServer(t, DSMF())
	req := edit(t, readTestdata(t, "dsmf-getInsuredPerson.xml"),
		`<dsmf:getInsuredPerson xmlns:dsmf="http://dsmf.gov.az/xroad/insurance/v1" xmlns="">`,
		`<dsmf:getInsuredPerson xmlns:dsmf="http://dsmf.gov.az/xroad/insurance/v1" xmlns="http://dsmf.gov.az/xroad/insurance/v1">`)
	w := responseWrapper(t, postXML(t, srv.URL, req), "getInsuredPerson", DSMFNamespace)
	if got := field(t, w, "insuredPerson/fin"); got != "9HD5W1C" {
		t.Errorf("fin %q", got)
	}
}

func TestEmptyListsForKnownPeople(t *testing.T) {
	srv := newServer(t, EMDK())
	// Orxan İsmayılov owns no real estate; Nigar Rzayeva owns no land.
	r := postXML(t, srv.URL, edit(t, readTestdata(t, "emdk-getRealEstateExtract.xml"), "<fin>2BXR4T6</fin>", "<fin>4NP7G8E</fin>"))
	w := responseWrapper(t, r, "getRealEstateExtract", EMDKNamespace)
	if got := field(t, w, "extract/propertyCount"); got != "0" || w.FindElement("extract/property") != nil {
		t.Errorf("propertyCount %s\n%s", got, r.body)
	}
	validateResponse(t, "/emdk", w)
	r = postXML(t, srv.URL, edit(t, readTestdata(t, "emdk-getLandOwnershipByFin.xml"), "<fin>2BXR4T6</fin>", "<fin>8TL2V6Y</fin>"))
	w = responseWrapper(t, r, "getLandOwnershipByFin", EMDKNamespace)
	if got := field(t, w, "landOwnership/parcelCount"); got != "0" || field(t, w, "landOwnership/totalAreaHa") != "0.00" {
		t.Errorf("parcelCount %s\n%s", got, r.body)
	}
	validateResponse(t, "/emdk", w)
}

// ---- non-technical errors: body level ----

func TestNotFound(t *testing.T) {
	srv := newServer(t, NewMux())
	tests := []struct {
		name, path, file, old, new, op, ns, msg string
	}{
		{"din unknown FİN", "/din", "din-getPersonByFin.xml", "<fin>5ZJ8K2L</fin>", "<fin>1A2B3C4</fin>",
			"getPersonByFin", DINNamespace, "FİN 1A2B3C4 üzrə şəxs tapılmadı"},
		{"emdk unknown FİN", "/emdk", "emdk-getRealEstateExtract.xml", "<fin>2BXR4T6</fin>", "<fin>1A2B3C4</fin>",
			"getRealEstateExtract", EMDKNamespace, "FİN 1A2B3C4 üzrə şəxs tapılmadı"},
		{"emdk unknown register number", "/emdk", "emdk-getRealEstateExtract-registerNumber.xml", "1100452317", "9999999999",
			"getRealEstateExtract", EMDKNamespace, "9999999999 reyestr nömrəli daşınmaz əmlak tapılmadı"},
		{"emdk land unknown FİN", "/emdk", "emdk-getLandOwnershipByFin.xml", "<fin>2BXR4T6</fin>", "<fin>1A2B3C4</fin>",
			"getLandOwnershipByFin", EMDKNamespace, "FİN 1A2B3C4 üzrə şəxs tapılmadı"},
		{"dsmf never insured", "/dsmf", "dsmf-getInsuredPerson.xml", "<fin>9HD5W1C</fin>", "<fin>8TL2V6Y</fin>",
			"getInsuredPerson", DSMFNamespace, "FİN 8TL2V6Y üzrə sığortaolunan şəxs tapılmadı"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := edit(t, readTestdata(t, tc.file), tc.old, tc.new)
			r := postXML(t, srv.URL+tc.path, req)
			code, msg := bodyErr(t, r, tc.op, tc.ns)
			if code != "NOT_FOUND" || msg != tc.msg {
				t.Errorf("error %s %q, want NOT_FOUND %q", code, msg, tc.msg)
			}
			checkHeaderEcho(t, req, r.body)
			validateResponse(t, tc.path, responseWrapper(t, r, tc.op, tc.ns))
		})
	}
}

// ---- technical errors: SOAP Faults ----

func TestClientFaults(t *testing.T) {
	srv := newServer(t, NewMux())
	din := readTestdata(t, "din-getPersonByFin.xml")
	emdkNo := readTestdata(t, "emdk-getRealEstateExtract-registerNumber.xml")
	const fin = "<fin>5ZJ8K2L</fin>"
	tests := []struct {
		name, path string
		body       []byte
		detail     string
		inString   string
	}{
		{"short FİN", "/din", edit(t, din, fin, "<fin>12345</fin>"), "invalid_fin", `invalid FİN "12345"`},
		{"lowercase FİN", "/din", edit(t, din, fin, "<fin>5zj8k2l</fin>"), "invalid_fin", "5zj8k2l"},
		{"FİN with Azerbaijani letter", "/din", edit(t, din, fin, "<fin>5ZJ8KƏL</fin>"), "invalid_fin", "5ZJ8KƏL"},
		{"empty FİN", "/din", edit(t, din, fin, "<fin/>"), "missing_field", "<fin>"},
		{"missing FİN", "/din", edit(t, din, fin, ""), "missing_field", "<fin>"},
		{"unknown field", "/din", edit(t, din, fin, fin+"<surname>Əliyev</surname>"), "unexpected_element", "<surname>"},
		{"repeated field", "/din", edit(t, din, fin, fin+fin), "unexpected_element", "more than once"},
		{"structured field", "/din", edit(t, din, fin, "<fin><x>5ZJ8K2L</x></fin>"), "unexpected_element", "must hold text"},
		{"bad register number", "/emdk", edit(t, emdkNo, "1100452317", "11-00452"), "invalid_register_number", "11-00452"},
		{"FİN and register number", "/emdk", edit(t, emdkNo, "<registerNumber>", "<fin>5ZJ8K2L</fin><registerNumber>"), "ambiguous_request", "not both"},
		{"wrong operation for endpoint", "/din", readTestdata(t, "dsmf-getInsuredPerson.xml"), "unknown_operation", `operation "getInsuredPerson"`},
		{"wrapper in wrong namespace", "/din", edit(t, din, `xmlns:din="http://din.gov.az/xroad/population/v1"`, `xmlns:din="http://din.gov.az/xroad/population/v2"`), "wrong_namespace", "population/v2"},
		{"serviceCode differs from wrapper", "/din", edit(t, din, "<id:serviceCode>getPersonByFin<", "<id:serviceCode>getPassport<"), "service_code_mismatch", "getPassport"},
		{"other service version", "/din", edit(t, din, "<id:serviceVersion>v1<", "<id:serviceVersion>v2<"), "unsupported_service_version", `"v2"`},
		{"missing client", "/din", regexp.MustCompile(`(?s)<xrd:client .*?</xrd:client>`).ReplaceAll(din, nil), "missing_header_field", "client"},
		{"missing protocolVersion", "/din", edit(t, din, "<xrd:protocolVersion>4.0</xrd:protocolVersion>", ""), "missing_header_field", "protocolVersion"},
		{"duplicate id", "/din", edit(t, din, "<xrd:userId>", "<xrd:id>x</xrd:id><xrd:userId>"), "duplicate_header_field", "id"},
		{"protocol 3.1", "/din", edit(t, din, ">4.0<", ">3.1<"), "invalid_protocol_version", "3.1"},
		{"no header", "/din", regexp.MustCompile(`(?s)<SOAP-ENV:Header>.*</SOAP-ENV:Header>`).ReplaceAll(din, nil), "missing_header", "Header"},
		{"empty body", "/din", regexp.MustCompile(`(?s)<din:getPersonByFin>.*</din:getPersonByFin>`).ReplaceAll(din, nil), "missing_body", "empty"},
		{"two wrappers", "/din", regexp.MustCompile(`(?s)(<din:getPersonByFin>.*</din:getPersonByFin>)`).ReplaceAll(din, []byte("$1$1")), "malformed_soap", "exactly one"},
		{"not XML", "/din", []byte("fin=5ZJ8K2L"), "malformed_xml", "exactly one root element"},
		{"unclosed tag", "/din", edit(t, din, "</din:getPersonByFin>", ""), "malformed_xml", "not well-formed"},
		{"fields in the SOAP namespace", "/dsmf", edit(t, readTestdata(t, "dsmf-getInsuredPerson.xml"), ` xmlns=""`, ""), "unexpected_element", "<fin>"},
		{"truncated XML", "/din", din[:len(din)/2], "malformed_xml", "not well-formed"},
		{"DTD", "/din", edit(t, din, "<SOAP-ENV:Envelope", `<!DOCTYPE x [<!ENTITY a "b">]><SOAP-ENV:Envelope`), "malformed_xml", "DTD"},
		{"Latin-1 declared", "/din", edit(t, din, `encoding="UTF-8"`, `encoding="ISO-8859-1"`), "malformed_xml", "ISO-8859-1"},
		{"not an envelope", "/din", []byte(`<getPersonByFin xmlns="` + DINNamespace + `"><fin>5ZJ8K2L</fin></getPersonByFin>`), "not_soap", "not a SOAP 1.1 Envelope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantClientFault(t, postXML(t, srv.URL+tc.path, tc.body), tc.detail, tc.inString)
		})
	}

	t.Run("SOAP 1.2 envelope", func(t *testing.T) {
		body := edit(t, din, soapEnvNS, "http://www.w3.org/2003/05/soap-envelope")
		f := faultOf(t, postXML(t, srv.URL+"/din", body), http.StatusInternalServerError)
		if f.code != "VersionMismatch" {
			t.Errorf("faultcode %q, want VersionMismatch", f.code)
		}
	})
	t.Run("UTF-8 BOM accepted", func(t *testing.T) {
		responseWrapper(t, postXML(t, srv.URL+"/din", append([]byte{0xEF, 0xBB, 0xBF}, din...)), "getPersonByFin", DINNamespace)
	})
}

func TestHTTPLevel(t *testing.T) {
	srv := newServer(t, NewMux())
	din := readTestdata(t, "din-getPersonByFin.xml")

	t.Run("GET without ?wsdl is 405", func(t *testing.T) {
		for _, u := range []string{"/din", "/emdk/", "/dsmf?foo=bar"} {
			resp, err := http.Get(srv.URL + u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
				t.Errorf("GET %s: %d, Allow %q", u, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	})
	t.Run("PUT is 405", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/din", bytes.NewReader(din))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("PUT: %d", resp.StatusCode)
		}
	})
	t.Run("content types", func(t *testing.T) {
		responseWrapper(t, post(t, srv.URL+"/din", "text/xml", bytes.NewReader(din)), "getPersonByFin", DINNamespace)
		responseWrapper(t, post(t, srv.URL+"/din", `text/xml; charset="UTF-8"`, bytes.NewReader(din)), "getPersonByFin", DINNamespace)
		for _, ct := range []string{"", "application/json", "application/soap+xml; charset=utf-8",
			"text/xml; charset=iso-8859-1", "multipart/form-data; boundary=x", "multipart/related; type=\"application/xop+xml\"; boundary=x",
			"multipart/related; type=\"text/xml\"", "text/xml; charset"} {
			f := faultOf(t, post(t, srv.URL+"/din", ct, bytes.NewReader(din)), http.StatusUnsupportedMediaType)
			if f.code != "Client" || f.detail != "unsupported_content_type" {
				t.Errorf("Content-Type %q: fault %+v", ct, f)
			}
		}
	})
	t.Run("oversized body is 413", func(t *testing.T) {
		big := edit(t, din, "<xrd:issue>", "<xrd:issue>"+strings.Repeat("ə", MaxRequestBytes/2))
		f := faultOf(t, postXML(t, srv.URL+"/din", big), http.StatusRequestEntityTooLarge)
		if f.code != "Client" || f.detail != "request_too_large" || !strings.Contains(f.str, "1048576") {
			t.Errorf("fault %+v", f)
		}
		// Without Content-Length (chunked), the limit is hit while reading.
		f = faultOf(t, post(t, srv.URL+"/din", "text/xml", io.MultiReader(bytes.NewReader(big))), http.StatusRequestEntityTooLarge)
		if f.detail != "request_too_large" {
			t.Errorf("chunked: fault %+v", f)
		}
	})
	t.Run("internal error is a Server fault", func(t *testing.T) {
		s := newServer(t, &service{name: "test", ns: DINNamespace, prefix: "din", ops: []operation{{
			code: "getPersonByFin", version: "v1", fields: []string{"fin"},
			run: func(map[string]string, *etree.Element) error { panic("boom") },
		}}})
		f := faultOf(t, postXML(t, s.URL, din), http.StatusInternalServerError)
		if f.code != "Server" || f.detail != "internal_error" {
			t.Errorf("fault %+v", f)
		}
	})
}

// ---- DSMF quarterly reports ----

func TestSubmitQuarterlyReport(t *testing.T) {
	srv := newServer(t, DSMF())
	tmpl := readTestdata(t, "dsmf-submitQuarterlyReport.xml")
	submit := func(t *testing.T, body []byte) reply { return postXML(t, srv.URL, body) }
	const op = "submitQuarterlyReport"

	w := responseWrapper(t, submit(t, tmpl), op, DSMFNamespace)
	first := field(t, w, "receipt/registrationNumber")
	if !regexp.MustCompile(`^DSMF-2025-R4-B1-\d{6}$`).MatchString(first) {
		t.Errorf("registration number %q", first)
	}
	validateResponse(t, "/dsmf", w)

	r := submit(t, tmpl)
	code, msg := bodyErr(t, r, op, DSMFNamespace)
	if code != "DUPLICATE_REPORT" || !strings.Contains(msg, first) || !strings.Contains(msg, "2025-ci il IV rüb") {
		t.Errorf("duplicate: %s %q", code, msg)
	}
	checkHeaderEcho(t, tmpl, r.body)

	// Another form, quarter or insurer is a different report.
	for _, e := range [][2]string{{"<form>B1</form>", "<form>B2</form>"}, {"<quarter>4</quarter>", "<quarter>3</quarter>"}, {"1403005721", "1402367851"}} {
		w := responseWrapper(t, submit(t, edit(t, tmpl, e[0], e[1])), op, DSMFNamespace)
		if reg := field(t, w, "receipt/registrationNumber"); reg == first {
			t.Errorf("%v: same registration number %s", e, reg)
		}
	}

	code, msg = bodyErr(t, submit(t, edit(t, tmpl, "1403005721", "1234567890")), op, DSMFNamespace)
	if code != "INSURER_NOT_FOUND" || !strings.Contains(msg, "1234567890") {
		t.Errorf("unknown insurer: %s %q", code, msg)
	}

	for _, tc := range []struct{ old, new, detail string }{
		{"1403005721", "140300572", "invalid_voen"},
		{"<quarter>4</quarter>", "<quarter>5</quarter>", "invalid_field"},
		{"<year>2025</year>", "<year>25</year>", "invalid_field"},
		{"<form>B1</form>", "<form>B4</form>", "invalid_form"},
		{"<insuredCount>412</insuredCount>", "<insuredCount>-3</insuredCount>", "invalid_field"},
		{"386250.75", "386250.755", "invalid_field"},
		{"386250.75", "-5", "invalid_field"},
		{"<form>B1</form>", "", "missing_field"},
	} {
		wantClientFault(t, submit(t, edit(t, tmpl, tc.old, tc.new)), tc.detail, "")
	}
}

func TestSubmitQuarterlyReportConcurrentDuplicates(t *testing.T) {
	srv := newServer(t, DSMF())
	body := edit(t, readTestdata(t, "dsmf-submitQuarterlyReport.xml"), "<quarter>4</quarter>", "<quarter>2</quarter>")
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(srv.URL, "text/xml; charset=utf-8", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(b, []byte("<receipt>")) {
				results[i] = "accepted"
			} else if bytes.Contains(b, []byte("DUPLICATE_REPORT")) {
				results[i] = "duplicate"
			}
		}()
	}
	wg.Wait()
	slices.Sort(results)
	if results[0] != "accepted" || results[1] != "duplicate" || results[len(results)-1] != "duplicate" {
		t.Errorf("results %v, want one accepted, the rest duplicates", results)
	}
}

// ---- sample data ----

func TestSampleDataConsistent(t *testing.T) {
	ps := People()
	if len(ps) < 5 {
		t.Fatalf("%d people", len(ps))
	}
	digits8 := regexp.MustCompile(`^\d{8}$`)
	seen := map[string]bool{}
	var letters strings.Builder
	for _, p := range ps {
		if !finPattern.MatchString(p.FIN) || seen[p.FIN] {
			t.Errorf("FİN %q invalid or repeated", p.FIN)
		}
		seen[p.FIN] = true
		letters.WriteString(p.FullName() + p.Address.String() + p.BirthPlace)
		if p.IDCard.Series != "AZE" || !digits8.MatchString(p.IDCard.Number) || p.IDCard.ExpiryDate <= p.IDCard.IssueDate {
			t.Errorf("%s: identity card %+v", p.FIN, p.IDCard)
		}
		if p.Passport != nil && (p.Passport.Series != "C" || !digits8.MatchString(p.Passport.Number)) {
			t.Errorf("%s: passport %+v", p.FIN, *p.Passport)
		}
		if p.Sex != "kişi" && p.Sex != "qadın" {
			t.Errorf("%s: sex %q", p.FIN, p.Sex)
		}
	}
	for _, r := range "əğıöüçşİ" {
		if !strings.ContainsRune(letters.String(), r) {
			t.Errorf("no %q in the sample names and addresses", r)
		}
	}

	inEMDK := map[string]bool{}
	for _, r := range realEstates {
		if !registerNumberPattern.MatchString(r.RegisterNumber) || len(r.Owners) == 0 {
			t.Errorf("real estate %+v", r)
		}
		for _, o := range r.Owners {
			if !seen[o.FIN] {
				t.Errorf("owner %s of %s is not in People()", o.FIN, r.RegisterNumber)
			}
			inEMDK[o.FIN] = true
		}
	}
	for _, lp := range landParcels {
		if !seen[lp.OwnerFIN] || centi(lp.AreaHa) <= 0 {
			t.Errorf("land parcel %+v", lp)
		}
		inEMDK[lp.OwnerFIN] = true
	}
	inDSMF := map[string]bool{}
	for _, ip := range insuredPeople {
		if !seen[ip.FIN] {
			t.Errorf("insured %s is not in People()", ip.FIN)
		}
		inDSMF[ip.FIN] = true
		for _, p := range ip.Periods {
			if _, ok := employerByVOEN(p.InsurerVOEN); !ok {
				t.Errorf("%s: insurer %s unknown", ip.FIN, p.InsurerVOEN)
			}
		}
	}
	for _, e := range Employers() {
		if !voenPattern.MatchString(e.VOEN) {
			t.Errorf("VÖEN %q", e.VOEN)
		}
	}
	everywhere := 0
	for _, p := range ps {
		if inEMDK[p.FIN] && inDSMF[p.FIN] {
			everywhere++
		}
	}
	if everywhere < 5 {
		t.Errorf("only %d people appear in all three registers", everywhere)
	}

	// People returns copies.
	ps[0].Passport.Number = "00000000"
	ps[0].Name = "x"
	if q := People()[0]; q.Passport.Number == "00000000" || q.Name == "x" {
		t.Error("People() shares its data")
	}
}

func TestInsuranceRecord(t *testing.T) {
	y, m := insuranceRecord([]insurancePeriod{
		{Start: "2020-01-15", End: "2020-12-31"},
		{Start: "2020-06-01", End: "2021-02-01"}, // overlaps: months count once
	})
	if y != 1 || m != 2 {
		t.Errorf("record %d y %d m, want 1 y 2 m", y, m)
	}
}

func TestAzOrdinal(t *testing.T) {
	for n, want := range map[int]string{2025: "2025-ci", 2024: "2024-cü", 2026: "2026-cı", 2029: "2029-cu",
		2030: "2030-cu", 2040: "2040-cı", 2000: "2000-ci", 2100: "2100-cü", 2023: "2023-cü", 2020: "2020-ci"} {
		if got := azOrdinal(n); got != want {
			t.Errorf("azOrdinal(%d) = %s, want %s", n, got, want)
		}
	}
}

// swa frames soap and the attachments (Content-ID, Content-Type, body) as a
// SOAP-with-attachments request body and returns it with its Content-Type.
func swa(soap []byte, atts ...[3]string) (*bytes.Reader, string) {
	const boundary = "MIME_boundary_dsmf"
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-ID: <rootpart>\r\n\r\n")
	b.Write(soap)
	for _, a := range atts {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: %s\r\nContent-ID: <%s>\r\nContent-Transfer-Encoding: binary\r\n\r\n%s", boundary, a[1], a[0], a[2])
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return bytes.NewReader(b.Bytes()), `multipart/related; type="text/xml"; start="<rootpart>"; boundary="` + boundary + `"`
}

const xmlReport = `<?xml version="1.0" encoding="UTF-8"?>
<quarterlyReport xmlns="http://dsmf.gov.az/xroad/insurance/v1"><voen>1403005721</voen><year>2025</year><quarter>4</quarter><form>B1</form><insuredCount>412</insuredCount><totalContributions>386250.75</totalContributions></quarterlyReport>`

// TestSubmitQuarterlyReportAttachment: the report file as an SwA
// attachment, PDF or XML, is accepted with its description in the receipt;
// the same file again gets the original receipt; malformed, mismatched,
// missing or extra attachments are Client faults; other operations take none.
func TestSubmitQuarterlyReportAttachment(t *testing.T) {
	srv := newServer(t, DSMF())
	tmpl := readTestdata(t, "dsmf-submitQuarterlyReport.xml")
	withRef := func(ref string) []byte {
		return edit(t, tmpl, "</totalContributions>", "</totalContributions>\n            <reportFile>"+ref+"</reportFile>")
	}
	const op = "submitQuarterlyReport"
	send := func(soap []byte, atts ...[3]string) reply {
		body, ct := swa(soap, atts...)
		return post(t, srv.URL, ct, body)
	}

	xmlAtt := [3]string{"report-2025-4@insurer.az", "application/xml; charset=UTF-8", xmlReport}
	w := responseWrapper(t, send(withRef("cid:report-2025-4@insurer.az"), xmlAtt), op, DSMFNamespace)
	validateResponse(t, "/dsmf", w)
	first := field(t, w, "receipt/registrationNumber")
	sum := sha256.Sum256([]byte(xmlReport))
	for path, want := range map[string]string{"receipt/reportFile/contentId": "report-2025-4@insurer.az", "receipt/reportFile/contentType": "application/xml",
		"receipt/reportFile/size": strconv.Itoa(len(xmlReport)), "receipt/reportFile/sha256": hex.EncodeToString(sum[:]), "receipt/insuredCount": "412"} {
		if got := field(t, w, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	// A retry with the same file: the original receipt.
	w = responseWrapper(t, send(withRef("cid:report-2025-4@insurer.az"), xmlAtt), op, DSMFNamespace)
	if reg := field(t, w, "receipt/registrationNumber"); reg != first {
		t.Errorf("retry got %s, want the original %s", reg, first)
	}
	// Another file for the same period is a duplicate, as is an inline one.
	pdf := [3]string{"b1.pdf", "application/pdf", "%PDF-1.7\n%âãÏÓ\n1 0 obj<<>>endobj\n%%EOF\n"}
	if code, _ := bodyErr(t, send(withRef("cid:b1.pdf"), pdf), op, DSMFNamespace); code != "DUPLICATE_REPORT" {
		t.Errorf("another file: %s", code)
	}
	if code, _ := bodyErr(t, postXML(t, srv.URL, tmpl), op, DSMFNamespace); code != "DUPLICATE_REPORT" {
		t.Errorf("inline after file: %s", code)
	}

	// A PDF for another form; a percent-encoded cid: URL.
	b2 := func(s []byte) []byte {
		return bytes.Replace(s, []byte("<form>B1</form>"), []byte("<form>B2</form>"), 1)
	}
	w = responseWrapper(t, send(b2(withRef("cid:b2%40insurer.az")), [3]string{"b2@insurer.az", "application/pdf", pdf[2]}), op, DSMFNamespace)
	validateResponse(t, "/dsmf", w)
	if got := field(t, w, "receipt/reportFile/contentType"); got != "application/pdf" || field(t, w, "receipt/form") != "B2" {
		t.Errorf("PDF receipt: %s, form %s", got, field(t, w, "receipt/form"))
	}

	b3 := func(s []byte) []byte {
		return bytes.Replace(s, []byte("<form>B1</form>"), []byte("<form>B3</form>"), 1)
	}
	ref := b3(withRef("cid:f"))
	for _, tc := range []struct {
		name   string
		soap   []byte
		atts   [][3]string
		detail string
	}{
		{"not a PDF", ref, [][3]string{{"f", "application/pdf", "PK\x03\x04 a zip"}}, "invalid_report_file"},
		{"too large", ref, [][3]string{{"f", "application/pdf", "%PDF-1.7\n" + strings.Repeat("x", MaxReportFileBytes)}}, "report_file_too_large"},
		{"empty", ref, [][3]string{{"f", "application/pdf", ""}}, "invalid_report_file"},
		{"a picture", ref, [][3]string{{"f", "image/png", "\x89PNG"}}, "unsupported_report_file"},
		{"XML disagrees", ref, [][3]string{{"f", "application/xml", xmlReport}}, "report_mismatch"},
		{"XML of another kind", ref, [][3]string{{"f", "application/xml", "<report/>"}}, "invalid_report_file"},
		{"XML with a bad form", ref, [][3]string{{"f", "text/xml", strings.Replace(xmlReport, "B1", "B4", 1)}}, "invalid_form"},
		{"XML not well-formed", ref, [][3]string{{"f", "application/xml", "<quarterlyReport"}}, "malformed_xml"},
		{"no such attachment", ref, [][3]string{{"g", "application/pdf", pdf[2]}}, "unreferenced_attachment"},
		{"reference without attachment", ref, nil, "missing_attachment"},
		{"not a cid: URL", b3(withRef("http://x/f")), [][3]string{{"f", "application/pdf", pdf[2]}}, "invalid_field"},
		{"attachment without reference", b3(tmpl), [][3]string{{"f", "application/pdf", pdf[2]}}, "unreferenced_attachment"},
		{"two attachments", ref, [][3]string{{"f", "application/pdf", pdf[2]}, {"g", "application/pdf", pdf[2]}}, "unreferenced_attachment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantClientFault(t, send(tc.soap, tc.atts...), tc.detail, "")
		})
	}
	t.Run("not multipart", func(t *testing.T) {
		wantClientFault(t, postXML(t, srv.URL, ref), "missing_attachment", "")
	})
	t.Run("broken multipart", func(t *testing.T) {
		_, ct := swa(ref)
		wantClientFault(t, post(t, srv.URL, ct, strings.NewReader("no parts here")), "malformed_multipart", "")
	})
	t.Run("other operations take none", func(t *testing.T) {
		body, ct := swa(readTestdata(t, "dsmf-getInsuredPerson.xml"), pdf)
		wantClientFault(t, post(t, srv.URL, ct, body), "attachments_not_accepted", "getInsuredPerson")
	})
}
