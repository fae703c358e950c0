package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// Target names of the benchmark.
const (
	NameDirect = "direct"
	NamePlain  = "plain-pair"
	NameSluz   = "sluz-pair"
)

// Bench is the benchmark's three targets over one running local federation,
// all ending at the same provider IS:
//
//	direct      IS -> provider IS (the sample DİN handler)
//	plain-pair  IS -> reverse proxy -> mutual TLS 1.3 -> reverse proxy -> provider IS
//	sluz-pair   IS -> ƏMDK security server -> DİN security server -> provider IS
type Bench struct {
	Fed   *localfed.Federation
	Plain *PlainPair
	Query localfed.Query
	FIN   string
	// ProviderCode is the code of the query's provider agency (DİN); the
	// caller's is Query.From.
	ProviderCode string

	Direct, PlainT, Sluz *Target

	// With BenchOptions.Floors: the crypto and floor pairs (floor.go).
	Crypto, Floor   *PlainPair
	CryptoT, FloorT *Target

	// With BenchOptions.REST: a REST call (PR-REST) through the Şlüz pair
	// of its agencies and through a plain pair between them (rest.go).
	RESTPlain             *PlainPair
	RESTPlainT, RESTSluzT *Target
	// With BenchOptions.Sink or Attachment: the sink every target ends at.
	Sink    *AttachmentSink
	sinkSrv *http.Server
}

// Targets are the three targets in the benchmark's order.
func (b *Bench) Targets() []*Target { return []*Target{b.Direct, b.PlainT, b.Sluz} }

// BenchOptions configures StartBench.
type BenchOptions struct {
	Dir string       // the federation's state directory
	Log *slog.Logger // the federation's services; nil: localfed's default
	// ProxyLog receives the plain pair's errors (httputil.ReverseProxy
	// and http.Server); nil: discarded.
	ProxyLog *log.Logger
	// Floors also starts the crypto and floor pairs (floor.go), between
	// the same certificates and provider IS as the plain pair; the floor
	// pair's message logs go in Dir/floor.
	Floors bool
	// REST also starts the REST targets (rest.go).
	REST bool
	// Sink puts an AttachmentSink in front of the provider IS, for every
	// target (the provider's security server too); Attachment > 0 implies
	// it.
	Sink bool
	// Attachment, if positive, is the size of an attachment every request
	// carries (Request.WithAttachment).
	Attachment int64
}

