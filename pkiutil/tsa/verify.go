package tsa

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/sluz/sluz/internal/der"
)

// VerifyOptions says what Token.Verify checks the token against.
type VerifyOptions struct {
	// Roots are the federation root certificates. Required.
	Roots *x509.CertPool
	// Intermediates are extra intermediate certificates; certificates
	// carried in the token are used as intermediates as well.
	Intermediates *x509.CertPool
	// TSACert is the TSA certificate, used when the token carries none. It
	// must match the SignerInfo's signer identifier.
	TSACert *x509.Certificate

	// HashAlgorithm and HashedMessage are the message imprint the caller
	// expects. Required.
	HashAlgorithm crypto.Hash
	HashedMessage []byte

	// Nonce, if non-nil, must equal the token's nonce.
	Nonce *big.Int
	// Policy, if non-nil, must equal the token's policy.
	Policy asn1.ObjectIdentifier

	// Now is the verification time; zero means time.Now(). It is the
	// reference for MaxAge and, unless CheckChainAt is set, the time at
	// which the signer's certificate chain is validated.
	Now time.Time
	// CheckChainAt, if set, is the time at which the chain is validated
	// instead of Now. To re-verify an archived token after the TSA
	// certificate has expired, set it to the token's GenTime.
	CheckChainAt time.Time
	// MaxAge, if > 0, requires genTime to lie within MaxAge before Now and
	// not more than one minute after it.
	MaxAge time.Duration
}

// maxClockSkew is how far in the future genTime may be when MaxAge is set.
const maxClockSkew = time.Minute

// Verify checks the token fully: the CMS signature over the signed
// attributes (contentType is id-ct-TSTInfo, messageDigest is the digest of
// the encapsulated TSTInfo), the ESS signingCertificate or
// signingCertificateV2 attribute against the signer certificate, the signer
// certificate's critical timeStamping extended key usage, that genTime lies
// within the signer certificate's validity and that the certificate chains
// to opts.Roots (at opts.CheckChainAt, or else opts.Now), then the message
// imprint, the nonce, the policy and the freshness. Verify works on t.Raw;
// the other fields of t are not trusted.
//
// Each failure wraps one of the package's sentinel errors (ErrSignature,
// ErrSigningCertificate, ErrNoSigner, ErrEKU, ErrChain, ErrImprintMismatch,
// ErrNonceMismatch, ErrPolicyMismatch, ErrStale, ErrFuture, ErrMalformed).
func (t *Token) Verify(opts VerifyOptions) error {
	if opts.Roots == nil {
		return errors.New("tsa: VerifyOptions.Roots is required")
	}
	if opts.HashAlgorithm == 0 || len(opts.HashedMessage) == 0 {
		return errors.New("tsa: VerifyOptions.HashAlgorithm and HashedMessage are required")
	}
	if t == nil || len(t.Raw) == 0 {
		return fmt.Errorf("%w: empty token", ErrMalformed)
	}
	tok, st, err := parseToken(t.Raw)
	if err != nil {
		return err
	}

	signer := tok.Signer
	if signer == nil && st.matches(opts.TSACert) {
		signer = opts.TSACert
	}
	if signer == nil {
		if opts.TSACert != nil {
			return fmt.Errorf("%w: VerifyOptions.TSACert does not match the SignerInfo", ErrNoSigner)
		}
		return ErrNoSigner
	}

	if err := st.verifySignature(signer); err != nil {
		return err
	}
	if err := st.verifySigningCertificate(signer); err != nil {
		return err
	}
	if err := checkTSACert(signer); err != nil {
		return err
	}

	intermediates := x509.NewCertPool()
	if opts.Intermediates != nil {
		intermediates = opts.Intermediates.Clone()
	}
	for _, c := range tok.Certificates {
		if c != signer {
			intermediates.AddCert(c)
		}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	if tok.GenTime.Before(signer.NotBefore) || tok.GenTime.After(signer.NotAfter) {
		return fmt.Errorf("%w: genTime %v is outside the signer certificate's validity (%v to %v)", ErrChain, tok.GenTime, signer.NotBefore, signer.NotAfter)
	}
	chainAt := opts.CheckChainAt
	if chainAt.IsZero() {
		chainAt = now
	}
	if _, err := signer.Verify(x509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: intermediates,
		CurrentTime:   chainAt,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	}); err != nil {
		return fmt.Errorf("%w: %v", ErrChain, err)
	}

	if tok.HashAlgorithm != opts.HashAlgorithm || !bytes.Equal(tok.HashedMessage, opts.HashedMessage) {
		return ErrImprintMismatch
	}
	if opts.Nonce != nil {
		if tok.Nonce == nil {
			return fmt.Errorf("%w: token has no nonce", ErrNonceMismatch)
		}
		if tok.Nonce.Cmp(opts.Nonce) != 0 {
			return ErrNonceMismatch
		}
	}
	if opts.Policy != nil && !tok.Policy.Equal(opts.Policy) {
		return fmt.Errorf("%w: token policy %v, want %v", ErrPolicyMismatch, tok.Policy, opts.Policy)
	}
	if opts.MaxAge > 0 {
		if tok.GenTime.Before(now.Add(-opts.MaxAge)) {
			return fmt.Errorf("%w: genTime %v is more than %v before %v", ErrStale, tok.GenTime, opts.MaxAge, now.UTC())
		}
		if tok.GenTime.After(now.Add(maxClockSkew)) {
			return fmt.Errorf("%w: genTime %v is after %v", ErrFuture, tok.GenTime, now.UTC())
		}
	}
	return nil
}

