package securityserver

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/webui"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/rest"
)

// The agency administrator's web console, served below /console/ on the
// admin listener: status, services, access rights (with the callers
// refused for want of one), the message log and operational monitoring.
//
// Signing in: `securityserver console-link --config FILE` prints a one-time
// link signed with dataDir/console.key (whoever can read the data
// directory administers the server, as with `securityserver acl`). The
// admin listener is plain HTTP on loopback: the console answers loopback
// clients only. Access rights change through the same acl.Rules calls and
// checks as `securityserver acl grant/revoke` (a whole service, or for a
// REST service one endpoint: method and path), recorded with the signed-in
// administrator's name (the rule's "by", and the server's log).

//go:embed consolepages/*.html
var consolePages embed.FS

const consolePrefix = "/console"

// consoleNav is the security-server console's menu.
var consoleNav = []webui.NavItem{
	{Path: "/", Label: "nav.status"},
	{Path: "/services", Label: "nav.services"},
	{Path: "/access", Label: "nav.access"},
	{Path: "/messages", Label: "nav.messages"},
	{Path: "/opmon", Label: "nav.opmon"},
}

// console builds the console's handler.
func (s *Server) console() (http.Handler, error) {
	key, err := consoleKey(s.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	k := &webui.Kit{Prefix: consolePrefix, Title: "ss.title", Nav: consoleNav, Catalog: ConsoleLabels,
		Sessions:  &webui.Sessions{Verify: func(tok string) (string, time.Time, error) { return verifyConsoleToken(key, tok) }},
		LoginHelp: "ss.login.help", Log: s.log.With("component", "console")}
	if err := k.Parse(consolePages, "consolepages/*.html"); err != nil {
		return nil, err
	}
	c := &ssConsole{s: s, kit: k}
	m := k.Mux()
	m.Handle("GET /{$}", c.status)
	m.Handle("GET /services", c.services)
	m.Handle("GET /access", c.access)
	m.Handle("POST /access/grant", c.grant)
	m.Handle("POST /access/revoke", c.revoke)
	m.Handle("GET /messages", c.messages)
	m.Handle("GET /opmon", c.opmonPage)
	return m, nil
}

type ssConsole struct {
	s   *Server
	kit *webui.Kit
}

// rights are the server's own (openShared): dataDir/acl.db, or the
// database the nodes share with messageLog.storage: postgres.
func (c *ssConsole) rights() (acl.Rules, error) {
	if c.s.rules == nil {
		return nil, errors.New("the access rights are not open")
	}
	return c.s.rules, nil
}

// --- status

type certRow struct {
	Kind, Member       string
	ExpiresIn, OCSPAge string
	Bad                bool
}

type archiveRow struct {
	Name string
	Size int64
	Time time.Time
}

type statusData struct {
	Server, Ready             string
	ConfVersion               uint64
	ConfExpires               time.Time
	ConfErr                   string
	Certs                     []certRow
	Unstamped                 uint64
	OldestUnstamped           string
	LogStorage                string
	LogSize                   int64
	Archives                  []archiveRow
	ArchiveDir                string
	Lease                     bool
	OpmonStored, OpmonDropped uint64
}

func (c *ssConsole) status(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	s := c.s
	d := statusData{Server: s.cfg.Server.String(), Lease: s.lead.Held(), LogStorage: cmp.Or(s.cfg.MessageLog.Storage, "bbolt")}
	if err := s.Ready(); err != nil {
		d.Ready = err.Error()
	}
	if snap, err := s.conf.Current(); snap != nil && snap.Conf != nil {
		d.ConfVersion, d.ConfExpires = snap.Version, snap.Expires
		if err != nil {
			d.ConfErr = err.Error()
		}
	} else if err != nil {
		d.ConfErr = err.Error()
	}
	d.Certs = c.certRows()
	if s.mlog != nil {
		if first, last, oldest, err := s.mlog.PendingStored(); err == nil && first <= last {
			d.Unstamped, d.OldestUnstamped = last-first+1, time.Since(oldest).Round(time.Second).String()
		}
	}
	if s.blog != nil {
		if fi, err := os.Stat(filepath.Join(s.cfg.DataDir, FileMessageLog)); err == nil {
			d.LogSize = fi.Size()
		}
	}
	d.ArchiveDir = s.cfg.MessageLog.Archive.Dir
	if entries, err := os.ReadDir(d.ArchiveDir); err == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && !e.IsDir() && strings.HasSuffix(e.Name(), ".zip") {
				d.Archives = append(d.Archives, archiveRow{e.Name(), fi.Size(), fi.ModTime()})
			}
		}
		slices.SortFunc(d.Archives, func(a, b archiveRow) int { return b.Time.Compare(a.Time) })
		d.Archives = d.Archives[:min(len(d.Archives), 20)]
	}
	if s.opmon != nil {
		d.OpmonStored, d.OpmonDropped = s.opmon.Stored(), s.opmon.Dropped()
	}
	c.kit.Render(w, r, sess, http.StatusOK, "status", "nav.status", d)
}

