package securityserver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/store"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
)

// serveAdmin runs srv's admin listener on a loopback socket, as `serve`
// does with admin.listen, and returns its base URL.
func serveAdmin(t *testing.T, srv *securityserver.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeAdmin(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("admin listener: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// exposition is one scrape of /metrics, parsed.
type exposition map[string]*dto.MetricFamily

func scrape(t *testing.T, adminURL string) exposition {
	t.Helper()
	code, body := get(t, adminURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing the exposition format: %v", err)
	}
	return fams
}

// metric is the series of family name whose labels are exactly labels
// ("name", "value" pairs); nil if there is none.
func (x exposition) metric(name string, labels ...string) *dto.Metric {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range x[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return m
		}
	}
	return nil
}

// value is a counter's or gauge's value; NaN when the series is missing.
func (x exposition) value(name string, labels ...string) float64 {
	m := x.metric(name, labels...)
	switch {
	case m == nil:
		return math.NaN()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// histogram is a histogram series' sample count and sum; it fails the test
// when the series is missing.
func (x exposition) histogram(t *testing.T, name string, labels ...string) (uint64, float64) {
	t.Helper()
	m := x.metric(name, labels...)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v in the exposition", name, labels)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// TestExchangeMetrics: after one exchange ƏMDK -> DİN, the client side's
// and the service side's admin listeners show where its time went, under
// the right side, service and kind labels, and sizes that match the bytes
// sent; each server's own certificates show their time left and a fresh
// OCSP response.
func TestExchangeMetrics(t *testing.T) {
	e := e2eNew(t)
	emdkAdmin := serveAdmin(t, e.agency("EMDK").Server)
	dinAdmin := serveAdmin(t, e.agency("DIN").Server)

	req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	r := e.call(t, "EMDK", req)
	e2eWantAnswer(t, r, req)
	client, server := scrape(t, emdkAdmin), scrape(t, dinAdmin)

	type want struct {
		x      exposition
		name   string
		labels []string
		count  uint64
		sum    float64 // checked when not 0
	}
	for _, w := range []want{
		// ƏMDK's client proxy signed the request, verified the answer, logged both in one append.
		{client, "sluz_sign_duration_seconds", []string{"side", "client"}, 1, 0},
		{client, "sluz_verify_duration_seconds", []string{"side", "client"}, 1, 0},
		{client, "sluz_messagelog_append_duration_seconds", []string{"side", "client"}, 1, 0},
		{client, "sluz_message_size_bytes", []string{"side", "client", "kind", "request"}, 1, float64(len(req))},
		{client, "sluz_message_size_bytes", []string{"side", "client", "kind", "response"}, 1, float64(len(r.body))},
		// It served nothing.
		{client, "sluz_sign_duration_seconds", []string{"side", "server"}, 0, 0},
		{client, "sluz_verify_duration_seconds", []string{"side", "server"}, 0, 0},
		// DİN's service proxy verified the request, called its IS, signed the answer, logged request and answer apart.
		{server, "sluz_verify_duration_seconds", []string{"side", "server"}, 1, 0},
		{server, "sluz_provider_duration_seconds", []string{"service", "AZ/GOV/DIN/population/getPersonByFin"}, 1, 0},
		{server, "sluz_sign_duration_seconds", []string{"side", "server"}, 1, 0},
		{server, "sluz_messagelog_append_duration_seconds", []string{"side", "server"}, 2, 0},
		{server, "sluz_message_size_bytes", []string{"side", "server", "kind", "request"}, 1, float64(len(req))},
		{server, "sluz_message_size_bytes", []string{"side", "server", "kind", "response"}, 1, float64(len(r.body))},
		{server, "sluz_sign_duration_seconds", []string{"side", "client"}, 0, 0},
	} {
		count, sum := w.x.histogram(t, w.name, w.labels...)
		if count != w.count {
			t.Errorf("%s%v: %d samples, want %d", w.name, w.labels, count, w.count)
		}
		if w.count > 0 && sum <= 0 {
			t.Errorf("%s%v: sum %v, want > 0", w.name, w.labels, sum)
		}
		if w.sum != 0 && sum != w.sum {
			t.Errorf("%s%v: sum %v, want %v", w.name, w.labels, sum, w.sum)
		}
	}
	if v := client.value("sluz_messagelog_append_queue_length"); v != 0 {
		t.Errorf("sluz_messagelog_append_queue_length = %v on an idle server", v)
	}

	// Own certificates: time left as the certificates say, and the OCSP
	// responses stapled to the exchange are younger than the federation's
	// limit.
	m := e.members["EMDK"]
	authMember, err := pkiutil.MemberFromSubject(m.authCert.Subject)
	if err != nil {
		t.Fatal(err)
	}
	freshness := client.value("sluz_globalconf_ocsp_freshness_seconds")
	if !(freshness > 0) {
		t.Fatalf("sluz_globalconf_ocsp_freshness_seconds = %v", freshness)
	}
	for _, c := range []struct {
		kind, member string
		notAfter     time.Time
	}{{"auth", authMember, m.authCert.NotAfter}, {"sign", "AZ/GOV/EMDK", m.signCert.NotAfter}} {
		left := client.value("sluz_certificate_expiry_seconds", "certificate", c.kind, "member", c.member)
		if want := time.Until(c.notAfter).Seconds(); math.IsNaN(left) || math.Abs(left-want) > 60 {
			t.Errorf("sluz_certificate_expiry_seconds{%s,%s} = %v, want about %v", c.kind, c.member, left, want)
		}
		age := client.value("sluz_ocsp_response_age_seconds", "certificate", c.kind, "member", c.member)
		if math.IsNaN(age) || age < 0 || age > freshness {
			t.Errorf("sluz_ocsp_response_age_seconds{%s,%s} = %v, want within [0, %v]", c.kind, c.member, age, freshness)
		}
	}
}

// waitValue polls a counter or gauge on an admin listener until it
// reaches want (the failure is logged by the server a moment after the
// client sees it) and requires it to stay exactly want.
func waitValue(t *testing.T, adminURL string, want float64, name string, labels ...string) {
	t.Helper()
	var got float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = scrape(t, adminURL).value(name, labels...)
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// TestTLSFailureMetrics: refused TLS peers are counted with the reason, on
// each endpoint: the service proxy's handshake (no certificate, an old
// TLS version), its per-request refusal of certificates of another CA or
// not registered (the handshake succeeds, as in X-Road, so that the peer
// gets a fault), the client proxy's HTTPS handshake with information
// systems, and this server's own check of a provider server.
func TestTLSFailureMetrics(t *testing.T) {
	e := e2eNew(t)
	din := e.agency("DIN")
	dinAdmin := serveAdmin(t, din.Server)
	serverProxy := din.Config.ServerProxy.Listen
	handshakes, refusals := "sluz_tls_handshake_failures_total", "sluz_peer_auth_failures_total"

	// Raw TLS clients of DİN's service proxy.
	dial := func(cfg *tls.Config) error {
		cfg.InsecureSkipVerify = true // only the server's verdict matters here
		hc := &http.Client{Timeout: e2eTimeout, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
		resp, err := hc.Post("https://"+serverProxy+"/", "text/plain", strings.NewReader("x"))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := dial(&tls.Config{}); err == nil {
		t.Fatal("the service proxy answered a client without a certificate")
	}
	waitValue(t, dinAdmin, 1, handshakes, "endpoint", "server", "reason", "no_certificate")
	emdk := e.members["EMDK"]
	if err := dial(&tls.Config{Certificates: []tls.Certificate{emdk.auth}, MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("the service proxy accepted TLS 1.2")
	}
	waitValue(t, dinAdmin, 1, handshakes, "endpoint", "server", "reason", "protocol")

	// A certificate of another CA, then an unregistered one of the
	// federation's CA: refused per request with SslAuthenticationFailed.
	sslFailed := message.Code(message.ServerProxy, message.SslAuthenticationFailed)
	other, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(t.TempDir(), "pki")})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *pkiutil.CA, name string, req pkiutil.IssueRequest) tls.Certificate {
		t.Helper()
		dir := t.TempDir()
		if _, _, err := ca.IssueToFiles(req, filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"), false); err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	authReq := pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: "AZ/GOV/EMDK", DNSNames: []string{"ss.emdk.gov.az"}}
	soap := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	body, ct := e2eTransport(t, emdk.authOCSP, soap, e.sign(t, emdk, nil, soap))
	e2eWantFault(t, e.post(t, "DIN", issue(other, "foreign", authReq), body, ct), sslFailed)
	waitValue(t, dinAdmin, 1, refusals, "reason", "unapproved_ca")
	rogue := issue(e.f.CA, "rogue", authReq)
	soap = e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	body, ct = e2eTransport(t, e.ocsp(t, rogue.Leaf, ocsp.Good).Raw, soap, e.sign(t, emdk, nil, soap))
	e2eWantFault(t, e.post(t, "DIN", rogue, body, ct), sslFailed)
	waitValue(t, dinAdmin, 1, refusals, "reason", "not_registered")
	x := scrape(t, dinAdmin)
	for _, reason := range []string{"other", "unapproved_ca", "not_registered"} {
		if v := x.value(handshakes, "endpoint", "server", "reason", reason); v != 0 {
			t.Errorf("%s{server,%s} = %v: the per-request refusals are not handshake failures", handshakes, reason, v)
		}
	}
	e.expectCalls(t, "DIN", 0)

	// DİN's server moves to an address where a server presents DSMF's
	// registered authentication certificate: ƏMDK's client proxy refuses
	// the handshake (registered, but not for DİN's server). The IS talks
	// to that client proxy over HTTPS with certificates of the agency's CA.
	impostor, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.NotFoundHandler(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{e.members["DSMF"].auth}}}
	go hs.ServeTLS(impostor, "", "")
	t.Cleanup(func() { hs.Close() })
	move, _ := adminapi.NewBatchRequest("din-moved", []store.Change{store.SetServerAddress{ID: din.Config.Server, Address: impostor.Addr().String()}})
	if err := e.f.Operator.Do(context.Background(), http.MethodPost, "/api/v1/batch", move, nil); err != nil {
		t.Fatal(err)
	}
	isCA, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(t.TempDir(), "is-ca")})
	if err != nil {
		t.Fatal(err)
	}
	proxyTLS := filepath.Join(t.TempDir(), "proxy-tls")
	if _, _, err := isCA.IssueToFiles(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}},
		proxyTLS+".pem", proxyTLS+".key", false); err != nil {
		t.Fatal(err)
	}
	var srv *securityserver.Server
	addr := startExtraServer(t, e, func(c *config.Config) {
		c.ClientProxy.TLS = &config.ClientTLS{KeyPair: config.KeyPair{Cert: proxyTLS + ".pem", Key: proxyTLS + ".key"}, ClientCAs: []string{filepath.Join(isCA.Dir, pkiutil.FileRootCert)}}
	}, &srv)
	admin := serveAdmin(t, srv)
	is := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: e2eTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: certs}}}
	}
	send := func(hc *http.Client) (*http.Response, error) {
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		return hc.Post("https://"+addr+"/", "text/xml; charset=UTF-8", strings.NewReader(string(req)))
	}
	if resp, err := send(is()); err == nil {
		resp.Body.Close()
		t.Fatal("the client proxy answered an IS without a certificate")
	}
	waitValue(t, admin, 1, handshakes, "endpoint", "client", "reason", "no_certificate")
	if resp, err := send(is(issue(other, "other-is", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "not our IS"}))); err == nil {
		resp.Body.Close()
		t.Fatal("the client proxy answered an IS certificate of another CA")
	}
	waitValue(t, admin, 1, handshakes, "endpoint", "client", "reason", "unapproved_ca")

	isCert := issue(isCA, "emdk-is", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "ƏMDK reyestr sistemi"})
	resp, err := send(is(isCert))
	if err != nil {
		t.Fatal(err)
	}
	r := e2eReply{status: resp.StatusCode, header: resp.Header}
	r.body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	f := e2eWantFault(t, r, message.Code(message.ClientProxy, message.NetworkError))
	e2eContains(t, f, "not registered")
	waitValue(t, admin, 1, handshakes, "endpoint", "peer", "reason", "not_registered")
}