// verifySignature checks the contentType and messageDigest attributes and
// the signature over the DER SET of signed attributes.
func (st *signedToken) verifySignature(signer *x509.Certificate) error {
	if !st.contentType.Equal(oidTSTInfo) {
		return fmt.Errorf("%w: contentType attribute %v, want id-ct-TSTInfo", ErrSignature, st.contentType)
	}
	h, ok := der.HashFromOID(st.digestOID)
	if !ok || !strongHash(h) {
		return fmt.Errorf("%w: unsupported digest algorithm %v", ErrSignature, st.digestOID)
	}
	if !slices.ContainsFunc(st.digestAlgs, st.digestOID.Equal) {
		return fmt.Errorf("%w: digest algorithm %v is not listed in SignedData.digestAlgorithms", ErrSignature, st.digestOID)
	}
	d := h.New()
	d.Write(st.tstInfo)
	if !bytes.Equal(d.Sum(nil), st.messageDigest) {
		return fmt.Errorf("%w: messageDigest attribute does not match the TSTInfo", ErrSignature)
	}
	alg, err := signatureAlgorithm(st.sigAlg, h)
	if err != nil {
		return err
	}
	if err := signer.CheckSignature(alg, st.signedAttrs, st.signature); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return nil
}

// signatureAlgorithm maps a CMS signatureAlgorithm and digestAlgorithm to
// an x509.SignatureAlgorithm: ECDSA or RSA PKCS #1 v1.5 with the SHA-2
// digest h, named by a signature algorithm OID for the same hash or by the
// key's OID (id-ecPublicKey, rsaEncryption).
func signatureAlgorithm(a der.Algorithm, h crypto.Hash) (x509.SignatureAlgorithm, error) {
	sig, ok := der.SignatureFromOID(a.OID)
	switch {
	case ok && strongHash(sig.Hash) && sig.Hash != h:
		return 0, fmt.Errorf("%w: signature algorithm %v does not match digest algorithm %v", ErrSignature, a.OID, h)
	case ok && strongHash(sig.Hash):
	case a.OID.Equal(der.OIDECPublicKey):
		sig = der.Signature{Hash: h}
	case a.OID.Equal(der.OIDRSAEncryption):
		sig = der.Signature{Hash: h, RSA: true}
	default:
		return 0, fmt.Errorf("%w: unsupported signature algorithm %v", ErrSignature, a.OID)
	}
	switch {
	case sig.RSA && !a.NullParams():
		return 0, fmt.Errorf("%w: unexpected RSA signature parameters", ErrSignature)
	case !sig.RSA && a.Params != nil:
		return 0, fmt.Errorf("%w: unexpected ECDSA signature parameters", ErrSignature)
	case sig.RSA && h == crypto.SHA256:
		return x509.SHA256WithRSA, nil
	case sig.RSA && h == crypto.SHA384:
		return x509.SHA384WithRSA, nil
	case sig.RSA && h == crypto.SHA512:
		return x509.SHA512WithRSA, nil
	case h == crypto.SHA256:
		return x509.ECDSAWithSHA256, nil
	case h == crypto.SHA384:
		return x509.ECDSAWithSHA384, nil
	case h == crypto.SHA512:
		return x509.ECDSAWithSHA512, nil
	}
	return 0, fmt.Errorf("%w: unsupported signature algorithm %v", ErrSignature, a.OID)
}

