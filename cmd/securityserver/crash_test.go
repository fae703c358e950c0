package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// TestCrashLosesNoAnsweredMessage runs ƏMDK's security server as its own
// process, kills it (SIGKILL) in the middle of concurrent exchanges, and
// requires every exchange its IS saw succeed to be in the message log, with
// the log's chain intact; the restarted server then goes on logging.
func TestCrashLosesNoAnsweredMessage(t *testing.T) {
	dir := t.TempDir()
	_, emdk := startWithEMDKOutside(t, dir)
	crashMidExchanges(t, emdk, emdk)
}

// TestCrashLosesNoAnsweredMessageServiceSide is the same with the provider's
// security server (DİN's) killed: its service proxy appends the request's
// record while the provider IS works, and no answer it released may lack
// either record in its log.
func TestCrashLosesNoAnsweredMessageServiceSide(t *testing.T) {
	f, err := localfed.Start(localfed.Options{Dir: t.TempDir(), AnyPorts: true, External: []string{"DIN"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	crashMidExchanges(t, f.Agency("EMDK"), f.Agency("DIN"))
}

// crashMidExchanges sends ƏMDK's request to DİN through client's client
// proxy from 8 IS at once, kills killed's security server (a process of
// its own) with SIGKILL, and checks killed's message log.
func crashMidExchanges(t *testing.T, client, killed *localfed.Agency) {
	bin := testtool.Build(t, ".")
	proc := testtool.Start(t, "security server serving", bin, "serve", "--config", killed.ConfigFile)

	member, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
	service, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	var (
		mu        sync.Mutex
		succeeded []string
		n         int
	)
	send := func(hc *http.Client, id string) bool {
		body := localfed.RequestXML(member, service, id, "AZEMDK0001", "<fin>5ZJ8K2L</fin>")
		resp, err := hc.Post(client.ClientURL, "text/xml; charset=UTF-8", bytes.NewReader(body))
		if err != nil {
			return false
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Success as the IS sees it: a complete answer carrying requestHash, no fault.
		return err == nil && bytes.Contains(data, []byte("requestHash")) && !bytes.Contains(data, []byte("Fault>"))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("crash-%d-%d", w, i)
				ok := send(hc, id)
				mu.Lock()
				n++
				if ok {
					succeeded = append(succeeded, id)
				}
				mu.Unlock()
			}
		}()
	}
	// Let exchanges flow, then kill the server while they are in flight.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		done := len(succeeded)
		mu.Unlock()
		if done >= 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	proc.Kill(t)
	close(stop)
	wg.Wait()
	if len(succeeded) == 0 {
		t.Fatalf("no exchange succeeded before the kill:\n%s", proc.Log())
	}

	logPath := filepath.Join(killed.Config.DataDir, securityserver.FileMessageLog)
	res, err := messagelog.CheckFile(logPath)
	if err != nil || !res.OK() {
		t.Fatalf("log after SIGKILL: %+v %v", res, err)
	}
	logged := map[string]int{}
	db, err := messagelog.Open(logPath, messagelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Each(0, func(r *messagelog.Record, _ []byte) error { logged[r.MessageID]++; return nil })
	db.Close()
	for _, id := range succeeded {
		if logged[id] != 2 {
			t.Errorf("exchange %s was answered as a success but has %d of its 2 records in the log", id, logged[id])
		}
	}
	t.Logf("%d exchanges attempted, %d succeeded before SIGKILL, %d records logged", n, len(succeeded), res.Records)

	// The restarted server continues the same chain.
	proc = testtool.Start(t, "security server serving", bin, "serve", "--config", killed.ConfigFile)
	if !send(&http.Client{Timeout: 10 * time.Second}, "after-restart") {
		t.Fatalf("exchange after restart failed:\n%s", proc.Log())
	}
	proc.Stop(t)
	res2, err := messagelog.CheckFile(logPath)
	if err != nil || !res2.OK() || res2.Records != res.Records+2 {
		t.Fatalf("log after restart: %+v %v (had %d records)", res2, err, res.Records)
	}
}

// startWithEMDKOutside starts a local federation in dir whose ƏMDK security
// server the test runs as a process of its own (Agency.External).
func startWithEMDKOutside(t *testing.T, dir string) (*localfed.Federation, *localfed.Agency) {
	t.Helper()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true, External: []string{"EMDK"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, f.Agency("EMDK")
}
