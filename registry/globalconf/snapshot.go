package globalconf

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/sluz/sluz/registry/identifier"
)

// DefaultPort is the service proxy port of a security server whose address
// has none (PR-MESSTRANSP).
const DefaultPort = "5500"

// Snapshot is one verified configuration version with indexes for O(1)
// lookups. It is immutable: neither the Snapshot nor the Conf it embeds
// (and the slices it holds) may be modified, since every goroutine shares it.
type Snapshot struct {
	*Conf

	data          []byte // the signed document, when it came from one
	digest        []byte // SHA-256 of its canonical content
	members       map[identifier.Client]*Member
	clients       map[identifier.Client]bool // members and subsystems
	servers       map[identifier.ServerID]*SecurityServer
	hosting       map[identifier.Client][]ServerAddress
	hosts         map[identifier.ServerID]map[identifier.Client]bool
	byAuthHash    map[[sha256.Size]byte]*SecurityServer
	services      map[identifier.Client][]Service // by provider
	serviceByID   map[identifier.ServiceID]*Service
	groups        map[identifier.GlobalGroupID]map[identifier.Client]bool
	caBySubject   map[string][]caCert
	roots         *x509.CertPool
	intermediates *x509.CertPool
	allOCSP       []string
}

type caCert struct {
	cert *x509.Certificate
	ca   *ApprovedCA
}

// ServerAddress is a security server hosting a client, and where to reach
// its service proxy.
type ServerAddress struct {
	ID      identifier.ServerID
	Address string // as registered: host or host:port
}

// HostPort is Address with DefaultPort added when it has no port.
func (a ServerAddress) HostPort() string {
	if _, _, err := net.SplitHostPort(a.Address); err == nil {
		return a.Address
	}
	h := a.Address
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	return net.JoinHostPort(h, DefaultPort)
}

// NewSnapshot indexes c, which must be valid (Conf.Validate) and is not
// copied: the caller must not modify it afterwards.
func NewSnapshot(c *Conf) *Snapshot {
	s := &Snapshot{
		Conf:          c,
		members:       map[identifier.Client]*Member{},
		clients:       map[identifier.Client]bool{},
		servers:       map[identifier.ServerID]*SecurityServer{},
		hosting:       map[identifier.Client][]ServerAddress{},
		hosts:         map[identifier.ServerID]map[identifier.Client]bool{},
		byAuthHash:    map[[sha256.Size]byte]*SecurityServer{},
		services:      map[identifier.Client][]Service{},
		serviceByID:   map[identifier.ServiceID]*Service{},
		groups:        map[identifier.GlobalGroupID]map[identifier.Client]bool{},
		caBySubject:   map[string][]caCert{},
		roots:         x509.NewCertPool(),
		intermediates: x509.NewCertPool(),
	}
	for i := range c.Members {
		m := &c.Members[i]
		s.members[m.ID] = m
		s.clients[m.ID] = true
		for _, sub := range m.Subsystems {
			s.clients[m.ID.Subsystem(sub)] = true
		}
	}
	for i := range c.Servers {
		srv := &c.Servers[i]
		s.servers[srv.ID] = srv
		hosted := map[identifier.Client]bool{srv.ID.Owner: true}
		for _, cl := range srv.Clients {
			hosted[cl] = true
		}
		s.hosts[srv.ID] = hosted
		addr := ServerAddress{ID: srv.ID, Address: srv.Address}
		for cl := range hosted {
			s.hosting[cl] = append(s.hosting[cl], addr)
		}
		for _, h := range srv.AuthCertHashes {
			if len(h) == sha256.Size {
				s.byAuthHash[[sha256.Size]byte(h)] = srv
			}
		}
	}
	for cl, list := range s.hosting {
		slices.SortFunc(list, func(a, b ServerAddress) int { return strings.Compare(a.ID.String(), b.ID.String()) })
		s.hosting[cl] = list
	}
	for i := range c.Services {
		svc := &c.Services[i]
		s.services[svc.ID.Provider] = append(s.services[svc.ID.Provider], *svc)
		s.serviceByID[svc.ID] = svc
	}
	for p, list := range s.services {
		slices.SortFunc(list, func(a, b Service) int { return strings.Compare(a.ID.String(), b.ID.String()) })
		s.services[p] = list
	}
	for _, g := range c.Groups {
		set := map[identifier.Client]bool{}
		for _, m := range g.Members {
			set[m] = true
		}
		s.groups[g.ID] = set
	}
	seenOCSP := map[string]bool{}
	for i := range c.Trust.ApprovedCAs {
		ca := &c.Trust.ApprovedCAs[i]
		if ca.Cert != nil {
			s.roots.AddCert(ca.Cert)
			s.caBySubject[string(ca.Cert.RawSubject)] = append(s.caBySubject[string(ca.Cert.RawSubject)], caCert{ca.Cert, ca})
		}
		for _, is := range ca.Issuers {
			s.intermediates.AddCert(is)
			s.caBySubject[string(is.RawSubject)] = append(s.caBySubject[string(is.RawSubject)], caCert{is, ca})
		}
		for _, u := range ca.OCSPURLs {
			if !seenOCSP[u] {
				seenOCSP[u] = true
				s.allOCSP = append(s.allOCSP, u)
			}
		}
	}
	return s
}

// Bytes returns the signed document the snapshot was verified from (nil for
// a snapshot made with NewSnapshot). The caller must not modify it.
func (s *Snapshot) Bytes() []byte { return s.data }

