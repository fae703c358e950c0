package identifier

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{"AZ/GOV/DIN", "AZ/GOV/DIN/population", "AZ/COM/1234567891/x'(+,-.=?)"} {
		c, err := ParseClient(s)
		if err != nil || c.String() != s {
			t.Errorf("ParseClient(%q) = %v, %v", s, c, err)
		}
	}
	s, err := ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	if err != nil || s.Provider.SubsystemCode != "population" || s.ServiceCode != "getPersonByFin" || s.ServiceVersion != "v1" {
		t.Fatalf("ParseService = %+v, %v", s, err)
	}
	if s.String() != "AZ/GOV/DIN/population/getPersonByFin/v1" || s.WithoutVersion().String() != "AZ/GOV/DIN/population/getPersonByFin" {
		t.Fatalf("service string forms: %s / %s", s, s.WithoutVersion())
	}
	srv, err := ParseServer("AZ/GOV/EMDK/ss1")
	if err != nil || srv.Owner.MemberCode != "EMDK" || srv.ServerCode != "ss1" {
		t.Fatalf("ParseServer = %+v, %v", srv, err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name  string
		parse func() error
		want  string
	}{
		{"too few parts", func() error { _, err := ParseClient("AZ/GOV"); return err }, "INSTANCE/CLASS/CODE"},
		{"empty part", func() error { _, err := ParseClient("AZ//DIN"); return err }, "memberClass is empty"},
		{"Azerbaijani letter", func() error { _, err := ParseClient("AZ/GOV/DİN"); return err }, `contains 'İ'`},
		{"space", func() error { _, err := ParseClient("AZ/GOV/D N"); return err }, "allow only"},
		{"member wanted", func() error { _, err := ParseMember("AZ/GOV/DIN/population"); return err }, "names a subsystem"},
		{"subsystem wanted", func() error { _, err := ParseSubsystem("AZ/GOV/DIN"); return err }, "names a member"},
		{"service without subsystem", func() error { _, err := ParseService("AZ/GOV/DIN/getPersonByFin"); return err }, "SUBSYSTEM/SERVICE"},
		{"server too long", func() error { _, err := ParseServer("AZ/GOV/DIN/pop/ss1"); return err }, "SERVERCODE"},
		{"group", func() error { _, err := ParseGlobalGroup("AZ"); return err }, "INSTANCE/GROUPCODE"},
	}
	for _, tc := range cases {
		err := tc.parse()
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrInvalid mentioning %q", tc.name, err, tc.want)
		}
	}
}

const header = `<Header xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:iden="http://x-road.eu/xsd/identifiers">
 <xrd:client iden:objectType="SUBSYSTEM">
  <iden:xRoadInstance>AZ</iden:xRoadInstance>
  <iden:memberClass>GOV</iden:memberClass>
  <iden:memberCode>EMDK</iden:memberCode>
  <iden:subsystemCode>registry</iden:subsystemCode>
 </xrd:client>
 <xrd:service iden:objectType="SERVICE">
  <iden:xRoadInstance>AZ</iden:xRoadInstance>
  <iden:memberClass>GOV</iden:memberClass>
  <iden:memberCode>DIN</iden:memberCode>
  <iden:subsystemCode>population</iden:subsystemCode>
  <iden:serviceCode>getPersonByFin</iden:serviceCode>
  <iden:serviceVersion>v1</iden:serviceVersion>
 </xrd:service>
</Header>`

func TestParseXMLAnyPrefix(t *testing.T) {
	doc := etree.NewDocument()
	if err := doc.ReadFromString(header); err != nil {
		t.Fatal(err)
	}
	c, err := ParseClientXML(doc.FindElement("//client"))
	if err != nil || c.String() != "AZ/GOV/EMDK/registry" {
		t.Fatalf("client = %v, %v", c, err)
	}
	s, err := ParseServiceXML(doc.FindElement("//service"))
	if err != nil || s.String() != "AZ/GOV/DIN/population/getPersonByFin/v1" {
		t.Fatalf("service = %v, %v", s, err)
	}
}

