package localfed

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
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

	WantFault string // expected fault code; empty: expect an answer
}

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
	body := RequestXML(client, service, res.MessageID, "AZ"+q.From+"0001", q.Body)
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, from.ClientURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
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
	hashed := doc.FindElement("//Header/requestHash") != nil
	res.Outcome = strings.Join(parts, ", ")
	if hashed {
		res.Outcome += " (signed, requestHash checked)"
	}
	res.OK = q.WantFault == "" && len(parts) == len(q.Summary) && hashed
	return res
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
