package store

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
)

// Errors a change can fail with; adminapi maps them to HTTP statuses.
var (
	ErrInvalid  = errors.New("invalid") // bad input or a reference to something that does not exist (400)
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict") // duplicate, or still referenced (409)
)

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}
func notFoundf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, a...))
}
func conflictf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, a...))
}

// State is everything the registry knows. It is stored as one JSON value and
// replaced as a whole by each change, so a change is all or nothing.
type State struct {
	Instance      string                 `json:"instance"`
	MemberClasses map[string]MemberClass `json:"memberClasses"`
	Members       map[string]*Member     `json:"members"`
	Servers       map[string]*Server     `json:"servers"`
	Services      map[string]*Service    `json:"services"`
	Groups        map[string]*Group      `json:"groups"`
	Trust         Trust                  `json:"trust"`
}

// MemberClass is a class of members (GOV, COM, NGO).
type MemberClass struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

// Member is a federation member.
type Member struct {
	ID         identifier.Client `json:"id"`
	Name       string            `json:"name"`
	Subsystems []string          `json:"subsystems"`
}

// Server is a security server. It enters the global configuration once approved.
type Server struct {
	ID        identifier.ServerID `json:"id"`
	Address   string              `json:"address"`
	AuthCerts [][]byte            `json:"authCerts"` // DER
	Approved  bool                `json:"approved"`
	Clients   []identifier.Client `json:"clients"` // hosted members/subsystems besides the owner
}

// Service is a service a subsystem provides.
type Service struct {
	ID          identifier.ServiceID `json:"id"`
	Description string               `json:"description"`
	Doc         *ServiceDoc          `json:"doc,omitempty"` // its WSDL or OpenAPI description, if the operator set one
}

// ServiceDoc is a service's description document (SetServiceDoc).
type ServiceDoc struct {
	Type    string `json:"type"` // DocWSDL or DocOpenAPI
	Content string `json:"content"`
	SHA256  string `json:"sha256"` // hex, of Content
}

// Group is a global group.
type Group struct {
	ID          identifier.GlobalGroupID `json:"id"`
	Description string                   `json:"description"`
	Members     []identifier.Client      `json:"members"`
}

// Trust holds the federation's trust settings.
type Trust struct {
	ApprovedCAs []CA  `json:"approvedCAs"`
	TSAs        []TSA `json:"tsas"`
	// OCSPFreshnessSeconds: the oldest OCSP response a receiver accepts.
	OCSPFreshnessSeconds int `json:"ocspFreshnessSeconds"`
	// ConfValiditySeconds: how long a published configuration stays valid;
	// the registry re-publishes well before that.
	ConfValiditySeconds int `json:"confValiditySeconds"`
}

// CA is an approved certification authority.
type CA struct {
	Name     string   `json:"name"`
	Cert     []byte   `json:"cert"`              // DER, the top CA
	Issuers  [][]byte `json:"issuers,omitempty"` // DER intermediates
	OCSPURLs []string `json:"ocspUrls"`
}

// TSA is an approved time-stamp authority.
type TSA struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Cert []byte `json:"cert"` // DER
}

// Defaults of the trust settings.
const (
	DefaultOCSPFreshnessSeconds = 3600 // X-Road's default ocspFreshnessSeconds
	DefaultConfValiditySeconds  = 3600
)

func newState(instance string) *State {
	return &State{
		Instance: instance,
		MemberClasses: map[string]MemberClass{
			"GOV": {"GOV", "Government agencies"},
			"COM": {"COM", "Commercial organisations"},
			"NGO": {"NGO", "Non-governmental organisations"},
		},
		Members: map[string]*Member{}, Servers: map[string]*Server{}, Services: map[string]*Service{}, Groups: map[string]*Group{},
		Trust: Trust{OCSPFreshnessSeconds: DefaultOCSPFreshnessSeconds, ConfValiditySeconds: DefaultConfValiditySeconds},
	}
}

// hasClient reports whether a member or subsystem exists.
func (st *State) hasClient(c identifier.Client) bool {
	m, ok := st.Members[c.MemberID().String()]
	return ok && (!c.IsSubsystem() || slices.Contains(m.Subsystems, c.SubsystemCode))
}

func (st *State) checkInstance(what string, inst string) error {
	if inst != st.Instance {
		return invalidf("%s belongs to instance %q, this registry is instance %q", what, inst, st.Instance)
	}
	return nil
}

