// Package keys opens the private keys a security server signs with, from a
// PEM file or from a PKCS#11 token (an HSM, or SoftHSM for tests), and hands
// them out as crypto.Signer.
//
// It promises:
//
//   - A Spec names exactly one place: File, or PKCS11 (module, token label,
//     PIN or PIN file, key label and/or key ID). Validate says which field is
//     missing or contradictory, by its YAML name (pkcs11.tokenLabel, …).
//   - Open returns a signer for the key and checks, when given the
//     certificate, that the key is the certificate's (ErrKeyMismatch
//     otherwise), so a misconfigured server fails at start, not at the first
//     message.
//   - Errors say what went wrong in operator terms and wrap a sentinel for
//     errors.Is: ErrInvalidSpec, ErrModuleNotFound, ErrTokenNotFound,
//     ErrWrongPIN, ErrKeyNotFound, ErrKeyMismatch, ErrPKCS11Unsupported (and
//     ErrClosed from Sign).
//   - A PKCS#11 signer is safe for concurrent use by any number of
//     goroutines. It returns what a crypto.Signer returns: ASN.1 DER for
//     ECDSA (PKCS#11 itself gives raw r||s; crypto11 re-encodes it) and
//     PKCS #1 v1.5 or PSS for RSA. Callers that need raw r||s convert: the
//     signature package's Signer does so for any crypto.Signer (its rawECDSA
//     left-pads each half to the curve size).
//   - For ECDSA the digest is cut to the curve order's size before it goes
//     to the token (what ECDSA does anyway, and what Go's ecdsa package does):
//     X-Road signs SHA-512 digests with P-256 keys and some HSMs refuse a
//     64-byte input for a 32-byte curve. For RSA, a hash the token cannot
//     encode is refused instead of being signed without its DigestInfo, and
//     PSS with rsa.PSSSaltLengthAuto (which crypto11 refuses) signs with a
//     salt as long as the hash, which every PSS verifier accepts (TLS 1.3
//     asks for exactly that).
//
// # Caveats
//
// Static build. PKCS#11 needs cgo (crypto11 loads the token's library with
// dlopen). Built with -tags nopkcs11, the package needs no cgo and has no
// PKCS#11: PKCS11Supported is false and Open refuses a PKCS11 spec with
// ErrPKCS11Unsupported, saying to use a PEM file or the cgo build; Validate
// still checks the spec's fields.
//
// PIN handling. Prefer PINFile to PIN: the configuration file is then
// shareable and the PIN lives in a file of its own, which Open refuses if
// others (the "other" permission bits) may read it. One trailing newline is
// stripped. Open reads the PIN once and keeps it in memory for as long as
// the token is open (crypto11 keeps its Config, PIN included); PKCS11's
// String method leaves the PIN out, so a logged Spec does not leak it. Open
// never retries a refused PIN, but every failed Open is one failed login: an
// HSM may lock the user PIN after a few (CKR_PIN_LOCKED; unlock it with the
// security officer's PIN).
//
// One context per module and token. crypto11 shares one loaded library per
// module path (C_Initialize once, reference-counted, C_Finalize on the last
// Context.Close) but not per token, and this has two traps that Open avoids
// by sharing one crypto11.Context per (module, token label) in the process,
// reference-counted by the closers it returns:
//
//   - PKCS#11 keeps the login state per application and token, so a second
//     crypto11.Context on a token that is already logged in tolerates
//     CKR_USER_ALREADY_LOGGED_IN and never checks its PIN (measured with
//     softhsm2 2.6.1: a wrong PIN "opens" the token). Open compares the PIN
//     with the one the shared context logged in with and fails with
//     ErrWrongPIN if it differs.
//   - Two paths to one library (a symlink such as Debian's
//     /usr/lib/softhsm/libsofthsm2.so and its target) are two modules to
//     crypto11, and the second C_Initialize fails with
//     CKR_CRYPTOKI_ALREADY_INITIALIZED. Open resolves symlinks first.
//
// Code outside this package that calls crypto11.Configure on the same
// module in the same process shares the library with it and must not
// finalise it early (it does not: crypto11 counts references), but it is
// not covered by the PIN check above.
//
// Session pool. Each crypto11.Context keeps one session logged in for its
// lifetime and a pool of up to MaxSessions-1 further sessions, opened on
// demand and never closed while the token is open; every Sign takes one
// for the duration of C_SignInit+C_Sign, since a PKCS#11 session must not be
// used by two threads at once. So at most MaxSessions-1 signatures run at
// once per token; further callers wait, for at most PoolWait, then fail.
// MaxSessions defaults to DefaultMaxSessions here (crypto11's own default
// is 1024), and the token's ulMaxRwSessionCount lowers it further. The
// first Open of a token fixes its pool size: a later Open of the same
// token with another MaxSessions is an error. If the token goes away
// (network HSM restarted, USB token pulled), the sessions become invalid
// and signing fails until the key is closed and opened again: crypto11
// does not reconnect.
//
// Close blocks until the signatures under way on the token have finished
// when it is the token's last key. A signer whose closer ran refuses to
// sign (ErrClosed), even while other keys keep the token open.
package keys
