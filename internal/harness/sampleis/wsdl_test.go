package sampleis

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

const (
	configWSDLDir = "../../../configs/wsdl"
	wsdlNS        = "http://schemas.xmlsoap.org/wsdl/"
	wsdlSoapNS    = "http://schemas.xmlsoap.org/wsdl/soap/"
	xsdNS         = "http://www.w3.org/2001/XMLSchema"
)

type wsdlCase struct {
	key, file, path, ns, placeholder string
	handler                          func() http.Handler
}

var wsdlCases = []wsdlCase{
	{"din", "din-population.wsdl", "/din", DINNamespace, DINAddressPlaceholder, DIN},
	{"emdk", "emdk-realestate.wsdl", "/emdk", EMDKNamespace, EMDKAddressPlaceholder, EMDK},
	{"dsmf", "dsmf-insurance.wsdl", "/dsmf", DSMFNamespace, DSMFAddressPlaceholder, DSMF},
}

func parseFile(t *testing.T, path string) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromFile(path); err != nil {
		t.Fatalf("%s is not well-formed XML: %v", path, err)
	}
	return doc
}

// resolveQName resolves "prefix:local" against the declarations in scope at e.
func resolveQName(e *etree.Element, qname string) (ns, local string) {
	prefix, local, ok := strings.Cut(qname, ":")
	if !ok {
		prefix, local = "", qname
	}
	for ; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if (prefix == "" && a.Space == "" && a.Key == "xmlns") || (prefix != "" && a.Space == "xmlns" && a.Key == prefix) {
				return a.Value, local
			}
		}
	}
	return "", local
}

func childrenNS(e *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range e.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

func oneChild(t *testing.T, e *etree.Element, ns, local string) *etree.Element {
	t.Helper()
	cs := childrenNS(e, ns, local)
	if len(cs) != 1 {
		t.Fatalf("<%s> has %d {%s}%s children, want 1", e.FullTag(), len(cs), ns, local)
	}
	return cs[0]
}

// TestWSDLReferencesResolveLocally parses every WSDL and schema in
// configs/wsdl and follows every import: each must name a local file there.
func TestWSDLReferencesResolveLocally(t *testing.T) {
	entries, err := os.ReadDir(configWSDLDir)
	if err != nil {
		t.Fatal(err)
	}
	visited := map[string]bool{}
	var visit func(name string)
	visit = func(name string) {
		if visited[name] {
			return
		}
		visited[name] = true
		doc := parseFile(t, filepath.Join(configWSDLDir, name))
		for _, e := range doc.FindElements("//*") {
			var ref string
			switch {
			case e.NamespaceURI() == xsdNS && (e.Tag == "import" || e.Tag == "include" || e.Tag == "redefine"):
				ref = e.SelectAttrValue("schemaLocation", "")
				if ref == "" {
					t.Errorf("%s: <%s namespace=%q> has no schemaLocation; tools could not resolve it offline",
						name, e.FullTag(), e.SelectAttrValue("namespace", ""))
					continue
				}
			case e.NamespaceURI() == wsdlNS && e.Tag == "import":
				ref = e.SelectAttrValue("location", "")
			default:
				continue
			}
			if strings.Contains(ref, ":") || strings.HasPrefix(ref, "/") || strings.Contains(ref, "..") {
				t.Errorf("%s: reference %q is not a local file next to it", name, ref)
				continue
			}
			if _, err := os.Stat(filepath.Join(configWSDLDir, ref)); err != nil {
				t.Errorf("%s: reference %q does not resolve: %v", name, ref, err)
				continue
			}
			visit(ref)
		}
	}
	var wsdls int
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wsdl") || strings.HasSuffix(e.Name(), ".xsd") {
			visit(e.Name())
			if strings.HasSuffix(e.Name(), ".wsdl") {
				wsdls++
			}
		}
	}
	if wsdls < 3 {
		t.Errorf("%d WSDLs in %s", wsdls, configWSDLDir)
	}
	for _, want := range []string{"din-population.wsdl", "emdk-realestate.wsdl", "dsmf-insurance.wsdl", "xroad.xsd", "identifiers.xsd"} {
		if !visited[want] {
			t.Errorf("%s missing", want)
		}
	}
}

