// Package acl keeps a provider security server's access rights: which
// clients (members, subsystems, or global groups of them) may call which of
// the services it provides. Rights are per service code, ignoring the
// version (PR-MESS: access rights do not depend on the service version).
// A right on a REST service may be narrowed to an endpoint, a method and a
// path pattern (X-Road's endpoint-level rights, PR-REST; matched by
// package rest): such a right admits only REST calls of that endpoint.
//
// The rights live in a bbolt file ([Store]), or with messageLog.storage:
// postgres in the database the nodes of a server share (package pgacl),
// and the administrator edits them with `securityserver acl ...` while the
// server runs. The Checker the server uses answers from memory and reloads
// the rules when they change, at most once per ReloadEvery.
//
// # Caveats
//
// A right granted to a member applies to that member as a client, not to its
// subsystems: grant each subsystem, or a global group, explicitly (X-Road
// grants to exactly the identifier named). The store file is opened for one
// operation at a time, so the server and the command can share it.
package acl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/rest"
)

// LockTimeout is how long an operation waits for the other user of the file.
var LockTimeout = 5 * time.Second

var bucketRules = []byte("rules")

// Errors.
var (
	ErrExists   = errors.New("access right already granted")
	ErrNotFound = errors.New("no such access right")
	// ErrUnreachable is wrapped by a Rules kept in the message log's
	// database (pgacl) when that database cannot be reached. A Checker
	// then answers from the rules it loaded last instead of refusing: no
	// exchange it lets through can succeed meanwhile, since the log on the
	// same database refuses it (LoggingFailed), and the client gets that
	// one fault for the outage.
	ErrUnreachable = errors.New("the access rights' database cannot be reached")
)

// groupPrefix marks a global group subject in the string form.
const groupPrefix = "group:"

// Subject is who a right is granted to: a client, or a global group.
type Subject struct {
	Client identifier.Client
	Group  identifier.GlobalGroupID // set instead of Client for a group
}

// IsGroup reports whether the subject is a global group.
func (s Subject) IsGroup() bool { return s.Group != identifier.GlobalGroupID{} }

// String is "INSTANCE/CLASS/CODE[/SUBSYSTEM]" or "group:INSTANCE/GROUP".
func (s Subject) String() string {
	if s.IsGroup() {
		return groupPrefix + s.Group.String()
	}
	return s.Client.String()
}

