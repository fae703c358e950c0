package opmon

import (
	"crypto/x509"
	"unicode/utf8"

	"github.com/sluz/sluz/registry/identifier"
)

// Namespace of the getSecurityServerOperationalData messages and of the
// record elements in its answer (PR-OPMON).
const Namespace = "http://x-road.eu/xsd/op-monitoring.xsd"

// Sides of an exchange (PR-OPMON securityServerType).
const (
	Client   = "Client"   // the client's security server (client proxy)
	Producer = "Producer" // the provider's security server (service proxy)
)

// Record is one exchange as one security server saw it: identifiers,
// times, sizes and result, never a message body. Field names follow
// PR-OPMON's record fields where they apply; the Şlüz additions are marked.
// Times are Unix milliseconds, 0 when the exchange did not get that far.
type Record struct {
	// MonitoringDataTs is when the record was stored (Unix seconds).
	MonitoringDataTs int64 `json:"monitoringDataTs" xml:"monitoringDataTs"`
	// SecurityServerID names the server that recorded it (Şlüz).
	SecurityServerID   string `json:"securityServerId,omitempty" xml:"securityServerId,omitempty"`
	SecurityServerType string `json:"securityServerType" xml:"securityServerType"`

	// RequestInTs: the request arrived (from the IS, or from the peer server).
	RequestInTs int64 `json:"requestInTs" xml:"requestInTs"`
	// RequestOutTs: it left for the next hop (the provider's server, or the provider IS).
	RequestOutTs int64 `json:"requestOutTs,omitempty" xml:"requestOutTs,omitempty"`
	// ResponseInTs: the next hop's answer came back.
	ResponseInTs int64 `json:"responseInTs,omitempty" xml:"responseInTs,omitempty"`
	// ResponseOutTs: the answer (or fault) was released to the caller.
	ResponseOutTs int64 `json:"responseOutTs" xml:"responseOutTs"`

	ClientXRoadInstance   string `json:"clientXRoadInstance,omitempty" xml:"clientXRoadInstance,omitempty"`
	ClientMemberClass     string `json:"clientMemberClass,omitempty" xml:"clientMemberClass,omitempty"`
	ClientMemberCode      string `json:"clientMemberCode,omitempty" xml:"clientMemberCode,omitempty"`
	ClientSubsystemCode   string `json:"clientSubsystemCode,omitempty" xml:"clientSubsystemCode,omitempty"`
	ServiceXRoadInstance  string `json:"serviceXRoadInstance,omitempty" xml:"serviceXRoadInstance,omitempty"`
	ServiceMemberClass    string `json:"serviceMemberClass,omitempty" xml:"serviceMemberClass,omitempty"`
	ServiceMemberCode     string `json:"serviceMemberCode,omitempty" xml:"serviceMemberCode,omitempty"`
	ServiceSubsystemCode  string `json:"serviceSubsystemCode,omitempty" xml:"serviceSubsystemCode,omitempty"`
	ServiceCode           string `json:"serviceCode,omitempty" xml:"serviceCode,omitempty"`
	ServiceVersion        string `json:"serviceVersion,omitempty" xml:"serviceVersion,omitempty"`
	RepresentedPartyClass string `json:"representedPartyClass,omitempty" xml:"representedPartyClass,omitempty"`
	RepresentedPartyCode  string `json:"representedPartyCode,omitempty" xml:"representedPartyCode,omitempty"`

	MessageID              string `json:"messageId,omitempty" xml:"messageId,omitempty"`
	MessageUserID          string `json:"messageUserId,omitempty" xml:"messageUserId,omitempty"`
	MessageIssue           string `json:"messageIssue,omitempty" xml:"messageIssue,omitempty"`
	MessageProtocolVersion string `json:"messageProtocolVersion,omitempty" xml:"messageProtocolVersion,omitempty"`
	// XRequestID is the x-request-id both servers log the exchange under.
	XRequestID string `json:"xRequestId,omitempty" xml:"xRequestId,omitempty"`

	// ClientSecurityServer and ServiceSecurityServer are the servers'
	// identifiers (Şlüz; PR-OPMON has only their addresses).
	ClientSecurityServer         string `json:"clientSecurityServerId,omitempty" xml:"clientSecurityServerId,omitempty"`
	ServiceSecurityServer        string `json:"serviceSecurityServerId,omitempty" xml:"serviceSecurityServerId,omitempty"`
	ClientSecurityServerAddress  string `json:"clientSecurityServerAddress,omitempty" xml:"clientSecurityServerAddress,omitempty"`
	ServiceSecurityServerAddress string `json:"serviceSecurityServerAddress,omitempty" xml:"serviceSecurityServerAddress,omitempty"`

	// ServiceType is "REST" for an exchange of the REST protocol (PR-OPMON;
	// empty for SOAP, which X-Road records as "WSDL"), with the call's
	// RestMethod, RestPath (the service path, raw) and the provider's
	// StatusCode (0 when there was no answer).
	ServiceType string `json:"serviceType,omitempty" xml:"serviceType,omitempty"`
	RestMethod  string `json:"restMethod,omitempty" xml:"restMethod,omitempty"`
	RestPath    string `json:"restPath,omitempty" xml:"restPath,omitempty"`
	StatusCode  int    `json:"statusCode,omitempty" xml:"statusCode,omitempty"`

	// RequestSize and ResponseSize are the SOAP messages' sizes in bytes
	// (0 for a fault answer).
	RequestSize  int64 `json:"requestSize" xml:"requestSize"`
	ResponseSize int64 `json:"responseSize" xml:"responseSize"`

	Succeeded   bool   `json:"succeeded" xml:"succeeded"`
	FaultCode   string `json:"faultCode,omitempty" xml:"faultCode,omitempty"`
	FaultString string `json:"faultString,omitempty" xml:"faultString,omitempty"`

	// Peer is what the recording server knew of the other server when the
	// exchange ended; Options.Complete turns it into the identifier fields
	// above, in the background writer. Not stored.
	Peer Peer `json:"-" xml:"-"`
}

