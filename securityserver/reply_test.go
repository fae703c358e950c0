package securityserver

import (
	"net/http"
	"reflect"
	"testing"
)

// TestSetHeaders: setHeaders leaves a header as Header.Set does, and a
// later Add to one field leaves the others as they were.
func TestSetHeaders(t *testing.T) {
	got, want := http.Header{"Soapaction": {"old"}, "Accept": {"*/*"}}, http.Header{"Soapaction": {"old"}, "Accept": {"*/*"}}
	kv := []string{"content-type", "text/xml; charset=UTF-8", "SOAPAction", `"getPersonByFin"`, "X-Road-Request-Id", "ƏMDK-1"}
	setHeaders(got, kv...)
	for i := 0; i < len(kv); i += 2 {
		want.Set(kv[i], kv[i+1])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("setHeaders: %v, Header.Set: %v", got, want)
	}
	got.Add("Content-Type", "second")
	if got.Get("Soapaction") != `"getPersonByFin"` || len(got.Values("Content-Type")) != 2 {
		t.Fatalf("after Add: %v", got)
	}
}
