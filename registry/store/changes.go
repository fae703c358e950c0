package store

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
)

// Change is one validated edit of the registry. Its JSON form is both the
// admin API request body and what the audit trail records.
type Change interface {
	// Action names the change in the audit trail, e.g. "member.add".
	Action() string
	// Apply edits st (a private copy) or fails without meaning to leave it usable.
	Apply(st *State) error
}

func checkName(what, s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return invalidf("%s is empty", what)
	}
	if !utf8.ValidString(s) || len(s) > 500 {
		return invalidf("%s must be valid UTF-8 of at most 500 bytes", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalidf("%s contains a control character", what)
		}
	}
	return nil
}

// AddMemberClass registers a member class.
type AddMemberClass struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

func (AddMemberClass) Action() string { return "memberclass.add" }
func (c AddMemberClass) Apply(st *State) error {
	if err := identifier.CheckPart("memberClass", c.Code); err != nil {
		return invalidf("%v", err)
	}
	if _, ok := st.MemberClasses[c.Code]; ok {
		return conflictf("member class %s already exists", c.Code)
	}
	st.MemberClasses[c.Code] = MemberClass(c)
	return nil
}

// AddMember registers a member.
type AddMember struct {
	ID   identifier.Client `json:"id"`
	Name string            `json:"name"`
}

func (AddMember) Action() string { return "member.add" }
func (c AddMember) Apply(st *State) error {
	if err := mustMember(c.ID); err != nil {
		return err
	}
	if err := st.checkInstance("member "+c.ID.String(), c.ID.Instance); err != nil {
		return err
	}
	if _, ok := st.MemberClasses[c.ID.MemberClass]; !ok {
		return invalidf("member class %q is not registered (have %s)", c.ID.MemberClass, strings.Join(sortedKeys(st.MemberClasses), ", "))
	}
	if err := checkName("member name", c.Name); err != nil {
		return err
	}
	if _, ok := st.Members[c.ID.String()]; ok {
		return conflictf("member %s already exists", c.ID)
	}
	st.Members[c.ID.String()] = &Member{ID: c.ID, Name: strings.TrimSpace(c.Name), Subsystems: []string{}}
	return nil
}

func mustMember(id identifier.Client) error {
	if id.IsZero() {
		return invalidf("member id is missing")
	}
	if id.IsSubsystem() {
		return invalidf("%s is a subsystem, not a member", id)
	}
	return nil
}

// RemoveMember deletes a member that nothing refers to any more.
type RemoveMember struct {
	ID identifier.Client `json:"id"`
}

func (RemoveMember) Action() string { return "member.remove" }
func (c RemoveMember) Apply(st *State) error {
	m, ok := st.Members[c.ID.String()]
	if !ok {
		return notFoundf("member %s does not exist", c.ID)
	}
	if len(m.Subsystems) > 0 {
		return conflictf("member %s still has subsystems (%s): remove them first", c.ID, strings.Join(m.Subsystems, ", "))
	}
	for _, s := range st.Servers {
		if s.ID.Owner == c.ID {
			return conflictf("member %s still owns security server %s: remove it first", c.ID, s.ID)
		}
	}
	if err := st.unreferenced(c.ID); err != nil {
		return err
	}
	delete(st.Members, c.ID.String())
	return nil
}

// unreferenced fails if a server, service or group still refers to client.
func (st *State) unreferenced(client identifier.Client) error {
	for _, k := range sortedKeys(st.Servers) {
		if slices.Contains(st.Servers[k].Clients, client) {
			return conflictf("%s is still hosted by security server %s: remove it there first", client, k)
		}
	}
	for _, k := range sortedKeys(st.Services) {
		if st.Services[k].ID.Provider == client {
			return conflictf("%s still provides service %s: remove the service first", client, k)
		}
	}
	for _, k := range sortedKeys(st.Groups) {
		if slices.Contains(st.Groups[k].Members, client) {
			return conflictf("%s is still in global group %s: remove it there first", client, k)
		}
	}
	return nil
}