// TestConfigWSDLInSync: the package embeds copies of configs/wsdl (go:embed
// cannot reach outside the package); they must stay identical.
func TestConfigWSDLInSync(t *testing.T) {
	embedded, err := fs.Glob(WSDLFS(), "*")
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, pat := range []string{"*.wsdl", "*.xsd"} {
		m, _ := filepath.Glob(filepath.Join(configWSDLDir, pat))
		for _, p := range m {
			onDisk = append(onDisk, filepath.Base(p))
		}
	}
	slices.Sort(embedded)
	slices.Sort(onDisk)
	if !slices.Equal(embedded, onDisk) {
		t.Errorf("embedded %v, configs/wsdl %v", embedded, onDisk)
	}
	for _, name := range embedded {
		a, _ := fs.ReadFile(WSDLFS(), name)
		b, err := os.ReadFile(filepath.Join(configWSDLDir, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("internal/harness/sampleis/wsdl/%s differs from configs/wsdl/%s: copy the edited one over the other", name, name)
		}
	}
}

// TestWSDLDescribesHandlers checks each WSDL against X-Road's rules and
// against the operations its handler serves.
func TestWSDLDescribesHandlers(t *testing.T) {
	xroad := parseFile(t, filepath.Join(configWSDLDir, "xroad.xsd")).Root()
	xroadElements := map[string]bool{}
	for _, e := range childrenNS(xroad, xsdNS, "element") {
		xroadElements[e.SelectAttrValue("name", "")] = true
	}
	headerParts := []string{"client", "service", "id", "userId", "issue", "protocolVersion"}

	for _, wc := range wsdlCases {
		t.Run(wc.key, func(t *testing.T) {
			root := parseFile(t, filepath.Join(configWSDLDir, wc.file)).Root()
			if root.Tag != "definitions" || root.NamespaceURI() != wsdlNS {
				t.Fatalf("root <%s> is not wsdl:definitions", root.FullTag())
			}
			if got := root.SelectAttrValue("targetNamespace", ""); got != wc.ns {
				t.Errorf("targetNamespace %q", got)
			}
			schema := oneChild(t, oneChild(t, root, wsdlNS, "types"), xsdNS, "schema")
			if schema.SelectAttrValue("targetNamespace", "") != wc.ns {
				t.Errorf("schema targetNamespace %q", schema.SelectAttrValue("targetNamespace", ""))
			}
			topElements := map[string]bool{}
			for _, e := range childrenNS(schema, xsdNS, "element") {
				topElements[e.SelectAttrValue("name", "")] = true
			}

			messages := map[string]*etree.Element{}
			for _, m := range childrenNS(root, wsdlNS, "message") {
				messages[m.SelectAttrValue("name", "")] = m
			}
			rh := messages["requestheader"]
			if rh == nil {
				t.Fatal("no requestheader message")
			}
			var partNames []string
			for _, p := range childrenNS(rh, wsdlNS, "part") {
				name := p.SelectAttrValue("name", "")
				partNames = append(partNames, name)
				ns, local := resolveQName(p, p.SelectAttrValue("element", ""))
				if ns != xroadNS || local != name || !xroadElements[local] {
					t.Errorf("requestheader part %s -> {%s}%s (declared in xroad.xsd: %v)", name, ns, local, xroadElements[local])
				}
			}
			if !slices.Equal(partNames, headerParts) {
				t.Errorf("requestheader parts %v, want %v", partNames, headerParts)
			}

			portType := oneChild(t, root, wsdlNS, "portType")
			var ops []string
			for _, op := range childrenNS(portType, wsdlNS, "operation") {
				name := op.SelectAttrValue("name", "")
				ops = append(ops, name)
				if doc := childrenNS(op, wsdlNS, "documentation"); len(doc) != 1 || len(childrenNS(doc[0], xroadNS, "title")) != 1 {
					t.Errorf("%s: no wsdl:documentation/xrd:title", name)
				}
				for io, suffix := range map[string]string{"input": "", "output": "Response"} {
					msgName := name + suffix
					_, local := resolveQName(op, oneChild(t, op, wsdlNS, io).SelectAttrValue("message", ""))
					m := messages[local]
					if local != msgName || m == nil {
						t.Errorf("%s %s: message %q", name, io, local)
						continue
					}
					parts := childrenNS(m, wsdlNS, "part")
					if len(parts) != 1 {
						t.Errorf("message %s has %d parts, want 1 (wrapped style)", msgName, len(parts))
						continue
					}
					ens, el := resolveQName(parts[0], parts[0].SelectAttrValue("element", ""))
					if ens != wc.ns || el != msgName || !topElements[el] {
						t.Errorf("message %s part element {%s}%s (declared: %v)", msgName, ens, el, topElements[el])
					}
				}
			}
			var served []string
			for _, op := range wc.handler().(*service).ops {
				served = append(served, op.code)
			}
			if !slices.Equal(ops, served) {
				t.Errorf("WSDL operations %v, handler serves %v", ops, served)
			}

			binding := oneChild(t, root, wsdlNS, "binding")
			sb := oneChild(t, binding, wsdlSoapNS, "binding")
			if sb.SelectAttrValue("style", "") != "document" || sb.SelectAttrValue("transport", "") != "http://schemas.xmlsoap.org/soap/http" {
				t.Errorf("soap:binding %v", sb.Attr)
			}
			var bops []string
			for _, op := range childrenNS(binding, wsdlNS, "operation") {
				name := op.SelectAttrValue("name", "")
				bops = append(bops, name)
				if v := oneChild(t, op, xroadNS, "version").Text(); v != "v1" {
					t.Errorf("%s: xrd:version %q", name, v)
				}
				oneChild(t, op, wsdlSoapNS, "operation")
				for _, io := range []string{"input", "output"} {
					ioe := oneChild(t, op, wsdlNS, io)
					body := oneChild(t, ioe, wsdlSoapNS, "body")
					if body.SelectAttrValue("use", "") != "literal" || body.SelectAttr("namespace") != nil || body.SelectAttr("encodingStyle") != nil {
						t.Errorf("%s %s: soap:body %v", name, io, body.Attr)
					}
					var hp []string
					for _, h := range childrenNS(ioe, wsdlSoapNS, "header") {
						ns, local := resolveQName(h, h.SelectAttrValue("message", ""))
						if ns != wc.ns || local != "requestheader" || h.SelectAttrValue("use", "") != "literal" {
							t.Errorf("%s %s: soap:header %v", name, io, h.Attr)
						}
						hp = append(hp, h.SelectAttrValue("part", ""))
					}
					if !slices.Equal(hp, headerParts) {
						t.Errorf("%s %s: soap:header parts %v", name, io, hp)
					}
				}
			}
			if !slices.Equal(bops, ops) {
				t.Errorf("binding operations %v, portType %v", bops, ops)
			}

			port := oneChild(t, oneChild(t, root, wsdlNS, "service"), wsdlNS, "port")
			if _, b := resolveQName(port, port.SelectAttrValue("binding", "")); b != binding.SelectAttrValue("name", "") {
				t.Errorf("port binding %q", b)
			}
			if loc := oneChild(t, port, wsdlSoapNS, "address").SelectAttrValue("location", ""); loc != wc.placeholder {
				t.Errorf("soap:address %q, want placeholder %q", loc, wc.placeholder)
			}

			// The testdata requests conform to the request wrappers.
			s := loadSchema(t, wc.file)
			m, _ := filepath.Glob(filepath.Join("testdata", wc.key+"-*.xml"))
			if len(m) == 0 {
				t.Error("no testdata requests")
			}
			for _, f := range m {
				doc := parseFile(t, f)
				body := soapChild(t, doc, "Body")
				s.validate(t, body.ChildElements()[0], f)
			}
		})
	}
}

func TestServeWSDL(t *testing.T) {
	srv := newServer(t, NewMux())
	get := func(t *testing.T, method, u string) (int, string, []byte) {
		req, _ := http.NewRequest(method, srv.URL+u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	for _, wc := range wsdlCases {
		want, err := os.ReadFile(filepath.Join(configWSDLDir, wc.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{wc.path + "?wsdl", wc.path + "/?WSDL"} {
			code, ct, b := get(t, http.MethodGet, u)
			if code != 200 || ct != "text/xml; charset=utf-8" || !bytes.Equal(b, want) {
				t.Errorf("GET %s: %d %s, %d bytes (want %d)", u, code, ct, len(b), len(want))
			}
		}
		if code, _, b := get(t, http.MethodHead, wc.path+"?wsdl"); code != 200 || len(b) != 0 {
			t.Errorf("HEAD ?wsdl: %d", code)
		}
		// Relative imports of a WSDL fetched over HTTP resolve too.
		for _, u := range []string{"/xroad.xsd", "/identifiers.xsd", wc.path + "/xroad.xsd"} {
			if code, _, b := get(t, http.MethodGet, u); code != 200 || !bytes.Contains(b, []byte("http://x-road.eu/xsd/")) {
				t.Errorf("GET %s: %d", u, code)
			}
		}
	}
}

func TestWSDLFunc(t *testing.T) {
	b, err := WSDL("emdk", "http://ss.emdk.local:8080/?a=1&b=2")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`<soap:address location="http://ss.emdk.local:8080/?a=1&amp;b=2"/>`)) || bytes.Contains(b, []byte(EMDKAddressPlaceholder)) {
		t.Errorf("address not substituted")
	}
	if err := etree.NewDocument().ReadFromBytes(b); err != nil {
		t.Error(err)
	}
	b, _ = WSDL("din", "")
	if !bytes.Contains(b, []byte(DINAddressPlaceholder)) {
		t.Error("placeholder gone without an address")
	}
	if _, err := WSDL("asan", ""); err == nil {
		t.Error("unknown service accepted")
	}
}

// TestZeepLoadsWSDLs loads each WSDL with Python zeep, offline from
// configs/wsdl, and calls every service through it. zeep is optional: the
// test is skipped when /usr/bin/python3 cannot import it.
func TestZeepLoadsWSDLs(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import zeep").Run(); err != nil {
		t.Skipf("zeep is not importable by %s (%v): skipped; apt-get install python3-zeep to run it", py, err)
	}
	srv := newServer(t, NewMux())
	dir, _ := filepath.Abs(configWSDLDir)
	script := `
import sys, zeep
from decimal import Decimal
dir, base = sys.argv[1], sys.argv[2]
def hdr(member, subsystem, code):
    return {
        'client': {'objectType': 'SUBSYSTEM', 'xRoadInstance': 'AZ', 'memberClass': 'GOV', 'memberCode': 'EMDK', 'subsystemCode': 'realestate'},
        'service': {'objectType': 'SERVICE', 'xRoadInstance': 'AZ', 'memberClass': 'GOV', 'memberCode': member,
                    'subsystemCode': subsystem, 'serviceCode': code, 'serviceVersion': 'v1'},
        'id': 'zeep-1', 'userId': 'AZ5ZJ8K2L', 'issue': 'Sınaq', 'protocolVersion': '4.0'}
def svc(file, ns, binding, path):
    c = zeep.Client(dir + '/' + file)
    return c.create_service('{%s}%s' % (ns, binding), base + path)
s = svc('din-population.wsdl', 'http://din.gov.az/xroad/population/v1', 'populationBinding', '/din')
r = s.getPersonByFin(fin='5ZJ8K2L', _soapheaders=hdr('DIN', 'population', 'getPersonByFin'))
print('din', r.body.person.surname, r.header.id)
s = svc('emdk-realestate.wsdl', 'http://emdk.gov.az/xroad/realestate/v1', 'realestateBinding', '/emdk')
r = s.getRealEstateExtract(fin='2BXR4T6', _soapheaders=hdr('EMDK', 'realestate', 'getRealEstateExtract'))
print('emdk', r.body.extract.propertyCount, r.body.extract.property[1].encumbrance[0].type)
r = s.getLandOwnershipByFin(fin='2BXR4T6', _soapheaders=hdr('EMDK', 'realestate', 'getLandOwnershipByFin'))
print('land', r.body.landOwnership.totalAreaHa)
s = svc('dsmf-insurance.wsdl', 'http://dsmf.gov.az/xroad/insurance/v1', 'insuranceBinding', '/dsmf')
r = s.getInsuredPerson(fin='1A2B3C4', _soapheaders=hdr('DSMF', 'insurance', 'getInsuredPerson'))
print('dsmf', r.body.error.code)
r = s.submitQuarterlyReport(voen='1402367851', year=2025, quarter=3, form='B2', insuredCount=57,
    totalContributions=Decimal('12840.50'), _soapheaders=hdr('DSMF', 'insurance', 'submitQuarterlyReport'))
print('report', r.body.receipt.status)
try:
    s.getInsuredPerson(fin='bad', _soapheaders=hdr('DSMF', 'insurance', 'getInsuredPerson'))
except zeep.exceptions.Fault as f:
    print('fault', f.code)
`
	cmd := exec.Command(py, "-c", script, dir, srv.URL)
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8", "no_proxy=*")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zeep: %v\n%s%s", err, out, stderr.Bytes())
	}
	want := "din Əliyev zeep-1\nemdk 2 həbs\nland 3.75\ndsmf NOT_FOUND\nreport qəbul edildi\nfault Client\n"
	if string(out) != want {
		t.Errorf("zeep output:\n%s\nwant:\n%s", out, want)
	}
}

