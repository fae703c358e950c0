// Command loadtest is Şlüz's throughput and latency benchmark. In one
// process and one run it starts the local federation (internal/harness/localfed)
// and a plain pair of reverse proxies, and drives the same X-Road request
// (ƏMDK asks DİN getPersonByFin, a fresh xrd:id each time, every answer
// checked) against three targets that end at the same provider IS:
//
//	direct      the provider IS itself (the sample DİN handler, loopback HTTP)
//	plain-pair  two httputil.ReverseProxy in series joined by mutual TLS 1.3:
//	            the floor any pair of security servers pays
//	sluz-pair   ƏMDK's client proxy -> ƏMDK's security server -> DİN's
//	            security server -> DİN's IS
//
// First each at full load (--concurrency closed-loop clients), then the
// plain and Şlüz pairs at half load: by default an open-loop constant rate
// of half the Şlüz pair's own measured throughput, the same offered load
// for both (--half sluz; --half open: half the plain pair's throughput
// instead, the earlier benchmark's load; --half closed: half the clients).
// It prints a table, the ratios against issue 14's targets (Şlüz
// throughput >= 100 % of the floor pair's, with --floors: 80-100 % is
// resolved with a profile, below 80 % is blocked; Şlüz's CPU per exchange
// <= 3 x the plain pair's; p99 at half load at most 5 ms above the plain
// pair's), the machine and the command. A run in which any answer was
// wrong exits 1.
//
// --floors adds two more pairs at full load (internal/harness/loadtest/floor.go):
// the crypto pair (the plain pair signing and verifying every message with
// ECDSA P-256) and the floor pair (the crypto pair also logging every
// message in Şlüz's message log): the per-message floor, what the target
// leaves for everything else a security server does when it signs each
// message alone (batch signing can pass it).
//
// The load generator runs in this process and competes for the CPUs with
// the servers it measures, the same way for every target.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/loadtest"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
)

// The benchmark's targets (issue 14, BENCHMARKS.md).
const (
	// targetFloorRatio: Şlüz's throughput over the floor pair's (--floors);
	// from floorResolveRatio up to it the result stands with a profile of
	// what remains, below it the work is blocked.
	targetFloorRatio  = 1.00
	floorResolveRatio = 0.80
	// targetCPUMultiple: Şlüz's CPU time per exchange over the plain
	// pair's.
	targetCPUMultiple = 3.0
	// targetP99Delta: p99 of Şlüz minus p99 of the plain pair at half load
	// (by default half Şlüz's own full-load throughput).
	targetP99Delta = 5 * time.Millisecond
)

// Half-load modes (--half).
const (
	halfSluz   = "sluz"
	halfOpen   = "open"
	halfClosed = "closed"
)

type options struct {
	concurrency   int
	duration      time.Duration
	warmup        time.Duration
	dir           string
	cpuprofile    string
	profileTarget string
	jsonOut       bool
	half          string
	target        string
	verbose       bool
	rounds        int
	halfRate      float64
	logging       bool
	floors        bool
	rest          bool
	batch         bool
	attachment    sizeFlag // bytes of an attachment on every request
	transfer      sizeFlag // bytes of one attachment streamed through each pair
}

// maxTransferGrowth is the most the resident set may grow while one
// large attachment streams through the Şlüz pair (issue 13).
const maxTransferGrowth = 64 << 20

var program = &cli.Program{
	Name: "loadtest",
	Single: &cli.Command{Args: "[flags]",
		Summary: "benchmark the Şlüz security server pair against the provider IS called directly and against a plain pair of TLS reverse proxies",
		Details: "The targets, the loads and the figures it prints are described in BENCHMARKS.md.\n" +
			"A run in which any answer was wrong exits 1.",
		Example: "loadtest --concurrency 16 --duration 5s --warmup 1s --floors --rounds 3\n" +
			"loadtest --concurrency 48 --duration 5s --warmup 1s --floors --rounds 3\n" +
			"loadtest --floors --cpuprofile sluz.pprof\n" +
			"loadtest --target http://127.0.0.1:8080/ --duration 5s --json",
		Run: runBenchmark},
}

