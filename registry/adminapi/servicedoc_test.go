package adminapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
)

// TestServiceDocs: the operator sets ƏMDK's OpenAPI description and DİN's
// WSDL (the shipped samples), reads them back byte for byte, and the audit
// trail records their digests; malformed or mismatched documents are
// refused with a clear message and change nothing; removing one works.
func TestServiceDocs(t *testing.T) {
	e := newEnv(t)
	opCert, opKey := e.issue(t, e.ca, "operator", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "op"})
	cl := e.client(t, opCert, opKey)
	ctx := context.Background()
	rest, err := identifier.ParseService("AZ/GOV/EMDK/realestate/realEstateRegistry")
	if err != nil {
		t.Fatal(err)
	}
	soap, err := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	if err != nil {
		t.Fatal(err)
	}
	setup, _ := NewBatchRequest("setup", []store.Change{
		store.AddMember{ID: mustMember(t, "AZ/GOV/EMDK"), Name: "Əmlak Məsələləri Dövlət Komitəsi"},
		store.AddSubsystem{ID: rest.Provider},
		store.AddService{ID: rest, Description: "Daşınmaz əmlak reyestri (REST)"},
		store.AddMember{ID: mustMember(t, "AZ/GOV/DIN"), Name: "Daxili İşlər Nazirliyi"},
		store.AddSubsystem{ID: soap.Provider},
		store.AddService{ID: soap, Description: "Şəxsin FİN kodu üzrə məlumatı"},
	})
	if err := cl.Do(ctx, http.MethodPost, "/api/v1/batch", setup, nil); err != nil {
		t.Fatal(err)
	}
	openapi, err := os.ReadFile("../../configs/openapi/emdk-realestate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wsdl, err := os.ReadFile("../../configs/wsdl/din-population.wsdl")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		id      identifier.ServiceID
		typ     string
		content []byte
	}{{rest, store.DocOpenAPI, openapi}, {soap, store.DocWSDL, wsdl}} {
		if err := cl.Do(ctx, http.MethodPut, "/api/v1/services/doc", store.SetServiceDoc{ID: d.id, Type: d.typ, Content: string(d.content)}, nil); err != nil {
			t.Fatalf("set %s: %v", d.typ, err)
		}
		var got store.ServiceDoc
		if err := cl.Do(ctx, http.MethodGet, "/api/v1/services/doc/"+d.id.String(), nil, &got); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(d.content)
		if got.Type != d.typ || got.Content != string(d.content) || got.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s read back: type %q, %d bytes, sha256 %s", d.id, got.Type, len(got.Content), got.SHA256)
		}
		audit, _ := e.st.Audit(1)
		var rec map[string]any
		json.Unmarshal(audit[0].Change, &rec)
		if audit[0].Action != "service.doc.set" || rec["sha256"] != hex.EncodeToString(sum[:]) || rec["bytes"] != float64(len(d.content)) || rec["content"] != nil || !strings.HasPrefix(audit[0].Actor, "op (serial ") {
			t.Errorf("audit entry: %s by %s: %s", audit[0].Action, audit[0].Actor, audit[0].Change)
		}
	}

	before, _ := json.Marshal(e.st.State())
	published := e.published
	swagger := strings.Replace(string(openapi), "openapi: 3.0.3", `swagger: "2.0"`, 1)
	cases := []struct {
		name   string
		change store.SetServiceDoc
		status int
		msg    string
	}{
		{"XML cut short", store.SetServiceDoc{ID: soap, Type: "wsdl", Content: string(wsdl[:len(wsdl)/2])}, 400, "not well-formed XML"},
		{"XML that is no WSDL", store.SetServiceDoc{ID: soap, Type: "wsdl", Content: `<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>`}, 400, "not a WSDL definitions element"},
		{"DOCTYPE", store.SetServiceDoc{ID: soap, Type: "wsdl", Content: `<!DOCTYPE x [<!ENTITY a "b">]><definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>`}, 400, "DOCTYPE"},
		{"Swagger 2", store.SetServiceDoc{ID: rest, Type: "openapi", Content: swagger}, 400, "no openapi: 3.x field"},
		{"not YAML", store.SetServiceDoc{ID: rest, Type: "openapi", Content: "openapi: 3.0.3\ninfo: [unclosed\n"}, 400, "not valid YAML or JSON"},
		{"WSDL sent as OpenAPI", store.SetServiceDoc{ID: rest, Type: "openapi", Content: string(wsdl)}, 400, "OpenAPI"},
		{"unknown type", store.SetServiceDoc{ID: rest, Type: "raml", Content: string(openapi)}, 400, `"raml" is not`},
		{"empty", store.SetServiceDoc{ID: rest, Type: "openapi"}, 400, "empty"},
		{"too big", store.SetServiceDoc{ID: rest, Type: "openapi", Content: string(openapi) + "\nx-pad: " + strings.Repeat("a", store.MaxServiceDoc)}, 400, "over the 524288-byte limit"},
		{"no such service", store.SetServiceDoc{ID: identifier.ServiceID{Provider: rest.Provider, ServiceCode: "nope"}, Type: "openapi", Content: string(openapi)}, 404, "does not exist"},
	}
	for _, tc := range cases {
		err := cl.Do(ctx, http.MethodPut, "/api/v1/services/doc", tc.change, nil)
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Message, tc.msg) {
			t.Errorf("%s: %v, want HTTP %d mentioning %q", tc.name, err, tc.status, tc.msg)
		}
	}
	// JSON is YAML: an OpenAPI document in JSON is accepted.
	asJSON := `{"openapi": "3.1.0", "info": {"title": "ƏMDK", "version": "1"}, "paths": {}}`
	if after, _ := json.Marshal(e.st.State()); !bytes.Equal(before, after) || e.published != published {
		t.Fatal("refused documents changed the registry")
	}
	if err := cl.Do(ctx, http.MethodPut, "/api/v1/services/doc", store.SetServiceDoc{ID: rest, Type: "openapi", Content: asJSON}, nil); err != nil {
		t.Errorf("an OpenAPI 3.1 document in JSON: %v", err)
	}

	if err := cl.Do(ctx, http.MethodDelete, "/api/v1/services/doc/"+rest.String(), nil, nil); err != nil {
		t.Fatal(err)
	}
	err = cl.Do(ctx, http.MethodGet, "/api/v1/services/doc/"+rest.String(), nil, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 || !strings.Contains(ae.Message, "has no description document") {
		t.Errorf("after removing it: %v", err)
	}
	if e.st.State().Services[soap.String()].Doc == nil {
		t.Error("removing ƏMDK's document removed DİN's")
	}
}
