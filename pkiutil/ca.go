package pkiutil

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/durable"
)

// Files of a trust directory.
const (
	FileRootCert          = "root-ca.pem"
	FileRootKey           = "root-ca.key"
	FileCACert            = "ca.pem"
	FileCAKey             = "ca.key"
	FileChain             = "ca-chain.pem" // issuing CA then root: the -untrusted/-CAfile pair in one file
	FileConfigSigningCert = "config-signing.pem"
	FileConfigSigningKey  = "config-signing.key"
	FileOCSPCert          = "ocsp.pem"
	FileOCSPKey           = "ocsp.key"
	FileTSACert           = "tsa.pem"
	FileTSAKey            = "tsa.key"
	FileStatusStore       = "status.db"
	FileTSASerials        = "tsa-serials.db"
	FileFederation        = "federation.json"
)

// trustFiles are the files Init writes; --force replaces exactly these.
var trustFiles = []string{
	FileRootCert, FileRootKey, FileCACert, FileCAKey, FileChain,
	FileConfigSigningCert, FileConfigSigningKey, FileOCSPCert, FileOCSPKey,
	FileTSACert, FileTSAKey, FileStatusStore, FileTSASerials, FileFederation,
}

// Federation describes a trust directory (federation.json).
type Federation struct {
	Name     string  `json:"name"`     // shown in CA subjects, e.g. "Şlüz AZ"
	Instance string  `json:"instance"` // X-Road instance identifier, e.g. "AZ"
	KeyType  KeyType `json:"keyType"`  // default for keys issued later
}

// InitOptions configures Init.
type InitOptions struct {
	Dir      string
	Name     string  // default "Şlüz <Instance>"
	Instance string  // default "AZ"
	KeyType  KeyType // default ECDSA P-256
	Force    bool    // replace an existing trust directory's files
	Now      func() time.Time
}

// CA is an opened trust directory: the issuing CA and its status store.
type CA struct {
	Dir        string
	Federation Federation
	Root       *x509.Certificate
	Cert       *x509.Certificate // the issuing CA
	Store      *Store
	key        crypto.Signer
	now        func() time.Time
}

// Init creates a federation trust directory: root CA, issuing CA, and the
// certificates the trust services sign with (registry configuration signing,
// OCSP responder, TSA), plus an empty status store. It refuses to touch a
// directory that already holds a federation unless opts.Force is set.
func Init(opts InitOptions) (*CA, error) {
	if opts.Dir == "" {
		return nil, errors.New("init: no trust directory given")
	}
	if opts.Instance == "" {
		opts.Instance = "AZ"
	}
	if err := checkIdentifierPart("instance", opts.Instance); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	if opts.Name == "" {
		opts.Name = "Şlüz " + opts.Instance
	}
	if opts.KeyType == "" {
		opts.KeyType = KeyECDSAP256
	}
	if _, err := ParseKeyType(string(opts.KeyType)); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	for _, f := range trustFiles {
		p := filepath.Join(opts.Dir, f)
		if _, err := os.Lstat(p); err == nil {
			if !opts.Force {
				return nil, fmt.Errorf("init: %s already holds a federation (%s exists): use --force to replace it", opts.Dir, f)
			}
			if err := os.Remove(p); err != nil {
				return nil, fmt.Errorf("init: %w", err)
			}
		}
	}

	fed := Federation{Name: opts.Name, Instance: opts.Instance, KeyType: opts.KeyType}
	rootKey, err := GenerateKey(opts.KeyType)
	if err != nil {
		return nil, err
	}
	rootSubject := pkix.Name{Country: []string{opts.Instance}, Organization: []string{opts.Name}, CommonName: opts.Name + " Root CA"}
	root, err := createCert(profiles[ProfileRootCA], rootSubject, rootKey.Public(), nil, rootKey, now(), 0, nil)
	if err != nil {
		return nil, fmt.Errorf("init: root CA: %w", err)
	}
	caKey, err := GenerateKey(opts.KeyType)
	if err != nil {
		return nil, err
	}
	caSubject := pkix.Name{Country: []string{opts.Instance}, Organization: []string{opts.Name}, CommonName: opts.Name + " Issuing CA"}
	caCert, err := createCert(profiles[ProfileIssuingCA], caSubject, caKey.Public(), root, rootKey, now(), 0, nil)
	if err != nil {
		return nil, fmt.Errorf("init: issuing CA: %w", err)
	}
	dir := opts.Dir
	if err := writeAll(
		func() error { return WritePrivateKey(filepath.Join(dir, FileRootKey), rootKey, false) },
		func() error { return WriteCertificates(filepath.Join(dir, FileRootCert), false, root) },
		func() error { return WritePrivateKey(filepath.Join(dir, FileCAKey), caKey, false) },
		func() error { return WriteCertificates(filepath.Join(dir, FileCACert), false, caCert) },
		func() error { return WriteCertificates(filepath.Join(dir, FileChain), false, caCert, root) },
	); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	fj, _ := json.MarshalIndent(fed, "", "  ")
	if err := durable.WriteFile(filepath.Join(dir, FileFederation), append(fj, '\n'), 0o644, false); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	store, err := OpenStore(filepath.Join(dir, FileStatusStore))
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	ca := &CA{Dir: dir, Federation: fed, Root: root, Cert: caCert, Store: store, key: caKey, now: now}
	if err := ca.recordIssued(caCert, ProfileIssuingCA); err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	services := []struct {
		profile, cn, certFile, keyFile string
	}{
		{ProfileConfigSigning, opts.Name + " Global Configuration Signing", FileConfigSigningCert, FileConfigSigningKey},
		{ProfileOCSP, opts.Name + " OCSP Responder", FileOCSPCert, FileOCSPKey},
		{ProfileTSA, opts.Name + " Time-Stamp Authority", FileTSACert, FileTSAKey},
	}
	for _, s := range services {
		if _, _, err := ca.IssueToFiles(IssueRequest{Profile: s.profile, CommonName: s.cn},
			filepath.Join(dir, s.certFile), filepath.Join(dir, s.keyFile), false); err != nil {
			return nil, fmt.Errorf("init: %s certificate: %w", s.profile, err)
		}
	}
	return ca, nil
}

