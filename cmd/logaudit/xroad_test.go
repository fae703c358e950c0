package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/securityserver/audit/asic"
	"github.com/sluz/sluz/securityserver/hashchain"
	"github.com/sluz/sluz/securityserver/signature"
)

// xroadJSON runs verify --xroad ... --json and decodes its report.
func xroadJSON(t *testing.T, args ...string) (int, xroadResult, string) {
	t.Helper()
	code, out, errOut := runCLI(append(append([]string{"verify"}, args...), "--json")...)
	var res xroadResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("verify %v: exit %d, not JSON (%v):\n%s%s", args, code, err, out, errOut)
	}
	return code, res, errOut
}

// firstFailure is the name and code of a report's first failed check, ""
// when none failed.
func firstFailure(c xroadContainer) string {
	if c.Report == nil {
		return "unreadable"
	}
	for _, n := range c.Report.Checks() {
		if n.Check.Status == asic.Failed {
			return n.Name + ":" + n.Check.Code
		}
	}
	return ""
}

// copyXRoad copies X-Road's test files into dir under their base names,
// or skips t when X-Road's repository is absent.
func copyXRoad(t *testing.T, dir string, paths ...string) {
	t.Helper()
	repo := testtool.XRoadRepo(t)
	for _, p := range paths {
		b, err := testtool.ReadXRoad(repo, p)
		if err != nil {
			t.Skipf("%s is not readable from X-Road's repository at %s: %v", p, repo, err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	asicCore    = "src/lib/asic-core/src/test/resources/"
	verifierCLI = "src/tool/asic-verifier-cli/src/test/resources/"
	archiveVer  = "src/addons/messagelog/messagelog-archive-verifier/src/test/resources/"
	logArchive  = "src/addons/messagelog/messagelog-addon/src/test/resources/logarchive/"
)

// TestXRoadContainers: verify --xroad over a directory of X-Road's own
// test containers gives each its outcome (the first failed check, or none
// and trust "anchor not given"), exits 1 for the invalid ones and 3 for
// the valid ones alone; with the CA and TSA certificates of X-Road's test
// global configuration, the valid ones exit 0.
func TestXRoadContainers(t *testing.T) {
	want := map[string]string{ // container: first failed check and its code
		"valid-signed-message-with-attachments.asice": "",
		"no-mimetype.asice":                           "format:mimetype_not_found",
		"no-message.asice":                            "format:message_not_found",
		"no-signature.asice":                          "format:signature_not_found",
		"not-asic.asice":                              "format:not_zip",
	}
	vcli := map[string]string{
		"valid-signed-message.asice":               "",
		"valid-non-batch-rest.asice":               "",
		"valid-non-batch-soap-attachments.asice":   "",
		"valid-signed-hashchain.asice":             "",
		"valid-batch-ts.asice":                     "",
		"wrong-message.asice":                      "signature:digest_mismatch",
		"invalid-digest.asice":                     "signature:digest_mismatch",
		"invalid-signed-hashchain.asice":           "signature:invalid_hash_chain_ref",
		"invalid-hashchain-modified-message.asice": "format:unexpected_entry",
		"invalid-not-signed-hashchain.asice":       "format:unexpected_entry",
		// Also signature malformed_signature (the library's test).
		"invalid-incorrect-references.asice": "format:timestamp_without_hashchain",
		// Also timestamp malformed_hash_chain.
		"invalid-ts-hashchainresult.asice": "signature:digest_mismatch",
	}
	all, valid := t.TempDir(), t.TempDir()
	var paths []string
	for f := range want {
		paths = append(paths, asicCore+f)
	}
	for f, w := range vcli {
		want[f] = w
		paths = append(paths, verifierCLI+f)
	}
	copyXRoad(t, all, paths...)
	// asic-core's valid-signed-message.asice (2014, no time-stamp) has the
	// same name as the verifier's: it gets its own directory.
	core := t.TempDir()
	copyXRoad(t, core, asicCore+"valid-signed-message.asice")

	code, res, _ := xroadJSON(t, "--xroad", all, "--xroad", core)
	if code != cli.ExitError || len(res.Containers) != len(want)+1 {
		t.Fatalf("exit %d, %d containers (want 1, %d)", code, len(res.Containers), len(want)+1)
	}
	for _, c := range res.Containers {
		got := firstFailure(c)
		if c.Source == core {
			if got != "" || c.Timestamp.Code != "not_timestamped" {
				t.Errorf("asic-core %s: first failure %q, timestamp %s", c.Name, got, c.Timestamp.String())
			}
			continue
		}
		if c.Name == "invalid-incorrect-references.asice" && !c.Signature.Has("malformed_signature") ||
			c.Name == "invalid-ts-hashchainresult.asice" && !c.Timestamp.Has("malformed_hash_chain") {
			t.Errorf("%s: signature %s, timestamp %s", c.Name, c.Signature.String(), c.Timestamp.String())
		}
		if got != want[c.Name] {
			t.Errorf("%s: first failure %q, want %q", c.Name, got, want[c.Name])
		}
		if got == "" && c.Trust.Code != asic.CodeAnchorNotGiven {
			t.Errorf("%s: trust %s, want anchor not given", c.Name, c.Trust.String())
		}
	}
	if res.Failed != 11 || res.Untrusted != 7 || res.Valid != 0 {
		t.Errorf("valid %d, failed %d, untrusted %d; want 0, 11, 7", res.Valid, res.Failed, res.Untrusted)
	}

	// The valid ones alone: nothing failed, trust not checked: exit 3.
	var validPaths []string
	for f, w := range vcli {
		if w == "" {
			validPaths = append(validPaths, verifierCLI+f)
		}
	}
	copyXRoad(t, valid, validPaths...)
	code, out, errOut := runCLI("verify", "--xroad", valid)
	if code != exitUntrusted || !strings.Contains(out, "UNTRUSTED") || !strings.Contains(out, "trust not checked: anchor_not_given") ||
		!strings.Contains(errOut, "trust was not checked for 5 containers") {
		t.Fatalf("valid without --ca: exit %d\n%s%s", code, out, errOut)
	}

	// With X-Road's test CA (--ca) and TSA and OCSP responder (--tsa-ca).
	caFile, tsaFile := xroadTestAnchors(t)
	code, out, errOut = runCLI("verify", "--xroad", valid, "--ca", caFile, "--tsa-ca", tsaFile)
	if code != cli.ExitOK || !strings.Contains(out, "5 containers: 5 valid, 0 failed") || !strings.HasSuffix(out, "OK\n") {
		t.Fatalf("valid with X-Road's test anchors: exit %d\n%s%s", code, out, errOut)
	}
}

// xroadTestAnchors writes the certificates of X-Road's test global
// configuration (globalconf_good2_v3, the one its verifier tests use): the
// self-signed CA to one file, the others (TSA, OCSP responder) to another.
func xroadTestAnchors(t *testing.T) (ca, others string) {
	t.Helper()
	repo := testtool.XRoadRepo(t)
	params, err := testtool.ReadXRoad(repo, "src/lib/globalconf-core/src/test/resources/globalconf_good2_v3/DEV/shared-params.xml")
	if err != nil {
		t.Skip(err)
	}
	var roots, rest []byte
	for _, m := range regexp.MustCompile(`<cert>([^<]+)</cert>`).FindAllSubmatch(params, -1) {
		p, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(m[1])))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(p)
		if block == nil {
			t.Fatal("shared-params: a <cert> is not base64 PEM")
		}
		if isSelfSigned(t, block.Bytes) {
			roots = append(roots, p...)
		} else {
			rest = append(rest, p...)
		}
	}
	dir := t.TempDir()
	ca, others = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "tsa.pem")
	os.WriteFile(ca, roots, 0o644)
	os.WriteFile(others, rest, 0o644)
	return ca, others
}

