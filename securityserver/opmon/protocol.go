package opmon

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
)

// ServiceCode is the operational data service (PR-OPMON), provided by the
// owner member of every security server (a member-level service: no
// subsystem).
const ServiceCode = "getSecurityServerOperationalData"

// MaxRecordsInPayload caps the records of one answer, as X-Road's
// max-records-in-payload; nextRecordsFrom tells where to go on.
const MaxRecordsInPayload = 10000

// Request is a getSecurityServerOperationalData request as an information
// system sends it to its own security server's client proxy.
type Request struct {
	Caller identifier.Client   // xrd:client: the caller, hosted by the client proxy's server
	Server identifier.ServerID // the security server asked (xrd:securityServer); its owner provides the service
	ID     string              // xrd:id; a new UUID when empty
	UserID string              // xrd:userId, optional
	SearchCriteria
}

// SearchCriteria select records (PR-OPMON searchCriteria, plus Şlüz's
// service filters).
type SearchCriteria struct {
	// From and To are recordsFrom and recordsTo: Unix seconds, inclusive,
	// compared with the records' requestInTs.
	From, To int64
	// Client, if set, keeps the records of that client (a member: of the
	// member and its subsystems).
	Client *identifier.Client
	// Service (Şlüz extension), if set, keeps the records of that service
	// (without a version: of every version).
	Service *identifier.ServiceID
	// ServiceCode (Şlüz extension), if set, keeps the records whose
	// service code it is, whoever provides it.
	ServiceCode string
}

// Match reports whether r meets the criteria other than time.
func (c *SearchCriteria) Match(r *Record) bool {
	if c.Client != nil {
		cl := r.ClientID()
		if c.Client.IsSubsystem() && cl != *c.Client || !c.Client.IsSubsystem() && cl.MemberID() != *c.Client {
			return false
		}
	}
	if c.Service != nil {
		s := r.ServiceID()
		if c.Service.ServiceVersion == "" {
			s = s.WithoutVersion()
		}
		if s != *c.Service {
			return false
		}
	}
	if c.ServiceCode != "" && r.ServiceCode != c.ServiceCode {
		return false
	}
	return true
}

