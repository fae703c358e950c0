package globalconf

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/registry/identifier"
)

// Validate checks c as Build does: instance set, version > 0, expiry after
// creation, every identifier valid and of the instance, no duplicates, every
// server owner, hosted client, service provider and group member a listed
// member or subsystem, and a usable trust section. The error names the
// offending element.
func (c *Conf) Validate() error {
	if err := identifier.CheckPart("instance", c.Instance); err != nil {
		return err
	}
	if c.Version == 0 {
		return errors.New("version must be greater than 0")
	}
	if c.Created.IsZero() {
		return errors.New("created time is not set")
	}
	if !c.Expires.After(c.Created) {
		return fmt.Errorf("expires %s must be after created %s", fmtTime(c.Expires), fmtTime(c.Created))
	}
	inst := func(what string, instance string) error {
		if instance != c.Instance {
			return fmt.Errorf("%s belongs to instance %q, not %q", what, instance, c.Instance)
		}
		return nil
	}

	clients := map[identifier.Client]bool{} // members and their subsystems
	for _, m := range c.Members {
		what := "member " + m.ID.String()
		if err := m.ID.Validate(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if m.ID.IsSubsystem() {
			return fmt.Errorf("%s names a subsystem: list it among its member's subsystems", what)
		}
		if err := inst(what, m.ID.Instance); err != nil {
			return err
		}
		if clients[m.ID] {
			return fmt.Errorf("%s is listed twice", what)
		}
		clients[m.ID] = true
		if strings.TrimSpace(m.Name) == "" {
			return fmt.Errorf("%s has no name", what)
		}
		if err := xmldsig.CheckPlainText(what+" name", m.Name, false); err != nil {
			return err
		}
		for _, s := range m.Subsystems {
			if err := identifier.CheckPart("subsystemCode", s); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			sub := m.ID.Subsystem(s)
			if clients[sub] {
				return fmt.Errorf("%s lists subsystem %s twice", what, s)
			}
			clients[sub] = true
		}
	}

	servers := map[identifier.ServerID]bool{}
	hashes := map[[sha256.Size]byte]identifier.ServerID{}
	for _, s := range c.Servers {
		what := "security server " + s.ID.String()
		if err := s.ID.Validate(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := inst(what, s.ID.Owner.Instance); err != nil {
			return err
		}
		if servers[s.ID] {
			return fmt.Errorf("%s is listed twice", what)
		}
		servers[s.ID] = true
		if !clients[s.ID.Owner] {
			return fmt.Errorf("%s: owner %s is not a listed member", what, s.ID.Owner)
		}
		if err := checkAddress(s.Address); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if len(s.AuthCertHashes) == 0 {
			return fmt.Errorf("%s has no authentication certificate hash", what)
		}
		for _, h := range s.AuthCertHashes {
			if len(h) != sha256.Size {
				return fmt.Errorf("%s: authentication certificate hash of %d bytes is not a SHA-256 digest (32 bytes)", what, len(h))
			}
			k := [sha256.Size]byte(h)
			if other, dup := hashes[k]; dup {
				if other == s.ID {
					return fmt.Errorf("%s lists authentication certificate hash %x twice", what, h)
				}
				return fmt.Errorf("%s: authentication certificate hash %x is also listed for %s", what, h, other)
			}
			hashes[k] = s.ID
		}
		seen := map[identifier.Client]bool{}
		for _, cl := range s.Clients {
			if err := cl.Validate(); err != nil {
				return fmt.Errorf("%s: client %s: %w", what, cl, err)
			}
			if !clients[cl] {
				return fmt.Errorf("%s: client %s is not a listed member or subsystem", what, cl)
			}
			if seen[cl] {
				return fmt.Errorf("%s lists client %s twice", what, cl)
			}
			seen[cl] = true
		}
	}

	services := map[identifier.ServiceID]bool{}
	for _, s := range c.Services {
		what := "service " + s.ID.String()
		if err := s.ID.Validate(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !clients[s.ID.Provider] {
			return fmt.Errorf("%s: provider %s is not a listed member or subsystem", what, s.ID.Provider)
		}
		if services[s.ID] {
			return fmt.Errorf("%s is listed twice", what)
		}
		services[s.ID] = true
		if err := xmldsig.CheckPlainText(what+" description", s.Description, true); err != nil {
			return err
		}
	}

	groups := map[identifier.GlobalGroupID]bool{}
	for _, g := range c.Groups {
		what := "global group " + g.ID.String()
		if err := g.ID.Validate(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := inst(what, g.ID.Instance); err != nil {
			return err
		}
		if groups[g.ID] {
			return fmt.Errorf("%s is listed twice", what)
		}
		groups[g.ID] = true
		if err := xmldsig.CheckPlainText(what+" description", g.Description, true); err != nil {
			return err
		}
		seen := map[identifier.Client]bool{}
		for _, m := range g.Members {
			if err := m.Validate(); err != nil {
				return fmt.Errorf("%s: member %s: %w", what, m, err)
			}
			if !clients[m] {
				return fmt.Errorf("%s: member %s is not a listed member or subsystem", what, m)
			}
			if seen[m] {
				return fmt.Errorf("%s lists %s twice", what, m)
			}
			seen[m] = true
		}
	}
	return c.Trust.validate()
}

func (t *Trust) validate() error {
	names := map[string]bool{}
	for _, ca := range t.ApprovedCAs {
		what := fmt.Sprintf("approved CA %q", ca.Name)
		if strings.TrimSpace(ca.Name) == "" {
			return errors.New("an approved CA has no name")
		}
		if err := xmldsig.CheckPlainText(what+" name", ca.Name, false); err != nil {
			return err
		}
		if names[ca.Name] {
			return fmt.Errorf("%s is listed twice", what)
		}
		names[ca.Name] = true
		if ca.Cert == nil {
			return fmt.Errorf("%s has no certificate", what)
		}
		if !ca.Cert.IsCA {
			return fmt.Errorf("%s: certificate %s is not a CA certificate", what, ca.Cert.Subject)
		}
		for _, is := range ca.Issuers {
			if is == nil {
				return fmt.Errorf("%s has an empty issuer certificate", what)
			}
			if !is.IsCA {
				return fmt.Errorf("%s: issuer %s is not a CA certificate", what, is.Subject)
			}
		}
		for _, u := range ca.OCSPURLs {
			if err := checkURL(u); err != nil {
				return fmt.Errorf("%s: OCSP responder: %w", what, err)
			}
		}
	}
	names = map[string]bool{}
	for _, tsa := range t.TSAs {
		what := fmt.Sprintf("TSA %q", tsa.Name)
		if strings.TrimSpace(tsa.Name) == "" {
			return errors.New("a TSA has no name")
		}
		if err := xmldsig.CheckPlainText(what+" name", tsa.Name, false); err != nil {
			return err
		}
		if names[tsa.Name] {
			return fmt.Errorf("%s is listed twice", what)
		}
		names[tsa.Name] = true
		if err := checkURL(tsa.URL); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if tsa.Cert == nil {
			return fmt.Errorf("%s has no certificate", what)
		}
	}
	if t.OCSPFreshness <= 0 {
		return fmt.Errorf("OCSP freshness %s must be positive", t.OCSPFreshness)
	}
	if t.OCSPFreshness%time.Second != 0 {
		return fmt.Errorf("OCSP freshness %s must be a whole number of seconds", t.OCSPFreshness)
	}
	return nil
}

// checkAddress accepts "host" or "host:port".
func checkAddress(addr string) error {
	if addr == "" {
		return errors.New("address is empty")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"), ""
	}
	if host == "" || len(addr) > 255 {
		return fmt.Errorf("address %q is not host or host:port", addr)
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == ':' || r == '_') {
			return fmt.Errorf("address %q is not host or host:port", addr)
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return fmt.Errorf("address %q has an invalid port", addr)
		}
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q is not an absolute http or https URL", s)
	}
	if err := xmldsig.CheckPlainText("URL", s, false); err != nil {
		return err
	}
	if strings.ContainsAny(s, " ") {
		return fmt.Errorf("URL %q contains a space", s)
	}
	return nil
}

// normalized returns a copy of c in document order: times in UTC truncated
// to milliseconds, members, servers, services and groups sorted by
// identifier, their lists sorted, CAs and TSAs sorted by name. The order of
// a CA's issuers and OCSP responders is kept (it may be a preference).
func (c *Conf) normalized() *Conf {
	n := *c
	n.Created = c.Created.UTC().Truncate(time.Millisecond)
	n.Expires = c.Expires.UTC().Truncate(time.Millisecond)
	byString := func(a, b identifier.Client) int { return strings.Compare(a.String(), b.String()) }

	n.Members = slices.Clone(c.Members)
	for i := range n.Members {
		n.Members[i].Subsystems = slices.Sorted(slices.Values(n.Members[i].Subsystems))
	}
	slices.SortFunc(n.Members, func(a, b Member) int { return byString(a.ID, b.ID) })

	n.Servers = slices.Clone(c.Servers)
	for i := range n.Servers {
		s := &n.Servers[i]
		s.AuthCertHashes = slices.Clone(s.AuthCertHashes)
		slices.SortFunc(s.AuthCertHashes, bytes.Compare)
		s.Clients = slices.Clone(s.Clients)
		slices.SortFunc(s.Clients, byString)
	}
	slices.SortFunc(n.Servers, func(a, b SecurityServer) int { return strings.Compare(a.ID.String(), b.ID.String()) })

	n.Services = slices.Clone(c.Services)
	slices.SortFunc(n.Services, func(a, b Service) int { return strings.Compare(a.ID.String(), b.ID.String()) })

	n.Groups = slices.Clone(c.Groups)
	for i := range n.Groups {
		n.Groups[i].Members = slices.Clone(n.Groups[i].Members)
		slices.SortFunc(n.Groups[i].Members, byString)
	}
	slices.SortFunc(n.Groups, func(a, b Group) int { return strings.Compare(a.ID.String(), b.ID.String()) })

	n.Trust.ApprovedCAs = slices.Clone(c.Trust.ApprovedCAs)
	slices.SortFunc(n.Trust.ApprovedCAs, func(a, b ApprovedCA) int { return cmp.Compare(a.Name, b.Name) })
	n.Trust.TSAs = slices.Clone(c.Trust.TSAs)
	slices.SortFunc(n.Trust.TSAs, func(a, b TSA) int { return cmp.Compare(a.Name, b.Name) })
	return &n
}

// timeLayout is RFC 3339 in UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }
