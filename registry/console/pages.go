package console

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/webui"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
)

func sorted[V any](m map[string]V) []V {
	var out []V
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// memberName is the Azerbaijani display name of c's member.
func memberName(st *store.State, c identifier.Client) string {
	if m := st.Members[c.MemberID().String()]; m != nil {
		return m.Name
	}
	return ""
}

type overviewData struct {
	Conf                                                    *Published
	Members, Subsystems, Servers, Waiting, Services, Groups int
	ExpiresIn                                               string
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	st := c.opts.Store.State()
	d := overviewData{Members: len(st.Members), Services: len(st.Services), Groups: len(st.Groups)}
	for _, m := range st.Members {
		d.Subsystems += len(m.Subsystems)
	}
	for _, s := range st.Servers {
		if s.Approved {
			d.Servers++
		} else {
			d.Waiting++
		}
	}
	if pub := c.published(); len(pub) > 0 {
		d.Conf = &pub[0]
		d.ExpiresIn = time.Until(pub[0].Expires).Round(time.Second).String()
	}
	c.kit.Render(w, r, sess, http.StatusOK, "overview", "nav.overview", d)
}

func (c *Console) published() []Published {
	if c.opts.Published == nil {
		return nil
	}
	return c.opts.Published()
}

// certInfo is what a page shows of a certificate.
type certInfo struct {
	Subject, Issuer, Serial, SHA256 string
	NotAfter                        time.Time
	Expired                         bool
	Err                             string
}

func describeCert(der []byte) certInfo {
	sum := sha256.Sum256(der)
	ci := certInfo{SHA256: hex.EncodeToString(sum[:])}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		ci.Err = err.Error()
		return ci
	}
	ci.Subject, ci.Issuer, ci.NotAfter = cert.Subject.String(), cert.Issuer.String(), cert.NotAfter
	ci.Serial, ci.Expired = fmt.Sprintf("%X", cert.SerialNumber), time.Now().After(cert.NotAfter)
	return ci
}

type serverRow struct {
	ID, Owner, OwnerName, Address string
	Approved                      bool
	Clients                       []clientRow
	Certs                         []certInfo
}

type clientRow struct{ ID, Name string }

func serverRows(st *store.State, keep func(*store.Server) bool) []serverRow {
	var out []serverRow
	for _, s := range sorted(st.Servers) {
		if !keep(s) {
			continue
		}
		row := serverRow{ID: s.ID.String(), Owner: s.ID.Owner.String(), OwnerName: memberName(st, s.ID.Owner), Address: s.Address, Approved: s.Approved}
		for _, cl := range s.Clients {
			row.Clients = append(row.Clients, clientRow{cl.String(), memberName(st, cl)})
		}
		for _, der := range s.AuthCerts {
			row.Certs = append(row.Certs, describeCert(der))
		}
		out = append(out, row)
	}
	return out
}

func (c *Console) requests(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	rows := serverRows(c.opts.Store.State(), func(s *store.Server) bool { return !s.Approved })
	c.kit.Render(w, r, sess, http.StatusOK, "requests", "nav.requests", rows)
}

func (c *Console) servers(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	rows := serverRows(c.opts.Store.State(), func(*store.Server) bool { return true })
	c.kit.Render(w, r, sess, http.StatusOK, "servers", "nav.servers", rows)
}

// waitingServer parses the form's server and checks that it is still
// waiting: the console approves or declines requests, not servers in use.
func (c *Console) waitingServer(r *http.Request) (identifier.ServerID, error) {
	id, err := identifier.ParseServer(r.PostFormValue("id"))
	if err != nil {
		return id, err
	}
	s := c.opts.Store.State().Servers[id.String()]
	if s == nil || s.Approved {
		return id, fmt.Errorf("%s: %s", c.kit.Text(r, "requests.notwaiting"), id)
	}
	return id, nil
}

// approve and decline answer a registration request: approval publishes
// the server, declining removes it.
func (c *Console) approve(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	c.decide(w, r, sess, "requests.approved", func(id identifier.ServerID) (string, string, any) {
		return http.MethodPost, "/api/v1/servers/approve", store.ApproveServer{ID: id}
	})
}

func (c *Console) decline(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	c.decide(w, r, sess, "requests.declined", func(id identifier.ServerID) (string, string, any) {
		return http.MethodDelete, "/api/v1/servers/" + id.String(), nil
	})
}

func (c *Console) decide(w http.ResponseWriter, r *http.Request, sess *webui.Session, done string, call func(identifier.ServerID) (string, string, any)) {
	id, err := c.waitingServer(r)
	if err != nil {
		c.kit.Fail(w, r, sess, http.StatusBadRequest, err)
		return
	}
	method, path, body := call(id)
	c.act(w, r, sess, "/requests", c.kit.Text(r, done)+": "+id.String(), method, path, body)
}

