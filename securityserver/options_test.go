package securityserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
)

// startExtra runs a second security server for ƏMDK beside the federation's,
// from a copy of its configuration changed by edit, and returns its client
// proxy address.
func startExtra(t *testing.T, e *e2eEnv, edit func(*config.Config), opts ...securityserver.Option) string {
	t.Helper()
	return startExtraServer(t, e, edit, nil, opts...)
}

// startExtraServer is startExtra that also hands back the server.
func startExtraServer(t *testing.T, e *e2eEnv, edit func(*config.Config), out **securityserver.Server, opts ...securityserver.Option) string {
	t.Helper()
	src := e.agency("EMDK").Config
	cfg := *src
	cfg.DataDir = filepath.Join(t.TempDir(), "ss") // its own configuration cache and access rights
	cfg.ClientProxy.Listen, cfg.ServerProxy.Listen = "127.0.0.1:0", "127.0.0.1:0"
	if edit != nil {
		edit(&cfg)
	}
	srv, err := securityserver.New(&cfg, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		*out = srv
	}
	clientLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serverLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, clientLn, serverLn) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return clientLn.Addr().String()
}

// TestExpiredConfiguration: a server whose clock is past the global
// configuration's expiry refuses to send, with the X-Road fault for it.
func TestExpiredConfiguration(t *testing.T) {
	e := e2eNew(t)
	later := func() time.Time { return time.Now().Add(3 * time.Hour) } // the sample configuration is valid for 1 h
	addr := startExtra(t, e, nil, securityserver.WithClock(later))
	req := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
	r := e2eDo(t, http.MethodPost, "http://"+addr+"/", "text/xml; charset=UTF-8", req)
	f := e2eWantFault(t, r, message.Code(message.ClientProxy, message.OutdatedGlobalConf))
	e2eContains(t, f, "no valid global configuration")
	e.expectCalls(t, "DIN", 0)
}

// TestClientProxyTLS: with clientProxy.tls the client proxy speaks HTTPS and
// admits only information systems with a certificate of its client CA.
func TestClientProxyTLS(t *testing.T) {
	e := e2eNew(t)
	dir := t.TempDir()
	isCA, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "is-ca")}) // the agency's own CA for its systems
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string, req pkiutil.IssueRequest) (string, string) {
		p := filepath.Join(dir, name)
		if _, _, err := isCA.IssueToFiles(req, p+".pem", p+".key", false); err != nil {
			t.Fatal(err)
		}
		return p + ".pem", p + ".key"
	}
	srvCert, srvKey := issue("proxy-tls", pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
	isCert, isKey := issue("emdk-is", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "ƏMDK reyestr sistemi"})
	addr := startExtra(t, e, func(c *config.Config) {
		c.ClientProxy.TLS = &config.ClientTLS{KeyPair: config.KeyPair{Cert: srvCert, Key: srvKey}, ClientCAs: []string{filepath.Join(isCA.Dir, pkiutil.FileRootCert)}}
	})
	roots := x509.NewCertPool()
	roots.AddCert(isCA.Root)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: e2eTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	req := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
	post := func(hc *http.Client, body []byte) (*http.Response, error) {
		return hc.Post("https://"+addr+"/", "text/xml; charset=UTF-8", strings.NewReader(string(body)))
	}
	// Without a certificate the TLS handshake is refused.
	if resp, err := post(client(), req); err == nil {
		resp.Body.Close()
		t.Fatal("the client proxy answered an IS without a client certificate")
	}
	// A certificate of another CA (the federation's operator) is refused too.
	other, err := tls.LoadX509KeyPair(filepath.Join(e.f.Dir, "operator.pem"), filepath.Join(e.f.Dir, "operator.key"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := post(client(other), req); err == nil {
		resp.Body.Close()
		t.Fatal("the client proxy answered an IS certificate of another CA")
	}
	// The agency's IS certificate gets the answer.
	pair, err := tls.LoadX509KeyPair(isCert, isKey)
	if err != nil {
		t.Fatal(err)
	}
	hreq, _ := http.NewRequest(http.MethodPost, "https://"+addr+"/", strings.NewReader(string(req)))
	hreq.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	e2eWantAnswer(t, e2eSend(t, client(pair), hreq), req)
}
