package loadtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/registry/identifier"
)

// idMark stands for the xrd:id in a request template.
const idMark = "\x00LOADTEST-ID\x00"

// Request is an X-Road request with a slot for its xrd:id.
type Request struct {
	before, after []byte
	ContentType   string
	// attachment is the size of the attachment each request carries
	// (WithAttachment); attachmentBytes holds it when it is small.
	attachment      int64
	attachmentBytes []byte
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
	Signed bool     // the answer must carry xrd:requestHash
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

// Answer checks one answer to the request with xrd:id id.
func (c *Check) Answer(status int, body, id []byte) error {
	if len(c.needs) == 0 {
		return errors.New("loadtest: check not probed")
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