// AddSubsystem adds a subsystem to an existing member.
type AddSubsystem struct {
	ID identifier.Client `json:"id"`
}

func (AddSubsystem) Action() string { return "subsystem.add" }
func (c AddSubsystem) Apply(st *State) error {
	if !c.ID.IsSubsystem() {
		return invalidf("%q is not a subsystem identifier (INSTANCE/CLASS/CODE/SUBSYSTEM)", c.ID.String())
	}
	m, ok := st.Members[c.ID.MemberID().String()]
	if !ok {
		return invalidf("member %s does not exist: add it first", c.ID.MemberID())
	}
	if slices.Contains(m.Subsystems, c.ID.SubsystemCode) {
		return conflictf("subsystem %s already exists", c.ID)
	}
	m.Subsystems = append(m.Subsystems, c.ID.SubsystemCode)
	slices.Sort(m.Subsystems)
	return nil
}

// RemoveSubsystem deletes a subsystem nothing refers to.
type RemoveSubsystem struct {
	ID identifier.Client `json:"id"`
}

func (RemoveSubsystem) Action() string { return "subsystem.remove" }
func (c RemoveSubsystem) Apply(st *State) error {
	if !st.hasClient(c.ID) || !c.ID.IsSubsystem() {
		return notFoundf("subsystem %s does not exist", c.ID)
	}
	if err := st.unreferenced(c.ID); err != nil {
		return err
	}
	m := st.Members[c.ID.MemberID().String()]
	m.Subsystems = slices.DeleteFunc(m.Subsystems, func(s string) bool { return s == c.ID.SubsystemCode })
	return nil
}

// AddServer registers a security server; it is published once approved.
type AddServer struct {
	ID       identifier.ServerID `json:"id"`
	Address  string              `json:"address"`
	AuthCert string              `json:"authCert"` // PEM
}

func (AddServer) Action() string { return "server.add" }
func (c AddServer) Apply(st *State) error {
	if err := c.ID.Validate(); err != nil {
		return invalidf("%v", err)
	}
	if _, ok := st.Members[c.ID.Owner.String()]; !ok {
		return invalidf("owner %s of security server %s is not a member: add it first", c.ID.Owner, c.ID)
	}
	if _, ok := st.Servers[c.ID.String()]; ok {
		return conflictf("security server %s already exists", c.ID)
	}
	if err := checkAddress(c.Address); err != nil {
		return err
	}
	cert, err := st.authCert(c.AuthCert)
	if err != nil {
		return err
	}
	for _, s := range st.Servers {
		for _, der := range s.AuthCerts {
			if string(der) == string(cert.Raw) {
				return conflictf("this authentication certificate is already registered for security server %s", s.ID)
			}
		}
	}
	st.Servers[c.ID.String()] = &Server{ID: c.ID, Address: c.Address, AuthCerts: [][]byte{cert.Raw}, Clients: []identifier.Client{}}
	return nil
}

// authCert parses a PEM authentication certificate and checks it chains to
// an approved CA and may act as TLS client and server.
func (st *State) authCert(pemText string) (*x509.Certificate, error) {
	certs, err := pkiutil.ParseCertificates([]byte(pemText))
	if err != nil {
		return nil, invalidf("authentication certificate: %v", err)
	}
	cert := certs[0]
	if len(st.Trust.ApprovedCAs) == 0 {
		return nil, invalidf("no approved CA yet: add the federation CA with 'registry trust ca' first")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, ca := range st.Trust.ApprovedCAs {
		if c, err := x509.ParseCertificate(ca.Cert); err == nil {
			roots.AddCert(c)
		}
		for _, der := range ca.Issuers {
			if c, err := x509.ParseCertificate(der); err == nil {
				inter.AddCert(c)
			}
		}
	}
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, invalidf("authentication certificate %q is not a valid TLS certificate of an approved CA: %v", cert.Subject.String(), err)
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return nil, invalidf("authentication certificate %q needs both serverAuth and clientAuth extended key usage (profile auth)", cert.Subject.String())
	}
	return cert, nil
}

