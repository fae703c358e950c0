package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/transport"
)

// batchedRecords finds, in a log, one SOAP and one REST record without
// attachments whose message was signed in a batch (it carries the batch's
// hash-chain result and its own chain), by message id; "" when none.
func batchedRecords(l *messagelog.Log) (soap, rest string) {
	l.Each(0, func(r *messagelog.Record, _ []byte) error {
		if r.HashChainResult == nil || len(r.Attachments) > 0 {
			return nil
		}
		if transport.IsREST(r.ContentType) {
			if rest == "" {
				rest = r.MessageID
			}
		} else if soap == "" {
			soap = r.MessageID
		}
		return nil
	})
	return soap, rest
}

// concurrentExchanges runs 16 clients at once: ƏMDK's IS asks DİN's SOAP
// service and DİN's IS reads ƏMDK's REST service (GET, no body), each
// clients × 4 times.
func concurrentExchanges(t *testing.T, f *localfed.Federation, round int) {
	client, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
	service, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	soapURL := f.Agency("EMDK").ClientURL
	restURL := strings.TrimSuffix(f.Agency("DIN").ClientURL, "/") + "/r1/AZ/GOV/EMDK/realestate/realEstateRegistry/extract/5ZJ8K2L"
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			for i := range 4 {
				id := fmt.Sprintf("batch-%d-%d-%d", round, c, i)
				req := localfed.RequestXML(client, service, id+"-soap", "AZTEST0001", "<fin>5ZJ8K2L</fin>")
				resp, err := http.Post(soapURL, "text/xml; charset=UTF-8", bytes.NewReader(req))
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte("faultcode"))) {
						err = fmt.Errorf("SOAP: HTTP %d %.300s", resp.StatusCode, body)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				get, _ := http.NewRequest(http.MethodGet, restURL, nil)
				get.Header.Set("X-Road-Client", "AZ/GOV/DIN/population")
				get.Header.Set("X-Road-Id", id+"-rest")
				if resp, err = http.DefaultClient.Do(get); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("REST: HTTP %d %s", resp.StatusCode, resp.Header.Get("X-Road-Error"))
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// TestBatchedRecords: exchanges signed in batches (signing.batch, the
// default) under 16 concurrent clients, SOAP and REST without
// attachments, are logged with their batch's hash-chain result and their
// own chain; logaudit verify accepts both logs, and a batched message's
// exported container passes the README's independent recipe (xmlsec1 over
// sig-hashchainresult.xml, the hash-chain script, openssl).
func TestBatchedRecords(t *testing.T) {
	var soapID, restID string
	emdkLog, dinLog, cas := federationLogsAfter(t, func(f *localfed.Federation) {
		for round := 0; round < 20 && (soapID == "" || restID == ""); round++ {
			concurrentExchanges(t, f, round)
			soapID, restID = batchedRecords(f.Agency("DIN").Server.MessageLog())
		}
	})
	if soapID == "" || restID == "" {
		t.Fatalf("no batched record in DİN's log after 20 rounds of 16 clients: SOAP %q, REST %q", soapID, restID)
	}
	for _, log := range []string{emdkLog, dinLog} {
		if code, out, errOut := runCLI(append([]string{"verify", "--log", log}, cas...)...); code != cli.ExitOK || !strings.Contains(out, "OK") {
			t.Fatalf("verify %s: exit %d\n%s%s", log, code, out, errOut)
		}
	}
	pkiDir := filepath.Dir(cas[1])
	l, err := messagelog.OpenReadOnly(dinLog)
	if err != nil {
		t.Fatal(err)
	}
	batchedKind := map[string]string{}
	l.Each(0, func(r *messagelog.Record, _ []byte) error {
		if (r.MessageID == soapID || r.MessageID == restID) && r.HashChainResult != nil && len(r.Attachments) == 0 {
			batchedKind[r.MessageID] = strings.ToLower(r.Kind.String())
		}
		return nil
	})
	l.Close()
	for _, id := range []string{soapID, restID} {
		out := t.TempDir()
		if code, stdout, errOut := runCLI("export", "--log", dinLog, "--id", id, "--out", out); code != cli.ExitOK || strings.Count(stdout, "wrote") != 2 {
			t.Fatalf("export %s: %d %s %s", id, code, stdout, errOut)
		}
		container := filepath.Join(out, id+"-"+batchedKind[id]+".asice")
		names := entryNames(t, container)
		if !strings.Contains(strings.Join(names, " "), "sig-hashchainresult.xml sig-hashchain.xml") {
			t.Fatalf("%s: entries %v, want the batch's sig-hashchainresult.xml and sig-hashchain.xml", container, names)
		}
		checkIndependent(t, container, pkiDir)
		if code, stdout, errOut := runCLI("proof", container); code != cli.ExitOK {
			t.Fatalf("proof %s: %d %s %s", container, code, stdout, errOut)
		}
	}
}