// certRows reads the certificate and OCSP gauges the /metrics endpoint
// serves, so that the console and Prometheus never disagree.
func (c *ssConsole) certRows() []certRow {
	fams, err := c.s.metrics.reg.Gather()
	if err != nil {
		return nil
	}
	rows := map[string]*certRow{}
	var order []string
	for _, f := range fams {
		if f.GetName() != "sluz_certificate_expiry_seconds" && f.GetName() != "sluz_ocsp_response_age_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			var kind, member string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "certificate":
					kind = l.GetValue()
				case "member":
					member = l.GetValue()
				}
			}
			k := kind + " " + member
			row := rows[k]
			if row == nil {
				row = &certRow{Kind: kind, Member: member, OCSPAge: "—"}
				rows[k] = row
				order = append(order, k)
			}
			v := time.Duration(m.GetGauge().GetValue() * float64(time.Second))
			if f.GetName() == "sluz_certificate_expiry_seconds" {
				row.ExpiresIn, row.Bad = v.Round(time.Hour).String(), row.Bad || v < 30*24*time.Hour
			} else if m.GetGauge().GetValue() > 1e15 || v < 0 {
				row.OCSPAge, row.Bad = "∞", true
			} else {
				row.OCSPAge = v.Round(time.Second).String()
			}
		}
	}
	out := make([]certRow, 0, len(order))
	for _, k := range order {
		out = append(out, *rows[k])
	}
	return out
}

// --- services

type serviceRow struct {
	ID, URL, Timeout string
	Rights           int
}

func (c *ssConsole) services(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	var rules []acl.Rule
	if st, err := c.rights(); err == nil {
		rules, _ = st.List()
	}
	var rows []serviceRow
	for _, svc := range c.s.cfg.Services {
		row := serviceRow{ID: svc.ID.String(), URL: svc.URL, Timeout: time.Duration(svc.Timeout).String()}
		for _, rule := range rules {
			if rule.Service == svc.ID.WithoutVersion() {
				row.Rights++
			}
		}
		rows = append(rows, row)
	}
	c.kit.Render(w, r, sess, http.StatusOK, "services", "nav.services", rows)
}

// --- access rights

// RefusedCaller is one (service, client) pair the service proxy refused
// for want of an access right (Server.ServerProxy.AccessDenied).
type RefusedCaller struct {
	Service  identifier.ServiceID // without version
	Client   identifier.Client
	Times    int
	Last     time.Time
	Messages []string // their message ids, oldest first
}

// RefusedCallers gathers the AccessDenied refusals among operational
// monitoring records by service (any version) and client, most refused
// first.
func RefusedCallers(recs []opmon.Record) []*RefusedCaller {
	denied := message.Code(message.ServerProxy, message.AccessDenied)
	by := map[[2]string]*RefusedCaller{}
	var out []*RefusedCaller
	for i := range recs {
		r := &recs[i]
		if r.SecurityServerType != opmon.Producer || message.NormalizeCode(r.FaultCode) != denied {
			continue
		}
		svc, client := r.ServiceID().WithoutVersion(), r.ClientID()
		k := [2]string{svc.String(), client.String()}
		rc := by[k]
		if rc == nil {
			rc = &RefusedCaller{Service: svc, Client: client}
			by[k] = rc
			out = append(out, rc)
		}
		rc.Times++
		if at := time.UnixMilli(r.RequestInTs); at.After(rc.Last) {
			rc.Last = at
		}
		rc.Messages = append(rc.Messages, r.MessageID)
	}
	slices.SortStableFunc(out, func(a, b *RefusedCaller) int { return b.Times - a.Times })
	return out
}

// refusedDays is how far back the access page looks for refused callers.
const refusedDays = 7

type accessData struct {
	Rules    []acl.Rule
	Services []string
	Clients  []string // known clients and groups, for the grant form
	Methods  []string // HTTP methods an endpoint right may name
	Refused  []*RefusedCaller
	Err      string
}

