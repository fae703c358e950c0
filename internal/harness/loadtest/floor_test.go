package loadtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// The floor pair is only a fair ceiling if it does the work it claims:
// every exchange through it leaves the signed request and response in both
// sides' message logs, and each answer is the provider's.
func TestFloorPairLogsEveryMessage(t *testing.T) {
	b := bench(t)
	cl, sl := b.Floor.MessageLogs()
	if cl == nil || sl == nil {
		t.Fatal("the floor pair has no message logs")
	}
	if c, s := b.Crypto.MessageLogs(); c != nil || s != nil {
		t.Fatal("the crypto pair keeps message logs")
	}
	c0, _ := cl.Head()
	s0, _ := sl.Head()
	const n = 20
	for range n {
		if err := Probe(context.Background(), b.FloorT, b.FIN); err != nil {
			t.Fatal(err)
		}
	}
	c1, _ := cl.Head()
	s1, _ := sl.Head()
	if c1-c0 != 2*n || s1-s0 != 2*n {
		t.Fatalf("after %d exchanges the client side logged %d records and the server side %d; want %d each", n, c1-c0, s1-s0, 2*n)
	}
	var sides []messagelog.Kind
	err := cl.Each(c1-1, func(r *messagelog.Record, _ []byte) error {
		if r.Side != messagelog.ClientSide || len(r.Message) == 0 || len(r.Signature) == 0 {
			t.Errorf("record %d: side %c, %d message bytes, %d signature bytes", r.Seq, r.Side, len(r.Message), len(r.Signature))
		}
		sides = append(sides, r.Kind)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sides) != 2 || sides[0] != messagelog.Request || sides[1] != messagelog.Response {
		t.Fatalf("the client side's last exchange was logged as %q; want a request then a response", sides)
	}
}

// The floor pair's server side refuses a request whose signature does not
// match its body, and passes one that does.
func TestFloorServerSideVerifies(t *testing.T) {
	f := &floor{}
	var err error
	if f.clientKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	forwarded := 0
	h := f.serverIn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { forwarded++ }))
	body := []byte("<Envelope>FİN 5ZJ8K2L</Envelope>")
	_, sig, err := sign(f.clientKey, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		sig  string
		want int
	}{
		{"signed", body, base64.StdEncoding.EncodeToString(sig), http.StatusOK},
		{"tampered body", bytes.Replace(body, []byte("5ZJ"), []byte("6ZJ"), 1), base64.StdEncoding.EncodeToString(sig), http.StatusForbidden},
		{"no signature", body, "", http.StatusForbidden},
	} {
		before := forwarded
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(tc.body))
		req.Header.Set(headerFloorSig, tc.sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want || (forwarded > before) != (tc.want == http.StatusOK) {
			t.Errorf("%s: status %d, forwarded %v; want %d", tc.name, rec.Code, forwarded > before, tc.want)
		}
	}
}
