package securityserver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/harness/localfed"
)

// BenchmarkConsolePages serves each page of DİN's console on the sample
// federation (after the sample queries), beside /metrics (which reads the
// same gauges) as the baseline of the same run.
func BenchmarkConsolePages(b *testing.B) {
	f, err := localfed.Start(localfed.Options{Dir: b.TempDir(), AnyPorts: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	var id string
	for _, q := range localfed.Queries {
		if res := f.RunQuery(context.Background(), q); q.From == "EMDK" {
			id = res.MessageID
		}
	}
	console, link := consoleOf(b, f.Agency("DIN"), "bench")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(b *testing.B, u string) {
		resp, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
		}
	}
	get(b, link)
	base := strings.TrimSuffix(console, "/console")
	for _, p := range []string{"/metrics", "/console/", "/console/services", "/console/access", "/console/messages?id=" + url.QueryEscape(id),
		"/console/messages?service=getPersonByFin", "/console/opmon?period=7d"} {
		b.Run(p, func(b *testing.B) {
			for b.Loop() {
				get(b, base+p)
			}
		})
	}
}
