package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/harness/loadtest"
	"github.com/sluz/sluz/internal/harness/sampleis"
)

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--concurrency", "0"},
		{"--half", "quarter"},
		{"--profile-target", "registry"},
		{"--profile-target", "floor-pair"}, // without --floors
		{"--target", "http://192.0.2.1:8080/"},
		{"--target", "ftp://127.0.0.1/"},
		{"--rounds", "0"},
		{"--half", "closed", "--half-rate", "100"},
		{"--half", "sluz", "--half-rate", "-1"},
		{"stray"},
		{"--attachment", "0"},
		{"--attachment", "1TB"},
		{"--transfer", "1MiB", "--target", "http://127.0.0.1:8080/"},
		{"--transfer", "1MiB", "--attachment", "1MiB"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}

// TestTargetMode loads a loopback URL alone (here the sample DİN IS).
func TestTargetMode(t *testing.T) {
	srv := httptest.NewServer(sampleis.NewMux())
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := run([]string{"--target", srv.URL + "/din", "--concurrency", "2", "--warmup", "0s", "--duration", "200ms", "--json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(rep.Results) != 1 || rep.Results[0].OK == 0 || rep.TotalErrors != 0 || rep.Ratios != nil {
		t.Fatalf("report: %s", out.String())
	}
}

// TestFullRun runs the whole benchmark briefly: three targets at full
// load, two at half, the logging variants and the floor pairs, every
// answer right, the ratios reported.
func TestFullRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local federation")
	}
	var out, errOut bytes.Buffer
	code := run([]string{"--concurrency", "4", "--warmup", "50ms", "--duration", "250ms", "--logging", "--floors"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"nproc", "command:", loadtest.NameDirect, loadtest.NamePlain, loadtest.NameSluz,
		"Şlüz / plain pair throughput", "p99 Şlüz - p99 plain at ½ Şlüz's max", "Şlüz / plain CPU per exchange", "open loop", "no errors",
		nameTSFast, nameNoTS, nameNoLog, "log + time-stamping / no log throughput", "time-stamping on - off",
		loadtest.NameCryptoPair, loadtest.NameFloorPair, "floor pair / plain pair throughput", "Şlüz / floor pair throughput", "resolve with profile; below: blocked",
		"batch signing in the Şlüz pair", "per signature); verification cache"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "closed 4"); n != 8 {
		t.Errorf("%d full-load rows, want 3, 3 with --logging and 2 with --floors:\n%s", n, text)
	}
	if n := strings.Count(text, "open "); n < 5 {
		t.Errorf("%d half-load rows, want 2 and 3 with --logging:\n%s", n, text)
	}

}

// TestHalfOpenJSON: --half open (the earlier benchmark's half load: half
// the plain pair's throughput) still runs, and the JSON report carries
// issue 14's ratios; without --floors there is no floor verdict.
func TestHalfOpenJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local federation")
	}
	var out, errOut bytes.Buffer
	code := run([]string{"--concurrency", "2", "--warmup", "0s", "--duration", "200ms", "--half", "open", "--json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	ra := rep.Ratios
	if rep.HalfMode != "open" || ra == nil || ra.HalfOf != loadtest.NamePlain || ra.CPUMultiple <= 0 || ra.FloorVerdict != "" {
		t.Fatalf("report: %s", out.String())
	}
	if got, want := ra.CPUMet, ra.CPUMultiple <= targetCPUMultiple; got != want {
		t.Errorf("cpu_target_met %v for %.2f ×", got, ra.CPUMultiple)
	}
	// Each server of the Şlüz pair signed at least one message per answered
	// exchange (ƏMDK the requests, DİN the answers), under no more
	// signatures than messages.
	sluz := rep.rows(loadtest.NameSluz, "full")
	if len(rep.Batching) != 2 || len(sluz) != 1 {
		t.Fatalf("batching %+v, %d Şlüz rows", rep.Batching, len(sluz))
	}
	for _, bt := range rep.Batching {
		if bt.Messages < uint64(sluz[0].OK) || bt.Signatures == 0 || bt.Signatures > bt.Messages ||
			math.Abs(bt.PerSig-float64(bt.Messages)/float64(bt.Signatures)) > 1e-9 {
			t.Errorf("%s: %+v for %d answered exchanges", bt.Server, bt, sluz[0].OK)
		}
	}
	plain := rep.rows(loadtest.NamePlain, "full")
	if len(plain) != 1 || math.Abs(ra.HalfRate-plain[0].Throughput/2) > 0.5 {
		t.Errorf("half-load rate %.1f/s, want half the plain pair's %.1f/s", ra.HalfRate, plain[0].Throughput)
	}
}

// TestFloorVerdict: issue 14's bands for Şlüz / floor pair.
func TestFloorVerdict(t *testing.T) {
	for r, want := range map[float64]string{1.25: "met", 1.0: "met", 0.99: "resolve with profile", 0.8: "resolve with profile", 0.79: "blocked", 0: "blocked"} {
		if got := floorVerdict(r); got != want {
			t.Errorf("floorVerdict(%v) = %q, want %q", r, got, want)
		}
	}
}

// TestTransfer streams one 8 MiB attachment through each pair: both
// delivered whole, the Şlüz pair within the resident-set target.
func TestTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a federation")
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"--transfer", "8MiB", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Transfers) != 1 || rep.Transfers[0].Sluz.Bytes != 8<<20 || !rep.Transfers[0].GrowthMet || rep.Transfers[0].TimeRatio <= 0 || len(rep.Results) != 0 {
		t.Fatalf("report %s", out.String())
	}
}