// wantReady requires /readyz on the admin listener to answer HTTP code
// with a body containing each of want.
func wantReady(t *testing.T, adminURL string, code int, want ...string) {
	t.Helper()
	got, body := get(t, adminURL+"/readyz")
	if got != code {
		t.Fatalf("/readyz: HTTP %d %q, want %d", got, body, code)
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("/readyz: %q does not say %q", body, w)
		}
	}
}

// waitReady waits for the server's first configuration download (Serve
// starts it), until /readyz says ready.
func waitReady(t *testing.T, adminURL string) {
	t.Helper()
	waitFor(t, "/readyz to say ready", func() bool {
		code, _ := get(t, adminURL+"/readyz")
		return code == http.StatusOK
	})
	wantReady(t, adminURL, http.StatusOK, "ready")
}

// TestReadyzGlobalConfiguration: /readyz turns 503, naming the expired
// global configuration, once the server's clock passes its expiry, and
// ready again when the clock is right again (an NTP correction).
func TestReadyzGlobalConfiguration(t *testing.T) {
	e := e2eNew(t)
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	var srv *securityserver.Server
	startExtraServer(t, e, nil, &srv, securityserver.WithClock(clock))
	admin := serveAdmin(t, srv)
	waitReady(t, admin)

	skew.Store(int64(3 * time.Hour)) // the sample configuration is valid for 1 h
	wantReady(t, admin, http.StatusServiceUnavailable, "not ready", "global configuration", "expired")
	skew.Store(0)
	wantReady(t, admin, http.StatusOK, "ready")
}

