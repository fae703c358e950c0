package console_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/webui"
	"github.com/sluz/sluz/internal/webui/webuitest"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/console"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
)

// federation starts the sample federation with a new member, Dövlət
// Gömrük Komitəsi, whose security servers named by codes are registered
// but wait for approval.
func federation(t testing.TB, codes ...string) *localfed.Federation {
	t.Helper()
	f, err := localfed.Start(localfed.Options{Dir: t.TempDir(), AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	ctx := context.Background()
	dgk := identifier.Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "DGK"}
	if err := f.Operator.Do(ctx, http.MethodPost, "/api/v1/members", store.AddMember{ID: dgk, Name: "Dövlət Gömrük Komitəsi"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, code := range codes {
		key, err := pkiutil.GenerateKey(pkiutil.KeyECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := f.CA.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: dgk.String(), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, PublicKey: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		add := store.AddServer{ID: identifier.ServerID{Owner: dgk, ServerCode: code}, Address: "127.0.0.1:5599", AuthCert: string(pkiutil.EncodeCertificates(cert, f.CA.Cert))}
		if err := f.Operator.Do(ctx, http.MethodPost, "/api/v1/servers", add, nil); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// loginLink asks the registry for a one-time sign-in link, as
// `registry console-link` does, with the operator's certificate.
func loginLink(t testing.TB, f *localfed.Federation) string {
	t.Helper()
	var link console.LinkResponse
	if err := f.Operator.Do(context.Background(), http.MethodPost, console.Prefix+"/link", nil, &link); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, f.AdminURL+console.Prefix+"/login?token=") {
		t.Fatalf("link %q", link.URL)
	}
	return link.URL
}

// published fetches the global configuration the registry serves and
// verifies it as a security server would.
func published(t *testing.T, f *localfed.Federation) *globalconf.Conf {
	t.Helper()
	resp, err := http.Get(f.ConfURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := globalconf.Verify(data, f.Registry.Anchor(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

func confHas(c *globalconf.Conf, server string) bool {
	for _, s := range c.Servers {
		if s.ID.String() == server {
			return true
		}
	}
	return false
}

// TestApproveInBrowser: the operator signs in with a one-time link,
// approves the waiting registration request and declines the other; the
// approved server is in the next signed global configuration, the audit
// trail names the operator; a browser that did not sign in sees only the
// login page, and a form another site posts is refused.
func TestApproveInBrowser(t *testing.T) {
	f := federation(t, "ss1", "ss2")
	before := published(t, f)
	if confHas(before, "AZ/GOV/DGK/ss1") {
		t.Fatal("the waiting server is published before approval")
	}
	base := f.AdminURL + console.Prefix

	t.Run("unauthenticated", func(t *testing.T) {
		ctx := webuitest.Browser(t, webui.EN)
		for _, p := range []string{"/", "/requests", "/members", "/audit", "/nosuchpage"} {
			webuitest.Open(t, ctx, base+p)
			loc := webuitest.Get(t, ctx, "location", chromedp.Evaluate[string](`location.pathname`))
			html := webuitest.Get(t, ctx, "html", chromedp.OuterHTML(chromedp.CSS("html")))
			if loc != console.Prefix+"/login" || strings.Contains(html, "AZ/GOV/DIN") || strings.Contains(html, "<nav") {
				t.Errorf("%s without signing in: at %s, page shows:\n%s", p, loc, html)
			}
		}
	})

	ctx := webuitest.Browser(t, webui.AZ)
	webuitest.Open(t, ctx, loginLink(t, f))
	webuitest.Open(t, ctx, base+"/requests")
	webuitest.Screenshot(t, ctx, "registry-requests-waiting-az")
	webuitest.Do(t, ctx, "approve",
		chromedp.Click(chromedp.CSS(`tr[data-server="AZ/GOV/DGK/ss1"] button[name=approve]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	flash := webuitest.Get(t, ctx, "flash", chromedp.Text(chromedp.CSS(".flash")))
	if flash != "Təsdiqləndi: AZ/GOV/DGK/ss1" {
		t.Errorf("after approving, the page says %q", flash)
	}
	after := published(t, f)
	if after.Version <= before.Version || !confHas(after, "AZ/GOV/DGK/ss1") || confHas(after, "AZ/GOV/DGK/ss2") {
		t.Fatalf("configuration version %d (before %d) lists ss1 %v, ss2 %v; want a newer version with ss1 only",
			after.Version, before.Version, confHas(after, "AZ/GOV/DGK/ss1"), confHas(after, "AZ/GOV/DGK/ss2"))
	}
	audit, err := f.Registry.Store().Audit(1)
	if err != nil {
		t.Fatal(err)
	}
	if e := audit[0]; e.Action != "server.approve" || !strings.HasPrefix(e.Actor, "Mərkəzi operator (serial ") || !strings.HasSuffix(e.Actor, " [console]") {
		t.Errorf("audit trail's newest entry: %s by %q", e.Action, e.Actor)
	}

	t.Run("forged cross-site POST", func(t *testing.T) {
		// Another site (localhost is not 127.0.0.1) posts the approval form
		// in the signed-in operator's browser.
		evil := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/requests/approve"><input name="id" value="AZ/GOV/DGK/ss2"><input name="csrf" value="guessed"></form><script>document.forms[0].submit()</script>`, base)
		})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go evil.Serve(ln)
		t.Cleanup(func() { evil.Close() })
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		webuitest.Open(t, ctx, "http://localhost:"+port+"/")
		webuitest.Do(t, ctx, "wait for the forged POST's answer", chromedp.WaitVisible(chromedp.CSS(`body[data-status]`)))
		status := webuitest.Get(t, ctx, "status", chromedp.AttributeValue(chromedp.CSS("body"), "data-status")).Value
		if status != "403" {
			t.Errorf("the forged POST was answered with status %s, want 403", status)
		}
		if f.Registry.Store().State().Servers["AZ/GOV/DGK/ss2"].Approved {
			t.Fatal("the forged POST approved AZ/GOV/DGK/ss2")
		}
	})

	webuitest.Open(t, ctx, base+"/requests")
	webuitest.Do(t, ctx, "decline",
		chromedp.Click(chromedp.CSS(`tr[data-server="AZ/GOV/DGK/ss2"] button[name=decline]`)),
		chromedp.WaitVisible(chromedp.CSS(`#no-requests`)))
	if _, ok := f.Registry.Store().State().Servers["AZ/GOV/DGK/ss2"]; ok {
		t.Error("the declined server is still registered")
	}

	t.Run("service documents", func(t *testing.T) {
		serviceDocs(t, ctx, f, base)
	})

	t.Run("every page in both languages", func(t *testing.T) {
		walkAll(t, ctx, base, "registry")
	})
}

// sampleDoc reads a description document shipped in configs/.
func sampleDoc(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// serviceDocs: the catalogue links each service loaded with a WSDL or
// OpenAPI description to it; the browser downloads ƏMDK's OpenAPI file
// byte for byte and shows DİN's WSDL as plain text; a WSDL carrying an
// XHTML script is shown as text and its script does not run.
func serviceDocs(t *testing.T, ctx context.Context, f *localfed.Federation, base string) {
	webuitest.Open(t, ctx, base+"/services")
	rest := `tr[data-service="AZ/GOV/EMDK/realestate/realEstateRegistry"]`
	if got := webuitest.Get(t, ctx, "document type", chromedp.Text(chromedp.CSS(rest+` td:last-child`))); !strings.HasPrefix(got, "OpenAPI: ") {
		t.Errorf("ƏMDK's REST service's document cell says %q", got)
	}
	file := webuitest.Download(t, ctx, chromedp.Click(chromedp.CSS(rest+` a.doc-download`)))
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(file) != "realEstateRegistry.yaml" || string(got) != sampleDoc(t, "openapi/emdk-realestate.yaml") {
		t.Errorf("downloaded %s (%d bytes), want realEstateRegistry.yaml as in configs/openapi", filepath.Base(file), len(got))
	}

	view := func(service string) (ctype, text, title string) {
		webuitest.Open(t, ctx, base+"/services")
		webuitest.Do(t, ctx, "view "+service, chromedp.Click(chromedp.CSS(`tr[data-service="`+service+`"] a.doc-view`)),
			chromedp.WaitReady(chromedp.CSS(`body`)))
		return webuitest.Get(t, ctx, "content type", chromedp.Evaluate[string](`document.contentType`)),
			webuitest.Get(t, ctx, "text", chromedp.Evaluate[string](`document.body.innerText`)),
			webuitest.Get(t, ctx, "title", chromedp.Evaluate[string](`document.title`))
	}
	ctype, text, _ := view("AZ/GOV/DIN/population/getPersonByFin/v1")
	if ctype != "text/plain" || strings.TrimSpace(text) != strings.TrimSpace(sampleDoc(t, "wsdl/din-population.wsdl")) {
		t.Errorf("DİN's WSDL viewed as %s:\n%.300s", ctype, text)
	}

	evil := `<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"><wsdl:documentation>` +
		`<h:script xmlns:h="http://www.w3.org/1999/xhtml">document.title = "pwned"</h:script></wsdl:documentation></wsdl:definitions>`
	svc := "AZ/GOV/DSMF/insurance/getInsuredPerson/v1"
	id, _ := identifier.ParseService(svc)
	if err := f.Operator.Do(context.Background(), http.MethodPut, "/api/v1/services/doc", store.SetServiceDoc{ID: id, Type: store.DocWSDL, Content: evil}, nil); err != nil {
		t.Fatal(err)
	}
	if ctype, text, title := view(svc); ctype != "text/plain" || title == "pwned" || !strings.Contains(text, "<h:script") {
		t.Errorf("a WSDL with a script: shown as %s, title %q, text %q", ctype, title, text)
	}
	webuitest.Open(t, ctx, base+"/services")
}

// walkAll walks every console page in each language, taking screenshots,
// and checks the login page too (in a browser that did not sign in).
func walkAll(t *testing.T, ctx context.Context, base, name string) {
	for _, lang := range webui.Langs {
		webuitest.Open(t, ctx, base+"/?lang="+string(lang))
		if got := webuitest.Get(t, ctx, "lang", chromedp.AttributeValue(chromedp.CSS("html"), "lang")).Value; got != string(lang) {
			t.Fatalf("after switching to %s the page is in %q", lang, got)
		}
		pages := webuitest.Walk(t, ctx, base+"/", console.Prefix, func(p webuitest.Page) {
			u, _ := url.Parse(p.URL)
			page := strings.Trim(strings.TrimPrefix(u.Path, console.Prefix), "/")
			if page == "" {
				page = "overview"
			}
			webuitest.Screenshot(t, ctx, fmt.Sprintf("%s-%s-%s", name, page, lang))
		})
		if len(pages) < len(console.Nav) {
			t.Errorf("%s: walked %d pages, the menu has %d", lang, len(pages), len(console.Nav))
		}
		for _, p := range pages {
			if strings.HasSuffix(p.URL, "/services") && !slices.ContainsFunc(p.Files, func(u string) bool {
				return strings.Contains(u, "realEstateRegistry") && strings.HasSuffix(u, "&download")
			}) {
				t.Errorf("%s: the catalogue has no download link for ƏMDK's OpenAPI description: %v", lang, p.Files)
			}
		}
		if lang == webui.AZ {
			webuitest.CheckNarrow(t, ctx, pages, func(p webuitest.Page) string {
				if strings.HasSuffix(p.URL, "/servers") {
					return name + "-servers-narrow-az"
				}
				return ""
			})
		}
		anon := webuitest.Browser(t, lang)
		webuitest.Walk(t, anon, base+"/login", console.Prefix+"/login", nil)
		webuitest.Screenshot(t, anon, fmt.Sprintf("%s-login-%s", name, lang))
	}
}

// TestLabels: every label the console and the kit use exists in both languages.
func TestLabels(t *testing.T) {
	if missing := console.Labels.Incomplete(); len(missing) > 0 {
		t.Errorf("labels without both languages: %v", missing)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestCSRF over plain HTTP: a POST with the session's cookie but without
// the page's token, or with the token from another origin, is refused and
// changes nothing; with both it goes through.
func TestCSRF(t *testing.T) {
	f := federation(t, "ss1")
	jar, _ := cookiejar.New(nil)
	tr := f.Operator.HTTPClient.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = nil // a browser without the operator certificate
	client := &http.Client{Jar: jar, Transport: tr}
	link := loginLink(t, f)
	resp, err := client.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("after the sign-in link: HTTP %d, no CSRF token in\n%s", resp.StatusCode, page)
	}
	base := f.AdminURL + console.Prefix
	post := func(form url.Values, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/requests/approve", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	id := "AZ/GOV/DGK/ss1"
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no token", url.Values{"id": {id}}, ""},
		{"wrong token", url.Values{"id": {id}, "csrf": {"x" + string(m[1])}}, ""},
		{"other origin", url.Values{"id": {id}, "csrf": {string(m[1])}}, "https://evil.example"},
	} {
		if got := post(tc.form, tc.origin); got != http.StatusForbidden {
			t.Errorf("%s: HTTP %d, want 403", tc.name, got)
		}
		if f.Registry.Store().State().Servers[id].Approved {
			t.Fatalf("%s: the server was approved", tc.name)
		}
	}
	if got := post(url.Values{"id": {id}, "csrf": {string(m[1])}}, f.AdminURL); got != http.StatusSeeOther {
		t.Fatalf("a proper POST: HTTP %d, want 303", got)
	}
	if !f.Registry.Store().State().Servers[id].Approved {
		t.Fatal("a proper POST did not approve the server")
	}
	// Trust settings go through the API's checks: a refused value changes
	// nothing, an accepted one is in the audit trail under the operator.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	settings := func(v string) int {
		form := url.Values{"csrf": {string(m[1])}, "ocspFreshnessSeconds": {v}}
		req, _ := http.NewRequest(http.MethodPost, base+"/trust/settings", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := settings("-5"); code != http.StatusBadRequest || f.Registry.Store().State().Trust.OCSPFreshnessSeconds != 3600 {
		t.Errorf("OCSP freshness -5: HTTP %d, setting now %d", code, f.Registry.Store().State().Trust.OCSPFreshnessSeconds)
	}
	if code := settings("1800"); code != http.StatusSeeOther || f.Registry.Store().State().Trust.OCSPFreshnessSeconds != 1800 {
		t.Errorf("OCSP freshness 1800: HTTP %d, setting now %d", code, f.Registry.Store().State().Trust.OCSPFreshnessSeconds)
	}
	if audit, err := f.Registry.Store().Audit(1); err != nil || audit[0].Action != "trust.settings" || !strings.HasSuffix(audit[0].Actor, "[console]") {
		t.Errorf("audit trail's newest entry: %+v %v", audit, err)
	}

	// A service's description is served as a file, never as a page.
	get := func(u string) (*http.Response, string) {
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	docURL := base + "/services/doc?id=" + url.QueryEscape("AZ/GOV/DIN/population/getPersonByFin/v1")
	for _, tc := range []struct{ query, ctype, disposition string }{
		{"&download", "application/xml", "attachment; filename=getPersonByFin-v1.wsdl"},
		{"", "text/plain; charset=utf-8", "inline; filename=getPersonByFin-v1.wsdl"},
	} {
		resp, body := get(docURL + tc.query)
		h := resp.Header
		if resp.StatusCode != 200 || h.Get("Content-Type") != tc.ctype || h.Get("Content-Disposition") != tc.disposition ||
			h.Get("Content-Security-Policy") != console.DocCSP || h.Get("X-Content-Type-Options") != "nosniff" || body != sampleDoc(t, "wsdl/din-population.wsdl") {
			t.Errorf("GET %s: HTTP %d, headers %v, %d bytes", docURL+tc.query, resp.StatusCode, h, len(body))
		}
	}
	if resp, body := get(base + "/services/doc?id=AZ/GOV/DGK/customs/nosuch"); resp.StatusCode != 404 || !strings.Contains(body, "AZ/GOV/DGK/customs/nosuch") {
		t.Errorf("a service without a document: HTTP %d", resp.StatusCode)
	}

	// Signing out ends the session.
	req, _ := http.NewRequest(http.MethodPost, base+"/logout", strings.NewReader(url.Values{"csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	client.CheckRedirect = nil
	if resp, err = client.Get(base + "/members"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != console.Prefix+"/login" {
		t.Errorf("after signing out, /members led to %s, want the login page", resp.Request.URL.Path)
	}

	// A sign-in link works once.
	again, _ := cookiejar.New(nil)
	resp, err = (&http.Client{Jar: again, Transport: tr}).Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the sign-in link used again: HTTP %d, want 403", resp.StatusCode)
	}
}

// TestCertificateSignIn: a browser that presents the operator certificate
// signs in with it; one that presents a security server's authentication
// certificate is refused.
func TestCertificateSignIn(t *testing.T) {
	f := federation(t)
	base := f.AdminURL + console.Prefix
	signIn := func(certFile, keyFile string) (int, string) {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		tr := f.Operator.HTTPClient.Transport.(*http.Transport).Clone()
		tr.TLSClientConfig.Certificates = []tls.Certificate{pair}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Transport: tr}
		req, _ := http.NewRequest(http.MethodPost, base+"/login", nil)
		req.Header.Set("Origin", f.AdminURL)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(page)
	}
	if code, page := signIn(filepath.Join(f.Dir, localfed.FileOperatorCert), filepath.Join(f.Dir, localfed.FileOperatorKey)); code != http.StatusOK || !strings.Contains(page, "Mərkəzi operator (serial") {
		t.Errorf("with the operator certificate: HTTP %d\n%s", code, page)
	}
	if code, page := signIn(filepath.Join(f.Dir, "DIN", "auth.pem"), filepath.Join(f.Dir, "DIN", "auth.key")); code != http.StatusForbidden || !strings.Contains(page, "is not an admin-profile certificate") {
		t.Errorf("with DİN's authentication certificate: HTTP %d\n%s", code, page)
	}
}
