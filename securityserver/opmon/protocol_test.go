package opmon_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/opmon"
)

func request(t *testing.T, crit opmon.SearchCriteria) *message.Message {
	t.Helper()
	caller, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
	server, _ := identifier.ParseServer("AZ/GOV/DIN/ss1")
	q := opmon.Request{Caller: caller, Server: server, ID: "id-1", UserID: "AZ<&>user", SearchCriteria: crit}
	m, err := message.Parse(q.Marshal(), "text/xml; charset=UTF-8", message.ParseOptions{Request: true})
	if err != nil {
		t.Fatalf("the request is not a valid X-Road request: %v", err)
	}
	return m
}

// TestRequestAndAnswer: a request is a valid X-Road request for the
// owner's member-level service; the answer repeats its headers with the
// right requestHash (the client proxy's CheckResponse accepts it) and its
// records read back unchanged.
func TestRequestAndAnswer(t *testing.T) {
	svc, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin")
	req := request(t, opmon.SearchCriteria{From: 100, To: 200, ServiceCode: "getPersonByFin", Service: &svc})
	h := req.Header
	if h.Service.String() != "AZ/GOV/DIN/"+opmon.ServiceCode || h.Service.Provider.IsSubsystem() || h.SecurityServer == nil || h.SecurityServer.String() != "AZ/GOV/DIN/ss1" || h.UserID != "AZ<&>user" {
		t.Fatalf("header %+v", h)
	}
	server, _ := identifier.ParseServer("AZ/GOV/DIN/ss1")
	if !opmon.IsRequest(&h, server) {
		t.Error("IsRequest is false for the owner's service")
	}
	other, _ := identifier.ParseServer("AZ/GOV/EMDK/ss1")
	if opmon.IsRequest(&h, other) {
		t.Error("IsRequest is true for another member's server")
	}
	crit, err := opmon.ParseCriteria(req.SOAP, time.Unix(1000, 0))
	if err != nil || crit.From != 100 || crit.To != 200 || crit.ServiceCode != "getPersonByFin" || crit.Service == nil || *crit.Service != svc {
		t.Fatalf("criteria %+v, %v", crit, err)
	}
	r1, r2 := rec("a", time.Unix(150, 0)), rec("b", time.Unix(160, 0))
	r2.Succeeded, r2.FaultCode, r2.FaultString = false, "Server.ServerProxy.AccessDenied", `not "allowed" <here> & there`
	body, err := opmon.Response(req, opmon.Result{Records: []opmon.Record{*r1, *r2}, Next: 161})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := message.Parse(body, message.ContentTypeXML, message.ParseOptions{})
	if err != nil {
		t.Fatalf("the answer is not a valid X-Road message: %v\n%s", err, body)
	}
	if err := message.CheckResponse(req, resp); err != nil {
		t.Fatalf("the client proxy would refuse the answer: %v", err)
	}
	ans, err := opmon.ParseAnswer(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Records) != 2 || ans.NextRecordsFrom != 161 || ans.Records[0] != *r1 || ans.Records[1] != *r2 {
		t.Errorf("answer %+v, want the two records and nextRecordsFrom 161", ans)
	}
}

