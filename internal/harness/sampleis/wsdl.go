package sampleis

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
)

// wsdlFiles are copies of configs/wsdl/*; TestConfigWSDLInSync keeps them equal.
//
//go:embed wsdl/*.wsdl wsdl/*.xsd
var wsdlFiles embed.FS

// WSDLFS holds the service descriptions and the local X-Road schemas they
// import: din-population.wsdl, emdk-realestate.wsdl, dsmf-insurance.wsdl,
// xroad.xsd and identifiers.xsd (the same bytes as configs/wsdl/).
func WSDLFS() fs.FS {
	sub, err := fs.Sub(wsdlFiles, "wsdl")
	if err != nil {
		panic(err) // the directory is embedded
	}
	return sub
}

// The soap:address locations in the WSDLs: the client proxy of each
// service's sample consumer in the local federation (ƏMDK calls DİN, DSMF
// calls ƏMDK, DİN calls DSMF; configs/securityserver-*.yaml), so that a
// SOAP client given the WSDL reaches a working endpoint. WSDL replaces them
// with another client-proxy URL.
const (
	DINAddressPlaceholder  = "http://127.0.0.1:8082/din"
	EMDKAddressPlaceholder = "http://127.0.0.1:8083/emdk"
	DSMFAddressPlaceholder = "http://127.0.0.1:8081/dsmf"
)

var wsdlByService = map[string]struct{ file, placeholder string }{
	"din":  {"din-population.wsdl", DINAddressPlaceholder},
	"emdk": {"emdk-realestate.wsdl", EMDKAddressPlaceholder},
	"dsmf": {"dsmf-insurance.wsdl", DSMFAddressPlaceholder},
}

// WSDL returns the WSDL of service "din", "emdk" or "dsmf". A non-empty
// address replaces the placeholder soap:address location (for instance with
// the client-proxy URL of the consumer's security server).
func WSDL(service, address string) ([]byte, error) {
	w, ok := wsdlByService[service]
	if !ok {
		return nil, fmt.Errorf("sampleis: no WSDL for service %q (want din, emdk or dsmf)", service)
	}
	b, err := wsdlFiles.ReadFile("wsdl/" + w.file)
	if err != nil {
		return nil, err
	}
	if address != "" {
		b = bytes.ReplaceAll(b, []byte(`location="`+w.placeholder+`"`), []byte(`location="`+xmlAttrEscape(address)+`"`))
	}
	return b, nil
}

func xmlAttrEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// NewMux serves DIN() under /din, EMDK() under /emdk and DSMF() under /dsmf
// (each also with a trailing slash), and the shared schemas at /xroad.xsd and
// /identifiers.xsd so that a WSDL fetched from /din?wsdl resolves its relative
// imports, and the REST services EMDKRest() under /emdk/rest and DSMFRest()
// under /dsmf/rest. The handlers are created once, so the DSMF report
// stores live as long as the mux.
func NewMux() *http.ServeMux {
	mux := http.NewServeMux()
	for prefix, h := range map[string]http.Handler{"/din": DIN(), "/emdk": EMDK(), "/dsmf": DSMF()} {
		mux.Handle(prefix, h)
		mux.Handle(prefix+"/", h)
	}
	mux.Handle("/emdk/rest/", http.StripPrefix("/emdk/rest", EMDKRest()))
	mux.Handle("/dsmf/rest/", http.StripPrefix("/dsmf/rest", DSMFRest()))
	for _, name := range []string{"xroad.xsd", "identifiers.xsd"} {
		mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) { serveFile(w, r, name) })
	}
	return mux
}
