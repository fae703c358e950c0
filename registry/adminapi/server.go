// Package adminapi is the central operator's HTTP JSON API over the registry
// store, served over TLS and authenticated by the operator's client
// certificate (pkiutil profile "admin"). openapi.yaml beside this file
// documents it.
//
// Every change is validated by the store and recorded in its audit trail
// under the operator's certificate subject and serial; a refused change gets a
// 4xx with {"error": "..."} and leaves the store unchanged.
//
// # Caveats
//
// Mount the handler only on a TLS listener whose tls.Config requests client
// certificates (see TLSConfig); on plain HTTP every call is refused.
package adminapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
)

// DefaultMaxBody caps request bodies (a batch loading a whole federation
// with certificates fits easily).
const DefaultMaxBody = 4 << 20

// Server serves the admin API.
type Server struct {
	Store *store.Store
	// Roots and Intermediates verify operator certificates.
	Roots, Intermediates *x509.CertPool
	// Operators, when non-empty, lists the SHA-256 fingerprints (hex) of the
	// only certificates allowed in; otherwise any admin-profile certificate
	// of the federation CA is.
	Operators []string
	// OnChange runs after each accepted change (the registry re-publishes
	// the global configuration). Its error is reported to the caller.
	OnChange func() error
	// Status reports the published configuration for GET /api/v1/configuration.
	Status  func() any
	MaxBody int64 // zero means DefaultMaxBody
	Log     *slog.Logger
	// Observe, when set, is told every call's method and HTTP status (metrics).
	Observe func(method string, status int)
}

// TLSConfig returns a server TLS configuration that asks for (but leaves the
// verification of) client certificates to the handler, so refusals get a
// clear JSON message instead of a bare handshake failure.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

