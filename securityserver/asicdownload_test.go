package securityserver_test

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/audit/asic"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// unzip reads a zip body into its entries, in order.
func unzip(t *testing.T, body string) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	var names []string
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Name)
		files[f.Name] = b
	}
	return names, files
}

func pemCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return certs
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
}

// TestAsicDownload: X-Road's /asic and /verificationconf on the admin
// listener. After an exchange is time-stamped, ƏMDK's server hands out the
// request's and the response's containers for its client, and they verify
// with nothing but the certificates /verificationconf gives.
func TestAsicDownload(t *testing.T) {
	e := e2eNew(t)
	admin := serveAdmin(t, e.agency("EMDK").Server)
	id := e.newID(t)
	req := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
	e2eWantAnswer(t, e.call(t, "EMDK", req), req)
	log := e.agency("EMDK").Server.MessageLog()
	waitFor(t, "the records to be time-stamped", func() bool {
		res, err := log.Check()
		return err == nil && res.OK() && res.Stamped == res.LastSeq && res.LastSeq >= 2
	})

	client := "&xRoadInstance=AZ&memberClass=GOV&memberCode=EMDK&subsystemCode=realestate"
	asicURL := func(id, extra string) string { return admin + "/asic?queryId=" + url.QueryEscape(id) + client + extra }

	// The certificates an offline auditor needs.
	code, body := get(t, admin+"/verificationconf")
	if code != http.StatusOK {
		t.Fatalf("/verificationconf: %d %s", code, body)
	}
	names, files := unzip(t, body)
	var opts asic.Options
	for _, n := range names {
		switch {
		case strings.Contains(n, "-issuer-"):
			opts.Intermediates = append(opts.Intermediates, pemCerts(t, files[n])...)
		case strings.HasPrefix(n, "verificationconf/ca/"), strings.HasPrefix(n, "verificationconf/tsa/"):
			opts.Anchors = append(opts.Anchors, pemCerts(t, files[n])...)
		}
	}
	if len(opts.Anchors) < 2 || !bytes.Contains(files["verificationconf/README.txt"], []byte("logaudit verify")) || len(files["verificationconf/anchor.xml"]) == 0 {
		t.Fatalf("/verificationconf: entries %v, %d anchors", names, len(opts.Anchors))
	}

	// The OCSP responder's certificate: issued by an approved CA, for OCSP
	// signing, and the one that signed the OCSP response in this
	// server's signatures.
	var responders []*x509.Certificate
	for _, n := range names {
		if strings.HasPrefix(n, "verificationconf/ocsp/") {
			responders = append(responders, pemCerts(t, files[n])...)
		}
	}
	if len(responders) == 0 {
		t.Fatalf("/verificationconf: no OCSP responder certificate in %v", names)
	}
	anchors, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range opts.Anchors {
		anchors.AddCert(c)
	}
	for _, c := range opts.Intermediates {
		inter.AddCert(c)
	}
	for _, c := range responders {
		if _, err := c.Verify(x509.VerifyOptions{Roots: anchors, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}); err != nil {
			t.Errorf("/verificationconf: OCSP responder %q: %v", c.Subject.CommonName, err)
		}
	}

	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, c := range opts.Anchors {
		trust.Roots.AddCert(c)
	}
	for _, c := range opts.Intermediates {
		trust.Intermediates.AddCert(c)
	}
	stored := map[string][]byte{} // the exchange's records, by kind
	log.Each(0, func(r *messagelog.Record, v []byte) error {
		if r.MessageID == id {
			stored[r.Kind.String()] = bytes.Clone(v)
		}
		return nil
	})
	wantValid := func(name string, data []byte) {
		t.Helper()
		// Şlüz's own check: entries against the logged record, signature,
		// signer, OCSP, the time-stamp hash chain and the batch's token,
		// all against /verificationconf.
		kind := "request"
		if strings.Contains(name, "response") {
			kind = "response"
		}
		if r, failed := audit.VerifyContainer(data, stored[kind], trust); r == nil || r.MessageID != id || len(failed) > 0 {
			t.Errorf("%s: %v", name, failed)
		}
		if _, failed := audit.VerifyContainer(data, stored[kind], audit.Trust{Roots: x509.NewCertPool()}); len(failed) == 0 {
			t.Errorf("%s: valid without the federation's certificates", name)
		}
		// X-Road's checks all pass with the same certificates: format,
		// signature, the time-stamp hash chain and token, OCSP, trust.
		if rep := asic.Verify(data, opts); !rep.Valid() {
			var sb strings.Builder
			rep.WriteText(&sb)
			t.Errorf("%s: asic.Verify:\n%s", name, sb.String())
		}
	}

	// Both containers of the exchange, named as X-Road names them.
	resp, err := http.Get(asicURL(id, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="`+id+`.zip"` {
		t.Fatalf("/asic: %d %v %.200s", resp.StatusCode, resp.Header, b)
	}
	names, files = unzip(t, string(b))
	if len(names) != 2 || !strings.HasPrefix(names[0], id+"-request-") || !strings.HasPrefix(names[1], id+"-response-") {
		t.Fatalf("/asic entries: %v", names)
	}
	for _, n := range names {
		if !strings.HasSuffix(n, ".asice") {
			t.Errorf("entry %s: not .asice", n)
		}
		wantValid(n, files[n])
	}

	// requestOnly and responseOnly: a zip of that side only.
	for _, c := range []struct{ flag, kind string }{{"&requestOnly", "request"}, {"&responseOnly", "response"}} {
		code, body := get(t, asicURL(id, c.flag))
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", c.flag, code, body)
		}
		names, _ := unzip(t, body)
		if len(names) != 1 || !strings.HasPrefix(names[0], id+"-"+c.kind+"-") {
			t.Errorf("%s: entries %v", c.flag, names)
		}
	}

	// unique with responseOnly: the container itself, not a zip of it.
	resp, err = http.Get(asicURL(id, "&responseOnly&unique"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.etsi.asic-e+zip" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), id+"-response-") {
		t.Fatalf("unique: %d %v %.200s", resp.StatusCode, resp.Header, b)
	}
	wantValid("unique response", b)

	// Refusals, with X-Road's statuses and texts.
	for _, c := range []struct {
		url  string
		code int
		body string
	}{
		{asicURL("no-such-query", ""), http.StatusNotFound, "No signed documents found"},
		// The records are the client's: the provider's identifier finds nothing.
		{admin + "/asic?queryId=" + url.QueryEscape(id) + "&xRoadInstance=AZ&memberClass=GOV&memberCode=DIN&subsystemCode=population", http.StatusNotFound, "No signed documents found"},
		// Without subsystemCode the member itself is meant, not its subsystems.
		{admin + "/asic?queryId=" + url.QueryEscape(id) + "&xRoadInstance=AZ&memberClass=GOV&memberCode=EMDK", http.StatusNotFound, "No signed documents found"},
		{admin + "/asic?queryId=" + url.QueryEscape(id) + "&xRoadInstance=AZ&memberClass=GOV", http.StatusBadRequest, `Parameter "memberCode" must be specified.`},
		{admin + "/asic?xRoadInstance=AZ&memberClass=GOV&memberCode=EMDK", http.StatusBadRequest, `Parameter "queryId" must be specified.`},
		{asicURL(id, "&requestOnly&responseOnly"), http.StatusBadRequest, `Parameters "requestOnly" and "responseOnly" cannot be used at the same time.`},
		{asicURL(id, "&unique"), http.StatusBadRequest, `Parameter "unique" not applicable without "requestOnly" or "responseOnly".`},
	} {
		code, body := get(t, c.url)
		if code != c.code || strings.TrimSpace(body) != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.url, code, body, c.code, c.body)
		}
	}
}

// TestAsicDownloadAttachment: /asic gives a request with an attachment as
// a container whose attachment1 is the attachment's bytes, read from the
// message log's attachment file, and the container verifies through the
// hash chain.
func TestAsicDownloadAttachment(t *testing.T) {
	e := e2eNew(t)
	admin := serveAdmin(t, e.agency("EMDK").Server)
	id := e.newID(t)
	soap := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
	att := e2eRandomAttachment(t, 1, 200<<10) // spooled on its way, then a file beside the log
	body, ct := e2eRelated(soap, []e2eAttachment{att}, "")
	// DİN's getPersonByFin takes no attachments: its own fault comes back
	// signed, and both messages are logged.
	e2eDo(t, http.MethodPost, e.agency("EMDK").ClientURL, ct, body)
	log := e.agency("EMDK").Server.MessageLog()
	waitFor(t, "the records to be time-stamped", func() bool {
		res, err := log.Check()
		return err == nil && res.OK() && res.Stamped == res.LastSeq && res.LastSeq >= 2
	})
	code, container := get(t, admin+"/asic?queryId="+url.QueryEscape(id)+"&xRoadInstance=AZ&memberClass=GOV&memberCode=EMDK&subsystemCode=realestate&requestOnly&unique")
	if code != http.StatusOK {
		t.Fatalf("/asic: %d %.300s", code, container)
	}
	_, files := unzip(t, container)
	if !bytes.Equal(files[audit.EntryAttachment+"1"], att.data) || files[audit.EntrySigChain] == nil {
		t.Fatalf("the container's attachment1 has %d bytes, want the %d sent", len(files[audit.EntryAttachment+"1"]), len(att.data))
	}
	var stored []byte // the request's record, which the X-Road container does not carry
	log.Each(0, func(r *messagelog.Record, v []byte) error {
		if r.MessageID == id && r.Kind == messagelog.Request {
			stored = bytes.Clone(v)
		}
		return nil
	})
	trust := e.trust(t)
	if r, failed := audit.VerifyContainer([]byte(container), stored, trust); r == nil || r.MessageID != id || len(failed) > 0 || len(r.Attachments) != 1 || r.Attachments[0].File == "" {
		t.Fatalf("the container does not verify: %v", failed)
	}
}
