// Package webuitest drives the consoles in a real browser for tests:
// Debian's chromium, headless, through the DevTools protocol (chromedp).
// Without chromium the tests skip, or fail when CI is set
// (scripts/install-test-deps installs it).
package webuitest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/internal/webui"
)

// Browser starts a headless chromium for t and returns a tab's context.
// It trusts any TLS certificate (the consoles' are issued by the test
// federation's CA, which chromium cannot be told about without an NSS
// database) and prefers lang in Accept-Language.
func Browser(t testing.TB, lang webui.Lang) context.Context {
	t.Helper()
	path := testtool.Require(t, "chromium")
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("lang", string(lang)), chromedp.Flag("accept-lang", string(lang)),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 40*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": string(lang)}}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return ctx
}

// Do runs steps in the tab and fails t on error.
func Do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// Get runs one action in the tab and returns its value; it fails t on error.
func Get[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// Open navigates to u and returns the HTTP status of the page.
func Open(t testing.TB, ctx context.Context, u string) int {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(u))
	if err != nil {
		t.Fatalf("browser: open %s: %v", u, err)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// ScreenshotDir is where tests write the consoles' screenshots: env
// SLUZ_SCREENSHOTS, or docs/screenshots at the top of the repository.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("SLUZ_SCREENSHOTS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "docs", "screenshots")
}

// Screenshot writes the whole current page as dir/name.png.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png := Get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := ScreenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Page is what Walk saw of one console page.
type Page struct {
	URL, Title string
	Status     string // the layout's data-status
	HTML       string
	Files      []string // its file links Walk checked
}

// Walk opens start and every page of the same origin and path prefix its
// links lead to (language switches and sign-out aside), in the tab's
// current language, and reports each page's problems: a page answered
// with a status other than 200, a response of 400 or more while loading it
// (a broken stylesheet), a label the catalogue lacks, a link to another
// host, a file link (a[download] or a[data-file] below prefix: fetched
// with FetchFile, not opened) that does not answer 200 with a file that is not HTML and
// has a Content-Disposition. visit, when set, runs on each page
// (screenshots).
func Walk(t testing.TB, ctx context.Context, start, prefix string, visit func(p Page)) []Page {
	t.Helper()
	base, err := url.Parse(start)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var failed []string
	chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventResponseReceived); ok && r.Response.Status >= 400 {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("%s: HTTP %d", r.Response.URL, r.Response.Status))
			mu.Unlock()
		}
	})
	seen := map[string]bool{start: true}
	queue := []string{start}
	var pages []Page
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		mu.Lock()
		failed = nil
		mu.Unlock()
		p := Page{URL: u}
		Open(t, ctx, u)
		p.Title = Get(t, ctx, "title", chromedp.Title())
		p.Status = Get(t, ctx, "status", chromedp.AttributeValue(chromedp.CSS("body"), "data-status")).Value
		p.HTML = Get(t, ctx, "html", chromedp.OuterHTML(chromedp.CSS("html")))
		links := Get(t, ctx, "links", chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href]:not([download]):not([data-file]), link[href], img[src], form[method=get][action]")].map(e => new URL(e.getAttribute("href") || e.getAttribute("src") || e.getAttribute("action"), location.href).href)`))
		files := Get(t, ctx, "file links", chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href][download], a[href][data-file]")].map(e => e.href)`))
		for _, f := range files {
			if lu, err := url.Parse(f); err == nil && lu.Host == base.Host && strings.HasPrefix(lu.Path, prefix) {
				p.Files = append(p.Files, f)
				if !seen[f] {
					seen[f] = true
					checkFile(t, ctx, u, f)
				}
			}
		}
		pages = append(pages, p)
		mu.Lock()
		for _, f := range failed {
			t.Errorf("%s: while loading it: %s", u, f)
		}
		mu.Unlock()
		if p.Status != "200" {
			t.Errorf("%s: page status %q, want 200", u, p.Status)
		}
		if i := strings.Index(p.HTML, webui.MissingLabel); i >= 0 {
			t.Errorf("%s: a label is missing: %s", u, p.HTML[i:min(len(p.HTML), i+80)])
		}
		if visit != nil {
			visit(p)
		}
		for _, l := range links {
			lu, err := url.Parse(l)
			if err != nil || lu.Host != base.Host || lu.Scheme != base.Scheme {
				t.Errorf("%s: link %q leaves the console's origin", u, l)
				continue
			}
			lu.Fragment = ""
			if lu.Query().Has("lang") || !strings.HasPrefix(lu.Path, prefix) || strings.HasSuffix(lu.Path, "/logout") ||
				strings.Contains(lu.Path, "/static/") || seen[lu.String()] {
				continue
			}
			seen[lu.String()] = true
			queue = append(queue, lu.String())
		}
	}
	return pages
}

// File is what FetchFile got: a file the console serves, not a page.
type File struct {
	Status      int
	Type        string // Content-Type
	Disposition string // Content-Disposition
	Body        []byte
}

// FetchFile fetches u with the tab's cookies for it (its session) over a
// new connection, the way the browser would send a download's request;
// like the browser, it trusts any TLS certificate. (A fetch() inside the
// page would be refused by the console's Content-Security-Policy.)
func FetchFile(t testing.TB, ctx context.Context, u string) File {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatalf("browser: cookies for %s: %v", u, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the test federation's own certificate
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("fetch %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("fetch %s: %v", u, err)
	}
	return File{Status: resp.StatusCode, Type: resp.Header.Get("Content-Type"), Disposition: resp.Header.Get("Content-Disposition"), Body: body}
}

// checkFile fails t unless the file link u on page answers 200 with a
// non-empty body that is not HTML and says how to save it.
func checkFile(t testing.TB, ctx context.Context, page, u string) {
	t.Helper()
	f := FetchFile(t, ctx, u)
	if f.Status != 200 || len(f.Body) == 0 || strings.Contains(f.Type, "html") || f.Disposition == "" {
		t.Errorf("%s: file link %s: HTTP %d, %d bytes, Content-Type %q, Content-Disposition %q", page, u, f.Status, len(f.Body), f.Type, f.Disposition)
	}
}

// Download runs click (which starts a download) and returns the path of
// the file the browser saved in a new directory.
func Download(t testing.TB, ctx context.Context, click chromedp.Action[chromedp.Void]) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatalf("browser: allowing downloads: %v", err)
	}
	Do(t, ctx, "start the download", click)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".crdownload") {
				return filepath.Join(dir, e.Name())
			}
		}
	}
	t.Fatal("browser: the download did not finish within 20 s")
	return ""
}

// NarrowWidth is the phone-sized viewport CheckNarrow uses (CSS pixels).
const NarrowWidth = 390

// CheckNarrow opens each page in a NarrowWidth-wide viewport and fails t
// for a page wider than the screen (something that would need sideways
// scrolling); shot, when it returns a name, takes a screenshot under it.
func CheckNarrow(t testing.TB, ctx context.Context, pages []Page, shot func(Page) string) {
	t.Helper()
	Do(t, ctx, "narrow viewport", chromedp.EmulateViewport(NarrowWidth, 844, chromedp.EmulateMobile))
	defer Do(t, ctx, "reset viewport", chromedp.ResetViewport())
	for _, p := range pages {
		Open(t, ctx, p.URL)
		if w := Get(t, ctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > NarrowWidth {
			t.Errorf("%s is %d px wide on a %d px screen", p.URL, w, NarrowWidth)
		}
		if shot != nil {
			if name := shot(p); name != "" {
				Screenshot(t, ctx, name)
			}
		}
	}
}
