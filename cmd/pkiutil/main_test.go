package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/sluz/sluz/internal/testtool"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != exitOK {
		t.Fatalf("--help exit %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(out, c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	code, _, errOut := runCLI(t, "issue", "--help")
	if code != exitOK || !strings.Contains(errOut, "--profile") || !strings.Contains(errOut, "usage: pkiutil issue") {
		t.Fatalf("issue --help: exit %d\n%s", code, errOut)
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	trust := filepath.Join(dir, "trust")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"issue", "--dir", trust, "--out", "x"}, exitUsage, "--profile is required"},
		{[]string{"issue", "--dir", trust, "--profile", "sign", "--out", filepath.Join(dir, "x")}, exitError, "pkiutil init --dir"},
		{[]string{"init", "--dir", trust, "--key-type", "dsa"}, exitUsage, "unknown key type"},
		{[]string{"init", "--dir", trust, "--instance", "A Z"}, exitError, "allow only"},
		{[]string{"revoke", "--dir", trust}, exitUsage, "exactly one of --serial and --cert"},
		{[]string{"revoke", "--dir", trust, "--serial", "1", "--reason", "lost"}, exitUsage, "unknown revocation reason"},
		{[]string{"serve", "--dir", trust, "--log-format", "xml"}, exitUsage, "use text or json"},
		{[]string{"list", "extra"}, exitUsage, "unexpected argument"},
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
	if code, _, errOut := runCLI(t, "init", "--dir", trust); code != exitOK {
		t.Fatalf("init: %s", errOut)
	}
	if code, _, errOut := runCLI(t, "init", "--dir", trust); code != exitError || !strings.Contains(errOut, "--force") {
		t.Fatalf("second init: exit %d %s", code, errOut)
	}
	out := filepath.Join(dir, "din-sign")
	code, stdout, errOut := runCLI(t, "issue", "--dir", trust, "--profile", "sign", "--member", "AZ/GOV/DIN", "--out", out)
	if code != exitOK {
		t.Fatalf("issue: %s", errOut)
	}
	if code, _, errOut := runCLI(t, "issue", "--dir", trust, "--profile", "sign", "--member", "AZ/GOV/DIN", "--out", out); code != exitError || !strings.Contains(errOut, "already exists") {
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
			"--csr", csr, "--out", filepath.Join(dir, "emdk-auth")); code != exitOK {
			t.Fatalf("issue --csr: %s", errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "emdk-auth.key")); err == nil {
			t.Fatal("issue --csr wrote a private key")
		}
	}
	if code, stdout, errOut := runCLI(t, "revoke", "--dir", trust, "--cert", out+".pem", "--reason", "keyCompromise"); code != exitOK || !strings.Contains(stdout, "keyCompromise") {
		t.Fatalf("revoke: exit %d %s %s", code, stdout, errOut)
	}
	code, stdout, _ = runCLI(t, "list", "--dir", trust)
	if code != exitOK || !strings.Contains(stdout, serial[1]) || !strings.Contains(stdout, "revoked (keyCompromise)") {
		t.Fatalf("list after revoke:\n%s", stdout)
	}
	if code, _, errOut := runCLI(t, "revoke", "--dir", trust, "--serial", serial[1]); code != exitError || !strings.Contains(errOut, "already revoked") {
		t.Fatalf("second revoke: exit %d %s", code, errOut)
	}
}

// buildBinary compiles this command once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pkiutil")
	b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeWithOpenssl runs `pkiutil serve` as its own process and checks it
// with openssl only: OCSP good -> revoked (revocation by a second process)
// -> unknown serial, and an RFC 3161 token for a digest.
func TestServeWithOpenssl(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	bin := buildBinary(t)
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

	ocspAddr, tsaAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--dir", trust, "--ocsp-listen", ocspAddr, "--tsa-listen", tsaAddr)
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logBuf.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "msg=serving") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not start:\n%s", logBuf.String())
	}

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

	// SIGTERM stops the server cleanly.
	srv.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logBuf.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on interrupt")
	}
	if !strings.Contains(logBuf.String(), "status=200") {
		t.Errorf("access log has no request lines:\n%s", logBuf.String())
	}
}
