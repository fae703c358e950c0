package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/messagelog"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := program.Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// federationLogs runs the sample queries through a local federation, waits
// until both ends' logs are time-stamped, stops it and returns ƏMDK's and
// DİN's log paths and the CA files.
func federationLogs(t *testing.T) (emdkLog, dinLog string, cas []string) {
	return federationLogsAfter(t, nil)
}

// federationLogsAfter is federationLogs with more exchanges: more runs
// after the sample queries, before the logs are time-stamped.
func federationLogsAfter(t *testing.T, more func(f *localfed.Federation)) (emdkLog, dinLog string, cas []string) {
	t.Helper()
	dir := t.TempDir()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, q := range localfed.Queries {
		if r := f.RunQuery(ctx, q); !r.OK {
			t.Fatalf("%s: %s", q.Name, r.Outcome)
		}
	}
	if more != nil {
		more(f)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, code := range []string{"EMDK", "DIN"} {
		for _, a := range f.Agencies {
			if a.Code != code {
				continue
			}
			for {
				res, err := a.Server.MessageLog().Check()
				if err == nil && res.Records > 0 && res.Stamped == res.LastSeq {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s log not time-stamped in time: %+v %v", code, res, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	f.Close()
	pki := filepath.Join(dir, "pki")
	return filepath.Join(dir, "EMDK", "ss", securityserver.FileMessageLog), filepath.Join(dir, "DIN", "ss", securityserver.FileMessageLog),
		[]string{"--ca", filepath.Join(pki, "root-ca.pem"), "--ca", filepath.Join(pki, "ca.pem")}
}

func TestVerifyAndTampering(t *testing.T) {
	emdkLog, dinLog, cas := federationLogs(t)
	for _, p := range []string{emdkLog, dinLog} {
		code, out, errOut := runCLI(append([]string{"verify", "--log", p}, cas...)...)
		if code != cli.ExitOK || !strings.Contains(out, "OK") || !strings.Contains(out, "0 records not yet time-stamped") {
			t.Fatalf("verify %s: exit %d\n%s%s", p, code, out, errOut)
		}
	}
	code, out, _ := runCLI("replay", "--log", emdkLog)
	if code != cli.ExitOK || !strings.Contains(out, "AZ/GOV/DIN/population/getPersonByFin/v1") {
		t.Fatalf("replay:\n%s", out)
	}

	// Flip one byte of a logged message: that record is named.
	edit(t, dinLog, func(tx *bolt.Tx) {
		b := tx.Bucket([]byte("records"))
		k, v := b.Cursor().First()
		v = append([]byte(nil), v...)
		i := bytes.Index(v, []byte("5ZJ8K2L"))
		v[i] = '9'
		b.Put(k, v)
	})
	code, out, _ = runCLI(append([]string{"verify", "--log", dinLog}, cas...)...)
	if code != cli.ExitError || !strings.Contains(out, "FAIL record 1") || !strings.Contains(out, "does not match its digest") {
		t.Fatalf("verify after a flipped byte: exit %d\n%s", code, out)
	}

	// Replace the first batch's token (with the last batch's, or damage it
	// when there is only one): detected and named.
	edit(t, emdkLog, func(tx *bolt.Tx) {
		bkt := tx.Bucket([]byte("batches"))
		var bs []*messagelog.Batch
		bkt.ForEach(func(_, v []byte) error {
			var b messagelog.Batch
			json.Unmarshal(v, &b)
			bs = append(bs, &b)
			return nil
		})
		if len(bs) > 1 {
			bs[0].Token = bs[len(bs)-1].Token
		} else {
			bs[0].Token[len(bs[0].Token)-5] ^= 0xff
		}
		v, _ := json.Marshal(bs[0])
		k, _ := bkt.Cursor().First()
		bkt.Put(k, v)
	})
	code, out, _ = runCLI(append([]string{"verify", "--log", emdkLog}, cas...)...)
	if code != cli.ExitError || !strings.Contains(out, "time-stamp batch 1") {
		t.Fatalf("verify after replacing a token: exit %d\n%s", code, out)
	}
}

func edit(t *testing.T, path string, fn func(tx *bolt.Tx)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Update(func(tx *bolt.Tx) error { fn(tx); return nil })
}
