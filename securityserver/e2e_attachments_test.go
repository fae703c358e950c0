package securityserver_test

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
)

// e2eAttachment is one attachment as the test's IS sends or expects it.
type e2eAttachment struct {
	contentType, id string
	data            []byte
}

// e2eXOP is the root part's Content-Type of an MTOM message (PR-MESS Annex G).
const e2eXOP = `application/xop+xml; charset=UTF-8; type="text/xml"`

// e2eRelated frames soap and the attachments as an IS's SOAP-with-
// attachments request (PR-MESS §2.4), or an MTOM one when rootType is
// e2eXOP ("" is text/xml).
func e2eRelated(soap []byte, atts []e2eAttachment, rootType string) ([]byte, string) {
	const boundary = "MIME_boundary_e2e"
	typeParam := `type="text/xml"`
	if rootType == "" {
		rootType = "text/xml; charset=UTF-8"
	} else if strings.HasPrefix(rootType, "application/xop+xml") {
		typeParam = `type="application/xop+xml"; start-info="text/xml"`
	}
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\nContent-Type: " + rootType + "\r\nContent-Transfer-Encoding: 8bit\r\nContent-ID: <rootpart>\r\n\r\n")
	b.Write(soap)
	for _, a := range atts {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: %s\r\nContent-ID: %s\r\nContent-Transfer-Encoding: binary\r\n\r\n", boundary, a.contentType, a.id)
		b.Write(a.data)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), `multipart/related; ` + typeParam + `; start="<rootpart>"; boundary="` + boundary + `"`
}

// e2eRandomAttachment is n random bytes (binary, CR and LF included)
// behind a PDF header.
func e2eRandomAttachment(t *testing.T, i, n int) e2eAttachment {
	data := make([]byte, n)
	rand.Read(data)
	copy(data, "%PDF-1.7\r\n--\r\n")
	return e2eAttachment{contentType: "application/pdf", id: fmt.Sprintf("<att%d@e2e>", i), data: data}
}

// e2eCheckAttachments requires got (parsed from a multipart message) to
// be want, byte for byte, with their types and Content-IDs.
func e2eCheckAttachments(t *testing.T, where string, got []message.Attachment, want []e2eAttachment) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d attachments, want %d", where, len(got), len(want))
	}
	for i, a := range got {
		if !bytes.Equal(a.Body, want[i].data) {
			t.Errorf("%s: attachment %d differs (%d bytes, want %d)", where, i+1, len(a.Body), len(want[i].data))
		}
		if a.Header.Get("Content-Type") != want[i].contentType || a.Header.Get("Content-ID") != want[i].id {
			t.Errorf("%s: attachment %d has Content-Type %q, Content-ID %q; want %q, %q", where, i+1,
				a.Header.Get("Content-Type"), a.Header.Get("Content-ID"), want[i].contentType, want[i].id)
		}
	}
}

