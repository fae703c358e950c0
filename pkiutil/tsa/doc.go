// Package tsa implements an RFC 3161 time-stamp authority served over HTTP
// and a client that requests time-stamp tokens and verifies them fully, for
// the Şlüz federation PKI.
//
// An [Authority] answers DER TimeStampReq messages (POST
// application/timestamp-query) with TimeStampResp messages carrying a CMS
// SignedData token over a TSTInfo, signed with an ECDSA or RSA key whose
// certificate carries the critical id-kp-timeStamping extended key usage.
// Tokens include an ESS signingCertificateV2 attribute and are accepted by
// "openssl ts -verify". Serial numbers come from a [SerialSource];
// [BoltSerials] keeps them strictly increasing across restarts.
//
// A [Client] sends a request with a random nonce and returns the token only
// after [Token.Verify] has checked the CMS signature over the signed
// attributes, the messageDigest and contentType attributes, the ESS
// signingCertificate(V2) attribute, the signer's extended key usage and its
// chain to the federation roots, the message imprint, the nonce, the policy
// and, if asked, the freshness of genTime.
//
// # Caveats
//
//   - Revocation (CRL, OCSP) of the TSA certificate and its issuers is not
//     checked.
//   - Verify validates the chain at VerifyOptions.Now (as "openssl ts -verify"
//     does), so tokens stop verifying once the TSA certificate or a CA
//     expires. To re-verify archived tokens, set VerifyOptions.CheckChainAt to
//     the token's GenTime; that trusts the TSA's own statement of time, so a
//     TSA key compromised after expiry could back-date tokens. Verify always
//     requires genTime to fall within the signer certificate's validity.
//   - Only DER is accepted; BER encodings (indefinite lengths, constructed
//     OCTET STRINGs) that some other TSAs emit are rejected.
//   - Verify supports ECDSA and RSA PKCS #1 v1.5 signatures with SHA-256,
//     SHA-384 or SHA-512 only (no RSA-PSS, no Ed25519, no SHA-1), a single
//     SignerInfo, and ignores unsigned attributes and CRLs in the token.
//   - The Authority supports no request extensions (critical ones are
//     refused, others ignored), never sets ordering, and trusts its clock:
//     keeping the host clock synchronised and within Accuracy is up to the
//     operator. The timeNotAvailable failure is never produced.
//   - The Authority refuses SHA-1 imprints (badAlg); ParseRequest still
//     parses them.
//   - ServeHTTP caps request bodies at MaxRequestSize but cannot bound how
//     slowly a client sends them: serve it from an http.Server with
//     ReadTimeout (or ReadHeaderTimeout plus a handler timeout) set.
//   - BoltSerials may skip up to 1024 numbers after a crash, and one file
//     serves one process at a time.
package tsa