type memberRow struct {
	ID, Name   string
	Subsystems []string
	Servers    []string
	Services   int
}

func (c *Console) members(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	st := c.opts.Store.State()
	var rows []memberRow
	for _, m := range sorted(st.Members) {
		row := memberRow{ID: m.ID.String(), Name: m.Name, Subsystems: slices.Sorted(slices.Values(m.Subsystems))}
		for _, s := range sorted(st.Servers) {
			if s.ID.Owner == m.ID {
				row.Servers = append(row.Servers, s.ID.ServerCode)
			}
		}
		for _, s := range st.Services {
			if s.ID.Provider.MemberID() == m.ID {
				row.Services++
			}
		}
		rows = append(rows, row)
	}
	c.kit.Render(w, r, sess, http.StatusOK, "members", "nav.members", rows)
}

type providerRow struct {
	Provider, Name string
	Services       []serviceRow
}

type serviceRow struct {
	ID, Code, Version, Description string
	DocType                        string // "WSDL", "OpenAPI" or "" (none)
}

func (c *Console) services(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	st := c.opts.Store.State()
	var rows []providerRow
	for _, s := range sorted(st.Services) {
		p := s.ID.Provider.String()
		if len(rows) == 0 || rows[len(rows)-1].Provider != p {
			rows = append(rows, providerRow{Provider: p, Name: memberName(st, s.ID.Provider)})
		}
		last := &rows[len(rows)-1]
		row := serviceRow{ID: s.ID.String(), Code: s.ID.ServiceCode, Version: s.ID.ServiceVersion, Description: s.Description}
		if s.Doc != nil {
			row.DocType = map[string]string{store.DocWSDL: "WSDL", store.DocOpenAPI: "OpenAPI"}[s.Doc.Type]
		}
		last.Services = append(last.Services, row)
	}
	c.kit.Render(w, r, sess, http.StatusOK, "services", "nav.services", rows)
}

// DocCSP is the Content-Security-Policy of a served description
// document: should a browser render it anyway, nothing in it runs.
const DocCSP = "sandbox; default-src 'none'"