// ApproveServer puts a registered server into the global configuration.
type ApproveServer struct {
	ID identifier.ServerID `json:"id"`
}

func (ApproveServer) Action() string { return "server.approve" }
func (c ApproveServer) Apply(st *State) error {
	s, ok := st.Servers[c.ID.String()]
	if !ok {
		return notFoundf("security server %s does not exist", c.ID)
	}
	if s.Approved {
		return conflictf("security server %s is already approved", c.ID)
	}
	s.Approved = true
	return nil
}

// SetServerAddress moves a security server to another address.
type SetServerAddress struct {
	ID      identifier.ServerID `json:"id"`
	Address string              `json:"address"`
}

func (SetServerAddress) Action() string { return "server.address" }
func (c SetServerAddress) Apply(st *State) error {
	s, ok := st.Servers[c.ID.String()]
	if !ok {
		return notFoundf("security server %s does not exist", c.ID)
	}
	if err := checkAddress(c.Address); err != nil {
		return err
	}
	if s.Address == c.Address {
		return conflictf("security server %s is already at %s", c.ID, c.Address)
	}
	s.Address = c.Address
	return nil
}

// RemoveServer deletes a security server.
type RemoveServer struct {
	ID identifier.ServerID `json:"id"`
}

func (RemoveServer) Action() string { return "server.remove" }
func (c RemoveServer) Apply(st *State) error {
	if _, ok := st.Servers[c.ID.String()]; !ok {
		return notFoundf("security server %s does not exist", c.ID)
	}
	delete(st.Servers, c.ID.String())
	return nil
}

// AddServerClient records that a server hosts a client.
type AddServerClient struct {
	Server identifier.ServerID `json:"server"`
	Client identifier.Client   `json:"client"`
}

func (AddServerClient) Action() string { return "server.client.add" }
func (c AddServerClient) Apply(st *State) error {
	s, ok := st.Servers[c.Server.String()]
	if !ok {
		return notFoundf("security server %s does not exist", c.Server)
	}
	if !st.hasClient(c.Client) {
		return invalidf("client %s does not exist", c.Client)
	}
	if slices.Contains(s.Clients, c.Client) {
		return conflictf("security server %s already hosts %s", c.Server, c.Client)
	}
	s.Clients = append(s.Clients, c.Client)
	return nil
}

// RemoveServerClient stops a server hosting a client.
type RemoveServerClient AddServerClient

func (RemoveServerClient) Action() string { return "server.client.remove" }
func (c RemoveServerClient) Apply(st *State) error {
	s, ok := st.Servers[c.Server.String()]
	if !ok || !slices.Contains(s.Clients, c.Client) {
		return notFoundf("security server %s does not host %s", c.Server, c.Client)
	}
	s.Clients = slices.DeleteFunc(s.Clients, func(x identifier.Client) bool { return x == c.Client })
	return nil
}

// AddService adds a service to the catalogue.
type AddService struct {
	ID          identifier.ServiceID `json:"id"`
	Description string               `json:"description"`
}

func (AddService) Action() string { return "service.add" }
func (c AddService) Apply(st *State) error {
	if err := c.ID.Validate(); err != nil {
		return invalidf("%v", err)
	}
	if !c.ID.Provider.IsSubsystem() || !st.hasClient(c.ID.Provider) {
		return invalidf("provider subsystem %s of service %s does not exist", c.ID.Provider, c.ID)
	}
	if err := checkName("service description", c.Description); err != nil {
		return err
	}
	if _, ok := st.Services[c.ID.String()]; ok {
		return conflictf("service %s already exists", c.ID)
	}
	st.Services[c.ID.String()] = &Service{ID: c.ID, Description: strings.TrimSpace(c.Description)}
	return nil
}

