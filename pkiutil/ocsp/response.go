package ocsp

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/sluz/sluz/internal/der"
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
	// Signer is the certificate that signed the response: the issuer
	// itself, or the delegated responder certificate the response carries.
	Signer *x509.Certificate
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
	alg, err := signatureAlgorithmFromOID(b.sigAlg)
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

	if err := checkTimes(single.thisUpdate, single.nextUpdate, now, opts.MaxAge); err != nil {
		return nil, err
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
		Signer:       signer,
	}, nil
}

func checkTimes(thisUpdate, nextUpdate, now time.Time, maxAge time.Duration) error {
	if thisUpdate.After(now.Add(clockSkew)) {
		return fmt.Errorf("%w: thisUpdate %v, now %v", ErrNotYetValid, thisUpdate, now.UTC())
	}
	if !nextUpdate.IsZero() && nextUpdate.Before(now) {
		return fmt.Errorf("%w: nextUpdate %v, now %v", ErrExpired, nextUpdate, now.UTC())
	}
	if maxAge > 0 && now.Sub(thisUpdate) > maxAge {
		return fmt.Errorf("%w: thisUpdate %v is older than %v", ErrStale, thisUpdate, maxAge)
	}
	return nil
}

// ValidAt repeats the checks of Verify that depend on the time, for a
// response Verify accepted, at another time now: the signer's validity,
// thisUpdate, nextUpdate and maxAge. A verifier that meets the same
// response again (an auditor reading many records stapled with it) checks
// its signature once and then only ValidAt; the errors are Verify's.
func (r *Response) ValidAt(now time.Time, maxAge time.Duration) error {
	if c := r.Signer; c != nil && (now.Before(c.NotBefore) || now.After(c.NotAfter)) {
		return fmt.Errorf("%w: responder certificate not valid at %v (valid %v to %v)", ErrResponder, now.UTC(), c.NotBefore, c.NotAfter)
	}
	return checkTimes(r.ThisUpdate, r.NextUpdate, now, maxAge)
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
func signatureAlgorithmFromOID(alg der.Algorithm) (x509.SignatureAlgorithm, error) {
	if sig, ok := der.SignatureFromOID(alg.OID); ok && sig.ParamsOK(alg) {
		return sig.Algorithm, nil // CheckSignature refuses the SHA-1 ones as insecure
	}
	return x509.UnknownSignatureAlgorithm, fmt.Errorf("unsupported signature algorithm %v", alg.OID)
}

// basicResponse is a parsed BasicOCSPResponse.
type basicResponse struct {
	tbs           []byte // DER of tbsResponseData, the signed bytes
	sigAlg        der.Algorithm
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
func parseResponse(b []byte) (ResponseStatus, *basicResponse, error) {
	top, err := der.Parse(b, der.TagSequence, "OCSPResponse")
	if err != nil {
		return 0, nil, err
	}
	st, err := top.Enumerated("responseStatus")
	if err != nil {
		return 0, nil, err
	}
	if st < 0 || st > 6 || st == 4 {
		return 0, nil, fmt.Errorf("responseStatus: invalid value %d", st)
	}
	// The contents of responseBytes are read only for a successful
	// response: an error response should not have it, and has never been
	// refused for what it holds.
	atBytes := top // a copy, positioned at responseBytes
	hasBytes := top.Peek(der.ContextCons(0))
	if hasBytes {
		if _, err := top.Read(der.ContextCons(0), "responseBytes"); err != nil {
			return 0, nil, err
		}
	}
	if err := top.Done(); err != nil {
		return 0, nil, err
	}
	if ResponseStatus(st) != Successful {
		return ResponseStatus(st), nil, nil
	}
	if !hasBytes {
		return 0, nil, errors.New("OCSPResponse: successful without responseBytes")
	}
	rb, err := atBytes.Explicit(0, "responseBytes")
	if err != nil {
		return 0, nil, err
	}
	rbs, err := rb.Enter(der.TagSequence, "ResponseBytes")
	if err != nil {
		return 0, nil, err
	}
	typ, err := rbs.OID("responseType")
	if err != nil {
		return 0, nil, err
	}
	if !typ.Equal(oidBasicResponse) {
		return 0, nil, fmt.Errorf("unsupported response type %v", typ)
	}
	body, err := rbs.OctetString("response")
	if err != nil {
		return 0, nil, err
	}
	if err := rbs.Done(); err != nil {
		return 0, nil, err
	}
	basic, err := parseBasicResponse(body)
	if err != nil {
		return 0, nil, err
	}
	return Successful, basic, nil
}

func parseBasicResponse(b []byte) (*basicResponse, error) {
	r, err := der.Parse(b, der.TagSequence, "BasicOCSPResponse")
	if err != nil {
		return nil, err
	}
	data, err := r.Read(der.TagSequence, "tbsResponseData")
	if err != nil {
		return nil, err
	}
	basic := &basicResponse{tbs: data.Raw}
	if basic.sigAlg, err = r.Algorithm("signatureAlgorithm"); err != nil {
		return nil, err
	}
	sig, err := r.BitString("signature")
	if err != nil {
		return nil, err
	}
	if sig.BitLength%8 != 0 {
		return nil, errors.New("signature: not a whole number of octets")
	}
	basic.signature = sig.Bytes
	if r.Peek(der.ContextCons(0)) {
		x, err := r.Explicit(0, "certs")
		if err != nil {
			return nil, err
		}
		certs, err := x.Enter(der.TagSequence, "SEQUENCE OF Certificate")
		if err != nil {
			return nil, err
		}
		for !certs.Empty() {
			e, err := certs.Next("Certificate")
			if err != nil {
				return nil, err
			}
			c, err := x509.ParseCertificate(e.Raw)
			if err != nil {
				return nil, fmt.Errorf("certs: %w", err)
			}
			basic.certs = append(basic.certs, c)
		}
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	if err := parseResponseData(data.Content, basic); err != nil {
		return nil, err
	}
	return basic, nil
}

func parseResponseData(b []byte, basic *basicResponse) error {
	r := der.NewReader(b, "ResponseData")
	if r.Peek(der.ContextCons(0)) {
		if err := parseVersion(&r); err != nil {
			return err
		}
	}
	switch {
	case r.Peek(der.ContextCons(1)): // byName [1] Name
		x, err := r.Explicit(1, "responderID")
		if err != nil {
			return err
		}
		name, err := x.Read(der.TagSequence, "Name")
		if err != nil {
			return err
		}
		basic.responderName = name.Raw
	case r.Peek(der.ContextCons(2)): // byKey [2] KeyHash
		x, err := r.Explicit(2, "responderID")
		if err != nil {
			return err
		}
		if basic.responderKey, err = x.OctetString("KeyHash"); err != nil {
			return err
		}
	case r.Empty():
		return errors.New("ResponseData: missing responderID")
	default:
		return errors.New("responderID: bad tag")
	}
	var err error
	if basic.producedAt, err = r.GeneralizedTime("producedAt"); err != nil {
		return err
	}
	list, err := r.Enter(der.TagSequence, "responses")
	if err != nil {
		return err
	}
	if list.Empty() {
		return list.Errorf("empty")
	}
	for !list.Empty() {
		s, err := parseSingleResponse(&list)
		if err != nil {
			return err
		}
		basic.singles = append(basic.singles, s)
	}
	if r.Peek(der.ContextCons(1)) {
		exts, err := explicitExtensions(&r, 1, "responseExtensions")
		if err != nil {
			return err
		}
		for _, e := range exts {
			switch {
			case e.ID.Equal(oidNonce):
				basic.nonce = e.Value
			case e.Critical:
				return fmt.Errorf("unsupported critical extension %v", e.ID)
			}
		}
	}
	return r.Done()
}

func parseSingleResponse(list *der.Reader) (singleResponse, error) {
	s := singleResponse{reason: -1}
	r, err := list.Enter(der.TagSequence, "SingleResponse")
	if err != nil {
		return s, err
	}
	id, err := r.Read(der.TagSequence, "certID")
	if err != nil {
		return s, err
	}
	if s.id, err = parseCertID(id.Raw); err != nil {
		return s, err
	}
	st, err := r.Next("certStatus")
	if err != nil {
		return s, err
	}
	switch {
	case st.Tag == der.Context(0) && len(st.Content) == 0:
		s.status = Good
	case st.Tag == der.Context(2) && len(st.Content) == 0:
		s.status = Unknown
	case st.Tag == der.ContextCons(1):
		s.status = Revoked
		if err := parseRevokedInfo(der.NewReader(st.Content, "RevokedInfo"), &s); err != nil {
			return s, err
		}
	default:
		return s, errors.New("certStatus: bad encoding")
	}
	if s.thisUpdate, err = r.GeneralizedTime("thisUpdate"); err != nil {
		return s, err
	}
	if r.Peek(der.ContextCons(0)) {
		n, err := r.Explicit(0, "nextUpdate")
		if err != nil {
			return s, err
		}
		if s.nextUpdate, err = n.GeneralizedTime("GeneralizedTime"); err != nil {
			return s, err
		}
		if s.nextUpdate.Before(s.thisUpdate) {
			return s, errors.New("nextUpdate before thisUpdate")
		}
	}
	if r.Peek(der.ContextCons(1)) {
		exts, err := explicitExtensions(&r, 1, "singleExtensions")
		if err != nil {
			return s, err
		}
		if err := noCritical(exts, "single extension"); err != nil {
			return s, err
		}
	}
	return s, r.Done()
}

// parseRevokedInfo reads the contents of "RevokedInfo ::= SEQUENCE {
// revocationTime GeneralizedTime, revocationReason [0] EXPLICIT CRLReason
// OPTIONAL }".
func parseRevokedInfo(r der.Reader, s *singleResponse) error {
	var err error
	if s.revokedAt, err = r.GeneralizedTime("revocationTime"); err != nil {
		return err
	}
	if r.Peek(der.ContextCons(0)) {
		x, err := r.Explicit(0, "revocationReason")
		if err != nil {
			return err
		}
		if s.reason, err = x.Enumerated("CRLReason"); err != nil {
			return err
		}
		if s.reason < 0 || s.reason > 10 || s.reason == 7 {
			return fmt.Errorf("revocationReason: invalid value %d", s.reason)
		}
	}
	return r.Done()
}
