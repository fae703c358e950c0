package registration

import (
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
)

// Response is the bundle (JSON) the operator sends back to the agency: the
// issued certificates, each followed by the issuing CA, and the federation
// root they chain to.
type Response struct {
	Format   string              `json:"format"` // ResponseFormat
	Server   identifier.ServerID `json:"server"`
	AuthCert string              `json:"authCert"` // PEM: certificate, issuing CA
	SignCert string              `json:"signCert"` // PEM: certificate, issuing CA
	RootCA   string              `json:"rootCa"`   // PEM: the federation root
}

// Chain is one certificate of a response with its issuing CA.
type Chain struct {
	Leaf, Issuer *x509.Certificate
}

// ReadResponse reads a response bundle and checks each certificate's chain
// to the root it carries.
func ReadResponse(path string) (*Response, error) {
	var r Response
	if err := readFile(path, "registration response", "registry register", &r); err != nil {
		return nil, err
	}
	if r.Format != ResponseFormat {
		return nil, invalidf("%s: format %q is not %q", path, r.Format, ResponseFormat)
	}
	if _, _, err := r.Chains(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Chains parses the two certificates and checks that each chains to the
// root: the authentication certificate for TLS client and server use, the
// signing one for non-repudiation, as the profiles auth and sign issue them.
func (r *Response) Chains() (auth, sign Chain, err error) {
	roots, err := pkiutil.ParseCertificates([]byte(r.RootCA))
	if err != nil {
		return auth, sign, invalidf("rootCa: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(roots[0])
	parse := func(field, text string, usages []x509.ExtKeyUsage) (Chain, error) {
		certs, err := pkiutil.ParseCertificates([]byte(text))
		if err != nil {
			return Chain{}, invalidf("%s: %v", field, err)
		}
		if len(certs) != 2 {
			return Chain{}, invalidf("%s holds %d certificates: want the certificate followed by its issuing CA", field, len(certs))
		}
		inter := x509.NewCertPool()
		inter.AddCert(certs[1])
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: usages}); err != nil {
			return Chain{}, invalidf("%s %q does not chain to the root %q: %v", field, certs[0].Subject, roots[0].Subject.CommonName, err)
		}
		if err := certs[0].CheckSignatureFrom(certs[1]); err != nil {
			return Chain{}, invalidf("%s: the second certificate did not issue the first: %v", field, err)
		}
		return Chain{Leaf: certs[0], Issuer: certs[1]}, nil
	}
	if auth, err = parse("authCert", r.AuthCert, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}); err != nil {
		return auth, sign, err
	}
	if !slices.Contains(auth.Leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || !slices.Contains(auth.Leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return auth, sign, invalidf("authCert is not an authentication certificate (profile auth: serverAuth and clientAuth)")
	}
	if sign, err = parse("signCert", r.SignCert, []x509.ExtKeyUsage{x509.ExtKeyUsageAny}); err != nil {
		return auth, sign, err
	}
	if sign.Leaf.KeyUsage&x509.KeyUsageContentCommitment == 0 {
		return auth, sign, invalidf("signCert is not a signing certificate (profile sign: nonRepudiation)")
	}
	member, err := pkiutil.MemberFromSubject(sign.Leaf.Subject)
	if err != nil || member != r.Server.Owner.String() {
		return auth, sign, invalidf("signCert names %q, not the owner %s", sign.Leaf.Subject, r.Server.Owner)
	}
	return auth, sign, nil
}
