package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/cli/clitest"
	"github.com/sluz/sluz/internal/testtool"

	"github.com/sluz/sluz/pkiutil"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = program.Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != cli.ExitOK {
		t.Fatalf("--help exit %d", code)
	}
	for _, c := range program.Commands {
		if !strings.Contains(out, c.Name) {
			t.Errorf("help does not list %s", c.Name)
		}
	}
	// Help goes to standard output, as every help does.
	code, out, _ = runCLI(t, "issue", "--help")
	if code != cli.ExitOK || !strings.Contains(out, "--profile") || !strings.Contains(out, "usage: pkiutil issue") {
		t.Fatalf("issue --help: exit %d\n%s", code, out)
	}
}

// TestHelpEverywhere: every command answers --help with usage and an example.
func TestHelpEverywhere(t *testing.T) {
	t.Logf("%d help screens", clitest.HelpEverywhere(t, program))
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	trust := filepath.Join(dir, "trust")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, cli.ExitUsage, `unknown command "frobnicate"`},
		{[]string{"issue", "--dir", trust, "--out", "x"}, cli.ExitUsage, "--profile is required"},
		{[]string{"issue", "--dir", trust, "--profile", "sign", "--out", filepath.Join(dir, "x")}, cli.ExitError, "pkiutil init --dir"},
		{[]string{"init", "--dir", trust, "--key-type", "dsa"}, cli.ExitUsage, "unknown key type"},
		{[]string{"init", "--dir", trust, "--instance", "A Z"}, cli.ExitError, "allow only"},
		{[]string{"revoke", "--dir", trust}, cli.ExitUsage, "exactly one of --serial and --cert"},
		{[]string{"revoke", "--dir", trust, "--serial", "1", "--reason", "lost"}, cli.ExitUsage, "unknown revocation reason"},
		{[]string{"serve", "--dir", trust, "--log-format", "xml"}, cli.ExitUsage, "use text or json"},
		{[]string{"list", "extra"}, cli.ExitUsage, "unexpected argument"},
	}
	for _, tc := range cases {
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("pkiutil %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
}

func TestInitIssueRevokeCLI(t *testing.T) {
	dir := t.TempDir()
	trust := filepath.Join(dir, "trust")
	if code, _, errOut := runCLI(t, "init", "--dir", trust); code != cli.ExitOK {
		t.Fatalf("init: %s", errOut)
	}
	if code, _, errOut := runCLI(t, "init", "--dir", trust); code != cli.ExitError || !strings.Contains(errOut, "--force") {
		t.Fatalf("second init: exit %d %s", code, errOut)
	}
	out := filepath.Join(dir, "din-sign")
	code, stdout, errOut := runCLI(t, "issue", "--dir", trust, "--profile", "sign", "--member", "AZ/GOV/DIN", "--out", out)
	if code != cli.ExitOK {
		t.Fatalf("issue: %s", errOut)
	}
	if code, _, errOut := runCLI(t, "issue", "--dir", trust, "--profile", "sign", "--member", "AZ/GOV/DIN", "--out", out); code != cli.ExitError || !strings.Contains(errOut, "already exists") {
		t.Fatalf("issue over existing files: exit %d %s", code, errOut)
	}
	serial := regexp.MustCompile(`serial:\s+([0-9A-F]+)`).FindStringSubmatch(stdout)
	if serial == nil {
		t.Fatalf("issue output lacks the serial:\n%s", stdout)
	}
	// CSR path: openssl makes the key, pkiutil certifies it.
	if openssl, err := exec.LookPath("openssl"); err == nil {
		csrKey, csr := filepath.Join(dir, "csr.key"), filepath.Join(dir, "ss.csr")
		b, err := exec.Command(openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", csrKey, "-subj", "/CN=ignored", "-out", csr).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl req: %v\n%s", err, b)
		}
		if code, _, errOut := runCLI(t, "issue", "--dir", trust, "--profile", "auth", "--dns", "ss.emdk.gov.az", "--ip", "127.0.0.1",
			"--csr", csr, "--out", filepath.Join(dir, "emdk-auth")); code != cli.ExitOK {
			t.Fatalf("issue --csr: %s", errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "emdk-auth.key")); err == nil {
			t.Fatal("issue --csr wrote a private key")
		}
	}
	if code, stdout, errOut := runCLI(t, "revoke", "--dir", trust, "--cert", out+".pem", "--reason", "keyCompromise"); code != cli.ExitOK || !strings.Contains(stdout, "keyCompromise") {
		t.Fatalf("revoke: exit %d %s %s", code, stdout, errOut)
	}
	code, stdout, _ = runCLI(t, "list", "--dir", trust)
	if code != cli.ExitOK || !strings.Contains(stdout, serial[1]) || !strings.Contains(stdout, "revoked (keyCompromise)") {
		t.Fatalf("list after revoke:\n%s", stdout)
	}
	if code, _, errOut := runCLI(t, "revoke", "--dir", trust, "--serial", serial[1]); code != cli.ExitError || !strings.Contains(errOut, "already revoked") {
		t.Fatalf("second revoke: exit %d %s", code, errOut)
	}
}

