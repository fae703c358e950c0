// Package identifier implements X-Road identifiers: clients (members and
// subsystems), services, security servers and global groups, in their string
// form ("AZ/GOV/DIN/population") and in the XML form of the X-Road message
// protocol v4.0 headers (namespace http://x-road.eu/xsd/identifiers, with the
// id:objectType attribute).
//
// Every constructor and parser validates: each part is non-empty and uses
// only the characters PR-MESS 4.0.25 allows (A-Z a-z 0-9 and '()+,-.=?), so a
// valid identifier's string form splits back into the same parts.
//
// # Caveats
//
// The string form of a service always names a subsystem
// (INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]): with member-level
// services a five-part string would be ambiguous. Member-level services exist
// in the XML form only ([ServiceID.Subsystem] empty).
package identifier

import (
	"errors"
	"fmt"
	"strings"
)

// Namespace of the identifier elements and the objectType attribute.
const Namespace = "http://x-road.eu/xsd/identifiers"

// ObjectType is the id:objectType of an identifier.
type ObjectType string

// Object types of PR-MESS.
const (
	Member      ObjectType = "MEMBER"
	Subsystem   ObjectType = "SUBSYSTEM"
	Service     ObjectType = "SERVICE"
	Server      ObjectType = "SERVER"
	GlobalGroup ObjectType = "GLOBALGROUP"
	LocalGroup  ObjectType = "LOCALGROUP"
)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid identifier")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// CheckPart validates one part of an identifier; what names it in the error.
func CheckPart(what, v string) error {
	if v == "" {
		return invalid("%s is empty", what)
	}
	if len(v) > 255 {
		return invalid("%s is longer than 255 characters", what)
	}
	for _, r := range v {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("'()+,-.=?", r)) {
			return invalid("%s %q contains %q; X-Road identifiers allow only A-Z a-z 0-9 and '()+,-.=?", what, v, r)
		}
	}
	return nil
}

// Client identifies a member (SubsystemCode empty) or one of its subsystems.
type Client struct {
	Instance      string
	MemberClass   string
	MemberCode    string
	SubsystemCode string
}

// NewMember returns a validated member identifier.
func NewMember(instance, class, code string) (Client, error) {
	c := Client{Instance: instance, MemberClass: class, MemberCode: code}
	return c, c.Validate()
}

// Validate checks every part.
func (c Client) Validate() error {
	for _, p := range [][2]string{{"xRoadInstance", c.Instance}, {"memberClass", c.MemberClass}, {"memberCode", c.MemberCode}} {
		if err := CheckPart(p[0], p[1]); err != nil {
			return err
		}
	}
	if c.SubsystemCode != "" {
		return CheckPart("subsystemCode", c.SubsystemCode)
	}
	return nil
}

// IsSubsystem reports whether c names a subsystem.
func (c Client) IsSubsystem() bool { return c.SubsystemCode != "" }

// ObjectType is MEMBER or SUBSYSTEM.
func (c Client) ObjectType() ObjectType {
	if c.IsSubsystem() {
		return Subsystem
	}
	return Member
}

// MemberID drops the subsystem part.
func (c Client) MemberID() Client {
	c.SubsystemCode = ""
	return c
}

// Subsystem returns the subsystem code of c's member.
func (c Client) Subsystem(code string) Client {
	c.SubsystemCode = code
	return c
}

// String is "INSTANCE/CLASS/CODE" or "INSTANCE/CLASS/CODE/SUBSYSTEM".
func (c Client) String() string {
	var b strings.Builder
	b.Grow(c.len())
	c.writeTo(&b)
	return b.String() // one allocation
}

// len is the length of c's String.
func (c Client) len() int {
	n := len(c.Instance) + len(c.MemberClass) + len(c.MemberCode) + 2
	if c.SubsystemCode != "" {
		n += 1 + len(c.SubsystemCode)
	}
	return n
}

// writeTo writes c's String to b.
func (c Client) writeTo(b *strings.Builder) {
	b.WriteString(c.Instance)
	b.WriteByte('/')
	b.WriteString(c.MemberClass)
	b.WriteByte('/')
	b.WriteString(c.MemberCode)
	if c.SubsystemCode != "" {
		b.WriteByte('/')
		b.WriteString(c.SubsystemCode)
	}
}

// IsZero reports whether c is the zero value.
func (c Client) IsZero() bool { return c == Client{} }

// ParseClient parses "INSTANCE/CLASS/CODE[/SUBSYSTEM]".
func ParseClient(s string) (Client, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 && len(parts) != 4 {
		return Client{}, invalid("client %q must be INSTANCE/CLASS/CODE or INSTANCE/CLASS/CODE/SUBSYSTEM, e.g. AZ/GOV/DIN/population", s)
	}
	c := Client{Instance: parts[0], MemberClass: parts[1], MemberCode: parts[2]}
	if len(parts) == 4 {
		c.SubsystemCode = parts[3]
	}
	if err := c.Validate(); err != nil {
		return Client{}, fmt.Errorf("client %q: %w", s, err)
	}
	return c, nil
}

