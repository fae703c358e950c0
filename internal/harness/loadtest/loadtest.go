// Package loadtest is the load generator of Şlüz's throughput and latency
// benchmark (go run ./cmd/loadtest, BENCHMARKS.md): one implementation that
// drives the same X-Road request against any HTTP endpoint an information
// system (IS) would call — the provider IS itself, a plain pair of reverse
// proxies, or a Şlüz client proxy — and checks every answer.
//
// Two load shapes:
//
//   - closed loop (Run with Rate 0): Concurrency workers, each sending its
//     next request as soon as the previous answer is in; this finds the
//     throughput a target sustains.
//   - open loop (Run with Rate > 0): requests are scheduled at a constant
//     rate, independent of how fast answers come; a latency is measured
//     from the scheduled send time, so queueing in front of a busy target
//     is counted (no coordinated omission). This compares latencies at the
//     same offered load.
//
// Every request carries a fresh xrd:id (security servers refuse replays)
// and every answer is checked: HTTP 200, the request's own xrd:id echoed,
// the person's record and no SOAP fault or error element (see Check).
//
// A request may carry an attachment (Request.WithAttachment; SOAP with
// attachments): the targets then end at an AttachmentSink in front of the
// provider IS, which checks every attachment byte, and Transfer streams one
// large attachment through a target, measuring the time and the resident
// set's growth (attachment.go).
//
// # Caveats
//
// The generator runs in the process it is linked into: in cmd/loadtest it
// shares the CPUs with the servers it measures. Its workers run under the
// pprof label loadgen=<target name>, so a CPU profile can separate them
// (go tool pprof -tagignore loadgen=.).
package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Config is one measured run against one target.
type Config struct {
	// Concurrency is the number of closed-loop workers (Rate 0), or the most
	// requests in flight at once in open loop (default 4 × 16).
	Concurrency int
	// Rate, if positive, is the open-loop arrival rate in requests per second.
	Rate float64
	// Warmup runs the same load unmeasured before the measured Duration.
	Warmup, Duration time.Duration
	// Timeout bounds one exchange (default 30 s); a timeout is an error.
	Timeout time.Duration
	// OnMeasure, if set, is called when the measured window starts
	// (start true) and ends (start false), e.g. to run a CPU profile.
	OnMeasure func(start bool)
	// IDPrefix makes this run's xrd:ids unique (default: random).
	IDPrefix string
}

