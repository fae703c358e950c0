package securityserver_test

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"encoding/json"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/sluz/sluz/securityserver"
)

// TestDashboardAndAlertsUseRealMetrics: the Grafana dashboard and the alert
// rules in configs/ parse, and every sluz_* metric they name is one the
// security server or the registry actually exports.
func TestDashboardAndAlertsUseRealMetrics(t *testing.T) {
	e := e2eNew(t)
	var srv *securityserver.Server
	startExtraServer(t, e, nil, &srv)
	exported := map[string]bool{}
	for _, h := range []*httptest.Server{httptest.NewServer(srv.AdminHandler()), httptest.NewServer(e.f.Registry.MetricsHandler())} {
		code, body := get(t, h.URL+"/metrics")
		h.Close()
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for name := range fams {
			exported[name] = true
		}
	}
	// Counters and histograms that have seen no sample yet are not
	// exposed; they exist all the same.
	for _, name := range []string{"sluz_exchanges_total", "sluz_exchange_duration_seconds", "sluz_registry_admin_requests_total"} {
		exported[name] = true
	}
	metricRef := regexp.MustCompile(`sluz_[a-z_]+`)
	check := func(file, expr string) {
		for _, m := range metricRef.FindAllString(expr, -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
			if !exported[m] && !exported[base] {
				t.Errorf("%s refers to %s, which nothing exports", file, m)
			}
		}
	}
	root := filepath.Join("..", "configs")

	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "grafana", "sluz-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil || len(dash.Panels) == 0 {
		t.Fatalf("dashboard JSON: %v (%d panels)", err, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			check("dashboard panel "+p.Title, tg.Expr)
		}
	}

	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	alerts := filepath.Join(root, "prometheus", "alerts.yml")
	data, err = os.ReadFile(alerts)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &rules); err != nil || len(rules.Groups) == 0 {
		t.Fatalf("alert rules: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			check("alert "+r.Alert, r.Expr)
		}
	}
	// promtool, when installed (Debian: prometheus), checks the rules fully
	// and runs their unit tests (alerts_test.yml).
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "rules", alerts).CombinedOutput(); err != nil {
			t.Fatalf("promtool check rules: %v\n%s", err, out)
		}
		// The alerts' unit tests: they fire on the series they are meant for.
		if out, err := exec.Command(promtool, "test", "rules", filepath.Join(root, "prometheus", "alerts_test.yml")).CombinedOutput(); err != nil {
			t.Fatalf("promtool test rules: %v\n%s", err, out)
		}
	} else {
		t.Log("promtool not installed: rules checked for metric names only")
	}
}
