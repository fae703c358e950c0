package asic

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/securityserver/hashchain"
	"github.com/sluz/sluz/securityserver/signature"
)

// Options say what Verify trusts and how much it reads.
type Options struct {
	// Anchors are the certificates the auditor trusts: the federation's CA
	// certificates and its TSA certificates (X-Road's verification
	// configuration trusts approved TSAs by their own certificates). With
	// none, the trust check is not checked (CodeAnchorNotGiven) and the
	// other checks run on what the container carries.
	Anchors []*x509.Certificate
	// Intermediates are CA certificates that may complete chains without
	// being trusted themselves.
	Intermediates []*x509.Certificate
	// OCSPFreshness is how old the OCSP response may be at signing time;
	// 0 means 1 h (X-Road's default ocspFreshnessSeconds, 3600).
	OCSPFreshness time.Duration
	// Limits bound the container; the zero value is the defaults.
	Limits Limits
	// StrictMimetype refuses a mimetype entry that is not first and
	// stored (ETSI EN 319 162-1 §A.1). Off by default: X-Road writes it
	// deflated.
	StrictMimetype bool
}

// VerifyFile reads the container at path and verifies it. The error is
// only for a file that cannot be read; everything about its content is in
// the report.
func VerifyFile(path string, opts Options) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("asic: %w", err)
	}
	defer f.Close()
	lim := opts.Limits.withDefaults()
	// The archive itself cannot usefully be larger than what it may hold
	// plus its headers; a bigger file is refused before it is read.
	max := lim.MaxTotalBytes + int64(lim.MaxEntries)*1024
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("asic: read %s: %w", path, err)
	}
	if int64(len(data)) > max {
		rep := &Report{}
		rep.Format.fail("too_large", "the file %s is larger than the %d bytes a container within the limits can be", path, max)
		rep.skipAll("the container was not read (see format)")
		return rep, nil
	}
	return Verify(data, opts), nil
}

// Verify reads the container data and runs every check it can. It never
// fails as a whole: each check reports ok, failed or not checked, with
// its reasons.
func Verify(data []byte, opts Options) *Report {
	if opts.OCSPFreshness <= 0 {
		opts.OCSPFreshness = time.Hour
	}
	rep := &Report{}
	c, format := Read(data, opts)
	rep.Format = format
	if c == nil {
		rep.skipAll("the container could not be read (see format)")
		return rep
	}
	rep.Entries = c.Names
	v := rep.checkSignature(c)
	tok := rep.checkTimestamp(c, v, opts)
	issuer := rep.checkOCSP(v, opts)
	rep.checkTrust(v, issuer, tok, opts)
	for _, n := range rep.Checks() {
		n.Check.done()
	}
	return rep
}

func (r *Report) skipAll(why string) {
	for _, n := range r.Checks()[1:] {
		n.Check.skip("unreadable_container", "%s", why)
	}
}

