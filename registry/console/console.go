// Package console is the central operator's web console, served by
// `registry serve` below /console/ on the admin listener: members,
// subsystems, security servers and their clients, registration requests
// waiting for approval (approve or decline), the service catalogue (with
// each service's WSDL or OpenAPI description to view or download), global
// groups, trust settings, the configuration versions published and the
// audit trail.
//
// The console has no powers of its own: every change it makes is a call
// to the admin API's handler (adminapi.Server), in process, under the
// signed-in operator's name, so the API's checks, the re-publication of the
// global configuration and the audit trail are exactly those of
// `registry` on the command line.
//
// # Signing in
//
// A browser that holds the operator certificate signs in with it. Without
// one, `registry console-link` (which does hold it) asks POST
// /console/link for a one-time sign-in link and prints it.
//
// # Caveats
//
// By default only loopback clients reach the console (admin.consoleRemote
// opens it to others). Sessions live in memory: a restart signs everyone
// out.
package console

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/webui"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/store"
)

//go:embed pages/*.html
var pages embed.FS

// Prefix is where the console is mounted on the admin listener.
const Prefix = "/console"

// Published is one configuration version the registry published.
type Published struct {
	Version          uint64
	Created, Expires time.Time
	SHA256           string
}

// Options configures New.
type Options struct {
	API   *adminapi.Server // the admin API: every change goes through it
	Store *store.Store     // read for the pages
	// Published lists the versions published since start, newest first.
	Published func() []Published
	// Remote lets non-loopback clients reach the console.
	Remote bool
	Log    *slog.Logger
}

// Console serves the operator's pages.
type Console struct {
	opts Options
	kit  *webui.Kit
	api  http.Handler
	mux  *webui.Mux
}

// Nav is the console's menu, in order.
var Nav = []webui.NavItem{
	{Path: "/", Label: "nav.overview"},
	{Path: "/requests", Label: "nav.requests"},
	{Path: "/members", Label: "nav.members"},
	{Path: "/servers", Label: "nav.servers"},
	{Path: "/services", Label: "nav.services"},
	{Path: "/groups", Label: "nav.groups"},
	{Path: "/trust", Label: "nav.trust"},
	{Path: "/configurations", Label: "nav.configurations"},
	{Path: "/audit", Label: "nav.audit"},
}

// New builds the console.
func New(opts Options) (*Console, error) {
	if opts.API == nil || opts.Store == nil {
		return nil, errors.New("console: the admin API and the store are required")
	}
	c := &Console{opts: opts, api: opts.API.Handler()}
	c.kit = &webui.Kit{Prefix: Prefix, Title: "console.title", Nav: Nav, Catalog: Labels,
		Authenticate: opts.API.Authenticate, Sessions: &webui.Sessions{}, Remote: opts.Remote,
		LoginHelp: "login.help", Log: opts.Log}
	if err := c.kit.Parse(pages, "pages/*.html"); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	m := c.kit.Mux()
	m.Handle("GET /{$}", c.overview)
	m.Handle("GET /requests", c.requests)
	m.Handle("POST /requests/approve", c.approve)
	m.Handle("POST /requests/decline", c.decline)
	m.Handle("GET /members", c.members)
	m.Handle("GET /servers", c.servers)
	m.Handle("GET /services", c.services)
	m.Handle("GET /services/doc", c.serviceDoc)
	m.Handle("GET /groups", c.groups)
	m.Handle("GET /trust", c.trust)
	m.Handle("POST /trust/settings", c.trustSettings)
	m.Handle("GET /configurations", c.configurations)
	m.Handle("GET /audit", c.audit)
	c.mux = m
	return c, nil
}

// Kit is the console's web kit (tests walk its pages and labels).
func (c *Console) Kit() *webui.Kit { return c.kit }

// ServeHTTP serves the console's pages and POST /console/link.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == Prefix+"/link" && r.Method == http.MethodPost {
		c.link(w, r)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// LinkResponse is the answer of POST /console/link.
type LinkResponse struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// link mints a one-time sign-in link for the operator whose certificate
// came with the request (the CLI's `registry console-link`). The link is
// only in the response, which another site cannot read.
func (c *Console) link(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	actor, err := c.opts.API.Authenticate(r)
	if err != nil {
		w.WriteHeader(http.StatusForbidden)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	tok := c.kit.Sessions.NewLoginToken(actor)
	u := url.URL{Scheme: "https", Host: r.Host, Path: Prefix + "/login", RawQuery: url.Values{"token": {tok}}.Encode()}
	json.NewEncoder(w).Encode(LinkResponse{URL: u.String(), Expires: time.Now().Add(webui.DefaultLoginTokenTTL).UTC()})
}

// call makes one admin API call in process as the session's operator and
// returns the API's refusal, if any.
func (c *Console) call(ctx context.Context, sess *webui.Session, method, path string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(adminapi.AsActor(ctx, sess.Actor+" [console]"), method, path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	rec := &recorder{header: http.Header{}}
	c.api.ServeHTTP(rec, req)
	if rec.status >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rec.body.Bytes(), &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(rec.body.String())
		}
		return &adminapi.APIError{Status: rec.status, Message: e.Error}
	}
	return nil
}

// recorder keeps the in-process API answer.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// act runs a change and returns to back with the outcome shown.
func (c *Console) act(w http.ResponseWriter, r *http.Request, sess *webui.Session, back, done string, method, path string, body any) {
	if err := c.call(r.Context(), sess, method, path, body); err != nil {
		var ae *adminapi.APIError
		status := http.StatusInternalServerError
		if errors.As(err, &ae) {
			status = ae.Status
			err = errors.New(ae.Message)
		}
		c.kit.Fail(w, r, sess, status, err)
		return
	}
	c.kit.Sessions.Flash(sess, done)
	http.Redirect(w, r, Prefix+back, http.StatusSeeOther)
}
