package securityserver_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/opmon"
)

// opmonAsk asks server for its operational data as the IS of caller, through
// the client proxy of the agency from.
func opmonAsk(t *testing.T, f *localfed.Federation, from, caller, server string, crit opmon.SearchCriteria) ([]opmon.Record, error) {
	t.Helper()
	q := opmon.Request{Caller: mustClient(t, caller), Server: mustServer(t, server), SearchCriteria: crit}
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	var url string
	for _, a := range f.Agencies {
		if a.Code == from {
			url = a.ClientURL
		}
	}
	return opmon.Ask(ctx, &http.Client{Timeout: e2eTimeout}, url, q)
}

func mustClient(t *testing.T, s string) identifier.Client {
	t.Helper()
	c, err := identifier.ParseClient(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustServer(t *testing.T, s string) identifier.ServerID {
	t.Helper()
	id, err := identifier.ParseServer(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// opmonFind returns the record of side for message id, or nil.
func opmonFind(recs []opmon.Record, side, id string) *opmon.Record {
	for i := range recs {
		if recs[i].SecurityServerType == side && recs[i].MessageID == id {
			return &recs[i]
		}
	}
	return nil
}

// TestOpmonSampleQueries runs the local federation's sample queries, then
// reads DİN's security server's operational data as its owner and as two
// other members: the owner sees every exchange with the right fields, a
// member only the exchanges it took part in.
func TestOpmonSampleQueries(t *testing.T) {
	f, _ := e2eStart(t, t.TempDir())
	begin := time.Now()
	var ran []localfed.QueryResult
	for _, q := range localfed.Queries {
		res := f.RunQuery(context.Background(), q)
		if !res.OK {
			t.Fatalf("sample query %q: %s", q.Name, res.Outcome)
		}
		ran = append(ran, res)
	}
	end := time.Now()
	emdkToDIN, dsmfToEMDK, dinToDSMF, dsmfRefused := ran[0].MessageID, ran[1].MessageID, ran[2].MessageID, ran[3].MessageID
	window := opmon.SearchCriteria{From: begin.Unix() - 1, To: end.Unix() + 1}

	// (a) DİN's owner reads its own server: every exchange it saw.
	owner, err := opmonAsk(t, f, "DIN", "AZ/GOV/DIN/population", "AZ/GOV/DIN/ss1", window)
	if err != nil {
		t.Fatalf("owner's query: %v", err)
	}
	r := opmonFind(owner, opmon.Producer, emdkToDIN)
	if r == nil {
		t.Fatalf("the owner does not see the ƏMDK→DİN exchange %s among %d records", emdkToDIN, len(owner))
	}
	if got := r.ClientID().String(); got != e2eEMDKClient {
		t.Errorf("client %s, want %s", got, e2eEMDKClient)
	}
	if got := r.ServiceID().String(); got != e2eDINService {
		t.Errorf("service %s, want %s", got, e2eDINService)
	}
	if !r.Succeeded || r.FaultCode != "" {
		t.Errorf("succeeded %v fault %q, want a success", r.Succeeded, r.FaultCode)
	}
	if r.RequestSize < 500 || r.ResponseSize < 500 {
		t.Errorf("sizes request %d response %d: want the SOAP messages' sizes", r.RequestSize, r.ResponseSize)
	}
	if r.MessageUserID != "AZEMDK0001" || r.MessageProtocolVersion != "4.0" || r.XRequestID == "" {
		t.Errorf("userId %q protocolVersion %q x-request-id %q", r.MessageUserID, r.MessageProtocolVersion, r.XRequestID)
	}
	if r.SecurityServerID != "AZ/GOV/DIN/ss1" || r.ClientSecurityServer != "AZ/GOV/EMDK/ss1" || r.ServiceSecurityServer != "AZ/GOV/DIN/ss1" || r.ClientSecurityServerAddress != "127.0.0.1" {
		t.Errorf("servers: recorded by %q, client's %q, service's %q", r.SecurityServerID, r.ClientSecurityServer, r.ServiceSecurityServer)
	}
	ts := []int64{begin.UnixMilli() - 1, r.RequestInTs, r.RequestOutTs, r.ResponseInTs, r.ResponseOutTs, end.UnixMilli() + 1}
	for i := 1; i < len(ts); i++ {
		if ts[i] < ts[i-1] {
			t.Errorf("times out of order (begin, requestIn, requestOut, responseIn, responseOut, end): %v", ts)
			break
		}
	}
	// The client side of DİN→DSMF, seen from DİN's client proxy.
	if r := opmonFind(owner, opmon.Client, dinToDSMF); r == nil || !r.Succeeded || r.ServiceSecurityServer != "AZ/GOV/DSMF/ss1" || r.ClientSubsystemCode != "population" {
		t.Errorf("client-side record of DİN→DSMF: %+v", r)
	}
	// (d) The refused sample query, with its fault code.
	if r := opmonFind(owner, opmon.Producer, dsmfRefused); r == nil || r.Succeeded || r.FaultCode != "Server.ServerProxy.AccessDenied" || r.ClientMemberCode != "DSMF" || r.FaultString == "" {
		t.Errorf("refused DSMF→DİN query: %+v", r)
	}
	if r := opmonFind(owner, opmon.Producer, dsmfToEMDK); r != nil {
		t.Errorf("DİN's server recorded an exchange it had no part in: %+v", r)
	}

	// (b) ƏMDK's subsystem reads DİN's server: its own exchange, nothing else.
	emdk, err := opmonAsk(t, f, "EMDK", e2eEMDKClient, "AZ/GOV/DIN/ss1", window)
	if err != nil {
		t.Fatalf("ƏMDK's query: %v", err)
	}
	if r := opmonFind(emdk, opmon.Producer, emdkToDIN); r == nil || r.ClientID().String() != e2eEMDKClient {
		t.Errorf("ƏMDK does not see its own exchange with DİN among %d records", len(emdk))
	}
	for _, r := range emdk {
		if !r.Involves(mustClient(t, "AZ/GOV/EMDK")) {
			t.Errorf("ƏMDK sees an exchange of %s with %s", r.ClientID(), r.ServiceID())
		}
	}

	// (c) DSMF reads DİN's server: its refused query, never ƏMDK's exchange,
	// not even when it asks for ƏMDK's records by name.
	dsmf, err := opmonAsk(t, f, "DSMF", e2eDSMFClient, "AZ/GOV/DIN/ss1", window)
	if err != nil {
		t.Fatalf("DSMF's query: %v", err)
	}
	if opmonFind(dsmf, opmon.Producer, dsmfRefused) == nil {
		t.Errorf("DSMF does not see its own refused query among %d records", len(dsmf))
	}
	if opmonFind(dsmf, opmon.Producer, emdkToDIN) != nil {
		t.Errorf("DSMF sees ƏMDK's exchange with DİN")
	}
	for _, r := range dsmf {
		if !r.Involves(mustClient(t, "AZ/GOV/DSMF")) {
			t.Errorf("DSMF sees an exchange of %s with %s", r.ClientID(), r.ServiceID())
		}
	}
	emdkClient := mustClient(t, e2eEMDKClient)
	byName := window
	byName.Client = &emdkClient
	if recs, err := opmonAsk(t, f, "DSMF", e2eDSMFClient, "AZ/GOV/DIN/ss1", byName); err != nil || len(recs) != 0 {
		t.Errorf("DSMF asking for ƏMDK's records by name: %d records, %v; want none", len(recs), err)
	}

	// Filters: by service code, and by service identifier.
	byCode := window
	byCode.ServiceCode = "getPersonByFin"
	recs, err := opmonAsk(t, f, "DIN", "AZ/GOV/DIN/population", "AZ/GOV/DIN/ss1", byCode)
	if err != nil || len(recs) != 2 { // ƏMDK's and DSMF's calls
		t.Errorf("owner, serviceCode getPersonByFin: %d records, %v; want 2", len(recs), err)
	}
	dsmfService, _ := identifier.ParseService("AZ/GOV/DSMF/insurance/getInsuredPerson")
	bySvc := window
	bySvc.Service = &dsmfService
	recs, err = opmonAsk(t, f, "DIN", "AZ/GOV/DIN/population", "AZ/GOV/DIN/ss1", bySvc)
	if err != nil || len(recs) != 1 || recs[0].MessageID != dinToDSMF {
		t.Errorf("owner, service %s: %+v, %v; want the DİN→DSMF client-side record", dsmfService, recs, err)
	}
	// Another member's server, through the caller's own server: DİN asks
	// DSMF's server and sees its call there.
	recs, err = opmonAsk(t, f, "DIN", "AZ/GOV/DIN/population", "AZ/GOV/DSMF/ss1", window)
	if err != nil || opmonFind(recs, opmon.Producer, dinToDSMF) == nil || opmonFind(recs, opmon.Client, dsmfToEMDK) != nil {
		t.Errorf("DİN reading DSMF's server: %d records, %v; want its own call only", len(recs), err)
	}
}

// TestOpmonBadRequests: a malformed query gets a fault naming what was
// wrong, and the query itself is logged in the message log like any
// exchange.
func TestOpmonBadRequests(t *testing.T) {
	f, _ := e2eStart(t, t.TempDir())
	now := time.Now().Unix()
	_, err := opmonAsk(t, f, "EMDK", e2eEMDKClient, "AZ/GOV/DIN/ss1", opmon.SearchCriteria{From: now, To: now - 60})
	var fault *message.Fault
	if !errors.As(err, &fault) || fault.Code != "Client.InvalidBody" || !strings.Contains(fault.String, "recordsFrom") {
		t.Fatalf("recordsFrom after recordsTo: %v; want Client.InvalidBody naming recordsFrom", err)
	}
	_, err = opmonAsk(t, f, "EMDK", e2eEMDKClient, "AZ/GOV/DIN/ss7", opmon.SearchCriteria{From: now - 60, To: now})
	if !errors.As(err, &fault) || fault.Code != "Server.ClientProxy.UnknownMember" {
		t.Fatalf("an unknown security server: %v; want Server.ClientProxy.UnknownMember", err)
	}

	q := opmon.Request{Caller: mustClient(t, e2eEMDKClient), Server: mustServer(t, "AZ/GOV/DIN/ss1"), ID: "opmon-logged-1",
		SearchCriteria: opmon.SearchCriteria{From: now - 60, To: now}}
	var din *localfed.Agency
	for _, a := range f.Agencies {
		if a.Code == "DIN" {
			din = a
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	if _, err := opmon.Ask(ctx, nil, f.Agencies[1].ClientURL, q); err != nil {
		t.Fatal(err)
	}
	kinds := map[messagelog.Kind]bool{}
	din.Server.MessageLog().Recent(time.Now().Add(-time.Minute), func(r *messagelog.Record) error {
		if r.MessageID == q.ID && r.Side == messagelog.ServerSide {
			kinds[r.Kind] = true
		}
		return nil
	})
	if !kinds[messagelog.Request] || !kinds[messagelog.Response] {
		t.Errorf("DİN's message log has %v of the operational data query; want its request and response", kinds)
	}
}

// TestOpmonProviderFault: an answer that is the provider IS's own SOAP
// fault reaches the caller signed, like any answer, but both servers record
// it as failed, with the IS's fault code.
func TestOpmonProviderFault(t *testing.T) {
	f, _ := e2eStart(t, t.TempDir())
	var emdk *localfed.Agency
	for _, a := range f.Agencies {
		if a.Code == "EMDK" {
			emdk = a
		}
	}
	begin := time.Now()
	id := "opmon-bad-fin-1"
	req := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>not-a-fin</fin>")
	r := e2eDo(t, http.MethodPost, emdk.ClientURL, "text/xml; charset=UTF-8", req)
	if fault, ok := message.ParseFault(r.body); !ok || fault.Code != "Client" {
		t.Fatalf("the sample IS should answer an invalid FIN with a Client fault, got HTTP %d:\n%s", r.status, r.body)
	}
	window := opmon.SearchCriteria{From: begin.Unix() - 1, To: time.Now().Unix() + 1}
	for _, side := range []struct{ from, caller, server, typ string }{
		{"DIN", "AZ/GOV/DIN/population", "AZ/GOV/DIN/ss1", opmon.Producer},
		{"EMDK", e2eEMDKClient, "AZ/GOV/EMDK/ss1", opmon.Client},
	} {
		recs, err := opmonAsk(t, f, side.from, side.caller, side.server, window)
		if err != nil {
			t.Fatalf("%s: %v", side.server, err)
		}
		rec := opmonFind(recs, side.typ, id)
		if rec == nil || rec.Succeeded || rec.FaultCode != "Client" || rec.FaultString == "" || rec.ResponseSize == 0 {
			t.Errorf("%s's %s record of the faulted call: %+v; want failed with the IS's fault Client and the answer's size", side.server, side.typ, rec)
		}
	}
	// Prometheus agrees: counted as provider_fault on both sides, not ok.
	for _, a := range f.Agencies {
		if a.Code != "EMDK" && a.Code != "DIN" {
			continue
		}
		admin := httptest.NewServer(a.Server.AdminHandler())
		_, body := get(t, admin.URL+"/metrics")
		admin.Close()
		if !strings.Contains(body, `result="provider_fault",service="AZ/GOV/DIN/population/getPersonByFin/v1",side=`) {
			t.Errorf("%s's /metrics lacks the exchange counted as provider_fault:\n%s", a.Code, grepLines(body, "sluz_exchanges_total"))
		}
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestOpmonDisabled: with opmon.enabled false exchanges go on as before,
// and the server neither records them nor creates opmon.db.
func TestOpmonDisabled(t *testing.T) {
	e := e2eNew(t)
	var srv *securityserver.Server
	off, dir := false, ""
	addr := startExtraServer(t, e, func(c *config.Config) { c.Opmon.Enabled, dir = &off, c.DataDir }, &srv)
	req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	e2eWantAnswer(t, e2eDo(t, http.MethodPost, "http://"+addr+"/", "text/xml; charset=UTF-8", req), req)
	if srv.Opmon() != nil {
		t.Error("the server has an opmon store with opmon.enabled false")
	}
	if _, err := os.Stat(filepath.Join(dir, securityserver.FileOpmon)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opmon.db: %v; want no such file", err)
	}
	admin := httptest.NewServer(srv.AdminHandler())
	defer admin.Close()
	if _, body := get(t, admin.URL+"/metrics"); strings.Contains(body, "sluz_opmon_") {
		t.Error("/metrics has opmon metrics with opmon disabled")
	}
}

// TestOpmonMetrics: the stored and dropped counters are exported.
func TestOpmonMetrics(t *testing.T) {
	f, _ := e2eStart(t, t.TempDir())
	for _, q := range localfed.Queries {
		f.RunQuery(context.Background(), q)
	}
	din := f.Agencies[0]
	if err := din.Server.Opmon().Flush(); err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(din.Server.AdminHandler())
	defer admin.Close()
	_, body := get(t, admin.URL+"/metrics")
	// DİN's server saw ƏMDK's call, its own two calls to DSMF (a record and the
	// quarterly report), DSMF's refused call and its own three REST calls
	// (ƏMDK's extract and listMethods, DSMF's quarterly report).
	for _, want := range []string{"sluz_opmon_records_stored_total 7\n", "sluz_opmon_records_dropped_total 0\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}

// TestOpmonQueryPassesAudit: the operational data query and its answer,
// signed by the server's owner for a member-level service, are in the
// message log as records the auditor's verification accepts.
func TestOpmonQueryPassesAudit(t *testing.T) {
	f, _ := e2eStart(t, t.TempDir())
	now := time.Now().Unix()
	if _, err := opmonAsk(t, f, "EMDK", e2eEMDKClient, "AZ/GOV/DIN/ss1", opmon.SearchCriteria{From: now - 60, To: now}); err != nil {
		t.Fatal(err)
	}
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for pool, file := range map[*x509.CertPool]string{trust.Roots: pkiutil.FileRootCert, trust.Intermediates: pkiutil.FileCACert} {
		certs, err := pkiutil.ReadCertificates(filepath.Join(f.Dir, "pki", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	for _, a := range f.Agencies[:2] { // DİN answered it, ƏMDK sent it
		copyPath := filepath.Join(t.TempDir(), "messagelog.db")
		out, err := os.Create(copyPath)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Server.MessageLog().Backup(out); err != nil {
			t.Fatal(err)
		}
		out.Close()
		rep, err := audit.VerifyLog(copyPath, trust, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Records < 2 || !rep.OK() {
			t.Errorf("%s's message log: %d records, failures %+v", a.Code, rep.Records, rep.Failures)
		}
	}
}