// checkSignature checks signatures.xml over message.xml and the
// attachments, directly or through the signature hash chain.
func (r *Report) checkSignature(c *Container) *signature.Verified {
	chk := &r.Signature
	if c.Message == nil || c.Signature == nil {
		chk.skip("input_missing", "the container lacks %s or %s (see format)", EntryMessage, EntrySignature)
		return nil
	}
	parts := map[string]hashchain.Part{hashchain.MessageURI: hashchain.Bytes(c.Message)}
	direct := []signature.Part{{URI: signature.MessageURI, Data: c.Message}}
	for i, a := range c.Attachments {
		uri := hashchain.AttachmentURI(i + 1)
		parts[uri] = hashchain.Bytes(a)
		direct = append(direct, signature.Part{URI: uri, Data: a})
	}
	var v *signature.Verified
	var err error
	if c.SigChainResult != nil {
		r.Batch = true
		v, err = signature.VerifyParts(c.Signature, []signature.Part{{URI: hashchain.SigResultURI, Data: c.SigChainResult}})
		if err != nil {
			chk.fail(signatureCode(err), "%s over %s: %v", EntrySignature, EntrySigChainResult, err)
		}
		chains := map[string][]byte{}
		if c.SigChain != nil {
			chains[hashchain.SigChainURI] = c.SigChain
			for _, uri := range unloggedAttachments(c) {
				parts[uri] = hashchain.Absent()
				chk.note("the hash chain references %s, which the container does not hold (X-Road logs attachments only when configured to): its digest was taken on the chain's word", uri)
			}
		}
		if err := hashchain.Verify(c.SigChainResult, chains, parts); err != nil {
			chk.fail(chainCode(err), "the signature hash chain (%s, %s): %v", EntrySigChainResult, EntrySigChain, err)
			v = nil
		}
	} else {
		if bytes.Contains(c.Signature, []byte(`URI="`+hashchain.SigResultURI+`"`)) {
			chk.fail("hashchain_result_not_found", "the signature is a batch signature over %s, which the container lacks", hashchain.SigResultURI)
			return nil
		}
		v, err = signature.VerifyParts(c.Signature, direct)
		if err != nil {
			chk.fail(signatureCode(err), "%s over %s and %d attachment(s): %v", EntrySignature, EntryMessage, len(c.Attachments), err)
		}
	}
	if v == nil || chk.Status == Failed {
		return nil
	}
	r.Signer, r.SigningTime = describe(v.Cert), v.SigningTime
	return v
}

// unloggedAttachments lists the attachments the signature hash chain
// references by DataRef that the container does not hold.
func unloggedAttachments(c *Container) []string {
	doc, err := xmldsig.Read(c.SigChain, xmldsig.Options{MaxBytes: 1 << 20, MaxDepth: 8, MaxElements: 10000})
	if err != nil {
		return nil // hashchain.Verify says what is wrong with it
	}
	var uris []string
	for _, el := range doc.Root.FindElements("//DataRef") {
		uri, _ := xmldsig.Attr(el, "URI")
		if n := attachmentNumber(strings.TrimPrefix(uri, "/")); el.NamespaceURI() == hashchain.Namespace && n > len(c.Attachments) && !slices.Contains(uris, uri) {
			uris = append(uris, uri)
		}
	}
	return uris
}

// signatureCode names a failure of signature.VerifyParts.
func signatureCode(err error) string {
	switch {
	case errors.Is(err, signature.ErrDigest):
		return "digest_mismatch"
	case errors.Is(err, signature.ErrSignatureValue):
		return "invalid_signature_value"
	case errors.Is(err, signature.ErrCertificate):
		return "invalid_signing_certificate"
	}
	return "malformed_signature"
}

// chainCode names a failure of hashchain.Verify after X-Road's error code.
func chainCode(err error) string {
	switch {
	case errors.Is(err, hashchain.ErrDataRef):
		return "invalid_hash_chain_ref"
	case errors.Is(err, hashchain.ErrResult):
		return "invalid_hash_chain_result"
	case errors.Is(err, hashchain.ErrUnused):
		return "hashchain_unused_inputs"
	case errors.Is(err, hashchain.ErrMissing):
		return "invalid_reference"
	case errors.Is(err, hashchain.ErrAlgorithm):
		return "hash_chain_algorithm"
	}
	return "malformed_hash_chain"
}

func describe(c *x509.Certificate) *Certificate {
	return &Certificate{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.String()}
}

// verifiedToken is a token whose own signature and imprint verified.
type verifiedToken struct {
	tok    *tsa.Token
	signer *x509.Certificate
}