// Marshal writes the request as an X-Road message protocol 4.0 SOAP message.
func (q *Request) Marshal() []byte {
	id := q.ID
	if id == "" {
		id = message.NewUUID()
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers" xmlns:om="` + Namespace + `">` + "\n")
	b.WriteString("<SOAP-ENV:Header>\n")
	writeClient(&b, "xrd:client", q.Caller)
	writeService(&b, "xrd:service", identifier.ServiceID{Provider: q.Server.Owner, ServiceCode: ServiceCode})
	writeServer(&b, "xrd:securityServer", q.Server)
	writeText(&b, "xrd:id", id)
	if q.UserID != "" {
		writeText(&b, "xrd:userId", q.UserID)
	}
	writeText(&b, "xrd:protocolVersion", "4.0")
	b.WriteString("</SOAP-ENV:Header>\n<SOAP-ENV:Body>\n<om:" + ServiceCode + ">\n<om:searchCriteria>\n")
	writeText(&b, "om:recordsFrom", strconv.FormatInt(q.From, 10))
	writeText(&b, "om:recordsTo", strconv.FormatInt(q.To, 10))
	if q.Client != nil {
		writeClient(&b, "om:client", *q.Client)
	}
	if q.Service != nil {
		writeService(&b, "om:service", *q.Service)
	}
	if q.ServiceCode != "" {
		writeText(&b, "om:serviceCode", q.ServiceCode)
	}
	b.WriteString("</om:searchCriteria>\n</om:" + ServiceCode + ">\n</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n")
	return b.Bytes()
}

func writeText(b *bytes.Buffer, tag, v string) {
	b.WriteString("<" + tag + ">")
	xml.EscapeText(b, []byte(v))
	b.WriteString("</" + tag + ">\n")
}

func writeParts(b *bytes.Buffer, tag string, t identifier.ObjectType, parts [][2]string) {
	b.WriteString("<" + tag + ` id:objectType="` + string(t) + `">`)
	for _, p := range parts {
		if p[1] != "" {
			b.WriteString("<id:" + p[0] + ">")
			xml.EscapeText(b, []byte(p[1]))
			b.WriteString("</id:" + p[0] + ">")
		}
	}
	b.WriteString("</" + tag + ">\n")
}

func writeClient(b *bytes.Buffer, tag string, c identifier.Client) {
	writeParts(b, tag, c.ObjectType(), [][2]string{{"xRoadInstance", c.Instance}, {"memberClass", c.MemberClass}, {"memberCode", c.MemberCode}, {"subsystemCode", c.SubsystemCode}})
}

func writeService(b *bytes.Buffer, tag string, s identifier.ServiceID) {
	p := s.Provider
	writeParts(b, tag, identifier.Service, [][2]string{{"xRoadInstance", p.Instance}, {"memberClass", p.MemberClass}, {"memberCode", p.MemberCode},
		{"subsystemCode", p.SubsystemCode}, {"serviceCode", s.ServiceCode}, {"serviceVersion", s.ServiceVersion}})
}

func writeServer(b *bytes.Buffer, tag string, s identifier.ServerID) {
	o := s.Owner
	writeParts(b, tag, identifier.Server, [][2]string{{"xRoadInstance", o.Instance}, {"memberClass", o.MemberClass}, {"memberCode", o.MemberCode}, {"serverCode", s.ServerCode}})
}

// IsRequest reports whether h asks the server with identifier server for
// its operational data: the service is getSecurityServerOperationalData of
// the server's owner member (no subsystem, any version).
func IsRequest(h *message.Header, server identifier.ServerID) bool {
	return h.Service.ServiceCode == ServiceCode && h.Service.Provider == server.Owner
}

// xmlID is an identifier element in the identifiers namespace.
type xmlID struct {
	ObjectType     string  `xml:"http://x-road.eu/xsd/identifiers objectType,attr"`
	Instance       *string `xml:"http://x-road.eu/xsd/identifiers xRoadInstance"`
	MemberClass    *string `xml:"http://x-road.eu/xsd/identifiers memberClass"`
	MemberCode     *string `xml:"http://x-road.eu/xsd/identifiers memberCode"`
	SubsystemCode  *string `xml:"http://x-road.eu/xsd/identifiers subsystemCode"`
	ServiceCode    *string `xml:"http://x-road.eu/xsd/identifiers serviceCode"`
	ServiceVersion *string `xml:"http://x-road.eu/xsd/identifiers serviceVersion"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

func (x *xmlID) client(field string) (identifier.Client, error) {
	c := identifier.Client{Instance: str(x.Instance), MemberClass: str(x.MemberClass), MemberCode: str(x.MemberCode), SubsystemCode: str(x.SubsystemCode)}
	want := string(c.ObjectType())
	if x.ObjectType != want || x.ServiceCode != nil || x.ServiceVersion != nil {
		return c, fmt.Errorf("searchCriteria/%s must be a MEMBER or SUBSYSTEM identifier (id:objectType %q, parts xRoadInstance, memberClass, memberCode[, subsystemCode])", field, x.ObjectType)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("searchCriteria/%s: %w", field, err)
	}
	return c, nil
}

func (x *xmlID) service(field string) (identifier.ServiceID, error) {
	s := identifier.ServiceID{
		Provider:    identifier.Client{Instance: str(x.Instance), MemberClass: str(x.MemberClass), MemberCode: str(x.MemberCode), SubsystemCode: str(x.SubsystemCode)},
		ServiceCode: str(x.ServiceCode), ServiceVersion: str(x.ServiceVersion),
	}
	if x.ObjectType != string(identifier.Service) {
		return s, fmt.Errorf("searchCriteria/%s must be a SERVICE identifier, not id:objectType %q", field, x.ObjectType)
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("searchCriteria/%s: %w", field, err)
	}
	return s, nil
}

type requestBody struct {
	Criteria *struct {
		From        *string `xml:"recordsFrom"`
		To          *string `xml:"recordsTo"`
		Client      *xmlID  `xml:"client"`
		Service     *xmlID  `xml:"service"`
		ServiceCode *string `xml:"serviceCode"`
	} `xml:"searchCriteria"`
}

// ParseCriteria reads the searchCriteria of a request's SOAP envelope
// (already parsed and checked by the message package). now clamps
// recordsTo. Every error says which element was wrong.
func ParseCriteria(soap []byte, now time.Time) (SearchCriteria, error) {
	var c SearchCriteria
	d := xml.NewDecoder(bytes.NewReader(soap))
	var body requestBody
	inBody, found := false, false
	for !found {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return c, fmt.Errorf("reading the request: %w", err)
		}
		se, ok := t.(xml.StartElement)
		switch {
		case !ok:
		case !inBody:
			inBody = se.Name.Space == message.NamespaceSOAPEnv && se.Name.Local == "Body"
		case se.Name.Local != ServiceCode || se.Name.Space != Namespace:
			return c, fmt.Errorf("the body holds {%s}%s, not <%s> in namespace %s", se.Name.Space, se.Name.Local, ServiceCode, Namespace)
		default:
			if err := d.DecodeElement(&body, &se); err != nil {
				return c, fmt.Errorf("reading <%s>: %w", ServiceCode, err)
			}
			found = true
		}
	}
	if !found {
		return c, fmt.Errorf("the body has no <%s> element", ServiceCode)
	}
	sc := body.Criteria
	if sc == nil {
		return c, errors.New("searchCriteria is required, with recordsFrom and recordsTo (Unix seconds)")
	}
	var err error
	if c.From, err = seconds("recordsFrom", sc.From); err != nil {
		return c, err
	}
	if c.To, err = seconds("recordsTo", sc.To); err != nil {
		return c, err
	}
	if c.From > c.To {
		return c, fmt.Errorf("searchCriteria/recordsFrom %d is after recordsTo %d", c.From, c.To)
	}
	c.To = min(c.To, now.Unix())
	if sc.Client != nil {
		cl, err := sc.Client.client("client")
		if err != nil {
			return c, err
		}
		c.Client = &cl
	}
	if sc.Service != nil {
		s, err := sc.Service.service("service")
		if err != nil {
			return c, err
		}
		c.Service = &s
	}
	if sc.ServiceCode != nil {
		c.ServiceCode = strings.TrimSpace(*sc.ServiceCode)
		if err := identifier.CheckPart("searchCriteria/serviceCode", c.ServiceCode); err != nil {
			return c, err
		}
	}
	return c, nil
}

func seconds(field string, v *string) (int64, error) {
	if v == nil {
		return 0, fmt.Errorf("searchCriteria/%s is required (Unix seconds)", field)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*v), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("searchCriteria/%s %q is not a Unix time in seconds", field, *v)
	}
	return n, nil
}

// recordXML is a record element of the answer.
type recordXML struct {
	XMLName xml.Name
	*Record
}

// Response writes the service's answer to req: the request's X-Road
// headers (PR-MESS §2.2: the response repeats them) with requestHash, and
// in the body recordsCount, the records as <om:record> elements (Şlüz: not
// X-Road's gzip JSON attachment) and nextRecordsFrom when res is cut short.
func Response(req *message.Message, res Result) ([]byte, error) {
	return Envelope(req, `xmlns:om="`+Namespace+`"`, func(b *bytes.Buffer) error {
		b.WriteString("<om:" + ServiceCode + "Response>\n")
		writeText(b, "om:recordsCount", strconv.Itoa(len(res.Records)))
		b.WriteString("<om:records>")
		enc := xml.NewEncoder(b)
		for i := range res.Records {
			if err := enc.Encode(recordXML{XMLName: xml.Name{Space: Namespace, Local: "record"}, Record: &res.Records[i]}); err != nil {
				return fmt.Errorf("opmon: encoding a record: %w", err)
			}
		}
		b.WriteString("</om:records>\n")
		if res.Next > 0 {
			writeText(b, "om:nextRecordsFrom", strconv.FormatInt(res.Next, 10))
		}
		b.WriteString("</om:" + ServiceCode + "Response>\n")
		return nil
	})
}

// Envelope writes an answer a security server gives itself to req (this
// service, or a meta service of PR-META): the request's X-Road headers
// (PR-MESS §2.2: the response repeats them) with requestHash, then body's
// content in the SOAP body. ns declares more namespaces on the envelope
// (e.g. `xmlns:om="..."`); xrd and id are declared.
func Envelope(req *message.Message, ns string, body func(b *bytes.Buffer) error) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers"`)
	if ns != "" {
		b.WriteString(" " + ns)
	}
	b.WriteString(">\n")
	b.WriteString("<SOAP-ENV:Header>\n")
	h := &req.Header
	writeClient(&b, "xrd:client", h.Client)
	writeService(&b, "xrd:service", h.Service)
	if h.SecurityServer != nil {
		writeServer(&b, "xrd:securityServer", *h.SecurityServer)
	}
	writeText(&b, "xrd:id", h.ID)
	if h.UserID != "" {
		writeText(&b, "xrd:userId", h.UserID)
	}
	if h.Issue != "" {
		writeText(&b, "xrd:issue", h.Issue)
	}
	writeText(&b, "xrd:protocolVersion", h.ProtocolVersion)
	sum := sha512.Sum512(req.SOAP)
	b.WriteString(`<xrd:requestHash algorithmId="` + message.HashAlgorithmSHA512 + `">` + base64.StdEncoding.EncodeToString(sum[:]) + "</xrd:requestHash>\n")
	if rp := h.RepresentedParty; rp != nil {
		b.WriteString(`<repr:representedParty xmlns:repr="` + message.NamespaceRepresentation + `">`)
		if rp.Class != "" {
			b.WriteString("<repr:partyClass>")
			xml.EscapeText(&b, []byte(rp.Class))
			b.WriteString("</repr:partyClass>")
		}
		b.WriteString("<repr:partyCode>")
		xml.EscapeText(&b, []byte(rp.Code))
		b.WriteString("</repr:partyCode></repr:representedParty>\n")
	}
	b.WriteString("</SOAP-ENV:Header>\n<SOAP-ENV:Body>\n")
	if err := body(&b); err != nil {
		return nil, err
	}
	b.WriteString("</SOAP-ENV:Body>\n</SOAP-ENV:Envelope>\n")
	return b.Bytes(), nil
}