// TestReadyzMessageLog: when the message log's file system is full the
// exchange is refused with LoggingFailed and /readyz turns 503 naming the
// message log; once space returns the next exchange is logged and
// answered, and /readyz says ready again.
func TestReadyzMessageLog(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8M", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	e := e2eNew(t)
	var srv *securityserver.Server
	addr := startExtraServer(t, e, func(c *config.Config) {
		c.DataDir = filepath.Join(dir, "ss")
		c.MessageLog.WALSize = 1 << 20 // the write-ahead file must fit on the 8 MiB file system
	}, &srv)
	admin := serveAdmin(t, srv)
	call := func() e2eReply {
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		return e2eDo(t, http.MethodPost, "http://"+addr+"/", "text/xml; charset=UTF-8", req)
	}
	if r := call(); !strings.Contains(string(r.body), "requestHash") {
		t.Fatalf("the first exchange failed:\n%s", r.body)
	}
	wantReady(t, admin, http.StatusOK, "ready")

	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the file system: %v", err)
			}
			break
		}
	}
	f.Close()
	// The log file has some free pages left; exchanges use them up.
	loggingFailed := message.Code(message.ClientProxy, message.LoggingFailed)
	refused := false
	for range 300 {
		r := call()
		if ft, ok := message.ParseFault(r.body); ok {
			if ft.Code != loggingFailed {
				t.Fatalf("on a full disk: fault %s (%s), want %s", ft.Code, ft.String, loggingFailed)
			}
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("exchanges kept being logged on a full file system")
	}
	wantReady(t, admin, http.StatusServiceUnavailable, "not ready", "message log", "write failed")

	os.Remove(filler)
	if r := call(); !strings.Contains(string(r.body), "requestHash") {
		t.Fatalf("after space returned the exchange failed:\n%s", r.body)
	}
	wantReady(t, admin, http.StatusOK, "ready")
}
