package localfed

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/sluz/sluz/internal/durable"
	"github.com/sluz/sluz/internal/harness/sampleis"
	"github.com/sluz/sluz/registry/identifier"
)

// Query is one sample cross-agency call through two security servers.
type Query struct {
	Name    string
	From    string   // agency code whose IS asks
	Client  string   // its subsystem
	Service string   // the provider's service
	Body    string   // the request wrapper's children
	Summary []string // response elements to show, each "name" or "name|format"

	// Attachments, if any, go with the request as SOAP with attachments
	// (multipart/related); the answer must then describe each of them (a
	// <reportFile> with its size and SHA-256), as DSMF's receipt does.
	Attachments []QueryAttachment

	// REST, when set, makes the query a REST call (PR-REST) of Service
	// (no version); Summary then names fields of its JSON answer.
	REST *RESTCall

	WantFault string // expected fault code (REST: X-Road-Error); empty: expect an answer
}

// RESTCall is the HTTP side of a REST sample query.
type RESTCall struct {
	Method      string
	Path        string // after the service code: "/extract/5ZJ8K2L"
	ContentType string
	Body        string
}

// QueryAttachment is one MIME part sent after a sample query's SOAP part.
type QueryAttachment struct {
	ContentID   string // without the angle brackets
	ContentType string
	Data        []byte
}

// dinQuarterlyReport is DİN's 2025 Q4 B1 report as the insurer of its own
// staff, in the XML form DSMF reads.
const dinQuarterlyReport = `<?xml version="1.0" encoding="UTF-8"?>
<quarterlyReport xmlns="http://dsmf.gov.az/xroad/insurance/v1">
  <voen>1400023451</voen>
  <year>2025</year>
  <quarter>4</quarter>
  <form>B1</form>
  <insuredCount>1840</insuredCount>
  <totalContributions>1563420.50</totalContributions>
</quarterlyReport>
`

// Queries are the sample calls of the local federation.
var Queries = []Query{
	{Name: "ƏMDK checks a citizen's identity with DİN", From: "EMDK", Client: "AZ/GOV/EMDK/realestate",
		Service: "AZ/GOV/DIN/population/getPersonByFin/v1", Body: "<fin>5ZJ8K2L</fin>", Summary: []string{"surname", "name", "patronymic", "birthDate|born %s"}},
	{Name: "DSMF asks ƏMDK who owns agricultural land", From: "DSMF", Client: "AZ/GOV/DSMF/insurance",
		Service: "AZ/GOV/EMDK/realestate/getLandOwnershipByFin/v1", Body: "<fin>2BXR4T6</fin>", Summary: []string{"fullName", "parcelCount|%s parcels", "totalAreaHa|%s ha"}},
	{Name: "DİN reads an insured-person record at DSMF", From: "DIN", Client: "AZ/GOV/DIN/population",
		Service: "AZ/GOV/DSMF/insurance/getInsuredPerson/v1", Body: "<fin>5ZJ8K2L</fin>", Summary: []string{"surname", "name", "years|insured %s years", "months|%s months", "lastContributionMonth|last contribution %s"}},
	{Name: "DSMF asks DİN for a person (no access right)", From: "DSMF", Client: "AZ/GOV/DSMF/insurance",
		Service: "AZ/GOV/DIN/population/getPersonByFin/v1", Body: "<fin>5ZJ8K2L</fin>", WantFault: "Server.ServerProxy.AccessDenied"},
	{Name: "DİN files its staff's quarterly report with DSMF (XML attachment)", From: "DIN", Client: "AZ/GOV/DIN/population",
		Service: "AZ/GOV/DSMF/insurance/submitQuarterlyReport/v1",
		Body: "<voen>1400023451</voen><year>2025</year><quarter>4</quarter><form>B1</form><insuredCount>1840</insuredCount>" +
			"<totalContributions>1563420.50</totalContributions><reportFile>cid:b1-2025-q4@din.gov.az</reportFile>",
		Attachments: []QueryAttachment{{ContentID: "b1-2025-q4@din.gov.az", ContentType: "application/xml; charset=UTF-8", Data: []byte(dinQuarterlyReport)}},
		Summary:     []string{"form|report %s", "year|%s", "quarter|Q%s", "status|%s", "registrationNumber|receipt %s"}},
	{Name: "DİN reads a real-estate extract at ƏMDK (REST)", From: "DIN", Client: "AZ/GOV/DIN/population",
		Service: "AZ/GOV/EMDK/realestate/realEstateRegistry", REST: &RESTCall{Method: http.MethodGet, Path: "/extract/5ZJ8K2L"},
		Summary: []string{"extractNumber|extract %s", "propertyCount|properties: %s"}},
	{Name: "DİN files a quarterly report with DSMF (REST, JSON)", From: "DIN", Client: "AZ/GOV/DIN/population",
		Service: "AZ/GOV/DSMF/insurance/insurerReports", REST: &RESTCall{Method: http.MethodPost, Path: "/quarterly-reports", ContentType: "application/json",
			Body: `{"voen":"1400023451","year":2025,"quarter":3,"form":"B1","insuredCount":1832,"totalContributions":"1548210.75"}`},
		Summary: []string{"form|report %s", "year|%s", "quarter|Q%s", "status|%s", "registrationNumber|receipt %s"}},
	{Name: "DİN lists ƏMDK's REST services (listMethods, PR-MREST)", From: "DIN", Client: "AZ/GOV/DIN/population",
		Service: "AZ/GOV/EMDK/realestate/listMethods", REST: &RESTCall{Method: http.MethodGet}, Summary: []string{"service|REST services: %s"}},
	{Name: "ƏMDK files a quarterly report with DSMF (REST, no access right)", From: "EMDK", Client: "AZ/GOV/EMDK/realestate",
		Service: "AZ/GOV/DSMF/insurance/insurerReports", REST: &RESTCall{Method: http.MethodPost, Path: "/quarterly-reports", ContentType: "application/json",
			Body: `{"voen":"1700345671","year":2025,"quarter":3,"form":"B1","insuredCount":212,"totalContributions":"180334.00"}`},
		WantFault: "Server.ServerProxy.AccessDenied"},
}

