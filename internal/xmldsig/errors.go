package xmldsig

import (
	"errors"
	"fmt"
)

// The kinds of failure, for errors.Is. Every error of this package wraps
// exactly one of them; its message is the detail only, so that a caller
// wrapping it with its own sentinel ("signature: malformed signature
// document: <detail>") reads as one sentence.
var (
	// ErrMalformed: not a document or signature this reader accepts.
	ErrMalformed = errors.New("xmldsig: malformed")
	// ErrDigest: a reference's digest does not match what it names.
	ErrDigest = errors.New("xmldsig: digest mismatch")
	// ErrSignatureValue: the signature value does not verify over the
	// canonical SignedInfo with the key given.
	ErrSignatureValue = errors.New("xmldsig: invalid signature value")
)

// Error is a failure of one kind (ErrMalformed, ErrDigest or
// ErrSignatureValue) with its detail and, where there is one, the cause.
type Error struct {
	Kind  error
	Msg   string
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Msg + ": " + e.Cause.Error()
	}
	return e.Msg
}

// Unwrap returns the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

func malformed(format string, a ...any) error {
	return &Error{Kind: ErrMalformed, Msg: fmt.Sprintf(format, a...)}
}

// malformedCause is malformed with the error that caused it.
func malformedCause(cause error, format string, a ...any) error {
	return &Error{Kind: ErrMalformed, Msg: fmt.Sprintf(format, a...), Cause: cause}
}

func digestMismatch(format string, a ...any) error {
	return &Error{Kind: ErrDigest, Msg: fmt.Sprintf(format, a...)}
}

func badValue(format string, a ...any) error {
	return &Error{Kind: ErrSignatureValue, Msg: fmt.Sprintf(format, a...)}
}