type apiError struct {
	status int
	err    error // the message, wrapping what %w gave errorf
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

// errorf is an error answered with status; a %w argument stays its cause.
func errorf(status int, format string, a ...any) error {
	return &apiError{status, fmt.Errorf(format, a...)}
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(r *http.Request, actor string) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, fn) })
	}
	change := func(pattern string, mk func(r *http.Request) (store.Change, error)) {
		h(pattern, func(r *http.Request, actor string) (any, error) {
			c, err := mk(r)
			if err != nil {
				return nil, err
			}
			return s.apply(actor, c)
		})
	}
	body := func(action string) func(r *http.Request) (store.Change, error) {
		return func(r *http.Request) (store.Change, error) {
			raw, err := s.readJSON(r)
			if err != nil {
				return nil, err
			}
			return store.DecodeChange(action, raw)
		}
	}
	st := func() *store.State { return s.Store.State() }

	h("GET /api/v1/state", func(*http.Request, string) (any, error) { return st(), nil })
	h("GET /api/v1/members", func(*http.Request, string) (any, error) { return values(st().Members), nil })
	h("GET /api/v1/members/{id...}", func(r *http.Request, _ string) (any, error) {
		id, err := identifier.ParseMember(r.PathValue("id"))
		if err != nil {
			return nil, errorf(400, "%w", err)
		}
		return memberDetail(st(), id)
	})
	change("POST /api/v1/members", body("member.add"))
	change("DELETE /api/v1/members/{id...}", func(r *http.Request) (store.Change, error) {
		id, err := identifier.ParseMember(r.PathValue("id"))
		return store.RemoveMember{ID: id}, badRequest(err)
	})
	change("POST /api/v1/memberclasses", body("memberclass.add"))
	change("POST /api/v1/subsystems", body("subsystem.add"))
	change("DELETE /api/v1/subsystems/{id...}", func(r *http.Request) (store.Change, error) {
		id, err := identifier.ParseSubsystem(r.PathValue("id"))
		return store.RemoveSubsystem{ID: id}, badRequest(err)
	})
	h("GET /api/v1/servers", func(*http.Request, string) (any, error) { return values(st().Servers), nil })
	change("POST /api/v1/servers", body("server.add"))
	change("POST /api/v1/servers/approve", body("server.approve"))
	change("POST /api/v1/servers/address", body("server.address"))
	change("POST /api/v1/servers/clients", body("server.client.add"))
	change("POST /api/v1/servers/clients/remove", body("server.client.remove"))
	change("DELETE /api/v1/servers/{id...}", func(r *http.Request) (store.Change, error) {
		id, err := identifier.ParseServer(r.PathValue("id"))
		return store.RemoveServer{ID: id}, badRequest(err)
	})
	h("GET /api/v1/services", func(r *http.Request, _ string) (any, error) {
		all := values(st().Services)
		if p := r.URL.Query().Get("provider"); p != "" {
			prov, err := identifier.ParseClient(p)
			if err != nil {
				return nil, errorf(400, "provider: %w", err)
			}
			all = slices.DeleteFunc(all, func(s *store.Service) bool {
				return s.ID.Provider != prov && (prov.IsSubsystem() || s.ID.Provider.MemberID() != prov)
			})
		}
		return all, nil
	})
	change("POST /api/v1/services", body("service.add"))
	change("PUT /api/v1/services/doc", body("service.doc.set"))
	h("GET /api/v1/services/doc/{id...}", func(r *http.Request, _ string) (any, error) {
		id, err := identifier.ParseService(r.PathValue("id"))
		if err != nil {
			return nil, errorf(400, "%w", err)
		}
		s, ok := st().Services[id.String()]
		switch {
		case !ok:
			return nil, errorf(404, "service %s does not exist", id)
		case s.Doc == nil:
			return nil, errorf(404, "service %s has no description document", id)
		}
		return s.Doc, nil
	})
	change("DELETE /api/v1/services/doc/{id...}", func(r *http.Request) (store.Change, error) {
		id, err := identifier.ParseService(r.PathValue("id"))
		return store.RemoveServiceDoc{ID: id}, badRequest(err)
	})
	change("DELETE /api/v1/services/{id...}", func(r *http.Request) (store.Change, error) {
		id, err := identifier.ParseService(r.PathValue("id"))
		return store.RemoveService{ID: id}, badRequest(err)
	})
	h("GET /api/v1/groups", func(*http.Request, string) (any, error) { return values(st().Groups), nil })
	change("POST /api/v1/groups", body("group.add"))
	change("POST /api/v1/groups/members", body("group.member.add"))
	change("POST /api/v1/groups/members/remove", body("group.member.remove"))
	change("DELETE /api/v1/groups/{id...}", func(r *http.Request) (store.Change, error) {
		id, err := identifier.ParseGlobalGroup(r.PathValue("id"))
		return store.RemoveGroup{ID: id}, badRequest(err)
	})
	h("GET /api/v1/trust", func(*http.Request, string) (any, error) { return st().Trust, nil })
	change("POST /api/v1/trust/cas", body("trust.ca.add"))
	change("POST /api/v1/trust/tsas", body("trust.tsa.add"))
	change("POST /api/v1/trust/remove", body("trust.remove"))
	change("PUT /api/v1/trust/settings", body("trust.settings"))
	change("POST /api/v1/batch", func(r *http.Request) (store.Change, error) {
		raw, err := s.readJSON(r)
		if err != nil {
			return nil, err
		}
		return DecodeBatch(raw)
	})
	h("GET /api/v1/audit", func(r *http.Request, _ string) (any, error) {
		limit := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 10000 {
				return nil, errorf(400, "limit %q must be a number from 1 to 10000", v)
			}
			limit = n
		}
		return s.Store.Audit(limit)
	})
	h("GET /api/v1/configuration", func(*http.Request, string) (any, error) {
		if s.Status == nil {
			return nil, errorf(404, "this registry does not publish a configuration")
		}
		return s.Status(), nil
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, func(*http.Request, string) (any, error) {
			return nil, errorf(404, "no such endpoint %s %s (see openapi.yaml)", r.Method, r.URL.Path)
		})
	})
	return mux
}

func badRequest(err error) error {
	if err != nil {
		return errorf(400, "%w", err)
	}
	return nil
}

// BatchRequest is the body of POST /api/v1/batch.
type BatchRequest struct {
	Name    string       `json:"name"`
	Changes []BatchEntry `json:"changes"`
}

// BatchEntry is one change of a batch.
type BatchEntry struct {
	Action string          `json:"action"`
	Change json.RawMessage `json:"change"`
}

// NewBatchRequest encodes changes for POST /api/v1/batch.
func NewBatchRequest(name string, changes []store.Change) (*BatchRequest, error) {
	req := &BatchRequest{Name: name}
	for _, c := range changes {
		raw, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("adminapi: encoding %s: %w", c.Action(), err)
		}
		req.Changes = append(req.Changes, BatchEntry{Action: c.Action(), Change: raw})
	}
	return req, nil
}

// DecodeBatch decodes a BatchRequest strictly into one all-or-nothing change.
func DecodeBatch(raw []byte) (store.Batch, error) {
	var req BatchRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return store.Batch{}, errorf(400, "batch: %w", err)
	}
	if err := identifier.CheckPart("batch name", req.Name); err != nil {
		return store.Batch{}, errorf(400, "%w", err)
	}
	if len(req.Changes) == 0 {
		return store.Batch{}, errorf(400, "batch %s has no changes", req.Name)
	}
	b := store.Batch{Name: req.Name}
	for i, e := range req.Changes {
		c, err := store.DecodeChange(e.Action, e.Change)
		if err != nil {
			return store.Batch{}, errorf(400, "batch change %d: %w", i+1, err)
		}
		b.Changes = append(b.Changes, c)
	}
	return b, nil
}

