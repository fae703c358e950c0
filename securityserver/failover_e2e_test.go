package securityserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
	"github.com/sluz/sluz/securityserver/message"
)

// TestE2EFailover: DİN registers a second security server, ss0, hosting
// its population subsystem; ƏMDK's client proxy tries it first (servers
// are tried in identifier order) and then DİN's ss1.
//
//   - ss0 completes the TLS handshake with its registered certificate,
//     reads the request and drops the connection: the request may have
//     reached a provider, so ƏMDK's IS gets NetworkError and the request
//     is not sent to ss1 (DİN's IS is not called).
//   - ss0 accepts connections and closes them before the handshake: the
//     request cannot have been sent, so ss1 answers it.
//   - ss0 is then tried last: the next request goes to ss1 alone.
func TestE2EFailover(t *testing.T) {
	e := e2eNew(t)
	ss0, _ := identifier.ParseServer("AZ/GOV/DIN/ss0")
	population, _ := identifier.ParseClient(e2eDINClient)
	dir := t.TempDir()
	req := pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: "AZ/GOV/DIN", DNSNames: []string{"ss0.din.gov.az"}}
	if _, _, err := e.f.CA.IssueToFiles(req, filepath.Join(dir, "auth.pem"), filepath.Join(dir, "auth.key"), false); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "auth.pem"), filepath.Join(dir, "auth.key"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// ss0: in mode "read", a TLS server that reads one request and drops
	// the connection; in mode "refuse", a socket that closes at once.
	var mode atomic.Value
	mode.Store("read")
	var accepted, requests atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			if mode.Load() == "refuse" {
				c.Close()
				continue
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS13})
				r, err := http.ReadRequest(bufio.NewReader(tc))
				if err != nil {
					return
				}
				io.Copy(io.Discard, r.Body)
				requests.Add(1)
			}()
		}
	}()
	register, _ := adminapi.NewBatchRequest("din-ss0", []store.Change{
		store.AddServer{ID: ss0, Address: ln.Addr().String(), AuthCert: string(pkiutil.EncodeCertificates(cert.Leaf))},
		store.ApproveServer{ID: ss0},
		store.AddServerClient{Server: ss0, Client: population},
	})
	if err := e.f.Operator.Do(context.Background(), http.MethodPost, "/api/v1/batch", register, nil); err != nil {
		t.Fatal(err)
	}
	// ƏMDK's server fetches the new configuration when it starts.
	if err := e.f.RestartAgency("EMDK", nil); err != nil {
		t.Fatal(err)
	}
	var sent []byte
	call := func() e2eReply {
		sent = e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
		return e.call(t, "EMDK", sent)
	}

	// Until ƏMDK's server has the configuration listing ss0, ss1 answers.
	answered := e.calls["DIN"].Load()
	deadline := time.Now().Add(10 * time.Second)
	var r e2eReply
	for requests.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("ƏMDK's server never sent a request to DİN's ss0")
		}
		r = call()
		if requests.Load() == 0 {
			answered++
		}
		time.Sleep(20 * time.Millisecond)
	}
	f := e2eWantFault(t, r, message.Code(message.ClientProxy, message.NetworkError))
	e2eContains(t, f, "AZ/GOV/DIN/ss0")
	e.expectCalls(t, "DIN", answered) // the dropped request was not sent to ss1

	mode.Store("refuse")
	before := accepted.Load()
	r = call()
	e2eWantAnswer(t, r, sent)
	if accepted.Load() != before+1 {
		t.Fatalf("ss0 got %d connections, want 1 before the failover to ss1", accepted.Load()-before)
	}
	e.expectCalls(t, "DIN", answered+1)
	r = call()
	e2eWantAnswer(t, r, sent)
	if accepted.Load() != before+1 {
		t.Fatal("ss0, unreachable a moment ago, was tried first again")
	}
	e.expectCalls(t, "DIN", answered+2)
	t.Logf("ss0 read %d request(s), accepted %d connections; %s", requests.Load(), accepted.Load(), f.String)
}