// RemoveService deletes a service from the catalogue.
type RemoveService struct {
	ID identifier.ServiceID `json:"id"`
}

func (RemoveService) Action() string { return "service.remove" }
func (c RemoveService) Apply(st *State) error {
	if _, ok := st.Services[c.ID.String()]; !ok {
		return notFoundf("service %s does not exist", c.ID)
	}
	delete(st.Services, c.ID.String())
	return nil
}

// AddGroup creates a global group.
type AddGroup struct {
	ID          identifier.GlobalGroupID `json:"id"`
	Description string                   `json:"description"`
}

func (AddGroup) Action() string { return "group.add" }
func (c AddGroup) Apply(st *State) error {
	if err := c.ID.Validate(); err != nil {
		return invalidf("%v", err)
	}
	if err := st.checkInstance("global group "+c.ID.String(), c.ID.Instance); err != nil {
		return err
	}
	if err := checkName("group description", c.Description); err != nil {
		return err
	}
	if _, ok := st.Groups[c.ID.String()]; ok {
		return conflictf("global group %s already exists", c.ID)
	}
	st.Groups[c.ID.String()] = &Group{ID: c.ID, Description: strings.TrimSpace(c.Description), Members: []identifier.Client{}}
	return nil
}

// RemoveGroup deletes a global group.
type RemoveGroup struct {
	ID identifier.GlobalGroupID `json:"id"`
}

func (RemoveGroup) Action() string { return "group.remove" }
func (c RemoveGroup) Apply(st *State) error {
	if _, ok := st.Groups[c.ID.String()]; !ok {
		return notFoundf("global group %s does not exist", c.ID)
	}
	delete(st.Groups, c.ID.String())
	return nil
}

// AddGroupMember adds a client to a global group.
type AddGroupMember struct {
	Group  identifier.GlobalGroupID `json:"group"`
	Client identifier.Client        `json:"client"`
}

func (AddGroupMember) Action() string { return "group.member.add" }
func (c AddGroupMember) Apply(st *State) error {
	g, ok := st.Groups[c.Group.String()]
	if !ok {
		return notFoundf("global group %s does not exist", c.Group)
	}
	if !st.hasClient(c.Client) {
		return invalidf("client %s does not exist", c.Client)
	}
	if slices.Contains(g.Members, c.Client) {
		return conflictf("%s is already in global group %s", c.Client, c.Group)
	}
	g.Members = append(g.Members, c.Client)
	return nil
}

// RemoveGroupMember removes a client from a global group.
type RemoveGroupMember AddGroupMember

func (RemoveGroupMember) Action() string { return "group.member.remove" }
func (c RemoveGroupMember) Apply(st *State) error {
	g, ok := st.Groups[c.Group.String()]
	if !ok || !slices.Contains(g.Members, c.Client) {
		return notFoundf("%s is not in global group %s", c.Client, c.Group)
	}
	g.Members = slices.DeleteFunc(g.Members, func(x identifier.Client) bool { return x == c.Client })
	return nil
}

// AddCA approves a certification authority.
type AddCA struct {
	Name     string   `json:"name"`
	Cert     string   `json:"cert"`              // PEM of the top CA
	Issuers  string   `json:"issuers,omitempty"` // PEM intermediates
	OCSPURLs []string `json:"ocspUrls"`
}

