package securityserver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
)

// failoverPeer is a provider server for the failover tests: a real HTTP
// server on a real socket that counts the requests it read.
type failoverPeer struct {
	srv  *httptest.Server
	got  atomic.Int32
	addr globalconf.ServerAddress
}

func newFailoverPeer(t *testing.T, code string, handler func(w http.ResponseWriter, r *http.Request)) *failoverPeer {
	p := &failoverPeer{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		p.got.Add(1)
		handler(w, r)
	}))
	t.Cleanup(p.srv.Close)
	p.addr = globalconf.ServerAddress{ID: dinServer(code), Address: p.srv.Listener.Addr().String()}
	return p
}

func dinServer(code string) identifier.ServerID {
	return identifier.ServerID{Owner: identifier.Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "DIN"}, ServerCode: code}
}

// deadAddress is an address where nothing listens any more.
func deadAddress(t *testing.T, code string) globalconf.ServerAddress {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return globalconf.ServerAddress{ID: dinServer(code), Address: addr}
}

// send posts a request the way the client proxy's post does: traced, so
// that a failure before any connection wraps errNotSent.
func send(srv globalconf.ServerAddress) (*http.Response, error) {
	ctx, notSent := traceConnection(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+srv.HostPort()+"/", strings.NewReader("<signed request/>"))
	if err != nil {
		return nil, notSent(err)
	}
	c := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	return resp, notSent(err)
}

// TestFailoverPastDeadServer: the first server listed is down (connection
// refused); the request reaches the second, once, and the dead one is
// then tried last.
func TestFailoverPastDeadServer(t *testing.T) {
	var f failover
	dead := deadAddress(t, "ss1")
	live := newFailoverPeer(t, "ss2", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "answer") })
	resp, srv, err := f.tryInTurn([]globalconf.ServerAddress{dead, live.addr}, send)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if srv != live.addr || live.got.Load() != 1 {
		t.Fatalf("answered by %s, the live server read %d requests; want %s, 1", srv.ID, live.got.Load(), live.addr.ID)
	}
	if got := f.order([]globalconf.ServerAddress{dead, live.addr}, time.Now()); got[0] != live.addr {
		t.Errorf("after its failure the dead server is still tried first: %v", got)
	}
	if got := f.order([]globalconf.ServerAddress{dead, live.addr}, time.Now().Add(failoverPenalty)); got[0] != dead {
		t.Errorf("after the penalty the configuration's order is not restored: %v", got)
	}
}

// TestNoResendAfterConnection: a server that read the request and then
// dropped the connection may have passed it to its provider: the client
// proxy reports the failure and never sends the request to the next
// server.
func TestNoResendAfterConnection(t *testing.T) {
	var f failover
	dropper := newFailoverPeer(t, "ss1", func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	next := newFailoverPeer(t, "ss2", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "answer") })
	_, _, err := f.tryInTurn([]globalconf.ServerAddress{dropper.addr, next.addr}, send)
	if err == nil || errors.Is(err, errNotSent) {
		t.Fatalf("error %v; want the dropped connection's, not marked as unsent", err)
	}
	if dropper.got.Load() != 1 || next.got.Load() != 0 {
		t.Fatalf("the first server read %d requests, the next %d; want 1 and 0 (no re-send)", dropper.got.Load(), next.got.Load())
	}
	if !strings.Contains(err.Error(), dropper.addr.ID.String()) {
		t.Errorf("error %q does not name the server", err)
	}
}

// TestFailoverAllDown: every server down: one error names each.
func TestFailoverAllDown(t *testing.T) {
	var f failover
	a, b := deadAddress(t, "ss1"), deadAddress(t, "ss2")
	_, _, err := f.tryInTurn([]globalconf.ServerAddress{a, b}, send)
	if err == nil || !strings.Contains(err.Error(), a.HostPort()) || !strings.Contains(err.Error(), b.HostPort()) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error %v; want both addresses refused", err)
	}
}
