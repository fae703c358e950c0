package securityserver_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// appendScript steers DİN's message log appends for the exchanges a test
// names: the request's append waits until the provider IS has been called
// (so the call overlaps it), then until the response's append has started
// or for a second (a proxy that waits for the request's record before
// appending the response's), then succeeds or fails; every step is noted
// in order.
type appendScript struct {
	mu        sync.Mutex
	events    []string
	failReq   map[string]bool          // message id: the request's append fails
	respStart map[string]chan struct{} // message id: closed when the response's append started
	calls     map[string]func() bool   // message id: whether the provider IS has been called
	strict    bool                     // the request's append waits for nothing
}

func (a *appendScript) note(ev string) {
	a.mu.Lock()
	a.events = append(a.events, ev)
	a.mu.Unlock()
}

// seen is the events so far.
func (a *appendScript) seen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

// watch steers the appends of exchange id, whose provider IS counts its
// calls in calls.
func (a *appendScript) watch(id string, fail bool, calls *atomic.Int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	before := calls.Load()
	a.failReq[id], a.respStart[id] = fail, make(chan struct{})
	a.calls[id] = func() bool { return calls.Load() > before }
	a.events = nil
}

func (a *appendScript) hook(_ context.Context, recs []*messagelog.Record, next func() error) error {
	a.mu.Lock()
	r := recs[0]
	started, watched := a.respStart[r.MessageID]
	fail, strict, called := a.failReq[r.MessageID], a.strict, a.calls[r.MessageID]
	a.mu.Unlock()
	if !watched || len(recs) != 1 {
		return next()
	}
	if r.Kind == messagelog.Response {
		a.note("response append started")
		close(started)
		err := next()
		a.note("response durable")
		return err
	}
	a.note("request append started")
	if !strict {
		for deadline := time.Now().Add(20 * time.Second); !called(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				a.note("request append gave up waiting for the provider")
				break
			}
		}
		a.note("provider called")
		select {
		case <-started:
		case <-time.After(time.Second):
		}
	}
	if fail {
		a.note("request append failed")
		return errors.New("the disk went away")
	}
	err := next()
	a.note("request durable")
	return err
}

// TestAnswerWaitsForBothRecords: the service proxy appends the request's
// record while the provider works, appends the response's only once the
// request's is durable, and releases nothing before both are. Asserted by
// the order of events: the request's append is held until the provider has
// been called, and is then given a second in which a response's append
// would show; when it then fails, the response is not logged and the
// client gets LoggingFailed, never the answer (the provider, though, has
// seen the request: the documented price of the overlap, which
// logRequestFirst avoids). SOAP through DİN, REST through ƏMDK.
func TestAnswerWaitsForBothRecords(t *testing.T) {
	e := e2eNew(t)
	script := &appendScript{failReq: map[string]bool{}, respStart: map[string]chan struct{}{}, calls: map[string]func() bool{}}
	if err := e.f.RestartAgency("DIN", nil, securityserver.WithAppendHook(script.hook)); err != nil {
		t.Fatal(err)
	}
	logged := func(code, id string) (kinds []messagelog.Kind) {
		err := e.agency(code).Server.MessageLog().Each(0, func(r *messagelog.Record, _ []byte) error {
			if r.MessageID == id {
				kinds = append(kinds, r.Kind)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return kinds
	}
	calls := e.calls["DIN"].Load()

	t.Run("slow request append", func(t *testing.T) {
		id := e.newID(t)
		script.watch(id, false, e.calls["DIN"])
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
		e2eWantAnswer(t, e.call(t, "EMDK", req), req)
		script.note("answer")
		want := []string{"request append started", "provider called", "request durable", "response append started", "response durable", "answer"}
		if !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		calls++
		e.expectCalls(t, "DIN", calls)
		if got := logged("DIN", id); !slices.Equal(got, []messagelog.Kind{messagelog.Request, messagelog.Response}) {
			t.Fatalf("DİN's log holds %v for the exchange, want its request, then its response", got)
		}
	})

	t.Run("request append fails after the provider call", func(t *testing.T) {
		id := e.newID(t)
		script.watch(id, true, e.calls["DIN"])
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
		f := e2eWantFault(t, e.call(t, "EMDK", req), message.Code(message.ServerProxy, message.LoggingFailed))
		e2eContains(t, f, "could not be logged")
		want := []string{"request append started", "provider called", "request append failed"}
		if !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		calls++
		e.expectCalls(t, "DIN", calls) // the provider saw it: the price of the overlap
		if got := logged("DIN", id); len(got) != 0 {
			t.Fatalf("DİN's log holds %v for the exchange, whose request append failed, want nothing", got)
		}
	})

	t.Run("REST: request append fails after the provider call", func(t *testing.T) {
		if err := e.f.RestartAgency("EMDK", nil, securityserver.WithAppendHook(script.hook)); err != nil {
			t.Fatal(err)
		}
		emdkCalls := e.calls["EMDK"].Load()
		id := e.newID(t)
		script.watch(id, true, e.calls["EMDK"])
		r := e2eRESTCall(t, e.agency("DIN").ClientURL, http.MethodGet, e2eRESTService+"/extract/5ZJ8K2L",
			http.Header{"X-Road-Client": {e2eDINClient}, "X-Road-Id": {id}}, nil)
		e2eWantRESTError(t, r, http.StatusInternalServerError, message.Code(message.ServerProxy, message.LoggingFailed))
		if want := []string{"request append started", "provider called", "request append failed"}; !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		if got := e.calls["EMDK"].Load(); got != emdkCalls+1 {
			t.Errorf("ƏMDK's REST provider was called %d times, want once", got-emdkCalls)
		}
		if got := logged("EMDK", id); len(got) != 0 {
			t.Fatalf("ƏMDK's log holds %v for the exchange, whose request append failed, want nothing", got)
		}
	})

	t.Run("logRequestFirst", func(t *testing.T) {
		strict := func(c *config.Config) {
			for i := range c.Services {
				c.Services[i].LogRequestFirst = true
			}
		}
		if err := e.f.RestartAgency("DIN", strict, securityserver.WithAppendHook(script.hook)); err != nil {
			t.Fatal(err)
		}
		script.mu.Lock()
		script.strict = true
		script.mu.Unlock()
		id := e.newID(t)
		script.watch(id, true, e.calls["DIN"])
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
		e2eWantFault(t, e.call(t, "EMDK", req), message.Code(message.ServerProxy, message.LoggingFailed))
		if want := []string{"request append started", "request append failed"}; !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		e.expectCalls(t, "DIN", calls) // the provider never saw it

		// With its record durable, the strict order answers as usual.
		id = e.newID(t)
		script.watch(id, false, e.calls["DIN"])
		req = e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
		e2eWantAnswer(t, e.call(t, "EMDK", req), req)
		if want := []string{"request append started", "request durable", "response append started", "response durable"}; !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		e.expectCalls(t, "DIN", calls+1)
	})
}