func (AddCA) Action() string { return "trust.ca.add" }
func (c AddCA) Apply(st *State) error {
	if err := checkName("CA name", c.Name); err != nil {
		return err
	}
	for _, ca := range st.Trust.ApprovedCAs {
		if ca.Name == c.Name {
			return conflictf("approved CA %q already exists", c.Name)
		}
	}
	certs, err := pkiutil.ParseCertificates([]byte(c.Cert))
	if err != nil || len(certs) != 1 {
		return invalidf("CA certificate: want exactly one PEM certificate")
	}
	top := certs[0]
	if !top.IsCA || top.CheckSignatureFrom(top) != nil {
		return invalidf("CA certificate %q is not a self-signed CA certificate", top.Subject.String())
	}
	ca := CA{Name: strings.TrimSpace(c.Name), Cert: top.Raw}
	if strings.TrimSpace(c.Issuers) != "" {
		issuers, err := pkiutil.ParseCertificates([]byte(c.Issuers))
		if err != nil {
			return invalidf("issuer certificates: %v", err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(top)
		for _, ic := range issuers {
			if _, err := ic.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil || !ic.IsCA {
				return invalidf("issuer %q is not a CA below %q", ic.Subject.String(), top.Subject.String())
			}
			ca.Issuers = append(ca.Issuers, ic.Raw)
		}
	}
	for _, u := range c.OCSPURLs {
		if err := checkURL("OCSP responder URL", u); err != nil {
			return err
		}
	}
	ca.OCSPURLs = append([]string{}, c.OCSPURLs...)
	st.Trust.ApprovedCAs = append(st.Trust.ApprovedCAs, ca)
	return nil
}

func checkURL(what, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidf("%s %q must be an absolute http(s) URL", what, s)
	}
	return nil
}

// AddTSA approves a time-stamp authority.
type AddTSA struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Cert string `json:"cert"` // PEM
}

func (AddTSA) Action() string { return "trust.tsa.add" }
func (c AddTSA) Apply(st *State) error {
	if err := checkName("TSA name", c.Name); err != nil {
		return err
	}
	if err := checkURL("TSA URL", c.URL); err != nil {
		return err
	}
	for _, t := range st.Trust.TSAs {
		if t.Name == c.Name {
			return conflictf("TSA %q already exists", c.Name)
		}
	}
	certs, err := pkiutil.ParseCertificates([]byte(c.Cert))
	if err != nil {
		return invalidf("TSA certificate: %v", err)
	}
	if !slices.Contains(certs[0].ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return invalidf("certificate %q lacks the timeStamping extended key usage", certs[0].Subject.String())
	}
	st.Trust.TSAs = append(st.Trust.TSAs, TSA{Name: strings.TrimSpace(c.Name), URL: c.URL, Cert: certs[0].Raw})
	return nil
}

// RemoveTrust removes an approved CA or TSA by name.
type RemoveTrust struct {
	Kind string `json:"kind"` // "ca" or "tsa"
	Name string `json:"name"`
}

func (RemoveTrust) Action() string { return "trust.remove" }
func (c RemoveTrust) Apply(st *State) error {
	switch c.Kind {
	case "ca":
		n := len(st.Trust.ApprovedCAs)
		st.Trust.ApprovedCAs = slices.DeleteFunc(st.Trust.ApprovedCAs, func(ca CA) bool { return ca.Name == c.Name })
		if n == len(st.Trust.ApprovedCAs) {
			return notFoundf("approved CA %q does not exist", c.Name)
		}
	case "tsa":
		n := len(st.Trust.TSAs)
		st.Trust.TSAs = slices.DeleteFunc(st.Trust.TSAs, func(t TSA) bool { return t.Name == c.Name })
		if n == len(st.Trust.TSAs) {
			return notFoundf("TSA %q does not exist", c.Name)
		}
	default:
		return invalidf("kind %q: use ca or tsa", c.Kind)
	}
	return nil
}

// SetTrustSettings changes the OCSP freshness limit and the configuration
// validity period; a nil field is left as it is.
type SetTrustSettings struct {
	OCSPFreshnessSeconds *int `json:"ocspFreshnessSeconds,omitempty"`
	ConfValiditySeconds  *int `json:"confValiditySeconds,omitempty"`
}