// checkTimestamp checks the batch time-stamp (its hash chain over
// signatures.xml, the ASiC manifest's digest and the token over
// ts-hashchainresult.xml) or the token inside the signature (over the
// SignatureValue), as X-Road's AsicContainerVerifier.verifyTimestamp does.
func (r *Report) checkTimestamp(c *Container, v *signature.Verified, opts Options) *verifiedToken {
	chk := &r.Timestamp
	if c.Signature == nil {
		chk.skip("input_missing", "the container lacks %s, which the time-stamp covers (see format)", EntrySignature)
		return nil
	}
	sigValue, inner, err := signatureTimestamp(c.Signature)
	var tokenDER, stamped []byte
	var what string
	switch {
	case c.TSChainResult != nil:
		r.BatchTimestamp = true
		chains := map[string][]byte{}
		if c.TSChain != nil {
			chains[hashchain.TSChainURI] = c.TSChain
		}
		if err := hashchain.Verify(c.TSChainResult, chains, map[string]hashchain.Part{hashchain.SignaturesURI: hashchain.Bytes(c.Signature)}); err != nil {
			chk.fail(chainCode(err), "the time-stamp hash chain (%s, %s): %v", EntryTSChainResult, EntryTSChain, err)
		}
		if c.ASiCManifest != nil {
			if m, err := readASiCManifest(c.ASiCManifest); err == nil && !m.Digest.Matches(c.TSChainResult) {
				chk.fail("asic_manifest_digest", "%s gives %s another digest than its content has", EntryASiCManifest, EntryTSChainResult)
			}
		}
		if inner != nil {
			chk.note("the signature also carries a SignatureTimeStamp; the batch token %s was checked", EntryTimestamp)
		}
		tokenDER, stamped, what = c.Timestamp, c.TSChainResult, EntryTSChainResult
	case err != nil:
		chk.skip("input_unreadable", "%s could not be read for its SignatureTimeStamp: %v", EntrySignature, err)
		return nil
	case inner == nil:
		// Not a failure, as in the message log: the record was exported
		// before it was time-stamped. Nothing proves when it was signed.
		chk.skip("not_timestamped", "the container has no time-stamp (neither %s nor a SignatureTimeStamp in the signature): nothing proves when it was signed", EntryTimestamp)
		return nil
	default:
		tokenDER, stamped, what = inner, sigValue, "the SignatureValue"
	}
	if tokenDER == nil {
		chk.skip("input_missing", "the container lacks %s (see format)", EntryTimestamp)
		return nil
	}
	tok, err := tsa.ParseToken(tokenDER)
	if err != nil {
		chk.fail("malformed_timestamp", "the time-stamp token: %v", err)
		return nil
	}
	if h := tok.HashAlgorithm; h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512 {
		chk.fail("malformed_timestamp", "the token's imprint uses %v; SHA-256, SHA-384 or SHA-512 are accepted", h)
		return nil
	}
	signer := tok.Signer
	if signer == nil {
		signer = tokenSigner(tok, append(opts.Anchors[:len(opts.Anchors):len(opts.Anchors)], opts.Intermediates...))
	}
	if signer == nil {
		if len(opts.Anchors) == 0 {
			chk.skip(CodeAnchorNotGiven, "the token does not carry its TSA certificate and none was given: give the TSA certificates")
		} else {
			chk.skip("tsa_certificate_unknown", "the token does not carry its TSA certificate and none of the certificates given signed it")
		}
		return nil
	}
	d := tok.HashAlgorithm.New()
	d.Write(stamped)
	// The token is checked against its own signer as root: its signature,
	// ESS signing certificate, usage, validity at genTime and imprint. The
	// signer's chain is the trust check's.
	self := x509.NewCertPool()
	self.AddCert(signer)
	err = tok.Verify(tsa.VerifyOptions{Roots: self, TSACert: signer, HashAlgorithm: tok.HashAlgorithm, HashedMessage: d.Sum(nil),
		Now: tok.GenTime, CheckChainAt: tok.GenTime})
	if err != nil {
		if errors.Is(err, tsa.ErrImprintMismatch) {
			chk.fail("imprint_mismatch", "the token's message imprint is not the %v digest of %s: it stamps something else", tok.HashAlgorithm, what)
		} else {
			chk.fail(tokenCode(err), "the time-stamp token: %v", err)
		}
		return nil
	}
	if chk.Status == Failed {
		return nil
	}
	r.TSA, r.TimestampTime = describe(signer), tok.GenTime
	if v != nil && tok.GenTime.Before(v.SigningTime.Add(-time.Minute)) {
		chk.note("the token's genTime %s is before the signed SigningTime %s (the signer's clock was ahead)", tok.GenTime.Format(time.RFC3339), v.SigningTime.Format(time.RFC3339))
	}
	return &verifiedToken{tok: tok, signer: signer}
}

