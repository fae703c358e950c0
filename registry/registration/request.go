// Package registration is how a new security server joins the federation:
// the registration request file the agency's `securityserver init` writes
// and sends to the central operator, the response bundle the operator's
// `registry register` sends back, and the operator's side of the step
// (Register): certificates issued through the federation CA and the
// registry changed in one batch.
//
// It promises:
//
//   - A Request is read strictly (unknown fields, a wrong format name or a
//     second JSON value are errors) and Check accepts it only if every
//     identifier parses, each certificate request is signed by its own key
//     (proof of possession), each key is the one whose SHA-256 the request
//     names (so a swapped CSR is caught), the two keys differ, the signing
//     CSR names the owner member (C=INSTANCE, O=CLASS, CN=CODE) and the
//     authentication CSR names the host peers reach.
//   - Register changes nothing when it refuses: it checks the request
//     against the registry's state before the CA issues anything, and if
//     the registry still refuses the batch it revokes the two certificates
//     it had just issued (cessationOfOperation) before returning.
//   - A Response's certificates each come with their issuing CA and the
//     federation root, so the agency can check the chain it installs.
//
// # Caveats
//
// The request carries no secret: the private keys stay with the agency.
// It is not signed either: the operator must learn out of band (a phone
// call, a letter) that it came from the agency, for instance by comparing
// the key fingerprints `securityserver init` prints.
package registration

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"

	"github.com/sluz/sluz/registry/identifier"
)

// Format names of the two files.
const (
	RequestFormat  = "sluz-registration-request/1"
	ResponseFormat = "sluz-registration-response/1"
)

// Request is the registration request file (JSON) of a new security server.
type Request struct {
	Format string `json:"format"` // RequestFormat
	// Server is the new server, INSTANCE/CLASS/MEMBER/SERVERCODE; its owner
	// is the member that joins (or already belongs).
	Server identifier.ServerID `json:"server"`
	// Address is where peer servers reach its service proxy, host:port.
	Address string `json:"address"`
	// MemberName is the owner's display name (UTF-8), used when the owner
	// is not a member yet.
	MemberName string `json:"memberName"`
	// Subsystems are the owner's subsystems the server hosts.
	Subsystems []identifier.Client `json:"subsystems"`
	// AuthCSR and SignCSR are PEM certificate requests for the
	// authentication (TLS) and signing keys.
	AuthCSR string `json:"authCsr"`
	SignCSR string `json:"signCsr"`
	// AuthKeySHA256 and SignKeySHA256 are the hex SHA-256 of each key's
	// SubjectPublicKeyInfo: what the agency reads out to the operator.
	AuthKeySHA256 string `json:"authKeySha256"`
	SignKeySHA256 string `json:"signKeySha256"`
}

// ErrInvalid marks a request or response that cannot be used as it is.
var ErrInvalid = errors.New("invalid registration file")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// KeySHA256 is the hex SHA-256 of pub's SubjectPublicKeyInfo (what
// `openssl pkey -pubin -outform DER | sha256sum` prints).
func KeySHA256(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// readFile reads the JSON file at path into v strictly: one value, no
// unknown fields. what and writer name the file in the refusal.
func readFile(path, what, writer string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		return invalidf("%s is not a %s (JSON as %s writes it): %v", path, what, writer, err)
	}
	return nil
}

// ReadRequest reads and checks a request file.
func ReadRequest(path string) (*Request, error) {
	var r Request
	if err := readFile(path, "registration request", "securityserver init", &r); err != nil {
		return nil, err
	}
	if err := r.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Check validates the request as the package comment says.
func (r *Request) Check() error {
	if r.Format != RequestFormat {
		return invalidf("format %q is not %q: write the request with securityserver init", r.Format, RequestFormat)
	}
	if err := r.Server.Validate(); err != nil {
		return invalidf("server: %v", err)
	}
	host, _, err := net.SplitHostPort(r.Address)
	if err != nil || host == "" {
		return invalidf("address %q is not host:port", r.Address)
	}
	if r.MemberName == "" {
		return invalidf("memberName is empty: give the owner member's display name")
	}
	for _, s := range r.Subsystems {
		if !s.IsSubsystem() || s.MemberID() != r.Server.Owner {
			return invalidf("subsystem %s is not a subsystem of the owner %s", s, r.Server.Owner)
		}
	}
	auth, err := r.csr("authCsr", r.AuthCSR, r.AuthKeySHA256)
	if err != nil {
		return err
	}
	sign, err := r.csr("signCsr", r.SignCSR, r.SignKeySHA256)
	if err != nil {
		return err
	}
	if r.AuthKeySHA256 == r.SignKeySHA256 {
		return invalidf("the authentication and signing keys are the same key: generate two")
	}
	owner := r.Server.Owner
	if s := sign.Subject; len(s.Country) != 1 || s.Country[0] != owner.Instance || len(s.Organization) != 1 || s.Organization[0] != owner.MemberClass || s.CommonName != owner.MemberCode {
		return invalidf("signCsr names %q, not the owner member %s (C=%s, O=%s, CN=%s)", s.String(), owner, owner.Instance, owner.MemberClass, owner.MemberCode)
	}
	names := auth.DNSNames
	for _, ip := range auth.IPAddresses {
		names = append(names, ip.String())
	}
	if ip := net.ParseIP(host); ip != nil {
		host = ip.String()
	}
	if !slices.Contains(names, host) {
		return invalidf("authCsr names %v, not %s, the host of address %s", names, host, r.Address)
	}
	return nil
}

// csr parses one certificate request of r and checks its key against the
// fingerprint the request names.
func (r *Request) csr(field, text, wantSHA string) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, invalidf("%s is not a PEM CERTIFICATE REQUEST", field)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, invalidf("%s: %v", field, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, invalidf("%s is not signed by its own key (proof of possession failed): %v", field, err)
	}
	got, err := KeySHA256(csr.PublicKey)
	if err != nil {
		return nil, invalidf("%s: %v", field, err)
	}
	if got != wantSHA {
		return nil, invalidf("the key of %s (SHA-256 %s) is not the key the request names (%s): the file was changed or mixed up; ask the agency to run securityserver init again", field, got, wantSHA)
	}
	return csr, nil
}

// AuthRequest and SignRequest return the parsed certificate requests of a
// checked request.
func (r *Request) AuthRequest() *x509.CertificateRequest { return mustCSR(r.AuthCSR) }
func (r *Request) SignRequest() *x509.CertificateRequest { return mustCSR(r.SignCSR) }

func mustCSR(text string) *x509.CertificateRequest {
	block, _ := pem.Decode([]byte(text))
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		panic("registration: request used before Check: " + err.Error())
	}
	return csr
}