func (c *ssConsole) access(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	st, err := c.rights()
	d := accessData{Methods: rest.Methods}
	if err == nil {
		d.Rules, err = st.List()
	}
	if err != nil {
		c.kit.Fail(w, r, sess, http.StatusInternalServerError, err)
		return
	}
	for _, svc := range c.s.cfg.Services {
		if id := svc.ID.WithoutVersion().String(); !slices.Contains(d.Services, id) {
			d.Services = append(d.Services, id)
		}
	}
	if snap, _ := c.s.conf.Current(); snap != nil && snap.Conf != nil {
		for _, m := range snap.Members {
			d.Clients = append(d.Clients, m.ID.String())
			for _, sub := range m.Subsystems {
				d.Clients = append(d.Clients, m.ID.Subsystem(sub).String())
			}
		}
		for _, g := range snap.Groups {
			d.Clients = append(d.Clients, acl.Subject{Group: g.ID}.String())
		}
	}
	if c.s.opmon != nil {
		c.s.opmon.Flush()
		res, err := c.s.opmon.Query(opmon.Query{From: time.Now().Add(-refusedDays * 24 * time.Hour)})
		if err != nil {
			d.Err = err.Error()
		}
		d.Refused = RefusedCallers(res.Records)
	}
	c.kit.Render(w, r, sess, http.StatusOK, "access", "nav.access", d)
}

// rule reads a grant or revoke form with the checks `securityserver acl`
// makes: a service identifier this server provides, a client or group,
// and for an endpoint right of a REST service its method and path.
func (c *ssConsole) rule(r *http.Request) (identifier.ServiceID, acl.Subject, *rest.Endpoint, error) {
	var sub acl.Subject
	svc, err := identifier.ParseService(strings.TrimSpace(r.PostFormValue("service")))
	if err != nil {
		return svc, sub, nil, err
	}
	conf, ok := c.s.cfg.ServiceFor(svc)
	if !ok {
		return svc, sub, nil, fmt.Errorf("service %s is not among the services this server provides", svc)
	}
	if sub, err = acl.ParseSubject(strings.TrimSpace(r.PostFormValue("client"))); err != nil {
		return svc, sub, nil, err
	}
	method, path := r.PostFormValue("method"), r.PostFormValue("path")
	if method == "" && path == "" {
		return svc, sub, nil, nil
	}
	if !conf.IsREST() {
		return svc, sub, nil, fmt.Errorf("service %s is a %s service: endpoint rights are for REST services", svc, conf.Type)
	}
	ep := &rest.Endpoint{Method: method, Path: path}
	return svc, sub, ep, acl.CheckEndpoint(*ep)
}

func (c *ssConsole) grant(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	c.change(w, r, sess, "access.granted", func(st acl.Rules, svc identifier.ServiceID, sub acl.Subject, ep *rest.Endpoint) error {
		by := sess.Actor + " [console]"
		var err error
		if ep != nil {
			_, err = st.GrantEndpoint(svc, *ep, sub, by, time.Now())
		} else {
			_, err = st.Grant(svc, sub, by, time.Now())
		}
		return err
	})
}

func (c *ssConsole) revoke(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	c.change(w, r, sess, "access.revoked", func(st acl.Rules, svc identifier.ServiceID, sub acl.Subject, ep *rest.Endpoint) error {
		if ep != nil {
			return st.Revoke(svc, sub, *ep)
		}
		return st.Revoke(svc, sub)
	})
}

func (c *ssConsole) change(w http.ResponseWriter, r *http.Request, sess *webui.Session, done string, apply func(acl.Rules, identifier.ServiceID, acl.Subject, *rest.Endpoint) error) {
	svc, sub, ep, err := c.rule(r)
	if err != nil {
		c.kit.Fail(w, r, sess, http.StatusBadRequest, err)
		return
	}
	st, err := c.rights()
	if err == nil {
		err = apply(st, svc, sub, ep)
	}
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, acl.ErrExists) || errors.Is(err, acl.ErrNotFound) {
			status = http.StatusConflict
		}
		c.kit.Fail(w, r, sess, status, err)
		return
	}
	what := svc.WithoutVersion().String()
	if ep != nil {
		what += " " + ep.Method + " " + ep.Path
	}
	c.s.log.Info("access rights changed in the console", "change", done, "service", what, "client", sub.String(), "by", sess.Actor)
	c.kit.Sessions.Flash(sess, c.kit.Text(r, done)+": "+sub.String()+" → "+what)
	http.Redirect(w, r, consolePrefix+"/access", http.StatusSeeOther)
}

