package localfed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	"github.com/sluz/sluz/internal/harness/sampleis"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/rest"
)

// Agency is one sample member with its running security server.
type Agency struct {
	Member
	ClientURL  string                 // where its IS sends X-Road requests
	Server     *securityserver.Server // nil when External
	Config     *config.Config
	ConfigFile string // the configuration written for it in the state directory
	// External: the federation prepares this agency's server (configuration,
	// access rights, registration) but leaves running it to another process,
	// e.g. `securityserver serve --config ConfigFile` in a crash test.
	External bool

	clientLn, serverLn net.Listener
	cancel             context.CancelFunc // stops Server.Serve
	done               chan error         // Server.Serve's result
}

// grants are the sample access rights each provider's administrator sets:
// service, client, and for an endpoint right on a REST service its method
// and path. DSMF may not call DİN's getPersonByFin: the refused sample
// query; nor ƏMDK file a quarterly report with DSMF: the refused REST one.
// DİN files its staff's quarterly reports with DSMF as an insurer. DSMF
// may read ƏMDK's real-estate extracts and nothing else of that register.
var grants = map[string][][4]string{
	"DIN": {{"AZ/GOV/DIN/population/getPersonByFin", "AZ/GOV/EMDK/realestate"}},
	"EMDK": {{"AZ/GOV/EMDK/realestate/getLandOwnershipByFin", "AZ/GOV/DSMF/insurance"}, {"AZ/GOV/EMDK/realestate/getRealEstateExtract", "group:AZ/state-agencies"},
		{"AZ/GOV/EMDK/realestate/realEstateRegistry", "AZ/GOV/DIN/population"},
		{"AZ/GOV/EMDK/realestate/realEstateRegistry", "AZ/GOV/DSMF/insurance", "GET", "/extract/*"}},
	"DSMF": {{"AZ/GOV/DSMF/insurance/getInsuredPerson", "AZ/GOV/DIN/population"}, {"AZ/GOV/DSMF/insurance/submitQuarterlyReport", "AZ/GOV/DIN/population"},
		{"AZ/GOV/DSMF/insurance/insurerReports", "AZ/GOV/DIN/population"}},
}

// writeDocs puts the sample OpenAPI descriptions and WSDLs beside the
// written configurations, where their openapi: and wsdl: paths point.
func writeDocs(dir string) error {
	openapi, err := fs.Glob(configs.FS, "openapi/*")
	if err != nil {
		return err
	}
	wsdl, err := fs.Glob(configs.FS, "wsdl/*")
	if err != nil {
		return err
	}
	for _, name := range append(openapi, wsdl...) {
		data, err := configs.FS.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			return err
		}
		if err := durable.WriteFile(filepath.Join(dir, name), data, 0o644, true); err != nil {
			return err
		}
	}
	return nil
}

// startAgency writes the agency's security server configuration (the
// shipped sample with this state directory and the bound addresses), sets
// the sample access rights once, and starts the server.
func (f *Federation) startAgency(ctx context.Context, a *Agency, log *slog.Logger) error {
	low := strings.ToLower(a.Code)
	data, err := configs.FS.ReadFile("securityserver-" + low + ".yaml")
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(f.Dir)
	if err != nil {
		return err
	}
	def := agencyAddrs[a.Code]
	text := strings.ReplaceAll(string(data), "${SLUZ_STATE:-../state}/", abs+"/")
	text = strings.ReplaceAll(text, "listen: "+def[0], "listen: "+a.clientLn.Addr().String())
	text = strings.ReplaceAll(text, "listen: "+def[1], "listen: "+a.serverLn.Addr().String())
	text = strings.ReplaceAll(text, "http://127.0.0.1:9000", f.ISURL)
	path := filepath.Join(f.Dir, "securityserver-"+low+".yaml")
	if err := writeDocs(f.Dir); err != nil {
		return err
	}
	if err := durable.WriteFile(path, []byte(text), 0o644, true); err != nil {
		return err
	}
	if a.Config, err = config.Load(path); err != nil {
		return fmt.Errorf("localfed: %s: %w", a.Code, err)
	}
	if err := os.MkdirAll(a.Config.DataDir, 0o700); err != nil {
		return err
	}
	if err := grantRights(a); err != nil {
		return err
	}
	if a.External {
		// Another process will run this server on the same addresses.
		a.clientLn.Close()
		a.serverLn.Close()
		a.ConfigFile = path
		return nil
	}
	a.ConfigFile = path
	return f.serveAgency(ctx, a, log)
}

