package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
)

// TestRESTExchanges: REST exchanges (PR-REST) are in the message log like
// SOAP ones. logaudit verify accepts the log; replay lists them; show
// prints their header parts; an exported container holds the header part
// as message.xml and the body as attachment1 with the hash chain (or, for
// a request without a body, the header part signed directly), xmlsec1
// verifies its signature and the proof check notices a changed body.
func TestRESTExchanges(t *testing.T) {
	const withBody, noBody = "export-rest-post", "export-rest-get"
	report := `{"voen":"1400023451","year":2025,"quarter":2,"form":"B2","insuredCount":40,"totalContributions":"31200.00"}`
	_, dinLog, cas := federationLogsAfter(t, func(f *localfed.Federation) {
		base := strings.TrimSuffix(f.Agency("DIN").ClientURL, "/") + "/r1/AZ/GOV/"
		for _, c := range []struct{ id, method, target, body string }{
			{withBody, http.MethodPost, "DSMF/insurance/insurerReports/quarterly-reports", report},
			{noBody, http.MethodGet, "EMDK/realestate/realEstateRegistry/extract/5ZJ8K2L", ""},
		} {
			req, _ := http.NewRequest(c.method, base+c.target, strings.NewReader(c.body))
			req.Header.Set("X-Road-Client", "AZ/GOV/DIN/population")
			req.Header.Set("X-Road-Id", c.id)
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 || resp.Header.Get("X-Road-Id") != c.id {
				t.Fatalf("%s: HTTP %d %s", c.id, resp.StatusCode, resp.Header.Get("X-Road-Error"))
			}
		}
	})
	if code, out, errOut := runCLI(append([]string{"verify", "--log", dinLog}, cas...)...); code != cli.ExitOK || !strings.Contains(out, "OK") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI("replay", "--log", dinLog); code != cli.ExitOK || strings.Count(out, withBody) != 2 || strings.Count(out, noBody) != 2 ||
		!strings.Contains(out, "AZ/GOV/DSMF/insurance/insurerReports") {
		t.Fatalf("replay: exit %d %s\n%s", code, errOut, out)
	}
	code, out, errOut := runCLI("show", "--log", dinLog, "--id", withBody)
	if code != cli.ExitOK || !strings.Contains(out, "POST\r\n/r1/AZ/GOV/DSMF/insurance/insurerReports/quarterly-reports\r\n") ||
		!strings.Contains(out, "201\r\nCreated\r\n") || !strings.Contains(out, "x-road-request-hash:") {
		t.Fatalf("show: exit %d %s\n%q", code, errOut, out)
	}

	out = t.TempDir()
	for _, id := range []string{withBody, noBody} {
		if code, stdout, errOut := runCLI("export", "--log", dinLog, "--id", id, "--out", out); code != cli.ExitOK || strings.Count(stdout, "wrote") != 2 {
			t.Fatalf("export %s: %d %s %s", id, code, stdout, errOut)
		}
	}
	xmlsec := testtool.Require(t, "xmlsec1")
	pkiDir := filepath.Dir(cas[1])
	xmlsecVerify := func(dir, signed string) {
		t.Helper()
		cmd := exec.Command(xmlsec, "--verify", "--url-map:/"+signed, signed,
			"--trusted-pem", filepath.Join(pkiDir, "root-ca.pem"), "--untrusted-pem", filepath.Join(pkiDir, "ca.pem"), "META-INF/signatures.xml")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "OK") {
			t.Fatalf("xmlsec1 --verify in %s over %s: %v\n%s", dir, signed, err, b)
		}
	}
	for _, c := range []struct {
		id, kind, head, body string
	}{
		{withBody, "request", "POST\r\n/r1/AZ/GOV/DSMF/insurance/insurerReports/quarterly-reports\r\n", report},
		{withBody, "response", "201\r\nCreated\r\n", `"registrationNumber":"DSMF-2025-R2-B2-`},
		{noBody, "request", "GET\r\n/r1/AZ/GOV/EMDK/realestate/realEstateRegistry/extract/5ZJ8K2L\r\n", ""},
		{noBody, "response", "200\r\nOK\r\n", `"fin":"5ZJ8K2L"`},
	} {
		container := filepath.Join(out, c.id+"-"+c.kind+".asice")
		dir := filepath.Join(out, c.id+"-"+c.kind)
		unzip(t, container, dir)
		head, err := os.ReadFile(filepath.Join(dir, "message.xml"))
		if err != nil || !strings.HasPrefix(string(head), c.head) || !strings.Contains(strings.ToLower(string(head)), "x-road-id:"+c.id+"\r\n") {
			t.Fatalf("%s: message.xml %q %v, want the header part", container, head, err)
		}
		body, err := os.ReadFile(filepath.Join(dir, "attachment1"))
		switch {
		case c.body == "":
			if err == nil {
				t.Fatalf("%s: attachment1 %q for a message without a body", container, body)
			}
			xmlsecVerify(dir, "message.xml")
		case err != nil || !strings.Contains(string(body), c.body):
			t.Fatalf("%s: attachment1 %q %v, want the body", container, body, err)
		default:
			xmlsecVerify(dir, "sig-hashchainresult.xml")
		}
		if code, stdout, errOut := runCLI("proof", container); code != cli.ExitOK {
			t.Fatalf("proof %s: %d %s %s", container, code, stdout, errOut)
		}
	}
	tampered := filepath.Join(out, "tampered.asice")
	rewriteEntry(t, filepath.Join(out, withBody+"-request.asice"), tampered, "attachment1", func(b []byte) []byte { return append(b, ' ') })
	if code, _, errOut := runCLI("proof", tampered); code != cli.ExitError || !strings.Contains(errOut, "signature hash chain") || !strings.Contains(errOut, "/attachment1") {
		t.Fatalf("proof of a container with a changed body: %d %s", code, errOut)
	}
}
