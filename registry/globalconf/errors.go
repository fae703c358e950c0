package globalconf

import (
	"errors"
	"fmt"
)

// Errors of Verify and the Client, to be tested with errors.Is. The returned
// errors wrap these with the details, e.g. "global configuration is
// malformed: <ds:Reference> URI is "#x", want "" (the whole document)".
var (
	// ErrMalformed: not XML, or not the structure this package writes
	// (unknown or missing elements, a DOCTYPE, comments, a second or a
	// missing signature, unexpected algorithms), or signed content that
	// breaks the rules Build enforces.
	ErrMalformed = errors.New("global configuration is malformed")
	// ErrSignature: the digest or the signature value does not match the
	// document, e.g. after one byte of the content was changed.
	ErrSignature = errors.New("global configuration signature does not verify")
	// ErrSigner: the signature names a certificate other than the anchor's,
	// even one issued by the same CA.
	ErrSigner = errors.New("global configuration is not signed by the anchor's key")
	// ErrInstance: the configuration is for an instance other than the
	// anchor's.
	ErrInstance = errors.New("global configuration is for another instance")
	// ErrExpired: the configuration is past its expiry time. Verify and
	// Client.Current return the configuration together with this error.
	ErrExpired = errors.New("global configuration has expired")
	// ErrRollback: the registry served an older version than the one in
	// use, or the same version with different content.
	ErrRollback = errors.New("global configuration would roll back")
	// ErrNoConfiguration: the client has no verified configuration yet.
	ErrNoConfiguration = errors.New("no global configuration has been loaded yet")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}