// grantRights grants a's sample access rights where its server reads them
// (the data directory, or its database on PostgreSQL) unless some are
// granted there already.
func grantRights(a *Agency) error {
	rights, err := securityserver.OpenACL(a.Config)
	if err != nil {
		return err
	}
	defer rights.Close()
	if existing, err := rights.List(); err == nil && len(existing) == 0 {
		for _, g := range grants[a.Code] {
			svc, _ := identifier.ParseService(g[0])
			sub, _ := acl.ParseSubject(g[1])
			if g[2] != "" {
				_, err = rights.GrantEndpoint(svc, rest.Endpoint{Method: g[2], Path: g[3]}, sub, "localfed", time.Now())
			} else {
				_, err = rights.Grant(svc, sub, "localfed", time.Now())
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// serveAgency starts a's security server on its listeners.
func (f *Federation) serveAgency(ctx context.Context, a *Agency, log *slog.Logger, opts ...securityserver.Option) (err error) {
	if a.Server, err = securityserver.New(a.Config, log.With("component", "securityserver", "server", a.Config.Server.String()), opts...); err != nil {
		return fmt.Errorf("localfed: %s security server: %w", a.Code, err)
	}
	ctx, a.cancel = context.WithCancel(ctx)
	a.done = make(chan error, 1)
	srv, done, clientLn, serverLn := a.Server, a.done, a.clientLn, a.serverLn
	go func() { done <- srv.Serve(ctx, clientLn, serverLn) }()
	return nil
}

// reconcile points the registry at the addresses actually bound (they
// differ from the sample's when ports were chosen freely or changed).
func (f *Federation) reconcile(ctx context.Context) error {
	st := f.Registry.Store().State()
	var changes []store.Change
	for _, ca := range st.Trust.ApprovedCAs {
		if !slices.Equal(ca.OCSPURLs, []string{f.OCSPURL}) {
			changes = append(changes, store.RemoveTrust{Kind: "ca", Name: ca.Name},
				store.AddCA{Name: ca.Name, Cert: pem(ca.Cert), Issuers: pem(ca.Issuers...), OCSPURLs: []string{f.OCSPURL}})
		}
	}
	for _, t := range st.Trust.TSAs {
		if t.URL != f.TSAURL {
			changes = append(changes, store.RemoveTrust{Kind: "tsa", Name: t.Name}, store.AddTSA{Name: t.Name, URL: f.TSAURL, Cert: pem(t.Cert)})
		}
	}
	for _, a := range f.Agencies {
		id, _ := identifier.ParseServer(a.ID + "/ss1")
		if srv := st.Servers[id.String()]; srv != nil && srv.Address != a.serverLn.Addr().String() {
			changes = append(changes, store.SetServerAddress{ID: id, Address: a.serverLn.Addr().String()})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	req, err := adminapi.NewBatchRequest("local-addresses", changes)
	if err != nil {
		return err
	}
	if err := f.Operator.Do(ctx, http.MethodPost, "/api/v1/batch", req, nil); err != nil {
		return fmt.Errorf("localfed: updating addresses in the registry: %w", err)
	}
	return nil
}

func pem(ders ...[]byte) string {
	var b strings.Builder
	for _, d := range ders {
		c, err := pkiutil.ParseCertificates(d)
		if err == nil {
			b.Write(pkiutil.EncodeCertificates(c...))
		}
	}
	return b.String()
}

// serveIS runs the sample provider information systems.
func serveIS(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: sampleis.NewMux(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