func isSelfSigned(t *testing.T, der []byte) bool {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c.CheckSignatureFrom(c) == nil
}

// TestXRoadArchives: X-Road's message-log archives. The archive
// verifier's two archives chain (the second continues the first, given
// under the name its linkinginfo uses); the message log's test archives
// with a wrong digest, a file missing and no containers fail linking with
// those reasons; show prints a container of an archive by query id.
func TestXRoadArchives(t *testing.T) {
	dir := t.TempDir()
	copyXRoad(t, dir, archiveVer+"message-archive-0.zip", archiveVer+"message-archive-1.zip")
	if err := os.Rename(filepath.Join(dir, "message-archive-0.zip"), filepath.Join(dir, "mlog-20231023121255-20231023121255-9011ab557706b505.zip")); err != nil {
		t.Fatal(err)
	}
	code, res, errOut := xroadJSON(t, "--xroad", dir)
	if code != exitUntrusted || len(res.Containers) != 21 || res.Untrusted != 21 || len(res.Archives) != 2 {
		t.Fatalf("exit %d, %d containers, %d untrusted, %d archives\n%s", code, len(res.Containers), res.Untrusted, len(res.Archives), errOut)
	}
	for _, a := range res.Archives {
		if a.Linking.Status != asic.OK {
			t.Errorf("%s: linking %s", a.Path, a.Linking.String())
		}
		if strings.HasSuffix(a.Path, "message-archive-1.zip") && !strings.Contains(strings.Join(a.Linking.Notes, "\n"), "continues "+filepath.Join(dir, "mlog-")) {
			t.Errorf("%s: notes %q do not say which archive it continues", a.Path, a.Linking.Notes)
		}
	}

	bad := t.TempDir()
	copyXRoad(t, bad, logArchive+"mlog-WITH_LINKINGINFO.zip", logArchive+"mlog-WITH_INVALID_LINKINGINFO.zip",
		logArchive+"mlog-EXCESSIVE_FILES_IN_LINKINGINFO.zip", logArchive+"mlog-NO_ASIC_CONTAINERS.zip")
	code, res, _ = xroadJSON(t, "--xroad", bad)
	want := map[string]string{
		"mlog-WITH_LINKINGINFO.zip":               "",
		"mlog-WITH_INVALID_LINKINGINFO.zip":       "linking_digest_mismatch",
		"mlog-EXCESSIVE_FILES_IN_LINKINGINFO.zip": "linking_files_differ",
		"mlog-NO_ASIC_CONTAINERS.zip":             "no_containers",
	}
	if code != cli.ExitError || len(res.Archives) != len(want) || res.LinkingFailed != 3 {
		t.Fatalf("exit %d, %d archives, %d failed linking", code, len(res.Archives), res.LinkingFailed)
	}
	for _, a := range res.Archives {
		if w := want[filepath.Base(a.Path)]; (w == "") != (a.Linking.Status == asic.OK) || a.Linking.Code != w {
			t.Errorf("%s: linking %s, want %q", a.Path, a.Linking.String(), w)
		}
	}

	code, out, errOut := runCLI("show", "--xroad", filepath.Join(dir, "message-archive-1.zip"), "--id", "ID4321")
	if code != cli.ExitOK || strings.Count(out, "== ") != 4 || !strings.Contains(out, "<xroad:id>ID4321</xroad:id>") ||
		!strings.Contains(out, "signer SERIALNUMBER=CS/SS1/GOV") || !strings.Contains(out, "time-stamped 2023-10-23T12:17:28Z") {
		t.Fatalf("show --id ID4321: exit %d\n%.2000s%s", code, out, errOut)
	}
}