// TestE2EAttachments sends SOAP-with-attachments requests (1 and 3
// attachments) from ƏMDK's IS through both security servers to a test
// provider IS of DİN that answers with the attachments in reverse order:
// both ways each attachment arrives byte for byte, requestHash covers the
// request's SOAP part only, and both message logs keep records (hash chain,
// attachments) that the auditor's verification accepts.
func TestE2EAttachments(t *testing.T) {
	e := e2eNew(t)
	var mu sync.Mutex
	var seen []*message.Message // what the provider IS received
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := message.Parse(body, r.Header.Get("Content-Type"), message.ParseOptions{Request: true})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		svc := req.Header.Service.ServiceCode
		soap := bytes.Replace(req.SOAP, []byte(":"+svc+" "), []byte(":"+svc+"Response "), 1)
		soap = bytes.Replace(soap, []byte(":"+svc+">"), []byte(":"+svc+"Response>"), 1)
		var atts []e2eAttachment
		for i := len(req.Attachments) - 1; i >= 0; i-- {
			a := req.Attachments[i]
			atts = append(atts, e2eAttachment{a.Header.Get("Content-Type"), a.Header.Get("Content-ID"), a.Body})
		}
		rootType := req.SOAPType
		if !strings.HasPrefix(rootType, "application/xop+xml") {
			rootType = ""
		}
		out, ct := e2eRelated(soap, atts, rootType)
		w.Header().Set("Content-Type", ct)
		w.Write(out)
	}))
	t.Cleanup(echo.Close)
	din := e.agency("DIN")
	for i := range din.Config.Services {
		din.Config.Services[i].URL = echo.URL + "/echo"
	}

	for _, tc := range []struct {
		n    int
		root string
	}{{1, ""}, {3, ""}, {0, e2eXOP}, {2, e2eXOP}} {
		n := tc.n
		name := fmt.Sprintf("%d attachments", n)
		if tc.root != "" {
			name = "MTOM, " + name
		}
		t.Run(name, func(t *testing.T) {
			soap := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
			var atts []e2eAttachment
			for i := range n {
				atts = append(atts, e2eRandomAttachment(t, i+1, 1000+50000*i))
			}
			if n > 0 {
				atts[len(atts)-1].contentType = "text/plain; charset=UTF-8"
			}
			body, ct := e2eRelated(soap, atts, tc.root)
			mu.Lock()
			seen = nil
			mu.Unlock()
			r := e2eDo(t, http.MethodPost, e.agency("EMDK").ClientURL, ct, body)
			if f, ok := message.ParseFault(r.body); ok {
				t.Fatalf("fault %s: %s", f.Code, f.String)
			}
			mu.Lock()
			if len(seen) != 1 {
				mu.Unlock()
				t.Fatalf("the provider IS got %d requests", len(seen))
			}
			got := seen[0]
			mu.Unlock()
			if !bytes.Equal(got.SOAP, soap) {
				t.Errorf("the provider IS got another SOAP part:\n%s", got.SOAP)
			}
			if want := map[bool]string{true: "application/xop+xml", false: "text/xml"}[tc.root != ""]; !strings.HasPrefix(got.SOAPType, want) {
				t.Errorf("the provider IS got the SOAP part as %q, want %s", got.SOAPType, want)
			}
			e2eCheckAttachments(t, "request at the provider IS", got.Attachments, atts)

			mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
			if r.status != http.StatusOK || mt != "multipart/related" {
				t.Fatalf("answer HTTP %d %q", r.status, r.header.Get("Content-Type"))
			}
			resp := e2eCheckAnswer(t, r.body, r.header.Get("Content-Type"), soap) // requestHash over the SOAP part
			var reversed []e2eAttachment
			for i := len(atts) - 1; i >= 0; i-- {
				reversed = append(reversed, atts[i])
			}
			e2eCheckAttachments(t, "answer at the client IS", resp.Attachments, reversed)
		})
	}

	// A client security server that changes what it signed: each way is
	// refused by the service proxy with its own reason, before the IS.
	t.Run("Forged", func(t *testing.T) {
		m := e.members["EMDK"]
		signer := signature.Signer{Key: m.signKey, Cert: m.signCert, OCSP: m.signOCSP, Extra: []*x509.Certificate{e.f.CA.Cert}}
		a1, a2, a3 := []byte("first attachment"), []byte("second attachment"), []byte("third attachment")
		signed := func(soap []byte, atts ...[]byte) *signature.Chained {
			parts := make([]signature.Part, len(atts))
			for i, a := range atts {
				parts[i] = signature.Part{Data: a}
			}
			c, err := signer.SignChained(soap, parts, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		send := func(soap []byte, c *signature.Chained, atts ...[]byte) e2eReply {
			tm := &transport.Message{OCSP: [][]byte{m.authOCSP}, SOAPType: "text/xml; charset=UTF-8", SOAP: soap,
				HashChainResult: c.Result, HashChain: c.Chain, Signature: c.Signature}
			for _, a := range atts {
				tm.Attachments = append(tm.Attachments, transport.Attachment{ContentType: "application/octet-stream", Data: a})
			}
			body, err := tm.Encode()
			if err != nil {
				t.Fatal(err)
			}
			return e.post(t, "DIN", m.auth, body.Bytes(), tm.ContentType)
		}
		soap := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		c := signed(soap, a1, a2)
		other := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>2BXR4T6</fin>")
		oc := signed(other, a1)
		mu.Lock()
		before := len(seen)
		mu.Unlock()
		code := message.Code(message.ServerProxy, message.InvalidSignatureValue)
		for _, tc := range []struct {
			name, want string
			r          func() e2eReply
		}{
			{"tampered attachment", "changed after signing", func() e2eReply { return send(soap, c, a1, []byte("second attachmenT")) }},
			{"swapped attachments", "not in the order signed", func() e2eReply { return send(soap, c, a2, a1) }},
			{"unused input", "does not cover exactly", func() e2eReply { return send(soap, c, a1, a2, a3) }},
			{"signature reused with another message's chain", "not the one the signature covers",
				func() e2eReply {
					return send(other, &signature.Chained{Signature: c.Signature, Result: oc.Result, Chain: oc.Chain}, a1)
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e2eContains(t, e2eWantFault(t, tc.r(), code), tc.want)
			})
		}
		// The honest one goes through.
		e2eDecode(t, send(soap, c, a1, a2))
		mu.Lock()
		if len(seen) != before+1 {
			t.Errorf("the provider IS got %d requests, want only the honest one", len(seen)-before)
		}
		mu.Unlock()
	})

	// Both message logs: the records of messages with attachments carry
	// the chain and the attachments, and verify as the auditor does.
	trust := e.trust(t)
	for _, code := range []string{"EMDK", "DIN"} {
		path := filepath.Join(t.TempDir(), "messagelog.db")
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.agency(code).Server.MessageLog().Backup(out); err != nil {
			t.Fatal(err)
		}
		out.Close()
		// The attachments' bytes are files beside the log: copied with it.
		live := messagelog.AttachmentsBeside(filepath.Join(e.agency(code).Config.DataDir, securityserver.FileMessageLog))
		files := messagelog.AttachmentsBeside(path)
		if err := os.CopyFS(files.Dir, os.DirFS(live.Dir)); err != nil {
			t.Fatal(err)
		}
		rep, err := audit.VerifyLog(path, trust, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Four exchanges from ƏMDK, and DİN also answered the honest forged one.
		if want := map[string]int{"EMDK": 8, "DIN": 10}[code]; rep.Records != want || !rep.OK() {
			t.Errorf("%s's message log: %d records, failures %+v", code, rep.Records, rep.Failures)
		}
		chained, tampered := 0, ""
		l, err := messagelog.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		err = l.Each(0, func(r *messagelog.Record, _ []byte) error {
			if r.HashChainResult == nil && len(r.Attachments) == 0 { // the MTOM message without attachments
				return nil
			}
			if r.HashChainResult == nil || r.HashChain == nil || len(r.Attachments) == 0 {
				return fmt.Errorf("record %d (%s) has a hash chain without attachments or the reverse", r.Seq, r.Kind)
			}
			for i, a := range r.Attachments {
				if a.Data != nil || a.File == "" || a.ContentType == "" || files.Check(a) != nil {
					return fmt.Errorf("record %d: attachment %d logged as %q, %d bytes in the record, file %q: %v", r.Seq, i+1, a.ContentType, len(a.Data), a.File, files.Check(a))
				}
				if tampered == "" {
					tampered = filepath.Join(files.Dir, a.File)
				}
			}
			if !strings.Contains(string(r.Signature), `URI="/sig-hashchainresult.xml"`) {
				return fmt.Errorf("record %d: the signature does not reference the hash-chain result", r.Seq)
			}
			chained++
			return nil
		})
		l.Close()
		if err != nil || chained != rep.Records-2 {
			t.Errorf("%s's message log: %v (%d records with a chain)", code, err, chained)
		}
		// A changed attachment file fails its record.
		if err := os.WriteFile(tampered, []byte("%PDF-1.7 forged"), 0o600); err != nil {
			t.Fatal(err)
		}
		if rep, err := audit.VerifyLog(path, trust, nil); err != nil || rep.OK() || !strings.Contains(rep.Failures[0].Reason, "does not match its logged digest") {
			t.Errorf("%s's message log with a changed attachment file: %v %+v", code, err, rep)
		}
	}
}

// TestE2EMalformedMultipart: a multipart/related request the client proxy
// cannot read gets X-Road's Client.* fault there, and nothing reaches the
// provider.
func TestE2EMalformedMultipart(t *testing.T) {
	e := e2eNew(t)
	soap := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	const ct = `multipart/related; type="text/xml"; boundary="b"`
	cases := []struct {
		name, contentType string
		body              []byte
		want              string
	}{
		{"no SOAP part", ct, []byte("preamble\r\n--b--\r\n"), "Client.MissingSoap"},
		{"SOAP part without Content-Type", ct, []byte("--b\r\nContent-ID: <rootpart>\r\n\r\n" + string(soap) + "\r\n--b--\r\n"), "Client.InvalidContentType"},
		{"first part not SOAP", ct, []byte("--b\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--b--\r\n"), "Client.InvalidContentType"},
		{"empty body", ct, []byte{}, "Client.MimeParsingFailed"},
		{"no closing boundary", ct, []byte("--b\r\nContent-Type: text/xml\r\n\r\n" + string(soap)), "Client.MimeParsingFailed"},
		{"no boundary parameter", `multipart/related; type="text/xml"`, []byte("--b\r\nContent-Type: text/xml\r\n\r\n" + string(soap) + "\r\n--b--\r\n"), "Client.MimeParsingFailed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e2eWantFault(t, e2eDo(t, http.MethodPost, e.agency("EMDK").ClientURL, tc.contentType, tc.body), tc.want)
		})
	}
	e.expectCalls(t, "DIN", 0)

	// Attachments over limits.maxAttachmentSize: refused by the client
	// proxy, or, with a larger limit there, by the provider's server.
	big, bct := e2eRelated(soap, []e2eAttachment{e2eRandomAttachment(t, 1, 150<<10), e2eRandomAttachment(t, 2, 60<<10)}, "")
	emdk, din := &e.agency("EMDK").Config.Limits, &e.agency("DIN").Config.Limits
	emdk.MaxAttachmentSize = 200 << 10
	if f := e2eWantFault(t, e2eDo(t, http.MethodPost, e.agency("EMDK").ClientURL, bct, big), "Client.InvalidMessage"); !strings.Contains(f.String, "limits.maxAttachmentSize") {
		t.Errorf("the fault does not name the limit: %s", f.String)
	}
	emdk.MaxAttachmentSize, din.MaxAttachmentSize = 4<<30, 200<<10
	if f := e2eWantFault(t, e2eDo(t, http.MethodPost, e.agency("EMDK").ClientURL, bct, big), "Server.ServerProxy.InvalidMessage"); !strings.Contains(f.String, "limits.maxAttachmentSize") {
		t.Errorf("the fault does not name the limit: %s", f.String)
	}
	din.MaxAttachmentSize = 4 << 30
	e.expectCalls(t, "DIN", 0)

	// The same SOAP part alone in a multipart/related body is answered as
	// the text/xml request would be.
	body, mct := e2eRelated(soap, nil, "")
	e2eWantAnswer(t, e2eDo(t, http.MethodPost, e.agency("EMDK").ClientURL, mct, body), soap)
	e.expectCalls(t, "DIN", 1)
}

// TestE2EAttachmentFileFails: when the provider's server cannot keep an
// attachment's file beside its message log, the request is refused with
// LoggingFailed before the provider IS sees it, and nothing of the
// provider's disk crosses to the client.
func TestE2EAttachmentFileFails(t *testing.T) {
	e := e2eNew(t)
	din := e.agency("DIN")
	files := messagelog.AttachmentsBeside(filepath.Join(din.Config.DataDir, securityserver.FileMessageLog))
	if err := os.WriteFile(files.Dir, []byte("not a directory"), 0o600); err != nil { // as a full or broken disk would
		t.Fatal(err)
	}
	soap := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	body, ct := e2eRelated(soap, []e2eAttachment{e2eRandomAttachment(t, 1, 100<<10)}, "")
	f := e2eWantFault(t, e2eDo(t, http.MethodPost, e.agency("EMDK").ClientURL, ct, body), message.Code(message.ServerProxy, message.LoggingFailed))
	if strings.Contains(f.String, din.Config.DataDir) || strings.Contains(f.String, "directory") {
		t.Errorf("the fault carries a detail of the provider's machine: %q", f.String)
	}
	e.expectCalls(t, "DIN", 0)
	os.Remove(files.Dir) // and once the disk is back, the same message goes through
	soap = e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	body, ct = e2eRelated(soap, []e2eAttachment{e2eRandomAttachment(t, 1, 100<<10)}, "")
	r := e2eDo(t, http.MethodPost, e.agency("EMDK").ClientURL, ct, body)
	if f, ok := message.ParseFault(r.body); r.status != http.StatusOK || ok && strings.Contains(f.Code, "LoggingFailed") {
		t.Fatalf("after the disk came back: HTTP %d %.300s", r.status, r.body)
	}
	e.expectCalls(t, "DIN", 1) // (DİN's getPersonByFin itself refuses attachments: its own signed fault)
	if left, err := os.ReadDir(files.Dir); err != nil || len(left) != 1 {
		t.Fatalf("DİN's attachment files: %d, %v", len(left), err)
	}
}

// trust is the federation's CA certificates as an auditor trusts them.
func (e *e2eEnv) trust(t *testing.T) audit.Trust {
	t.Helper()
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for pool, file := range map[*x509.CertPool]string{trust.Roots: pkiutil.FileRootCert, trust.Intermediates: pkiutil.FileCACert} {
		certs, err := pkiutil.ReadCertificates(filepath.Join(e.f.Dir, "pki", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return trust
}
