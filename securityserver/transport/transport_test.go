package transport

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"github.com/sluz/sluz/securityserver/spool"
)

var soap = []byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Envelope>FİN 5ZJ8K2L, Əmlak\r\n--xtop not a boundary</Envelope>\r\n")

func TestRoundTrip(t *testing.T) {
	req := &Message{OCSP: [][]byte{{0x30, 0x03, 0x0a, 0x01, 0x00}, {0x30, 0x01}}, SOAPType: "text/xml; charset=UTF-8", SOAP: soap, Signature: []byte("<asic:XAdESSignatures/>")}
	body, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.ContentType, "multipart/mixed; charset=UTF-8; boundary=xtop") {
		t.Fatalf("content type %q", req.ContentType)
	}
	got, err := Decode(body.Reader(), req.ContentType, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.SOAP, soap) || !bytes.Equal(got.Signature, req.Signature) || len(got.OCSP) != 2 || !bytes.Equal(got.OCSP[0], req.OCSP[0]) {
		t.Fatalf("decoded %+v", got)
	}
	resp := &Message{SOAP: soap, Fault: []byte("<Fault/>")}
	body, _ = resp.Encode()
	got, err = Decode(body.Reader(), resp.ContentType, 1<<20, false)
	if err != nil || !bytes.Equal(got.Fault, resp.Fault) || got.Signature != nil {
		t.Fatalf("response with a fault last: %+v %v", got, err)
	}
}

// raw builds a multipart body by hand, for bodies Encode would never write.
func raw(parts ...[2]string) (string, []byte) {
	var b bytes.Buffer
	for _, p := range parts {
		fmt.Fprintf(&b, "--B\r\nContent-Type: %s\r\n\r\n%s\r\n", p[0], p[1])
	}
	b.WriteString("--B--\r\n")
	return "multipart/mixed; boundary=B", b.Bytes()
}

