// Package pkiutil is the federation's trust anchor: it creates a federation
// trust directory (root CA, issuing CA and the service certificates the
// registry, OCSP responder and time-stamp authority sign with), issues
// certificates strictly through named profiles, and records every issued
// certificate and its revocation in a durable status store that the OCSP
// responder answers from.
//
// The trust services themselves live in sub-packages: [github.com/sluz/sluz/pkiutil/ocsp]
// (RFC 6960 responder and verifying client) and [github.com/sluz/sluz/pkiutil/tsa]
// (RFC 3161 time-stamp authority and verifying client).
//
// # Basics
//
// [Init] lays out a new trust directory; [Open] loads it as a [CA]; [CA.Issue]
// issues a certificate for a [Profile]; [CA.Revoke] revokes one. Keys are
// ECDSA P-256 unless RSA-2048 is asked for, and private keys are written as
// PKCS#8 PEM files with mode 0600.
//
// # Caveats
//
// The root CA key stays in the trust directory so that the one-command local
// federation can work unattended; a production federation should move
// root-ca.key offline after [Init] (only the issuing CA key is needed to issue
// and revoke). The status store is a bbolt file opened for the duration of one
// operation only, so a running responder and the command-line tool can share
// it; each operation waits up to [StoreLockTimeout] for the other to finish.
package pkiutil
