package securityserver_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/store"
	"github.com/sluz/sluz/securityserver/message"
)

// TestProviderLoggingFailureStaysLocal: when the provider's message log
// fails, the client's IS learns that the request was not logged and so not
// answered, in one sentence: no file path and no OS error of the
// provider's machine crosses to another agency.
func TestProviderLoggingFailureStaysLocal(t *testing.T) {
	e := e2eNew(t)
	din := e.agency("DIN")
	din.Server.MessageLog().Close() // as if DİN's disk had gone away
	req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	f := e2eWantFault(t, e.call(t, "EMDK", req), message.Code(message.ServerProxy, message.LoggingFailed))
	if f.String != "the message could not be logged, so it is not answered" {
		t.Errorf("fault string %q: want the one-sentence reason only", f.String)
	}
	for _, leak := range []string{din.Config.DataDir, "/", "messagelog", "closed"} {
		if strings.Contains(f.String, leak) || strings.Contains(f.Detail, leak) {
			t.Errorf("the fault carries %q, a detail of the provider's machine: %q / %q", leak, f.String, f.Detail)
		}
	}
	e.expectCalls(t, "DIN", 0) // not logged, so the provider IS was never called
}

// TestConnectionCutMidAnswer: when the connection to the provider's
// security server breaks while its answer is being read, the IS gets
// NetworkError (the network failed), not InvalidMessage (the answer is
// fine as far as it came).
func TestConnectionCutMidAnswer(t *testing.T) {
	e := e2eNew(t)
	din := e.agency("DIN")
	// DİN's IS answers with a large response, so that the cut falls in
	// the middle of its body, well after the HTTP headers.
	padded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Post(e.f.ISURL+r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		end := bytes.LastIndex(body, []byte("</"))
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.Write(body[:end])
		w.Write(bytes.Repeat([]byte(" "), 512<<10)) // white space between elements: still a valid message
		w.Write(body[end:])
	}))
	t.Cleanup(padded.Close)
	for i := range din.Config.Services {
		din.Config.Services[i].URL = padded.URL + "/din"
	}
	// Between the two servers: a relay that passes the request, then cuts
	// the connection after 64 KiB of the answer.
	dinAddr := e.f.Registry.Store().State().Servers[din.Config.Server.String()]
	if dinAddr == nil {
		t.Fatal("DİN's server is not registered")
	}
	relay, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { relay.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := relay.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", dinAddr.Address)
			if err != nil {
				in.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.CopyN(in, out, 64<<10); in.Close(); out.Close() }()
		}
	}()
	move, _ := adminapi.NewBatchRequest("din-behind-a-cutting-relay", []store.Change{store.SetServerAddress{ID: din.Config.Server, Address: relay.Addr().String()}})
	if err := e.f.Operator.Do(context.Background(), http.MethodPost, "/api/v1/batch", move, nil); err != nil {
		t.Fatal(err)
	}
	addr := startExtraServer(t, e, nil, nil) // an ƏMDK server that starts from the new configuration
	req := e2eRequest(t, e2eEMDKClient, e2eDINService, e.newID(t), "<fin>5ZJ8K2L</fin>")
	f := e2eWantFault(t, e2eDo(t, http.MethodPost, "http://"+addr+"/", "text/xml; charset=UTF-8", req), message.Code(message.ClientProxy, message.NetworkError))
	e2eContains(t, f, "broke while its answer was read")
}