func TestDecodeRefusesOutOfOrder(t *testing.T) {
	ocsp, msg, sig := [2]string{TypeOCSP, "x"}, [2]string{"text/xml", "<a/>"}, [2]string{TypeSignature, "<s/>"}
	cases := []struct {
		name    string
		request bool
		parts   [][2]string
		want    string
	}{
		{"signature before message", true, [][2]string{ocsp, sig, msg}, "unexpected part"},
		{"OCSP after message", true, [][2]string{ocsp, msg, ocsp, sig}, "unexpected part"},
		{"request without OCSP", true, [][2]string{msg, sig}, "no OCSP response"},
		{"OCSP in a response", false, [][2]string{ocsp, msg, sig}, "no OCSP parts"},
		{"no signature", true, [][2]string{ocsp, msg}, "ends before its signature"},
		{"part after signature", true, [][2]string{ocsp, msg, sig, sig}, "unexpected part"},
		{"empty attachments", true, [][2]string{ocsp, msg, {"multipart/mixed; boundary=xatt", ""}, sig}, "no attachment"},
		{"attachments without a boundary", true, [][2]string{ocsp, msg, {"multipart/mixed", ""}, sig}, "without a boundary"},
		{"attachments twice", true, [][2]string{ocsp, msg, {"multipart/mixed; boundary=A", "--A\r\nContent-Type: a/b\r\n\r\nx\r\n--A--"}, {"multipart/mixed; boundary=A", "--A\r\nContent-Type: a/b\r\n\r\nx\r\n--A--"}, sig}, "unexpected part"},
		{"hash-chain result without its chain", true, [][2]string{ocsp, msg, {"application/hash-chain-result", "x"}, sig}, "unexpected part"},
		{"hash chain without its result", true, [][2]string{ocsp, msg, {"application/hash-chain", "x"}, sig}, "unexpected part"},
		{"attachments after the hash chain", true, [][2]string{ocsp, msg, {"application/hash-chain-result", "x"}, {"application/hash-chain", "x"}, {"multipart/mixed; boundary=A", "--A\r\nContent-Type: a/b\r\n\r\nx\r\n--A--"}, sig}, "unexpected part"},
		{"MTOM root after the SOAP part", true, [][2]string{ocsp, msg, {"application/xop+xml", "x"}, sig}, "unexpected part"},
		{"fault in a request", true, [][2]string{ocsp, msg, msg}, "unexpected part"},
	}
	for _, tc := range cases {
		ct, body := raw(tc.parts...)
		_, err := Decode(bytes.NewReader(body), ct, 1<<20, tc.request)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrMalformed mentioning %q", tc.name, err, tc.want)
		}
	}
	for _, ct := range []string{"text/xml", "multipart/mixed", "multipart/mixed; boundary=", "garbage;;"} {
		if _, err := Decode(strings.NewReader(""), ct, 1<<20, true); !errors.Is(err, ErrMalformed) {
			t.Errorf("Content-Type %q: %v", ct, err)
		}
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	m := &Message{OCSP: [][]byte{{1}}, SOAP: bytes.Repeat([]byte("ə"), 4096), Signature: []byte("s")}
	body, _ := m.Encode()
	if _, err := Decode(body.Reader(), m.ContentType, int64(body.Len()), true); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	r := &countingReader{r: body.Reader()}
	_, err := Decode(r, m.ContentType, 1000, true)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	if r.n > 1001+4096 { // at most one buffer beyond the limit is pulled
		t.Fatalf("read %d bytes for a 1000-byte limit", r.n)
	}
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func BenchmarkEncodeDecode(b *testing.B) {
	m := &Message{OCSP: [][]byte{bytes.Repeat([]byte{1}, 500)}, SOAP: bytes.Repeat([]byte("x"), 1024), Signature: bytes.Repeat([]byte("s"), 3000)}
	b.ReportAllocs()
	for b.Loop() {
		body, _ := m.Encode()
		if _, err := Decode(body.Reader(), m.ContentType, 1<<20, true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeLength: the parts come out the same whatever the length hint
// says (exact, too small, unknown), and each part is its own slice: a part
// read later never overwrites an earlier one.
func TestDecodeLength(t *testing.T) {
	big := bytes.Repeat([]byte("Əliyev Rəşad "), 2000) // larger than the arena's first 4 KiB
	req := &Message{OCSP: [][]byte{{0x30, 0x03, 0x0a, 0x01, 0x00}}, SOAPType: "text/xml; charset=UTF-8", SOAP: soap, Signature: big}
	body, err := req.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, length := range []int64{int64(body.Len()), 10, -1} {
		got, err := DecodeLength(body.Reader(), length, req.ContentType, 1<<20, true)
		if err != nil {
			t.Fatalf("length %d: %v", length, err)
		}
		if !bytes.Equal(got.SOAP, soap) || !bytes.Equal(got.Signature, big) || !bytes.Equal(got.OCSP[0], req.OCSP[0]) {
			t.Fatalf("length %d: parts differ", length)
		}
		got.OCSP[0] = append(got.OCSP[0], 'x') // must not reach into the next part
		if !bytes.Equal(got.SOAP, soap) {
			t.Fatalf("length %d: appending to one part changed the next", length)
		}
	}
}

// TestEncodeAsMultipartWriter: the framing Encode writes is byte for byte
// what mime/multipart.Writer writes for the same parts and boundary, and
// the body reads the same through Bytes, Reader (twice, in small reads and
// through io.Copy) and WriteTo.
func TestEncodeAsMultipartWriter(t *testing.T) {
	for _, m := range []*Message{
		{OCSP: [][]byte{{0x30, 0x03, 0x0a, 0x01, 0x00}, {0x30, 0x01}}, SOAPType: "text/xml; charset=UTF-8", SOAP: soap, Signature: []byte("<asic:XAdESSignatures/>")},
		{SOAP: soap, Signature: []byte("<sig/>")},
		{SOAP: soap, Fault: []byte("<Fault/>")},
	} {
		const boundary = "xtop0123456789abcdef"
		body, err := m.encode(boundary)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		w := multipart.NewWriter(&want)
		if err := w.SetBoundary(boundary); err != nil {
			t.Fatal(err)
		}
		part := func(h textproto.MIMEHeader, b []byte) {
			pw, err := w.CreatePart(h)
			if err != nil {
				t.Fatal(err)
			}
			pw.Write(b)
		}
		for _, o := range m.OCSP {
			part(textproto.MIMEHeader{"Content-Type": {TypeOCSP}}, o)
		}
		soapType := m.SOAPType
		if soapType == "" {
			soapType = "text/xml; charset=UTF-8"
		}
		part(textproto.MIMEHeader{"Content-Type": {soapType}, "Content-Transfer-Encoding": {"8bit"}}, m.SOAP)
		if m.Signature != nil {
			part(textproto.MIMEHeader{"Content-Type": {TypeSignature}}, m.Signature)
		} else {
			part(textproto.MIMEHeader{"Content-Type": {"text/xml; charset=UTF-8"}}, m.Fault)
		}
		w.Close()
		if got := body.Bytes(); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("Encode wrote\n%q\nmime/multipart writes\n%q", got, want.Bytes())
		}
		if body.Len() != int64(want.Len()) {
			t.Fatalf("Len %d, want %d", body.Len(), want.Len())
		}
		for range 2 {
			r := body.Reader()
			var got []byte
			buf := make([]byte, 7)
			for {
				n, err := r.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("Reader read %q", got)
			}
			var copied bytes.Buffer
			if _, err := io.Copy(&copied, body.Reader()); err != nil || !bytes.Equal(copied.Bytes(), want.Bytes()) {
				t.Fatalf("io.Copy of Reader: %q, %v", copied.Bytes(), err)
			}
		}
		var written bytes.Buffer
		if n, err := body.WriteTo(&written); err != nil || n != int64(want.Len()) || !bytes.Equal(written.Bytes(), want.Bytes()) {
			t.Fatalf("WriteTo: %d bytes, %v", n, err)
		}
	}
	if _, err := (&Message{SOAP: soap, SOAPType: "text/xml\r\nX-Evil: 1", Signature: []byte("<s/>")}).Encode(); err == nil {
		t.Fatal("a content type spanning lines was encoded")
	}
}

// xroadWithAttachments is a request as X-Road's ProxyMessageEncoder and
// MultipartEncoder write it for a message with three attachments signed
// through a hash chain (the third had no Content-Type from the IS, so
// X-Road writes none): the attachments nested in a multipart/mixed part
// with the "xatt" boundary of the same unique part, each attachment's
// Content-Type first and its other header fields after, a CRLF before
// every delimiter, the hash-chain result and hash chain before the
// signature.
const xroadWithAttachments = "--xtop0123\r\nContent-Type: application/ocsp-response\r\n\r\nOCSP" +
	"\r\n--xtop0123\r\nContent-Transfer-Encoding: 8bit\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n<Envelope/>" +
	"\r\n--xtop0123\r\nContent-Type: multipart/mixed; charset=UTF-8; boundary=xatt0123\r\n\r\n" +
	"\r\n--xatt0123\r\nContent-Type: application/pdf\r\nContent-Id: <att1>\r\nContent-Transfer-Encoding: binary\r\n\r\n%PDF\x00\r\n\xff" +
	"\r\n--xatt0123\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" +
	"\r\n--xatt0123\r\nContent-Id: <bare>\r\n\r\nno type" +
	"\r\n--xatt0123--\r\n" +
	"\r\n--xtop0123\r\nContent-Type: application/hash-chain-result\r\n\r\n<RESULT/>" +
	"\r\n--xtop0123\r\nContent-Type: application/hash-chain\r\n\r\n<CHAIN/>" +
	"\r\n--xtop0123\r\nContent-Type: signature/bdoc-1.0/ts\r\n\r\n<SIG/>" +
	"\r\n--xtop0123--\r\n"

func TestAttachmentsAsXRoad(t *testing.T) {
	m := &Message{
		OCSP:     [][]byte{[]byte("OCSP")},
		SOAPType: "text/xml; charset=UTF-8",
		SOAP:     []byte("<Envelope/>"),
		Attachments: []Attachment{
			{ContentType: "application/pdf", Header: [][2]string{{"Content-Id", "<att1>"}, {"Content-Transfer-Encoding", "binary"}}, Data: []byte("%PDF\x00\r\n\xff")},
			{ContentType: "text/plain; charset=UTF-8", Data: []byte{}},
			{Header: [][2]string{{"Content-Id", "<bare>"}}, Data: []byte("no type")},
		},
		HashChainResult: []byte("<RESULT/>"),
		HashChain:       []byte("<CHAIN/>"),
		Signature:       []byte("<SIG/>"),
	}
	body, err := m.encode("xtop0123")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(body.Bytes()); got != xroadWithAttachments {
		t.Fatalf("Encode wrote\n%q\nX-Road writes\n%q", got, xroadWithAttachments)
	}
	if m.ContentType != "multipart/mixed; charset=UTF-8; boundary=xtop0123" {
		t.Fatalf("content type %q", m.ContentType)
	}
	got, err := Decode(strings.NewReader(xroadWithAttachments), m.ContentType, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attachments) != 3 || !bytes.Equal(got.SOAP, m.SOAP) || !bytes.Equal(got.HashChainResult, m.HashChainResult) ||
		!bytes.Equal(got.HashChain, m.HashChain) || !bytes.Equal(got.Signature, m.Signature) {
		t.Fatalf("decoded %+v", got)
	}
	for i, a := range got.Attachments {
		if !bytes.Equal(a.Data, m.Attachments[i].Data) || a.ContentType != m.Attachments[i].ContentType {
			t.Fatalf("attachment %d: %q %q", i+1, a.ContentType, a.Data)
		}
	}
	// Header fields come back sorted by their canonical names.
	if h := got.Attachments[0].Header; len(h) != 2 || h[0] != [2]string{"Content-Id", "<att1>"} || h[1] != [2]string{"Content-Transfer-Encoding", "binary"} {
		t.Fatalf("header %q", h)
	}
	// Re-encoded under the same boundary, the decoded message is the same body.
	if again, err := got.encode("xtop0123"); err != nil || string(again.Bytes()) != xroadWithAttachments {
		t.Fatalf("re-encoded: %v\n%q", err, again.Bytes())
	}
	// A response with attachments and a fault after them.
	resp := &Message{SOAP: m.SOAP, Attachments: m.Attachments[:1], Fault: []byte("<Fault/>")}
	body, err = resp.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err = Decode(body.Reader(), resp.ContentType, 1<<20, false)
	if err != nil || len(got.Attachments) != 1 || !bytes.Equal(got.Fault, resp.Fault) {
		t.Fatalf("response: %+v, %v", got, err)
	}
}

func TestEncodeRefusesAttachments(t *testing.T) {
	for name, m := range map[string]*Message{
		"header on two lines": {SOAP: soap, Attachments: []Attachment{{ContentType: "a/b", Header: [][2]string{{"Content-Id", "<a>\r\nX-Evil: 1"}}}}, Signature: []byte("s")},
		"second Content-Type": {SOAP: soap, Attachments: []Attachment{{ContentType: "a/b", Header: [][2]string{{"content-type", "c/d"}}}}, Signature: []byte("s")},
		"result alone":        {SOAP: soap, HashChainResult: []byte("r"), Signature: []byte("s")},
	} {
		if _, err := m.Encode(); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// A REST message travels as X-Road frames it: the header part where the
// SOAP part goes, the body unnested after it, then the hash chain and the
// signature.
func TestRESTRoundTrip(t *testing.T) {
	head := []byte("GET\r\n/r1/AZ/GOV/EMDK/realestate/realEstateRegistry/extract/5ZJ8K2L\r\nx-road-client:AZ/GOV/DIN/population\r\n")
	body := &Attachment{ContentType: TypeRESTBody, Data: []byte(`{"fin":"5ZJ8K2L"}` + "\r\n--xtop not a boundary")}
	for _, tc := range []struct {
		name    string
		request bool
		m       *Message
	}{
		{"request without body", true, &Message{OCSP: [][]byte{{1}}, SOAPType: TypeRESTRequest, SOAP: head, Signature: []byte("<s/>")}},
		{"request with body", true, &Message{OCSP: [][]byte{{1}}, SOAPType: TypeRESTRequest, SOAP: head, RESTBody: body, HashChainResult: []byte("r"), HashChain: []byte("c"), Signature: []byte("<s/>")}},
		{"response with body", false, &Message{SOAPType: TypeRESTResponse, SOAP: head, RESTBody: body, HashChainResult: []byte("r"), HashChain: []byte("c"), Signature: []byte("<s/>")}},
		{"response with empty body part", false, &Message{SOAPType: TypeRESTResponse, SOAP: head, RESTBody: &Attachment{ContentType: TypeRESTBody, Data: []byte{}}, HashChainResult: []byte("r"), HashChain: []byte("c"), Signature: []byte("<s/>")}},
	} {
		enc, err := tc.m.Encode()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if bytes.Contains(enc.Bytes(), []byte("xatt")) {
			t.Errorf("%s: the REST body must not be nested: %q", tc.name, enc.Bytes())
		}
		got, err := Decode(enc.Reader(), tc.m.ContentType, 1<<20, tc.request)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.SOAPType != tc.m.SOAPType || !bytes.Equal(got.SOAP, head) || (got.RESTBody == nil) != (tc.m.RESTBody == nil) || (got.RESTBody != nil && !bytes.Equal(got.RESTBody.Data, tc.m.RESTBody.Data)) ||
			!bytes.Equal(got.HashChain, tc.m.HashChain) || !bytes.Equal(got.Signature, tc.m.Signature) {
			t.Errorf("%s: decoded %+v", tc.name, got)
		}
	}
	ocsp, sig := [2]string{TypeOCSP, "x"}, [2]string{TypeSignature, "<s/>"}
	for _, tc := range []struct {
		name    string
		request bool
		parts   [][2]string
	}{
		{"REST body after a SOAP part", true, [][2]string{ocsp, {"text/xml", "<a/>"}, {TypeRESTBody, "x"}, sig}},
		{"response header part in a request", true, [][2]string{ocsp, {TypeRESTResponse, "200\r\nOK\r\n"}, sig}},
		{"request header part in a response", false, [][2]string{{TypeRESTRequest, "GET\r\n/\r\n"}, sig}},
		{"attachments after a REST header part", true, [][2]string{ocsp, {TypeRESTRequest, "GET\r\n/\r\n"}, {"multipart/mixed; boundary=A", "--A\r\nContent-Type: a/b\r\n\r\nx\r\n--A--"}, sig}},
		{"two REST bodies", true, [][2]string{ocsp, {TypeRESTRequest, "GET\r\n/\r\n"}, {TypeRESTBody, "x"}, {TypeRESTBody, "x"}, sig}},
	} {
		ct, b := raw(tc.parts...)
		if _, err := Decode(bytes.NewReader(b), ct, 1<<20, tc.request); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}
	if _, err := (&Message{SOAP: soap, RESTBody: body, Signature: []byte("s")}).Encode(); err == nil {
		t.Error("a REST body with a SOAP part was encoded")
	}
}

// TestDecodeStream: attachments past spool.InMemory are spooled, the rest
// held; every byte comes back as sent, encoded again from the spool; the
// message and its attachments each have their own limit.
func TestDecodeStream(t *testing.T) {
	big := make([]byte, 3*spool.InMemory+7)
	rand.Read(big)
	set := spool.NewSet(t.TempDir())
	defer set.Close()
	m := &Message{OCSP: [][]byte{[]byte("ocsp")}, SOAP: []byte("<Envelope/>"), Signature: []byte("<s/>"),
		HashChainResult: []byte("<HashChainResult/>"), HashChain: []byte("<HashChain/>"),
		Attachments: []Attachment{{ContentType: "application/pdf", Data: big}, {ContentType: "text/plain", Data: []byte("DSMF")}}}
	body, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	lim := Streaming{MaxSize: 4 << 10, MaxAttachments: int64(len(big) + 4), Spool: set}
	got, err := DecodeStream(body.Reader(), body.Len(), m.ContentType, lim, true)
	if err != nil {
		t.Fatal(err)
	}
	a := got.Attachments
	if len(a) != 2 || a[0].Spooled == nil || a[0].Data != nil || a[1].Spooled != nil || string(a[1].Data) != "DSMF" || a[0].Size() != int64(len(big)) {
		t.Fatalf("attachments %+v", a)
	}
	if sum := sha512.Sum512(big); !bytes.Equal(a[0].Digest(), sum[:]) {
		t.Fatal("the spooled attachment's digest is not its bytes'")
	}
	again, err := got.encode(strings.TrimPrefix(got.ContentType, "multipart/mixed; charset=UTF-8; boundary="))
	if err != nil || !bytes.Equal(again.Bytes(), body.Bytes()) || again.Len() != body.Len() {
		t.Fatalf("encoded again from the spool: %v, %d bytes for %d", err, again.Len(), body.Len())
	}
	checkFlat(t, body, again)
	lim.MaxAttachments--
	if _, err := DecodeStream(body.Reader(), body.Len(), m.ContentType, lim, true); !errors.Is(err, ErrAttachmentsTooLarge) {
		t.Fatalf("attachments one byte over their limit: %v", err)
	}
	lim.MaxAttachments, lim.MaxSize = int64(len(big)+4), 200
	if _, err := DecodeStream(body.Reader(), body.Len(), m.ContentType, lim, true); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("the message over its limit: %v", err)
	}
}

// TestDecodeStreamREST: a REST body streams like an attachment: spooled
// past spool.InMemory, hashed, sent again from the spool byte for byte,
// and held to the attachments' limit, not the message's.
func TestDecodeStreamREST(t *testing.T) {
	big := make([]byte, 2*spool.InMemory+3)
	rand.Read(big)
	set := spool.NewSet(t.TempDir())
	defer set.Close()
	m := &Message{OCSP: [][]byte{[]byte("ocsp")}, SOAPType: TypeRESTRequest, SOAP: []byte("POST\r\n/r1/AZ/GOV/DSMF/insurance/insurerReports\r\n"),
		RESTBody: &Attachment{ContentType: TypeRESTBody, Data: big}, HashChainResult: []byte("r"), HashChain: []byte("c"), Signature: []byte("<s/>")}
	body, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	lim := Streaming{MaxSize: 1 << 10, MaxAttachments: int64(len(big)), Spool: set}
	got, err := DecodeStream(body.Reader(), body.Len(), m.ContentType, lim, true)
	if err != nil {
		t.Fatal(err)
	}
	if b := got.RESTBody; b == nil || b.Spooled == nil || b.Data != nil || b.Size() != int64(len(big)) {
		t.Fatalf("REST body %+v", b)
	}
	if sum := sha512.Sum512(big); !bytes.Equal(got.RESTBody.Digest(), sum[:]) {
		t.Fatal("the spooled REST body's digest is not its bytes'")
	}
	again, err := got.encode(strings.TrimPrefix(got.ContentType, "multipart/mixed; charset=UTF-8; boundary="))
	if err != nil || !bytes.Equal(again.Bytes(), body.Bytes()) {
		t.Fatalf("encoded again from the spool: %v", err)
	}
	checkFlat(t, body, again)
	lim.MaxAttachments--
	if _, err := DecodeStream(body.Reader(), body.Len(), m.ContentType, lim, true); !errors.Is(err, ErrAttachmentsTooLarge) {
		t.Fatalf("a REST body one byte over its limit: %v", err)
	}
}

// checkFlat: Flat copies only a body held in memory (body; spooled: a
// body with a spooled part), within the size given, into one slice that
// reads as a *bytes.Reader.
func checkFlat(t *testing.T, body, spooled Body) {
	t.Helper()
	if flat := spooled.Flat(1 << 30); len(flat) != len(spooled) {
		t.Fatal("a body with a spooled part was flattened")
	}
	if flat := body.Flat(body.Len() - 1); len(flat) != len(body) {
		t.Fatal("a body over the size given was flattened")
	}
	flat := body.Flat(body.Len())
	if _, ok := flat.Reader().(*bytes.Reader); len(flat) != 1 || !ok || !bytes.Equal(flat.Bytes(), body.Bytes()) {
		t.Fatalf("flattened: %d segments, %T", len(flat), flat.Reader())
	}
}

// TestPlainType: the allocation-free reading of plain Content-Types agrees
// with mime.ParseMediaType on everything it accepts.
func TestPlainType(t *testing.T) {
	for _, ct := range []string{
		"multipart/mixed; charset=UTF-8; boundary=xtop0123abcd", "Multipart/Mixed;boundary=b", "multipart/mixed",
		"multipart/mixed; boundary=a; BOUNDARY=b", "multipart/mixed; boundary=", "multipart/mixed;", "multipart/mixed; boundary=\"b\"",
		"multipart/mixed;  boundary=b", "multipart/mixed ; boundary=b", "multipart/mixed; boundary=b ", "text/xml; charset=UTF-8",
		"multipart/mixed; a=1; b=2; c=3; d=4; e=5", "/mixed", "multipart/", "multipart", "", "signature/bdoc-1.0/ts",
	} {
		checkPlainType(t, ct)
	}
	if mt, b, ok := plainType("multipart/mixed; charset=UTF-8; boundary=xtop0123abcd"); !ok || mt != TypeMultipart || b != "xtop0123abcd" {
		t.Errorf("the transport Content-Type is not read by the fast path: %q %q %v", mt, b, ok)
	}
}

// FuzzPlainType: whatever the fast path accepts, mime.ParseMediaType
// reads with the same media type and boundary.
func FuzzPlainType(f *testing.F) {
	f.Add("multipart/mixed; charset=UTF-8; boundary=xtop0123abcd")
	f.Add("text/xml;charset=x")
	f.Fuzz(checkPlainType)
}

func checkPlainType(t *testing.T, ct string) {
	mt, b, ok := plainType(ct)
	if !ok {
		return
	}
	want, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != want || b != params["boundary"] {
		t.Errorf("%q: fast path %q %q; mime.ParseMediaType %q %v %v", ct, mt, b, want, params, err)
	}
}
