package loadtest

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/harness/sampleis"
	"github.com/sluz/sluz/internal/testtool"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.b != nil {
		shared.b.Close()
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// shared is one federation for the tests and benchmarks that need it.
var shared struct {
	once sync.Once
	dir  string
	b    *Bench
	err  error
}

func bench(tb testing.TB) *Bench {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts a local federation")
	}
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "loadtest-"); shared.err != nil {
			return
		}
		shared.b, shared.err = StartBench(context.Background(), BenchOptions{Dir: shared.dir, ProxyLog: log.New(os.Stderr, "plain pair ", log.Lmicroseconds), Floors: true, REST: true})
	})
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.b
}

// directTarget is the sample DİN handler alone, probed.
func directTarget(t *testing.T) *Target {
	t.Helper()
	srv := httptest.NewServer(sampleis.NewMux())
	t.Cleanup(srv.Close)
	req, err := NewRequest(localfed.Queries[0])
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{Name: "is", URL: srv.URL + "/din", Request: req, Check: &Check{}}
	if err := Probe(context.Background(), tg, "5ZJ8K2L"); err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestRequestCarriesID(t *testing.T) {
	req, err := NewRequest(localfed.Queries[0])
	if err != nil {
		t.Fatal(err)
	}
	body := string(req.Append(nil, []byte("abc-1")))
	if !strings.Contains(body, "<xrd:id>abc-1</xrd:id>") || strings.Contains(body, idMark) {
		t.Fatalf("request:\n%s", body)
	}
	if !strings.Contains(body, "<fin>5ZJ8K2L</fin>") {
		t.Fatalf("request without the FİN:\n%s", body)
	}
}

func TestCheckRefusesWrongAnswers(t *testing.T) {
	tg := directTarget(t)
	id := []byte("check-1")
	resp, err := http.Post(tg.URL, tg.Request.ContentType, bytes.NewReader(tg.Request.Append(nil, id)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	good := buf.Bytes()
	if err := tg.Check.Answer(200, good, id); err != nil {
		t.Fatalf("good answer refused: %v", err)
	}
	if tg.Check.Person == "" {
		t.Error("probe learned no person")
	}
	for name, c := range map[string]struct {
		status int
		body   []byte
		id     string
	}{
		"HTTP 500":     {500, good, "check-1"},
		"other id":     {200, good, "check-2"},
		"id prefix":    {200, good, "check-"},
		"fault":        {200, []byte(`<SOAP-ENV:Envelope><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Server.X</faultcode><faultstring>no</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`), "check-1"},
		"error":        {200, bytes.Replace(good, []byte("<person>"), []byte("<error><code>NOT_FOUND</code></error><person>"), 1), "check-1"},
		"other person": {200, bytes.Replace(good, []byte("<fin>5ZJ8K2L</fin>"), []byte("<fin>3MV6T9A</fin>"), 1), "check-1"},
		"empty":        {200, nil, "check-1"},
	} {
		if err := tg.Check.Answer(c.status, c.body, []byte(c.id)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	signed := &Check{Signed: true}
	if err := signed.Probe(200, good, "5ZJ8K2L"); err == nil {
		t.Error("an answer without requestHash passed as signed")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{50: 50, 90: 90, 99: 99, 100: 100, 0: 1} {
		if got := Percentile(d, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty")
	}
}

func TestRunClosedAndOpenLoop(t *testing.T) {
	tg := directTarget(t)
	ctx := context.Background()
	closed, err := Run(ctx, tg, Config{Concurrency: 4, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if closed.Errors != 0 || closed.OK == 0 || closed.Mode != "closed" {
		t.Fatalf("closed loop: %+v %v", closed, closed.TopErrors())
	}
	if !(closed.P50 <= closed.P90 && closed.P90 <= closed.P99 && closed.P99 <= closed.Max && closed.P50 > 0) {
		t.Errorf("percentiles out of order: %v %v %v %v", closed.P50, closed.P90, closed.P99, closed.Max)
	}
	open, err := Run(ctx, tg, Config{Rate: 200, Concurrency: 8, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if open.Errors != 0 || open.Mode != "open" || open.Rate != 200 {
		t.Fatalf("open loop: %+v %v", open, open.TopErrors())
	}
	// 200/s over 300 ms schedules 60 requests in the window.
	if open.OK < 55 || open.OK > 61 {
		t.Errorf("open loop answered %d requests, want about 60", open.OK)
	}
}

// TestRunCountsErrors: wrong answers are errors, never latencies.
func TestRunCountsErrors(t *testing.T) {
	tg := directTarget(t)
	var n atomic.Int64
	real := tg.URL
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "nope", http.StatusBadGateway)
			return
		}
		resp, err := http.Post(real, r.Header.Get("Content-Type"), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		w.Write(buf.Bytes())
	}))
	defer srv.Close()
	half := &Target{Name: "flaky", URL: srv.URL, Request: tg.Request, Check: tg.Check}
	res, err := Run(context.Background(), half, Config{Concurrency: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.OK == 0 {
		t.Fatalf("want both answers and errors: ok %d, errors %d", res.OK, res.Errors)
	}
	if top := res.TopErrors(); len(top) != 1 || !strings.Contains(top[0], "HTTP 502") {
		t.Errorf("error kinds: %q", top)
	}
}

// TestBenchTargets drives every target of the benchmark briefly: each
// answers correctly, the Şlüz pair with a signed answer.
func TestBenchTargets(t *testing.T) {
	b := bench(t)
	for _, tg := range append(b.Targets(), b.RESTPlainT, b.RESTSluzT) {
		res, err := Run(context.Background(), tg, Config{Concurrency: 4, Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 0 || res.OK == 0 {
			t.Errorf("%s: %d answers, %d errors %v", tg.Name, res.OK, res.Errors, res.TopErrors())
		}
		t.Logf("%s: %.0f/s, p50 %v, p99 %v", tg.Name, res.Throughput, res.P50, res.P99)
	}
	if !b.Sluz.Check.Signed || b.Direct.Check.Signed || !b.RESTSluzT.Check.Signed || b.RESTPlainT.Check.Signed {
		t.Error("only the Şlüz pairs' answers are checked for requestHash")
	}
	// A REST answer without its X-Road-Id or X-Road-Request-Hash, or an
	// X-Road error, is refused.
	req := b.RESTSluzT.Request
	for _, h := range []http.Header{{"X-Road-Id": {"other"}, "X-Road-Request-Hash": {"x"}}, {"X-Road-Id": {"id-1"}}, {"X-Road-Error": {"Server.ServerProxy.AccessDenied"}}} {
		if err := req.CheckHeader(h, []byte("id-1"), true); err == nil {
			t.Errorf("REST answer header %v accepted", h)
		}
	}
}

// benchTarget measures one exchange through t with 16 concurrent callers
// (8 per CPU on the 2-CPU reference machine).
func benchTarget(b *testing.B, t *Target) {
	client := NewClient(16)
	defer client.CloseIdleConnections()
	prefix := NewIDPrefix()
	var ids atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	defer testtool.ReportCPU(b, testtool.CPUTime()) // the whole process: servers, callers and the sample IS
	b.RunParallel(func(pb *testing.PB) {
		w := &worker{id: int(ids.Add(1)), client: client, t: t, timeout: 30 * time.Second, prefix: prefix}
		for pb.Next() {
			if err := w.exchange(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDirect: the provider IS alone.
func BenchmarkDirect(b *testing.B) { benchTarget(b, bench(b).Direct) }

// BenchmarkPlainPair: two reverse proxies joined by mutual TLS 1.3.
func BenchmarkPlainPair(b *testing.B) { benchTarget(b, bench(b).PlainT) }

// BenchmarkExchange: the Şlüz pair, ƏMDK's security server to DİN's.
func BenchmarkExchange(b *testing.B) { benchTarget(b, bench(b).Sluz) }

// BenchmarkRESTPlainPair: a REST GET through the plain pair, DİN to ƏMDK.
func BenchmarkRESTPlainPair(b *testing.B) { benchTarget(b, bench(b).RESTPlainT) }

// BenchmarkRESTExchange: the same REST GET through DİN's and ƏMDK's
// security servers (X-Road's REST protocol).
func BenchmarkRESTExchange(b *testing.B) { benchTarget(b, bench(b).RESTSluzT) }

// BenchmarkExchangeSerial: the Şlüz pair with one caller, so ns/op is one
// exchange's latency (where the service proxy's request append overlapping
// the provider call shows, rather than in throughput).
func BenchmarkExchangeSerial(b *testing.B) {
	t := bench(b).Sluz
	client := NewClient(1)
	defer client.CloseIdleConnections()
	w := &worker{id: 1, client: client, t: t, timeout: 30 * time.Second, prefix: NewIDPrefix()}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := w.exchange(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
