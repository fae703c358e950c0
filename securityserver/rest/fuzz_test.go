package rest

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sluz/sluz/securityserver/message"
)

// FuzzNewRequest checks the IS-side parser: it never panics, every refusal
// is a *message.Fault with a Client.* code, and an accepted request's header
// part parses back (ParseRequestPart) to the same bytes and identifiers.
func FuzzNewRequest(f *testing.F) {
	f.Add("GET", svcPath+"/x?y=1", "AZ/GOV/DIN/population", "X-Road-Id", "42")
	f.Add("POST", "/r1/AZ/GOV/EMD%4B/registry/extract/", "AZ/GOV/DIN", "X-Road-Represented-Party", "GOV/DSMF")
	f.Add("PUT", "http://h/r1/a/b/c/d/e?", "a/b/c/d", "X-Road-Security-Server", "a/b/c/d")
	f.Add("GET", "/r2/%zz", "", "Host", "x")
	f.Fuzz(func(t *testing.T, method, target, client, name, value string) {
		fields := []Field{{"X-Road-Client", client}, {name, value}}
		r, err := NewRequest(method, target, fields, "rid", "AZ")
		if err != nil {
			var fl *message.Fault
			if !errors.As(err, &fl) || !strings.HasPrefix(fl.Code, "Client.") {
				t.Fatalf("refusal %v is not a Client.* fault", err)
			}
			return
		}
		part := r.HeaderPart()
		p, err := ParseRequestPart(part)
		if err != nil {
			t.Fatalf("own part %q refused: %v", part, err)
		}
		if !bytes.Equal(p.HeaderPart(), part) || p.Client != r.Client || p.Service != r.Service ||
			p.ServicePath != r.ServicePath || p.ID != r.ID || p.RequestID != "rid" {
			t.Fatalf("round trip of %q: %+v vs %+v", part, p, r)
		}
	})
}

// FuzzParsePart checks the receiving side: header parts of either kind
// never panic, and whatever parses serialises back to exactly the input
// bytes (so hashing the received bytes equals hashing X-Road's
// re-serialisation).
func FuzzParsePart(f *testing.F) {
	f.Add([]byte("GET\r\n" + svcPath + "?q\r\nX-Road-Client:AZ/GOV/DIN\r\nx-road-request-id:1\r\n"))
	f.Add([]byte("200\r\nOK\r\nx-road-id:1\r\nx-road-client:AZ/GOV/DIN\r\nx-road-service:AZ/GOV/EMDK/r/s\r\nx-road-request-hash:AA==\r\n"))
	f.Add([]byte("404\r\n\r\nA::\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseRequestPart(b); err == nil && !bytes.Equal(r.HeaderPart(), b) {
			t.Fatalf("request %q re-serialises as %q", b, r.HeaderPart())
		}
		if r, err := ParseResponsePart(b); err == nil && !bytes.Equal(r.HeaderPart(), b) {
			t.Fatalf("response %q re-serialises as %q", b, r.HeaderPart())
		}
	})
}