// ParseSubject reads the string form.
func ParseSubject(str string) (Subject, error) {
	if g, ok := strings.CutPrefix(str, groupPrefix); ok {
		id, err := identifier.ParseGlobalGroup(g)
		return Subject{Group: id}, err
	}
	c, err := identifier.ParseClient(str)
	if err != nil {
		return Subject{}, fmt.Errorf("%w (a global group is written group:INSTANCE/GROUP)", err)
	}
	return Subject{Client: c}, nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Subject) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Subject) UnmarshalText(b []byte) error {
	v, err := ParseSubject(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// Rule is one granted access right.
type Rule struct {
	Service identifier.ServiceID `json:"service"` // without version
	Subject Subject              `json:"subject"`
	// Endpoint, when set, narrows the right to REST calls of one endpoint.
	Endpoint *rest.Endpoint `json:"endpoint,omitempty"`
	Granted  time.Time      `json:"granted"`
	By       string         `json:"by"` // who granted it (operating-system user)
}

func ruleKey(svc identifier.ServiceID, sub Subject, ep *rest.Endpoint) []byte {
	k := svc.WithoutVersion().String() + " " + sub.String()
	if ep != nil {
		k += " " + ep.Method + " " + ep.Path
	}
	return []byte(k)
}

// what names a right in messages: "SERVICE" or "SERVICE endpoint METHOD PATH".
func what(svc identifier.ServiceID, ep *rest.Endpoint) string {
	if ep == nil {
		return svc.WithoutVersion().String()
	}
	return svc.WithoutVersion().String() + " endpoint " + ep.Method + " " + ep.Path
}

// CheckEndpoint checks an endpoint of a right: a method of PR-REST or "*",
// and a path that starts with '/' or is "**".
func CheckEndpoint(ep rest.Endpoint) error {
	if ep.Method != "*" && !slices.Contains(rest.Methods, ep.Method) {
		return fmt.Errorf("endpoint method %q: use one of %s, or * for any", ep.Method, strings.Join(rest.Methods, ", "))
	}
	if ep.Path != "**" && !strings.HasPrefix(ep.Path, "/") {
		return fmt.Errorf("endpoint path %q: start it with / (* matches one segment, ** anything), or use ** for any", ep.Path)
	}
	return nil
}

// Rules is where a server's access rights are kept: the bbolt file
// ([Store]) or the PostgreSQL database that the nodes of a server share
// (package pgacl). The conformance suite in package acltest holds each to
// the same promises.
type Rules interface {
	// Grant allows subject to call service (any version); a right granted
	// already is refused with ErrExists.
	Grant(service identifier.ServiceID, subject Subject, by string, now time.Time) (*Rule, error)
	// GrantEndpoint allows subject to call one endpoint of a REST service
	// (any version); an endpoint refused by CheckEndpoint is an error, a
	// right granted already is refused with ErrExists.
	GrantEndpoint(service identifier.ServiceID, ep rest.Endpoint, subject Subject, by string, now time.Time) (*Rule, error)
	// Revoke removes a right: the right on the whole service, or with ep
	// the right on that endpoint. One never granted is refused with
	// ErrNotFound.
	Revoke(service identifier.ServiceID, subject Subject, ep ...rest.Endpoint) error
	// List returns every rule, ordered by service, subject, then endpoint
	// (method, path; the right on the whole service first).
	List() ([]Rule, error)
	// Stamp changes whenever the rules change (it may change without
	// them), so that a Checker reloads only then.
	Stamp() (string, error)
}

// NewRule is the rule a Rules stores for Grant (ep nil) or GrantEndpoint:
// the service checked and without its version, the endpoint checked
// (CheckEndpoint), the time in UTC to the second.
func NewRule(service identifier.ServiceID, ep *rest.Endpoint, subject Subject, by string, now time.Time) (*Rule, error) {
	if err := service.Validate(); err != nil {
		return nil, err
	}
	if ep != nil {
		if err := CheckEndpoint(*ep); err != nil {
			return nil, err
		}
	}
	return &Rule{Service: service.WithoutVersion(), Subject: subject, Endpoint: ep, Granted: now.UTC().Truncate(time.Second), By: by}, nil
}

// ExistsError is every store's refusal of a right granted already.
func ExistsError(service identifier.ServiceID, ep *rest.Endpoint, subject Subject) error {
	return fmt.Errorf("%w: %s may already call %s", ErrExists, subject, what(service, ep))
}

// NotFoundError is every store's refusal to revoke a right never granted.
func NotFoundError(service identifier.ServiceID, ep *rest.Endpoint, subject Subject) error {
	return fmt.Errorf("%w: %s has no right to call %s", ErrNotFound, subject, what(service, ep))
}

// RevokedEndpoint is the endpoint Revoke's optional argument names, nil
// for the right on the whole service.
func RevokedEndpoint(ep []rest.Endpoint) *rest.Endpoint {
	if len(ep) == 0 {
		return nil
	}
	return &ep[0]
}

// Store is the rights file.
type Store struct{ path string }

var _ Rules = (*Store)(nil)

// Close does nothing: the file is opened for each operation.
func (s *Store) Close() error { return nil }

// Stamp is the file's modification time and size.
func (s *Store) Stamp() (string, error) {
	st, err := os.Stat(s.path)
	if err != nil {
		return "", fmt.Errorf("access rights %s: %w", s.path, err)
	}
	return fmt.Sprintf("%d %d", st.ModTime().UnixNano(), st.Size()), nil
}

// Open opens (creating if needed) the rights file at path.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	return s, s.update(func(*bolt.Bucket) error { return nil })
}

func (s *Store) update(fn func(*bolt.Bucket) error) error {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: LockTimeout})
	if err != nil {
		return fmt.Errorf("access rights %s: %w", s.path, err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketRules)
		if err != nil {
			return err
		}
		return fn(b)
	})
	if err != nil && !errors.Is(err, ErrExists) && !errors.Is(err, ErrNotFound) {
		// The refusals already name the right; anything else is the file's.
		return fmt.Errorf("access rights %s: %w", s.path, err)
	}
	return err
}

// Grant allows subject to call service (any version).
func (s *Store) Grant(service identifier.ServiceID, subject Subject, by string, now time.Time) (*Rule, error) {
	return s.grant(service, nil, subject, by, now)
}

// GrantEndpoint allows subject to call one endpoint of a REST service.
func (s *Store) GrantEndpoint(service identifier.ServiceID, ep rest.Endpoint, subject Subject, by string, now time.Time) (*Rule, error) {
	return s.grant(service, &ep, subject, by, now)
}

