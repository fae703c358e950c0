package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/pglog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// TestCluster is the acceptance test of a security server as a cluster of
// nodes on PostgreSQL. DİN's server runs as three `securityserver serve`
// processes sharing its keys and one database, behind a TCP proxy on the
// address the global configuration registers; ƏMDK's server (in this
// process) sends them the load of 16 information-system clients. In turn:
//
//   - a DİN node is killed (SIGKILL) and restarted, 10 times (3 with
//     -short), every other time the node holding the time-stamping lease,
//     which another node must take over within 10 s (a new batch is
//     stamped);
//   - a request whose id DİN's node 1 received is sent again (same client,
//     same id) through node 2: refused as a duplicate;
//   - the database is cut off under load (connections refused and
//     terminated): ƏMDK's IS gets Server.ServerProxy.LoggingFailed from
//     DİN, DİN's IS, calling DSMF through a DİN node, gets
//     Server.ClientProxy.LoggingFailed, and no exchange succeeds unlogged;
//     once the database is back, exchanges in both directions resume
//     without restarting any node.
//
// Afterwards every exchange a client saw succeed is in DİN's log, request
// and response, exactly once; no request is in it twice; the chain is one
// chain; and every record verifies as the auditor checks it (signatures,
// OCSP, time-stamp tokens, through an archive written from the database).
func TestCluster(t *testing.T) {
	dsn := testtool.Postgres(t)
	dir := t.TempDir()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true, External: []string{"DIN"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	din, emdk := f.Agency("DIN"), f.Agency("EMDK")
	bin := testtool.Build(t, ".")

	// DİN's address in the global configuration is the load balancer's.
	lb := testtool.StartTCPProxy(t, din.Config.ServerProxy.Listen)
	var nodes [3]*clusterNode
	for i := range nodes {
		nodes[i] = writeNodeConfig(t, din.ConfigFile, filepath.Join(dir, fmt.Sprintf("din-node%d", i+1)), dsn)
		lb.Add(nodes[i].serverAddr)
	}
	// Access rights are in the database, granted once for every node.
	if code, out, errOut := runCLI("acl", "grant", "--config", nodes[0].config, "--service", "AZ/GOV/DIN/population/getPersonByFin", "--client", "AZ/GOV/EMDK/realestate"); code != 0 || !strings.Contains(out, "may now call") {
		t.Fatalf("acl grant on PostgreSQL: exit %d: %s%s", code, out, errOut)
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.start(t, bin) }()
	}
	wg.Wait()

	l, err := pglog.Open(context.Background(), dsn, pglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	batches := func() int {
		var n int
		if err := l.Pool().QueryRow(context.Background(), `SELECT count(*) FROM messagelog_batches`).Scan(&n); err != nil {
			t.Logf("count batches: %v", err)
			return -1
		}
		return n
	}

	ld := newLoad(emdk.ClientURL)
	ld.run(16)

	// Kills: every other one the lease holder's.
	kills := 10
	if testing.Short() {
		kills = 3
	}
	var takeovers []time.Duration
	for k := range kills {
		time.Sleep(1500 * time.Millisecond)
		holder := holderOf(nodes[:])
		victim := nodes[k%len(nodes)]
		if k%2 == 0 && holder != nil {
			victim = holder
		} else if victim == holder {
			victim = nodes[(k+1)%len(nodes)]
		}
		before := batches()
		victim.proc.Kill(t)
		died := time.Now()
		if victim == holder {
			for batches() <= before {
				if time.Since(died) > 10*time.Second {
					t.Fatalf("kill %d: no node stamped a batch within 10 s of the lease holder %s's death (%d batches)", k+1, victim.name, before)
				}
				time.Sleep(50 * time.Millisecond)
			}
			takeovers = append(takeovers, time.Since(died))
			if h := holderOf(nodes[:]); h == nil || h == victim {
				t.Fatalf("kill %d: after the takeover no live node says it holds the lease", k+1)
			}
		}
		victim.start(t, bin)
	}
	ld.stopAndWait()
	emdkOK := ld.succeeded() // every ƏMDK -> DİN success
	if len(takeovers) == 0 {
		t.Fatal("the lease holder was never killed")
	}
	t.Logf("%d kills, %d of the lease holder; time-stamping resumed after %v", kills, len(takeovers), takeovers)
	if ld.ok.Load() < 50 {
		t.Fatalf("only %d of %d exchanges succeeded under the kills", ld.ok.Load(), ld.sent.Load())
	}
	t.Logf("under the kills: %d exchanges, %d succeeded", ld.sent.Load(), ld.ok.Load())

	// A replay to another node is refused: the same request id from the
	// same client, through node 1, then node 2.
	hc := &http.Client{Timeout: 30 * time.Second}
	lb.Pin(nodes[0].serverAddr)
	if ok, body := ld.send(hc, emdk.ClientURL, "replay-1"); !ok {
		t.Fatalf("the first exchange through node 1: %s", body)
	}
	emdkOK = append(emdkOK, "replay-1")
	lb.Pin(nodes[1].serverAddr)
	ok, body := ld.send(hc, emdk.ClientURL, "replay-1")
	if ok || !strings.Contains(body, "DuplicateMessage") {
		t.Fatalf("the same request id through node 2: %s; want the DuplicateMessage fault", body)
	}
	if got := lb.Connections(nodes[1].serverAddr); got == 0 {
		t.Fatal("the replay did not reach node 2")
	}
	lb.Pin("")

	// The database cut off under load, from both sides: ƏMDK's clients
	// calling DİN, and DİN's IS calling DSMF through node 3.
	dinClient := newLoad("http://" + nodes[2].clientAddr + "/")
	dinClient.client, dinClient.service, dinClient.body, dinClient.user = "AZ/GOV/DIN/population", "AZ/GOV/DSMF/insurance/getInsuredPerson/v1", "<fin>5ZJ8K2L</fin>", "AZDIN0001"
	ld = newLoad(emdk.ClientURL)
	ld.run(8)
	dinClient.run(4)
	time.Sleep(time.Second)
	restore := testtool.CutOff(t, dsn)
	cut := time.Now()
	time.Sleep(3 * time.Second)
	loggingFailed := dinClient.faults("Server.ClientProxy.LoggingFailed")
	providerLoggingFailed := ld.faults("Server.ServerProxy.LoggingFailed")
	time.Sleep(time.Second)
	restore()
	back := time.Now()
	// Exchanges resume, both ways, on the same processes.
	for _, x := range []*isLoad{ld, dinClient} {
		base := x.ok.Load()
		for x.ok.Load() < base+5 {
			if time.Since(back) > 30*time.Second {
				t.Fatalf("exchanges to %s did not resume within 30 s of the database's return (faults: %v)", x.url, x.faultCodes())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ld.stopAndWait()
	dinClient.stopAndWait()
	emdkOK = append(emdkOK, ld.succeeded()...)
	t.Logf("database cut off for %s: DİN's IS got %d LoggingFailed faults; exchanges resumed %s after its return; faults seen: ƏMDK %v, DİN %v",
		back.Sub(cut).Round(time.Millisecond), loggingFailed, time.Since(back).Round(time.Millisecond), ld.faultCodes(), dinClient.faultCodes())
	if loggingFailed == 0 {
		t.Fatalf("DİN's IS got no LoggingFailed fault while the database was cut off (faults %v)", dinClient.faultCodes())
	}
	if providerLoggingFailed == 0 {
		t.Fatalf("ƏMDK's IS got no LoggingFailed fault from DİN while its database was cut off (faults %v)", ld.faultCodes())
	}
	// The outage is one fault, whichever step (replay guard, access
	// rights, log) meets it first.
	for code := range ld.faultCodes() {
		if code != "Server.ServerProxy.LoggingFailed" {
			t.Errorf("ƏMDK's IS got %s during the outage; want only Server.ServerProxy.LoggingFailed", code)
		}
	}
	for code := range dinClient.faultCodes() {
		if code != "Server.ClientProxy.LoggingFailed" {
			t.Errorf("DİN's IS got %s during the outage; want only Server.ClientProxy.LoggingFailed", code)
		}
	}
	for _, n := range nodes {
		if !n.proc.Running() {
			t.Fatalf("%s exited during the outage:\n%s", n.name, n.proc.Log())
		}
	}

	// Everything stamped, then the nodes stop cleanly.
	deadline := time.Now().Add(30 * time.Second)
	for {
		first, last, _, err := l.PendingStored()
		if err == nil && first > last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records %d..%d still unstamped 30 s after the load (%v)", first, last, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, n := range nodes {
		n.proc.Stop(t)
	}

	// Every success is logged exactly once, request and response.
	type count struct{ req, resp int }
	server := map[string]*count{} // ƏMDK -> DİN: DİN's service side
	client := map[string]*count{} // DİN -> DSMF: DİN's client side
	err = l.Each(0, func(r *messagelog.Record, _ []byte) error {
		m := server
		if r.Side == messagelog.ClientSide {
			m = client
		}
		c := m[r.MessageID]
		if c == nil {
			c = &count{}
			m[r.MessageID] = c
		}
		if r.Kind == messagelog.Request {
			c.req++
		} else {
			c.resp++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		name string
		ids  []string
		m    map[string]*count
	}{{"ƏMDK -> DİN", emdkOK, server}, {"DİN -> DSMF", dinClient.succeeded(), client}} {
		for _, id := range x.ids {
			if c := x.m[id]; c == nil || c.req != 1 || c.resp != 1 {
				t.Errorf("%s exchange %s succeeded for its client but DİN's log has %+v of it, want one request and one response", x.name, id, c)
			}
		}
	}
	for id, c := range server {
		if c.req > 1 || c.resp > 1 {
			t.Errorf("DİN's log has request %s %d times and its response %d times", id, c.req, c.resp)
		}
	}
	n := storetest.CheckChain(t, l)
	all, err := l.Archivable(time.Now().Add(time.Hour), 1<<30)
	if err != nil || len(all) == 0 || all[len(all)-1].LastSeq != uint64(n) {
		t.Fatalf("%d batches (%v) do not cover the %d records", len(all), err, n)
	}
	archives := t.TempDir()
	if _, err := audit.WriteArchive(l, archives, "DIN", din.Config.Server.String(), all, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	trust.Roots.AddCert(f.CA.Root)
	trust.Intermediates.AddCert(f.CA.Cert)
	rep, _, err := audit.VerifyArchives(archives, trust)
	if err != nil || !rep.OK() || rep.Verified != n {
		t.Fatalf("DİN's log: %d of %d records verified, %+v, %v", rep.Verified, n, rep.Failures, err)
	}
	// The auditor's tool reads the log from the database, read-only, and
	// names a record changed there.
	logaudit := testtool.Build(t, "../logaudit")
	verify := func() (string, error) {
		out, err := osexec.Command(logaudit, "verify", "--postgres", dsn,
			"--ca", filepath.Join(dir, "pki", pkiutil.FileRootCert), "--ca", filepath.Join(dir, "pki", pkiutil.FileCACert)).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, fmt.Sprintf("%d records, %d verified, 0 failed checks", n, n)) || !strings.HasSuffix(out, "OK\n") {
		t.Fatalf("logaudit verify --postgres: %v\n%s", err, out)
	}
	testtool.Exec(t, dsn, `UPDATE messagelog_records SET stored = overlay(stored placing '\x41'::bytea from length(stored) - 40 for 1) WHERE seq = 7`)
	if out, err := verify(); err == nil || !strings.Contains(out, "FAIL record 7") {
		t.Fatalf("logaudit verify --postgres after record 7 was changed in the database: %v\n%s", err, out)
	}
	t.Logf("DİN's log: %d records in %d batches, one chain, all verified; %d ƏMDK -> DİN and %d DİN -> DSMF successes each logged once",
		n, len(all), len(emdkOK), len(dinClient.succeeded()))
}

// clusterNode is one `securityserver serve` process of DİN's server.
type clusterNode struct {
	name                              string
	config                            string
	clientAddr, serverAddr, adminAddr string
	proc                              *testtool.Process
}

// writeNodeConfig writes a node's configuration: DİN's, with its own
// listeners and data directory (configuration cache), the log, access
// rights and monitoring on PostgreSQL, batches every 300 ms.
func writeNodeConfig(t *testing.T, base, dir, dsn string) *clusterNode {
	t.Helper()
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	n := &clusterNode{name: filepath.Base(dir), config: dir + ".yaml",
		clientAddr: testtool.FreeAddr(t), serverAddr: testtool.FreeAddr(t), adminAddr: testtool.FreeAddr(t)}
	cfg["dataDir"] = dir
	cfg["clientProxy"] = map[string]any{"listen": n.clientAddr}
	cfg["serverProxy"] = map[string]any{"listen": n.serverAddr}
	cfg["admin"] = map[string]any{"listen": n.adminAddr}
	ml, _ := cfg["messageLog"].(map[string]any)
	if ml == nil {
		ml = map[string]any{}
	}
	ml["storage"], ml["postgres"] = "postgres", map[string]any{"dsn": dsn}
	cfg["messageLog"] = ml
	cfg["timestamping"] = map[string]any{"interval": "300ms"}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.config, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *clusterNode) start(t *testing.T, bin string) {
	n.proc = testtool.Start(t, "security server serving", bin, "serve", "--config", n.config)
}

// holdsLease asks the node's metrics whether it holds the lease.
func (n *clusterNode) holdsLease() bool {
	resp, err := http.Get("http://" + n.adminAddr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return bytes.Contains(data, []byte("\nsluz_timestamping_lease_held 1\n"))
}

// holderOf is the node holding the lease, or nil while none does.
func holderOf(nodes []*clusterNode) *clusterNode {
	for range 100 {
		for _, n := range nodes {
			if n.proc.Running() && n.holdsLease() {
				return n
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// isLoad is information-system clients sending exchanges through one client
// proxy until stopped, noting which succeeded as the IS sees it.
type isLoad struct {
	url                         string
	client, service, body, user string
	sent, ok                    atomic.Int64
	stop                        chan struct{}
	wg                          sync.WaitGroup

	mu     sync.Mutex
	okIDs  []string
	faultN map[string]int // by fault code
}

func newLoad(url string) *isLoad {
	return &isLoad{url: url, client: "AZ/GOV/EMDK/realestate", service: "AZ/GOV/DIN/population/getPersonByFin/v1",
		body: "<fin>5ZJ8K2L</fin>", user: "AZEMDK0001", stop: make(chan struct{}), faultN: map[string]int{}}
}

var loadSeq atomic.Int64

func (l *isLoad) run(clients int) {
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			hc := &http.Client{Timeout: 30 * time.Second}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("cluster-%d", loadSeq.Add(1))
				l.sent.Add(1)
				if ok, body := l.send(hc, l.url, id); ok {
					l.success(id)
				} else {
					l.fault(body)
				}
			}
		}()
	}
}

// send is one exchange; success as the IS sees it: a complete answer
// carrying requestHash, no fault.
func (l *isLoad) send(hc *http.Client, url, id string) (bool, string) {
	client, _ := identifier.ParseClient(l.client)
	service, _ := identifier.ParseService(l.service)
	resp, err := hc.Post(url, "text/xml; charset=UTF-8", bytes.NewReader(localfed.RequestXML(client, service, id, l.user, l.body)))
	if err != nil {
		return false, err.Error()
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return false, err.Error()
	}
	return bytes.Contains(data, []byte("requestHash")) && !bytes.Contains(data, []byte("Fault>")), string(data)
}

func (l *isLoad) success(id string) {
	l.ok.Add(1)
	l.mu.Lock()
	l.okIDs = append(l.okIDs, id)
	l.mu.Unlock()
}

func (l *isLoad) fault(body string) {
	code := "no answer"
	if _, rest, ok := strings.Cut(body, "<faultcode>"); ok {
		code, _, _ = strings.Cut(rest, "</faultcode>")
	}
	l.mu.Lock()
	l.faultN[code]++
	l.mu.Unlock()
}

func (l *isLoad) faults(code string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.faultN[code]
}

func (l *isLoad) faultCodes() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.faultN {
		out[k] = v
	}
	return out
}

func (l *isLoad) succeeded() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.okIDs...)
}

func (l *isLoad) stopAndWait() {
	close(l.stop)
	l.wg.Wait()
}