var namespaces = map[string]string{"DIN": sampleis.DINNamespace, "EMDK": sampleis.EMDKNamespace, "DSMF": sampleis.DSMFNamespace}

// RequestXML builds an X-Road message protocol 4.0 request as an IS would.
func RequestXML(client identifier.Client, service identifier.ServiceID, id, userID, body string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">` + "\n")
	b.WriteString(" <SOAP-ENV:Header>\n")
	fmt.Fprintf(&b, `  <xrd:client id:objectType="%s"><id:xRoadInstance>%s</id:xRoadInstance><id:memberClass>%s</id:memberClass><id:memberCode>%s</id:memberCode>`,
		client.ObjectType(), client.Instance, client.MemberClass, client.MemberCode)
	if client.SubsystemCode != "" {
		fmt.Fprintf(&b, "<id:subsystemCode>%s</id:subsystemCode>", client.SubsystemCode)
	}
	b.WriteString("</xrd:client>\n")
	p := service.Provider
	fmt.Fprintf(&b, `  <xrd:service id:objectType="SERVICE"><id:xRoadInstance>%s</id:xRoadInstance><id:memberClass>%s</id:memberClass><id:memberCode>%s</id:memberCode><id:subsystemCode>%s</id:subsystemCode><id:serviceCode>%s</id:serviceCode>`,
		p.Instance, p.MemberClass, p.MemberCode, p.SubsystemCode, service.ServiceCode)
	if service.ServiceVersion != "" {
		fmt.Fprintf(&b, "<id:serviceVersion>%s</id:serviceVersion>", service.ServiceVersion)
	}
	b.WriteString("</xrd:service>\n")
	fmt.Fprintf(&b, "  <xrd:id>%s</xrd:id>\n  <xrd:userId>%s</xrd:userId>\n  <xrd:protocolVersion>4.0</xrd:protocolVersion>\n", id, userID)
	b.WriteString(" </SOAP-ENV:Header>\n <SOAP-ENV:Body>\n")
	fmt.Fprintf(&b, `  <svc:%s xmlns:svc="%s">%s</svc:%s>`+"\n", service.ServiceCode, namespaces[p.MemberCode], body, service.ServiceCode)
	b.WriteString(" </SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n")
	return b.Bytes()
}