func writeAll(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// Open loads the trust directory dir for issuing and revoking.
func Open(dir string) (*CA, error) {
	fj, err := os.ReadFile(filepath.Join(dir, FileFederation))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a trust directory (no %s): create one with `pkiutil init --dir %s`", dir, FileFederation, dir)
	}
	if err != nil {
		return nil, err
	}
	var fed Federation
	if err := json.Unmarshal(fj, &fed); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileFederation), err)
	}
	root, err := ReadCertificate(filepath.Join(dir, FileRootCert))
	if err != nil {
		return nil, err
	}
	caCert, err := ReadCertificate(filepath.Join(dir, FileCACert))
	if err != nil {
		return nil, err
	}
	caKey, err := ReadPrivateKey(filepath.Join(dir, FileCAKey))
	if err != nil {
		return nil, err
	}
	if !KeyMatches(caCert, caKey) {
		return nil, fmt.Errorf("%s does not belong to %s", FileCAKey, FileCACert)
	}
	if err := caCert.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("%s is not signed by %s: %w", FileCACert, FileRootCert, err)
	}
	storePath := filepath.Join(dir, FileStatusStore)
	if _, err := os.Stat(storePath); err != nil {
		return nil, fmt.Errorf("status store: %w", err)
	}
	return &CA{Dir: dir, Federation: fed, Root: root, Cert: caCert, Store: &Store{path: storePath}, key: caKey, now: time.Now}, nil
}

// Chain returns the issuing CA and the root, in that order.
func (ca *CA) Chain() []*x509.Certificate { return []*x509.Certificate{ca.Cert, ca.Root} }

// Roots is a pool holding only the federation root.
func (ca *CA) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Root)
	return p
}

// IssueRequest asks for one end-entity certificate.
type IssueRequest struct {
	Profile    string
	CommonName string // defaults: the member code (sign), the first DNS name (auth)
	// Member is an X-Road member identifier "INSTANCE/CLASS/CODE". The sign
	// profile requires it and writes it as C=INSTANCE, O=CLASS, CN=CODE (the
	// layout X-Road's EJBCA certificate profile reads back); other profiles
	// record it as C, O and OU beside their own CN.
	Member      string
	DNSNames    []string
	IPAddresses []net.IP
	PublicKey   crypto.PublicKey // required
	Validity    time.Duration    // zero means the profile's default
}

