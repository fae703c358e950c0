package globalconf

import (
	"crypto/x509"
	"time"

	"github.com/sluz/sluz/registry/identifier"
)

// Conf is the content of one global configuration version: everything a
// security server needs to find, trust and authorise its peers.
type Conf struct {
	Instance string    // X-Road instance identifier, e.g. "AZ"
	Version  uint64    // strictly increasing; clients refuse older versions
	Created  time.Time // when the registry built it
	Expires  time.Time // clients stop using it after this instant

	Members  []Member
	Servers  []SecurityServer
	Services []Service
	Groups   []Group
	Trust    Trust
}

// Member is a federation member with its subsystems.
type Member struct {
	ID         identifier.Client // a member (no subsystem)
	Name       string            // display name, UTF-8 (Azerbaijani letters kept)
	Subsystems []string          // subsystem codes
}

// SecurityServer is a registered, approved security server.
type SecurityServer struct {
	ID      identifier.ServerID
	Address string // host or host:port of its service proxy (PR-MESSTRANSP port 5500 when no port)
	// AuthCertHashes are SHA-256 digests of the DER authentication
	// certificates the server may present in TLS (PR-MESSTRANSP §2 step 4).
	AuthCertHashes [][]byte
	Clients        []identifier.Client // members and subsystems it hosts (the owner is implied)
}

// Service is one service a subsystem provides.
type Service struct {
	ID          identifier.ServiceID
	Description string
}

// Group is a global group of clients, usable in access rights.
type Group struct {
	ID          identifier.GlobalGroupID
	Description string
	Members     []identifier.Client
}

// Trust says whom the federation trusts.
type Trust struct {
	ApprovedCAs []ApprovedCA
	TSAs        []TSA
	// OCSPFreshness is the maximum age of an OCSP response a receiver
	// accepts (X-Road's ocspFreshnessSeconds).
	OCSPFreshness time.Duration
}

// ApprovedCA is a CA whose certificates members and servers may use.
type ApprovedCA struct {
	Name     string
	Cert     *x509.Certificate // the trust anchor (top CA)
	Issuers  []*x509.Certificate
	OCSPURLs []string // responders for certificates of this CA
}

// TSA is an approved time-stamp authority.
type TSA struct {
	Name string
	URL  string
	Cert *x509.Certificate
}
