package tsa

import (
	"errors"
	"fmt"
	"strings"
)

// PKIStatus values (RFC 3161 section 2.4.2).
const (
	StatusGranted                = 0
	StatusGrantedWithMods        = 1
	StatusRejection              = 2
	StatusWaiting                = 3
	StatusRevocationWarning      = 4
	StatusRevocationNotification = 5
)

// PKIFailureInfo bit numbers (RFC 3161 section 2.4.2). Response.FailInfo
// holds one of these, or -1 for none.
const (
	FailBadAlg              = 0
	FailBadRequest          = 2
	FailBadDataFormat       = 5
	FailTimeNotAvailable    = 14
	FailUnacceptedPolicy    = 15
	FailUnacceptedExtension = 16
	FailAddInfoNotAvailable = 17
	FailSystemFailure       = 25
)

// Sentinel errors. Errors returned by this package wrap one of them where it
// applies, so callers can test with errors.Is.
var (
	// ErrMalformed: the DER input is not a well-formed request, response or
	// token.
	ErrMalformed = errors.New("tsa: malformed ASN.1")
	// ErrNoSigner: the signer certificate is neither in the token nor given
	// as VerifyOptions.TSACert.
	ErrNoSigner = errors.New("tsa: signer certificate not found")
	// ErrSignature: the CMS signature, the contentType or the messageDigest
	// signed attribute does not verify.
	ErrSignature = errors.New("tsa: invalid token signature")
	// ErrSigningCertificate: the ESS signingCertificate(V2) attribute is
	// missing or does not identify the signer certificate.
	ErrSigningCertificate = errors.New("tsa: signingCertificate attribute does not match the signer")
	// ErrChain: the signer certificate does not chain to the roots.
	ErrChain = errors.New("tsa: signer certificate chain is not trusted")
	// ErrEKU: the certificate is not a time-stamping certificate (critical
	// extended key usage with only id-kp-timeStamping, suitable key usage).
	ErrEKU = errors.New("tsa: certificate lacks critical timeStamping extended key usage")
	// ErrImprintMismatch: the token's message imprint differs from the
	// expected one.
	ErrImprintMismatch = errors.New("tsa: message imprint mismatch")
	// ErrNonceMismatch: the token's nonce differs from the expected one.
	ErrNonceMismatch = errors.New("tsa: nonce mismatch")
	// ErrPolicyMismatch: the token's policy differs from the expected one.
	ErrPolicyMismatch = errors.New("tsa: policy mismatch")
	// ErrStale: genTime is older than VerifyOptions.MaxAge.
	ErrStale = errors.New("tsa: time-stamp is too old")
	// ErrFuture: genTime lies more than a minute after the verification time.
	ErrFuture = errors.New("tsa: time-stamp is in the future")
)

// StatusError is returned by Client.Timestamp when the authority does not
// grant the request.
type StatusError struct {
	Status   int    // PKIStatus
	FailInfo int    // PKIFailureInfo bit number, -1 if none
	Text     string // statusString elements joined with "; "
}

func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tsa: request not granted: status %s", statusName(e.Status))
	if e.FailInfo >= 0 {
		fmt.Fprintf(&b, ", failInfo %s", failInfoName(e.FailInfo))
	}
	if e.Text != "" {
		fmt.Fprintf(&b, ": %s", e.Text)
	}
	return b.String()
}

// RequestError is returned by ParseRequest; FailInfo is the PKIFailureInfo
// bit an authority should answer with.
type RequestError struct {
	FailInfo int
	Err      error
}

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

func requestError(failInfo int, err error) error {
	return &RequestError{FailInfo: failInfo, Err: err}
}

func statusName(s int) string {
	switch s {
	case StatusGranted:
		return "granted"
	case StatusGrantedWithMods:
		return "grantedWithMods"
	case StatusRejection:
		return "rejection"
	case StatusWaiting:
		return "waiting"
	case StatusRevocationWarning:
		return "revocationWarning"
	case StatusRevocationNotification:
		return "revocationNotification"
	}
	return fmt.Sprintf("%d", s)
}

func failInfoName(f int) string {
	switch f {
	case FailBadAlg:
		return "badAlg"
	case FailBadRequest:
		return "badRequest"
	case FailBadDataFormat:
		return "badDataFormat"
	case FailTimeNotAvailable:
		return "timeNotAvailable"
	case FailUnacceptedPolicy:
		return "unacceptedPolicy"
	case FailUnacceptedExtension:
		return "unacceptedExtension"
	case FailAddInfoNotAvailable:
		return "addInfoNotAvailable"
	case FailSystemFailure:
		return "systemFailure"
	}
	return fmt.Sprintf("bit %d", f)
}