// WriteService writes a service identifier as element tag (e.g.
// xrd:service), its parts in the identifiers namespace (prefix id).
func WriteService(b *bytes.Buffer, tag string, s identifier.ServiceID) { writeService(b, tag, s) }

// Answer is a parsed getSecurityServerOperationalData answer.
type Answer struct {
	Records []Record
	// NextRecordsFrom, when not 0, is the recordsFrom of the next page.
	NextRecordsFrom int64
}

type responseBody struct {
	Count   *int     `xml:"recordsCount"`
	Records []Record `xml:"records>record"`
	Next    int64    `xml:"nextRecordsFrom"`
}

// ParseAnswer reads an answer's SOAP envelope. A SOAP fault is returned as
// its *message.Fault.
func ParseAnswer(soap []byte) (*Answer, error) {
	if f, ok := message.ParseFault(soap); ok {
		return nil, f
	}
	d := xml.NewDecoder(bytes.NewReader(soap))
	for {
		t, err := d.Token()
		if err == io.EOF {
			return nil, fmt.Errorf("opmon: the answer has no <%sResponse> element", ServiceCode)
		}
		if err != nil {
			return nil, fmt.Errorf("opmon: reading the answer: %w", err)
		}
		se, ok := t.(xml.StartElement)
		if !ok || se.Name.Local != ServiceCode+"Response" {
			continue
		}
		var body responseBody
		if err := d.DecodeElement(&body, &se); err != nil {
			return nil, fmt.Errorf("opmon: reading the answer: %w", err)
		}
		if body.Count == nil || *body.Count != len(body.Records) {
			return nil, fmt.Errorf("opmon: the answer's recordsCount does not match its %d records", len(body.Records))
		}
		return &Answer{Records: body.Records, NextRecordsFrom: body.Next}, nil
	}
}
