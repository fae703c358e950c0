package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"testing"

	"github.com/sluz/sluz/registry/console"
)

// BenchmarkPages serves each console page of the sample federation over
// TLS with a signed-in session, beside the admin API's GET /api/v1/state
// (the same data as JSON, with the operator certificate) as the baseline of
// the same run: the target is a page well under 100 ms, and of the order
// of the API call.
func BenchmarkPages(b *testing.B) {
	f := federation(b, "ss1")
	jar, _ := cookiejar.New(nil)
	tr := f.Operator.HTTPClient.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = nil
	browser := &http.Client{Jar: jar, Transport: tr}
	resp, err := browser.Get(loginLink(b, f))
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("sign-in: %v %v", err, resp)
	}
	resp.Body.Close()
	get := func(b *testing.B, c *http.Client, url string) {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
		}
	}
	b.Run("baseline=api-state", func(b *testing.B) {
		for b.Loop() {
			get(b, f.Operator.HTTPClient, f.AdminURL+"/api/v1/state")
		}
	})
	for _, n := range console.Nav {
		b.Run("page="+n.Path, func(b *testing.B) {
			for b.Loop() {
				get(b, browser, f.AdminURL+console.Prefix+n.Path)
			}
		})
	}
}