func (s *Server) apply(actor string, c store.Change) (any, error) {
	entry, err := s.Store.Apply(actor, c)
	if err != nil {
		return nil, err
	}
	if s.OnChange != nil {
		if err := s.OnChange(); err != nil {
			return nil, errorf(500, "change %d was saved but publishing the configuration failed: %w", entry.Seq, err)
		}
	}
	return entry, nil
}

func (s *Server) readJSON(r *http.Request) ([]byte, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" {
		return nil, errorf(http.StatusUnsupportedMediaType, "send the request body as Content-Type: application/json")
	}
	max := s.MaxBody
	if max == 0 {
		max = DefaultMaxBody
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, errorf(400, "reading the request body: %w", err)
	}
	if int64(len(data)) > max {
		return nil, errorf(http.StatusRequestEntityTooLarge, "request body is over the %d-byte limit", max)
	}
	if !json.Valid(data) {
		return nil, errorf(400, "request body is not valid JSON")
	}
	return data, nil
}

type actorKey struct{}

// AsActor marks ctx as carrying a caller that was already authenticated
// in this process (a console session started with the operator's
// certificate): the API then records actor in the audit trail instead of
// checking a client certificate. Only code in this process can set it.
func AsActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Authenticate returns the audit name of the caller's operator certificate.
func (s *Server) Authenticate(r *http.Request) (string, error) {
	if actor, ok := r.Context().Value(actorKey{}).(string); ok && actor != "" {
		return actor, nil
	}
	if r.TLS == nil {
		return "", errorf(http.StatusUnauthorized, "the admin API is served over TLS only")
	}
	if len(r.TLS.PeerCertificates) == 0 {
		return "", errorf(http.StatusUnauthorized, "an operator client certificate is required (pkiutil issue --profile admin; registry --cert/--key)")
	}
	cert := r.TLS.PeerCertificates[0]
	inter := s.Intermediates
	if inter == nil {
		inter = x509.NewCertPool()
	}
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter = inter.Clone()
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: s.Roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", errorf(http.StatusForbidden, "certificate %q is not an operator certificate of this federation: %w", cert.Subject.CommonName, err)
	}
	// The admin profile is clientAuth only; a security server's auth
	// certificate (serverAuth+clientAuth) must not administer the registry.
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		return "", errorf(http.StatusForbidden, "certificate %q is not an admin-profile certificate (extended key usage must be clientAuth only)", cert.Subject.CommonName)
	}
	if len(s.Operators) > 0 {
		sum := sha256.Sum256(cert.Raw)
		fp := hex.EncodeToString(sum[:])
		if !slices.ContainsFunc(s.Operators, func(o string) bool { return strings.EqualFold(strings.ReplaceAll(o, ":", ""), fp) }) {
			return "", errorf(http.StatusForbidden, "certificate %q (SHA-256 %s) is not in this registry's operator list", cert.Subject.CommonName, fp)
		}
	}
	return fmt.Sprintf("%s (serial %s)", cert.Subject.CommonName, pkiutil.SerialHex(cert.SerialNumber)), nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, fn func(*http.Request, string) (any, error)) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	actor, err := s.Authenticate(r)
	var out any
	if err == nil {
		out, err = fn(r, actor)
	}
	status := http.StatusOK
	if err != nil {
		status = statusOf(err)
		out = map[string]string{"error": err.Error()}
	} else if r.Method != http.MethodGet {
		status = http.StatusCreated
		if r.Method == http.MethodDelete || r.Method == http.MethodPut {
			status = http.StatusOK
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(out)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	log.Log(r.Context(), level, "admin api", "method", r.Method, "path", r.URL.Path, "status", status, "actor", actor, "remote", r.RemoteAddr)
	if s.Observe != nil {
		s.Observe(r.Method, status)
	}
}

func statusOf(err error) int {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.status
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, identifier.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func values[V any](m map[string]V) []V {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]V, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// MemberDetail is GET /api/v1/members/{id}: the member with what refers to it.
type MemberDetail struct {
	*store.Member
	Servers  []*store.Server  `json:"servers"`
	Services []*store.Service `json:"services"`
}

func memberDetail(st *store.State, id identifier.Client) (*MemberDetail, error) {
	m, ok := st.Members[id.String()]
	if !ok {
		return nil, errorf(404, "member %s does not exist", id)
	}
	d := &MemberDetail{Member: m, Servers: []*store.Server{}, Services: []*store.Service{}}
	for _, s := range values(st.Servers) {
		if s.ID.Owner == id {
			d.Servers = append(d.Servers, s)
		}
	}
	for _, s := range values(st.Services) {
		if s.ID.Provider.MemberID() == id {
			d.Services = append(d.Services, s)
		}
	}
	return d, nil
}
