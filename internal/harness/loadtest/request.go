package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/beevik/etree"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/registry/identifier"
)

// idMark stands for the xrd:id in a request template.
const idMark = "\x00LOADTEST-ID\x00"

// Request is an X-Road request with a slot for its xrd:id: a SOAP message
// posted to the target URL, or a REST call whose id goes in a header.
type Request struct {
	before, after []byte
	ContentType   string // "" for a request without a body
	// attachment is the size of the attachment each request carries
	// (WithAttachment); attachmentBytes holds it when it is small.
	attachment      int64
	attachmentBytes []byte
	// REST (PR-REST): Method and Path (after the target URL), fixed header
	// fields, and IDHeader, the field that carries the id (X-Road-Id).
	Method   string
	Path     string
	Header   http.Header
	IDHeader string
}

// NewRESTRequest is q's REST call (q.REST) as its IS sends it; the answer
// carries the id in the same header field.
func NewRESTRequest(q localfed.Query) (*Request, error) {
	if q.REST == nil || q.REST.Body != "" {
		return nil, errors.New("loadtest: a REST target needs a REST sample query without a body")
	}
	service, err := identifier.ParseService(q.Service)
	if err != nil {
		return nil, err
	}
	return &Request{Method: q.REST.Method, Path: "r1/" + service.String() + q.REST.Path,
		Header: http.Header{"X-Road-Client": {q.Client}}, IDHeader: "X-Road-Id"}, nil
}

// HTTP is the request with id, to the target at base (ending in '/'); body
// is its buffer (Append's result).
func (r *Request) HTTP(ctx context.Context, base string, body, id []byte) (*http.Request, error) {
	method, rd := http.MethodPost, io.Reader(bytes.NewReader(body))
	if r.Method != "" {
		method = r.Method
	}
	if len(body) == 0 {
		rd = nil
	}
	req, err := http.NewRequestWithContext(ctx, method, base+r.Path, rd)
	if err != nil {
		return nil, err
	}
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	if r.IDHeader != "" {
		req.Header.Set(r.IDHeader, string(id))
	}
	return req, nil
}

// CheckHeader checks the answer's header fields of a REST call: its id
// echoed and, through a security-server pair (signed), X-Road-Request-Hash.
func (r *Request) CheckHeader(h http.Header, id []byte, signed bool) error {
	if r.IDHeader == "" {
		return nil
	}
	if code := h.Get("X-Road-Error"); code != "" {
		return fmt.Errorf("X-Road-Error %s", code)
	}
	if signed && (h.Get(r.IDHeader) != string(id) || h.Get("X-Road-Request-Hash") == "") {
		return fmt.Errorf("the answer's %s is %q, not the request's, or it has no X-Road-Request-Hash", r.IDHeader, h.Get(r.IDHeader))
	}
	return nil
}

// NewRequest is q's request as its IS sends it (localfed.RequestXML).
func NewRequest(q localfed.Query) (*Request, error) {
	client, err := identifier.ParseClient(q.Client)
	if err != nil {
		return nil, err
	}
	service, err := identifier.ParseService(q.Service)
	if err != nil {
		return nil, err
	}
	body := localfed.RequestXML(client, service, idMark, "AZ"+q.From+"0001", q.Body)
	before, after, ok := bytes.Cut(body, []byte(idMark))
	if !ok {
		return nil, errors.New("loadtest: request template without its id")
	}
	return &Request{before: before, after: after, ContentType: "text/xml; charset=UTF-8"}, nil
}

// Append appends the request with xrd:id id to dst (with its attachment,
// if it is small enough to be held: see Body).
func (r *Request) Append(dst, id []byte) []byte {
	if r.attachment == 0 {
		return r.soap(dst, id)
	}
	dst = append(dst, r.head()...)
	dst = r.soap(dst, id)
	dst = append(dst, r.middle()...)
	dst = append(dst, r.attachmentBytes...)
	return append(dst, r.tail()...)
}

// soap appends the SOAP message with xrd:id id to dst.
func (r *Request) soap(dst, id []byte) []byte {
	dst = append(dst, r.before...)
	dst = append(dst, id...)
	return append(dst, r.after...)
}

// NewIDPrefix returns a random prefix for one run's xrd:ids.
func NewIDPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "lt-" + hex.EncodeToString(b[:]) + "-"
}

// Check decides whether an answer is the person's record for the request
// sent. Probe learns the expected record from one answer, parsing it fully;
// Answer then checks every answer by its bytes (cheap enough not to skew the
// measurement): HTTP 200, the request's xrd:id echoed in the header, the
// response wrapper with the record, no SOAP Fault, no <error> element, and
// for answers through a security server pair the requestHash header.
type Check struct {
	Signed bool     // the answer must carry xrd:requestHash (REST: X-Road-Request-Hash, Request.CheckHeader)
	REST   bool     // the answer is ƏMDK's JSON extract, not a SOAP message
	needs  [][]byte // substrings every correct answer holds
	Person string   // the record's surname and name, for reports
}

