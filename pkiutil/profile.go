package pkiutil

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ProfileConfig is a certificate profile as written down: plain names, so that
// the table below reads like policy. NewProfile validates it into a Profile.
type ProfileConfig struct {
	Name        string
	Description string
	// KeyUsage names: digitalSignature, nonRepudiation, keyEncipherment,
	// keyAgreement, certSign, crlSign.
	KeyUsage []string
	// ExtKeyUsage names: serverAuth, clientAuth, timeStamping, ocspSigning.
	ExtKeyUsage []string
	// ExtKeyUsageCritical marks the EKU extension critical. RFC 3161 §2.3
	// requires it for a TSA certificate.
	ExtKeyUsageCritical bool
	// CA profiles issue certificates; MaxPathLen limits the chain below.
	CA         bool
	MaxPathLen int
	// OCSPNoCheck adds id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): clients
	// need not ask for the status of the responder's own certificate.
	OCSPNoCheck bool
	// Validity is the default lifetime; MaxValidity the most a request may ask for.
	Validity    time.Duration
	MaxValidity time.Duration
	// Subject rules.
	NeedsMember  bool // the subject must carry a member identifier (instance/class/code)
	NeedsAddress bool // at least one DNS name or IP address (TLS peers are named by them)
}

// Profile is a validated certificate profile. Issuance goes only through one.
type Profile struct {
	Name, Description   string
	KeyUsage            x509.KeyUsage
	ExtKeyUsage         []x509.ExtKeyUsage
	ExtKeyUsageCritical bool
	CA                  bool
	MaxPathLen          int
	OCSPNoCheck         bool
	Validity            time.Duration
	MaxValidity         time.Duration
	NeedsMember         bool
	NeedsAddress        bool
}

const year = 365 * 24 * time.Hour

// Profile names.
const (
	ProfileRootCA        = "root-ca"
	ProfileIssuingCA     = "issuing-ca"
	ProfileAuth          = "auth"
	ProfileSign          = "sign"
	ProfileTSA           = "tsa"
	ProfileOCSP          = "ocsp"
	ProfileAdmin         = "admin"
	ProfileConfigSigning = "config-signing"
)

// builtinProfiles is the federation's certificate policy.
var builtinProfiles = []ProfileConfig{
	{Name: ProfileRootCA, Description: "federation root CA (self-signed)",
		KeyUsage: []string{"certSign", "crlSign"}, CA: true, MaxPathLen: 1,
		Validity: 20 * year, MaxValidity: 25 * year},
	{Name: ProfileIssuingCA, Description: "issuing CA below the root; signs every end-entity certificate",
		KeyUsage: []string{"certSign", "crlSign"}, CA: true, MaxPathLen: 0,
		Validity: 10 * year, MaxValidity: 15 * year},
	// PR-MESSTRANSP §2: security servers present the auth certificate as TLS
	// client and as TLS server, and are trusted by its hash, not by host name.
	{Name: ProfileAuth, Description: "security server TLS authentication (client and server)",
		KeyUsage: []string{"digitalSignature"}, ExtKeyUsage: []string{"serverAuth", "clientAuth"},
		Validity: 2 * year, MaxValidity: 5 * year, NeedsAddress: true},
	// X-Road's signature verifier requires nonRepudiation on signing certificates.
	{Name: ProfileSign, Description: "member message signing (subject names the member)",
		KeyUsage: []string{"digitalSignature", "nonRepudiation"},
		Validity: 2 * year, MaxValidity: 5 * year, NeedsMember: true},
	{Name: ProfileTSA, Description: "RFC 3161 time-stamp authority",
		KeyUsage: []string{"digitalSignature", "nonRepudiation"}, ExtKeyUsage: []string{"timeStamping"},
		ExtKeyUsageCritical: true, Validity: 5 * year, MaxValidity: 10 * year},
	{Name: ProfileOCSP, Description: "RFC 6960 delegated OCSP responder",
		KeyUsage: []string{"digitalSignature"}, ExtKeyUsage: []string{"ocspSigning"}, OCSPNoCheck: true,
		Validity: 1 * year, MaxValidity: 2 * year},
	{Name: ProfileAdmin, Description: "operator client certificate for admin APIs",
		KeyUsage: []string{"digitalSignature"}, ExtKeyUsage: []string{"clientAuth"},
		Validity: 1 * year, MaxValidity: 2 * year},
	{Name: ProfileConfigSigning, Description: "registry global-configuration signing",
		KeyUsage: []string{"digitalSignature", "nonRepudiation"},
		Validity: 3 * year, MaxValidity: 5 * year},
}

var keyUsageNames = map[string]x509.KeyUsage{
	"digitalSignature": x509.KeyUsageDigitalSignature,
	"nonRepudiation":   x509.KeyUsageContentCommitment,
	"keyEncipherment":  x509.KeyUsageKeyEncipherment,
	"keyAgreement":     x509.KeyUsageKeyAgreement,
	"certSign":         x509.KeyUsageCertSign,
	"crlSign":          x509.KeyUsageCRLSign,
}

var extKeyUsageNames = map[string]x509.ExtKeyUsage{
	"serverAuth":   x509.ExtKeyUsageServerAuth,
	"clientAuth":   x509.ExtKeyUsageClientAuth,
	"timeStamping": x509.ExtKeyUsageTimeStamping,
	"ocspSigning":  x509.ExtKeyUsageOCSPSigning,
}

