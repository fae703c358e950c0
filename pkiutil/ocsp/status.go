package ocsp

import (
	"context"
	"math/big"
	"strconv"
	"time"
)

// CertStatus is the status of one certificate in a response.
type CertStatus int

// Certificate statuses (RFC 6960 section 2.2).
const (
	Good CertStatus = iota
	Revoked
	Unknown
)

// String returns "good", "revoked" or "unknown".
func (s CertStatus) String() string {
	switch s {
	case Good:
		return "good"
	case Revoked:
		return "revoked"
	case Unknown:
		return "unknown"
	}
	return "CertStatus(" + strconv.Itoa(int(s)) + ")"
}

// Status is what the source knows about one certificate serial.
type Status struct {
	Status    CertStatus
	RevokedAt time.Time // required when Status is Revoked
	Reason    int       // RFC 5280 CRLReason code, -1 when none
}

// Source answers status questions for certificates of the responder's
// issuer. A serial it does not know must return Status{Status: Unknown},
// nil. An error means the source is unavailable (the request gets tryLater).
// Status should honour ctx; it is called from one goroutine per request.
type Source interface {
	Status(ctx context.Context, serial *big.Int) (Status, error)
}

// SourceFunc adapts a function to the Source interface.
type SourceFunc func(ctx context.Context, serial *big.Int) (Status, error)

// Status calls f(ctx, serial).
func (f SourceFunc) Status(ctx context.Context, serial *big.Int) (Status, error) {
	return f(ctx, serial)
}

// ResponseStatus is the responseStatus of an OCSPResponse.
type ResponseStatus int

// Response statuses (RFC 6960 section 4.2.1; 4 is not used).
const (
	Successful       ResponseStatus = 0
	MalformedRequest ResponseStatus = 1
	InternalError    ResponseStatus = 2
	TryLater         ResponseStatus = 3
	SigRequired      ResponseStatus = 5
	Unauthorized     ResponseStatus = 6
)

// String returns the ASN.1 name of s, e.g. "tryLater".
func (s ResponseStatus) String() string {
	switch s {
	case Successful:
		return "successful"
	case MalformedRequest:
		return "malformedRequest"
	case InternalError:
		return "internalError"
	case TryLater:
		return "tryLater"
	case SigRequired:
		return "sigRequired"
	case Unauthorized:
		return "unauthorized"
	}
	return "ResponseStatus(" + strconv.Itoa(int(s)) + ")"
}

// ResponseError is returned by Verify for a response whose responseStatus
// is not successful.
type ResponseError struct {
	Status ResponseStatus
}

func (e *ResponseError) Error() string {
	return "ocsp: responder returned " + e.Status.String()
}
