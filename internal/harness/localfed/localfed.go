// Package localfed runs a complete Şlüz federation on loopback for trying
// Şlüz out and for end-to-end tests: the federation PKI (CA, OCSP responder,
// time-stamp authority), the central registry loaded with the sample members
// DİN, ƏMDK and DSMF, and the signed global configuration security servers
// download. State lives in one directory and is reused on the next start.
//
// # Caveats
//
// It binds loopback addresses only and keeps every private key in its state
// directory: it is a demonstration and test harness, not a deployment.
package localfed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluz/sluz/configs"
	"github.com/sluz/sluz/internal/durable"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/store"
)

// Member is one sample agency of the local federation.
type Member struct {
	ID   string // X-Road member identifier
	Code string
	Name string // Azerbaijani display name
	Host string // DNS name in its authentication certificate
}

// Members are the sample agencies used across configs, tests and docs.
var Members = []Member{
	{ID: "AZ/GOV/DIN", Code: "DIN", Name: "Daxili İşlər Nazirliyi", Host: "ss.din.gov.az"},
	{ID: "AZ/GOV/EMDK", Code: "EMDK", Name: "Əmlak Məsələləri Dövlət Komitəsi", Host: "ss.emdk.gov.az"},
	{ID: "AZ/GOV/DSMF", Code: "DSMF", Name: "Dövlət Sosial Müdafiə Fondu", Host: "ss.dsmf.gov.az"},
}

// Files of the state directory besides the trust directory pki/ and one
// folder per member (sign.pem/.key, auth.pem/.key).
const (
	FileOperatorCert = "operator.pem" // the central operator's admin certificate
	FileOperatorKey  = "operator.key"
	FileAnchor       = "anchor.json" // configuration anchor for security servers
	FileDescription  = "federation.yaml"
)

// Options configures Start. Empty addresses take the documented defaults;
// "127.0.0.1:0" picks free ports (tests).
type Options struct {
	Dir         string // state directory; created on first start, reused after
	OCSPAddr    string // default pkiutil.DefaultOCSPAddr
	TSAAddr     string // default pkiutil.DefaultTSAAddr
	AdminAddr   string // registry admin API, default registry.DefaultAdminListen
	PublishAddr string // global configuration, default registry.DefaultPublishListen
	ISAddr      string // the sample provider information systems, default 127.0.0.1:9000
	// AnyPorts binds every listener to a free loopback port (tests).
	AnyPorts bool
	// External names agencies (by code) whose security server another
	// process runs; see Agency.External.
	External     []string
	Log          *slog.Logger
	ConfInterval time.Duration // how often the configuration client refreshes; default 10 s
}

// agencyAddrs are the sample security servers' default listeners
// (configs/securityserver-*.yaml): client proxy, service proxy.
var agencyAddrs = map[string][2]string{
	"DIN": {"127.0.0.1:8081", "127.0.0.1:5500"}, "EMDK": {"127.0.0.1:8082", "127.0.0.1:5501"}, "DSMF": {"127.0.0.1:8083", "127.0.0.1:5502"},
}

// Federation is a running local federation.
type Federation struct {
	Dir        string
	CA         *pkiutil.CA
	OCSPURL    string
	TSAURL     string
	AdminURL   string
	ConfURL    string
	Registry   *registry.Server
	Operator   *adminapi.Client
	ConfClient *globalconf.Client
	ISURL      string    // the sample provider information systems
	Agencies   []*Agency // DİN, ƏMDK, DSMF with their security servers
	LoadedNow  bool      // the sample federation was loaded by this start (not reused)
	loadEntry  uint64

	cancel context.CancelFunc
	done   []chan error
	// The security servers stop first, while the TSA still answers their
	// last time-stamp batch.
	agencyCtx    context.Context
	agencyCancel context.CancelFunc
	log          *slog.Logger
	svc          *pkiutil.Services
}

