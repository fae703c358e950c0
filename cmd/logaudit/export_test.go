package main

import (
	"archive/zip"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// xroadEntries are the entries X-Road's AsicHelper.write writes for a
// message without attachments whose record was time-stamped in a batch,
// in its order (AsicContainerEntries.ALL_ENTRIES), and the media types its
// OpenDocument manifest gives them.
var xroadEntries = []string{"mimetype", "message.xml", "META-INF/signatures.xml", "ts-hashchainresult.xml", "ts-hashchain.xml",
	"META-INF/manifest.xml", "META-INF/ASiCManifest.xml", "META-INF/timestamp.tst"}

var xroadMediaTypes = map[string]string{"/": "application/vnd.etsi.asic-e+zip", "message.xml": "text/xml",
	"ts-hashchainresult.xml": "text/xml", "ts-hashchain.xml": "text/xml"}

// TestExportedContainerVerifiesWithIndependentTools: an exported exchange
// has exactly X-Road's entries, in X-Road's order, with the media types
// X-Road's manifest gives them, and passes the README's independent
// recipe (checkIndependent) using only the federation CA files. A changed
// signature document no longer reaches the time-stamp.
func TestExportedContainerVerifiesWithIndependentTools(t *testing.T) {
	_, dinLog, cas := federationLogs(t)
	pkiDir := filepath.Dir(cas[1])
	l, err := messagelog.OpenReadOnly(dinLog)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	l.Each(0, func(r *messagelog.Record, _ []byte) error {
		if id == "" && len(r.Attachments) == 0 {
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
	for _, kind := range []string{"request", "response"} {
		container := filepath.Join(out, id+"-"+kind+".asice")
		names := entryNames(t, container)
		if strings.Join(names, " ") != strings.Join(xroadEntries, " ") {
			t.Fatalf("%s: entries\n%v\nwant X-Road's\n%v", kind, names, xroadEntries)
		}
		dir := filepath.Join(out, kind)
		unzip(t, container, dir)
		manifest, _ := os.ReadFile(filepath.Join(dir, "META-INF", "manifest.xml"))
		got := map[string]string{}
		for _, m := range regexp.MustCompile(`<manifest:file-entry manifest:media-type="([^"]+)" manifest:full-path="([^"]+)"/>`).FindAllStringSubmatch(string(manifest), -1) {
			got[m[2]] = m[1]
		}
		if len(got) != len(xroadMediaTypes) {
			t.Errorf("%s: manifest.xml lists %v, want %v", kind, got, xroadMediaTypes)
		}
		for name, mt := range xroadMediaTypes {
			if got[name] != mt {
				t.Errorf("%s: manifest.xml gives %s the media type %q, want %q", kind, name, got[name], mt)
			}
		}
		asicManifest, _ := os.ReadFile(filepath.Join(dir, "META-INF", "ASiCManifest.xml"))
		if !strings.Contains(string(asicManifest), `<asic:SigReference URI="META-INF/timestamp.tst" MimeType="vnd.etsi.timestamp-token"/>`) ||
			!strings.Contains(string(asicManifest), `<asic:DataObjectReference URI="ts-hashchainresult.xml" MimeType="text/xml">`) {
			t.Errorf("%s: ASiCManifest.xml:\n%s", kind, asicManifest)
		}
		checkIndependent(t, container, pkiDir)
	}
	// A container whose signature document was changed no longer reaches
	// its time-stamp: logaudit proof and the script both say so.
	tampered := filepath.Join(out, "tampered.asice")
	rewriteEntry(t, filepath.Join(out, id+"-request.asice"), tampered, "META-INF/signatures.xml", func(b []byte) []byte {
		return []byte(strings.Replace(string(b), "<ds:SignatureValue", "<ds:SignatureValue ", 1))
	})
	if code, _, errOut := runCLI("proof", tampered); code != cli.ExitError || !strings.Contains(errOut, "/META-INF/signatures.xml") {
		t.Fatalf("proof of a tampered container: %d %s", code, errOut)
	}
	python := testtool.Require(t, "python3")
	if code, got := runChainScript(t, python, tampered); code != 1 || !strings.Contains(got, "FAIL time-stamp chain: /META-INF/signatures.xml") {
		t.Fatalf("verify-hashchain.py on a changed signatures.xml: exit %d\n%s", code, got)
	}
}

// entryNames returns a container's entry names in archive order, after
// checking that it is written as X-Road writes it: every entry deflated,
// the zip comment naming the mimetype.
func entryNames(t *testing.T, container string) []string {
	t.Helper()
	zr, err := zip.OpenReader(container)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Method != zip.Deflate {
			t.Errorf("%s: entry %s stored, X-Road deflates every entry", container, f.Name)
		}
	}
	if zr.Comment != "mimetype=application/vnd.etsi.asic-e+zip" {
		t.Errorf("%s: zip comment %q", container, zr.Comment)
	}
	return names
}

// checkIndependent runs the README's auditor recipe on an exported
// container, with no Şlüz code and only the federation's CA files in
// pkiDir: xmlsec1 over the signature (its reference: message.xml, or
// sig-hashchainresult.xml for a message with attachments),
// scripts/verify-hashchain.py over the hash chains (the time-stamp chain
// always), openssl ts over ts-hashchainresult.xml, and openssl ocsp over
// the OCSP response cut out of signatures.xml by the README's pipeline.
func checkIndependent(t *testing.T, container, pkiDir string) {
	t.Helper()
	xmlsec := testtool.Require(t, "xmlsec1")
	openssl := testtool.Require(t, "openssl")
	python := testtool.Require(t, "python3")
	dir := filepath.Join(t.TempDir(), "c")
	unzip(t, container, dir)
	if mt, _ := os.ReadFile(filepath.Join(dir, "mimetype")); string(mt) != audit.MimeTypeASiCE {
		t.Errorf("%s: mimetype %q", container, mt)
	}
	ref := "message.xml"
	if _, err := os.Stat(filepath.Join(dir, "sig-hashchainresult.xml")); err == nil {
		ref = "sig-hashchainresult.xml"
	}
	root, ca := filepath.Join(pkiDir, "root-ca.pem"), filepath.Join(pkiDir, "ca.pem")
	cmd := exec.Command(xmlsec, "--verify", "--url-map:/"+ref, ref, "--trusted-pem", root, "--untrusted-pem", ca, "META-INF/signatures.xml")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "OK") {
		t.Fatalf("%s: xmlsec1 --verify: %v\n%s", container, err, b)
	}
	if code, got := runChainScript(t, python, dir); code != 0 || strings.Contains(got, "FAIL") ||
		!strings.Contains(got, "time-stamp chain") || !strings.Contains(got, "computes the digest in ts-hashchainresult.xml") {
		t.Fatalf("%s: verify-hashchain.py: exit %d\n%s", container, code, got)
	}
	b, err := exec.Command(openssl, "ts", "-verify", "-token_in", "-in", filepath.Join(dir, "META-INF", "timestamp.tst"),
		"-data", filepath.Join(dir, "ts-hashchainresult.xml"), "-CAfile", root, "-untrusted", ca).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Verification: OK") {
		t.Fatalf("%s: openssl ts -verify: %v\n%s", container, err, b)
	}
	cut := exec.Command("sh", "-c", `tr -d '\r\n' < META-INF/signatures.xml \
  | sed -n 's/.*<xades:EncapsulatedOCSPValue[^>]*>\([^<]*\)<\/xades:EncapsulatedOCSPValue>.*/\1/p' | base64 -d > ocsp.der`)
	cut.Dir = dir
	if b, err := cut.CombinedOutput(); err != nil {
		t.Fatalf("%s: cutting the OCSP response out of signatures.xml: %v\n%s", container, err, b)
	}
	b, err = exec.Command(openssl, "ocsp", "-respin", filepath.Join(dir, "ocsp.der"), "-CAfile", root, "-verify_other", ca, "-resp_text").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "Cert Status: good") || !strings.Contains(string(b), "Response verify OK") {
		t.Fatalf("%s: openssl ocsp -respin: %v\n%s", container, err, b)
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
// verifies with xmlsec1 over the hash-chain result, the proof check
// notices a changed attachment, and scripts/verify-hashchain.py (the
// README's hash-chain step) accepts the chain and names what a tampered
// attachment, chain or result changed.
func TestExportedAttachmentContainer(t *testing.T) {
	const id = "export-attachment-1"
	attachment := "%PDF-1.7 quarterly report B1\r\n"
	attachment2 := "<report quarter=\"2026Q3\"/>"
	_, dinLog, cas := federationLogsAfter(t, func(f *localfed.Federation) {
		client, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
		service, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
		soap := localfed.RequestXML(client, service, id, "AZTEST0001", "<fin>5ZJ8K2L</fin>")
		body := "--b\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n" + string(soap) +
			"\r\n--b\r\nContent-Type: application/pdf\r\nContent-ID: <report>\r\n\r\n" + attachment +
			"\r\n--b\r\nContent-Type: application/xml\r\nContent-ID: <data>\r\n\r\n" + attachment2 + "\r\n--b--\r\n"
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
	if got, err := os.ReadFile(filepath.Join(dir, "attachment2")); err != nil || string(got) != attachment2 {
		t.Fatalf("attachment2: %q %v", got, err)
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
	checkIndependent(t, container, pkiDir)
	// X-Road's entries for a message with attachments, in X-Road's order.
	names := entryNames(t, container)
	want := "mimetype message.xml META-INF/signatures.xml sig-hashchainresult.xml sig-hashchain.xml ts-hashchainresult.xml ts-hashchain.xml " +
		"META-INF/manifest.xml META-INF/ASiCManifest.xml META-INF/timestamp.tst attachment1 attachment2"
	if strings.Join(names, " ") != want {
		t.Errorf("entries %v, want X-Road's %s", names, want)
	}
	manifest, _ := os.ReadFile(filepath.Join(dir, "META-INF", "manifest.xml"))
	for _, e := range []string{`"text/xml" manifest:full-path="sig-hashchain.xml"`, `"application/octet-stream" manifest:full-path="attachment2"`} {
		if !strings.Contains(string(manifest), e) {
			t.Errorf("manifest.xml lacks %s:\n%s", e, manifest)
		}
	}
	// A changed attachment fails X-Road's own check of the container.
	tampered := filepath.Join(out, "tampered.asice")
	rewriteEntry(t, container, tampered, "attachment1", func(b []byte) []byte { return append(b, '!') })
	if code, out, errOut := runCLI("verify", "--xroad", tampered); code != cli.ExitError || !strings.Contains(out+errOut, "signature=failed") {
		t.Fatalf("verify --xroad of a container with a changed attachment: %d %s %s", code, out, errOut)
	}
	// and the proof check, which follows the signature hash chain.
	if code, _, errOut := runCLI("proof", tampered); code != cli.ExitError || !strings.Contains(errOut, "/attachment1") {
		t.Fatalf("proof of a container with a changed attachment: %d %s", code, errOut)
	}
	checkChainScript(t, container, dir, out)
}

// chainScript is the README's hash-chain check, from this directory.
var chainScript = filepath.Join("..", "..", "scripts", "verify-hashchain.py")

// runChainScript runs the README's hash-chain step on a container (a
// .asice file or the directory it was unzipped into) and returns its exit
// code and output.
func runChainScript(t *testing.T, python, target string) (int, string) {
	t.Helper()
	b, err := exec.Command(python, chainScript, target).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v", chainScript, target, err)
	}
	if err != nil {
		return ee.ExitCode(), string(b)
	}
	return 0, string(b)
}

// checkChainScript: scripts/verify-hashchain.py, the README's hash-chain
// step, accepts the exported container (the file and the unzipped
// directory, as the README shows them), and refuses it with a changed
// attachment, with the chain's attachments swapped and with a changed
// hash-chain result, naming the file and the digests that differ.
func checkChainScript(t *testing.T, container, dir, out string) {
	t.Helper()
	python := testtool.Require(t, "python3")
	for _, target := range []string{container, dir} {
		code, got := runChainScript(t, python, target)
		if code != 0 || strings.Contains(got, "FAIL") ||
			!strings.Contains(got, "ok   signature chain: attachment2 (") ||
			!strings.Contains(got, "computes the digest in sig-hashchainresult.xml") ||
			!strings.Contains(got, "every input (/attachment1, /attachment2, /message.xml)") {
			t.Fatalf("verify-hashchain.py %s: exit %d\n%s", target, code, got)
		}
	}
	cases := []struct{ entry, want, file string }{
		{"attachment1", `FAIL signature chain: /attachment1 in sig-hashchain.xml#STEP0 is digest `, ", the file attachment1 has digest "},
		// The first DataRef, attachment1's digest, now names attachment2.
		{"sig-hashchain.xml", `FAIL signature chain: /attachment2 in sig-hashchain.xml#STEP0 is digest `, ", the file attachment2 has digest "},
		{"sig-hashchainresult.xml", `FAIL signature chain: sig-hashchainresult.xml says the chain's top is `, "; the chain computes "},
	}
	for i, c := range cases {
		bad := filepath.Join(out, "chain-tampered-"+strconv.Itoa(i)+".asice")
		rewriteEntry(t, container, bad, c.entry, func(b []byte) []byte {
			switch c.entry {
			case "attachment1":
				return append(b, '!')
			case "sig-hashchain.xml": // the attachments' order swapped
				s := strings.Replace(string(b), `"/attachment1"`, `"/attachmentX"`, 1)
				s = strings.Replace(s, `"/attachment2"`, `"/attachment1"`, 1)
				return []byte(strings.Replace(s, `"/attachmentX"`, `"/attachment2"`, 1))
			default: // another top digest
				return regexp.MustCompile(`<DigestValue>.`).ReplaceAllFunc(b, func(m []byte) []byte {
					if m[len(m)-1] == 'A' {
						return []byte("<DigestValue>B")
					}
					return []byte("<DigestValue>A")
				})
			}
		})
		code, got := runChainScript(t, python, bad)
		if code != 1 || !strings.Contains(got, c.want) || !strings.Contains(got, c.file) {
			t.Errorf("verify-hashchain.py with %s tampered: exit %d, want 1 and %q\n%s", c.entry, code, c.want, got)
		}
	}
}

// TestChainScriptOnXRoadContainers: scripts/verify-hashchain.py accepts
// X-Road's own valid containers with hash chains (a batch-signed message
// whose attachment was not logged, time-stamp chains over a SOAP message
// with attachments, a REST message and a batch) and refuses the one whose
// signed chain no longer matches its message, naming message.xml.
func TestChainScriptOnXRoadContainers(t *testing.T) {
	python := testtool.Require(t, "python3")
	dir := t.TempDir()
	valid := []string{"valid-signed-hashchain.asice", "valid-non-batch-soap-attachments.asice", "valid-non-batch-rest.asice", "valid-batch-ts.asice"}
	var paths []string
	for _, f := range append(valid, "invalid-signed-hashchain.asice") {
		paths = append(paths, verifierCLI+f)
	}
	copyXRoad(t, dir, paths...)
	for _, f := range valid {
		code, got := runChainScript(t, python, filepath.Join(dir, f))
		if code != 0 || strings.Contains(got, "FAIL") || !strings.Contains(got, "ok   ") {
			t.Errorf("%s: exit %d\n%s", f, code, got)
		}
	}
	if code, got := runChainScript(t, python, filepath.Join(dir, "valid-signed-hashchain.asice")); !strings.Contains(got, "/attachment1 in sig-hashchain.xml#STEP0 is not in the container") {
		t.Errorf("valid-signed-hashchain.asice: the unlogged attachment is not named: exit %d\n%s", code, got)
	}
	if code, got := runChainScript(t, python, filepath.Join(dir, "invalid-signed-hashchain.asice")); code != 1 ||
		!strings.Contains(got, "FAIL signature chain: /message.xml in sig-hashchain.xml#STEP0 is digest ") || !strings.Contains(got, "the file message.xml has digest") {
		t.Errorf("invalid-signed-hashchain.asice: exit %d\n%s", code, got)
	}
}