// OIDs of the extended key usages, for building a critical EKU extension
// (crypto/x509 always writes its own one non-critical).
var extKeyUsageOIDs = map[x509.ExtKeyUsage]asn1.ObjectIdentifier{
	x509.ExtKeyUsageServerAuth:   {1, 3, 6, 1, 5, 5, 7, 3, 1},
	x509.ExtKeyUsageClientAuth:   {1, 3, 6, 1, 5, 5, 7, 3, 2},
	x509.ExtKeyUsageTimeStamping: {1, 3, 6, 1, 5, 5, 7, 3, 8},
	x509.ExtKeyUsageOCSPSigning:  {1, 3, 6, 1, 5, 5, 7, 3, 9},
}

var (
	oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
)

// NewProfile validates c. Errors name the profile and the bad value.
func NewProfile(c ProfileConfig) (*Profile, error) {
	if c.Name == "" {
		return nil, fmt.Errorf("profile: name is empty")
	}
	p := &Profile{
		Name: c.Name, Description: c.Description, ExtKeyUsageCritical: c.ExtKeyUsageCritical,
		CA: c.CA, MaxPathLen: c.MaxPathLen, OCSPNoCheck: c.OCSPNoCheck,
		Validity: c.Validity, MaxValidity: c.MaxValidity,
		NeedsMember: c.NeedsMember, NeedsAddress: c.NeedsAddress,
	}
	for _, n := range c.KeyUsage {
		ku, ok := keyUsageNames[n]
		if !ok {
			return nil, fmt.Errorf("profile %s: unknown key usage %q", c.Name, n)
		}
		p.KeyUsage |= ku
	}
	if p.KeyUsage == 0 {
		return nil, fmt.Errorf("profile %s: no key usage (RFC 5280 §4.2.1.3 wants one on every certificate here)", c.Name)
	}
	for _, n := range c.ExtKeyUsage {
		eku, ok := extKeyUsageNames[n]
		if !ok {
			return nil, fmt.Errorf("profile %s: unknown extended key usage %q", c.Name, n)
		}
		p.ExtKeyUsage = append(p.ExtKeyUsage, eku)
	}
	if c.CA != (p.KeyUsage&x509.KeyUsageCertSign != 0) {
		return nil, fmt.Errorf("profile %s: certSign key usage must be set exactly on CA profiles (RFC 5280 §4.2.1.9)", c.Name)
	}
	if c.CA && len(c.ExtKeyUsage) > 0 {
		return nil, fmt.Errorf("profile %s: a CA profile must not restrict extended key usage", c.Name)
	}
	if c.ExtKeyUsageCritical && len(c.ExtKeyUsage) == 0 {
		return nil, fmt.Errorf("profile %s: critical extended key usage set without any usage", c.Name)
	}
	if c.Validity <= 0 || c.MaxValidity < c.Validity {
		return nil, fmt.Errorf("profile %s: validity %s must be positive and at most the maximum %s", c.Name, c.Validity, c.MaxValidity)
	}
	return p, nil
}

var profiles = func() map[string]*Profile {
	m := make(map[string]*Profile, len(builtinProfiles))
	for _, c := range builtinProfiles {
		p, err := NewProfile(c)
		if err != nil {
			panic(err) // the table above is code: a bad entry is a programming error caught by any test
		}
		m[p.Name] = p
	}
	return m
}()

// LookupProfile returns the named built-in profile.
func LookupProfile(name string) (*Profile, error) {
	if p, ok := profiles[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("unknown certificate profile %q: choose one of %s", name, strings.Join(ProfileNames(), ", "))
}

// ProfileNames lists the built-in profiles in a stable order.
func ProfileNames() []string {
	names := make([]string, 0, len(profiles))
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EndEntityProfiles lists the profiles `pkiutil issue` accepts (no CAs).
func EndEntityProfiles() []*Profile {
	var out []*Profile
	for _, c := range builtinProfiles {
		if p := profiles[c.Name]; !p.CA {
			out = append(out, p)
		}
	}
	return out
}

// apply puts the profile's usages into a certificate template.
func (p *Profile) apply(tmpl *x509.Certificate) error {
	tmpl.KeyUsage = p.KeyUsage
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = p.CA
	if p.CA {
		tmpl.MaxPathLen = p.MaxPathLen
		tmpl.MaxPathLenZero = p.MaxPathLen == 0
	}
	if p.ExtKeyUsageCritical {
		oids := make([]asn1.ObjectIdentifier, 0, len(p.ExtKeyUsage))
		for _, eku := range p.ExtKeyUsage {
			oids = append(oids, extKeyUsageOIDs[eku])
		}
		val, err := asn1.Marshal(oids)
		if err != nil {
			return err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkixExtension(oidExtKeyUsage, true, val))
	} else {
		tmpl.ExtKeyUsage = p.ExtKeyUsage
	}
	if p.OCSPNoCheck {
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkixExtension(oidOCSPNoCheck, false, asn1.NullBytes))
	}
	return nil
}

// KeyUsageNames lists the profile's key usages by their RFC 5280 names.
func (p *Profile) KeyUsageNames() []string {
	var out []string
	for _, n := range []string{"digitalSignature", "nonRepudiation", "keyEncipherment", "keyAgreement", "certSign", "crlSign"} {
		if p.KeyUsage&keyUsageNames[n] != 0 {
			out = append(out, n)
		}
	}
	return out
}

// ExtKeyUsageNames lists the profile's extended key usages by name.
func (p *Profile) ExtKeyUsageNames() []string {
	var out []string
	for _, eku := range p.ExtKeyUsage {
		for n, v := range extKeyUsageNames {
			if v == eku {
				out = append(out, n)
			}
		}
	}
	return out
}