// Prepare creates the state directory's PKI and certificates if missing and
// returns the CA. It is idempotent.
func Prepare(dir string) (*pkiutil.CA, error) {
	pkiDir := filepath.Join(dir, "pki")
	ca, err := pkiutil.Open(pkiDir)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(pkiDir, pkiutil.FileFederation)); statErr == nil {
			return nil, fmt.Errorf("localfed: existing state in %s is unusable (%w): remove the directory to start afresh", dir, err)
		}
		if ca, err = pkiutil.Init(pkiutil.InitOptions{Dir: pkiDir}); err != nil {
			return nil, fmt.Errorf("localfed: %w", err)
		}
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	want := []struct {
		prefix string
		req    pkiutil.IssueRequest
	}{
		{filepath.Join("registry", "admin-tls"), pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, CommonName: "Şlüz registry", DNSNames: []string{"localhost"}, IPAddresses: loopback}},
		{"operator", pkiutil.IssueRequest{Profile: pkiutil.ProfileAdmin, CommonName: "Mərkəzi operator"}},
	}
	for _, m := range Members {
		want = append(want,
			struct {
				prefix string
				req    pkiutil.IssueRequest
			}{filepath.Join(m.Code, "sign"), pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: m.ID}},
			struct {
				prefix string
				req    pkiutil.IssueRequest
			}{filepath.Join(m.Code, "auth"), pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: m.ID, DNSNames: []string{m.Host, "localhost"}, IPAddresses: loopback}})
	}
	for _, w := range want {
		p := filepath.Join(dir, w.prefix)
		if _, err := os.Stat(p + ".pem"); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if _, _, err := ca.IssueToFiles(w.req, p+".pem", p+".key", false); err != nil {
			return nil, fmt.Errorf("localfed: %s: %w", w.prefix, err)
		}
	}
	return ca, nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// Start prepares the state and starts the trust services and the registry;