func TestXMLRoundTrip(t *testing.T) {
	doc := etree.NewDocument()
	root := doc.CreateElement("root")
	c := Client{"AZ", "GOV", "DSMF", "insurance"}
	s := ServiceID{Provider: c, ServiceCode: "getInsuredPerson"}
	srv := ServerID{Owner: c.MemberID(), ServerCode: "ss1"}
	g := GlobalGroupID{"AZ", "state-agencies"}
	AppendClient(root, "xrd", "client", c)
	AppendService(root, "xrd", "service", s)
	AppendServer(root, "", "server", srv)
	AppendGlobalGroup(root, "", "group", g)
	text, _ := doc.WriteToString()
	doc2 := etree.NewDocument()
	if err := doc2.ReadFromString(strings.Replace(text, "<root>", `<root xmlns:xrd="http://x-road.eu/xsd/xroad.xsd">`, 1)); err != nil {
		t.Fatal(err)
	}
	els := doc2.Root().ChildElements()
	if got, err := ParseClientXML(els[0]); err != nil || got != c {
		t.Errorf("client: %v %v", got, err)
	}
	if got, err := ParseServiceXML(els[1]); err != nil || got != s {
		t.Errorf("service: %v %v", got, err)
	}
	if got, err := ParseServerXML(els[2]); err != nil || got != srv {
		t.Errorf("server: %v %v", got, err)
	}
	if got, err := ParseGlobalGroupXML(els[3]); err != nil || got != g {
		t.Errorf("group: %v %v", got, err)
	}
	// Nested elements reuse an ancestor's xmlns:id declaration.
	if strings.Count(text, "xmlns:id=") != 4 {
		t.Errorf("want one declaration per top-level identifier:\n%s", text)
	}
}

func TestParseXMLErrors(t *testing.T) {
	const ns = `xmlns:id="http://x-road.eu/xsd/identifiers"`
	cases := []struct{ name, xml, want string }{
		{"no objectType", `<client ` + ns + `><id:xRoadInstance>AZ</id:xRoadInstance></client>`, "lacks the id:objectType"},
		{"objectType without namespace", `<client ` + ns + ` objectType="MEMBER"><id:xRoadInstance>AZ</id:xRoadInstance></client>`, "lacks the id:objectType"},
		{"wrong child namespace", `<client ` + ns + ` id:objectType="MEMBER"><xRoadInstance>AZ</xRoadInstance></client>`, "not in the identifiers namespace"},
		{"duplicate", `<client ` + ns + ` id:objectType="MEMBER"><id:xRoadInstance>AZ</id:xRoadInstance><id:xRoadInstance>AZ</id:xRoadInstance></client>`, "repeats"},
		{"order", `<client ` + ns + ` id:objectType="MEMBER"><id:memberClass>GOV</id:memberClass><id:xRoadInstance>AZ</id:xRoadInstance><id:memberCode>DIN</id:memberCode></client>`, "out of schema order"},
		{"type mismatch", `<client ` + ns + ` id:objectType="SUBSYSTEM"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DIN</id:memberCode></client>`, "no subsystemCode"},
		{"service field in client", `<client ` + ns + ` id:objectType="MEMBER"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>DIN</id:memberCode><id:serviceCode>x</id:serviceCode></client>`, "must not have <serviceCode>"},
		{"SERVICE as client", `<client ` + ns + ` id:objectType="SERVICE"></client>`, "want MEMBER or SUBSYSTEM"},
		{"missing code", `<client ` + ns + ` id:objectType="MEMBER"><id:xRoadInstance>AZ</id:xRoadInstance><id:memberClass>GOV</id:memberClass></client>`, "memberCode is empty"},
		{"unknown child", `<client ` + ns + ` id:objectType="MEMBER"><id:foo>AZ</id:foo></client>`, "unknown child"},
	}
	for _, tc := range cases {
		doc := etree.NewDocument()
		if err := doc.ReadFromString(tc.xml); err != nil {
			t.Fatal(err)
		}
		_, err := ParseClientXML(doc.Root())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestStringAllocs: rendering an identifier (per logged message) makes
// one string, and renders what ParseClient/ParseService read back.
func TestStringAllocs(t *testing.T) {
	svc := ServiceID{Provider: Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "DIN", SubsystemCode: "population"}, ServiceCode: "getPersonByFin", ServiceVersion: "v1"}
	member := Client{Instance: "AZ", MemberClass: "GOV", MemberCode: "ƏMDK"}
	if got := svc.String(); got != "AZ/GOV/DIN/population/getPersonByFin/v1" {
		t.Fatalf("String() = %q", got)
	}
	if got := member.String(); got != "AZ/GOV/ƏMDK" {
		t.Fatalf("String() = %q", got)
	}
	if n := testing.AllocsPerRun(50, func() { _ = svc.String() + member.String()[:0] }); n > 2 {
		t.Errorf("rendering a service and a client allocates %.0f times", n)
	}
}