// --- message log

// messageScanLimit caps the records one search returns.
const messageScanLimit = 200

type messageQuery struct {
	ID, Client, Service, From, To string
}

type exchangeRow struct {
	MessageID, RequestID, Client, Service string
	Time                                  time.Time
	Sides                                 []sideRow
	Asic                                  string // the /asic link of the exchange
}

type sideRow struct {
	Seq            uint64
	Side, Kind     string
	Time           time.Time
	Size           int
	Body           string // empty when only the digest is logged
	DigestOnly     bool
	AttachmentsNum int
}

type messagesData struct {
	Q         messageQuery
	Exchanges []exchangeRow
	Searched  bool
	Truncated bool
}

func (c *ssConsole) messages(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	q := r.URL.Query()
	d := messagesData{Q: messageQuery{ID: strings.TrimSpace(q.Get("id")), Client: strings.TrimSpace(q.Get("client")),
		Service: strings.TrimSpace(q.Get("service")), From: q.Get("from"), To: q.Get("to")}}
	d.Searched = d.Q != (messageQuery{})
	if !d.Searched {
		c.kit.Render(w, r, sess, http.StatusOK, "messages", "nav.messages", d)
		return
	}
	from, to, err := dayRange(d.Q.From, d.Q.To)
	if err != nil {
		c.kit.Fail(w, r, sess, http.StatusBadRequest, fmt.Errorf("%w: %s", err, c.kit.Text(r, "msg.baddate")))
		return
	}
	if c.s.mlog == nil || c.s.mlog.Closed() {
		c.kit.Fail(w, r, sess, http.StatusServiceUnavailable, errors.New("the message log is closed"))
		return
	}
	byReq := map[string]int{}
	err = c.s.mlog.Each(1, func(rec *messagelog.Record, _ []byte) error {
		switch {
		case d.Q.ID != "" && rec.MessageID != d.Q.ID,
			d.Q.Client != "" && !strings.Contains(rec.Client, d.Q.Client),
			d.Q.Service != "" && !strings.Contains(rec.Service, d.Q.Service),
			!from.IsZero() && rec.Time.Before(from),
			!to.IsZero() && !rec.Time.Before(to):
			return nil
		}
		key := rec.RequestID + "\x00" + rec.MessageID
		i, ok := byReq[key]
		if !ok {
			if len(d.Exchanges) >= messageScanLimit {
				d.Truncated = true
				return errStop
			}
			i = len(d.Exchanges)
			byReq[key] = i
			d.Exchanges = append(d.Exchanges, exchangeRow{MessageID: rec.MessageID, RequestID: rec.RequestID, Client: rec.Client,
				Service: rec.Service, Time: rec.Time, Asic: asicLink(rec)})
		}
		side := sideRow{Seq: rec.Seq, Side: rec.Side.String(), Kind: rec.Kind.String(), Time: rec.Time, Size: len(rec.Message),
			DigestOnly: rec.Message == nil, AttachmentsNum: len(rec.Attachments)}
		if rec.Message != nil {
			body := []rune(string(rec.Message))
			if len(body) > 4000 {
				body = append(body[:4000], '…')
			}
			side.Body = string(body)
		}
		d.Exchanges[i].Sides = append(d.Exchanges[i].Sides, side)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		c.kit.Fail(w, r, sess, http.StatusInternalServerError, err)
		return
	}
	slices.Reverse(d.Exchanges) // newest first
	c.kit.Render(w, r, sess, http.StatusOK, "messages", "nav.messages", d)
}

// asicLink is X-Road's /asic download of an exchange's containers.
func asicLink(rec *messagelog.Record) string {
	c, err := identifier.ParseClient(rec.Client)
	if err != nil {
		return ""
	}
	v := url.Values{"queryId": {rec.MessageID}, "xRoadInstance": {c.Instance}, "memberClass": {c.MemberClass}, "memberCode": {c.MemberCode}}
	if c.SubsystemCode != "" {
		v.Set("subsystemCode", c.SubsystemCode)
	}
	return "/asic?" + v.Encode()
}

// dayRange reads YYYY-MM-DD bounds: from the first day's start to the
// last day's end.
func dayRange(from, to string) (time.Time, time.Time, error) {
	var out [2]time.Time
	for i, v := range []string{from, to} {
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02", v, time.UTC)
		if err != nil {
			return out[0], out[1], fmt.Errorf("%q", v)
		}
		out[i] = t.Add(time.Duration(i) * 24 * time.Hour)
	}
	return out[0], out[1], nil
}