// QueryResult is what one sample query did.
type QueryResult struct {
	Query     Query
	MessageID string // the request's xrd:id
	OK        bool   // the expected outcome happened
	Outcome   string // the answer's summary, or the fault code and reason
	Duration  time.Duration
}

// RunQuery sends q through the asking agency's client proxy.
func (f *Federation) RunQuery(ctx context.Context, q Query) QueryResult {
	res := QueryResult{Query: q}
	from := f.Agency(q.From)
	client, err1 := identifier.ParseClient(q.Client)
	service, err2 := identifier.ParseService(q.Service)
	if from == nil || err1 != nil || err2 != nil {
		res.Outcome = fmt.Sprintf("bad sample query: %v %v", err1, err2)
		return res
	}
	res.MessageID = newID()
	if q.REST != nil {
		f.runREST(ctx, from, service, q, &res)
		return res
	}
	body, ct := RequestXML(client, service, res.MessageID, "AZ"+q.From+"0001", q.Body), "text/xml; charset=UTF-8"
	if len(q.Attachments) > 0 {
		body, ct = withAttachments(body, q.Attachments)
	}
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, from.ClientURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		res.Outcome = err.Error()
		return res
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	resp.Body.Close()
	res.Duration = time.Since(start)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		res.Outcome = fmt.Sprintf("HTTP %d, unreadable answer: %v", resp.StatusCode, err)
		return res
	}
	if fault := doc.FindElement("//Fault"); fault != nil {
		code := text(fault, "faultcode")
		res.Outcome = code + ": " + text(fault, "faultstring")
		res.OK = q.WantFault != "" && code == q.WantFault
		return res
	}
	if e := doc.FindElement("//Body//error"); e != nil {
		res.Outcome = "error " + text(e, "code") + ": " + text(e, "message")
		return res
	}
	var parts []string
	for _, field := range q.Summary {
		name, format, ok := strings.Cut(field, "|")
		if !ok {
			format = "%s"
		}
		if v := text(doc.FindElement("//Body"), name); v != "" {
			parts = append(parts, fmt.Sprintf(format, v))
		}
	}
	attsOK := true
	if len(q.Attachments) > 0 {
		var desc string
		desc, attsOK = describeAttachments(doc.FindElement("//Body"), q.Attachments)
		parts = append(parts, desc)
	}
	hashed := doc.FindElement("//Header/requestHash") != nil
	res.Outcome = strings.Join(parts, ", ")
	if hashed {
		res.Outcome += " (signed, requestHash checked)"
	}
	res.OK = q.WantFault == "" && len(parts) == len(q.Summary)+min(len(q.Attachments), 1) && hashed && attsOK
	return res
}

