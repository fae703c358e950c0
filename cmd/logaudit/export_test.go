package main

import (
	"archive/zip"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// TestExportedContainerVerifiesWithIndependentTools: an exported exchange
// verifies with xmlsec1 (signature) and openssl ts (token over the Merkle
// root the proof leads to), using only the federation CA files.
func TestExportedContainerVerifiesWithIndependentTools(t *testing.T) {
	_, dinLog, cas := federationLogs(t)
	pkiDir := filepath.Dir(cas[1])
	l, err := messagelog.OpenReadOnly(dinLog)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	l.Each(0, func(r *messagelog.Record, _ []byte) error {
		if id == "" {
			id = r.MessageID
		}
		return nil
	})
	l.Close()
	out := t.TempDir()
	code, stdout, errOut := runCLI("export", "--log", dinLog, "--id", id, "--out", out)
	if code != cli.ExitOK || strings.Count(stdout, "wrote") != 2 {
		t.Fatalf("export: %d %s %s", code, stdout, errOut)
	}
	xmlsec := testtool.Require(t, "xmlsec1")
	openssl := testtool.Require(t, "openssl")
	for _, kind := range []string{"request", "response"} {
		container := filepath.Join(out, id+"-"+kind+".asice")
		dir := filepath.Join(out, kind)
		unzip(t, container, dir)
		if mt, _ := os.ReadFile(filepath.Join(dir, "mimetype")); string(mt) != audit.MimeTypeASiCE {
			t.Errorf("%s: mimetype %q", kind, mt)
		}
		cmd := exec.Command(xmlsec, "--verify", "--url-map:/message.xml", "message.xml",
			"--trusted-pem", filepath.Join(pkiDir, "root-ca.pem"), "--untrusted-pem", filepath.Join(pkiDir, "ca.pem"), "META-INF/signatures.xml")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "OK") {
			t.Fatalf("%s: xmlsec1 --verify: %v\n%s", kind, err, b)
		}
		code, stdout, errOut := runCLI("proof", container)
		root := regexp.MustCompile(`Merkle root ([0-9a-f]{64})`).FindStringSubmatch(stdout)
		if code != cli.ExitOK || root == nil {
			t.Fatalf("%s: proof: %d %s %s", kind, code, stdout, errOut)
		}
		b, err := exec.Command(openssl, "ts", "-verify", "-token_in", "-in", filepath.Join(dir, "META-INF", "timestamp.tst"), "-digest", root[1], "-sha256",
			"-CAfile", filepath.Join(pkiDir, "root-ca.pem"), "-untrusted", filepath.Join(pkiDir, "ca.pem")).CombinedOutput()
		if err != nil || !strings.Contains(string(b), "Verification: OK") {
			t.Fatalf("%s: openssl ts -verify: %v\n%s", kind, err, b)
		}
	}
	// A container whose message was changed no longer passes the proof check.
	tampered := filepath.Join(out, "tampered.asice")
	rewriteEntry(t, filepath.Join(out, id+"-request.asice"), tampered, "message.xml", func(b []byte) []byte {
		return []byte(strings.Replace(string(b), "5ZJ8K2L", "5ZJ8K2M", 1))
	})
	if code, _, errOut := runCLI("proof", tampered); code != cli.ExitError || !strings.Contains(errOut, "not the one in its logged record") {
		t.Fatalf("proof of a tampered container: %d %s", code, errOut)
	}
}

func unzip(t *testing.T, src, dst string) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		p := filepath.Join(dst, f.Name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		rc, _ := f.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		os.WriteFile(p, data, 0o644)
	}
}

func rewriteEntry(t *testing.T, src, dst, name string, fn func([]byte) []byte) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, _ := os.Create(dst)
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range zr.File {
		rc, _ := e.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		if e.Name == name {
			data = fn(data)
		}
		w, _ := zw.Create(e.Name)
		w.Write(data)
	}
	zw.Close()
}

// TestExportedAttachmentContainer: a request with an attachment is logged
// by the provider's server with its hash chain; logaudit verify accepts
// the log, and the exported container holds sig-hashchainresult.xml,
// sig-hashchain.xml and attachment1 beside message.xml, the signature
// verifies with xmlsec1 over the hash-chain result, and the proof check
// notices a changed attachment.
func TestExportedAttachmentContainer(t *testing.T) {
	const id = "export-attachment-1"
	attachment := "%PDF-1.7 quarterly report B1\r\n"
	_, dinLog, cas := federationLogsAfter(t, func(f *localfed.Federation) {
		client, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
		service, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
		soap := localfed.RequestXML(client, service, id, "AZTEST0001", "<fin>5ZJ8K2L</fin>")
		body := "--b\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n" + string(soap) +
			"\r\n--b\r\nContent-Type: application/pdf\r\nContent-ID: <report>\r\n\r\n" + attachment + "\r\n--b--\r\n"
		resp, err := http.Post(f.Agency("EMDK").ClientURL, `multipart/related; type="text/xml"; boundary=b`, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	})
	if code, out, errOut := runCLI(append([]string{"verify", "--log", dinLog}, cas...)...); code != cli.ExitOK || !strings.Contains(out, "OK") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	out := t.TempDir()
	if code, stdout, errOut := runCLI("export", "--log", dinLog, "--id", id, "--out", out); code != cli.ExitOK {
		t.Fatalf("export: %d %s %s", code, stdout, errOut)
	}
	container := filepath.Join(out, id+"-request.asice")
	dir := filepath.Join(out, "request")
	unzip(t, container, dir)
	if got, err := os.ReadFile(filepath.Join(dir, "attachment1")); err != nil || string(got) != attachment {
		t.Fatalf("attachment1: %q %v", got, err)
	}
	for _, name := range []string{"sig-hashchainresult.xml", "sig-hashchain.xml", "message.xml"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	xmlsec := testtool.Require(t, "xmlsec1")
	pkiDir := filepath.Dir(cas[1])
	cmd := exec.Command(xmlsec, "--verify", "--url-map:/sig-hashchainresult.xml", "sig-hashchainresult.xml",
		"--trusted-pem", filepath.Join(pkiDir, "root-ca.pem"), "--untrusted-pem", filepath.Join(pkiDir, "ca.pem"), "META-INF/signatures.xml")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "OK") {
		t.Fatalf("xmlsec1 --verify over the hash-chain result: %v\n%s", err, b)
	}
	if code, stdout, errOut := runCLI("proof", container); code != cli.ExitOK {
		t.Fatalf("proof: %d %s %s", code, stdout, errOut)
	}
	tampered := filepath.Join(out, "tampered.asice")
	rewriteEntry(t, container, tampered, "attachment1", func(b []byte) []byte { return append(b, '!') })
	if code, _, errOut := runCLI("proof", tampered); code != cli.ExitError || !strings.Contains(errOut, "attachment 1 is not the one") {
		t.Fatalf("proof of a container with a changed attachment: %d %s", code, errOut)
	}
}
