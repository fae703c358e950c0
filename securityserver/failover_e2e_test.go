package securityserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
	"github.com/sluz/sluz/securityserver/message"
)

// TestE2EFailover: a provider registers a second security server, ss0,
// hosting its subsystem; the client's proxy tries it first (servers are
// tried in identifier order) and then the provider's ss1. For SOAP, ƏMDK
// calls DİN's getPersonByFin; for REST, DİN calls ƏMDK's extract.
//
//   - ss0 completes the TLS handshake with its registered certificate,
//     reads the request and drops the connection: the request may have
//     reached a provider, so the client's IS gets NetworkError and the
//     request is not sent to ss1 (the provider's IS is not called).
//   - ss0 accepts connections and closes them before the handshake: the
//     request cannot have been sent, so ss1 answers it.
//   - ss0 is then tried last: the next request goes to ss1 alone.
func TestE2EFailover(t *testing.T) {
	t.Run("SOAP", func(t *testing.T) {
		e := e2eNew(t)
		var sent []byte
		e2eFailover(t, e, "AZ/GOV/DIN", e2eDINClient, "EMDK", func() (string, string) {
			sent = e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
			r := e.call(t, "EMDK", sent)
			if f, ok := message.ParseFault(r.body); ok {
				return f.Code, f.String
			}
			e2eWantAnswer(t, r, sent)
			return "", ""
		})
	})
	t.Run("REST", func(t *testing.T) {
		e := e2eNew(t)
		din := e.agency("DIN")
		e2eFailover(t, e, "AZ/GOV/EMDK", "AZ/GOV/EMDK/realestate", "DIN", func() (string, string) {
			r := e2eRESTCall(t, din.ClientURL, http.MethodGet, e2eRESTService+"/extract/5ZJ8K2L", http.Header{"X-Road-Client": {e2eDINClient}}, nil)
			if code := r.header.Get("X-Road-Error"); code != "" {
				return code, e2eWantRESTError(t, r, http.StatusInternalServerError, code)
			}
			if r.status != http.StatusOK || !bytes.Contains(r.body, []byte("5ZJ8K2L")) {
				t.Fatalf("extract: HTTP %d %.500s", r.status, r.body)
			}
			return "", ""
		})
	})
}

// e2eFailover registers ss0 for member hosting provider and runs the steps
// of TestE2EFailover with call, which makes one call from the agency
// client to provider and returns the fault's code and text, or "" for an
// answer.
func e2eFailover(t *testing.T, e *e2eEnv, member, provider, client string, call func() (code, text string)) {
	ss0, _ := identifier.ParseServer(member + "/ss0")
	hosted, _ := identifier.ParseClient(provider)
	providerCode := hosted.MemberCode
	dir := t.TempDir()
	req := pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: member, DNSNames: []string{"ss0." + strings.ToLower(providerCode) + ".gov.az"}}
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
	register, _ := adminapi.NewBatchRequest(strings.ToLower(providerCode)+"-ss0", []store.Change{
		store.AddServer{ID: ss0, Address: ln.Addr().String(), AuthCert: string(pkiutil.EncodeCertificates(cert.Leaf))},
		store.ApproveServer{ID: ss0},
		store.AddServerClient{Server: ss0, Client: hosted},
	})
	if err := e.f.Operator.Do(context.Background(), http.MethodPost, "/api/v1/batch", register, nil); err != nil {
		t.Fatal(err)
	}
	// The client's server fetches the new configuration when it starts.
	if err := e.f.RestartAgency(client, nil); err != nil {
		t.Fatal(err)
	}

	// Until the client's server has the configuration listing ss0, ss1
	// answers.
	answered := e.calls[providerCode].Load()
	deadline := time.Now().Add(10 * time.Second)
	var code, text string
	for requests.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s's server never sent a request to %s", client, ss0)
		}
		code, text = call()
		if requests.Load() == 0 {
			if code != "" {
				t.Fatalf("before ss0 was known: %s %s", code, text)
			}
			answered++
		}
		time.Sleep(20 * time.Millisecond)
	}
	if want := message.Code(message.ClientProxy, message.NetworkError); code != want || !strings.Contains(text, ss0.String()) {
		t.Fatalf("the request ss0 dropped: %q %q, want %s naming %s", code, text, want, ss0)
	}
	e.expectCalls(t, providerCode, answered) // the dropped request was not sent to ss1

	mode.Store("refuse")
	before := accepted.Load()
	if code, text := call(); code != "" {
		t.Fatalf("ss0 refusing connections: %s %s, want ss1's answer", code, text)
	}
	if accepted.Load() != before+1 {
		t.Fatalf("ss0 got %d connections, want 1 before the failover to ss1", accepted.Load()-before)
	}
	e.expectCalls(t, providerCode, answered+1)
	if code, text := call(); code != "" {
		t.Fatalf("ss0 tried last: %s %s, want ss1's answer", code, text)
	}
	if accepted.Load() != before+1 {
		t.Fatal("ss0, unreachable a moment ago, was tried first again")
	}
	e.expectCalls(t, providerCode, answered+2)
	t.Logf("ss0 read %d request(s), accepted %d connections; %s", requests.Load(), accepted.Load(), text)
}