// runREST sends a REST sample query through the asking agency's client
// proxy, as a plain HTTP client would.
func (f *Federation) runREST(ctx context.Context, from *Agency, service identifier.ServiceID, q Query, res *QueryResult) {
	target := strings.TrimSuffix(from.ClientURL, "/") + "/r1/" + service.String() + q.REST.Path
	var body io.Reader
	if q.REST.Body != "" {
		body = strings.NewReader(q.REST.Body)
	}
	req, err := http.NewRequestWithContext(ctx, q.REST.Method, target, body)
	if err != nil {
		res.Outcome = err.Error()
		return
	}
	req.Header.Set("X-Road-Client", q.Client)
	req.Header.Set("X-Road-Id", res.MessageID)
	req.Header.Set("X-Road-UserId", "AZ"+q.From+"0001")
	if q.REST.ContentType != "" {
		req.Header.Set("Content-Type", q.REST.ContentType)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		res.Outcome = err.Error()
		return
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	resp.Body.Close()
	res.Duration = time.Since(start)
	var answer map[string]any
	jsonErr := json.Unmarshal(data, &answer)
	if code := resp.Header.Get("X-Road-Error"); code != "" {
		res.Outcome = fmt.Sprintf("HTTP %d %s: %v", resp.StatusCode, code, answer["message"])
		res.OK = q.WantFault == code
		return
	}
	if resp.StatusCode/100 != 2 || jsonErr != nil {
		res.Outcome = fmt.Sprintf("HTTP %d: %.300s", resp.StatusCode, data)
		return
	}
	var parts []string
	for _, field := range q.Summary {
		name, format, ok := strings.Cut(field, "|")
		if !ok {
			format = "%s"
		}
		if v, ok := answer[name]; ok {
			parts = append(parts, fmt.Sprintf(format, summarize(v)))
		}
	}
	hashed := resp.Header.Get("X-Road-Request-Hash") != ""
	res.Outcome = fmt.Sprintf("HTTP %d, %s", resp.StatusCode, strings.Join(parts, ", "))
	if hashed {
		res.Outcome += " (signed, X-Road-Request-Hash checked)"
	}
	res.OK = q.WantFault == "" && len(parts) == len(q.Summary) && hashed
}

// summarize writes a JSON value for a summary: a list of services (a meta
// service's answer) as their codes and endpoints.
func summarize(v any) string {
	list, ok := v.([]any)
	if !ok {
		return fmt.Sprint(v)
	}
	var out []string
	for _, e := range list {
		m, _ := e.(map[string]any)
		s := fmt.Sprint(m["service_code"])
		eps, _ := m["endpoint_list"].([]any)
		var names []string
		for _, ep := range eps {
			if em, ok := ep.(map[string]any); ok {
				names = append(names, fmt.Sprintf("%v %v", em["method"], em["path"]))
			}
		}
		if len(names) > 0 {
			s += " (" + strings.Join(names, ", ") + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

// withAttachments frames soap and atts as a SOAP-with-attachments request
// (PR-MESS §2.4) and returns it with its Content-Type.
func withAttachments(soap []byte, atts []QueryAttachment) ([]byte, string) {
	const boundary = "sluz-localfed-" + "MIME-boundary"
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-ID: <soap-part>\r\n\r\n")
	b.Write(soap)
	for _, a := range atts {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: %s\r\nContent-ID: <%s>\r\nContent-Transfer-Encoding: binary\r\n\r\n", boundary, a.ContentType, a.ContentID)
		b.Write(a.Data)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), `multipart/related; type="text/xml"; start="<soap-part>"; boundary="` + boundary + `"`
}

// describeAttachments summarizes the provider's account of the attachments
// it got (<reportFile> elements: contentId, contentType, size, sha256) and
// reports whether each one sent arrived byte for byte.
func describeAttachments(body *etree.Element, sent []QueryAttachment) (string, bool) {
	var got []*etree.Element
	if body != nil {
		got = body.FindElements(".//reportFile")
	}
	ok := len(got) == len(sent)
	var descs []string
	for i, e := range got {
		descs = append(descs, fmt.Sprintf("%s, %s bytes", text(e, "contentType"), text(e, "size")))
		if i < len(sent) {
			sum := sha256.Sum256(sent[i].Data)
			ok = ok && text(e, "contentId") == sent[i].ContentID && text(e, "size") == strconv.Itoa(len(sent[i].Data)) &&
				text(e, "sha256") == hex.EncodeToString(sum[:])
		}
	}
	desc := fmt.Sprintf("attachment %d (%s)", len(got), strings.Join(descs, "; "))
	if !ok {
		desc += fmt.Sprintf(" — sent %d, not all received intact", len(sent))
	}
	return desc, ok
}

func text(parent *etree.Element, name string) string {
	if parent == nil {
		return ""
	}
	if e := parent.FindElement(".//" + name); e != nil {
		return strings.TrimSpace(e.Text())
	}
	return ""
}

// Agency is the sample agency with the given code (DIN, EMDK, DSMF), or nil.
func (f *Federation) Agency(code string) *Agency {
	for _, a := range f.Agencies {
		if a.Code == code {
			return a
		}
	}
	return nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// WriteSampleRequest writes the first sample query as a request file with
// the placeholder MESSAGE-ID for xrd:id, for manual calls with curl.
func (f *Federation) WriteSampleRequest() (string, error) {
	q := Queries[0]
	client, _ := identifier.ParseClient(q.Client)
	service, _ := identifier.ParseService(q.Service)
	path := filepath.Join(f.Dir, "sample-request.xml")
	return path, durable.WriteFile(path, RequestXML(client, service, "MESSAGE-ID", "AZ"+q.From+"0001", q.Body), 0o644, true)
}
