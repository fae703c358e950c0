package message

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReadRequest(t *testing.T) {
	req := load(t, "request.xml")
	bom := load(t, "request-crlf-bom.xml")
	att := load(t, "request-attachment.mime")
	big := append(bytes.Clone(req), bytes.Repeat([]byte(" "), 3000)...) // trailing white space is well-formed
	tests := []struct {
		name, method, contentType string
		body                      []byte
		length                    int64 // -1: unknown (chunked)
		max                       int64
		code                      string // "" = accepted
		maxRead                   int64  // if > 0: at most this many bytes may be read
	}{
		{name: "good", method: "POST", contentType: "text/xml; charset=utf-8", body: req, length: int64(len(req))},
		{name: "no charset", method: "POST", contentType: "text/xml", body: req, length: -1},
		{name: "BOM and CRLF", method: "POST", contentType: "text/xml;charset=UTF-8", body: bom, length: int64(len(bom))},
		{name: "attachments", method: "POST", contentType: `multipart/related; type="text/xml"; start="<rootpart>"; boundary="MIME_boundary"`, body: att, length: int64(len(att))},
		{name: "exactly at the limit", method: "POST", contentType: "text/xml", body: req, length: -1, max: int64(len(req))},
		{name: "GET", method: "GET", contentType: "text/xml", body: nil, code: "Client.InvalidHttpMethod"},
		{name: "PUT", method: "PUT", contentType: "text/xml", body: req, length: int64(len(req)), code: "Client.InvalidHttpMethod", maxRead: -1},
		{name: "no content type", method: "POST", body: req, length: int64(len(req)), code: "Client.InvalidContentType", maxRead: -1},
		{name: "JSON", method: "POST", contentType: "application/json", body: req, length: int64(len(req)), code: "Client.InvalidContentType", maxRead: -1},
		{name: "ISO-8859-1", method: "POST", contentType: "text/xml; charset=ISO-8859-1", body: req, length: int64(len(req)), code: "Client.InvalidContentType", maxRead: -1},
		{name: "over the limit, length unknown", method: "POST", contentType: "text/xml", body: big, length: -1, max: 2048, code: "Client.InvalidMessage", maxRead: 2049},
		{name: "over the limit, length announced", method: "POST", contentType: "text/xml", body: big, length: int64(len(big)), max: 2048, code: "Client.InvalidMessage", maxRead: -1},
		{name: "over the default limit", method: "POST", contentType: "text/xml", body: bytes.Repeat([]byte(" "), DefaultMaxSize+100), length: -1, code: "Client.InvalidMessage", maxRead: DefaultMaxSize + 1},
		{name: "malformed", method: "POST", contentType: "text/xml", body: req[:100], length: -1, code: "Client.InvalidSoap"},
		{name: "a SOAP Fault, not a request", method: "POST", contentType: "text/xml", body: load(t, "fault.xml"), length: -1, code: "Client.Server.ServerProxy.AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(tc.body)}
			r := httptest.NewRequest(tc.method, "http://localhost/", cr)
			r.ContentLength = tc.length
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			m, err := ReadRequest(r, tc.max)
			switch {
			case tc.maxRead < 0 && cr.n != 0:
				t.Errorf("read %d bytes of a body that should not be read", cr.n)
			case tc.maxRead > 0 && cr.n > tc.maxRead:
				t.Errorf("read %d bytes, more than %d", cr.n, tc.maxRead)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(m.Raw, tc.body) || m.ContentType != tc.contentType || m.Header.Client != emdk {
					t.Errorf("message %q %q %v", m.Raw[:20], m.ContentType, m.Header.Client)
				}
				return
			}
			if f, ok := err.(*Fault); !ok || f.Code != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
}

// TestReadRequestSOAPAction: X-Road's client proxy checks SOAPAction after
// the method and before the Content-Type and the body
// (ClientMessageProcessor.handleSoap calls validateSoapActionHeader before
// it parses), and refuses a malformed one with Client.InvalidSoapAction
// without reading the body.
func TestReadRequestSOAPAction(t *testing.T) {
	req := load(t, "request.xml")
	tests := []struct {
		name, method, contentType string
		action                    []string // nil: no header
		code                      string   // "" = accepted
	}{
		{name: "absent", method: "POST", contentType: "text/xml"},
		{name: "empty", method: "POST", contentType: "text/xml", action: []string{""}},
		{name: "two quotes", method: "POST", contentType: "text/xml", action: []string{`""`}},
		{name: "quoted URI", method: "POST", contentType: "text/xml", action: []string{`"http://din.gov.az/population/v1/getPersonByFin"`}},
		{name: "quoted URN", method: "POST", contentType: "text/xml", action: []string{`"urn:getPersonByFin"`}},
		{name: "not quoted", method: "POST", contentType: "text/xml", action: []string{"http://example.org/action"}, code: "Client.InvalidSoapAction"},
		{name: "quoted, not a URI", method: "POST", contentType: "text/xml", action: []string{`"get person"`}, code: "Client.InvalidSoapAction"},
		{name: "the first of two counts", method: "POST", contentType: "text/xml", action: []string{"bad", `""`}, code: "Client.InvalidSoapAction"},
		{name: "method first", method: "PUT", contentType: "text/xml", action: []string{"bad"}, code: "Client.InvalidHttpMethod"},
		{name: "before the content type", method: "POST", contentType: "application/json", action: []string{"bad"}, code: "Client.InvalidSoapAction"},
		{name: "before a missing content type", method: "POST", action: []string{"bad"}, code: "Client.InvalidSoapAction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(req)}
			r := httptest.NewRequest(tc.method, "http://localhost/", cr)
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			for _, v := range tc.action {
				r.Header.Add("SOAPAction", v)
			}
			m, err := ReadRequest(r, 0)
			if tc.code == "" {
				if err != nil || !bytes.Equal(m.Raw, req) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			f, ok := err.(*Fault)
			if !ok || f.Code != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
			if cr.n != 0 {
				t.Errorf("read %d bytes of a refused request's body", cr.n)
			}
			if tc.code == "Client.InvalidSoapAction" && !strings.Contains(f.String, tc.action[0]) {
				t.Errorf("fault string %q does not quote the header", f.String)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestRead(t *testing.T) {
	resp := load(t, "response.xml")
	m, err := Read(bytes.NewReader(resp), "text/xml; charset=UTF-8", ParseOptions{})
	if err != nil || !bytes.Equal(m.Raw, resp) {
		t.Fatal(err)
	}
	_, err = Read(failingReader{}, "text/xml", ParseOptions{FaultPrefix: Code(ServerProxy, ServiceFailed)})
	if f, ok := err.(*Fault); !ok || f.Code != "Server.ServerProxy.ServiceFailed.IOError" {
		t.Fatalf("got %v", err)
	}
	_, err = Read(strings.NewReader(string(resp)), "text/xml", ParseOptions{MaxSize: 100, FaultPrefix: ServerProxy})
	if f, ok := err.(*Fault); !ok || f.Code != "Server.ServerProxy.InvalidMessage" {
		t.Fatalf("got %v", err)
	}
}

// TestReadRequestServer runs ReadRequest behind a real HTTP server, as the
// client proxy will.
func TestReadRequestServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, err := ReadRequest(r, 4096)
		if err != nil {
			err.(*Fault).WriteHTTP(w)
			return
		}
		w.Header().Set("Content-Type", ContentTypeXML)
		_, _ = io.WriteString(w, m.Header.Service.String())
	}))
	defer srv.Close()
	res, err := http.Post(srv.URL, "text/xml; charset=UTF-8", bytes.NewReader(load(t, "request.xml")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "AZ/GOV/DIN/population/getPersonByFin/v1" {
		t.Errorf("got %s", body)
	}
	res, err = http.Post(srv.URL, "text/xml", strings.NewReader(strings.Repeat(" ", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if f, ok := ParseFault(body); res.StatusCode != 200 || !ok || f.Code != "Client.InvalidMessage" {
		t.Errorf("got %d %s", res.StatusCode, body)
	}
}

// TestReadStreamLength: the announced length sizes the buffer: a body
// shorter or longer than announced is read whole all the same, the limit
// holds whatever is announced, and a length over it is refused unread.
func TestReadStreamLength(t *testing.T) {
	in := load(t, "request.xml")
	for _, length := range []int64{0, 1, int64(len(in)) - 7, int64(len(in)), int64(len(in)) + 100} {
		m, err := ReadStream(bytes.NewReader(in), "text/xml; charset=UTF-8", ParseOptions{Request: true}, Streaming{Length: length})
		if err != nil {
			t.Fatalf("announced %d: %v", length, err)
		}
		if !bytes.Equal(m.Raw, in) {
			t.Fatalf("announced %d: read %d bytes of %d", length, len(m.Raw), len(in))
		}
	}
	_, err := ReadStream(bytes.NewReader(in), "text/xml", ParseOptions{Request: true, MaxSize: int64(len(in)) - 1}, Streaming{Length: 10})
	if f, ok := err.(*Fault); !ok || f.Code != "Client.InvalidMessage" {
		t.Fatalf("a body over the limit, announced short: %v", err)
	}
	_, err = ReadStream(bytes.NewReader(in), "text/xml", ParseOptions{Request: true}, Streaming{Length: DefaultMaxSize + 1})
	if f, ok := err.(*Fault); !ok || f.Code != "Client.InvalidMessage" {
		t.Fatalf("a body announced over the limit: %v", err)
	}
}
