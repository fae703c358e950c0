package sampleis_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/sluz/sluz/internal/harness/sampleis"
)

func ExamplePeople() {
	p := sampleis.People()[0]
	fmt.Println(p.FIN, p.FullName())
	fmt.Println(p.Address)
	// Output:
	// 5ZJ8K2L Əliyev Rəşad Həsən oğlu
	// Bakı şəhəri, Nəsimi rayonu, Süleyman Rəhimov küçəsi, ev 45, mənzil 12
}

func ExampleNewMux() {
	srv := httptest.NewServer(sampleis.NewMux())
	defer srv.Close()

	req := `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
  <SOAP-ENV:Header>
    <xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DSMF</id:memberCode><id:subsystemCode>insurance</id:subsystemCode></xrd:client>
    <xrd:service id:objectType="SERVICE"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DIN</id:memberCode><id:subsystemCode>population</id:subsystemCode><id:serviceCode>getPersonByFin</id:serviceCode><id:serviceVersion>v1</id:serviceVersion></xrd:service>
    <xrd:id>example-1</xrd:id>
    <xrd:protocolVersion>4.0</xrd:protocolVersion>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body>
    <din:getPersonByFin xmlns:din="http://din.gov.az/xroad/population/v1"><fin>4NP7G8E</fin></din:getPersonByFin>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>`
	resp, err := http.Post(srv.URL+"/din", "text/xml; charset=utf-8", strings.NewReader(req))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.Contains(string(body), "<surname>İsmayılov</surname>"))
	// Output: 200 true
}