// Issue validates req against its profile and issues the certificate,
// recording it in the status store.
func (ca *CA) Issue(req IssueRequest) (*x509.Certificate, error) {
	p, err := LookupProfile(req.Profile)
	if err != nil {
		return nil, err
	}
	if p.CA {
		return nil, fmt.Errorf("profile %s is for CAs, which only init creates", p.Name)
	}
	if req.PublicKey == nil {
		return nil, errors.New("issue: no public key given")
	}
	if _, err := KeyTypeOf(req.PublicKey); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	subject, err := subjectFor(p, req)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", p.Name, err)
	}
	validity := p.Validity
	if req.Validity != 0 {
		if req.Validity < time.Hour || req.Validity > p.MaxValidity {
			return nil, fmt.Errorf("issue %s: validity %s is outside 1h..%s allowed by the profile", p.Name, req.Validity, p.MaxValidity)
		}
		validity = req.Validity
	}
	var cert *x509.Certificate
	_, err = ca.Store.issue(randomSerial, func(serial *big.Int) (*CertRecord, error) {
		c, err := createCert(p, subject, req.PublicKey, ca.Cert, ca.key, ca.now(), validity, serial,
			func(t *x509.Certificate) { t.DNSNames, t.IPAddresses = req.DNSNames, req.IPAddresses })
		if err != nil {
			return nil, err
		}
		cert = c
		return newRecord(c, p.Name, ca.now()), nil
	})
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", p.Name, err)
	}
	return cert, nil
}

// IssueToFiles generates a key of the federation's key type, issues a
// certificate for it and writes both (key 0600). The certificate file holds
// the chain without the root (the certificate, then the issuing CA), so TLS
// peers that trust only the root can verify it. It returns the certificate
// and the key.
func (ca *CA) IssueToFiles(req IssueRequest, certPath, keyPath string, overwrite bool) (*x509.Certificate, crypto.Signer, error) {
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil && !overwrite {
			return nil, nil, fmt.Errorf("%s already exists: choose another --out or pass --force", p)
		}
	}
	key, err := GenerateKey(ca.Federation.KeyType)
	if err != nil {
		return nil, nil, err
	}
	req.PublicKey = key.Public()
	cert, err := ca.Issue(req)
	if err != nil {
		return nil, nil, err
	}
	if err := WritePrivateKey(keyPath, key, overwrite); err != nil {
		return nil, nil, err
	}
	if err := WriteCertificates(certPath, overwrite, cert, ca.Cert); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// Revoke marks an issued certificate revoked from now on.
func (ca *CA) Revoke(serial *big.Int, reason int) (*CertRecord, error) {
	if _, ok := reasonCodes[reason]; !ok {
		return nil, fmt.Errorf("revoke: reason code %d is not an RFC 5280 CRLReason", reason)
	}
	return ca.Store.Revoke(serial, reason, ca.now())
}

var reasonCodes = func() map[int]bool {
	m := map[int]bool{}
	for _, c := range RevocationReasons {
		m[c] = true
	}
	return m
}()

func (ca *CA) recordIssued(c *x509.Certificate, profile string) error {
	return ca.Store.Add(newRecord(c, profile, ca.now()))
}

func newRecord(c *x509.Certificate, profile string, now time.Time) *CertRecord {
	return &CertRecord{
		Serial: c.SerialNumber, Profile: profile, Subject: c.Subject.String(),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter, IssuedAt: now.UTC(), DER: c.Raw,
	}
}

