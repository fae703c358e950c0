package ocsp

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Sentinel errors of Verify, for errors.Is. Verify wraps them with details.
var (
	// ErrMalformedResponse: the response is not a well-formed OCSPResponse
	// with a BasicOCSPResponse.
	ErrMalformedResponse = errors.New("ocsp: malformed response")
	// ErrSignature: the signature over the response data does not verify
	// (or uses an unsupported or insecure algorithm).
	ErrSignature = errors.New("ocsp: bad response signature")
	// ErrResponder: the response is not signed by the issuer nor by a
	// delegated responder the issuer authorised (issued by it, with the
	// OCSPSigning EKU, valid at the verification time).
	ErrResponder = errors.New("ocsp: response signer is not authorized for the issuer")
	// ErrCertIDMismatch: no SingleResponse is about the certificate asked
	// about.
	ErrCertIDMismatch = errors.New("ocsp: response is not about the requested certificate")
	// ErrNotYetValid: thisUpdate is more than a minute in the future.
	ErrNotYetValid = errors.New("ocsp: response thisUpdate is in the future")
	// ErrExpired: nextUpdate has passed.
	ErrExpired = errors.New("ocsp: response has expired")
	// ErrStale: the response is older than VerifyOptions.MaxAge.
	ErrStale = errors.New("ocsp: stale OCSP response")
	// ErrNonceMismatch: a nonce was expected and the response does not echo
	// it.
	ErrNonceMismatch = errors.New("ocsp: response nonce does not match the request")
)

// clockSkew is how far in the future thisUpdate may be.
const clockSkew = time.Minute

// Response is a verified OCSP response about one certificate.
type Response struct {
	Status     CertStatus
	RevokedAt  time.Time // when Status is Revoked
	Reason     int       // CRLReason when Status is Revoked and a reason was given, else -1
	ThisUpdate time.Time
	NextUpdate time.Time // zero if the response has none
	ProducedAt time.Time
	// SerialNumber is the serial of the certificate the answer is about.
	SerialNumber *big.Int
	// Raw is the DER OCSPResponse, to be stapled or stored as is.
	Raw []byte
}

// VerifyOptions says what a response must be about and how fresh it must
// be.
type VerifyOptions struct {
	Cert, Issuer *x509.Certificate // the certificate asked about and its issuer (required)
	Nonce        []byte            // if non-nil, the response must echo it
	Now          time.Time         // zero = time.Now()
	MaxAge       time.Duration     // if >0, Now - ThisUpdate must be <= MaxAge
}

// Verify parses and verifies a DER OCSPResponse about opts.Cert. It checks,
// in this order, that the response is well formed (else
// ErrMalformedResponse) and successful (else a *ResponseError with the
// responder's status); that it is signed by opts.Issuer itself or by a
// delegated responder certificate included in the response that Issuer
// signed, that carries the OCSPSigning EKU and that is valid at Now (else
// ErrResponder), with a valid signature (else ErrSignature); that a
// SingleResponse's CertID matches Cert and Issuer (else ErrCertIDMismatch);
// that thisUpdate is at most a minute after Now (else ErrNotYetValid), that
// nextUpdate, if present, is not before Now (else ErrExpired) and that
// Now - thisUpdate <= MaxAge when MaxAge > 0 (else ErrStale); and that the
// response echoes Nonce when it is non-nil (else ErrNonceMismatch).
//
// A verified response saying Revoked (or Unknown) is not an error.
func Verify(der []byte, opts VerifyOptions) (*Response, error) {
	if opts.Cert == nil || opts.Cert.SerialNumber == nil || opts.Issuer == nil {
		return nil, errors.New("ocsp: Verify needs Cert and Issuer")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	status, b, err := parseResponse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedResponse, err)
	}
	if status != Successful {
		return nil, &ResponseError{Status: status}
	}

	signer, err := findSigner(b, opts.Issuer, now)
	if err != nil {
		return nil, err
	}
	alg, err := signatureAlgorithmFromOID(b.sigAlg, b.sigParams)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	if err := signer.CheckSignature(alg, b.tbs, b.signature); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}

	var single *singleResponse
	for i := range b.singles {
		s := &b.singles[i]
		if s.id.SerialNumber.Cmp(opts.Cert.SerialNumber) != 0 {
			continue
		}
		nameHash, keyHash, err := issuerHashes(opts.Issuer, s.id.HashAlgorithm)
		if err != nil {
			continue
		}
		if bytes.Equal(nameHash, s.id.IssuerNameHash) && bytes.Equal(keyHash, s.id.IssuerKeyHash) {
			single = s
			break
		}
	}
	if single == nil {
		return nil, fmt.Errorf("%w: serial %v of %q", ErrCertIDMismatch, opts.Cert.SerialNumber, opts.Issuer.Subject)
	}

	if single.thisUpdate.After(now.Add(clockSkew)) {
		return nil, fmt.Errorf("%w: thisUpdate %v, now %v", ErrNotYetValid, single.thisUpdate, now.UTC())
	}
	if !single.nextUpdate.IsZero() && single.nextUpdate.Before(now) {
		return nil, fmt.Errorf("%w: nextUpdate %v, now %v", ErrExpired, single.nextUpdate, now.UTC())
	}
	if opts.MaxAge > 0 && now.Sub(single.thisUpdate) > opts.MaxAge {
		return nil, fmt.Errorf("%w: thisUpdate %v is older than %v", ErrStale, single.thisUpdate, opts.MaxAge)
	}
	if opts.Nonce != nil {
		switch {
		case b.nonce == nil:
			return nil, fmt.Errorf("%w: response has no nonce", ErrNonceMismatch)
		case !bytes.Equal(decodeNonce(b.nonce), opts.Nonce) && !bytes.Equal(b.nonce, opts.Nonce):
			return nil, ErrNonceMismatch
		}
	}

	return &Response{
		Status:       single.status,
		RevokedAt:    single.revokedAt,
		Reason:       single.reason,
		ThisUpdate:   single.thisUpdate,
		NextUpdate:   single.nextUpdate,
		ProducedAt:   b.producedAt,
		SerialNumber: new(big.Int).Set(single.id.SerialNumber),
		Raw:          bytes.Clone(der),
	}, nil
}