func main() {
	securityserver.TuneGC() // as the security server binary runs; GOGC overrides it
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the benchmark with args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int { return program.Main(args, stdout, stderr) }

func runBenchmark(env *cli.Env, args []string) error {
	fs := env.Flags()
	var o options
	fs.IntVar(&o.concurrency, "concurrency", 16, "closed-loop clients per target at full load")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per target and load")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before each measurement")
	fs.StringVar(&o.dir, "dir", "", "federation state directory (default: a temporary directory, removed after)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of one measured window to `file`")
	fs.StringVar(&o.profileTarget, "profile-target", loadtest.NameSluz, "window the CPU profile covers: direct, plain-pair or sluz-pair at full load, or all (the whole run)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON on stdout (progress still on stderr)")
	fs.StringVar(&o.half, "half", halfSluz, "half load: sluz (constant rate of half the Şlüz pair's full-load throughput, same for both pairs), open (half the plain pair's throughput, same for both) or closed (half the clients)")
	fs.StringVar(&o.target, "target", "", "only load this loopback `URL` (an IS-facing endpoint such as a running client proxy) at full load; no federation is started")
	fs.Float64Var(&o.halfRate, "half-rate", 0, "open-loop half-load rate in requests/s (default: half the Şlüz pair's measured throughput, or the plain pair's with --half open)")
	fs.IntVar(&o.rounds, "rounds", 1, "repeat the full-load and then the half-load runs this many times, interleaved; the ratios use medians")
	fs.BoolVar(&o.logging, "logging", false, "also measure the Şlüz pair with time-stamping every 200 ms, with time-stamping off and with the message log off (the same servers restarted), at full load and at one fixed rate")
	fs.BoolVar(&o.floors, "floors", false, "also measure, at full load, the crypto pair (the plain pair signing and verifying every message with ECDSA P-256) and the floor pair (the crypto pair logging every message in Şlüz's message log): the most any security-server pair can reach on this machine")
	fs.BoolVar(&o.rest, "rest", false, "also measure, at full load, a REST call (X-Road's REST protocol: DİN reads ƏMDK's JSON extract) through the Şlüz pair and through a plain pair between the same two agencies")
	fs.BoolVar(&o.batch, "batch", true, "the Şlüz pair signs in batches (signing.batch, the default); --batch=false restarts its two servers with batching off")
	fs.BoolVar(&o.verbose, "v", false, "log what the federation's services do (stderr); costs CPU")
	fs.Var(&o.attachment, "attachment", "every request of every target carries an attachment of this `size` (bytes, or with KiB, MiB, GiB; SOAP with attachments), ending at an attachment sink in front of the provider IS that checks each byte")
	fs.Var(&o.transfer, "transfer", "instead of the load runs, stream one request with an attachment of this `size` (e.g. 1GiB) through the plain pair and then the Şlüz pair, and report the times and this process's resident-set growth (target for the Şlüz pair: at most 64 MiB)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return cli.UsageError{Err: err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := benchmark(ctx, o, env.Err)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(env.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.print(env.Out)
	}
	if rep.TotalErrors > 0 {
		if o.jsonOut {
			fmt.Fprintf(env.Err, "loadtest: %d EXCHANGES FAILED: the figures are not valid\n", rep.TotalErrors)
		}
		return cli.Exit(cli.ExitError)
	}
	return nil
}

