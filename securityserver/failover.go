package securityserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
)

// Client-side failover (X-Road's): when the global configuration lists
// several security servers hosting the provider (a provider's cluster of
// servers, or a member served by two), the client proxy tries them in
// turn. It moves to the next only when the request cannot have reached the
// one it tried: the TCP connection or the TLS handshake (the peer's
// certificate checked against the configuration) failed. Once a
// connection carried the request, any failure is the answer (a
// NetworkError fault): re-sending could make a provider act twice.
//
// A server whose connection failed is tried last for failoverPenalty, so
// that a dead node costs one connect timeout, not one per request; the
// others keep the configuration's order. A provider's nodes behind one
// address (a load balancer) are one entry here: the balancer fails over
// among them, as /readyz tells it.

// failoverPenalty is how long a server that could not be reached is tried
// after the others.
const failoverPenalty = 30 * time.Second

// failover remembers which provider servers could not be reached lately.
// Its zero value is ready.
type failover struct {
	mu     sync.Mutex
	failed map[string]time.Time // by address: when its connection last failed
}

// order returns servers with those that failed within failoverPenalty
// moved to the end, oldest failure first.
func (f *failover) order(servers []globalconf.ServerAddress, now time.Time) []globalconf.ServerAddress {
	if len(servers) < 2 {
		return servers
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failed) == 0 {
		return servers
	}
	out := slices.Clone(servers)
	since := func(a globalconf.ServerAddress) time.Time {
		if at, ok := f.failed[a.HostPort()]; ok && now.Sub(at) < failoverPenalty {
			return at
		}
		return time.Time{}
	}
	slices.SortStableFunc(out, func(a, b globalconf.ServerAddress) int { return since(a).Compare(since(b)) })
	return out
}

// note records the outcome of one attempt on srv: a connection failure, or
// a connection made.
func (f *failover) note(srv globalconf.ServerAddress, connected bool, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if connected {
		delete(f.failed, srv.HostPort())
		return
	}
	if f.failed == nil {
		f.failed = map[string]time.Time{}
	}
	f.failed[srv.HostPort()] = now
	for addr, at := range f.failed { // bounded by the servers seen failing within the penalty
		if now.Sub(at) >= failoverPenalty {
			delete(f.failed, addr)
		}
	}
}

// errNotSent wraps a failure that happened before any connection could
// carry the request: another server may be tried.
var errNotSent = errors.New("the request was not sent")

// traceConnection returns ctx with a trace that notes whether the HTTP
// client got a connection for the request (after TCP connect and the TLS
// handshake), and a function that wraps a send's error with errNotSent
// when it did not.
func traceConnection(ctx context.Context) (context.Context, func(error) error) {
	var got atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { got.Store(true) }})
	return ctx, func(err error) error {
		if err == nil || got.Load() {
			return err
		}
		return fmt.Errorf("%w: %w", errNotSent, err)
	}
}

// tryInTurn sends through send to each of servers in turn (failover.order)
// until one takes the request, and returns its response and the server.
// It moves on only when send's error wraps errNotSent. All the errors met
// are returned when no server answered.
func (f *failover) tryInTurn(servers []globalconf.ServerAddress, send func(globalconf.ServerAddress) (*http.Response, error)) (*http.Response, globalconf.ServerAddress, error) {
	var errs []error
	for _, srv := range f.order(servers, time.Now()) {
		resp, err := send(srv)
		notSent := errors.Is(err, errNotSent)
		f.note(srv, !notSent, time.Now())
		if err == nil {
			return resp, srv, nil
		}
		errs = append(errs, fmt.Errorf("%s (%s): %w", srv.ID, srv.HostPort(), err))
		if !notSent {
			break // it may have reached the provider: never send it twice
		}
	}
	return nil, globalconf.ServerAddress{}, errors.Join(errs...)
}
