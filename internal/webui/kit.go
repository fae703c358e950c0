package webui

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed assets layout.html login.html error.html
var files embed.FS

// ContentSecurityPolicy is sent with every response: no script at all,
// styles and images from the console itself only, forms posting back to it,
// no framing.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// NavItem is an entry of the console's menu.
type NavItem struct {
	Path  string // below the prefix, e.g. "/members"
	Label string // catalogue key
}

// Kit serves a console's pages below Prefix.
type Kit struct {
	// Prefix is where the console is mounted, e.g. "/console".
	Prefix string
	// Title is the catalogue key of the console's name.
	Title string
	// Nav is the menu, in order.
	Nav []NavItem
	// Catalog holds the console's labels; the kit's own are added by Parse.
	Catalog Catalog
	// Authenticate names the operator whose client certificate came with r
	// (its audit name), or refuses it. Nil: certificate sign-in is off.
	Authenticate func(r *http.Request) (string, error)
	// Sessions keeps the signed-in operators.
	Sessions *Sessions
	// Remote lets non-loopback clients reach the console; false (the
	// default) answers them with 403.
	Remote bool
	// LoginHelp is the catalogue key of the login page's paragraph on how
	// to get a one-time link.
	LoginHelp string
	Log       *slog.Logger

	pages map[string]*template.Template
}

// Page is what every template gets as its dot.
type Page struct {
	Kit    *Kit
	Lang   Lang
	Title  string // catalogue key
	Path   string // the request path below the prefix
	Query  string // the request's raw query without lang
	Actor  string // empty on the login page
	CSRF   string
	Flash  string
	Status int
	Data   any
}

// T returns the label key in the page's language.
func (p *Page) T(key string) string {
	if t, ok := p.Kit.Catalog[key]; ok {
		if s := t.In(p.Lang); s != "" {
			return s
		}
	}
	return MissingLabel + key + "⟧"
}

// URL returns the console-absolute path of p.
func (p *Page) URL(rel string) string { return p.Kit.Prefix + rel }

// Other lists the languages the switch offers besides the page's.
func (p *Page) Other() []Lang {
	return slices.DeleteFunc(slices.Clone(Langs), func(l Lang) bool { return l == p.Lang })
}

// Switch is the link that shows this page in l.
func (p *Page) Switch(l Lang) string {
	q := p.Query
	if q != "" {
		q += "&"
	}
	return p.Kit.Prefix + p.Path + "?" + q + "lang=" + string(l)
}

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join": strings.Join,
	"str":  func(v fmt.Stringer) string { return v.String() },
}

// Parse builds the pages from the console's templates in fsys: each file
// matched by pattern is a page named by its base name without ".html",
// which defines "content" (and may define "head").
func (k *Kit) Parse(fsys fs.FS, pattern string) error {
	k.Catalog = kitLabels.Merge(k.Catalog)
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "layout.html")
	if err != nil {
		return fmt.Errorf("webui: %w", err)
	}
	k.pages = map[string]*template.Template{}
	add := func(fsys fs.FS, name string) error {
		t, err := template.Must(base.Clone()).ParseFS(fsys, name)
		if err != nil {
			return fmt.Errorf("webui: page %s: %w", name, err)
		}
		k.pages[strings.TrimSuffix(path.Base(name), ".html")] = t
		return nil
	}
	for _, n := range []string{"login.html", "error.html"} {
		if err := add(files, n); err != nil {
			return err
		}
	}
	names, err := fs.Glob(fsys, pattern)
	if err != nil || len(names) == 0 {
		return fmt.Errorf("webui: no pages match %q (%v)", pattern, err)
	}
	for _, n := range names {
		if err := add(fsys, n); err != nil {
			return err
		}
	}
	return nil
}