func (SetTrustSettings) Action() string { return "trust.settings" }
func (c SetTrustSettings) Apply(st *State) error {
	if c.OCSPFreshnessSeconds == nil && c.ConfValiditySeconds == nil {
		return invalidf("nothing to change: give ocspFreshnessSeconds and/or confValiditySeconds")
	}
	if v := c.OCSPFreshnessSeconds; v != nil {
		if *v < 60 || *v > 7*24*3600 {
			return invalidf("ocspFreshnessSeconds %d is outside 60..604800", *v)
		}
		st.Trust.OCSPFreshnessSeconds = *v
	}
	if v := c.ConfValiditySeconds; v != nil {
		if *v < 60 || time.Duration(*v)*time.Second > 30*24*time.Hour {
			return invalidf("confValiditySeconds %d is outside 60..2592000", *v)
		}
		st.Trust.ConfValiditySeconds = *v
	}
	return nil
}

// Batch applies several changes as one: all or nothing. The sample
// federation is loaded with one.
type Batch struct {
	Name    string   `json:"name"`
	Changes []Change `json:"-"`
}

func (b Batch) Action() string { return "batch." + b.Name }
func (b Batch) Apply(st *State) error {
	for i, c := range b.Changes {
		if err := c.Apply(st); err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, c.Action(), err)
		}
	}
	return nil
}

// changeTypes maps an audit action name to a fresh value of its change type,
// for decoding changes sent as {"action": ..., "change": {...}}.
var changeTypes = map[string]func() Change{}

func init() {
	for _, c := range []Change{
		AddMemberClass{}, AddMember{}, RemoveMember{}, AddSubsystem{}, RemoveSubsystem{},
		AddServer{}, ApproveServer{}, SetServerAddress{}, RemoveServer{}, AddServerClient{}, RemoveServerClient{},
		AddService{}, RemoveService{}, SetServiceDoc{}, RemoveServiceDoc{}, AddGroup{}, RemoveGroup{}, AddGroupMember{}, RemoveGroupMember{},
		AddCA{}, AddTSA{}, RemoveTrust{}, SetTrustSettings{},
	} {
		changeTypes[c.Action()] = func() Change { return c }
	}
}

// Actions lists the change actions DecodeChange accepts.
func Actions() []string { return sortedKeys(changeTypes) }

// DecodeChange decodes the JSON of the change named action, strictly
// (unknown fields are errors).
func DecodeChange(action string, raw []byte) (Change, error) {
	mk, ok := changeTypes[action]
	if !ok {
		return nil, invalidf("unknown action %q (known: %s)", action, strings.Join(Actions(), ", "))
	}
	ptr := reflect.New(reflect.TypeOf(mk()))
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr.Interface()); err != nil {
		return nil, invalidf("%s: %v", action, err)
	}
	if dec.More() {
		return nil, invalidf("%s: trailing data after the JSON object", action)
	}
	return ptr.Elem().Interface().(Change), nil
}

// MaxServiceDoc caps a service's description document (bytes).
const MaxServiceDoc = 512 << 10

// Types of service description documents.
const (
	DocWSDL    = "wsdl"    // WSDL 1.1 (or 2.0) of a SOAP service
	DocOpenAPI = "openapi" // OpenAPI 3 description of a REST service, YAML or JSON
)

// SetServiceDoc attaches a description document to a service, replacing
// the one it had. The audit trail records the document's type, size and
// SHA-256, not its text (the state keeps the text).
type SetServiceDoc struct {
	ID      identifier.ServiceID `json:"id"`
	Type    string               `json:"type"` // DocWSDL or DocOpenAPI
	Content string               `json:"content"`
}

func (SetServiceDoc) Action() string { return "service.doc.set" }
func (c SetServiceDoc) Apply(st *State) error {
	s, ok := st.Services[c.ID.String()]
	if !ok {
		return notFoundf("service %s does not exist", c.ID)
	}
	if err := CheckServiceDoc(c.Type, []byte(c.Content)); err != nil {
		return fmt.Errorf("service %s: %w", c.ID, err)
	}
	sum := sha256.Sum256([]byte(c.Content))
	ns := *s
	ns.Doc = &ServiceDoc{Type: c.Type, Content: c.Content, SHA256: hex.EncodeToString(sum[:])}
	st.Services[c.ID.String()] = &ns
	return nil
}

