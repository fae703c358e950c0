// Package verify holds every check a security server makes before it
// trusts a peer, a signature or a request: the rules of PR-MESSTRANSP §2
// (the TLS peer's authentication certificate, its stapled OCSP status) and
// of the signed message (XAdES signature over the exact bytes, the signer's
// chain to an approved CA, the signer's identity, the signer's OCSP
// status), and the service proxy's own (hosted provider, known service,
// access rights, replay).
//
// Each rule is one small function or method that can be tested alone. When
// it refuses, it returns a *Refusal that carries the X-Road fault code
// (without the proxy prefix, which the caller adds), what the rule required
// and what it found; Refusal.Error is the one-sentence reason that goes to
// the peer.
//
// A Verifier holds the caches of the costly checks (certificate chains,
// OCSP signatures) as fields; two Verifiers share nothing.
//
// # Caveats
//
// Cached results are keyed by the configuration snapshot, the certificate
// and the OCSP response's digest, so a new global configuration or a new
// response is always checked afresh; freshness of an OCSP response is
// judged at every call. The caches are bounded and start over when full.
// A Verifier with a SignatureCache (field Signatures) verifies a batch
// signature's document once and each further message of the batch through
// its own hash chain (SignatureOf); entries are keyed by the whole
// document's SHA-512, never hold a refusal and end with the freshness of
// the OCSP response they were judged with. Two messages of one batch that
// arrive together are both verified in full (no single-flight).
// The in-memory ReplayGuard forgets everything at restart: seed it from the
// message log (Remember).
package verify