// TestServeWithOpenssl runs `pkiutil serve` as its own process and checks it
// with openssl only: OCSP good -> revoked (revocation by a second process)
// -> unknown serial, and an RFC 3161 token for a digest.
func TestServeWithOpenssl(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	bin := testtool.Build(t, ".")
	dir := t.TempDir()
	trust := filepath.Join(dir, "trust")
	pk := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("pkiutil %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	pk("init", "--dir", trust)
	leaf := filepath.Join(dir, "dsmf-auth")
	pk("issue", "--dir", trust, "--profile", "auth", "--member", "AZ/GOV/DSMF", "--dns", "ss.dsmf.gov.az", "--out", leaf)

	ocspAddr, tsaAddr := testtool.FreeAddr(t), testtool.FreeAddr(t)
	srv := testtool.Start(t, "msg=serving", bin, "serve", "--dir", trust, "--ocsp-listen", ocspAddr, "--tsa-listen", tsaAddr)

	ca := filepath.Join(trust, pkiutil.FileCACert)
	root := filepath.Join(trust, pkiutil.FileRootCert)
	ocspStatus := func(target ...string) string {
		t.Helper()
		args := append([]string{"ocsp", "-issuer", ca}, target...)
		args = append(args, "-url", "http://"+ocspAddr, "-CAfile", root, "-verify_other", ca)
		b, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		if !strings.Contains(string(b), "Response verify OK") {
			t.Fatalf("openssl did not verify the OCSP response:\n%s", b)
		}
		return string(b)
	}
	if out := ocspStatus("-cert", leaf+".pem"); !strings.Contains(out, leaf+".pem: good") {
		t.Fatalf("before revocation:\n%s", out)
	}
	if out := ocspStatus("-sha256", "-cert", leaf+".pem"); !strings.Contains(out, ": good") {
		t.Fatalf("SHA-256 CertID:\n%s", out)
	}
	pk("revoke", "--dir", trust, "--cert", leaf+".pem", "--reason", "keyCompromise")
	out := ocspStatus("-cert", leaf+".pem")
	if !strings.Contains(out, leaf+".pem: revoked") || !strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("after revocation:\n%s", out)
	}
	if out := ocspStatus("-serial", "0x7E57AB1E"); !strings.Contains(out, ": unknown") {
		t.Fatalf("unknown serial:\n%s", out)
	}

	// RFC 3161: openssl makes the query, the TSA answers, openssl verifies.
	data := filepath.Join(dir, "message.xml")
	os.WriteFile(data, []byte("<msg>Əmlak çıxarışı</msg>"), 0o644)
	query, reply := filepath.Join(dir, "q.tsq"), filepath.Join(dir, "r.tsr")
	if b, err := exec.Command(openssl, "ts", "-query", "-data", data, "-sha256", "-cert", "-out", query).CombinedOutput(); err != nil {
		t.Fatalf("openssl ts -query: %v\n%s", err, b)
	}
	q, _ := os.ReadFile(query)
	resp, err := http.Post("http://"+tsaAddr+"/", "application/timestamp-query", bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/timestamp-reply" {
		t.Fatalf("TSA answered %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	os.WriteFile(reply, body, 0o644)
	if b, err := exec.Command(openssl, "ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", root, "-untrusted", ca).CombinedOutput(); err != nil || !strings.Contains(string(b), "Verification: OK") {
		t.Fatalf("openssl ts -verify: %v\n%s", err, b)
	}
	sum := sha256.Sum256([]byte("another message"))
	if b, err := exec.Command(openssl, "ts", "-verify", "-digest", hex.EncodeToString(sum[:]), "-sha256", "-in", reply, "-CAfile", root, "-untrusted", ca).CombinedOutput(); err == nil {
		t.Fatalf("openssl ts -verify accepted the token for another digest:\n%s", b)
	}

	// An interrupt stops the server cleanly.
	srv.Stop(t)
	if !strings.Contains(srv.Log(), "status=200") {
		t.Errorf("access log has no request lines:\n%s", srv.Log())
	}
}