// StartBench starts the local federation in opts.Dir (localfed.Start with
// free loopback ports) and the plain proxy pair, and probes every target
// once.
func StartBench(ctx context.Context, opts BenchOptions) (b *Bench, err error) {
	dir := opts.Dir
	fed, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true, Log: opts.Log})
	if err != nil {
		return nil, err
	}
	b = &Bench{Fed: fed, Query: localfed.Queries[0]}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	q := b.Query
	b.FIN = strings.TrimSuffix(strings.TrimPrefix(q.Body, "<fin>"), "</fin>")
	service, err := identifier.ParseService(q.Service)
	if err != nil {
		return nil, err
	}
	provider := agency(fed, service.Provider.MemberCode)
	caller := agency(fed, q.From)
	if provider == nil || caller == nil {
		return nil, fmt.Errorf("loadtest: the federation has no agency %s or %s", service.Provider.MemberCode, q.From)
	}
	b.ProviderCode = provider.Code
	svc, ok := provider.Config.ServiceFor(service)
	if !ok {
		return nil, fmt.Errorf("loadtest: %s provides no %s", provider.Code, service)
	}
	if opts.Sink || opts.Attachment > 0 {
		if svc.URL, err = b.startSink(svc.URL); err != nil {
			return nil, err
		}
		for i := range provider.Config.Services { // before any request: the provider's server reads it per request
			if provider.Config.Services[i].ID == svc.ID {
				provider.Config.Services[i].URL = svc.URL
			}
		}
	}
	// The plain pair uses the same two agencies' authentication
	// certificates and the federation's root as the Şlüz pair.
	clientCert, serverCert, roots, err := pairCerts(dir, caller.Code, provider.Code)
	if err != nil {
		return nil, err
	}
	if b.Plain, err = StartPlainPair(clientCert, serverCert, roots, provider.Host, svc.URL, opts.ProxyLog); err != nil {
		return nil, err
	}

	req, err := NewRequest(q)
	if err != nil {
		return nil, err
	}
	if opts.Attachment > 0 {
		req = req.WithAttachment(opts.Attachment)
	}
	b.Direct = &Target{Name: NameDirect, URL: svc.URL, Request: req, Check: &Check{}}
	b.PlainT = &Target{Name: NamePlain, URL: b.Plain.URL, Request: req, Check: &Check{}}
	b.Sluz = &Target{Name: NameSluz, URL: caller.ClientURL, Request: req, Check: &Check{Signed: true}}
	probe := b.Targets()
	if opts.Floors {
		logDir := filepath.Join(dir, "floor")
		if err := os.MkdirAll(logDir, 0o700); err != nil {
			return nil, err
		}
		if b.Crypto, err = StartFloorPair(clientCert, serverCert, roots, provider.Host, svc.URL, "", opts.ProxyLog); err != nil {
			return nil, err
		}
		if b.Floor, err = StartFloorPair(clientCert, serverCert, roots, provider.Host, svc.URL, logDir, opts.ProxyLog); err != nil {
			return nil, err
		}
		b.CryptoT = &Target{Name: NameCryptoPair, URL: b.Crypto.URL, Request: req, Check: &Check{}}
		b.FloorT = &Target{Name: NameFloorPair, URL: b.Floor.URL, Request: req, Check: &Check{}}
		probe = append(probe, b.CryptoT, b.FloorT)
	}
	for _, t := range probe {
		if err := Probe(ctx, t, b.FIN); err != nil {
			return nil, err
		}
	}
	if opts.REST {
		if err := b.startREST(ctx, dir, opts.ProxyLog); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// startSink starts an AttachmentSink in front of the provider IS at next
// on a free loopback port and returns its URL.
func (b *Bench) startSink(next string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	b.Sink = &AttachmentSink{Next: next, Client: NewClient(64)}
	b.sinkSrv = &http.Server{Handler: b.Sink, ReadHeaderTimeout: 10 * time.Second}
	go b.sinkSrv.Serve(ln)
	return "http://" + ln.Addr().String() + "/", nil
}

// Close stops the plain pair and the federation.
func (b *Bench) Close() error {
	var errs []error
	if b.sinkSrv != nil {
		errs = append(errs, b.sinkSrv.Close())
	}
	for _, p := range []*PlainPair{b.Plain, b.Crypto, b.Floor, b.RESTPlain} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if b.Fed != nil {
		errs = append(errs, b.Fed.Close())
	}
	return errors.Join(errs...)
}

func agency(f *localfed.Federation, code string) *localfed.Agency {
	for _, a := range f.Agencies {
		if a.Code == code {
			return a
		}
	}
	return nil
}

// Probe sends t one request, checks the answer fully (Check.Probe) and
// primes t.Check for the load.
func Probe(ctx context.Context, t *Target, fin string) error {
	client := t.Client
	if client == nil {
		client = NewClient(1)
		defer client.CloseIdleConnections()
	}
	id := NewIDPrefix() + "probe"
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := t.Request.HTTP(ctx, t.URL, t.Request.Append(nil, []byte(id)), []byte(id))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("loadtest: %s: %w", t.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("loadtest: %s: %w", t.Name, err)
	}
	if err := t.Request.CheckHeader(resp.Header, []byte(id), t.Check.Signed); err != nil {
		return fmt.Errorf("loadtest: %s (%s): %w", t.Name, t.URL, err)
	}
	if err := t.Check.Probe(resp.StatusCode, body, fin); err != nil {
		return fmt.Errorf("loadtest: %s (%s): %w", t.Name, t.URL, err)
	}
	if err := t.Check.Answer(resp.StatusCode, body, []byte(id)); err != nil {
		return fmt.Errorf("loadtest: %s (%s): %w", t.Name, t.URL, err)
	}
	return nil
}

// PlainPair is the floor any pair of security servers pays: two
// httputil.ReverseProxy in series, the client side taking plain HTTP and
// forwarding over mutually authenticated TLS 1.3 (keep-alive, HTTP/1.1 as
// between security servers) to the server side, which forwards to the
// provider IS. Nothing is parsed, signed, checked or logged.
type PlainPair struct {
	URL string // the client-side proxy, where an IS sends its requests

	clientSrv, serverSrv *http.Server
	clientTr, serverTr   *http.Transport
	wg                   sync.WaitGroup
	hooks                *pairHooks
}

// MessageLogs are the floor pair's client-side and server-side message
// logs (nil for the plain and crypto pairs).
func (p *PlainPair) MessageLogs() (client, server *messagelog.Log) {
	return p.hooks.logs[0], p.hooks.logs[1]
}

func wrap(w func(http.Handler) http.Handler, h http.Handler) http.Handler {
	if w == nil {
		return h
	}
	return w(h)
}

// StartPlainPair starts both proxies on free loopback ports. The server
// side presents serverCert and requires a client certificate chaining to
// roots; the client side presents clientCert and verifies the server's
// certificate for serverName against roots. Errors go to errLog (nil:
// discarded).
func StartPlainPair(clientCert, serverCert tls.Certificate, roots *x509.CertPool, serverName, providerURL string, errLog *log.Logger) (*PlainPair, error) {
	return startPair(clientCert, serverCert, roots, serverName, providerURL, errLog, nil)
}

// pairHooks turn the plain pair into the floor pair (floor.go): each
// side's handler wraps the reverse proxy, and each side's ModifyResponse
// sees the answer before it goes back. nil: the plain pair.
type pairHooks struct {
	client, server         func(http.Handler) http.Handler
	clientResp, serverResp func(*http.Response) error
	close                  func() error
	logs                   [2]*messagelog.Log // client side, server side
}

func startPair(clientCert, serverCert tls.Certificate, roots *x509.CertPool, serverName, providerURL string, errLog *log.Logger, hooks *pairHooks) (*PlainPair, error) {
	if hooks == nil {
		hooks = &pairHooks{}
	}
	provider, err := url.Parse(providerURL)
	if err != nil {
		return nil, err
	}
	clientLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	serverLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		clientLn.Close()
		return nil, err
	}
	p := &PlainPair{URL: "http://" + clientLn.Addr().String() + "/", hooks: hooks}
	pool := &bufferPool{}
	if errLog == nil {
		errLog = log.New(io.Discard, "", 0)
	}
	serverLog := log.New(errLog.Writer(), errLog.Prefix()+"server side: ", errLog.Flags())
	clientLog := log.New(errLog.Writer(), errLog.Prefix()+"client side: ", errLog.Flags())

	// Server side: TLS in, plain HTTP to the provider IS (as Şlüz's
	// providerClient: keep-alive, 64 idle connections).
	p.serverTr = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
	p.serverSrv = &http.Server{
		Handler: wrap(hooks.server, &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				u := *provider
				pr.Out.URL, pr.Out.Host = &u, ""
			},
			ModifyResponse: hooks.serverResp,
			Transport:      p.serverTr,
			BufferPool:     pool,
			ErrorLog:       serverLog,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          serverLog,
	}
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		MinVersion:   tls.VersionTLS13,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
	}

	// Client side: plain HTTP in, mutual TLS to the server side (as Şlüz's
	// peer client: keep-alive, 64 idle connections, HTTP/1.1).
	server, _ := url.Parse("https://" + serverLn.Addr().String())
	p.clientTr = &http.Transport{
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{clientCert},
			RootCAs:      roots,
			ServerName:   serverName,
			MinVersion:   tls.VersionTLS13,
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	p.clientSrv = &http.Server{
		Handler: wrap(hooks.client, &httputil.ReverseProxy{
			Rewrite:        func(pr *httputil.ProxyRequest) { pr.SetURL(server) },
			ModifyResponse: hooks.clientResp,
			Transport:      p.clientTr,
			BufferPool:     pool,
			ErrorLog:       clientLog,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          clientLog,
	}
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.serverSrv.Serve(tls.NewListener(serverLn, serverTLS)) }()
	go func() { defer p.wg.Done(); p.clientSrv.Serve(clientLn) }()
	return p, nil
}

// Close stops both proxies.
func (p *PlainPair) Close() error {
	err := errors.Join(p.clientSrv.Close(), p.serverSrv.Close())
	p.clientTr.CloseIdleConnections()
	p.serverTr.CloseIdleConnections()
	p.wg.Wait()
	if p.hooks.close != nil {
		err = errors.Join(err, p.hooks.close())
	}
	return err
}

// bufferPool lends httputil.ReverseProxy its copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