// Result is what one run measured. Latencies and the counts cover only the
// measured window: closed loop, exchanges sent and answered within it; open
// loop, exchanges scheduled within it. Durations are nanoseconds in JSON.
type Result struct {
	Target      string         `json:"target"`
	Mode        string         `json:"mode"`        // "closed" or "open"
	Concurrency int            `json:"concurrency"` // closed-loop workers, or open-loop worker pool
	Rate        float64        `json:"rate"`        // offered rate (open loop), requests per second
	Duration    time.Duration  `json:"duration_ns"`
	OK          int            `json:"ok"`          // exchanges answered correctly
	Errors      int            `json:"errors"`      // exchanges that failed or were answered wrongly
	ErrorKinds  map[string]int `json:"error_kinds"` // error message -> count (capped at 20 kinds)
	// Throughput is correct answers per second of the window; in open
	// loop, of the time until the last answer, if the target fell behind.
	Throughput float64 `json:"throughput"`
	// Overloaded: in open loop, the target answered under 95 % of the
	// offered rate, or over 1 % of the window's requests were left unsent;
	// its latencies measure a growing queue and, as unsent requests are not
	// in them, understate it.
	Overloaded bool `json:"overloaded"`
	// Unsent counts open-loop requests scheduled within the window but not
	// sent by its end because the target had fallen that far behind.
	Unsent int           `json:"unsent"`
	P50    time.Duration `json:"p50_ns"`
	P90    time.Duration `json:"p90_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
	Mean   time.Duration `json:"mean_ns"`
	// Late counts open-loop requests that started over 1 ms after their
	// scheduled time: every worker was busy (the target could not keep
	// up) or the generator's timer fired late (a busy machine).
	Late int `json:"late"`
	// SendDelayP99 is the open-loop p99 of the time from a request's
	// scheduled time to its sending: near the latency p99, the queue was
	// in front of the target or in the generator, not in the target.
	SendDelayP99 time.Duration `json:"send_delay_p99_ns"`
	// ProcCPU is the CPU time this process used during the window (all
	// goroutines: generator and in-process servers); 0 if unknown.
	ProcCPU time.Duration `json:"proc_cpu_ns"`
	// Host is the machine-wide accounting over the window (Linux).
	Host HostCPU `json:"host"`
}

// CPUPerExchange is the process CPU time per correct answer.
func (r *Result) CPUPerExchange() time.Duration {
	if r.OK == 0 || r.ProcCPU == 0 {
		return 0
	}
	return r.ProcCPU / time.Duration(r.OK)
}

// Target is one endpoint under load.
type Target struct {
	Name    string
	URL     string
	Request *Request
	Check   *Check
	// Client sends the requests; nil: a fresh keep-alive client per run
	// sized for the run's concurrency.
	Client *http.Client
}

// NewClient returns a keep-alive HTTP/1.1 client for n concurrent callers.
func NewClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        n * 2,
		MaxIdleConnsPerHost: n * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// worker is one sender with its reusable buffers and its own latency log.
type worker struct {
	id      int
	client  *http.Client
	t       *Target
	timeout time.Duration
	prefix  string
	seq     uint64
	reqBuf  []byte
	idBuf   []byte
	resp    bytes.Buffer
	lat     []time.Duration
	errs    int
	late    int
	delay   []time.Duration // open loop: scheduled time to send
	lastEnd time.Time       // open loop: when the last measured answer came
	errKind map[string]int
}

// exchange sends one request and checks its answer.
func (w *worker) exchange(ctx context.Context) error {
	w.seq++
	w.idBuf = append(w.idBuf[:0], w.prefix...)
	w.idBuf = strconv.AppendInt(w.idBuf, int64(w.id), 10)
	w.idBuf = append(w.idBuf, '-')
	w.idBuf = strconv.AppendUint(w.idBuf, w.seq, 10)
	w.reqBuf = w.t.Request.Append(w.reqBuf[:0], w.idBuf)
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := w.t.Request.HTTP(ctx, w.t.URL, w.reqBuf, w.idBuf)
	if err != nil {
		return err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	w.resp.Reset()
	_, err = w.resp.ReadFrom(io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if err := w.t.Request.CheckHeader(resp.Header, w.idBuf, w.t.Check.Signed); err != nil {
		return err
	}
	return w.t.Check.Answer(resp.StatusCode, w.resp.Bytes(), w.idBuf)
}

func (w *worker) fail(err error) {
	w.errs++
	if w.errKind == nil {
		w.errKind = map[string]int{}
	}
	msg := err.Error()
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) && ue.Timeout() {
		msg = "timeout: " + msg
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if _, ok := w.errKind[msg]; ok || len(w.errKind) < 20 {
		w.errKind[msg]++
	}
}

// Run drives cfg's load against t and returns what it measured.
func Run(ctx context.Context, t *Target, cfg Config) (*Result, error) {
	if t.Request == nil || t.Check == nil {
		return nil, errors.New("loadtest: target without request or check")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
		if cfg.Rate > 0 {
			cfg.Concurrency = 64
		}
	}
	if cfg.Duration <= 0 {
		return nil, errors.New("loadtest: no duration")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.IDPrefix == "" {
		cfg.IDPrefix = NewIDPrefix()
	}
	client := t.Client
	if client == nil {
		client = NewClient(cfg.Concurrency)
		defer client.CloseIdleConnections()
	}
	workers := make([]*worker, cfg.Concurrency)
	expect := int(cfg.Duration.Seconds()*20000)/cfg.Concurrency + 64
	for i := range workers {
		workers[i] = &worker{id: i, client: client, t: t, timeout: cfg.Timeout, prefix: cfg.IDPrefix,
			lat: make([]time.Duration, 0, expect)}
	}
	res := &Result{Target: t.Name, Mode: "closed", Concurrency: cfg.Concurrency, Rate: cfg.Rate, Duration: cfg.Duration}
	if cfg.Rate > 0 {
		res.Mode = "open"
	}

	begin := time.Now()
	winStart := begin.Add(cfg.Warmup)
	winEnd := winStart.Add(cfg.Duration)
	// The window's bookkeeping: CPU counters and the caller's hook.
	var cpu0, cpu1 time.Duration
	var host0, host1 hostSample
	winDone := make(chan struct{})
	go func() {
		defer close(winDone)
		time.Sleep(time.Until(winStart))
		cpu0, host0 = ProcessCPU(), readHostCPU()
		if cfg.OnMeasure != nil {
			cfg.OnMeasure(true)
		}
		time.Sleep(time.Until(winEnd))
		cpu1, host1 = ProcessCPU(), readHostCPU()
		if cfg.OnMeasure != nil {
			cfg.OnMeasure(false)
		}
	}()

	labels := pprof.Labels("loadgen", t.Name)
	var wg sync.WaitGroup
	var unsent int // open loop: scheduled in the window, never sent (written before sched closes)
	if cfg.Rate <= 0 {
		for _, w := range workers {
			wg.Add(1)
			go pprof.Do(ctx, labels, func(ctx context.Context) {
				defer wg.Done()
				for ctx.Err() == nil {
					start := time.Now()
					if !start.Before(winEnd) {
						return
					}
					err := w.exchange(ctx)
					end := time.Now()
					if start.Before(winStart) || end.After(winEnd) {
						continue // warm-up, or straddles the end of the window
					}
					if err != nil {
						w.fail(err)
						continue
					}
					w.lat = append(w.lat, end.Sub(start))
				}
			})
		}
	} else {
		// Open loop: a dispatcher hands out scheduled send times at a
		// constant rate; a latency counts from the scheduled time.
		sched := make(chan time.Time, cfg.Concurrency)
		for _, w := range workers {
			wg.Add(1)
			go pprof.Do(ctx, labels, func(ctx context.Context) {
				defer wg.Done()
				for at := range sched {
					measured := !at.Before(winStart)
					if measured {
						d := time.Since(at)
						w.delay = append(w.delay, d)
						if d > time.Millisecond {
							w.late++
						}
					}
					err := w.exchange(ctx)
					if !measured {
						continue
					}
					w.lastEnd = time.Now()
					if err != nil {
						w.fail(err)
						continue
					}
					w.lat = append(w.lat, w.lastEnd.Sub(at))
				}
			})
		}
		interval := time.Duration(float64(time.Second) / cfg.Rate)
		go pprof.Do(ctx, labels, func(ctx context.Context) {
			defer close(sched)
			for k := int64(0); ctx.Err() == nil; k++ {
				at := begin.Add(time.Duration(k) * interval)
				if !at.Before(winEnd) {
					return
				}
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				} else if !time.Now().Before(winEnd) {
					// Behind schedule at the end of the window: the target
					// cannot keep up. Whatever is still to send stays unsent
					// rather than stretching the run without bound.
					unsent = int((winEnd.Sub(at) + interval - 1) / interval)
					return
				}
				select {
				case sched <- at:
				case <-ctx.Done():
				}
			}
		})
	}
	wg.Wait()
	<-winDone
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var all, delays []time.Duration
	res.ErrorKinds = map[string]int{}
	span := cfg.Duration // open loop: until the last answer, if later
	for _, w := range workers {
		if d := w.lastEnd.Sub(winStart); d > span {
			span = d
		}
		all = append(all, w.lat...)
		res.Errors += w.errs
		res.Late += w.late
		delays = append(delays, w.delay...)
		for k, n := range w.errKind {
			res.ErrorKinds[k] += n
		}
	}
	res.OK = len(all)
	res.Throughput = float64(res.OK) / span.Seconds()
	res.Unsent = unsent
	scheduled := cfg.Rate * cfg.Duration.Seconds()
	res.Overloaded = cfg.Rate > 0 && (float64(unsent) > 0.01*scheduled || res.Throughput < 0.95*cfg.Rate)
	if cpu0 > 0 && cpu1 > cpu0 {
		res.ProcCPU = cpu1 - cpu0
	}
	res.Host = host1.since(host0)
	if len(delays) > 0 {
		slices.Sort(delays)
		res.SendDelayP99 = Percentile(delays, 99)
	}
	if len(all) > 0 {
		slices.Sort(all)
		res.P50, res.P90, res.P99 = Percentile(all, 50), Percentile(all, 90), Percentile(all, 99)
		res.Max = all[len(all)-1]
		var sum time.Duration
		for _, d := range all {
			sum += d
		}
		res.Mean = sum / time.Duration(len(all))
	}
	return res, nil
}

// Quiesce waits, at most max, until this process has been nearly idle
// (under 5 % of one CPU) for 300 ms: the previous run's queues drained and
// the servers' background work after it (message log batches, garbage
// collection) done, so that it does not count against the next target.
// It returns how long it waited.
func Quiesce(max time.Duration) time.Duration {
	start := time.Now()
	runtime.GC()
	const step = 300 * time.Millisecond
	for time.Since(start) < max {
		c0 := ProcessCPU()
		time.Sleep(step)
		if c0 == 0 || ProcessCPU()-c0 < step/20 {
			break
		}
	}
	return time.Since(start)
}

// Percentile is the nearest-rank p-th percentile of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// TopErrors lists r's error kinds, most frequent first.
func (r *Result) TopErrors() []string {
	var out []string
	for k := range r.ErrorKinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if r.ErrorKinds[out[i]] != r.ErrorKinds[out[j]] {
			return r.ErrorKinds[out[i]] > r.ErrorKinds[out[j]]
		}
		return out[i] < out[j]
	})
	for i, k := range out {
		out[i] = fmt.Sprintf("%d × %s", r.ErrorKinds[k], k)
	}
	return out
}
