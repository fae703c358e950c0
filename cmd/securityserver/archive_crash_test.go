package main

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// TestArchiverSurvivesKills runs ƏMDK's security server as its own process
// with a time-stamper and an archiver that run every second, sends
// exchanges through it, and kills it (SIGKILL) at random moments, twice,
// restarting it each time. At the end the auditor's verification of its
// archives and live log together must pass, with no archive overlapping or
// missing, and every exchange answered as a success must have both its
// records in an archive or in the live log.
func TestArchiverSurvivesKills(t *testing.T) {
	dir := t.TempDir()
	_, emdk := startWithEMDKOutside(t, dir)
	conf, err := os.ReadFile(emdk.ConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(conf), "after: 720h", "after: 1s", 1)
	text = strings.Replace(text, "interval: 1h", "interval: 1s", 1)
	text += "\ntimestamping:\n  interval: 300ms\nlimits:\n  replayWindow: 1s\n"
	if err := os.WriteFile(emdk.ConfigFile, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testtool.Build(t, ".")

	client, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
	service, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	var (
		mu        sync.Mutex
		succeeded []string
	)
	hc := &http.Client{Timeout: 10 * time.Second}
	send := func(id string) bool {
		body := localfed.RequestXML(client, service, id, "AZEMDK0001", "<fin>5ZJ8K2L</fin>")
		resp, err := hc.Post(emdk.ClientURL, "text/xml; charset=UTF-8", bytes.NewReader(body))
		if err != nil {
			return false
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return err == nil && bytes.Contains(data, []byte("requestHash")) && !bytes.Contains(data, []byte("Fault>"))
	}
	drive := func(stop chan struct{}, wg *sync.WaitGroup, round int) {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("kill-%d-%d-%d", round, w, i)
					if send(id) {
						mu.Lock()
						succeeded = append(succeeded, id)
						mu.Unlock()
					}
				}
			}()
		}
	}
	const kills = 2
	var logs strings.Builder
	for round := range kills + 1 {
		proc := testtool.Start(t, "security server serving", bin, "serve", "--config", emdk.ConfigFile)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		drive(stop, &wg, round)
		if round < kills {
			// Long enough for batches to close and the archiver to run.
			time.Sleep(time.Duration(1000+rand.IntN(1000)) * time.Millisecond)
			proc.Kill(t)
		} else {
			time.Sleep(500 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		if round == kills {
			// Let the last records be stamped and archived, then stop cleanly.
			time.Sleep(2000 * time.Millisecond)
			proc.Stop(t)
		}
		logs.WriteString(fmt.Sprintf("--- run %d\n%s", round, proc.Log()))
	}

	archives := filepath.Join(emdk.Config.DataDir, "archive")
	logPath := filepath.Join(emdk.Config.DataDir, securityserver.FileMessageLog)
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	for _, name := range []string{pkiutil.FileRootCert, pkiutil.FileCACert} {
		certs, err := pkiutil.ReadCertificates(filepath.Join(dir, "pki", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range certs {
			if c.CheckSignatureFrom(c) == nil {
				trust.Roots.AddCert(c)
			} else {
				trust.Intermediates.AddCert(c)
			}
		}
	}
	rep, err := audit.VerifyArchivesAndLog(archives, logPath, trust, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Archives == 0 {
		t.Fatalf("after %d kills: %d archives, failures %+v\nserver logs:\n%s", kills, rep.Archives, rep.Failures, logs.String())
	}
	// Every answered exchange is somewhere, once per side.
	found := map[string]int{}
	names, _ := audit.ListArchives(archives)
	for _, n := range names {
		a, err := audit.OpenArchive(filepath.Join(archives, n))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range a.Manifest.Entries {
			found[e.MessageID]++
		}
		a.Close()
	}
	l, err := messagelog.OpenReadOnly(logPath)
	if err != nil {
		t.Fatal(err)
	}
	l.Each(0, func(r *messagelog.Record, _ []byte) error { found[r.MessageID]++; return nil })
	l.Close()
	for _, id := range succeeded {
		if found[id] != 2 {
			t.Errorf("exchange %s was answered but has %d of its 2 records in the archives and the live log", id, found[id])
		}
	}
	t.Logf("%d kills; %d exchanges answered; %d archives written, %d completed after a kill; %d records verified of %d",
		kills, len(succeeded), strings.Count(logs.String(), "archived message log records"),
		strings.Count(logs.String(), "completed an archive interrupted"), rep.Verified, rep.Records)
	if len(succeeded) == 0 {
		t.Fatalf("no exchange succeeded:\n%s", logs.String())
	}
}