func (s *Store) grant(service identifier.ServiceID, ep *rest.Endpoint, subject Subject, by string, now time.Time) (*Rule, error) {
	r, err := NewRule(service, ep, subject, by, now)
	if err != nil {
		return nil, err
	}
	err = s.update(func(b *bolt.Bucket) error {
		k := ruleKey(service, subject, ep)
		if b.Get(k) != nil {
			return ExistsError(r.Service, ep, subject)
		}
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Revoke removes a right; ep names the endpoint of an endpoint right (none
// for a right on the whole service).
func (s *Store) Revoke(service identifier.ServiceID, subject Subject, ep ...rest.Endpoint) error {
	e := RevokedEndpoint(ep)
	return s.update(func(b *bolt.Bucket) error {
		k := ruleKey(service, subject, e)
		if b.Get(k) == nil {
			return NotFoundError(service, e, subject)
		}
		return b.Delete(k)
	})
}

// List returns every rule, ordered by service, subject, then endpoint.
func (s *Store) List() ([]Rule, error) {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: LockTimeout, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("access rights %s: %w", s.path, err)
	}
	defer db.Close()
	var out []Rule
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRules)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var r Rule
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("access rights %s: corrupt rule: %w", s.path, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// GroupMembership answers whether client is in a global group; the security
// server passes its global configuration's answer.
type GroupMembership func(group identifier.GlobalGroupID, client identifier.Client) bool

// Checker answers access questions from memory, reloading the rules when
// their Stamp changes.
type Checker struct {
	store       Rules
	ReloadEvery time.Duration // default 1 s

	mu        sync.Mutex
	checkedAt time.Time
	stamp     string // the rules' Stamp when loaded
	rules     map[string][]grant
	err       error
}

// grant is one right as the Checker holds it.
type grant struct {
	subject  Subject
	endpoint *rest.Endpoint
}

// NewChecker loads the rules.
func NewChecker(s Rules) (*Checker, error) {
	c := &Checker{store: s, ReloadEvery: time.Second}
	if err := c.reload(time.Now()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Checker) reload(now time.Time) error {
	c.checkedAt = now
	stamp, err := c.store.Stamp()
	if errors.Is(err, ErrUnreachable) && c.rules != nil {
		// The rules loaded last stand: see ErrUnreachable.
		return nil
	}
	if err != nil {
		return err
	}
	if c.rules != nil && stamp == c.stamp {
		return nil
	}
	rules, err := c.store.List()
	if err != nil {
		return err
	}
	m := make(map[string][]grant, len(rules))
	for _, r := range rules {
		k := r.Service.String()
		m[k] = append(m[k], grant{r.Subject, r.Endpoint})
	}
	c.rules, c.stamp = m, stamp
	return nil
}

// Allowed reports whether client may call service: a right on the whole
// service, not one of its endpoints. A store that cannot be read after a
// change is an error (the caller refuses the call): rights are never
// guessed.
func (c *Checker) Allowed(service identifier.ServiceID, client identifier.Client, inGroup GroupMembership) (bool, error) {
	return c.allowed(service, client, inGroup, func(ep *rest.Endpoint) bool { return ep == nil })
}

// AllowedEndpoint reports whether client may make a REST call of method
// to servicePath (raw, as in rest.Request) of service: a right on the
// whole service, or on an endpoint that admits the call (rest.Allowed).
func (c *Checker) AllowedEndpoint(service identifier.ServiceID, client identifier.Client, inGroup GroupMembership, method, servicePath string) (bool, error) {
	return c.allowed(service, client, inGroup, func(ep *rest.Endpoint) bool {
		return ep == nil || rest.Allowed([]rest.Endpoint{*ep}, method, servicePath)
	})
}

// Rights reports what client may call of service: whole is a right on
// the whole service (directly or through a group), endpoints the
// endpoint rights it holds besides (allowedMethods, PR-MREST §4).
func (c *Checker) Rights(service identifier.ServiceID, client identifier.Client, inGroup GroupMembership) (whole bool, endpoints []rest.Endpoint, err error) {
	_, err = c.allowed(service, client, inGroup, func(ep *rest.Endpoint) bool {
		if ep == nil {
			whole = true
		} else {
			endpoints = append(endpoints, *ep)
		}
		return false
	})
	return whole, endpoints, err
}

func (c *Checker) allowed(service identifier.ServiceID, client identifier.Client, inGroup GroupMembership, admits func(*rest.Endpoint) bool) (bool, error) {
	c.mu.Lock()
	now := time.Now()
	if now.Sub(c.checkedAt) >= c.ReloadEvery {
		c.err = c.reload(now)
	}
	err, grants := c.err, c.rules[service.WithoutVersion().String()]
	c.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("access rights unavailable: %w", err)
	}
	return slices.ContainsFunc(grants, func(g grant) bool {
		holds := g.subject.Client == client
		if g.subject.IsGroup() {
			holds = inGroup != nil && inGroup(g.subject.Group, client)
		}
		return holds && admits(g.endpoint)
	}), nil
}
