package globalconf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
)

// statusCounter counts the responses of a handler by status code.
type statusCounter struct {
	h      http.Handler
	mu     sync.Mutex
	counts map[int]int
}

func (s *statusCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.h.ServeHTTP(rec, r)
	s.mu.Lock()
	s.counts[rec.status]++
	s.mu.Unlock()
}

func (s *statusCounter) count(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[code]
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// clock is a settable Now.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)  { c.t.Store(&t) }
func (c *clock) now() time.Time   { return *c.t.Load() }

func TestClient(t *testing.T) {
	p := newPKI(t, "")
	pub := &Publisher{}
	counter := &statusCounter{h: pub, counts: map[int]int{}}
	srv := httptest.NewServer(counter)
	defer srv.Close()
	anchor := p.anchor(srv.URL + "/globalconf")
	cache := filepath.Join(t.TempDir(), "globalconf.xml")
	clk := newClock(testNow)
	opts := ClientOptions{Anchor: anchor, CachePath: cache, Now: clk.now}
	ctx := context.Background()

	cl, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Current(); !errors.Is(err, ErrNoConfiguration) {
		t.Fatalf("Current before any refresh: %v", err)
	}
	if err := cl.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Refresh with nothing published: %v", err)
	}

	v1 := build(t, p, sampleConf(t, p, 1))
	pub.Publish(v1, 1)
	if err := cl.Refresh(ctx); err != nil {
		t.Fatalf("first Refresh: %v", err)
	}
	if got, _ := os.ReadFile(cache); !bytes.Equal(got, v1) {
		t.Fatal("the cache does not hold the verified document")
	}
	snap, err := cl.Current()
	if err != nil || snap.Version != 1 || !bytes.Equal(snap.Bytes(), v1) {
		t.Fatalf("Current = %v, %v", snap, err)
	}

	// Unchanged: the registry answers 304 and the copy stays.
	for range 2 {
		if err := cl.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.count(http.StatusNotModified); n != 2 {
		t.Fatalf("%d responses were 304, want 2", n)
	}
	if s, _ := cl.Current(); s != snap {
		t.Fatal("a 304 replaced the snapshot")
	}

	// Newer version swaps in.
	c2 := sampleConf(t, p, 2)
	c2.Servers[0].Address = "127.0.0.1:6500"
	v2 := build(t, p, c2)
	pub.Publish(v2, 2)
	if err := cl.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	snap, _ = cl.Current()
	if snap.Version != 2 || snap.ServersFor(mustClient(t, "AZ/GOV/DIN/population"))[0].Address != "127.0.0.1:6500" {
		t.Fatalf("version 2 not in use: %d", snap.Version)
	}

	// Older version: refused, version 2 stays, cache unchanged.
	pub.Publish(v1, 1)
	if err := cl.Refresh(ctx); !errors.Is(err, ErrRollback) {
		t.Fatalf("rollback: err = %v", err)
	}
	// Same version, other content: refused too.
	c2b := sampleConf(t, p, 2)
	c2b.Servers[0].Address = "198.51.100.7:5500"
	pub.Publish(build(t, p, c2b), 2)
	if err := cl.Refresh(ctx); !errors.Is(err, ErrRollback) {
		t.Fatalf("same version, other content: err = %v", err)
	}
	// Same version and content signed again (ECDSA values differ): fine.
	pub.Publish(build(t, p, c2), 2)
	if err := cl.Refresh(ctx); err != nil {
		t.Fatalf("same content signed again: %v", err)
	}
	// Tampered in transit: refused.
	pub.Publish(bytes.Replace(build(t, p, sampleConf(t, p, 3)), []byte("Daxili"), []byte("Eaxili"), 1), 3)
	if err := cl.Refresh(ctx); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered: err = %v", err)
	}
	if s, _ := cl.Current(); s.Version != 2 {
		t.Fatalf("version %d in use after refused updates, want 2", s.Version)
	}
	if got, _ := os.ReadFile(cache); !bytes.Equal(got, v2) {
		t.Fatal("a refused document reached the cache")
	}

	// Registry gone: a new client starts from the cache and answers lookups.
	srv.Close()
	cl2, err := NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient from cache: %v", err)
	}
	if err := cl2.Refresh(ctx); err == nil {
		t.Fatal("Refresh against a stopped registry succeeded")
	}
	snap, err = cl2.Current()
	if err != nil || snap.Version != 2 {
		t.Fatalf("Current from cache = %v, %v", snap, err)
	}
	if name, ok := snap.MemberName(mustClient(t, "AZ/GOV/EMDK")); !ok || name != "Əmlak Məsələləri Dövlət Komitəsi" {
		t.Fatalf("lookup from cache: %q %v", name, ok)
	}

	// Past the expiry: Current says so and still returns the snapshot.
	clk.set(snap.Expires.Add(time.Second))
	s, err := cl2.Current()
	if !errors.Is(err, ErrExpired) || s == nil || s.Version != 2 {
		t.Fatalf("expired: %v, %v", s, err)
	}
	// An expired cache still loads.
	cl3, err := NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient with an expired cache: %v", err)
	}
	if s, err := cl3.Current(); !errors.Is(err, ErrExpired) || s.Version != 2 {
		t.Fatalf("expired cache: %v, %v", s, err)
	}
}

