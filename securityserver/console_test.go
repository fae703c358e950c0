package securityserver_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/internal/webui"
	"github.com/sluz/sluz/internal/webui/webuitest"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// TestConsoleInBrowser is the security-server console's acceptance test in
// a real browser: DİN's administrator signs in with a console-link link,
// revokes ƏMDK's right to getPersonByFin (ƏMDK's call is then refused and
// listed among the refused callers), grants it again from that list (the
// call then succeeds), finds the exchange by its message id and downloads
// its ASiC-E containers, which `logaudit verify` accepts. Every page is
// walked in both languages (broken links, missing labels, screenshots).
func TestConsoleInBrowser(t *testing.T) {
	f, err := localfed.Start(localfed.Options{Dir: t.TempDir(), AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	din := f.Agency("DIN")
	base, link := consoleOf(t, din, "DİN administratoru")

	anon := webuitest.Browser(t, webui.AZ)
	webuitest.Open(t, anon, base+"/access")
	if loc := webuitest.Get(t, anon, "location", chromedp.Evaluate[string](`location.pathname`)); loc != "/console/login" {
		t.Fatalf("without signing in the browser is at %s, want the login page", loc)
	}

	// A link signed with another key is refused.
	admin := din.Config.Admin
	admin.Listen = strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/console")
	forged, err := securityserver.ConsoleLink(&config.Config{Server: din.Config.Server, DataDir: t.TempDir(), Admin: admin}, "DİN administratoru", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if code := webuitest.Open(t, anon, forged); code != http.StatusForbidden {
		t.Errorf("a link signed with another key: HTTP %d, want 403", code)
	}

	ctx := webuitest.Browser(t, webui.EN)
	webuitest.Open(t, ctx, link)
	if got := webuitest.Get(t, ctx, "ready", chromedp.Text(chromedp.CSS("#ready"))); got != "Ready" {
		t.Errorf("status page says %q, want Ready", got)
	}

	ctx2 := context.Background()
	query := localfed.Queries[0] // ƏMDK checks a citizen's identity with DİN
	const rule = `tr[data-rule="AZ/GOV/DIN/population/getPersonByFin AZ/GOV/EMDK/realestate"]`
	webuitest.Open(t, ctx, base+"/access")
	webuitest.Do(t, ctx, "revoke", chromedp.Click(chromedp.CSS(rule+` button[name=revoke]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	refused := query
	refused.WantFault = "Server.ServerProxy.AccessDenied"
	waitFor(t, "ƏMDK's call refused after the revocation (rights reload within a second)", func() bool { return f.RunQuery(ctx2, refused).OK })

	webuitest.Open(t, ctx, base+"/access")
	webuitest.Screenshot(t, ctx, "securityserver-access-refused-en")
	const row = `tr[data-refused="AZ/GOV/DIN/population/getPersonByFin AZ/GOV/EMDK/realestate"]`
	webuitest.Do(t, ctx, "grant the refused caller", chromedp.Click(chromedp.CSS(row+` button[name=grant]`)), chromedp.WaitVisible(chromedp.CSS(rule)))
	by := webuitest.Get(t, ctx, "granted by", chromedp.Text(chromedp.CSS(rule+` td:nth-child(4)`)))
	if by != "DİN administratoru [console]" {
		t.Errorf("the right is recorded as granted by %q", by)
	}
	var id string
	waitFor(t, "ƏMDK's call answered after the grant", func() bool {
		res := f.RunQuery(ctx2, query)
		id = res.MessageID
		return res.OK
	})

	webuitest.Open(t, ctx, base+"/messages?id="+url.QueryEscape(id))
	webuitest.Screenshot(t, ctx, "securityserver-messages-found-en")
	section := fmt.Sprintf(`section[data-message=%q]`, id)
	sides := webuitest.Get(t, ctx, "sides", chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, section+" details")))
	if sides != 2 {
		t.Errorf("the exchange %s shows %d sides, want the request and the response", id, sides)
	}
	href := webuitest.Get(t, ctx, "asic link", chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).href`, section+" a.asic")))
	// Like X-Road's, /asic answers 500 until the records are time-stamped.
	waitFor(t, "the exchange's time-stamp", func() bool {
		resp, err := http.Get(href)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	file := webuitest.Download(t, ctx, chromedp.Click(chromedp.CSS(section+" a.asic")))
	checkContainers(t, file, id, filepath.Join(f.Dir, "pki"), din.Server.MessageLog())

	consoleEndpointRight(t, f)

	for _, lang := range webui.Langs {
		webuitest.Open(t, ctx, base+"/?lang="+string(lang))
		pages := webuitest.Walk(t, ctx, base+"/", "/console", func(p webuitest.Page) {
			u, _ := url.Parse(p.URL)
			name := strings.Trim(strings.TrimPrefix(u.Path, "/console"), "/")
			if name == "" {
				name = "status"
			}
			webuitest.Screenshot(t, ctx, fmt.Sprintf("securityserver-%s-%s", name, lang))
		})
		if len(pages) < 5 {
			t.Errorf("%s: walked %d pages, the menu has 5", lang, len(pages))
		}
		if lang == webui.AZ {
			webuitest.CheckNarrow(t, ctx, pages, nil)
		}
	}
}

// checkContainers checks the downloaded zip of an exchange's containers as
// the README of /verificationconf tells an auditor to: Şlüz's own check of
// each container against the record log stored (entries, signature,
// signer, OCSP, the time-stamp hash chain to the batch's token, all against
// the federation's certificates), logaudit verify --xroad (X-Road's
// checks all pass), then logaudit proof and openssl ts -verify for the
// time-stamp.
func checkContainers(t *testing.T, zipFile, id, pki string, log *messagelog.Log) {
	t.Helper()
	data, err := os.ReadFile(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	names, files := unzip(t, string(data))
	if len(names) != 2 {
		t.Fatalf("the download holds %v, want the request's and the response's container", names)
	}
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for file, pool := range map[string]*x509.CertPool{pkiutil.FileRootCert: trust.Roots, pkiutil.FileTSACert: trust.Roots, pkiutil.FileCACert: trust.Intermediates} {
		certs, err := pkiutil.ReadCertificates(filepath.Join(pki, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	stored := map[string][]byte{} // the exchange's records, by kind
	log.Each(0, func(r *messagelog.Record, v []byte) error {
		if r.MessageID == id {
			stored[r.Kind.String()] = bytes.Clone(v)
		}
		return nil
	})
	logaudit := testtool.Build(t, "../cmd/logaudit")
	dir := t.TempDir()
	for _, n := range names {
		kind := "request"
		if strings.Contains(n, "-response-") {
			kind = "response"
		}
		if r, failed := audit.VerifyContainer(files[n], stored[kind], trust); r == nil || r.MessageID != id || len(failed) > 0 {
			t.Errorf("%s: %v", n, failed)
		}
		path := filepath.Join(dir, n)
		os.WriteFile(path, files[n], 0o644)
		out, _ := exec.Command(logaudit, "verify", "--xroad", path, "--ca", filepath.Join(pki, pkiutil.FileRootCert), "--ca", filepath.Join(pki, pkiutil.FileCACert),
			"--tsa-ca", filepath.Join(pki, pkiutil.FileTSACert)).CombinedOutput()
		if !strings.Contains(string(out), path+": OK ") || !strings.Contains(string(out), "signature=ok") || !strings.Contains(string(out), "ocsp=ok") {
			t.Errorf("logaudit verify --xroad %s:\n%s", n, out)
		}
		// The time-stamp, as /verificationconf's README says: logaudit
		// proof checks the time-stamp hash chain, openssl the token over
		// its result.
		out, err := exec.Command(logaudit, "proof", path).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "the time-stamp hash chain holds") {
			t.Errorf("logaudit proof %s: %v\n%s", n, err, out)
			continue
		}
		token, result := filepath.Join(dir, n+".tst"), filepath.Join(dir, n+".ts-hashchainresult.xml")
		if err := os.WriteFile(token, zipEntry(t, files[n], "META-INF/timestamp.tst"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(result, zipEntry(t, files[n], audit.EntryTSChainResult), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command(testtool.Require(t, "openssl"), "ts", "-verify", "-token_in", "-in", token, "-data", result,
			"-CAfile", filepath.Join(pki, pkiutil.FileRootCert), "-untrusted", filepath.Join(pki, pkiutil.FileCACert)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verification: OK") {
			t.Errorf("openssl ts -verify %s: %v\n%s", n, err, out)
		}
	}
}

// zipEntry reads one entry of a zip (an ASiC-E container).
func zipEntry(t *testing.T, data []byte, name string) []byte {
	t.Helper()
	_, files := unzip(t, string(data))
	b, ok := files[name]
	if !ok {
		t.Fatalf("the container has no %s", name)
	}
	return b
}

func TestConsoleLabels(t *testing.T) {
	if missing := securityserver.ConsoleLabels.Incomplete(); len(missing) > 0 {
		t.Errorf("labels without both languages: %v", missing)
	}
}

// consoleEndpointRight: ƏMDK's console lists DSMF's endpoint right on the
// REST service realEstateRegistry (GET /extract/*, granted by localfed)
// with its endpoint, and revokes exactly that right.
func consoleEndpointRight(t *testing.T, f *localfed.Federation) {
	emdk := f.Agency("EMDK")
	base, link := consoleOf(t, emdk, "ƏMDK administratoru")
	ctx := webuitest.Browser(t, webui.EN)
	webuitest.Open(t, ctx, link)
	webuitest.Open(t, ctx, base+"/access")
	const rule = `tr[data-rule="AZ/GOV/EMDK/realestate/realEstateRegistry AZ/GOV/DSMF/insurance GET /extract/*"]`
	if got := webuitest.Get(t, ctx, "endpoint", chromedp.Text(chromedp.CSS(rule+` .endpoint`))); got != "GET /extract/*" {
		t.Errorf("DSMF's endpoint right shows the endpoint %q", got)
	}
	webuitest.Do(t, ctx, "revoke the endpoint right", chromedp.Click(chromedp.CSS(rule+` button[name=revoke]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
	rights, err := securityserver.OpenACL(emdk.Config)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := rights.List()
	rights.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Subject.String() == "AZ/GOV/DSMF/insurance" && r.Endpoint != nil {
			t.Errorf("endpoint right still held after the console revoked it: %+v", r)
		}
	}

	// DSMF's calls of ƏMDK's REST service, each expecting an answer or
	// (fault set) a refusal.
	const denied = "Server.ServerProxy.AccessDenied"
	call := func(method, path, fault string) bool {
		return f.RunQuery(context.Background(), localfed.Query{Name: "DSMF " + method + " " + path, From: "DSMF", Client: "AZ/GOV/DSMF/insurance",
			Service: "AZ/GOV/EMDK/realestate/realEstateRegistry", REST: &localfed.RESTCall{Method: method, Path: path}, WantFault: fault}).OK
	}
	waitFor(t, "DSMF's extract refused after the revocation", func() bool { return call("GET", "/extract/5ZJ8K2L", denied) })

	// The grant form with a method and a path: the acl command's checks
	// refuse a path without a leading / and an endpoint of a SOAP service.
	grant := func(service, method, path string) (status, text string) {
		webuitest.Open(t, ctx, base+"/access")
		webuitest.Do(t, ctx, "grant "+service+" "+method+" "+path,
			chromedp.SetValue(chromedp.CSS(`#grant select[name=service]`), service),
			chromedp.SetValue(chromedp.CSS(`#grant input[name=client]`), "AZ/GOV/DSMF/insurance"),
			chromedp.SetValue(chromedp.CSS(`#grant select[name=method]`), method),
			chromedp.SetValue(chromedp.CSS(`#grant input[name=path]`), path),
			chromedp.Click(chromedp.CSS(`#grant button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.flash, p.error[role=alert]`)))
		return webuitest.Get(t, ctx, "status", chromedp.AttributeValue(chromedp.CSS("body"), "data-status")).Value,
			webuitest.Get(t, ctx, "outcome", chromedp.Text(chromedp.CSS(`.flash, p.error[role=alert]`)))
	}
	for _, tc := range []struct{ service, method, path, want string }{
		{"AZ/GOV/EMDK/realestate/realEstateRegistry", "GET", "extract/*", "start it with /"},
		{"AZ/GOV/EMDK/realestate/realEstateRegistry", "", "/extract/*", "endpoint method"},
		{"AZ/GOV/EMDK/realestate/getRealEstateExtract", "GET", "/extract/*", "endpoint rights are for REST services"},
	} {
		if status, text := grant(tc.service, tc.method, tc.path); status != "400" || !strings.Contains(text, tc.want) {
			t.Errorf("grant %s %s %s: HTTP %s %q, want 400 mentioning %q", tc.service, tc.method, tc.path, status, text, tc.want)
		}
	}
	if status, text := grant("AZ/GOV/EMDK/realestate/realEstateRegistry", "GET", "/extract/*"); status != "200" || !strings.Contains(text, "GET /extract/*") {
		t.Fatalf("granting DSMF GET /extract/*: HTTP %s %q", status, text)
	}
	if by := webuitest.Get(t, ctx, "granted by", chromedp.Text(chromedp.CSS(rule+` td:nth-child(4)`))); by != "ƏMDK administratoru [console]" {
		t.Errorf("the endpoint right is recorded as granted by %q", by)
	}
	// It admits exactly that endpoint: GET of one extract, not another
	// method, a deeper path or another path.
	waitFor(t, "DSMF's extract answered after the endpoint grant", func() bool { return call("GET", "/extract/5ZJ8K2L", "") })
	for _, c := range [][2]string{{"POST", "/extract/5ZJ8K2L"}, {"GET", "/extract/5ZJ8K2L/history"}, {"GET", "/owners/5ZJ8K2L"}} {
		if !call(c[0], c[1], denied) {
			t.Errorf("DSMF's %s %s was not refused with %s after granting GET /extract/* only", c[0], c[1], denied)
		}
	}
	if rights, err = securityserver.OpenACL(emdk.Config); err != nil {
		t.Fatal(err)
	}
	rules, err = rights.List()
	rights.Close()
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, r := range rules {
		if r.Subject.String() == "AZ/GOV/DSMF/insurance" && r.Service.String() == "AZ/GOV/EMDK/realestate/realEstateRegistry" {
			ep := "whole service"
			if r.Endpoint != nil {
				ep = r.Endpoint.Method + " " + r.Endpoint.Path
			}
			held = append(held, ep)
		}
	}
	if len(held) != 1 || held[0] != "GET /extract/*" {
		t.Errorf("DSMF's rights on realEstateRegistry after the console's grant: %v, want only GET /extract/*", held)
	}
}

// consoleOf serves agency a's admin handler on a loopback port and returns
// the console's base URL and a sign-in link for actor.
func consoleOf(t testing.TB, a *localfed.Agency, actor string) (base, link string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin := &http.Server{Handler: a.Server.AdminHandler()}
	go admin.Serve(ln)
	t.Cleanup(func() { admin.Close() })
	cfg := *a.Config
	cfg.Admin.Listen = ln.Addr().String()
	link, err = securityserver.ConsoleLink(&cfg, actor, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + ln.Addr().String() + "/console", link
}