// ---- a small validator for the XML Schema subset the WSDLs use ----

type schema struct {
	file     string
	elements map[string]*etree.Element
	complex  map[string]*etree.Element
	simple   map[string]*etree.Element
}

func loadSchema(t *testing.T, wsdlFile string) *schema {
	t.Helper()
	root := parseFile(t, filepath.Join(configWSDLDir, wsdlFile)).Root()
	xs := oneChild(t, oneChild(t, root, wsdlNS, "types"), xsdNS, "schema")
	s := &schema{file: wsdlFile, elements: map[string]*etree.Element{}, complex: map[string]*etree.Element{}, simple: map[string]*etree.Element{}}
	for _, c := range xs.ChildElements() {
		name := c.SelectAttrValue("name", "")
		switch c.Tag {
		case "element":
			s.elements[name] = c
		case "complexType":
			s.complex[name] = c
		case "simpleType":
			s.simple[name] = c
		}
	}
	return s
}

var schemaByPath = map[string]string{"/din": "din-population.wsdl", "/emdk": "emdk-realestate.wsdl", "/dsmf": "dsmf-insurance.wsdl"}

// validateResponse checks a response wrapper against its WSDL's schema.
func validateResponse(t *testing.T, path string, wrapper *etree.Element) {
	t.Helper()
	loadSchema(t, schemaByPath[path]).validate(t, wrapper, "response")
}