// serviceDoc serves a service's WSDL or OpenAPI description as a file,
// never as a page: text/plain to view, or (?download) its own type as an
// attachment, named after the service; with nosniff (the kit's) and a
// sandboxing CSP.
func (c *Console) serviceDoc(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	id, err := identifier.ParseService(r.URL.Query().Get("id"))
	if err != nil {
		c.kit.Fail(w, r, sess, http.StatusBadRequest, err)
		return
	}
	s := c.opts.Store.State().Services[id.String()]
	if s == nil || s.Doc == nil {
		c.kit.Fail(w, r, sess, http.StatusNotFound, fmt.Errorf("%s: %s", c.kit.Text(r, "services.nodocument"), id))
		return
	}
	name, ctype := id.ServiceCode, "application/xml"
	if id.ServiceVersion != "" {
		name += "-" + id.ServiceVersion
	}
	switch {
	case s.Doc.Type == store.DocWSDL:
		name += ".wsdl"
	case strings.HasPrefix(strings.TrimSpace(s.Doc.Content), "{"):
		name, ctype = name+".json", "application/json"
	default:
		name, ctype = name+".yaml", "application/yaml"
	}
	disposition := "attachment"
	if !r.URL.Query().Has("download") {
		disposition, ctype = "inline", "text/plain; charset=utf-8"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": name}))
	h.Set("Content-Security-Policy", DocCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	io.WriteString(w, s.Doc.Content)
}

type groupRow struct {
	ID, Description string
	Members         []clientRow
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	st := c.opts.Store.State()
	var rows []groupRow
	for _, g := range sorted(st.Groups) {
		row := groupRow{ID: g.ID.String(), Description: g.Description}
		for _, m := range g.Members {
			row.Members = append(row.Members, clientRow{m.String(), memberName(st, m)})
		}
		rows = append(rows, row)
	}
	c.kit.Render(w, r, sess, http.StatusOK, "groups", "nav.groups", rows)
}

type trustData struct {
	CAs                          []caRow
	TSAs                         []tsaRow
	OCSPFreshness, ConfValidity  time.Duration
	OCSPSeconds, ValiditySeconds int
}

type caRow struct {
	Name     string
	Cert     certInfo
	Issuers  []certInfo
	OCSPURLs []string
}

type tsaRow struct {
	Name, URL string
	Cert      certInfo
}

func (c *Console) trust(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	t := c.opts.Store.State().Trust
	d := trustData{OCSPSeconds: t.OCSPFreshnessSeconds, ValiditySeconds: t.ConfValiditySeconds, OCSPFreshness: time.Duration(t.OCSPFreshnessSeconds) * time.Second, ConfValidity: time.Duration(t.ConfValiditySeconds) * time.Second}
	for _, ca := range t.ApprovedCAs {
		row := caRow{Name: ca.Name, Cert: describeCert(ca.Cert), OCSPURLs: ca.OCSPURLs}
		for _, der := range ca.Issuers {
			row.Issuers = append(row.Issuers, describeCert(der))
		}
		d.CAs = append(d.CAs, row)
	}
	for _, tsa := range t.TSAs {
		d.TSAs = append(d.TSAs, tsaRow{tsa.Name, tsa.URL, describeCert(tsa.Cert)})
	}
	c.kit.Render(w, r, sess, http.StatusOK, "trust", "nav.trust", d)
}

// trustSettings changes the OCSP freshness limit and the configuration
// validity (PUT /api/v1/trust/settings, as `registry trust settings`).
func (c *Console) trustSettings(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	var change store.SetTrustSettings
	for _, f := range []struct {
		name string
		dst  **int
	}{{"ocspFreshnessSeconds", &change.OCSPFreshnessSeconds}, {"confValiditySeconds", &change.ConfValiditySeconds}} {
		v := strings.TrimSpace(r.PostFormValue(f.name))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			c.kit.Fail(w, r, sess, http.StatusBadRequest, fmt.Errorf("%s %q: %s", f.name, v, c.kit.Text(r, "trust.badnumber")))
			return
		}
		*f.dst = &n
	}
	c.act(w, r, sess, "/trust", c.kit.Text(r, "trust.saved"), http.MethodPut, "/api/v1/trust/settings", change)
}

type confRow struct {
	Published
	Expired bool
}

func (c *Console) configurations(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	var rows []confRow
	now := time.Now()
	for _, p := range c.published() {
		rows = append(rows, confRow{p, now.After(p.Expires)})
	}
	c.kit.Render(w, r, sess, http.StatusOK, "configurations", "nav.configurations", rows)
}

// auditScan is how many of the newest audit entries the filters look at.
const auditScan = 10000

type auditData struct {
	Actor, Action, Text, From, To string
	Limit                         int
	Actions                       []string
	Entries                       []auditRow
	Scanned                       int
	Err                           string
}

type auditRow struct {
	store.AuditEntry
	ChangeText string
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	q := r.URL.Query()
	d := auditData{Actor: q.Get("actor"), Action: q.Get("action"), Text: q.Get("text"), From: q.Get("from"), To: q.Get("to"), Limit: 100}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > auditScan {
			c.kit.Fail(w, r, sess, http.StatusBadRequest, fmt.Errorf("limit %q: %s", v, c.kit.Text(r, "audit.badlimit")))
			return
		}
		d.Limit = n
	}
	var from, to time.Time
	for _, f := range []struct {
		v   string
		t   *time.Time
		add time.Duration
	}{{d.From, &from, 0}, {d.To, &to, 24 * time.Hour}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", f.v)
		if err != nil {
			c.kit.Fail(w, r, sess, http.StatusBadRequest, fmt.Errorf("%q: %s", f.v, c.kit.Text(r, "audit.baddate")))
			return
		}
		*f.t = t.Add(f.add)
	}
	entries, err := c.opts.Store.Audit(auditScan)
	if err != nil {
		c.kit.Fail(w, r, sess, http.StatusInternalServerError, err)
		return
	}
	d.Scanned = len(entries)
	seen := map[string]bool{}
	for _, e := range entries {
		if !seen[e.Action] {
			seen[e.Action] = true
			d.Actions = append(d.Actions, e.Action)
		}
		switch {
		case len(d.Entries) >= d.Limit,
			d.Actor != "" && !strings.Contains(strings.ToLower(e.Actor), strings.ToLower(d.Actor)),
			d.Action != "" && e.Action != d.Action,
			d.Text != "" && !strings.Contains(strings.ToLower(string(e.Change)), strings.ToLower(d.Text)),
			!from.IsZero() && e.Time.Before(from),
			!to.IsZero() && !e.Time.Before(to):
			continue
		}
		text := []rune(string(e.Change))
		if len(text) > 400 {
			text = append(text[:400], '…')
		}
		d.Entries = append(d.Entries, auditRow{e, string(text)})
	}
	slices.Sort(d.Actions)
	c.kit.Render(w, r, sess, http.StatusOK, "audit", "nav.audit", d)
}
