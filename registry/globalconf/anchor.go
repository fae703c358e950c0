package globalconf

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sluz/sluz/internal/durable"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
)

// Anchor is a configuration anchor: what a security server is given out of
// band to trust a registry's global configuration.
type Anchor struct {
	Instance string
	URL      string            // where the configuration is published (HTTP GET)
	Cert     *x509.Certificate // the registry's configuration-signing certificate (pinned)
}

// anchorFile is the JSON form of an anchor file:
//
//	{
//	  "instance": "AZ",
//	  "url": "http://registry.example.az:8080/globalconf",
//	  "certificateSha256": "3f1c…",
//	  "certificate": "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n"
//	}
//
// certificateSha256 is the hex SHA-256 of the certificate's DER, for an
// operator to compare with the registry's over the phone; when present, it
// must match.
type anchorFile struct {
	Instance          string `json:"instance"`
	URL               string `json:"url"`
	CertificateSHA256 string `json:"certificateSha256,omitempty"`
	Certificate       string `json:"certificate"`
}

// LoadAnchor reads an anchor file (JSON, see Anchor.Marshal).
func LoadAnchor(path string) (*Anchor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration anchor: %w", err)
	}
	a, err := ParseAnchor(data)
	if err != nil {
		return nil, fmt.Errorf("configuration anchor %s: %w", path, err)
	}
	return a, nil
}

// ParseAnchor decodes the JSON form of an anchor.
func ParseAnchor(data []byte) (*Anchor, error) {
	var f anchorFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not an anchor file (JSON with instance, url and certificate): %w", err)
	}
	certs, err := pkiutil.ParseCertificates([]byte(f.Certificate))
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if len(certs) != 1 {
		return nil, fmt.Errorf("certificate holds %d certificates, want the one configuration-signing certificate", len(certs))
	}
	a := &Anchor{Instance: f.Instance, URL: f.URL, Cert: certs[0]}
	if f.CertificateSHA256 != "" {
		if got := Fingerprint(a.Cert); !strings.EqualFold(got, f.CertificateSHA256) {
			return nil, fmt.Errorf("certificateSha256 %s does not match the certificate (its SHA-256 is %s)", f.CertificateSHA256, got)
		}
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	return a, nil
}

// Marshal returns the JSON anchor file for a.
func (a *Anchor) Marshal() ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(anchorFile{
		Instance:          a.Instance,
		URL:               a.URL,
		CertificateSHA256: Fingerprint(a.Cert),
		Certificate:       string(pkiutil.EncodeCertificates(a.Cert)),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Write stores a as an anchor file at path, atomically, replacing any
// existing file (mode 0644).
func (a *Anchor) Write(path string) error {
	data, err := a.Marshal()
	if err != nil {
		return fmt.Errorf("write configuration anchor %s: %w", path, err)
	}
	return durable.WriteFile(path, data, 0o644, true)
}

func (a *Anchor) check() error {
	if a == nil {
		return errors.New("no configuration anchor given")
	}
	if err := identifier.CheckPart("instance", a.Instance); err != nil {
		return fmt.Errorf("anchor: %w", err)
	}
	if err := checkURL(a.URL); err != nil {
		return fmt.Errorf("anchor: %w", err)
	}
	if a.Cert == nil {
		return errors.New("anchor: no configuration-signing certificate")
	}
	if _, err := signatureMethod(a.Cert.PublicKey); err != nil {
		return fmt.Errorf("anchor: certificate %s: %w", a.Cert.Subject, err)
	}
	return nil
}

// Fingerprint is the hex SHA-256 of a certificate's DER, as written in
// anchor files.
func Fingerprint(c *x509.Certificate) string {
	h := sha256.Sum256(c.Raw)
	return hex.EncodeToString(h[:])
}