// verifySigningCertificate checks the ESS signingCertificateV2 (RFC 5035)
// or signingCertificate (RFC 2634) attribute: its first ESSCertID must
// identify the signer certificate.
func (st *signedToken) verifySigningCertificate(signer *x509.Certificate) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrSigningCertificate}, args...)...)
	}
	var (
		ess []byte
		v2  bool
	)
	switch {
	case st.essV2 != nil:
		ess, v2 = st.essV2, true
	case st.essV1 != nil:
		ess = st.essV1
	default:
		return fail("token has neither signingCertificate nor signingCertificateV2")
	}
	h, want, ir, err := parseSigningCertificate(ess, v2)
	if err != nil {
		return fail("%w", malformed(err))
	}
	var got []byte
	if h == crypto.SHA1 {
		s := sha1.Sum(signer.Raw)
		got = s[:]
	} else {
		d := h.New()
		d.Write(signer.Raw)
		got = d.Sum(nil)
	}
	if !bytes.Equal(got, want) {
		return fail("certificate hash does not match the signer certificate")
	}
	if ir.Peek(der.TagSequence) {
		is, err := ir.Enter(der.TagSequence, "issuerSerial")
		if err != nil {
			return fail("%w", malformed(err))
		}
		if err := checkIssuerSerial(&is, signer); err != nil {
			return fail("%w", err)
		}
	}
	if err := ir.Done(); err != nil {
		return fail("%w", malformed(err))
	}
	return nil
}

// parseSigningCertificate reads a SigningCertificate (RFC 2634) or, if v2,
// a SigningCertificateV2 (RFC 5035) up to the certHash of its first
// ESSCertID: it returns the hash algorithm, the hash and a Reader over the
// rest of the ESSCertID.
func parseSigningCertificate(b []byte, v2 bool) (crypto.Hash, []byte, der.Reader, error) {
	what := "signingCertificate"
	if v2 {
		what = "signingCertificateV2"
	}
	r := der.NewReader(b, what)
	sc, err := r.Enter(der.TagSequence, "SigningCertificate")
	if err != nil {
		return 0, nil, der.Reader{}, err
	}
	certs, err := sc.Enter(der.TagSequence, "certs")
	if err != nil {
		return 0, nil, der.Reader{}, err
	}
	id, err := certs.Enter(der.TagSequence, "ESSCertID")
	if err != nil {
		return 0, nil, der.Reader{}, err
	}
	h := crypto.SHA1
	if v2 {
		h = crypto.SHA256
		if id.Peek(der.TagSequence) {
			alg, err := id.Algorithm("hashAlgorithm")
			if err != nil {
				return 0, nil, der.Reader{}, err
			}
			var ok bool
			if h, ok = der.HashFromOID(alg.OID); !ok || !strongHash(h) {
				return 0, nil, der.Reader{}, id.Errorf("unsupported hash algorithm %v", alg.OID)
			}
		}
	}
	want, err := id.OctetString("certHash")
	if err != nil {
		return 0, nil, der.Reader{}, err
	}
	return h, want, id, nil
}

// checkIssuerSerial checks the contents of an ESS IssuerSerial against c.
func checkIssuerSerial(rd *der.Reader, c *x509.Certificate) error {
	nr, err := rd.Enter(der.TagSequence, "issuer")
	if err != nil {
		return malformed(err)
	}
	serial, err := rd.BigInt("serialNumber")
	if err != nil {
		return malformed(err)
	}
	if err := rd.Done(); err != nil {
		return malformed(err)
	}
	if serial.Cmp(c.SerialNumber) != 0 {
		return errors.New("issuerSerial serial number does not match the signer certificate")
	}
	for !nr.Empty() {
		gn, err := nr.Next("GeneralName")
		if err != nil {
			return malformed(err)
		}
		if gn.Tag == der.ContextCons(4) && bytes.Equal(gn.Content, c.RawIssuer) {
			return nil
		}
	}
	return errors.New("issuerSerial issuer does not match the signer certificate")
}

// checkTSACert enforces RFC 3161 section 2.3 as OpenSSL does: the extended
// key usage extension is critical and lists only id-kp-timeStamping, and a
// key usage extension, if present, allows only digitalSignature and/or
// nonRepudiation.
func checkTSACert(c *x509.Certificate) error {
	critical, found := false, false
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			found, critical = true, e.Critical
		}
	}
	switch {
	case !found:
		return fmt.Errorf("%w: no extended key usage extension", ErrEKU)
	case !critical:
		return fmt.Errorf("%w: extended key usage extension is not critical", ErrEKU)
	case len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) != 0:
		return fmt.Errorf("%w: extended key usage must list only timeStamping", ErrEKU)
	}
	if c.KeyUsage != 0 {
		const allowed = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
		if c.KeyUsage&^allowed != 0 || c.KeyUsage&allowed == 0 {
			return fmt.Errorf("%w: key usage must be digitalSignature and/or nonRepudiation only", ErrEKU)
		}
	}
	return nil
}