// Expired reports whether the configuration is past its expiry at now.
func (s *Snapshot) Expired(now time.Time) bool { return now.After(s.Expires) }

// Member returns the member of id; for a subsystem, its member.
func (s *Snapshot) Member(id identifier.Client) (Member, bool) {
	m, ok := s.members[id.MemberID()]
	if !ok {
		return Member{}, false
	}
	return *m, true
}

// MemberName returns the display name of the member of id (a member or one
// of its subsystems).
func (s *Snapshot) MemberName(id identifier.Client) (string, bool) {
	m, ok := s.members[id.MemberID()]
	if !ok {
		return "", false
	}
	return m.Name, true
}

// Subsystems returns the subsystem identifiers of a member.
func (s *Snapshot) Subsystems(member identifier.Client) []identifier.Client {
	m, ok := s.members[member.MemberID()]
	if !ok {
		return nil
	}
	out := make([]identifier.Client, len(m.Subsystems))
	for i, sub := range m.Subsystems {
		out[i] = m.ID.Subsystem(sub)
	}
	return out
}

// IsClient reports whether id is a listed member or subsystem.
func (s *Snapshot) IsClient(id identifier.Client) bool { return s.clients[id] }

// ServersFor returns the security servers hosting client, sorted by server
// identifier. A server hosts its owner member and every client listed for
// it; the owner's subsystems only if they are listed.
func (s *Snapshot) ServersFor(client identifier.Client) []ServerAddress {
	return slices.Clone(s.hosting[client])
}

// Server returns a registered security server.
func (s *Snapshot) Server(id identifier.ServerID) (SecurityServer, bool) {
	srv, ok := s.servers[id]
	if !ok {
		return SecurityServer{}, false
	}
	return *srv, true
}

// ServerByAuthCert returns the security server that registered the
// authentication certificate with SHA-256 digest hash.
func (s *Snapshot) ServerByAuthCert(hash []byte) (SecurityServer, bool) {
	if len(hash) != sha256.Size {
		return SecurityServer{}, false
	}
	srv, ok := s.byAuthHash[[sha256.Size]byte(hash)]
	if !ok {
		return SecurityServer{}, false
	}
	return *srv, true
}

// AuthCertAllowedFor reports whether a peer presenting the authentication
// certificate with SHA-256 digest hash may act for client: the certificate
// belongs to a registered server that hosts client.
func (s *Snapshot) AuthCertAllowedFor(hash []byte, client identifier.Client) bool {
	srv, ok := s.ServerByAuthCert(hash)
	return ok && s.Hosts(srv.ID, client)
}

// AuthCertHash is the SHA-256 digest of a certificate's DER, the form
// AuthCertAllowedFor takes.
func AuthCertHash(cert *x509.Certificate) []byte {
	h := sha256.Sum256(cert.Raw)
	return h[:]
}

// Hosts reports whether server hosts client.
func (s *Snapshot) Hosts(server identifier.ServerID, client identifier.Client) bool {
	return s.hosts[server][client]
}

// ServicesOf returns the services provided by provider (a subsystem, or a
// member for member-level services), sorted by identifier.
func (s *Snapshot) ServicesOf(provider identifier.Client) []Service {
	return slices.Clone(s.services[provider])
}

// Service returns one service by its full identifier (version included).
func (s *Snapshot) Service(id identifier.ServiceID) (Service, bool) {
	svc, ok := s.serviceByID[id]
	if !ok {
		return Service{}, false
	}
	return *svc, true
}

// InGroup reports whether client is listed in the global group. Membership
// is exact: a listed member does not bring its subsystems in.
func (s *Snapshot) InGroup(group identifier.GlobalGroupID, client identifier.Client) bool {
	return s.groups[group][client]
}

// ApprovedCAFor returns the approved CA whose top CA or intermediate issued
// cert, matched by issuer name and, when both are present, by authority
// key identifier. It does not check cert's signature: path validation
// (x509.Certificate.Verify with Roots and Intermediates) does that.
func (s *Snapshot) ApprovedCAFor(cert *x509.Certificate) (ApprovedCA, bool) {
	for _, cand := range s.caBySubject[string(cert.RawIssuer)] {
		if len(cert.AuthorityKeyId) > 0 && len(cand.cert.SubjectKeyId) > 0 && !bytes.Equal(cert.AuthorityKeyId, cand.cert.SubjectKeyId) {
			continue
		}
		return *cand.ca, true
	}
	return ApprovedCA{}, false
}

// OCSPURLs returns the OCSP responders of the approved CA that issued cert,
// in the registered order, or nil.
func (s *Snapshot) OCSPURLs(cert *x509.Certificate) []string {
	ca, ok := s.ApprovedCAFor(cert)
	if !ok {
		return nil
	}
	return slices.Clone(ca.OCSPURLs)
}

// AllOCSPURLs returns every registered OCSP responder once.
func (s *Snapshot) AllOCSPURLs() []string { return slices.Clone(s.allOCSP) }

// TSAs returns the approved time-stamp authorities.
func (s *Snapshot) TSAs() []TSA { return slices.Clone(s.Trust.TSAs) }

// Roots returns a new pool of the approved CAs' top certificates.
func (s *Snapshot) Roots() *x509.CertPool { return s.roots.Clone() }

// Intermediates returns a new pool of the approved CAs' issuer certificates.
func (s *Snapshot) Intermediates() *x509.CertPool { return s.intermediates.Clone() }

// OCSPFreshness is the maximum age of an OCSP response a receiver accepts.
func (s *Snapshot) OCSPFreshness() time.Duration { return s.Trust.OCSPFreshness }