// tokenSigner finds the TSA certificate among certs for a token that does
// not carry it.
func tokenSigner(tok *tsa.Token, certs []*x509.Certificate) *x509.Certificate {
	for _, c := range certs {
		pool := x509.NewCertPool()
		pool.AddCert(c)
		err := tok.Verify(tsa.VerifyOptions{Roots: pool, TSACert: c, HashAlgorithm: tok.HashAlgorithm, HashedMessage: tok.HashedMessage, Now: tok.GenTime, CheckChainAt: tok.GenTime})
		if !errors.Is(err, tsa.ErrNoSigner) {
			return c
		}
	}
	return nil
}

func tokenCode(err error) string {
	switch {
	case errors.Is(err, tsa.ErrSignature), errors.Is(err, tsa.ErrSigningCertificate):
		return "invalid_timestamp_signature"
	case errors.Is(err, tsa.ErrEKU):
		return "tsa_certificate_usage"
	case errors.Is(err, tsa.ErrChain):
		return "tsa_certificate_validity"
	}
	return "malformed_timestamp"
}

// signatureTimestamp reads the SignatureValue and the SignatureTimeStamp's
// token (nil if none) from a signature document.
func signatureTimestamp(sigXML []byte) (value, token []byte, err error) {
	doc, err := xmldsig.Read(sigXML, xmldsig.Options{MaxBytes: 1 << 20, MaxDepth: 32, MaxElements: 1000})
	if err != nil {
		return nil, nil, err
	}
	sig := doc.Root
	if !xmldsig.Is(sig, xmldsig.NS, "Signature") {
		sig = child(sig, xmldsig.NS, "Signature")
	}
	sv := child(sig, xmldsig.NS, "SignatureValue")
	if sv == nil {
		return nil, nil, errors.New("no ds:SignatureValue")
	}
	if value, err = xmldsig.Base64(sv); err != nil {
		return nil, nil, err
	}
	const nsXAdES = "http://uri.etsi.org/01903/v1.3.2#"
	el := child(sig, xmldsig.NS, "Object")
	for _, local := range []string{"QualifyingProperties", "UnsignedProperties", "UnsignedSignatureProperties", "SignatureTimeStamp", "EncapsulatedTimeStamp"} {
		el = child(el, nsXAdES, local)
	}
	if el == nil {
		return value, nil, nil
	}
	token, err = xmldsig.Base64(el)
	return value, token, err
}

// child is el's first child ns:local, nil if none (or el is nil).
func child(el *etree.Element, ns, local string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, c := range el.ChildElements() {
		if xmldsig.Is(c, ns, local) {
			return c
		}
	}
	return nil
}

// checkOCSP checks the signature's OCSP response about the signing
// certificate at signing time, against the certificate's issuer found
// among the embedded and given certificates. It returns the issuer.
func (r *Report) checkOCSP(v *signature.Verified, opts Options) *x509.Certificate {
	chk := &r.OCSP
	if v == nil {
		chk.skip("signature_not_verified", "the OCSP response is taken from a signature that verified, and the signature check did not pass")
		return nil
	}
	var issuer *x509.Certificate
	for _, set := range [][]*x509.Certificate{v.Extra, opts.Intermediates, opts.Anchors} {
		for _, c := range set {
			if issuer == nil && bytes.Equal(v.Cert.RawIssuer, c.RawSubject) && v.Cert.CheckSignatureFrom(c) == nil {
				issuer = c
			}
		}
	}
	if issuer == nil {
		if len(opts.Anchors)+len(opts.Intermediates) == 0 {
			chk.skip(CodeAnchorNotGiven, "the OCSP response is checked against the signer's CA certificate (%s), which the container does not carry and none was given", v.Cert.Issuer)
		} else {
			chk.skip("issuer_unknown", "none of the certificates given is the signer's CA (%s), so its OCSP response cannot be checked", v.Cert.Issuer)
		}
		return nil
	}
	for _, der := range v.OCSP {
		resp, err := ocsp.Verify(der, ocsp.VerifyOptions{Cert: v.Cert, Issuer: issuer, Now: v.SigningTime, MaxAge: opts.OCSPFreshness})
		if errors.Is(err, ocsp.ErrCertIDMismatch) {
			continue // about another certificate of the chain
		}
		switch {
		case err != nil:
			chk.fail(ocspCode(err), "the OCSP response about the signing certificate, at signing time %s: %v", v.SigningTime.Format(time.RFC3339), err)
		case resp.Status == ocsp.Revoked:
			chk.fail("certificate_revoked", "the OCSP response says the signing certificate was revoked at %s", resp.RevokedAt.Format(time.RFC3339))
		case resp.Status != ocsp.Good:
			chk.fail("certificate_status_unknown", "the OCSP response says the signing certificate's status is %s", resp.Status)
		default:
			r.OCSPProducedAt = resp.ProducedAt
		}
		return issuer
	}
	chk.fail("ocsp_not_found", "none of the signature's %d OCSP responses is about the signing certificate", len(v.OCSP))
	return issuer
}