func (s *schema) validate(t *testing.T, e *etree.Element, where string) {
	t.Helper()
	decl := s.elements[e.Tag]
	if decl == nil {
		t.Errorf("%s: <%s> is not a global element of %s", where, e.Tag, s.file)
		return
	}
	for _, err := range s.checkElement(e, decl, e.Tag) {
		t.Errorf("%s: %s: %s", where, s.file, err)
	}
}

func (s *schema) checkElement(e, decl *etree.Element, path string) []string {
	if typ := decl.SelectAttrValue("type", ""); typ != "" {
		prefix, local, _ := strings.Cut(typ, ":")
		switch {
		case prefix == "xs":
			return checkLeaf(e, path, local, nil)
		case s.complex[local] != nil:
			return s.checkComplex(e, s.complex[local], path)
		case s.simple[local] != nil:
			return checkLeaf(e, path, "", s.simple[local])
		}
		return []string{path + ": unknown type " + typ}
	}
	if ct := decl.SelectElement("complexType"); ct != nil {
		return s.checkComplex(e, ct, path)
	}
	return []string{path + ": element declaration without a type"}
}

func occurs(p *etree.Element) (lo, hi int) {
	lo, hi = 1, 1
	if v := p.SelectAttrValue("minOccurs", ""); v != "" {
		lo, _ = strconv.Atoi(v)
	}
	if v := p.SelectAttrValue("maxOccurs", ""); v == "unbounded" {
		hi = 1 << 30
	} else if v != "" {
		hi, _ = strconv.Atoi(v)
	}
	return lo, hi
}

