package message_test

import (
	"bytes"
	"fmt"

	"github.com/sluz/sluz/securityserver/message"
)

func ExampleParse() {
	raw := []byte(`<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
        xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
    <SOAP-ENV:Header>
        <xrd:client id:objectType="SUBSYSTEM">
            <id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass>
            <id:memberCode>EMDK</id:memberCode><id:subsystemCode>realestate</id:subsystemCode>
        </xrd:client>
        <xrd:service id:objectType="SERVICE">
            <id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass>
            <id:memberCode>DIN</id:memberCode><id:subsystemCode>population</id:subsystemCode>
            <id:serviceCode>getPersonByFin</id:serviceCode><id:serviceVersion>v1</id:serviceVersion>
        </xrd:service>
        <xrd:id>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</xrd:id>
        <xrd:userId>AZ1234567</xrd:userId>
        <xrd:issue>ƏMDK-2026-001</xrd:issue>
        <xrd:protocolVersion>4.0</xrd:protocolVersion>
    </SOAP-ENV:Header>
    <SOAP-ENV:Body>
        <din:getPersonByFin xmlns:din="http://din.gov.az/population/v1"><din:fin>5ZJ8K2L</din:fin></din:getPersonByFin>
    </SOAP-ENV:Body>
</SOAP-ENV:Envelope>`)

	m, err := message.Parse(raw, "text/xml; charset=UTF-8", message.ParseOptions{Request: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := m.Header
	fmt.Println("client: ", h.Client)
	fmt.Println("service:", h.Service)
	fmt.Println("id:     ", h.ID)
	fmt.Println("user:   ", h.UserID, "issue:", h.Issue)
	fmt.Println("body:   ", m.Body.Local, "in", m.Body.Space)

	// The same message without its id header is refused with a Client fault.
	noID := bytes.Replace(raw, []byte("<xrd:id>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</xrd:id>"), nil, 1)
	_, err = message.Parse(noID, "text/xml", message.ParseOptions{Request: true})
	fmt.Println(err.(*message.Fault).Code)
	// Output:
	// client:  AZ/GOV/EMDK/realestate
	// service: AZ/GOV/DIN/population/getPersonByFin/v1
	// id:      6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a
	// user:    AZ1234567 issue: ƏMDK-2026-001
	// body:    getPersonByFin in http://din.gov.az/population/v1
	// Client.MissingHeaderField
}