func ocspCode(err error) string {
	var re *ocsp.ResponseError
	switch {
	case errors.As(err, &re):
		return "ocsp_error_status"
	case errors.Is(err, ocsp.ErrSignature):
		return "invalid_ocsp_signature"
	case errors.Is(err, ocsp.ErrResponder):
		return "ocsp_responder_not_authorised"
	case errors.Is(err, ocsp.ErrNotYetValid), errors.Is(err, ocsp.ErrExpired), errors.Is(err, ocsp.ErrStale):
		return "ocsp_not_fresh"
	}
	return "malformed_ocsp"
}

// checkTrust checks the chains of the signer (at signing time) and of the
// TSA (at genTime) to the anchors. The OCSP responder is the signer's CA
// or a responder that CA authorised (the OCSP check verified which), so
// it is trusted through the signer's chain.
func (r *Report) checkTrust(v *signature.Verified, issuer *x509.Certificate, tok *verifiedToken, opts Options) {
	chk := &r.Trust
	if len(opts.Anchors) == 0 {
		chk.skip(CodeAnchorNotGiven, "no CA or TSA certificates were given, so the chains of the signer, the OCSP responder and the TSA were not checked: give the federation's CA and TSA certificates")
		return
	}
	roots := x509.NewCertPool()
	for _, c := range opts.Anchors {
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range opts.Intermediates {
		inter.AddCert(c)
	}
	if v == nil {
		chk.skip("signature_not_verified", "signer: the signature check did not pass, so there is no signing certificate to trust")
	} else {
		for _, c := range v.Extra {
			inter.AddCert(c)
		}
		chains, err := v.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: v.SigningTime, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			chk.fail(chainError(err, "unknown_ca"), "signer: the signing certificate %s (issued by %s) does not chain to the given certificates at signing time %s: %v", v.Cert.Subject, v.Cert.Issuer, v.SigningTime.Format(time.RFC3339), err)
		} else if issuer != nil && len(chains[0]) > 1 && !chains[0][1].Equal(issuer) {
			chk.fail("unknown_ca", "ocsp: the OCSP response was checked against %s, which is not the signer's CA in its trusted chain", issuer.Subject)
		} else if issuer != nil {
			chk.note("the OCSP responder is trusted through %s, the signer's CA, which signed or authorised it", issuer.Subject)
		}
	}
	if tok == nil {
		chk.skip("timestamp_not_verified", "tsa: the time-stamp check did not pass, so there is no TSA certificate to trust")
		return
	}
	for _, c := range tok.tok.Certificates {
		inter.AddCert(c)
	}
	if _, err := tok.signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: tok.tok.GenTime, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		chk.fail(chainError(err, "unknown_tsa"), "tsa: the TSA certificate %s (issued by %s) is not trusted at genTime %s: %v", tok.signer.Subject, tok.signer.Issuer, tok.tok.GenTime.Format(time.RFC3339), err)
	}
}

// chainError names a chain failure: unknown (the anchor is not among
// those given) or invalid (expired, wrong usage, ...).
func chainError(err error, unknown string) string {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return unknown
	}
	return "invalid_chain"
}
