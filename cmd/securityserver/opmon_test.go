package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver/opmon"
)

// startFederation runs the local federation on free ports until the end
// of the test.
func startFederation(t *testing.T) *localfed.Federation {
	t.Helper()
	f, err := localfed.Start(localfed.Options{Dir: t.TempDir(), AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		f.Close()
	})
	return f
}

// TestOpmonCommand: against a running local federation, after the sample
// queries, `securityserver opmon` prints DİN's records for its owner,
// only ƏMDK's own exchange for ƏMDK, and JSON with PR-OPMON field names.
func TestOpmonCommand(t *testing.T) {
	f := startFederation(t)
	var ids []string
	for _, q := range localfed.Queries {
		res := f.RunQuery(context.Background(), q)
		if !res.OK {
			t.Fatalf("sample query %q: %s", q.Name, res.Outcome)
		}
		ids = append(ids, res.MessageID)
	}
	conf := map[string]string{}
	for _, a := range f.Agencies {
		conf[a.Code] = a.ConfigFile
	}

	code, out, errOut := runCLI("opmon", "--config", conf["DIN"], "--client", "AZ/GOV/DIN/population", "--since", "10m")
	if code != cli.ExitOK {
		t.Fatalf("opmon as DİN's owner: %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"TIME  ", "SIDE", "DURATION",
		"producer  AZ/GOV/EMDK/realestate  AZ/GOV/DIN/population/getPersonByFin/v1",   // ƏMDK → DİN
		"Server.ServerProxy.AccessDenied",                                             // the refused DSMF → DİN query
		"client    AZ/GOV/DIN/population   AZ/GOV/DSMF/insurance/getInsuredPerson/v1", // DİN → DSMF
		ids[0], ids[2], ids[3],
		"recorded by AZ/GOV/DIN/ss1, 1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the owner's table lacks %q:\n%s", want, out)
		}
	}

	// DİN's administrator sees who was refused for want of a right: the
	// sample DSMF → DİN query, with the grant that would let it through.
	code, out, errOut = runCLI("acl", "refused", "--config", conf["DIN"], "--client", "AZ/GOV/DIN/population", "--since", "10m")
	if code != cli.ExitOK {
		t.Fatalf("acl refused: %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"AZ/GOV/DIN/population/getPersonByFin  AZ/GOV/DSMF/insurance  1 ", ids[3],
		"securityserver acl grant --config " + conf["DIN"] + " --service AZ/GOV/DIN/population/getPersonByFin --client AZ/GOV/DSMF/insurance",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("acl refused lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "AZ/GOV/EMDK/realestate") {
		t.Errorf("acl refused lists a caller that was answered:\n%s", out)
	}
	if code, _, errOut := runCLI("acl", "refused", "--config", conf["DIN"], "--client", "AZ/GOV/EMDK/realestate"); code != cli.ExitUsage || !strings.Contains(errOut, "not of AZ/GOV/DIN") {
		t.Errorf("acl refused as another member: %d %s", code, errOut)
	}

	code, out, errOut = runCLI("opmon", "--config", conf["EMDK"], "--client", "AZ/GOV/EMDK/realestate", "--server", "AZ/GOV/DIN/ss1",
		"--service", "getPersonByFin", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--json")
	if code != cli.ExitOK {
		t.Fatalf("opmon --json as ƏMDK: %d\n%s", code, errOut)
	}
	var doc struct {
		Records []map[string]any `json:"records"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if len(doc.Records) != 1 {
		t.Fatalf("ƏMDK sees %d getPersonByFin records at DİN, want its own one:\n%s", len(doc.Records), out)
	}
	r := doc.Records[0]
	if r["messageId"] != ids[0] || r["securityServerType"] != opmon.Producer || r["clientMemberCode"] != "EMDK" || r["succeeded"] != true || r["requestSize"].(float64) <= 0 {
		t.Errorf("ƏMDK's record: %v", r)
	}

	code, out, _ = runCLI("opmon", "--config", conf["DSMF"], "--client", "AZ/GOV/DSMF/insurance", "--server", "AZ/GOV/DIN/ss1", "--since", "10m", "--service", "AZ/GOV/DIN/population/getPersonByFin")
	if code != cli.ExitOK || !strings.Contains(out, ids[3]) || strings.Contains(out, ids[0]) || !strings.Contains(out, "1 exchanges recorded by AZ/GOV/DIN/ss1, 1 failed") {
		t.Errorf("DSMF at DİN: want only its refused query:\n%s", out)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--client", "AZ/GOV/DIN/population"}, cli.ExitUsage, "--client and --since are required"},
		{[]string{"--client", "AZ/GOV/DIN/population", "--since", "yesterday"}, cli.ExitUsage, `"yesterday" is neither a duration`},
		{[]string{"--client", "AZ/GOV/DIN/population", "--since", "1h", "--until", "2h"}, cli.ExitUsage, "is after --until"},
		{[]string{"--client", "DIN", "--since", "1h"}, cli.ExitUsage, "--client: "},
		{[]string{"--client", "AZ/GOV/DIN/population", "--since", "1h", "--service", "get person"}, cli.ExitUsage, "--service"},
		{[]string{"--client", "AZ/GOV/DIN/population", "--since", "1h", "--server", "AZ/GOV/DIN/ss9"}, cli.ExitError, "AZ/GOV/DIN/ss9 refused the query: Server.ClientProxy.UnknownMember"},
		{[]string{"--client", "AZ/GOV/EMDK/realestate", "--since", "1h"}, cli.ExitError, "refused the query: Server.ClientProxy.UnknownMember: client AZ/GOV/EMDK/realestate is not hosted by this security server"},
	} {
		code, _, errOut := runCLI(append([]string{"opmon", "--config", conf["DIN"]}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("opmon %v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.want, errOut)
		}
	}
}

// TestOpmonCommandOverHTTPS: when the client proxy requires HTTPS with IS
// certificates (clientProxy.tls), opmon says so without the certificate and
// works with it; the server runs as its own process, as in production.
func TestOpmonCommandOverHTTPS(t *testing.T) {
	dir := t.TempDir()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true, External: []string{"EMDK"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		f.Close()
	})
	isCert, isKey := filepath.Join(dir, "emdk-is.pem"), filepath.Join(dir, "emdk-is.key")
	if _, _, err := f.CA.IssueToFiles(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, DNSNames: []string{"is.emdk.gov.az"}}, isCert, isKey, false); err != nil {
		t.Fatal(err)
	}
	emdk := f.Agencies[1]
	data, err := os.ReadFile(emdk.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	listen := "listen: " + emdk.Config.ClientProxy.Listen
	tlsConf := fmt.Sprintf("%s\n  tls: {cert: %s, key: %s, clientCAs: [%s]}", listen,
		filepath.Join(dir, "EMDK", "auth.pem"), filepath.Join(dir, "EMDK", "auth.key"), filepath.Join(dir, "pki", pkiutil.FileCACert))
	conf := filepath.Join(dir, "securityserver-emdk-tls.yaml")
	if err := os.WriteFile(conf, []byte(strings.Replace(string(data), listen, tlsConf, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.Start(t, "security server serving", testtool.Build(t, "."), "serve", "--config", conf)

	res := f.RunQuery(context.Background(), localfed.Queries[1]) // DSMF asks ƏMDK, through DSMF's server
	if !res.OK {
		t.Fatalf("DSMF → ƏMDK: %s", res.Outcome)
	}
	args := []string{"opmon", "--config", conf, "--client", "AZ/GOV/EMDK/realestate", "--since", "10m"}
	if code, _, errOut := runCLI(args...); code != cli.ExitUsage || !strings.Contains(errOut, "requires HTTPS with an IS certificate (clientProxy.tls): give it with --tls-cert and --tls-key") {
		t.Errorf("without an IS certificate: exit %d\n%s", code, errOut)
	}
	code, out, errOut := runCLI(append(args, "--tls-cert", isCert, "--tls-key", isKey)...)
	if code != cli.ExitOK || !strings.Contains(out, res.MessageID) || !strings.Contains(out, "producer  AZ/GOV/DSMF/insurance") {
		t.Errorf("with the IS certificate: exit %d, want DSMF's call %s:\n%s%s", code, res.MessageID, out, errOut)
	}
}