func (s *schema) checkComplex(e, ct *etree.Element, path string) []string {
	var errs []string
	kids := e.ChildElements()
	for _, k := range kids {
		if k.NamespaceURI() != "" {
			errs = append(errs, path+"/"+k.Tag+": qualified, schema says unqualified")
		}
	}
	for _, c := range e.Child {
		if cd, ok := c.(*etree.CharData); ok && !cd.IsWhitespace() {
			errs = append(errs, path+": text in element-only content")
		}
	}
	i := 0
	consume := func(p *etree.Element) {
		name := p.SelectAttrValue("name", "")
		lo, hi := occurs(p)
		n := 0
		for i < len(kids) && kids[i].Tag == name && n < hi {
			errs = append(errs, s.checkElement(kids[i], p, path+"/"+name)...)
			i++
			n++
		}
		if n < lo {
			errs = append(errs, path+": missing <"+name+">")
		}
	}
	switch {
	case ct.SelectElement("sequence") != nil:
		for _, p := range ct.SelectElement("sequence").SelectElements("element") {
			consume(p)
		}
	case ct.SelectElement("choice") != nil:
		ps := ct.SelectElement("choice").SelectElements("element")
		if len(kids) == 0 {
			errs = append(errs, path+": empty choice")
		}
		for _, p := range ps {
			if len(kids) > 0 && kids[0].Tag == p.SelectAttrValue("name", "") {
				consume(p)
			}
		}
	}
	if i < len(kids) {
		errs = append(errs, path+": unexpected <"+kids[i].Tag+">")
	}
	return errs
}

var xsdDecimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func checkLeaf(e *etree.Element, path, builtin string, st *etree.Element) []string {
	if len(e.ChildElements()) > 0 {
		return []string{path + ": simple content has child elements"}
	}
	v := e.Text()
	var facets []*etree.Element
	if st != nil {
		r := st.SelectElement("restriction")
		_, builtin, _ = strings.Cut(r.SelectAttrValue("base", ""), ":")
		facets = r.ChildElements()
	}
	bad := func(why string) []string { return []string{path + ": " + strconv.Quote(v) + " " + why} }
	var err error
	switch builtin {
	case "string":
	case "date":
		_, err = time.Parse(time.DateOnly, v)
	case "dateTime":
		_, err = time.Parse(time.RFC3339, v)
	case "gYearMonth":
		_, err = time.Parse("2006-01", v)
	case "int":
		_, err = strconv.ParseInt(v, 10, 32)
	case "decimal":
		if !xsdDecimal.MatchString(v) {
			return bad("is not an xs:decimal")
		}
	default:
		return bad("has unsupported type " + builtin)
	}
	if err != nil {
		return bad("is not an xs:" + builtin)
	}
	var enums []string
	for _, f := range facets {
		fv := f.SelectAttrValue("value", "")
		switch f.Tag {
		case "enumeration":
			enums = append(enums, fv)
		case "pattern":
			if !regexp.MustCompile("^(?:" + fv + ")$").MatchString(v) {
				return bad("does not match " + fv)
			}
		case "minInclusive", "maxInclusive":
			x, _ := strconv.ParseFloat(v, 64)
			lim, _ := strconv.ParseFloat(fv, 64)
			if (f.Tag == "minInclusive" && x < lim) || (f.Tag == "maxInclusive" && x > lim) {
				return bad("is out of range " + f.Tag + " " + fv)
			}
		case "fractionDigits":
			n, _ := strconv.Atoi(fv)
			if _, frac, ok := strings.Cut(v, "."); ok && len(frac) > n {
				return bad("has more than " + fv + " fraction digits")
			}
		}
	}
	if enums != nil && !slices.Contains(enums, v) {
		return bad("is not one of " + strings.Join(enums, ", "))
	}
	return nil
}