// Peer is the other security server of an exchange, as seen on the
// exchange's path: its identifier when the client proxy chose it, or the
// TLS certificate it authenticated with at the service proxy.
type Peer struct {
	ID   identifier.ServerID
	Cert *x509.Certificate
}

// ClientID is the record's client identifier (zero when the request could
// not be read).
func (r *Record) ClientID() identifier.Client {
	return identifier.Client{Instance: r.ClientXRoadInstance, MemberClass: r.ClientMemberClass, MemberCode: r.ClientMemberCode, SubsystemCode: r.ClientSubsystemCode}
}

// ServiceID is the record's service identifier.
func (r *Record) ServiceID() identifier.ServiceID {
	return identifier.ServiceID{
		Provider:    identifier.Client{Instance: r.ServiceXRoadInstance, MemberClass: r.ServiceMemberClass, MemberCode: r.ServiceMemberCode, SubsystemCode: r.ServiceSubsystemCode},
		ServiceCode: r.ServiceCode, ServiceVersion: r.ServiceVersion,
	}
}

// SetClient fills the client identifier fields.
func (r *Record) SetClient(c identifier.Client) {
	r.ClientXRoadInstance, r.ClientMemberClass, r.ClientMemberCode, r.ClientSubsystemCode = c.Instance, c.MemberClass, c.MemberCode, c.SubsystemCode
}

// SetService fills the service identifier fields.
func (r *Record) SetService(s identifier.ServiceID) {
	p := s.Provider
	r.ServiceXRoadInstance, r.ServiceMemberClass, r.ServiceMemberCode, r.ServiceSubsystemCode = p.Instance, p.MemberClass, p.MemberCode, p.SubsystemCode
	r.ServiceCode, r.ServiceVersion = s.ServiceCode, s.ServiceVersion
}

// Involves reports whether member (a member identifier) took part in the
// exchange: as the client's member or as the service provider's member.
// This is what a member other than the server's owner may read.
func (r *Record) Involves(member identifier.Client) bool {
	member = member.MemberID()
	return r.ClientID().MemberID() == member || r.ServiceID().Provider.MemberID() == member
}

// Limits of PR-OPMON on string fields.
const (
	maxString      = 255
	maxFaultString = 2048
)

// clamp truncates the record's strings to PR-OPMON's limits (on a UTF-8
// boundary).
func (r *Record) clamp() {
	for _, p := range []*string{&r.SecurityServerID, &r.SecurityServerType, &r.ClientXRoadInstance, &r.ClientMemberClass, &r.ClientMemberCode,
		&r.ClientSubsystemCode, &r.ServiceXRoadInstance, &r.ServiceMemberClass, &r.ServiceMemberCode, &r.ServiceSubsystemCode,
		&r.ServiceCode, &r.ServiceVersion, &r.RepresentedPartyClass, &r.RepresentedPartyCode, &r.MessageID, &r.MessageUserID,
		&r.MessageIssue, &r.MessageProtocolVersion, &r.XRequestID, &r.ClientSecurityServer, &r.ServiceSecurityServer,
		&r.ClientSecurityServerAddress, &r.ServiceSecurityServerAddress, &r.FaultCode, &r.ServiceType, &r.RestMethod, &r.RestPath} {
		*p = truncate(*p, maxString)
	}
	r.FaultString = truncate(r.FaultString, maxFaultString)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