// findSigner returns the certificate that the responderID names and that
// may sign for issuer.
func findSigner(b *basicResponse, issuer *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	matches := func(c *x509.Certificate) bool {
		if b.responderName != nil {
			return bytes.Equal(c.RawSubject, b.responderName)
		}
		id, err := keyID(c)
		return err == nil && bytes.Equal(id, b.responderKey)
	}
	if matches(issuer) {
		return issuer, nil
	}
	var lastErr error
	for _, c := range b.certs {
		if !matches(c) {
			continue
		}
		if isIssuer(c, issuer) {
			return issuer, nil
		}
		if err := checkDelegate(c, issuer); err != nil {
			lastErr = err
			continue
		}
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			lastErr = fmt.Errorf("responder certificate not valid at %v (valid %v to %v)", now.UTC(), c.NotBefore, c.NotAfter)
			continue
		}
		return c, nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w: %v", ErrResponder, lastErr)
	}
	return nil, fmt.Errorf("%w: no certificate of %q or in the response matches the responder ID", ErrResponder, issuer.Subject)
}

// signatureAlgorithmFromOID maps a signatureAlgorithm of a response.
func signatureAlgorithmFromOID(oid asn1.ObjectIdentifier, params []byte) (x509.SignatureAlgorithm, error) {
	nullOK := params == nil || bytes.Equal(params, derNull)
	switch {
	case oid.Equal(oidECDSAWithSHA256) && params == nil:
		return x509.ECDSAWithSHA256, nil
	case oid.Equal(oidECDSAWithSHA384) && params == nil:
		return x509.ECDSAWithSHA384, nil
	case oid.Equal(oidECDSAWithSHA512) && params == nil:
		return x509.ECDSAWithSHA512, nil
	case oid.Equal(oidECDSAWithSHA1) && params == nil:
		return x509.ECDSAWithSHA1, nil // CheckSignature refuses it as insecure
	case oid.Equal(oidSHA256WithRSA) && nullOK:
		return x509.SHA256WithRSA, nil
	case oid.Equal(oidSHA384WithRSA) && nullOK:
		return x509.SHA384WithRSA, nil
	case oid.Equal(oidSHA512WithRSA) && nullOK:
		return x509.SHA512WithRSA, nil
	case oid.Equal(oidSHA1WithRSA) && nullOK:
		return x509.SHA1WithRSA, nil // CheckSignature refuses it as insecure
	case oid.Equal(oidEd25519) && params == nil:
		return x509.PureEd25519, nil
	}
	return x509.UnknownSignatureAlgorithm, fmt.Errorf("unsupported signature algorithm %v", oid)
}

// basicResponse is a parsed BasicOCSPResponse.
type basicResponse struct {
	tbs           []byte // DER of tbsResponseData, the signed bytes
	sigAlg        asn1.ObjectIdentifier
	sigParams     []byte
	signature     []byte
	certs         []*x509.Certificate
	responderName []byte // DER Name for byName
	responderKey  []byte // key hash for byKey
	producedAt    time.Time
	singles       []singleResponse
	nonce         []byte // extnValue of the nonce extension, nil if absent
}

