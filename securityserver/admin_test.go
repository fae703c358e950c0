package securityserver_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/messagelog"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndReadiness: after an exchange the counters and histograms
// move with the right labels; /readyz says ready, and names the reason
// once the message log cannot be written.
func TestMetricsAndReadiness(t *testing.T) {
	e := e2eNew(t)
	var srv *securityserver.Server
	addr := startExtraServer(t, e, nil, &srv)
	admin := httptest.NewServer(srv.AdminHandler())
	defer admin.Close()

	req := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
	e2eWantAnswer(t, e2eDo(t, http.MethodPost, "http://"+addr+"/", "text/xml; charset=UTF-8", req), req)
	bad := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DSMF/insurance/getInsuredPerson/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
	e2eDo(t, http.MethodPost, "http://"+addr+"/", "text/xml; charset=UTF-8", bad) // not allowed by DSMF

	code, body := get(t, admin.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the exposition format: %v", err)
	}
	want := map[string]float64{
		"ok|AZ/GOV/DIN/population/getPersonByFin/v1":                                1,
		"Server.ServerProxy.AccessDenied|AZ/GOV/DSMF/insurance/getInsuredPerson/v1": 1,
	}
	got := map[string]float64{}
	for _, m := range families["sluz_exchanges_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["side"] == "client" && labels["client"] == "AZ/GOV/EMDK/realestate" {
			got[labels["result"]+"|"+labels["service"]] += m.GetCounter().GetValue()
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sluz_exchanges_total{%s} = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	var observed uint64
	for _, m := range families["sluz_exchange_duration_seconds"].GetMetric() {
		observed += m.GetHistogram().GetSampleCount()
	}
	if observed < 2 {
		t.Errorf("duration histogram has %d samples, want 2", observed)
	}
	if v := families["sluz_globalconf_version"].GetMetric()[0].GetGauge().GetValue(); v < 1 {
		t.Errorf("sluz_globalconf_version = %v", v)
	}
	for _, name := range []string{"sluz_messagelog_records_unstamped", "sluz_globalconf_expiry_seconds"} {
		if families[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}

	if code, body := get(t, admin.URL+"/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, admin.URL+"/readyz"); code != 200 || !strings.Contains(body, "ready") {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	// A live log's consistent copy verifies while the server runs.
	code, copyBytes := get(t, admin.URL+"/messagelog/backup")
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	os.WriteFile(copyPath, []byte(copyBytes), 0o600)
	if res, err := messagelog.CheckFile(copyPath); code != 200 || err != nil || !res.OK() || res.Records != 2 {
		t.Fatalf("backup: HTTP %d, check %+v %v", code, res, err)
	}
	srv.MessageLog().Close()
	if code, body := get(t, admin.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "message log") {
		t.Fatalf("/readyz with the log closed: %d %s", code, body)
	}
}
