package identifier_test

import (
	"fmt"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/registry/identifier"
)

// A service identifier in string form names the provider subsystem; the XML
// form is what travels in an X-Road message header.
func ExampleParseService() {
	s, err := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Provider, s.ServiceCode, s.ServiceVersion)

	doc := etree.NewDocument()
	identifier.AppendService(doc.CreateElement("header"), "", "service", s)
	doc.Indent(1)
	doc.WriteTo(stdout{})
	// Output:
	// AZ/GOV/DIN/population getPersonByFin v1
	// <header>
	//  <service xmlns:id="http://x-road.eu/xsd/identifiers" id:objectType="SERVICE">
	//   <id:xRoadInstance>AZ</id:xRoadInstance>
	//   <id:memberClass>GOV</id:memberClass>
	//   <id:memberCode>DIN</id:memberCode>
	//   <id:subsystemCode>population</id:subsystemCode>
	//   <id:serviceCode>getPersonByFin</id:serviceCode>
	//   <id:serviceVersion>v1</id:serviceVersion>
	//  </service>
	// </header>
}

// Parsing validates against PR-MESS's character rule.
func ExampleParseClient() {
	_, err := identifier.ParseClient("AZ/GOV/DİN")
	fmt.Println(err)
	// Output:
	// client "AZ/GOV/DİN": invalid identifier: memberCode "DİN" contains 'İ'; X-Road identifiers allow only A-Z a-z 0-9 and '()+,-.=?
}

type stdout struct{}

func (stdout) Write(p []byte) (int, error) { fmt.Print(string(p)); return len(p), nil }