var (
	faultMark = []byte("Fault>")
	errorMark = []byte("<error>")
	hashMark  = []byte("requestHash")
	idOpen    = []byte("<xrd:id>")
	idClose   = []byte("</xrd:id>")
)

// Probe checks one full answer by parsing it, and remembers what every
// later answer must hold.
func (c *Check) Probe(status int, body []byte, fin string) error {
	if status != 200 {
		return fmt.Errorf("HTTP %d: %.200s", status, body)
	}
	if c.REST {
		return c.probeREST(body, fin)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		return fmt.Errorf("the answer is not XML: %v", err)
	}
	if f := doc.FindElement("//Body/Fault"); f != nil {
		return fmt.Errorf("SOAP fault %s: %s", elemText(f, "faultcode"), elemText(f, "faultstring"))
	}
	resp := doc.FindElement("//Body/getPersonByFinResponse")
	if resp == nil {
		return errors.New("the answer has no getPersonByFinResponse")
	}
	if e := resp.FindElement(".//error"); e != nil {
		return fmt.Errorf("the provider answered error %s: %s", elemText(e, "code"), elemText(e, "message"))
	}
	p := resp.FindElement("person")
	if p == nil || elemText(p, "fin") != fin {
		return fmt.Errorf("the answer is not the record of FİN %s", fin)
	}
	surname, name := elemText(p, "surname"), elemText(p, "name")
	if surname == "" || name == "" {
		return errors.New("the person's record has no name")
	}
	if c.Signed && doc.FindElement("//Header/requestHash") == nil {
		return errors.New("the answer carries no requestHash: it did not come through a security server")
	}
	c.Person = surname + " " + name
	c.needs = [][]byte{
		[]byte("getPersonByFinResponse"),
		[]byte("<fin>" + fin + "</fin>"),
		[]byte("<surname>" + surname + "</surname>"),
		[]byte("<name>" + name + "</name>"),
	}
	if c.Signed {
		c.needs = append(c.needs, hashMark)
	}
	return nil
}

// probeREST reads a JSON extract: the person's FİN and the register
// numbers of the properties every later answer must list.
func (c *Check) probeREST(body []byte, fin string) error {
	var x struct {
		FIN        string `json:"fin"`
		Properties []struct {
			RegisterNumber string `json:"registerNumber"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &x); err != nil || x.FIN != fin || len(x.Properties) == 0 {
		return fmt.Errorf("the answer is not the extract of FİN %s with properties: %.200s", fin, body)
	}
	c.Person = "FİN " + fin
	c.needs = [][]byte{[]byte(`"fin":"` + fin + `"`)}
	for _, p := range x.Properties {
		c.needs = append(c.needs, []byte(`"registerNumber":"`+p.RegisterNumber+`"`))
	}
	return nil
}

// Answer checks one answer to the request with xrd:id id (REST: the
// body only; Request.CheckHeader checks the id).
func (c *Check) Answer(status int, body, id []byte) error {
	if len(c.needs) == 0 {
		return errors.New("loadtest: check not probed")
	}
	if c.REST {
		if status != 200 {
			return fmt.Errorf("HTTP %d: %.120q", status, body)
		}
		for _, n := range c.needs {
			if !bytes.Contains(body, n) {
				return fmt.Errorf("the answer lacks %s", n)
			}
		}
		return nil
	}
	if bytes.Contains(body, faultMark) {
		return fmt.Errorf("HTTP %d, SOAP fault: %s", status, faultCode(body))
	}
	if status != 200 {
		return fmt.Errorf("HTTP %d: %.120q", status, body)
	}
	i := bytes.Index(body, idOpen)
	if i < 0 {
		return errors.New("the answer has no xrd:id")
	}
	rest := body[i+len(idOpen):]
	if !bytes.HasPrefix(rest, id) || !bytes.HasPrefix(rest[len(id):], idClose) {
		return errors.New("the answer's xrd:id is not the request's")
	}
	if bytes.Contains(body, errorMark) {
		return errors.New("the provider answered an <error>")
	}
	for _, n := range c.needs {
		if !bytes.Contains(body, n) {
			return fmt.Errorf("the answer lacks %s", n)
		}
	}
	return nil
}

func faultCode(body []byte) string {
	s := string(body)
	if _, after, ok := strings.Cut(s, "<faultcode>"); ok {
		if code, _, ok := strings.Cut(after, "</faultcode>"); ok {
			s = code
			if _, after, ok := strings.Cut(after, "<faultstring>"); ok {
				if msg, _, ok := strings.Cut(after, "</faultstring>"); ok {
					s += ": " + msg
				}
			}
			return s
		}
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func elemText(parent *etree.Element, name string) string {
	if e := parent.FindElement(".//" + name); e != nil {
		return strings.TrimSpace(e.Text())
	}
	return ""
}