type singleResponse struct {
	id         CertID
	status     CertStatus
	revokedAt  time.Time
	reason     int
	thisUpdate time.Time
	nextUpdate time.Time
}

// parseResponse parses an OCSPResponse. For a non-successful status it
// returns the status and no BasicOCSPResponse.
func parseResponse(der []byte) (ResponseStatus, *basicResponse, error) {
	outer, err := readOne(der)
	if err != nil {
		return 0, nil, err
	}
	top, err := sequence(outer, "OCSPResponse")
	if err != nil {
		return 0, nil, err
	}
	if len(top) < 1 || len(top) > 2 {
		return 0, nil, errors.New("OCSPResponse: wrong number of elements")
	}
	st, err := enumerated(top[0], "responseStatus")
	if err != nil {
		return 0, nil, err
	}
	if st < 0 || st > 6 || st == 4 {
		return 0, nil, fmt.Errorf("responseStatus: invalid value %d", st)
	}
	if len(top) == 2 && !is(top[1], ctxTag(0, true)) {
		return 0, nil, errors.New("OCSPResponse: unexpected element")
	}
	if ResponseStatus(st) != Successful {
		return ResponseStatus(st), nil, nil
	}
	if len(top) != 2 {
		return 0, nil, errors.New("OCSPResponse: successful without responseBytes")
	}
	rb, err := explicit(top[1], "responseBytes")
	if err != nil {
		return 0, nil, err
	}
	rbEls, err := sequence(rb, "ResponseBytes")
	if err != nil {
		return 0, nil, err
	}
	if len(rbEls) != 2 {
		return 0, nil, errors.New("ResponseBytes: wrong number of elements")
	}
	typ, err := objectID(rbEls[0], "responseType")
	if err != nil {
		return 0, nil, err
	}
	if !typ.Equal(oidBasicResponse) {
		return 0, nil, fmt.Errorf("unsupported response type %v", typ)
	}
	body, err := octetString(rbEls[1], "response")
	if err != nil {
		return 0, nil, err
	}
	b, err := parseBasicResponse(body)
	if err != nil {
		return 0, nil, err
	}
	return Successful, b, nil
}

func parseBasicResponse(der []byte) (*basicResponse, error) {
	v, err := readOne(der)
	if err != nil {
		return nil, err
	}
	els, err := sequence(v, "BasicOCSPResponse")
	if err != nil {
		return nil, err
	}
	if len(els) < 3 || len(els) > 4 {
		return nil, errors.New("BasicOCSPResponse: wrong number of elements")
	}
	b := &basicResponse{tbs: els[0].FullBytes}
	if b.sigAlg, b.sigParams, err = algorithmIdentifier(els[1], "signatureAlgorithm"); err != nil {
		return nil, err
	}
	if !is(els[2], tagBitString) {
		return nil, errors.New("signature: not a BIT STRING")
	}
	var sig asn1.BitString
	if rest, err := asn1.Unmarshal(els[2].FullBytes, &sig); err != nil || len(rest) != 0 || sig.BitLength%8 != 0 {
		return nil, errors.New("signature: bad BIT STRING")
	}
	b.signature = sig.Bytes
	if len(els) == 4 {
		if !is(els[3], ctxTag(0, true)) {
			return nil, errors.New("BasicOCSPResponse: unexpected element")
		}
		list, err := explicit(els[3], "certs")
		if err != nil {
			return nil, err
		}
		raws, err := sequence(list, "certs")
		if err != nil {
			return nil, err
		}
		for _, r := range raws {
			c, err := x509.ParseCertificate(r.FullBytes)
			if err != nil {
				return nil, fmt.Errorf("certs: %v", err)
			}
			b.certs = append(b.certs, c)
		}
	}
	if err := parseResponseData(els[0], b); err != nil {
		return nil, err
	}
	return b, nil
}