// Validate checks the whole state for dangling references. Every change runs
// it before anything is written.
func (st *State) Validate() error {
	for _, m := range st.Members {
		if _, ok := st.MemberClasses[m.ID.MemberClass]; !ok {
			return invalidf("member %s has unknown member class %q", m.ID, m.ID.MemberClass)
		}
	}
	for _, s := range st.Servers {
		if _, ok := st.Members[s.ID.Owner.String()]; !ok {
			return invalidf("security server %s is owned by unknown member %s", s.ID, s.ID.Owner)
		}
		for _, c := range s.Clients {
			if !st.hasClient(c) {
				return invalidf("security server %s hosts unknown client %s", s.ID, c)
			}
		}
	}
	for _, s := range st.Services {
		if !st.hasClient(s.ID.Provider) {
			return invalidf("service %s is provided by unknown subsystem %s", s.ID, s.ID.Provider)
		}
	}
	for _, g := range st.Groups {
		for _, c := range g.Members {
			if !st.hasClient(c) {
				return invalidf("global group %s lists unknown client %s", g.ID, c)
			}
		}
	}
	return nil
}

// Conf is the global configuration content of this state: approved servers
// only, everything sorted by identifier.
func (st *State) Conf(version uint64, now time.Time) (*globalconf.Conf, error) {
	now = now.UTC().Truncate(time.Millisecond)
	c := &globalconf.Conf{
		Instance: st.Instance, Version: version, Created: now,
		Expires: now.Add(time.Duration(st.Trust.ConfValiditySeconds) * time.Second),
		Trust:   globalconf.Trust{OCSPFreshness: time.Duration(st.Trust.OCSPFreshnessSeconds) * time.Second},
	}
	for _, k := range sortedKeys(st.Members) {
		m := st.Members[k]
		c.Members = append(c.Members, globalconf.Member{ID: m.ID, Name: m.Name, Subsystems: slices.Sorted(slices.Values(m.Subsystems))})
	}
	for _, k := range sortedKeys(st.Servers) {
		s := st.Servers[k]
		if !s.Approved {
			continue
		}
		gs := globalconf.SecurityServer{ID: s.ID, Address: s.Address, Clients: append([]identifier.Client(nil), s.Clients...)}
		for _, der := range s.AuthCerts {
			h := sha256.Sum256(der)
			gs.AuthCertHashes = append(gs.AuthCertHashes, h[:])
		}
		c.Servers = append(c.Servers, gs)
	}
	for _, k := range sortedKeys(st.Services) {
		s := st.Services[k]
		c.Services = append(c.Services, globalconf.Service{ID: s.ID, Description: s.Description})
	}
	for _, k := range sortedKeys(st.Groups) {
		g := st.Groups[k]
		c.Groups = append(c.Groups, globalconf.Group{ID: g.ID, Description: g.Description, Members: append([]identifier.Client(nil), g.Members...)})
	}
	for _, ca := range st.Trust.ApprovedCAs {
		cert, err := x509.ParseCertificate(ca.Cert)
		if err != nil {
			return nil, fmt.Errorf("approved CA %s: %w", ca.Name, err)
		}
		gca := globalconf.ApprovedCA{Name: ca.Name, Cert: cert, OCSPURLs: ca.OCSPURLs}
		for _, der := range ca.Issuers {
			ic, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("approved CA %s issuer: %w", ca.Name, err)
			}
			gca.Issuers = append(gca.Issuers, ic)
		}
		c.Trust.ApprovedCAs = append(c.Trust.ApprovedCAs, gca)
	}
	for _, t := range st.Trust.TSAs {
		cert, err := x509.ParseCertificate(t.Cert)
		if err != nil {
			return nil, fmt.Errorf("TSA %s: %w", t.Name, err)
		}
		c.Trust.TSAs = append(c.Trust.TSAs, globalconf.TSA{Name: t.Name, URL: t.URL, Cert: cert})
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkAddress accepts host or host:port.
func checkAddress(addr string) error {
	if addr == "" {
		return invalidf("address is empty")
	}
	host := addr
	if h, p, err := net.SplitHostPort(addr); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return invalidf("address %q has an invalid port", addr)
		}
		host = h
	}
	if host == "" {
		return invalidf("address %q has no host", addr)
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == ':') {
			return invalidf("address %q is not a host name or IP address", addr)
		}
	}
	return nil
}
