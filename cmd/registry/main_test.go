package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/configs"
	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/globalconf"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := program.Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestOperatorBuildsSampleFederation is the registry's acceptance test: the
// sample configs (as shipped) against a `registry serve` process, the
// operator CLI over TLS, and the published configuration checked by xmlsec1.
func TestOperatorBuildsSampleFederation(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "state")
	if _, err := localfed.Prepare(state); err != nil {
		t.Fatal(err)
	}
	// configs/ as shipped, beside the state directory its paths point into;
	// only the listen addresses change, to free ports.
	adminAddr, publishAddr, metricsAddr := testtool.FreeAddr(t), testtool.FreeAddr(t), testtool.FreeAddr(t)
	cfgDir := filepath.Join(root, "configs")
	os.Mkdir(cfgDir, 0o755)
	for _, name := range []string{"registry.yaml", "federation.yaml"} {
		data, err := configs.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "127.0.0.1:4000", adminAddr)
		text = strings.ReplaceAll(text, "127.0.0.1:4001", publishAddr)
		if name == "registry.yaml" {
			text += "metricsListen: " + metricsAddr + "\n"
		}
		os.WriteFile(filepath.Join(cfgDir, name), []byte(text), 0o644)
	}
	docs, _ := fs.Glob(configs.FS, "*/*.*") // the services' WSDLs and OpenAPI descriptions
	for _, name := range docs {
		data, _ := configs.FS.ReadFile(name)
		os.MkdirAll(filepath.Join(cfgDir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(cfgDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgFile := filepath.Join(cfgDir, "registry.yaml")
	if code, out, errOut := runCLI("check-config", "--config", cfgFile); code != cli.ExitOK || !strings.Contains(out, "configuration OK") {
		t.Fatalf("check-config: %d %s %s", code, out, errOut)
	}

	srv := testtool.Start(t, "registry serving", testtool.Build(t, "."), "serve", "--config", cfgFile)

	conn := []string{"--registry", "https://" + adminAddr, "--ca", filepath.Join(state, "pki", "root-ca.pem")}
	op := append(append([]string{}, conn...), "--cert", filepath.Join(state, "operator.pem"), "--key", filepath.Join(state, "operator.key"))

	// Without the operator certificate: refused, with a clear message.
	code, _, errOut := runCLI(append([]string{"member", "add", "--id", "AZ/GOV/XYZ", "--name", "Naməlum"}, conn...)...)
	if code != cli.ExitError || !strings.Contains(errOut, "operator client certificate is required") {
		t.Fatalf("call without certificate: exit %d, %q", code, errOut)
	}
	// With a security server's certificate instead: refused too.
	code, _, errOut = runCLI(append([]string{"member", "list", "--cert", filepath.Join(state, "DIN", "auth.pem"), "--key", filepath.Join(state, "DIN", "auth.key")}, conn...)...)
	if code != cli.ExitError || !strings.Contains(errOut, "not an admin-profile certificate") {
		t.Fatalf("call with an auth certificate: exit %d, %q", code, errOut)
	}

	code, out, errOut := runCLI(append([]string{"load", filepath.Join(cfgDir, "federation.yaml")}, op...)...)
	if code != cli.ExitOK || !strings.Contains(out, "in one step") {
		t.Fatalf("load: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(append([]string{"member", "list"}, op...)...)
	for _, want := range []string{"AZ/GOV/DIN", "Daxili İşlər Nazirliyi", "Əmlak Məsələləri Dövlət Komitəsi", "Dövlət Sosial Müdafiə Fondu", "realestate"} {
		if code != cli.ExitOK || !strings.Contains(out, want) {
			t.Errorf("member list lacks %q:\n%s", want, out)
		}
	}
	// Single changes through the CLI, and a refused one.
	for _, args := range [][]string{
		{"member", "add", "--id", "AZ/COM/1234567", "--name", "Notarius Günay Əliyeva"},
		{"subsystem", "add", "--id", "AZ/COM/1234567/notary"},
		{"group", "member", "--group", "AZ/state-agencies", "--client", "AZ/COM/1234567/notary"},
		{"trust", "settings", "--ocsp-freshness", "1800"},
	} {
		if code, out, errOut := runCLI(append(args, op...)...); code != cli.ExitOK {
			t.Fatalf("%v: exit %d %s %s", args, code, out, errOut)
		}
	}
	if code, _, errOut := runCLI(append([]string{"member", "remove", "--id", "AZ/COM/1234567"}, op...)...); code != cli.ExitError || !strings.Contains(errOut, "still has subsystems") {
		t.Fatalf("remove referenced member: exit %d %q", code, errOut)
	}
	code, out, _ = runCLI(append([]string{"service", "list", "--provider", "AZ/GOV/EMDK"}, op...)...)
	if code != cli.ExitOK || !strings.Contains(out, "getRealEstateExtract") || !strings.Contains(out, "getLandOwnershipByFin") || strings.Contains(out, "getPersonByFin") {
		t.Fatalf("service list --provider:\n%s", out)
	}
	// The description documents federation.yaml names were loaded; the
	// operator replaces and removes one, a malformed one is refused.
	if !regexp.MustCompile(`realEstateRegistry +openapi `).MatchString(out) || !regexp.MustCompile(`getRealEstateExtract/v1 +wsdl `).MatchString(out) {
		t.Errorf("service list does not show the loaded documents:\n%s", out)
	}
	bad := filepath.Join(root, "bad.wsdl")
	os.WriteFile(bad, []byte(`<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"><wsdl:types>`), 0o644)
	docID := []string{"service", "doc", "--id", "AZ/GOV/DIN/population/getPersonByFin/v1"}
	if code, _, errOut := runCLI(append(append(docID, "--wsdl", bad), op...)...); code != cli.ExitError || !strings.Contains(errOut, "not well-formed XML") {
		t.Errorf("service doc with a malformed WSDL: exit %d %q", code, errOut)
	}
	for _, args := range [][]string{{"--remove"}, {"--wsdl", filepath.Join(cfgDir, "wsdl", "din-population.wsdl")}} {
		if code, out, errOut := runCLI(append(append(docID, args...), op...)...); code != cli.ExitOK {
			t.Fatalf("service doc %v: exit %d %s %s", args, code, out, errOut)
		}
	}
	code, out, _ = runCLI(append([]string{"audit", "--limit", "10"}, op...)...)
	if code != cli.ExitOK || !strings.Contains(out, "batch.load") || !strings.Contains(out, "Mərkəzi operator (serial") {
		t.Fatalf("audit:\n%s", out)
	}
	code, out, _ = runCLI(append([]string{"status"}, op...)...)
	if code != cli.ExitOK || !strings.Contains(out, "global configuration version") {
		t.Fatalf("status:\n%s", out)
	}
	// console-link: a browser without the certificate signs in with the link.
	code, out, _ = runCLI(append([]string{"console-link"}, op...)...)
	link, _, _ := strings.Cut(out, "\n")
	if code != cli.ExitOK || !strings.HasPrefix(link, "https://"+adminAddr+"/console/login?token=") {
		t.Fatalf("console-link:\n%s", out)
	}
	roots, err := pkiutil.ReadCertificates(filepath.Join(state, "pki", "root-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(roots[0])
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "Mərkəzi operator (serial") {
		t.Fatalf("the console-link link: HTTP %d\n%s", resp.StatusCode, page)
	}

	// The published configuration: xmlsec1 verifies it, and so does the
	// configuration client with the anchor the registry writes.
	resp, err = http.Get("http://" + publishAddr + "/globalconf")
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	confFile := filepath.Join(root, "globalconf.xml")
	os.WriteFile(confFile, conf, 0o644)
	xmlsec := testtool.Require(t, "xmlsec1")
	if b, err := exec.Command(xmlsec, "--verify", "--trusted-pem", filepath.Join(state, "pki", "root-ca.pem"),
		"--untrusted-pem", filepath.Join(state, "pki", "ca.pem"), confFile).CombinedOutput(); err != nil || !strings.Contains(string(b), "OK") {
		t.Fatalf("xmlsec1 --verify: %v\n%s", err, b)
	}
	anchorFile := filepath.Join(root, "anchor.json")
	if code, out, errOut := runCLI("anchor", "--config", cfgFile, "--out", anchorFile); code != cli.ExitOK {
		t.Fatalf("anchor: %s %s", out, errOut)
	}
	anchor, err := globalconf.LoadAnchor(anchorFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := globalconf.Verify(conf, anchor, time.Now())
	if err != nil {
		t.Fatalf("verify with the written anchor: %v", err)
	}
	if len(c.Members) != 4 || c.Trust.OCSPFreshness != 30*time.Minute {
		t.Fatalf("published configuration: %d members, OCSP freshness %s", len(c.Members), c.Trust.OCSPFreshness)
	}
	// Azerbaijani letters survive registry -> signed XML -> client unchanged.
	names := map[string]string{}
	for _, m := range c.Members {
		names[m.ID.String()] = m.Name
	}
	for id, want := range map[string]string{"AZ/GOV/DIN": "Daxili İşlər Nazirliyi", "AZ/GOV/EMDK": "Əmlak Məsələləri Dövlət Komitəsi",
		"AZ/GOV/DSMF": "Dövlət Sosial Müdafiə Fondu", "AZ/COM/1234567": "Notarius Günay Əliyeva"} {
		if names[id] != want {
			t.Errorf("member %s name %q after the round trip, want %q", id, names[id], want)
		}
	}
	var descr string
	for _, svc := range c.Services {
		if svc.ID.ServiceCode == "getLandOwnershipByFin" {
			descr = svc.Description
		}
	}
	if descr != "FİN kodu üzrə kənd təsərrüfatı torpaqlarının mülkiyyətçisi" {
		t.Errorf("service description after the round trip: %q", descr)
	}

	// Metrics: publications and admin calls by status, in the exposition format.
	mresp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{`sluz_registry_admin_requests_total{code="201",method="POST"}`, `sluz_registry_admin_requests_total{code="401",method="POST"} 1`,
		"sluz_registry_publish_total", "sluz_registry_globalconf_version"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	srv.Stop(t)
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "r.yaml")
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	cases := []struct{ yaml, want string }{
		{"instance: AZ\nfoo: 1\n", "field foo not found"},
		{"instance: AZ\n", "dataDir is required"},
		{"instance: AZ\ndataDir: d\nsigning: {cert: nope.pem, key: nope.key}\n", "signing.cert: stat"},
		{"instance: AZ\nlogFormat: xml\n", "logFormat \"xml\""},
	}
	for _, tc := range cases {
		code, _, errOut := runCLI("check-config", "--config", write(tc.yaml))
		if code != cli.ExitError || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, %q; want %q", tc.yaml, code, errOut, tc.want)
		}
	}
	if code, _, errOut := runCLI("check-config"); code != cli.ExitUsage || !strings.Contains(errOut, "--config FILE is required") {
		t.Errorf("no --config: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCLI("member", "fly"); code != cli.ExitUsage || !strings.Contains(errOut, `unknown subcommand "fly"`) {
		t.Errorf("member fly: exit %d %q", code, errOut)
	}
	if code, _, errOut := runCLI("member", "add", "--id", "AZ/GOV/DİN", "--name", "x"); code != cli.ExitUsage || !strings.Contains(errOut, "allow only") {
		t.Errorf("bad id: exit %d %q", code, errOut)
	}
}