// subjectFor builds the subject a profile prescribes.
func subjectFor(p *Profile, req IssueRequest) (pkix.Name, error) {
	var name pkix.Name
	if p.NeedsAddress && len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return name, errors.New("needs at least one DNS name or IP address (--dns, --ip): TLS peers are named by them")
	}
	for _, d := range req.DNSNames {
		if d == "" || strings.ContainsAny(d, " /\\@") {
			return name, fmt.Errorf("DNS name %q is not a host name", d)
		}
	}
	var parts []string
	if req.Member != "" {
		var err error
		if parts, err = parseMember(req.Member); err != nil {
			return name, err
		}
	} else if p.NeedsMember {
		return name, errors.New("needs the member identifier it signs for (--member INSTANCE/CLASS/CODE, e.g. AZ/GOV/DIN)")
	}
	if p.NeedsMember {
		if req.CommonName != "" && req.CommonName != parts[2] {
			return name, fmt.Errorf("common name %q must be the member code %q for a signing certificate", req.CommonName, parts[2])
		}
		return pkix.Name{Country: []string{parts[0]}, Organization: []string{parts[1]}, CommonName: parts[2]}, nil
	}
	name.CommonName = req.CommonName
	if name.CommonName == "" {
		switch {
		case len(req.DNSNames) > 0:
			name.CommonName = req.DNSNames[0]
		case len(req.IPAddresses) > 0:
			name.CommonName = req.IPAddresses[0].String()
		default:
			return name, errors.New("needs a common name (--cn)")
		}
	}
	if parts != nil {
		name.Country, name.Organization, name.OrganizationalUnit = []string{parts[0]}, []string{parts[1]}, []string{parts[2]}
	}
	return name, nil
}

// MemberFromSubject reads back the member identifier of a signing
// certificate's subject (C=INSTANCE, O=CLASS, CN=CODE).
func MemberFromSubject(name pkix.Name) (string, error) {
	if len(name.Country) != 1 || len(name.Organization) != 1 || name.CommonName == "" {
		return "", fmt.Errorf("subject %q does not name a member (want C=INSTANCE, O=CLASS, CN=CODE)", name.String())
	}
	id := name.Country[0] + "/" + name.Organization[0] + "/" + name.CommonName
	if _, err := parseMember(id); err != nil {
		return "", err
	}
	return id, nil
}

func parseMember(s string) ([]string, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return nil, fmt.Errorf("member identifier %q must be INSTANCE/CLASS/CODE, e.g. AZ/GOV/DIN", s)
	}
	for i, what := range []string{"instance", "member class", "member code"} {
		if err := checkIdentifierPart(what, parts[i]); err != nil {
			return nil, fmt.Errorf("member identifier %q: %w", s, err)
		}
	}
	return parts, nil
}

// checkIdentifierPart applies PR-MESS 4.0.25's character rule for identifiers.
func checkIdentifierPart(what, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty", what)
	}
	for _, r := range v {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("'()+,-.=?", r)) {
			return fmt.Errorf("%s %q contains %q: X-Road identifiers allow only A-Z a-z 0-9 and '()+,-.=?", what, v, r)
		}
	}
	return nil
}

// randomSerial returns a positive 127-bit serial (RFC 5280 §4.1.2.2: at most
// 20 octets; CA/B forum practice: at least 64 bits of randomness).
func randomSerial() (*big.Int, error) {
	max := new(big.Int).Lsh(big.NewInt(1), 127)
	for {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return nil, err
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// createCert signs a certificate for pub under profile p. A nil parent makes it
// self-signed. validity zero means the profile default; the result never
// outlives its issuer.
func createCert(p *Profile, subject pkix.Name, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer,
	now time.Time, validity time.Duration, serial *big.Int, extra ...func(*x509.Certificate)) (*x509.Certificate, error) {
	if validity == 0 {
		validity = p.Validity
	}
	if serial == nil {
		var err error
		if serial, err = randomSerial(); err != nil {
			return nil, err
		}
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(pubDER, &spki); err != nil {
		return nil, err
	}
	skid := sha1.Sum(spki.Key.Bytes) // RFC 5280 §4.2.1.2 method (1)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-5 * time.Minute).UTC().Truncate(time.Second), // tolerate peers' clock skew
		NotAfter:     now.Add(validity).UTC().Truncate(time.Second),
		SubjectKeyId: skid[:],
	}
	if parent != nil && tmpl.NotAfter.After(parent.NotAfter) {
		tmpl.NotAfter = parent.NotAfter
	}
	if err := p.apply(tmpl); err != nil {
		return nil, err
	}
	for _, f := range extra {
		f(tmpl)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func pkixExtension(id asn1.ObjectIdentifier, critical bool, value []byte) pkix.Extension {
	return pkix.Extension{Id: id, Critical: critical, Value: value}
}