// Render writes page name with data.
func (k *Kit) Render(w http.ResponseWriter, r *http.Request, sess *Session, status int, name, title string, data any) {
	t := k.pages[name]
	if t == nil {
		k.log().Error("console page missing", "page", name)
		http.Error(w, "console page "+name+" is missing", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	q.Del("lang")
	p := &Page{Kit: k, Lang: Choose(r), Title: title, Path: strings.TrimPrefix(r.URL.Path, k.Prefix), Query: q.Encode(), Status: status, Data: data}
	if sess != nil {
		p.Actor, p.CSRF, p.Flash = sess.Actor, sess.CSRF, k.Sessions.takeFlash(sess)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		k.log().Error("console page failed", "page", name, "err", err)
		http.Error(w, "console page "+name+" failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Fail shows err to the operator with status.
func (k *Kit) Fail(w http.ResponseWriter, r *http.Request, sess *Session, status int, err error) {
	k.Render(w, r, sess, status, "error", "error.title", err.Error())
}

func (k *Kit) log() *slog.Logger {
	if k.Log != nil {
		return k.Log
	}
	return slog.Default()
}

// Handler is a console page or action, run for a signed-in operator.
type Handler func(w http.ResponseWriter, r *http.Request, sess *Session)

// Mux is the console's routes; build it with Kit.Mux, add pages with Handle.
type Mux struct {
	k   *Kit
	mux *http.ServeMux
}

// Mux returns the console's routes with the kit's own (login, logout,
// stylesheet) in place.
func (k *Kit) Mux() *Mux {
	m := &Mux{k: k, mux: http.NewServeMux()}
	static, _ := fs.Sub(files, "assets")
	m.mux.Handle("GET "+k.Prefix+"/static/", http.StripPrefix(k.Prefix+"/static/", http.FileServerFS(static)))
	m.mux.HandleFunc("GET "+k.Prefix+"/login", k.loginPage)
	m.mux.HandleFunc("POST "+k.Prefix+"/login", k.certLogin)
	m.Handle("POST /logout", func(w http.ResponseWriter, r *http.Request, sess *Session) {
		k.Sessions.End(sess)
		clearSessionCookie(w, r)
		http.Redirect(w, r, k.Prefix+"/login", http.StatusSeeOther)
	})
	m.mux.HandleFunc(k.Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		sess := k.Sessions.Get(r)
		if sess == nil {
			http.Redirect(w, r, k.Prefix+"/login", http.StatusSeeOther)
			return
		}
		k.Fail(w, r, sess, http.StatusNotFound, fmt.Errorf("%s: %s", k.Text(r, "error.notfound"), r.URL.Path))
	})
	return m
}

// Handle adds a route: pattern is "METHOD /path" below the prefix. POST
// routes check the CSRF token and the origin before h runs.
func (m *Mux) Handle(pattern string, h Handler) {
	method, p, _ := strings.Cut(pattern, " ")
	k := m.k
	m.mux.HandleFunc(method+" "+k.Prefix+p, func(w http.ResponseWriter, r *http.Request) {
		sess := k.Sessions.Get(r)
		if sess == nil {
			if method == http.MethodGet {
				http.Redirect(w, r, k.Prefix+"/login", http.StatusSeeOther)
				return
			}
			k.Fail(w, r, nil, http.StatusForbidden, errors.New(k.Text(r, "error.nosession")))
			return
		}
		if method != http.MethodGet && method != http.MethodHead {
			if err := k.checkPost(r, sess); err != nil {
				k.log().Warn("console refused a POST", "path", r.URL.Path, "actor", sess.Actor, "remote", r.RemoteAddr, "err", err)
				k.Fail(w, r, sess, http.StatusForbidden, err)
				return
			}
		}
		h(w, r, sess)
	})
}

// ServeHTTP serves the console: security headers, the local-only check
// and the language switch come first.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := m.k
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make the browser send Origin: null
	h.Set("Cache-Control", "no-store")
	if !k.Remote && !loopback(r.RemoteAddr) {
		http.Error(w, "the console answers only local connections (console.remote is off)", http.StatusForbidden)
		return
	}
	if l := r.URL.Query().Get("lang"); l != "" && r.Method == http.MethodGet {
		if slices.Contains(Langs, Lang(l)) {
			http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: l, Path: k.Prefix, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600})
		}
		q := r.URL.Query()
		q.Del("lang")
		// Back to the same page, and only to a page of the console: a path
		// such as "//evil.example/x" would be another host to the browser.
		path := r.URL.Path
		if !strings.HasPrefix(path, k.Prefix) || strings.HasPrefix(path, "//") || strings.Contains(path, "\\") {
			path = k.Prefix
		}
		u := url.URL{Path: path, RawQuery: q.Encode()}
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	m.mux.ServeHTTP(w, r)
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Text returns the label key in the language r asks for.
func (k *Kit) Text(r *http.Request, key string) string {
	return (&Page{Kit: k, Lang: Choose(r)}).T(key)
}

// checkPost refuses a POST that another site could have sent: it must come
// from the console's own origin (Sec-Fetch-Site and Origin, when the
// browser sends them) and carry the session's CSRF token.
func (k *Kit) checkPost(r *http.Request, sess *Session) error {
	if err := sameOrigin(r); err != nil {
		return fmt.Errorf("%s (%w)", k.Text(r, "error.csrf"), err)
	}
	got := r.PostFormValue("csrf")
	if sess == nil || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) != 1 {
		return errors.New(k.Text(r, "error.csrf") + " (the form's token does not match this session)")
	}
	return nil
}

func sameOrigin(r *http.Request) error {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return fmt.Errorf("Sec-Fetch-Site is %s", s)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return fmt.Errorf("the request came from %s, not from %s", o, r.Host)
		}
	}
	return nil
}

type loginData struct {
	Cert  string // the CN a presented certificate names
	Error string
}

func (k *Kit) loginPage(w http.ResponseWriter, r *http.Request) {
	if tok := r.URL.Query().Get("token"); tok != "" {
		sess, ok := k.Sessions.Redeem(tok)
		if !ok {
			k.Render(w, r, nil, http.StatusForbidden, "login", "login.title", loginData{Error: k.Text(r, "login.badtoken")})
			return
		}
		k.log().Info("console sign-in", "actor", sess.Actor, "by", "one-time link", "remote", r.RemoteAddr)
		setSessionCookie(w, r, sess)
		http.Redirect(w, r, k.Prefix+"/", http.StatusSeeOther)
		return
	}
	var d loginData
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && k.Authenticate != nil {
		d.Cert = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	k.Render(w, r, k.Sessions.Get(r), http.StatusOK, "login", "login.title", d)
}

func (k *Kit) certLogin(w http.ResponseWriter, r *http.Request) {
	fail := func(err error) {
		k.Render(w, r, nil, http.StatusForbidden, "login", "login.title", loginData{Error: err.Error()})
	}
	if err := sameOrigin(r); err != nil {
		fail(fmt.Errorf("%s (%w)", k.Text(r, "error.csrf"), err))
		return
	}
	if k.Authenticate == nil {
		fail(errors.New(k.Text(r, "login.nocert")))
		return
	}
	actor, err := k.Authenticate(r)
	if err != nil {
		fail(err)
		return
	}
	sess := k.Sessions.Start(actor)
	k.log().Info("console sign-in", "actor", actor, "by", "client certificate", "remote", r.RemoteAddr)
	setSessionCookie(w, r, sess)
	http.Redirect(w, r, k.Prefix+"/", http.StatusSeeOther)
}
