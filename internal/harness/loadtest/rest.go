package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
)

// Names of the REST targets (BenchOptions.REST).
const (
	NameRESTPlain = "rest-plain-pair"
	NameRESTSluz  = "rest-sluz-pair"
)

// restQuery is the REST sample query the REST targets send: a GET without
// a body (DİN reads ƏMDK's real-estate extract).
func restQuery() (localfed.Query, error) {
	for _, q := range localfed.Queries {
		if q.REST != nil && q.REST.Method == http.MethodGet && q.REST.Body == "" && q.WantFault == "" && !strings.HasSuffix(q.Service, "/listMethods") {
			return q, nil
		}
	}
	return localfed.Query{}, fmt.Errorf("loadtest: localfed has no REST GET sample query")
}

// startREST starts the REST targets over the running federation: the
// REST call through the Şlüz pair of its two agencies, and a plain pair
// between the same certificates forwarding to the same provider URL.
func (b *Bench) startREST(ctx context.Context, dir string, proxyLog *log.Logger) error {
	q, err := restQuery()
	if err != nil {
		return err
	}
	service, err := identifier.ParseService(q.Service)
	if err != nil {
		return err
	}
	provider, caller := agency(b.Fed, service.Provider.MemberCode), agency(b.Fed, q.From)
	if provider == nil || caller == nil {
		return fmt.Errorf("loadtest: the federation has no agency %s or %s", service.Provider.MemberCode, q.From)
	}
	svc, ok := provider.Config.ServiceFor(service)
	if !ok {
		return fmt.Errorf("loadtest: %s provides no %s", provider.Code, service)
	}
	clientCert, serverCert, roots, err := pairCerts(dir, caller.Code, provider.Code)
	if err != nil {
		return err
	}
	if b.RESTPlain, err = StartPlainPair(clientCert, serverCert, roots, provider.Host, strings.TrimSuffix(svc.URL, "/")+q.REST.Path, proxyLog); err != nil {
		return err
	}
	req, err := NewRESTRequest(q)
	if err != nil {
		return err
	}
	b.RESTPlainT = &Target{Name: NameRESTPlain, URL: b.RESTPlain.URL, Request: req, Check: &Check{REST: true}}
	b.RESTSluzT = &Target{Name: NameRESTSluz, URL: caller.ClientURL, Request: req, Check: &Check{REST: true, Signed: true}}
	fin := q.REST.Path[strings.LastIndexByte(q.REST.Path, '/')+1:]
	for _, t := range []*Target{b.RESTPlainT, b.RESTSluzT} {
		if err := Probe(ctx, t, fin); err != nil {
			return err
		}
	}
	return nil
}

// pairCerts loads the authentication certificates of the calling and the
// providing agency and the federation's root, which a plain pair between
// them uses as the Şlüz pair does.
func pairCerts(dir, caller, provider string) (clientCert, serverCert tls.Certificate, roots *x509.CertPool, err error) {
	if clientCert, err = tls.LoadX509KeyPair(filepath.Join(dir, caller, "auth.pem"), filepath.Join(dir, caller, "auth.key")); err != nil {
		return
	}
	if serverCert, err = tls.LoadX509KeyPair(filepath.Join(dir, provider, "auth.pem"), filepath.Join(dir, provider, "auth.key")); err != nil {
		return
	}
	root, err := pkiutil.ReadCertificate(filepath.Join(dir, "pki", pkiutil.FileRootCert))
	if err != nil {
		return
	}
	roots = x509.NewCertPool()
	roots.AddCert(root)
	return
}