func parseResponseData(v asn1.RawValue, b *basicResponse) error {
	els, err := sequence(v, "ResponseData")
	if err != nil {
		return err
	}
	i := 0
	if i < len(els) && is(els[i], ctxTag(0, true)) { // version
		ver, err := explicit(els[i], "version")
		if err != nil {
			return err
		}
		n, err := integer(ver, "version")
		if err != nil {
			return err
		}
		if n.Sign() != 0 {
			return fmt.Errorf("unsupported ResponseData version %v", n)
		}
		i++
	}
	if i >= len(els) {
		return errors.New("ResponseData: missing responderID")
	}
	switch rid := els[i]; {
	case is(rid, ctxTag(1, true)):
		name, err := explicit(rid, "responderID")
		if err != nil {
			return err
		}
		if !is(name, tagSequence) {
			return errors.New("responderID: bad Name")
		}
		b.responderName = name.FullBytes
	case is(rid, ctxTag(2, true)):
		key, err := explicit(rid, "responderID")
		if err != nil {
			return err
		}
		if b.responderKey, err = octetString(key, "responderID"); err != nil {
			return err
		}
	default:
		return errors.New("responderID: bad tag")
	}
	i++
	if i >= len(els) {
		return errors.New("ResponseData: missing producedAt")
	}
	if b.producedAt, err = generalizedTime(els[i], "producedAt"); err != nil {
		return err
	}
	i++
	if i >= len(els) {
		return errors.New("ResponseData: missing responses")
	}
	list, err := sequence(els[i], "responses")
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return errors.New("responses: empty")
	}
	for _, e := range list {
		s, err := parseSingleResponse(e)
		if err != nil {
			return err
		}
		b.singles = append(b.singles, s)
	}
	i++
	if i < len(els) && is(els[i], ctxTag(1, true)) {
		x, err := explicit(els[i], "responseExtensions")
		if err != nil {
			return err
		}
		exts, err := extensions(x, "responseExtensions")
		if err != nil {
			return err
		}
		for _, e := range exts {
			switch {
			case e.id.Equal(oidNonce):
				b.nonce = e.value
			case e.critical:
				return fmt.Errorf("unsupported critical extension %v", e.id)
			}
		}
		i++
	}
	if i != len(els) {
		return errors.New("ResponseData: unexpected elements")
	}
	return nil
}

func parseSingleResponse(v asn1.RawValue) (singleResponse, error) {
	var s singleResponse
	els, err := sequence(v, "SingleResponse")
	if err != nil {
		return s, err
	}
	if len(els) < 3 || len(els) > 5 {
		return s, errors.New("SingleResponse: wrong number of elements")
	}
	if s.id, err = parseCertID(els[0]); err != nil {
		return s, err
	}
	s.reason = -1
	switch st := els[1]; {
	case is(st, ctxTag(0, false)) && len(st.Bytes) == 0:
		s.status = Good
	case is(st, ctxTag(2, false)) && len(st.Bytes) == 0:
		s.status = Unknown
	case is(st, ctxTag(1, true)):
		s.status = Revoked
		info, err := children(st)
		if err != nil {
			return s, fmt.Errorf("RevokedInfo: %v", err)
		}
		if len(info) < 1 || len(info) > 2 {
			return s, errors.New("RevokedInfo: wrong number of elements")
		}
		if s.revokedAt, err = generalizedTime(info[0], "revocationTime"); err != nil {
			return s, err
		}
		if len(info) == 2 {
			if !is(info[1], ctxTag(0, true)) {
				return s, errors.New("RevokedInfo: unexpected element")
			}
			r, err := explicit(info[1], "revocationReason")
			if err != nil {
				return s, err
			}
			if s.reason, err = enumerated(r, "revocationReason"); err != nil {
				return s, err
			}
			if s.reason < 0 || s.reason > 10 || s.reason == 7 {
				return s, fmt.Errorf("revocationReason: invalid value %d", s.reason)
			}
		}
	default:
		return s, errors.New("certStatus: bad encoding")
	}
	if s.thisUpdate, err = generalizedTime(els[2], "thisUpdate"); err != nil {
		return s, err
	}
	i := 3
	if i < len(els) && is(els[i], ctxTag(0, true)) {
		n, err := explicit(els[i], "nextUpdate")
		if err != nil {
			return s, err
		}
		if s.nextUpdate, err = generalizedTime(n, "nextUpdate"); err != nil {
			return s, err
		}
		if s.nextUpdate.Before(s.thisUpdate) {
			return s, errors.New("nextUpdate before thisUpdate")
		}
		i++
	}
	if i < len(els) && is(els[i], ctxTag(1, true)) {
		x, err := explicit(els[i], "singleExtensions")
		if err != nil {
			return s, err
		}
		exts, err := extensions(x, "singleExtensions")
		if err != nil {
			return s, err
		}
		for _, e := range exts {
			if e.critical {
				return s, fmt.Errorf("unsupported critical single extension %v", e.id)
			}
		}
		i++
	}
	if i != len(els) {
		return s, errors.New("SingleResponse: unexpected elements")
	}
	return s, nil
}
