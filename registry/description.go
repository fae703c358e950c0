package registry

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/sluz/sluz/internal/envsubst"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
)

// Description is a whole federation written down in one YAML file
// (configs/federation.yaml): `registry load` turns it into one all-or-nothing
// batch of changes. Certificate fields name PEM files, relative to the file.
type Description struct {
	Trust struct {
		CAs []struct {
			Name     string   `yaml:"name"`
			Cert     string   `yaml:"cert"`
			Issuers  string   `yaml:"issuers"`
			OCSPURLs []string `yaml:"ocspUrls"`
		} `yaml:"cas"`
		TSAs []struct {
			Name string `yaml:"name"`
			URL  string `yaml:"url"`
			Cert string `yaml:"cert"`
		} `yaml:"tsas"`
		OCSPFreshnessSeconds *int `yaml:"ocspFreshnessSeconds"`
		ConfValiditySeconds  *int `yaml:"confValiditySeconds"`
	} `yaml:"trust"`
	Members []struct {
		ID         identifier.Client `yaml:"id"`
		Name       string            `yaml:"name"`
		Subsystems []struct {
			Code     string `yaml:"code"`
			Services []struct {
				Code        string `yaml:"code"`
				Version     string `yaml:"version"`
				Description string `yaml:"description"`
				// WSDL or OpenAPI (at most one) names the service's
				// description document, kept by the registry.
				WSDL    string `yaml:"wsdl"`
				OpenAPI string `yaml:"openapi"`
			} `yaml:"services"`
		} `yaml:"subsystems"`
	} `yaml:"members"`
	Servers []struct {
		ID       identifier.ServerID `yaml:"id"`
		Address  string              `yaml:"address"`
		AuthCert string              `yaml:"authCert"`
		Clients  []identifier.Client `yaml:"clients"`
		Approved *bool               `yaml:"approved"` // default true
	} `yaml:"servers"`
	Groups []struct {
		ID          identifier.GlobalGroupID `yaml:"id"`
		Description string                   `yaml:"description"`
		Members     []identifier.Client      `yaml:"members"`
	} `yaml:"groups"`
}

// LoadDescription reads a federation description and returns its changes in
// dependency order (trust, members, subsystems, services with their
// description documents, servers, groups).
func LoadDescription(path string) ([]store.Change, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if data, err = envsubst.Expand(data, nil); err != nil {
		return nil, fmt.Errorf("federation description %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var d Description
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	read := func(field, p string) (string, error) {
		if p == "" {
			return "", nil
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s: %s: %w", path, field, err)
		}
		return string(b), nil
	}
	var out []store.Change
	for i, ca := range d.Trust.CAs {
		cert, err := read(fmt.Sprintf("trust.cas[%d].cert", i), ca.Cert)
		if err != nil {
			return nil, err
		}
		issuers, err := read(fmt.Sprintf("trust.cas[%d].issuers", i), ca.Issuers)
		if err != nil {
			return nil, err
		}
		out = append(out, store.AddCA{Name: ca.Name, Cert: cert, Issuers: issuers, OCSPURLs: ca.OCSPURLs})
	}
	for i, t := range d.Trust.TSAs {
		cert, err := read(fmt.Sprintf("trust.tsas[%d].cert", i), t.Cert)
		if err != nil {
			return nil, err
		}
		out = append(out, store.AddTSA{Name: t.Name, URL: t.URL, Cert: cert})
	}
	if d.Trust.OCSPFreshnessSeconds != nil || d.Trust.ConfValiditySeconds != nil {
		out = append(out, store.SetTrustSettings{OCSPFreshnessSeconds: d.Trust.OCSPFreshnessSeconds, ConfValiditySeconds: d.Trust.ConfValiditySeconds})
	}
	for _, m := range d.Members {
		out = append(out, store.AddMember{ID: m.ID, Name: m.Name})
		for _, ss := range m.Subsystems {
			sub := m.ID.Subsystem(ss.Code)
			out = append(out, store.AddSubsystem{ID: sub})
			for _, svc := range ss.Services {
				id := identifier.ServiceID{Provider: sub, ServiceCode: svc.Code, ServiceVersion: svc.Version}
				out = append(out, store.AddService{ID: id, Description: svc.Description})
				if svc.WSDL != "" && svc.OpenAPI != "" {
					return nil, fmt.Errorf("%s: service %s: give wsdl or openapi, not both", path, id)
				}
				for _, doc := range []struct{ typ, file string }{{store.DocWSDL, svc.WSDL}, {store.DocOpenAPI, svc.OpenAPI}} {
					if doc.file == "" {
						continue
					}
					field := fmt.Sprintf("service %s: %s", id, doc.typ)
					text, err := read(field, doc.file)
					if err != nil {
						return nil, err
					}
					if err := store.CheckServiceDoc(doc.typ, []byte(text)); err != nil {
						return nil, fmt.Errorf("%s: %s %s: %w", path, field, doc.file, err)
					}
					out = append(out, store.SetServiceDoc{ID: id, Type: doc.typ, Content: text})
				}
			}
		}
	}
	for i, s := range d.Servers {
		cert, err := read(fmt.Sprintf("servers[%d].authCert", i), s.AuthCert)
		if err != nil {
			return nil, err
		}
		out = append(out, store.AddServer{ID: s.ID, Address: s.Address, AuthCert: cert})
		for _, c := range s.Clients {
			out = append(out, store.AddServerClient{Server: s.ID, Client: c})
		}
		if s.Approved == nil || *s.Approved {
			out = append(out, store.ApproveServer{ID: s.ID})
		}
	}
	for _, g := range d.Groups {
		out = append(out, store.AddGroup{ID: g.ID, Description: g.Description})
		for _, c := range g.Members {
			out = append(out, store.AddGroupMember{Group: g.ID, Client: c})
		}
	}
	return out, nil
}