func TestClientRefusesBadCache(t *testing.T) {
	p := newPKI(t, "")
	good := build(t, p, sampleConf(t, p, 1))
	otherCert, otherKey := p.otherSigner(t)
	byOther, err := Build(sampleConf(t, p, 1), otherKey, otherCert)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"one byte flipped", bytes.Replace(good, []byte("Fondu"), []byte("Fondo"), 1), ErrSignature},
		{"truncated", good[:len(good)/2], ErrMalformed},
		{"signed by another key", byOther, ErrSigner},
	}
	for _, tc := range cases {
		cache := filepath.Join(t.TempDir(), "globalconf.xml")
		if err := os.WriteFile(cache, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := NewClient(ClientOptions{Anchor: p.anchor("http://127.0.0.1:1/globalconf"), CachePath: cache, Now: func() time.Time { return testNow }})
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "remove it") || !strings.Contains(err.Error(), cache) {
			t.Errorf("%s: err = %v, want %v naming the file and saying to remove it", tc.name, err, tc.want)
		}
	}
}

func TestClientRun(t *testing.T) {
	p := newPKI(t, "")
	pub := &Publisher{}
	pub.Publish(build(t, p, sampleConf(t, p, 1)), 1)
	srv := httptest.NewServer(pub)
	defer srv.Close()
	cl, err := NewClient(ClientOptions{Anchor: p.anchor(srv.URL), Interval: 5 * time.Millisecond, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cl.Run(ctx); close(done) }()

	// Readers never block on refreshes.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if s, err := cl.Current(); err == nil {
					s.AuthCertAllowedFor(authHash("din"), identifier.Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "DIN", SubsystemCode: "population"})
				}
			}
		})
	}
	waitVersion := func(v uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if s, err := cl.Current(); err == nil && s.Version == v {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatalf("version %d never arrived", v)
	}
	waitVersion(1)
	pub.Publish(build(t, p, sampleConf(t, p, 2)), 2)
	waitVersion(2)
	close(stop)
	wg.Wait()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestPublisher(t *testing.T) {
	pub := &Publisher{}
	do := func(method string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/globalconf", nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		pub.ServeHTTP(w, r)
		return w
	}
	if w := do("GET", nil); w.Code != 503 || !strings.Contains(w.Body.String(), "No global configuration has been published yet") {
		t.Fatalf("unpublished: %d %q", w.Code, w.Body)
	}
	doc := []byte("<?xml version=\"1.0\"?><conf/>")
	pub.Publish(doc, 42)
	w := do("GET", nil)
	etag := w.Header().Get("ETag")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), doc) || w.Header().Get("Content-Type") != "application/xml; charset=utf-8" ||
		w.Header().Get("Cache-Control") != "no-cache" || !strings.HasPrefix(etag, `"42-`) || len(etag) != len(`"42-`)+17 {
		t.Fatalf("GET: %d %v", w.Code, w.Header())
	}
	if w := do("HEAD", nil); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "28" {
		t.Fatalf("HEAD: %d %v", w.Code, w.Header())
	}
	for _, inm := range []string{etag, `"x", ` + etag, "W/" + etag, "*"} {
		if w := do("GET", map[string]string{"If-None-Match": inm}); w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d", inm, w.Code)
		}
	}
	if w := do("GET", map[string]string{"If-None-Match": `"41-0000000000000000"`}); w.Code != 200 {
		t.Errorf("stale ETag: %d", w.Code)
	}
	if w := do("POST", nil); w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v", w.Code, w.Header())
	}
	// Concurrent publish and serve (run with -race).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				if i%2 == 0 {
					pub.Publish(doc, uint64(j))
				} else if w := do("GET", nil); w.Code != 200 {
					t.Errorf("GET during publish: %d", w.Code)
				}
			}
		})
	}
	wg.Wait()
}