// ParseMember parses "INSTANCE/CLASS/CODE" and refuses a subsystem.
func ParseMember(s string) (Client, error) {
	c, err := ParseClient(s)
	if err != nil {
		return c, err
	}
	if c.IsSubsystem() {
		return Client{}, invalid("%q names a subsystem; a member identifier is INSTANCE/CLASS/CODE", s)
	}
	return c, nil
}

// ParseSubsystem parses "INSTANCE/CLASS/CODE/SUBSYSTEM".
func ParseSubsystem(s string) (Client, error) {
	c, err := ParseClient(s)
	if err != nil {
		return c, err
	}
	if !c.IsSubsystem() {
		return Client{}, invalid("%q names a member; a subsystem identifier is INSTANCE/CLASS/CODE/SUBSYSTEM", s)
	}
	return c, nil
}

// ServiceID identifies a service of a provider (a subsystem, or a member for
// member-level services).
type ServiceID struct {
	Provider       Client
	ServiceCode    string
	ServiceVersion string // optional
}

// Validate checks every part.
func (s ServiceID) Validate() error {
	if err := s.Provider.Validate(); err != nil {
		return err
	}
	if err := CheckPart("serviceCode", s.ServiceCode); err != nil {
		return err
	}
	if s.ServiceVersion != "" {
		return CheckPart("serviceVersion", s.ServiceVersion)
	}
	return nil
}

// String is "INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]".
func (s ServiceID) String() string {
	n := s.Provider.len() + 1 + len(s.ServiceCode)
	if s.ServiceVersion != "" {
		n += 1 + len(s.ServiceVersion)
	}
	var b strings.Builder
	b.Grow(n)
	s.Provider.writeTo(&b)
	b.WriteByte('/')
	b.WriteString(s.ServiceCode)
	if s.ServiceVersion != "" {
		b.WriteByte('/')
		b.WriteString(s.ServiceVersion)
	}
	return b.String() // one allocation
}

// WithoutVersion drops the version: access rights are per service code
// (PR-MESS: "access rights ... ignoring version").
func (s ServiceID) WithoutVersion() ServiceID {
	s.ServiceVersion = ""
	return s
}

// ParseService parses "INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]".
func ParseService(str string) (ServiceID, error) {
	parts := strings.Split(str, "/")
	if len(parts) != 5 && len(parts) != 6 {
		return ServiceID{}, invalid("service %q must be INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION], e.g. AZ/GOV/DIN/population/getPersonByFin/v1", str)
	}
	s := ServiceID{
		Provider:    Client{Instance: parts[0], MemberClass: parts[1], MemberCode: parts[2], SubsystemCode: parts[3]},
		ServiceCode: parts[4],
	}
	if len(parts) == 6 {
		s.ServiceVersion = parts[5]
	}
	if err := s.Validate(); err != nil {
		return ServiceID{}, fmt.Errorf("service %q: %w", str, err)
	}
	return s, nil
}

// ServerID identifies a security server: its owner member and server code.
type ServerID struct {
	Owner      Client // a member
	ServerCode string
}

// Validate checks every part.
func (s ServerID) Validate() error {
	if err := s.Owner.Validate(); err != nil {
		return err
	}
	if s.Owner.IsSubsystem() {
		return invalid("a security server is owned by a member, not the subsystem %s", s.Owner)
	}
	return CheckPart("serverCode", s.ServerCode)
}

// String is "INSTANCE/CLASS/CODE/SERVERCODE".
func (s ServerID) String() string { return s.Owner.String() + "/" + s.ServerCode }

// ParseServer parses "INSTANCE/CLASS/CODE/SERVERCODE".
func ParseServer(str string) (ServerID, error) {
	parts := strings.Split(str, "/")
	if len(parts) != 4 {
		return ServerID{}, invalid("security server %q must be INSTANCE/CLASS/CODE/SERVERCODE, e.g. AZ/GOV/DIN/ss1", str)
	}
	s := ServerID{Owner: Client{Instance: parts[0], MemberClass: parts[1], MemberCode: parts[2]}, ServerCode: parts[3]}
	if err := s.Validate(); err != nil {
		return ServerID{}, fmt.Errorf("security server %q: %w", str, err)
	}
	return s, nil
}

// GlobalGroupID identifies a global group of an instance.
type GlobalGroupID struct {
	Instance  string
	GroupCode string
}

// Validate checks both parts.
func (g GlobalGroupID) Validate() error {
	if err := CheckPart("xRoadInstance", g.Instance); err != nil {
		return err
	}
	return CheckPart("groupCode", g.GroupCode)
}

// String is "INSTANCE/GROUPCODE".
func (g GlobalGroupID) String() string { return g.Instance + "/" + g.GroupCode }

// ParseGlobalGroup parses "INSTANCE/GROUPCODE".
func ParseGlobalGroup(str string) (GlobalGroupID, error) {
	parts := strings.Split(str, "/")
	if len(parts) != 2 {
		return GlobalGroupID{}, invalid("global group %q must be INSTANCE/GROUPCODE, e.g. AZ/state-agencies", str)
	}
	g := GlobalGroupID{Instance: parts[0], GroupCode: parts[1]}
	if err := g.Validate(); err != nil {
		return GlobalGroupID{}, fmt.Errorf("global group %q: %w", str, err)
	}
	return g, nil
}