// on the first start it loads the sample federation through the operator API.
func Start(opts Options) (f *Federation, err error) {
	if opts.Dir == "" {
		return nil, errors.New("localfed: no state directory")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ca, err := Prepare(opts.Dir)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f = &Federation{Dir: opts.Dir, CA: ca, cancel: cancel}
	fed := f // f itself is nil after a failed return
	defer func() {
		if err != nil {
			fed.Close()
		}
	}()
	addrs := []string{orDefault(opts.OCSPAddr, pkiutil.DefaultOCSPAddr), orDefault(opts.TSAAddr, pkiutil.DefaultTSAAddr),
		orDefault(opts.AdminAddr, registry.DefaultAdminListen), orDefault(opts.PublishAddr, registry.DefaultPublishListen),
		orDefault(opts.ISAddr, "127.0.0.1:9000")}
	for _, m := range Members {
		addrs = append(addrs, agencyAddrs[m.Code][0], agencyAddrs[m.Code][1])
	}
	var lns []net.Listener
	for _, a := range addrs {
		if opts.AnyPorts {
			a = "127.0.0.1:0"
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("localfed: %w (another federation running? stop it, or pass other addresses)", err)
		}
		lns = append(lns, ln)
	}
	f.OCSPURL, f.TSAURL = "http://"+lns[0].Addr().String()+"/", "http://"+lns[1].Addr().String()+"/"
	f.AdminURL, f.ConfURL = "https://"+lns[2].Addr().String(), "http://"+lns[3].Addr().String()+registry.ConfPath
	f.ISURL = "http://" + lns[4].Addr().String()
	for i, m := range Members {
		f.Agencies = append(f.Agencies, &Agency{Member: m, clientLn: lns[5+2*i], serverLn: lns[6+2*i],
			ClientURL: "http://" + lns[5+2*i].Addr().String() + "/", External: slices.Contains(opts.External, m.Code)})
	}

	if f.svc, err = pkiutil.NewServices(ca, opts.Log.With("component", "pki")); err != nil {
		return nil, fmt.Errorf("localfed: %w", err)
	}
	f.goServe(func() error { return f.svc.Serve(ctx, lns[0], lns[1]) })

	cfg := f.registryConfig(lns[2], lns[3])
	if err := cfg.Provision(); err != nil {
		return nil, fmt.Errorf("localfed: registry config: %w", err)
	}
	if f.Registry, err = registry.New(cfg, opts.Log.With("component", "registry")); err != nil {
		return nil, fmt.Errorf("localfed: %w", err)
	}
	f.goServe(func() error { return f.Registry.Serve(ctx, lns[2], lns[3]) })
	if err := f.Registry.Anchor().Write(filepath.Join(f.Dir, FileAnchor)); err != nil {
		return nil, err
	}
	f.Operator, err = adminapi.NewClient(f.AdminURL, filepath.Join(f.Dir, FileOperatorCert), filepath.Join(f.Dir, FileOperatorKey),
		filepath.Join(f.Dir, "pki", pkiutil.FileRootCert))
	if err != nil {
		return nil, err
	}
	if len(f.Registry.Store().State().Members) == 0 {
		if err := f.loadSample(ctx); err != nil {
			return nil, err
		}
	}
	if err := f.reconcile(ctx); err != nil {
		return nil, err
	}
	isLn := lns[4]
	f.goServe(func() error { return serveIS(ctx, isLn) })
	f.agencyCtx, f.agencyCancel = context.WithCancel(ctx)
	f.log = opts.Log
	for _, a := range f.Agencies {
		if err := f.startAgency(f.agencyCtx, a, opts.Log); err != nil {
			return nil, err
		}
	}
	anchor, err := globalconf.LoadAnchor(filepath.Join(f.Dir, FileAnchor))
	if err != nil {
		return nil, err
	}
	interval := opts.ConfInterval
	if interval == 0 {
		interval = 10 * time.Second
	}
	f.ConfClient, err = globalconf.NewClient(globalconf.ClientOptions{Anchor: anchor, CachePath: filepath.Join(f.Dir, "globalconf-cache.xml"),
		Interval: interval, Logger: opts.Log.With("component", "confclient")})
	if err != nil {
		return nil, err
	}
	f.goServe(func() error { f.ConfClient.Run(ctx); return nil })
	return f, nil
}

func (f *Federation) goServe(fn func() error) {
	done := make(chan error, 1)
	f.done = append(f.done, done)
	go func() { done <- fn() }()
}

// registryConfig is configs/registry.yaml with paths into this state
// directory and the listeners actually bound.
func (f *Federation) registryConfig(admin, publish net.Listener) *registry.Config {
	p := func(parts ...string) string { return filepath.Join(append([]string{f.Dir}, parts...)...) }
	c := &registry.Config{
		Instance: f.CA.Federation.Instance,
		DataDir:  p("registry"),
		Signing:  registry.KeyPair{Cert: p("pki", pkiutil.FileConfigSigningCert), Key: p("pki", pkiutil.FileConfigSigningKey)},
		Publish:  registry.PublishConfig{Listen: publish.Addr().String(), URL: f.ConfURL},
	}
	c.Admin.Listen = admin.Addr().String()
	c.Admin.TLS = registry.KeyPair{Cert: p("registry", "admin-tls.pem"), Key: p("registry", "admin-tls.key")}
	c.Admin.OperatorRoots = []string{p("pki", pkiutil.FileRootCert)}
	c.Admin.OperatorIssuers = []string{p("pki", pkiutil.FileCACert)}
	return c
}

// loadSample loads configs/federation.yaml (embedded) through the operator
// API, the way a central operator would with `registry load`.
func (f *Federation) loadSample(ctx context.Context) error {
	data, err := configs.FS.ReadFile("federation.yaml")
	if err != nil {
		return err
	}
	// The sample names files as ${SLUZ_STATE:-../state}/...: here they live in f.Dir.
	abs, err := filepath.Abs(f.Dir)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(data), "${SLUZ_STATE:-../state}/", abs+"/")
	path := filepath.Join(f.Dir, FileDescription)
	if err := durable.WriteFile(path, []byte(text), 0o644, true); err != nil {
		return err
	}
	if err := writeDocs(f.Dir); err != nil { // its wsdl: and openapi: files
		return err
	}
	changes, err := registry.LoadDescription(path)
	if err != nil {
		return err
	}
	for i, c := range changes { // point the trust services at the addresses actually bound
		switch c := c.(type) {
		case store.AddCA:
			c.OCSPURLs = []string{f.OCSPURL}
			changes[i] = c
		case store.AddTSA:
			c.URL = f.TSAURL
			changes[i] = c
		}
	}
	req, err := adminapi.NewBatchRequest("sample-federation", changes)
	if err != nil {
		return err
	}
	var entry store.AuditEntry
	if err := f.Operator.Do(ctx, "POST", "/api/v1/batch", req, &entry); err != nil {
		return fmt.Errorf("localfed: loading the sample federation: %w", err)
	}
	f.LoadedNow, f.loadEntry = true, entry.Seq
	return nil
}

// Close stops everything and waits for it.
func (f *Federation) Close() error {
	// The checks' HTTP clients keep idle connections that would hold up the
	// servers' graceful shutdown.
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	var errs []error
	if f.agencyCancel != nil {
		f.agencyCancel()
		for _, a := range f.Agencies {
			if a.done != nil {
				errs = append(errs, <-a.done)
			}
		}
	}
	f.cancel()
	for _, d := range f.done {
		errs = append(errs, <-d)
	}
	if f.svc != nil {
		errs = append(errs, f.svc.Close())
	}
	if f.Registry != nil {
		errs = append(errs, f.Registry.Close())
	}
	for _, a := range f.Agencies {
		if a.Server != nil {
			errs = append(errs, a.Server.Close())
		}
	}
	return errors.Join(errs...)
}