func TestAnchorFile(t *testing.T) {
	p := newPKI(t, "")
	a := p.anchor("https://registry.example.az/globalconf")
	path := filepath.Join(t.TempDir(), "anchor.json")
	if err := a.Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadAnchor(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Instance != "AZ" || got.URL != a.URL || !got.Cert.Equal(p.cert) {
		t.Fatalf("anchor = %+v", got)
	}
	data, _ := os.ReadFile(path)
	bad := bytes.Replace(data, []byte(Fingerprint(p.cert)[:8]), []byte("00000000"), 1)
	if _, err := ParseAnchor(bad); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("wrong fingerprint: %v", err)
	}
	pemCert := string(pkiutil.EncodeCertificates(p.cert))
	for name, tc := range map[string]struct {
		fields map[string]any
		want   string
	}{
		"unknown field": {map[string]any{"instance": "AZ", "url": "http://x/", "certificate": pemCert, "extra": 1}, "unknown field"},
		"no URL":        {map[string]any{"instance": "AZ", "certificate": pemCert}, "not an absolute http or https URL"},
		"bad instance":  {map[string]any{"instance": "A/Z", "url": "http://x/", "certificate": pemCert}, "instance"},
		"no cert":       {map[string]any{"instance": "AZ", "url": "http://x/", "certificate": ""}, "no PEM CERTIFICATE"},
	} {
		doc, _ := json.Marshal(tc.fields)
		if _, err := ParseAnchor(doc); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// TestClientRecheck: an on-demand fetch happens at once, reports a new
// version, and is not repeated within minAge (the periodic Refresh does
// not count against it); CheckedAt moves with every confirmation.
func TestClientRecheck(t *testing.T) {
	p := newPKI(t, "")
	pub := &Publisher{}
	pub.Publish(build(t, p, sampleConf(t, p, 1)), 1)
	var fetches atomic.Int64 // counted on arrival: the client may see the answer before a handler returns
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		pub.ServeHTTP(w, r)
	}))
	defer srv.Close()
	clk := newClock(testNow)
	cl, err := NewClient(ClientOptions{Anchor: p.anchor(srv.URL), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if !cl.CheckedAt().IsZero() {
		t.Fatal("CheckedAt is set before any fetch")
	}
	ctx := context.Background()
	if err := cl.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !cl.CheckedAt().Equal(testNow) {
		t.Fatalf("CheckedAt %v after a refresh at %v", cl.CheckedAt(), testNow)
	}
	requests := func() int { return int(fetches.Load()) }
	pub.Publish(build(t, p, sampleConf(t, p, 2)), 2)
	for _, tc := range []struct {
		name        string
		advance     time.Duration
		wantChanged bool
		wantFetches int
	}{
		{"just after the periodic refresh: fetched at once", time.Second, true, 2},
		{"again within minAge: not fetched", 2 * time.Second, false, 2},
		{"after minAge: fetched (nothing new)", 5 * time.Second, false, 3},
	} {
		clk.set(clk.now().Add(tc.advance))
		changed, err := cl.Recheck(ctx, 5*time.Second)
		if err != nil || changed != tc.wantChanged || requests() != tc.wantFetches {
			t.Fatalf("%s: changed %v err %v after %d requests; want changed %v after %d", tc.name, changed, err, requests(), tc.wantChanged, tc.wantFetches)
		}
	}
	if s, _ := cl.Current(); s.Version != 2 {
		t.Fatalf("version %d in use, want 2", s.Version)
	}
	if !cl.CheckedAt().Equal(clk.now()) {
		t.Fatalf("CheckedAt %v, want the last confirmation %v", cl.CheckedAt(), clk.now())
	}
}