func (o *options) validate() error {
	switch {
	case o.concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case o.rounds < 1:
		return errors.New("--rounds must be at least 1")
	case o.duration <= 0 || o.warmup < 0:
		return errors.New("--duration must be positive and --warmup not negative")
	case o.half != halfSluz && o.half != halfOpen && o.half != halfClosed:
		return fmt.Errorf("--half %q: want %s, %s or %s", o.half, halfSluz, halfOpen, halfClosed)
	case o.halfRate < 0 || (o.halfRate > 0 && o.half == halfClosed):
		return errors.New("--half-rate must be positive and goes with an open-loop half load (--half sluz or open)")
	case (o.attachment > 0 || o.transfer > 0) && o.target != "":
		return errors.New("--attachment and --transfer need the federation's targets, not --target")
	case o.attachment > 0 && o.transfer > 0:
		return errors.New("--attachment and --transfer are two different runs: give one")
	}
	switch o.profileTarget {
	case loadtest.NameDirect, loadtest.NamePlain, loadtest.NameSluz, "all":
	case loadtest.NameCryptoPair, loadtest.NameFloorPair:
		if !o.floors {
			return fmt.Errorf("--profile-target %s goes with --floors", o.profileTarget)
		}
	default:
		return fmt.Errorf("--profile-target %q: want %s, %s, %s, %s, %s or all", o.profileTarget, loadtest.NameDirect, loadtest.NamePlain, loadtest.NameSluz, loadtest.NameCryptoPair, loadtest.NameFloorPair)
	}
	if o.target != "" {
		u, err := url.Parse(o.target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--target %q: want an http(s) URL", o.target)
		}
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("--target %q: only loopback addresses are load-tested", o.target)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// report is the whole run, as printed and as --json writes it.
type report struct {
	Date        string          `json:"date"`
	Command     string          `json:"command"`
	Machine     machine         `json:"machine"`
	Concurrency int             `json:"concurrency"`
	Duration    string          `json:"duration"`
	Warmup      string          `json:"warmup"`
	HalfMode    string          `json:"half_mode,omitempty"`
	Person      string          `json:"person_answered"`
	Rounds      int             `json:"rounds"`
	Results     []row           `json:"results"`
	Ratios      *ratios         `json:"ratios,omitempty"`
	TotalErrors int             `json:"total_errors"`
	Profile     string          `json:"cpu_profile,omitempty"`
	Logging     *loggingSummary `json:"logging,omitempty"`
	// Batching is what the Şlüz pair's two servers counted over the
	// full-load runs (warm-ups included): how large signing batches grew
	// and how often a received batch signature was found verified.
	Batching []batching `json:"sluz_batching,omitempty"`
	// Attachment is the size of the attachment every request carried
	// (--attachment); Transfers the --transfer runs.
	Attachment int64       `json:"attachment_bytes,omitempty"`
	Transfers  []transfers `json:"transfers,omitempty"`
}

// transfers is one large attachment through the plain pair and then the
// Şlüz pair (--transfer).
type transfers struct {
	Plain, Sluz *loadtest.TransferResult
	// TimeRatio is the Şlüz pair's time over the plain pair's.
	TimeRatio float64 `json:"sluz_over_plain_time"`
	// GrowthMet: the Şlüz pair's run grew the resident set by at most
	// 64 MiB.
	GrowthMet bool `json:"rss_growth_target_met"`
}

type machine struct {
	NumCPU     int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OSArch     string `json:"os_arch"`
	CPUModel   string `json:"cpu_model,omitempty"`
	LoadAvg    string `json:"loadavg_at_start,omitempty"`
	Revision   string `json:"vcs_revision,omitempty"` // when the binary was built with VCS stamping (go build)
}

type ratios struct {
	ThroughputRatio float64 `json:"sluz_over_plain_throughput"`
	HalfRate        float64 `json:"half_load_rate,omitempty"`
	// HalfOf is what the half-load rate is half of: "sluz-pair",
	// "plain-pair" or "--half-rate" (empty for --half closed).
	HalfOf     string   `json:"half_load_rate_of,omitempty"`
	P99Delta   string   `json:"half_load_p99_sluz_minus_plain"`
	P99DeltaMs *float64 `json:"half_load_p99_delta_ms"` // null: Şlüz overloaded
	P99Met     bool     `json:"p99_target_met"`
	// CPUMultiple is Şlüz's CPU time per exchange over the plain pair's
	// (target at most 3).
	CPUMultiple float64 `json:"sluz_over_plain_cpu_per_exchange"`
	CPUMet      bool    `json:"cpu_target_met"`
	// FloorVerdict (with --floors) is Şlüz / floor pair against its
	// target: "met" (>= 100 %), "resolve with profile" (80-100 %) or
	// "blocked" (< 80 %).
	FloorVerdict string `json:"floor_target,omitempty"`
	// SluzHalfOverloaded: Şlüz could not sustain the half-load rate, so its
	// p99 measures a growing queue.
	SluzHalfOverloaded bool    `json:"sluz_overloaded_at_half_load"`
	DirectOverPlain    float64 `json:"direct_over_plain_throughput"`
	// CPURatio is the plain pair's CPU time per exchange over Şlüz's (both
	// including the load generator): the throughput ratio to expect when
	// both are CPU-bound, less sensitive to neighbours than throughput.
	CPURatio float64 `json:"plain_over_sluz_cpu_per_exchange"`
	// With --floors: the crypto and floor pairs' throughput over the
	// plain pair's, and Şlüz's over the floor pair's.
	CryptoOverPlain float64 `json:"crypto_over_plain_throughput,omitempty"`
	FloorOverPlain  float64 `json:"floor_over_plain_throughput,omitempty"`
	SluzOverFloor   float64 `json:"sluz_over_floor_throughput,omitempty"`
	// With --rest: the REST call's throughput through the Şlüz pair over
	// the plain pair's (same agencies, same provider URL), and over the
	// SOAP exchange's through the Şlüz pair.
	RESTOverPlain float64 `json:"rest_sluz_over_rest_plain_throughput,omitempty"`
	RESTOverSOAP  float64 `json:"rest_sluz_over_soap_sluz_throughput,omitempty"`
	RESTCPURatio  float64 `json:"rest_plain_over_rest_sluz_cpu_per_exchange,omitempty"`
}

// batching is one Şlüz server's signing and verification-cache counts
// over the full-load runs.
type batching struct {
	Server      string  `json:"server"`
	Messages    uint64  `json:"messages_signed"`
	Signatures  uint64  `json:"signatures"`
	PerSig      float64 `json:"messages_per_signature"`
	CacheHits   uint64  `json:"verification_cache_hits"`
	CacheMisses uint64  `json:"verification_cache_misses"`
}

// sluzServers are the Şlüz pair's two servers, client side first.
func sluzServers(b *loadtest.Bench) (codes []string, servers []*securityserver.Server) {
	for _, code := range []string{b.Query.From, b.ProviderCode} {
		for _, a := range b.Fed.Agencies {
			if a.Code == code && a.Server != nil {
				codes, servers = append(codes, code), append(servers, a.Server)
			}
		}
	}
	return codes, servers
}

func benchmark(ctx context.Context, o options, progress io.Writer) (*report, error) {
	rep := &report{Date: time.Now().Format(time.RFC3339), Command: commandLine(), Machine: describeMachine(),
		Concurrency: o.concurrency, Rounds: o.rounds, Duration: o.duration.String(), Warmup: o.warmup.String()}
	fmt.Fprintf(progress, "loadtest: %s, %d CPUs (GOMAXPROCS %d), load average %s\n", rep.Machine.GoVersion, rep.Machine.NumCPU, rep.Machine.GOMAXPROCS, rep.Machine.LoadAvg)

	var prof *profiler
	if o.cpuprofile != "" {
		prof = &profiler{path: o.cpuprofile}
		rep.Profile = o.cpuprofile + " (" + o.profileTarget + ")"
	}
	measure := func(name string) func(bool) {
		if prof == nil || o.profileTarget != name {
			return nil
		}
		return prof.hook
	}
	runOne := func(t *loadtest.Target, cfg loadtest.Config, label, load string, round int) (*loadtest.Result, error) {
		if d := loadtest.Quiesce(15 * time.Second); d > 2*time.Second {
			fmt.Fprintf(progress, "loadtest: waited %s for the previous run's background work to finish\n", d.Round(100*time.Millisecond))
		}
		if o.rounds > 1 {
			label = fmt.Sprintf("round %d, %s", round, label)
		}
		fmt.Fprintf(progress, "loadtest: %-10s %-38s ", t.Name, label)
		r, err := loadtest.Run(ctx, t, cfg)
		if err != nil {
			fmt.Fprintln(progress)
			return nil, err
		}
		fmt.Fprintf(progress, "%8.0f/s  p50 %-9s p99 %-9s errors %d\n", r.Throughput, ms(r.P50), ms(r.P99), r.Errors)
		rep.Results = append(rep.Results, row{Round: round, Load: load, Result: r})
		rep.TotalErrors += r.Errors
		return r, prof.err()
	}
	full := func(name string, round int) loadtest.Config {
		cfg := loadtest.Config{Concurrency: o.concurrency, Warmup: o.warmup, Duration: o.duration}
		if round == 1 {
			cfg.OnMeasure = measure(name)
		}
		return cfg
	}

	if o.target != "" {
		req, err := loadtest.NewRequest(localfed.Queries[0])
		if err != nil {
			return nil, err
		}
		t := &loadtest.Target{Name: "target", URL: o.target, Request: req, Check: &loadtest.Check{}}
		if err := loadtest.Probe(ctx, t, "5ZJ8K2L"); err != nil {
			return nil, err
		}
		rep.Person = t.Check.Person
		if prof != nil {
			rep.Profile = o.cpuprofile + " (whole run)"
			if err := prof.start(); err != nil {
				return nil, err
			}
			defer prof.stop()
		}
		for round := 1; round <= o.rounds; round++ {
			if _, err := runOne(t, full("", round), fmt.Sprintf("closed loop, %d clients", o.concurrency), "full", round); err != nil {
				return nil, err
			}
		}
		return rep, nil
	}

	dir := o.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "sluz-loadtest-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil)) // localfed's default: formats every line, writes none
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(progress, nil))
	}
	started := time.Now()
	proxyLog := log.New(progress, "loadtest: plain pair ", log.Lmicroseconds)
	b, err := loadtest.StartBench(ctx, loadtest.BenchOptions{Dir: dir, Log: logger, ProxyLog: proxyLog, Floors: o.floors, REST: o.rest,
		Attachment: int64(o.attachment), Sink: o.transfer > 0})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	if !o.batch {
		off := false
		for _, code := range []string{b.Query.From, b.ProviderCode} {
			if err := b.Fed.RestartAgency(code, func(c *config.Config) { c.Signing.Batch = &off }); err != nil {
				return nil, err
			}
		}
		fmt.Fprintln(progress, "loadtest: the Şlüz pair signs every message alone (signing.batch false)")
	}
	rep.Attachment = int64(o.attachment)
	if o.transfer > 0 {
		return rep, transfer(ctx, b, o, rep, progress)
	}
	rep.Person = b.Sluz.Check.Person
	fmt.Fprintf(progress, "loadtest: federation up in %s (state %s); every target answered %s's record (FİN %s)\n",
		time.Since(started).Round(time.Millisecond), dir, rep.Person, b.FIN)
	if prof != nil && o.profileTarget == "all" {
		if err := prof.start(); err != nil {
			return nil, err
		}
		defer prof.stop()
	}

	fullLabel := fmt.Sprintf("closed loop, %d clients", o.concurrency)
	fullTargets := b.Targets()
	if o.floors {
		fullTargets = append(fullTargets, b.CryptoT, b.FloorT)
	}
	if o.rest {
		fullTargets = append(fullTargets, b.RESTPlainT, b.RESTSluzT)
	}
	codes, servers := sluzServers(b)
	before := make([]securityserver.SigningStats, len(servers))
	for i, s := range servers {
		before[i] = s.SigningStats()
	}
	for round := 1; round <= o.rounds; round++ {
		for _, t := range fullTargets {
			if _, err := runOne(t, full(t.Name, round), fullLabel, "full", round); err != nil {
				return nil, err
			}
		}
	}
	for i, s := range servers {
		now := s.SigningStats()
		bt := batching{Server: codes[i], Messages: now.Messages - before[i].Messages, Signatures: now.Signatures - before[i].Signatures,
			CacheHits: now.CacheHits - before[i].CacheHits, CacheMisses: now.CacheMisses - before[i].CacheMisses}
		if bt.Signatures > 0 {
			bt.PerSig = float64(bt.Messages) / float64(bt.Signatures)
		}
		rep.Batching = append(rep.Batching, bt)
	}
	plainTput := median(rep.rows(loadtest.NamePlain, "full"), func(r *loadtest.Result) float64 { return r.Throughput })
	sluzFull := median(rep.rows(loadtest.NameSluz, "full"), func(r *loadtest.Result) float64 { return r.Throughput })

	// Half load.
	rep.HalfMode = o.half
	var halfCfg loadtest.Config
	var halfLabel, halfOf string
	if o.half != halfClosed {
		rate, of := sluzFull/2, "½ Şlüz"
		halfOf = loadtest.NameSluz
		if o.half == halfOpen {
			rate, of, halfOf = plainTput/2, "½ plain", loadtest.NamePlain
		}
		if o.halfRate > 0 {
			rate, of, halfOf = o.halfRate, "--half-rate", "--half-rate"
		}
		if rate < 1 {
			return nil, fmt.Errorf("the %s's throughput (%.1f/s) is too low for a half-load run", halfOf, 2*rate)
		}
		halfCfg = loadtest.Config{Rate: rate, Concurrency: max(4*o.concurrency, 32), Warmup: o.warmup, Duration: o.duration}
		halfLabel = fmt.Sprintf("open loop, %.0f/s (%s)", rate, of)
	} else {
		halfCfg = loadtest.Config{Concurrency: max(o.concurrency/2, 1), Warmup: o.warmup, Duration: o.duration}
		halfLabel = fmt.Sprintf("closed loop, %d clients", halfCfg.Concurrency)
	}
	for round := 1; round <= o.rounds; round++ {
		for _, t := range []*loadtest.Target{b.PlainT, b.Sluz} {
			if _, err := runOne(t, halfCfg, halfLabel, "half", round); err != nil {
				return nil, err
			}
		}
	}

	tput := func(r *loadtest.Result) float64 { return r.Throughput }
	p99 := func(r *loadtest.Result) float64 { return float64(r.P99) }
	cpu := func(r *loadtest.Result) float64 { return float64(r.CPUPerExchange()) }
	sluzTput := sluzFull
	ra := &ratios{ThroughputRatio: sluzTput / plainTput, HalfRate: halfCfg.Rate, HalfOf: halfOf}
	for _, row := range rep.rows(loadtest.NameSluz, "half") {
		ra.SluzHalfOverloaded = ra.SluzHalfOverloaded || row.Overloaded || row.OK == 0
	}
	if ra.SluzHalfOverloaded {
		// No service time to compare: Şlüz fell behind the offered rate.
		ra.P99Delta = "n/a"
	} else {
		delta := time.Duration(median(rep.rows(loadtest.NameSluz, "half"), p99) - median(rep.rows(loadtest.NamePlain, "half"), p99))
		d := float64(delta) / float64(time.Millisecond)
		ra.P99Delta, ra.P99DeltaMs = ms(delta), &d
		ra.P99Met = delta <= targetP99Delta
	}
	ra.DirectOverPlain = median(rep.rows(loadtest.NameDirect, "full"), tput) / plainTput
	if c := median(rep.rows(loadtest.NameSluz, "full"), cpu); c > 0 {
		pc := median(rep.rows(loadtest.NamePlain, "full"), cpu)
		ra.CPURatio = pc / c
		if pc > 0 {
			ra.CPUMultiple = c / pc
			ra.CPUMet = ra.CPUMultiple <= targetCPUMultiple
		}
	}
	if o.floors {
		floorTput := median(rep.rows(loadtest.NameFloorPair, "full"), tput)
		ra.CryptoOverPlain = median(rep.rows(loadtest.NameCryptoPair, "full"), tput) / plainTput
		ra.FloorOverPlain = floorTput / plainTput
		if floorTput > 0 {
			ra.SluzOverFloor = sluzTput / floorTput
		}
		ra.FloorVerdict = floorVerdict(ra.SluzOverFloor)
	}
	if o.rest {
		if p := median(rep.rows(loadtest.NameRESTPlain, "full"), tput); p > 0 {
			ra.RESTOverPlain = median(rep.rows(loadtest.NameRESTSluz, "full"), tput) / p
		}
		if sluzTput > 0 {
			ra.RESTOverSOAP = median(rep.rows(loadtest.NameRESTSluz, "full"), tput) / sluzTput
		}
		if c := median(rep.rows(loadtest.NameRESTSluz, "full"), cpu); c > 0 {
			ra.RESTCPURatio = median(rep.rows(loadtest.NameRESTPlain, "full"), cpu) / c
		}
	}
	rep.Ratios = ra
	if o.logging {
		run := func(t *loadtest.Target, cfg loadtest.Config, label, load string) (*loadtest.Result, error) {
			return runOne(t, cfg, label, load, 1)
		}
		if rep.Logging, err = compareLogging(ctx, b, o, progress, run); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// floorVerdict judges Şlüz / floor pair against issue 14's target.
func floorVerdict(r float64) string {
	switch {
	case r >= targetFloorRatio:
		return "met"
	case r >= floorResolveRatio:
		return "resolve with profile"
	}
	return "blocked"
}

// row is one measured run of the report.
type row struct {
	Round int    `json:"round"`
	Load  string `json:"load"` // "full" or "half"
	*loadtest.Result
}

// rows are the report's runs of one target at one load.
func (r *report) rows(target, load string) []*loadtest.Result {
	var out []*loadtest.Result
	for _, row := range r.Results {
		if row.Target == target && row.Load == load {
			out = append(out, row.Result)
		}
	}
	return out
}

// median of f over rs (the mean of the middle two for an even count).
func median(rs []*loadtest.Result, f func(*loadtest.Result) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nŞlüz load test, %s\n", r.Date)
	m := r.Machine
	fmt.Fprintf(w, "machine:  nproc %d, GOMAXPROCS %d, %s %s", m.NumCPU, m.GOMAXPROCS, m.GoVersion, m.OSArch)
	if m.CPUModel != "" {
		fmt.Fprintf(w, ", %s", m.CPUModel)
	}
	fmt.Fprintf(w, "; load average at start %s\n", m.LoadAvg)
	fmt.Fprintf(w, "command:  %s\n", r.Command)
	if m.Revision != "" {
		fmt.Fprintf(w, "revision: %s\n", m.Revision)
	}
	if len(r.Transfers) > 0 {
		r.printTransfers(w)
		return
	}
	fmt.Fprintf(w, "load:     warm-up %s, measured %s per row; ƏMDK -> DİN getPersonByFin, every answer checked (%s)\n", r.Warmup, r.Duration, r.Person)
	if r.Attachment > 0 {
		fmt.Fprintf(w, "          every request carries a %s attachment (SOAP with attachments), checked byte by byte at a sink before DİN's IS\n", sizeFlag(r.Attachment))
	}
	fmt.Fprintf(w, "          the load generator runs in this process and shares the CPUs with the servers\n\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tload\texch/s\tp50\tp90\tp99\tmax\terrors\tCPU/exch\tproc CPU\thost busy\tsteal\tTCP conns/s\t")
	for _, res := range r.Results {
		name := res.Target
		if r.Rounds > 1 {
			name = fmt.Sprintf("%s #%d", name, res.Round)
		}
		load := fmt.Sprintf("closed %d", res.Concurrency)
		if res.Mode == "open" {
			load = fmt.Sprintf("open %.0f/s", res.Rate)
		}
		if res.Overloaded {
			load += " OVERLOADED"
		}
		errs := fmt.Sprint(res.Errors)
		if res.Errors > 0 {
			errs += " !!"
		}
		p50, p90, p99, maxi, cpu := ms(res.P50), ms(res.P90), ms(res.P99), ms(res.Max), us(res.CPUPerExchange())
		if res.OK == 0 {
			p50, p90, p99, maxi = "-", "-", "-", "-"
		}
		if res.Overloaded {
			cpu = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t\n", name, load, res.Throughput,
			p50, p90, p99, maxi, errs, cpu,
			pct(res.ProcCPU.Seconds()/res.Duration.Seconds()/float64(r.Machine.NumCPU)), pct(res.Host.Busy), pct(res.Host.Steal),
			float64(res.Host.TCPOpens)/res.Duration.Seconds())
	}
	tw.Flush()
	fmt.Fprintln(w, "\n  p50…max: latency as the calling IS sees it (open loop: from the scheduled send time)")
	fmt.Fprintln(w, "  CPU/exch: this process's CPU time per answer (servers and load generator); proc CPU: of all CPUs")
	fmt.Fprintln(w, "  host busy, steal, TCP conns/s: whole machine over the window (steal: CPU the hypervisor gave other guests;")
	fmt.Fprintln(w, "  TCP conns/s: connections opened, /proc/net/snmp ActiveOpens; with working keep-alive near 0)")
	for _, res := range r.Results {
		if res.Mode == "open" && res.Late > 0 {
			fmt.Fprintf(w, "  %s at %.0f/s: %d requests sent over 1 ms after their time (all %d workers busy, or the generator's timer late); send delay p99 %s\n",
				res.Target, res.Rate, res.Late, res.Concurrency, ms(res.SendDelayP99))
		}
		if res.Unsent > 0 {
			fmt.Fprintf(w, "  %s at %.0f/s: OVERLOADED, %d requests of the window never sent; its latencies understate the queue\n", res.Target, res.Rate, res.Unsent)
		}
	}
	if ra := r.Ratios; ra != nil {
		of := ""
		if r.Rounds > 1 {
			of = fmt.Sprintf(" (medians of %d rounds)", r.Rounds)
		}
		fmt.Fprintf(w, "\nratios%s, against issue 14's targets\n", of)
		if ra.FloorVerdict != "" {
			fmt.Fprintf(w, "  Şlüz / floor pair throughput:        %6.1f %%   target >= %.0f %% (%.0f-%.0f %%: resolve with profile; below: blocked): %s\n",
				100*ra.SluzOverFloor, 100*targetFloorRatio, 100*floorResolveRatio, 100*targetFloorRatio, floorLabel(ra.FloorVerdict))
		} else {
			fmt.Fprintf(w, "  Şlüz / floor pair throughput:           n/a   target >= %.0f %%: run with --floors\n", 100*targetFloorRatio)
		}
		fmt.Fprintf(w, "  Şlüz / plain CPU per exchange:       %6.2f ×   target <= %.0f ×: %s\n", ra.CPUMultiple, targetCPUMultiple, met(ra.CPUMet))
		overloaded, at := "", "half load"
		switch ra.HalfOf {
		case loadtest.NameSluz:
			at = "½ Şlüz's max"
		case loadtest.NamePlain:
			at = "½ plain's max"
		}
		if ra.SluzHalfOverloaded {
			overloaded = "  (Şlüz OVERLOADED at this rate: its p99 is a queue, not a service time)"
		}
		fmt.Fprintf(w, "  p99 Şlüz - p99 plain at %-13s%8s   target <= %s: %s%s\n", at+":", ra.P99Delta, ms(targetP99Delta), met(ra.P99Met), overloaded)
		fmt.Fprintf(w, "  Şlüz / plain pair throughput:        %6.1f %%\n", 100*ra.ThroughputRatio)
		fmt.Fprintf(w, "  plain / Şlüz CPU per exchange:       %6.1f %%   (the throughput ratio when both are CPU-bound; steadier on a noisy host)\n", 100*ra.CPURatio)
		fmt.Fprintf(w, "  direct / plain pair throughput:      %6.1f %%\n", 100*ra.DirectOverPlain)
		if ra.FloorOverPlain > 0 {
			fmt.Fprintf(w, "  crypto pair / plain pair throughput: %6.1f %%   (ECDSA P-256: 2 signatures + 2 verifications per exchange, nothing else)\n", 100*ra.CryptoOverPlain)
			fmt.Fprintf(w, "  floor pair / plain pair throughput:  %6.1f %%   (the crypto pair + Şlüz's message log: the ceiling for any security-server pair here)\n", 100*ra.FloorOverPlain)
		}
		if ra.RESTOverPlain > 0 {
			fmt.Fprintf(w, "  REST: Şlüz / plain pair throughput:  %6.1f %%   (DİN -> ƏMDK GET extract, JSON)\n", 100*ra.RESTOverPlain)
			fmt.Fprintf(w, "  REST: plain / Şlüz CPU per exchange: %6.1f %%\n", 100*ra.RESTCPURatio)
			fmt.Fprintf(w, "  REST Şlüz / SOAP Şlüz throughput:    %6.1f %%\n", 100*ra.RESTOverSOAP)
		}
	}
	if len(r.Batching) > 0 {
		fmt.Fprintf(w, "\nbatch signing in the Şlüz pair over the full-load runs (warm-ups included; signing.batch, limits.verifyCacheSize)\n")
		for _, bt := range r.Batching {
			fmt.Fprintf(w, "  %-5s signed %d messages under %d signatures (%.2f per signature); verification cache %d hits, %d misses\n",
				bt.Server, bt.Messages, bt.Signatures, bt.PerSig, bt.CacheHits, bt.CacheMisses)
		}
	}
	if r.Logging != nil {
		r.Logging.print(w)
	}
	if r.Profile != "" {
		fmt.Fprintf(w, "\nCPU profile: %s  (go tool pprof -top %s; -tagignore loadgen=. leaves out the load generator)\n", r.Profile, strings.Fields(r.Profile)[0])
	}
	if r.TotalErrors > 0 {
		fmt.Fprintf(w, "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n")
		fmt.Fprintf(w, "!!! %d EXCHANGES FAILED OR WERE ANSWERED WRONGLY: THESE FIGURES ARE NOT VALID\n", r.TotalErrors)
		for _, res := range r.Results {
			for _, e := range res.TopErrors() {
				fmt.Fprintf(w, "!!! %s: %s\n", res.Target, e)
			}
		}
		fmt.Fprintf(w, "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n")
	} else {
		fmt.Fprintf(w, "\nno errors: every answer was HTTP 200 with the person's record for its own xrd:id\n")
	}
}

func floorLabel(verdict string) string {
	if verdict == "met" {
		return "met"
	}
	return strings.ToUpper(verdict)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }
func pct(f float64) string      { return fmt.Sprintf("%.0f%%", 100*f) }

// commandLine is how this run was started, as it can be repeated.
func commandLine() string {
	prog := os.Args[0]
	if strings.Contains(prog, "go-build") || strings.HasPrefix(prog, os.TempDir()) {
		prog = "go run ./cmd/loadtest"
	}
	parts := []string{prog}
	for _, a := range os.Args[1:] {
		if strings.ContainsAny(a, " \t'\"$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func describeMachine() machine {
	m := machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), OSArch: runtime.GOOS + "/" + runtime.GOARCH}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, modified string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				modified = kv.Value
			}
		}
		if rev != "" {
			m.Revision = rev[:min(12, len(rev))]
			if modified == "true" {
				m.Revision += " (modified)"
			}
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// profiler writes one CPU profile, of a measured window or the whole run.
type profiler struct {
	path    string
	f       *os.File
	started bool
	failed  error
}

func (p *profiler) start() error {
	if err := os.MkdirAll(filepath.Dir(p.path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p.path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.f, p.started = f, true
	return nil
}

func (p *profiler) stop() {
	if !p.started {
		return
	}
	pprof.StopCPUProfile()
	if err := p.f.Close(); err != nil && p.failed == nil {
		p.failed = err
	}
	p.started = false
}

// hook is a loadtest.Config.OnMeasure for the profiled window.
func (p *profiler) hook(start bool) {
	if !start {
		p.stop()
		return
	}
	if err := p.start(); err != nil && p.failed == nil {
		p.failed = err
	}
}

func (p *profiler) err() error {
	if p == nil {
		return nil
	}
	return p.failed
}