// auditForm is what the audit trail keeps of the change.
func (c SetServiceDoc) auditForm() any {
	sum := sha256.Sum256([]byte(c.Content))
	return map[string]any{"id": c.ID, "type": c.Type, "bytes": len(c.Content), "sha256": hex.EncodeToString(sum[:])}
}

// RemoveServiceDoc removes a service's description document.
type RemoveServiceDoc struct {
	ID identifier.ServiceID `json:"id"`
}

func (RemoveServiceDoc) Action() string { return "service.doc.remove" }
func (c RemoveServiceDoc) Apply(st *State) error {
	s, ok := st.Services[c.ID.String()]
	if !ok {
		return notFoundf("service %s does not exist", c.ID)
	}
	if s.Doc == nil {
		return notFoundf("service %s has no description document", c.ID)
	}
	ns := *s
	ns.Doc = nil
	st.Services[c.ID.String()] = &ns
	return nil
}

var openAPIVersion = regexp.MustCompile(`^3\.[0-9]+(\.[0-9]+)?$`)

// CheckServiceDoc checks that content is a document of type typ: for
// DocWSDL well-formed XML whose root is a WSDL definitions (1.1) or
// description (2.0) element, without a DOCTYPE; for DocOpenAPI YAML or
// JSON whose top level has openapi: 3.x and an info object. Either must
// be UTF-8 of at most MaxServiceDoc bytes.
func CheckServiceDoc(typ string, content []byte) error {
	if len(content) == 0 {
		return invalidf("the %s document is empty", typ)
	}
	if len(content) > MaxServiceDoc {
		return invalidf("the %s document is %d bytes, over the %d-byte limit", typ, len(content), MaxServiceDoc)
	}
	if !utf8.Valid(content) {
		return invalidf("the %s document is not UTF-8 text", typ)
	}
	switch typ {
	case DocWSDL:
		return checkWSDL(content)
	case DocOpenAPI:
		return checkOpenAPI(content)
	}
	return invalidf("description document type %q is not %q or %q", typ, DocWSDL, DocOpenAPI)
}

func checkWSDL(content []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(content))
	var root *xml.StartElement
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return invalidf("the WSDL is not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return invalidf("the WSDL has a DOCTYPE or other directive; a WSDL needs none")
		case xml.StartElement:
			if depth == 0 {
				if root != nil {
					return invalidf("the WSDL has more than one root element")
				}
				root = &t
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return invalidf("the WSDL has text outside its root element")
			}
		}
	}
	if root == nil {
		return invalidf("the WSDL has no root element")
	}
	switch root.Name {
	case xml.Name{Space: "http://schemas.xmlsoap.org/wsdl/", Local: "definitions"}, xml.Name{Space: "http://www.w3.org/ns/wsdl", Local: "description"}:
		return nil
	}
	return invalidf("the XML's root element is {%s}%s, not a WSDL definitions element", root.Name.Space, root.Name.Local)
}

func checkOpenAPI(content []byte) error {
	var doc map[string]any
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return invalidf("the OpenAPI document is not valid YAML or JSON: %v", err)
	}
	if doc == nil {
		return invalidf("the OpenAPI document is not a YAML or JSON object")
	}
	v, ok := doc["openapi"].(string)
	if !ok || !openAPIVersion.MatchString(v) {
		return invalidf("the OpenAPI document has no openapi: 3.x field (found %v)", doc["openapi"])
	}
	if _, ok := doc["info"].(map[string]any); !ok {
		return invalidf("the OpenAPI document has no info object")
	}
	return nil
}
