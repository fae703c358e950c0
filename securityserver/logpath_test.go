package securityserver_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// appendScript steers DİN's message log appends for the exchanges a test
// names: the request's append waits until the response's has returned (so
// the provider has been called and the answer signed and logged meanwhile),
// then succeeds or fails; every step is noted in order.
type appendScript struct {
	mu       sync.Mutex
	events   []string
	failReq  map[string]bool          // message id: the request's append fails (after the response's, or at once when strict)
	respDone map[string]chan struct{} // message id: closed when the response's append returned
	strict   bool                     // the request's append does not wait for the response's
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

func (a *appendScript) watch(id string, fail bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failReq[id], a.respDone[id] = fail, make(chan struct{})
	a.events = nil
}

func (a *appendScript) hook(_ context.Context, recs []*messagelog.Record, next func() error) error {
	a.mu.Lock()
	r := recs[0]
	done, watched := a.respDone[r.MessageID]
	fail, strict := a.failReq[r.MessageID], a.strict
	a.mu.Unlock()
	if !watched || len(recs) != 1 {
		return next()
	}
	if r.Kind == messagelog.Response {
		err := next()
		a.note("response durable")
		close(done)
		return err
	}
	a.note("request append started")
	if !strict {
		select {
		case <-done:
		case <-time.After(20 * time.Second): // a proxy that waits for the request's record before going on
			a.note("request append gave up waiting for the response's")
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
// record while the provider works, and releases nothing before both the
// request's and the response's records are durable. Asserted by the order
// of events, not by timing: the request's append is held until the
// response's has returned, and the answer comes only after it; when it then
// fails, the client gets LoggingFailed, never the answer (the provider,
// though, has seen the request: the documented price of the overlap,
// which logRequestFirst avoids). SOAP through DİN, REST through ƏMDK.
func TestAnswerWaitsForBothRecords(t *testing.T) {
	e := e2eNew(t)
	script := &appendScript{failReq: map[string]bool{}, respDone: map[string]chan struct{}{}}
	if err := e.f.RestartAgency("DIN", nil, securityserver.WithAppendHook(script.hook)); err != nil {
		t.Fatal(err)
	}
	dinLogged := func(id string) (kinds []messagelog.Kind) {
		err := e.agency("DIN").Server.MessageLog().Each(0, func(r *messagelog.Record, _ []byte) error {
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
		script.watch(id, false)
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
		e2eWantAnswer(t, e.call(t, "EMDK", req), req)
		script.note("answer")
		want := []string{"request append started", "response durable", "request durable", "answer"}
		if !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		calls++
		e.expectCalls(t, "DIN", calls)
		if got := dinLogged(id); !slices.Equal(got, []messagelog.Kind{messagelog.Response, messagelog.Request}) && !slices.Equal(got, []messagelog.Kind{messagelog.Request, messagelog.Response}) {
			t.Fatalf("DİN's log holds %v for the exchange, want its request and response", got)
		}
	})

	t.Run("request append fails after the provider call", func(t *testing.T) {
		id := e.newID(t)
		script.watch(id, true)
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
		f := e2eWantFault(t, e.call(t, "EMDK", req), message.Code(message.ServerProxy, message.LoggingFailed))
		e2eContains(t, f, "could not be logged")
		want := []string{"request append started", "response durable", "request append failed"}
		if !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		calls++
		e.expectCalls(t, "DIN", calls) // the provider saw it: the price of the overlap
		if got := dinLogged(id); slices.Contains(got, messagelog.Request) {
			t.Fatalf("DİN's log holds %v for the exchange, whose request append failed", got)
		}
	})

	t.Run("REST: request append fails after the provider call", func(t *testing.T) {
		if err := e.f.RestartAgency("EMDK", nil, securityserver.WithAppendHook(script.hook)); err != nil {
			t.Fatal(err)
		}
		emdkCalls := e.calls["EMDK"].Load()
		id := e.newID(t)
		script.watch(id, true)
		r := e2eRESTCall(t, e.agency("DIN").ClientURL, http.MethodGet, e2eRESTService+"/extract/5ZJ8K2L",
			http.Header{"X-Road-Client": {e2eDINClient}, "X-Road-Id": {id}}, nil)
		e2eWantRESTError(t, r, http.StatusInternalServerError, message.Code(message.ServerProxy, message.LoggingFailed))
		if want := []string{"request append started", "response durable", "request append failed"}; !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		if got := e.calls["EMDK"].Load(); got != emdkCalls+1 {
			t.Errorf("ƏMDK's REST provider was called %d times, want once", got-emdkCalls)
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
		script.watch(id, true)
		req := e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
		e2eWantFault(t, e.call(t, "EMDK", req), message.Code(message.ServerProxy, message.LoggingFailed))
		if want := []string{"request append started", "request append failed"}; !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		e.expectCalls(t, "DIN", calls) // the provider never saw it

		// With its record durable, the strict order answers as usual.
		id = e.newID(t)
		script.watch(id, false)
		req = e2eRequest(t, e2eEMDKClient, e2eDINService, id, "<fin>5ZJ8K2L</fin>")
		e2eWantAnswer(t, e.call(t, "EMDK", req), req)
		if want := []string{"request append started", "request durable", "response durable"}; !slices.Equal(script.seen(), want) {
			t.Fatalf("events %q, want %q", script.seen(), want)
		}
		e.expectCalls(t, "DIN", calls+1)
	})
}