// TestParseCriteriaErrors: each bad request is refused with a sentence
// naming the element.
func TestParseCriteriaErrors(t *testing.T) {
	wrap := func(criteria string) []byte {
		return []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:om="http://x-road.eu/xsd/op-monitoring.xsd" xmlns:id="http://x-road.eu/xsd/identifiers"><s:Body><om:getSecurityServerOperationalData>` +
			criteria + `</om:getSecurityServerOperationalData></s:Body></s:Envelope>`)
	}
	tests := []struct {
		name string
		soap []byte
		want string
	}{
		{"no criteria", wrap(""), "searchCriteria is required"},
		{"no recordsFrom", wrap(`<om:searchCriteria><om:recordsTo>5</om:recordsTo></om:searchCriteria>`), "recordsFrom is required"},
		{"no recordsTo", wrap(`<om:searchCriteria><om:recordsFrom>5</om:recordsFrom></om:searchCriteria>`), "recordsTo is required"},
		{"not a number", wrap(`<om:searchCriteria><om:recordsFrom>yesterday</om:recordsFrom><om:recordsTo>5</om:recordsTo></om:searchCriteria>`), `recordsFrom "yesterday" is not a Unix time`},
		{"negative", wrap(`<om:searchCriteria><om:recordsFrom>-5</om:recordsFrom><om:recordsTo>5</om:recordsTo></om:searchCriteria>`), `recordsFrom "-5" is not a Unix time`},
		{"from after to", wrap(`<om:searchCriteria><om:recordsFrom>9</om:recordsFrom><om:recordsTo>5</om:recordsTo></om:searchCriteria>`), "recordsFrom 9 is after recordsTo 5"},
		{"client of the wrong type", wrap(`<om:searchCriteria><om:recordsFrom>1</om:recordsFrom><om:recordsTo>5</om:recordsTo><om:client id:objectType="SERVICE"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DIN</id:memberCode></om:client></om:searchCriteria>`), "searchCriteria/client must be a MEMBER or SUBSYSTEM identifier"},
		{"client with a bad part", wrap(`<om:searchCriteria><om:recordsFrom>1</om:recordsFrom><om:recordsTo>5</om:recordsTo><om:client id:objectType="MEMBER"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>D/N</id:memberCode></om:client></om:searchCriteria>`), "searchCriteria/client"},
		{"service without a code", wrap(`<om:searchCriteria><om:recordsFrom>1</om:recordsFrom><om:recordsTo>5</om:recordsTo><om:service id:objectType="SERVICE"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DIN</id:memberCode></om:service></om:searchCriteria>`), "searchCriteria/service: invalid identifier: serviceCode is empty"},
		{"bad service code", wrap(`<om:searchCriteria><om:recordsFrom>1</om:recordsFrom><om:recordsTo>5</om:recordsTo><om:serviceCode>a b</om:serviceCode></om:searchCriteria>`), "searchCriteria/serviceCode"},
		{"wrong namespace", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getSecurityServerOperationalData xmlns="urn:other"/></s:Body></s:Envelope>`), "the body holds {urn:other}getSecurityServerOperationalData, not <getSecurityServerOperationalData> in namespace http://x-road.eu/xsd/op-monitoring.xsd"},
		{"another body", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>`), "the body holds {}x"},
		{"only in the header", []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:om="http://x-road.eu/xsd/op-monitoring.xsd"><s:Header><om:getSecurityServerOperationalData><om:searchCriteria><om:recordsFrom>1</om:recordsFrom><om:recordsTo>5</om:recordsTo></om:searchCriteria></om:getSecurityServerOperationalData></s:Header><s:Body></s:Body></s:Envelope>`), "the body has no <getSecurityServerOperationalData> element"},
	}
	for _, tt := range tests {
		_, err := opmon.ParseCriteria(tt.soap, time.Unix(1000, 0))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestMatch: the client criterion matches a member's subsystems; a
// version-less service matches every version; Involves is member-level.
func TestMatch(t *testing.T) {
	r := rec("x", time.Now())
	member, _ := identifier.ParseMember("AZ/GOV/EMDK")
	sub, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
	otherSub, _ := identifier.ParseClient("AZ/GOV/EMDK/other")
	anyVersion, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin")
	v2, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v2")
	tests := []struct {
		name string
		c    opmon.SearchCriteria
		want bool
	}{
		{"nothing", opmon.SearchCriteria{}, true},
		{"the client's member", opmon.SearchCriteria{Client: &member}, true},
		{"the client subsystem", opmon.SearchCriteria{Client: &sub}, true},
		{"another subsystem", opmon.SearchCriteria{Client: &otherSub}, false},
		{"any version", opmon.SearchCriteria{Service: &anyVersion}, true},
		{"another version", opmon.SearchCriteria{Service: &v2}, false},
		{"service code", opmon.SearchCriteria{ServiceCode: "getPersonByFin"}, true},
		{"another code", opmon.SearchCriteria{ServiceCode: "getPassport"}, false},
	}
	for _, tt := range tests {
		if got := tt.c.Match(r); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
	for m, want := range map[string]bool{"AZ/GOV/EMDK": true, "AZ/GOV/DIN": true, "AZ/GOV/DSMF": false, "AZ/COM/EMDK": false} {
		id, _ := identifier.ParseMember(m)
		if r.Involves(id) != want {
			t.Errorf("Involves(%s) = %v, want %v", m, !want, want)
		}
	}
}

// ExampleParseCriteria reads the searchCriteria of a PR-OPMON request; note
// that recordsTo is clamped to the present.
func ExampleParseCriteria() {
	soap := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:om="http://x-road.eu/xsd/op-monitoring.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
 <s:Body><om:getSecurityServerOperationalData><om:searchCriteria>
  <om:recordsFrom>1795000000</om:recordsFrom><om:recordsTo>1799999999</om:recordsTo>
  <om:client id:objectType="SUBSYSTEM"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>EMDK</id:memberCode><id:subsystemCode>realestate</id:subsystemCode></om:client>
 </om:searchCriteria></om:getSecurityServerOperationalData></s:Body></s:Envelope>`
	c, err := opmon.ParseCriteria([]byte(soap), time.Unix(1796000000, 0))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.From, c.To, c.Client)
	// Output: 1795000000 1796000000 AZ/GOV/EMDK/realestate
}
