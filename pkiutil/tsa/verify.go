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
	h, ok := hashFromOID(st.digestOID)
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
	alg, err := signatureAlgorithm(st.sigOID, st.sigParams, h)
	if err != nil {
		return err
	}
	if err := signer.CheckSignature(alg, st.signedAttrs, st.signature); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return nil
}

// signatureAlgorithm maps a CMS signatureAlgorithm and digestAlgorithm to
// an x509.SignatureAlgorithm.
func signatureAlgorithm(oid asn1.ObjectIdentifier, params []byte, h crypto.Hash) (x509.SignatureAlgorithm, error) {
	type entry struct {
		oid  asn1.ObjectIdentifier
		hash crypto.Hash // 0: taken from the digest algorithm
		rsa  bool
	}
	table := []entry{
		{oidECDSAWithSHA256, crypto.SHA256, false},
		{oidECDSAWithSHA384, crypto.SHA384, false},
		{oidECDSAWithSHA512, crypto.SHA512, false},
		{oidECPublicKey, 0, false},
		{oidSHA256WithRSA, crypto.SHA256, true},
		{oidSHA384WithRSA, crypto.SHA384, true},
		{oidSHA512WithRSA, crypto.SHA512, true},
		{oidRSAEncryption, 0, true},
	}
	for _, e := range table {
		if !e.oid.Equal(oid) {
			continue
		}
		if e.hash != 0 && e.hash != h {
			return 0, fmt.Errorf("%w: signature algorithm %v does not match digest algorithm %v", ErrSignature, oid, h)
		}
		if e.rsa && params != nil && !bytes.Equal(params, derNull) {
			return 0, fmt.Errorf("%w: unexpected RSA signature parameters", ErrSignature)
		}
		if !e.rsa && params != nil {
			return 0, fmt.Errorf("%w: unexpected ECDSA signature parameters", ErrSignature)
		}
		switch {
		case e.rsa && h == crypto.SHA256:
			return x509.SHA256WithRSA, nil
		case e.rsa && h == crypto.SHA384:
			return x509.SHA384WithRSA, nil
		case e.rsa && h == crypto.SHA512:
			return x509.SHA512WithRSA, nil
		case h == crypto.SHA256:
			return x509.ECDSAWithSHA256, nil
		case h == crypto.SHA384:
			return x509.ECDSAWithSHA384, nil
		case h == crypto.SHA512:
			return x509.ECDSAWithSHA512, nil
		}
	}
	return 0, fmt.Errorf("%w: unsupported signature algorithm %v", ErrSignature, oid)
}

// verifySigningCertificate checks the ESS signingCertificateV2 (RFC 5035)
// or signingCertificate (RFC 2634) attribute: its first ESSCertID must
// identify the signer certificate.
func (st *signedToken) verifySigningCertificate(signer *x509.Certificate) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrSigningCertificate, fmt.Sprintf(format, args...))
	}
	var (
		r  *derReader
		v2 bool
	)
	switch {
	case st.essV2 != nil:
		r, v2 = &derReader{what: "signingCertificateV2", rest: st.essV2}, true
	case st.essV1 != nil:
		r = &derReader{what: "signingCertificate", rest: st.essV1}
	default:
		return fail("token has neither signingCertificate nor signingCertificateV2")
	}
	sc, err := r.expect(asn1.ClassUniversal, asn1.TagSequence, true, "SigningCertificate")
	if err != nil {
		return fail("%v", err)
	}
	sr := &derReader{what: r.what, rest: sc.Bytes}
	certs, err := sr.expect(asn1.ClassUniversal, asn1.TagSequence, true, "certs")
	if err != nil {
		return fail("%v", err)
	}
	cr := &derReader{what: r.what, rest: certs.Bytes}
	id, err := cr.expect(asn1.ClassUniversal, asn1.TagSequence, true, "ESSCertID")
	if err != nil {
		return fail("%v", err)
	}
	ir := &derReader{what: r.what + ": ESSCertID", rest: id.Bytes}
	h := crypto.SHA1
	if v2 {
		h = crypto.SHA256
		if ir.peek(asn1.ClassUniversal, asn1.TagSequence, true) {
			oid, _, _, err := ir.readAlgorithm("hashAlgorithm")
			if err != nil {
				return fail("%v", err)
			}
			var ok bool
			if h, ok = hashFromOID(oid); !ok || !strongHash(h) {
				return fail("unsupported hash algorithm %v", oid)
			}
		}
	}
	want, err := ir.readOctets("certHash")
	if err != nil {
		return fail("%v", err)
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
	if v, ok, err := ir.optional(asn1.ClassUniversal, asn1.TagSequence, true, "issuerSerial"); err != nil {
		return fail("%v", err)
	} else if ok {
		if err := checkIssuerSerial(v.Bytes, signer); err != nil {
			return fail("%v", err)
		}
	}
	if err := ir.done(); err != nil {
		return fail("%v", err)
	}
	return nil
}

// checkIssuerSerial checks an ESS IssuerSerial against c.
func checkIssuerSerial(b []byte, c *x509.Certificate) error {
	rd := &derReader{what: "issuerSerial", rest: b}
	names, err := rd.expect(asn1.ClassUniversal, asn1.TagSequence, true, "issuer")
	if err != nil {
		return err
	}
	serial, err := rd.readBigInt("serialNumber")
	if err != nil {
		return err
	}
	if err := rd.done(); err != nil {
		return err
	}
	if serial.Cmp(c.SerialNumber) != 0 {
		return errors.New("issuerSerial serial number does not match the signer certificate")
	}
	nr := &derReader{what: "issuerSerial: issuer", rest: names.Bytes}
	for !nr.empty() {
		gn, err := nr.next("GeneralName")
		if err != nil {
			return err
		}
		if gn.Class == asn1.ClassContextSpecific && gn.Tag == 4 && gn.IsCompound && bytes.Equal(gn.Bytes, c.RawIssuer) {
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