// testFed is a throwaway federation that signs and time-stamps
// containers as X-Road's message log writes them.
type testFed struct {
	dir      string
	ca       *pkiutil.CA
	services *pkiutil.Services
	signer   *signature.Signer
}

func newTestFed(t *testing.T) *testFed {
	t.Helper()
	f := &testFed{dir: t.TempDir()}
	var err error
	if f.ca, err = pkiutil.Init(pkiutil.InitOptions{Dir: f.dir}); err != nil {
		t.Fatal(err)
	}
	if f.services, err = pkiutil.NewServices(f.ca, nil); err != nil {
		t.Fatal(err)
	}
	key, err := pkiutil.GenerateKey(pkiutil.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := f.ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: "AZ/GOV/DIN", PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	f.signer = &signature.Signer{Key: key, Cert: cert}
	reqDER, err := ocsp.CreateRequest(cert, f.ca.Cert, crypto.SHA256, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		t.Fatal(err)
	}
	f.signer.OCSP = f.services.OCSP.Respond(context.Background(), req)
	return f
}

// cas are the --ca flags an auditor of this federation is given.
func (f *testFed) cas() []string {
	return []string{"--ca", filepath.Join(f.dir, pkiutil.FileRootCert), "--ca", filepath.Join(f.dir, pkiutil.FileCACert)}
}

// container builds a container of message msg: mimetype, message.xml,
// its signature, a batch time-stamp over it and another record's
// signature, and the manifests.
func (f *testFed) container(t *testing.T, msg string) []byte {
	t.Helper()
	sig, err := f.signer.Sign(signature.Part{URI: signature.MessageURI, Data: []byte(msg), MimeType: "text/xml"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := hashchain.Builder{ChainURI: hashchain.TSChainURI, DataURI: hashchain.SignaturesURI}.Build(
		[]hashchain.Part{hashchain.Bytes(sig)}, []hashchain.Part{hashchain.Bytes([]byte("another record's signatures.xml"))})
	if err != nil {
		t.Fatal(err)
	}
	d := sha512.Sum512(ts.Result)
	resp, err := f.services.TSA.Respond(&tsa.Request{HashAlgorithm: crypto.SHA512, HashedMessage: d[:], CertReq: true})
	if err != nil || resp.Token == nil {
		t.Fatalf("time-stamp: %v %+v", err, resp)
	}
	asicManifest := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<asic:ASiCManifest xmlns:asic="http://uri.etsi.org/2918/v1.2.1#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
<asic:SigReference URI="META-INF/timestamp.tst" MimeType="vnd.etsi.timestamp-token"/>
<asic:DataObjectReference URI="ts-hashchainresult.xml" MimeType="text/xml">
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512"/>
<ds:DigestValue>%s</ds:DigestValue>
</asic:DataObjectReference>
</asic:ASiCManifest>`, base64.StdEncoding.EncodeToString(d[:]))
	manifest := `<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
    <manifest:file-entry manifest:media-type="application/vnd.etsi.asic-e+zip" manifest:full-path="/"/>
    <manifest:file-entry manifest:media-type="text/xml" manifest:full-path="message.xml"/>
    <manifest:file-entry manifest:media-type="text/xml" manifest:full-path="ts-hashchainresult.xml"/>
    <manifest:file-entry manifest:media-type="text/xml" manifest:full-path="ts-hashchain.xml"/>
</manifest:manifest>
`
	return zipOf(t, []string{asic.EntryMimeType, asic.EntryMessage, asic.EntrySignature, asic.EntryTSChainResult, asic.EntryTSChain,
		asic.EntryTimestamp, asic.EntryASiCManifest, asic.EntryManifest},
		[][]byte{[]byte(asic.MimeType), []byte(msg), sig, ts.Result, ts.Chains[0], resp.Token, []byte(asicManifest), []byte(manifest)})
}

func zipOf(t *testing.T, names []string, data [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i, n := range names {
		method := zip.Deflate
		if n == asic.EntryMimeType {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data[i])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// archive is an X-Road message-log archive of the containers, with its
// linkinginfo as X-Road's LinkingInfoBuilder writes it (SHA-512).
func archive(t *testing.T, names []string, containers [][]byte) []byte {
	t.Helper()
	h := func(b []byte) string { d := sha512.Sum512(b); return hex.EncodeToString(d[:]) }
	li, prev := "- - SHA-512\n", ""
	for i, c := range containers {
		prev = h([]byte(prev + h(c)))
		li += prev + " " + names[i] + "\n"
	}
	return zipOf(t, append(names[:len(names):len(names)], asic.EntryLinkingInfo), append(containers[:len(containers):len(containers)], []byte(li)))
}

const soap = `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>getPersonByFin %d</SOAP-ENV:Body></SOAP-ENV:Envelope>`

// TestVerifyXRoadBuilt: containers built here, in a directory and in an
// archive, pass every check with the federation's CA (exit 0), say
// "anchor not given" without it (exit 3), and a changed message or
// archive entry fails with its reason (exit 1); show prints the message.
func TestVerifyXRoadBuilt(t *testing.T) {
	f := newTestFed(t)
	dir := t.TempDir()
	names := []string{"Q1-request-1.asice", "Q1-response-2.asice"}
	var containers [][]byte
	for i, n := range names {
		c := f.container(t, fmt.Sprintf(soap, i))
		containers = append(containers, c)
		if err := os.WriteFile(filepath.Join(dir, n), c, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	arch := filepath.Join(t.TempDir(), "mlog-1.zip")
	if err := os.WriteFile(arch, archive(t, names, containers), 0o644); err != nil {
		t.Fatal(err)
	}

	// Trusted: every check ok, exit 0, one line per container.
	code, out, errOut := runCLI(append([]string{"verify", "--xroad", dir, "--xroad", arch}, f.cas()...)...)
	if code != cli.ExitOK || strings.Count(out, ": OK format=ok signature=ok timestamp=ok ocsp=ok trust=ok") != 4 ||
		!strings.Contains(out, "archive "+arch+": 2 containers, linking ok") || !strings.HasSuffix(out, "4 containers: 4 valid, 0 failed, 0 not checked against a trust anchor; 1 archives, 0 with failed linking\nOK\n") {
		t.Fatalf("trusted: exit %d\n%s%s", code, out, errOut)
	}
	code, res, _ := xroadJSON(t, append([]string{"--xroad", arch}, f.cas()...)...)
	if code != cli.ExitOK || res.Valid != 2 || len(res.Archives) != 1 || res.Containers[0].Signer == nil || res.Containers[0].TimestampTime.IsZero() {
		t.Fatalf("trusted --json: exit %d %+v", code, res)
	}

	// No anchor: the other checks still run; exit 3, not 0.
	code, res, errOut = xroadJSON(t, "--xroad", filepath.Join(dir, names[0]))
	if c := res.Containers[0]; code != exitUntrusted || c.Trust.Code != asic.CodeAnchorNotGiven || c.Signature.Status != asic.OK ||
		c.Timestamp.Status != asic.OK || c.Format.Status != asic.OK || !strings.Contains(errOut, "give the federation's certificates with --ca") {
		t.Fatalf("no anchor: exit %d %+v\n%s", code, res, errOut)
	}

	// Another federation's CA: trust fails, exit 1.
	other := newTestFed(t)
	code, out, _ = runCLI(append([]string{"verify", "--xroad", dir}, other.cas()...)...)
	if code != cli.ExitError || !strings.Contains(out, "FAIL") || !strings.Contains(out, "; ocsp: ") && !strings.Contains(out, "; trust: ") {
		t.Fatalf("foreign CA: exit %d\n%s", code, out)
	}

	// A changed message: the signature fails; in the archive, the linking
	// too.
	forged := rezip(t, containers[1], asic.EntryMessage, fmt.Appendf(nil, soap, 9))
	os.WriteFile(filepath.Join(dir, names[1]), forged, 0o644)
	os.WriteFile(arch, zipOf(t, []string{names[0], names[1], asic.EntryLinkingInfo}, [][]byte{containers[0], forged, entryOf(t, archive(t, names, containers), asic.EntryLinkingInfo)}), 0o644)
	code, res, _ = xroadJSON(t, append([]string{"--xroad", dir, "--xroad", arch}, f.cas()...)...)
	if code != cli.ExitError || res.Failed != 2 || res.Valid != 2 || res.LinkingFailed != 1 || res.Archives[0].Linking.Code != "linking_digest_mismatch" {
		t.Fatalf("forged: exit %d %+v", code, res)
	}
	for _, c := range res.Containers {
		if c.Name == names[1] && firstFailure(c) != "signature:digest_mismatch" {
			t.Errorf("%s in %s: first failure %q", c.Name, c.Source, firstFailure(c))
		}
	}

	code, out, _ = runCLI("show", "--xroad", filepath.Join(dir, names[0]))
	if code != cli.ExitOK || !strings.Contains(out, fmt.Sprintf(soap, 0)) || !strings.Contains(out, "signer ") || !strings.Contains(out, "time-stamped ") {
		t.Fatalf("show: exit %d\n%s", code, out)
	}

	// Usage: --xroad with --log is refused; --log still needs --ca.
	if code, _, _ := runCLI("verify", "--xroad", dir, "--log", "x.db"); code != cli.ExitUsage {
		t.Errorf("--xroad with --log: exit %d", code)
	}
	if code, _, errOut := runCLI("verify", "--xroad", t.TempDir()); code != cli.ExitError || !strings.Contains(errOut, "no .asice or .zip files") {
		t.Errorf("empty directory: exit %d %s", code, errOut)
	}
}

// rezip returns container c with entry name's content replaced.
func rezip(t *testing.T, c []byte, name string, data []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(c), int64(len(c)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var datas [][]byte
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == name {
			datas = append(datas, data)
		} else {
			datas = append(datas, entryOf(t, c, f.Name))
		}
	}
	return zipOf(t, names, datas)
}

func entryOf(t *testing.T, z []byte, name string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == name {
			rc, _ := f.Open()
			var b bytes.Buffer
			b.ReadFrom(rc)
			rc.Close()
			return b.Bytes()
		}
	}
	t.Fatalf("no %s", name)
	return nil
}
