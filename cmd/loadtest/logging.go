package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/sluz/sluz/internal/harness/loadtest"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
)

// The --logging comparison: the same pair of security servers (ƏMDK's and
// DİN's), restarted in turn
//
//	sluz-ts-fast  with the message log and time-stamping batches closing every 200 ms
//	sluz-no-ts    with the message log, time-stamping off
//	sluz-no-log   with neither
//
// each at full load and then at one fixed open-loop rate (half of
// sluz-ts-fast's full-load throughput), so that throughput shows what
// logging costs and the latency percentiles show whether closing batches
// stalls exchanges.
const (
	nameTSFast = "sluz-ts-fast"
	nameNoTS   = "sluz-no-ts"
	nameNoLog  = "sluz-no-log"
)

// loggingSummary is the comparison's outcome in the report.
type loggingSummary struct {
	HalfRate          float64 `json:"half_load_rate"`
	LogOverNoLog      float64 `json:"with_log_and_ts_over_without_log_throughput"`
	TSOverNoTS        float64 `json:"with_ts_over_without_ts_throughput"`
	P99TSMinusNoTS    string  `json:"half_load_p99_ts_minus_no_ts"`
	P90TSMinusNoTS    string  `json:"half_load_p90_ts_minus_no_ts"`
	BatchesClosedHalf uint64  `json:"batches_closed_during_half_load_window"`
	BatchesClosedFull uint64  `json:"batches_closed_during_full_load_window"`
}

// compareLogging runs the variants; run measures one row and returns it.
func compareLogging(ctx context.Context, b *loadtest.Bench, o options, progress io.Writer,
	run func(t *loadtest.Target, cfg loadtest.Config, label, load string) (*loadtest.Result, error)) (*loggingSummary, error) {
	provider, caller := b.ProviderCode, b.Query.From
	restart := func(adjust func(*config.Config), opts ...securityserver.Option) error {
		for _, code := range []string{caller, provider} {
			if err := b.Fed.RestartAgency(code, adjust, opts...); err != nil {
				return err
			}
		}
		return nil
	}
	batches := func() uint64 {
		var n uint64
		for _, a := range b.Fed.Agencies {
			if a.Server == nil || (a.Code != caller && a.Code != provider) {
				continue
			}
			if bs, err := a.Server.MessageLog().Batches(); err == nil {
				n += uint64(len(bs))
			}
		}
		return n
	}
	variants := []struct {
		name   string
		adjust func(*config.Config)
		opts   []securityserver.Option
	}{
		{nameTSFast, func(c *config.Config) { c.Timestamping.Interval = config.Duration(200 * time.Millisecond) }, nil},
		{nameNoTS, nil, []securityserver.Option{securityserver.WithoutTimestamping()}},
		{nameNoLog, nil, []securityserver.Option{securityserver.WithoutMessageLog()}},
	}
	sum := &loggingSummary{}
	full := map[string]*loadtest.Result{}
	half := map[string]*loadtest.Result{}
	targets := map[string]*loadtest.Target{}
	fullLabel := fmt.Sprintf("closed loop, %d clients", o.concurrency)
	for _, v := range variants {
		if err := restart(v.adjust, v.opts...); err != nil {
			return nil, err
		}
		t := &loadtest.Target{Name: v.name, URL: b.Sluz.URL, Request: b.Sluz.Request, Check: &loadtest.Check{Signed: true}}
		if err := loadtest.Probe(ctx, t, b.FIN); err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		targets[v.name] = t
		before := batches()
		r, err := run(t, loadtest.Config{Concurrency: o.concurrency, Warmup: o.warmup, Duration: o.duration}, fullLabel, "logging-full")
		if err != nil {
			return nil, err
		}
		if v.name == nameTSFast {
			sum.BatchesClosedFull = batches() - before
		}
		full[v.name] = r
	}
	sum.HalfRate = full[nameTSFast].Throughput / 2
	if sum.HalfRate < 1 {
		return nil, fmt.Errorf("%s's throughput (%.1f/s) is too low for a half-load run", nameTSFast, full[nameTSFast].Throughput)
	}
	halfCfg := loadtest.Config{Rate: sum.HalfRate, Concurrency: max(4*o.concurrency, 32), Warmup: o.warmup, Duration: o.duration}
	halfLabel := fmt.Sprintf("open loop, %.0f/s (½ %s)", sum.HalfRate, nameTSFast)
	// The last variant is still running: measure in reverse order to save a restart.
	for i := len(variants) - 1; i >= 0; i-- {
		v := variants[i]
		if i != len(variants)-1 {
			if err := restart(v.adjust, v.opts...); err != nil {
				return nil, err
			}
		}
		before := batches()
		r, err := run(targets[v.name], halfCfg, halfLabel, "logging-half")
		if err != nil {
			return nil, err
		}
		if v.name == nameTSFast {
			sum.BatchesClosedHalf = batches() - before
		}
		half[v.name] = r
	}
	if d := full[nameNoLog].Throughput; d > 0 {
		sum.LogOverNoLog = full[nameTSFast].Throughput / d
	}
	if d := full[nameNoTS].Throughput; d > 0 {
		sum.TSOverNoTS = full[nameTSFast].Throughput / d
	}
	sum.P99TSMinusNoTS = ms(half[nameTSFast].P99 - half[nameNoTS].P99)
	sum.P90TSMinusNoTS = ms(half[nameTSFast].P90 - half[nameNoTS].P90)
	fmt.Fprintf(progress, "loadtest: %d time-stamp batches closed during %s's half-load window\n", sum.BatchesClosedHalf, nameTSFast)
	return sum, nil
}

func (s *loggingSummary) print(w io.Writer) {
	fmt.Fprintf(w, "\nmessage log and time-stamping (--logging; same pair of servers restarted per row)\n")
	fmt.Fprintf(w, "  log + time-stamping / no log throughput:   %6.1f %%\n", 100*s.LogOverNoLog)
	fmt.Fprintf(w, "  time-stamping on / off throughput:         %6.1f %%\n", 100*s.TSOverNoTS)
	fmt.Fprintf(w, "  at %.0f/s, time-stamping on - off:  p90 %s, p99 %s  (%d batches closed in that window, %d at full load)\n",
		s.HalfRate, s.P90TSMinusNoTS, s.P99TSMinusNoTS, s.BatchesClosedHalf, s.BatchesClosedFull)
}
