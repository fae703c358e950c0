package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/cli/clitest"
)

// TestServe: the sample IS answers an X-Road request for DİN's
// getPersonByFin and serves its WSDL, then stops when asked.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, &out, slog.New(slog.DiscardHandler)) }()
	base := "http://" + ln.Addr().String()
	req := `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
<SOAP-ENV:Header>
<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>EMDK</id:memberCode><id:subsystemCode>realestate</id:subsystemCode></xrd:client>
<xrd:service id:objectType="SERVICE"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DIN</id:memberCode><id:subsystemCode>population</id:subsystemCode><id:serviceCode>getPersonByFin</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>
<xrd:id>sampleis-cmd-1</xrd:id>
<xrd:protocolVersion>4.0</xrd:protocolVersion>
</SOAP-ENV:Header>
<SOAP-ENV:Body><ns1:getPersonByFin xmlns:ns1="http://din.gov.az/xroad/population/v1"><fin>5ZJ8K2L</fin></ns1:getPersonByFin></SOAP-ENV:Body>
</SOAP-ENV:Envelope>`
	hc := &http.Client{Timeout: 10 * time.Second}
	var resp *http.Response
	for i := 0; ; i++ { // serve may not have printed yet; the listener is open already
		resp, err = hc.Post(base+"/din", "text/xml; charset=UTF-8", strings.NewReader(req))
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Əliyev") {
		t.Fatalf("getPersonByFin: HTTP %d\n%s", resp.StatusCode, body)
	}
	resp, err = hc.Get(base + "/din?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	wsdl, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(wsdl), "getPersonByFin") {
		t.Fatalf("WSDL: HTTP %d\n%.500s", resp.StatusCode, wsdl)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	if !strings.Contains(out.String(), base+"/din") {
		t.Errorf("serve did not print where it listens: %q", out.String())
	}
}

func TestUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := program.Main([]string{"serve", "--listen", "127.0.0.1:1", "extra"}, &out, &errOut); code != cli.ExitUsage || !strings.Contains(errOut.String(), `unexpected argument "extra"`) {
		t.Fatalf("stray argument: exit %d, %s", code, errOut.String())
	}
	if code := program.Main([]string{"serve", "--listen", "256.0.0.1:x"}, &out, &errOut); code != cli.ExitError || !strings.Contains(errOut.String(), "--listen") {
		t.Fatalf("bad address: exit %d, %s", code, errOut.String())
	}
}

// TestHelpEverywhere: every command answers --help with usage and an example.
func TestHelpEverywhere(t *testing.T) {
	t.Logf("%d help screens", clitest.HelpEverywhere(t, program))
}
