// Package ocsp implements the Online Certificate Status Protocol (RFC 6960)
// for Şlüz's federation PKI: a responder that answers status requests over
// HTTP GET and POST from a pluggable status [Source], and a client that
// fetches responses and verifies them fully before handing them to the
// caller.
//
// The responder ([Responder]) parses requests strictly ([ParseRequest]),
// answers every CertID of a request (in SHA-1, SHA-256, SHA-384 or SHA-512,
// echoing each CertID exactly as it was received), echoes the request nonce
// (RFC 8954) and signs the BasicOCSPResponse either with the issuing CA's own
// key or with a delegated responder certificate that the CA issued with the
// id-kp-OCSPSigning extended key usage. Everything that goes wrong is turned
// into an OCSP error response (malformedRequest, internalError, tryLater,
// unauthorized): the handler does not panic, hang on a stuck Source, or reply
// with a bare HTTP 500.
//
// The client side ([Verify], [Client.Fetch]) accepts a response only if it is
// well formed, successful, signed by the issuer or by a delegated responder
// that the issuer authorised and that is valid at the verification time,
// about the certificate that was asked about, current, and (when a nonce was
// sent) bound to the request by its nonce. Failures can be told apart with
// [errors.Is] against the exported sentinel errors and [errors.As] against
// [*ResponseError]. A verified "revoked" answer is not an error: the
// [Response] says Revoked and the caller decides.
//
// # Caveats
//
//   - A Responder answers only for the one issuing CA it is configured with
//     (Responder.Issuer). CertIDs naming any other issuer get an
//     unauthorized response; run one Responder per issuing CA.
//   - Responses are signed on every request; there is no pre-signing or
//     response cache. HTTP caches may keep nonce-less responses until
//     nextUpdate (see the Cache-Control header).
//   - Signed requests (optionalSignature present) are refused as
//     malformedRequest; request signatures are never checked. Requests carry
//     at most 16 CertIDs and at most 10 KiB of DER.
//   - A nonce must be 1 to 32 octets (RFC 8954); other lengths are a
//     malformedRequest. [Request.Nonce] holds the nonce octets; the extension
//     value is echoed byte for byte.
//   - The signature algorithm is ecdsa-with-SHA256 for ECDSA keys and
//     sha256WithRSAEncryption for RSA keys; other key types are refused.
//   - The handler bounds what it reads (10 KiB bodies, 16 KiB GET paths)
//     but not how slowly it is sent: serve it from an http.Server with
//     ReadTimeout/ReadHeaderTimeout set.
//   - Status.Reason is included whenever it is >= 0, so a revoked Status
//     must say -1 to omit the reason (0 means "unspecified").
//   - A Source that ignores its context and blocks is abandoned after
//     Responder.Timeout (the request gets tryLater), but its goroutine lives
//     on until the Source returns.
//   - NewResponder validates the configuration; a Responder used without it
//     is used as is (only missing fields are detected, as internalError).
//     The validity period of the delegated responder certificate is not
//     watched: renew it before it expires, or clients reject the responses.
//   - Verify does not build or verify the chain of Issuer itself; the caller
//     must already trust Issuer (typically it verified Cert's chain first).
//   - Client-side, responses signed with SHA-1 based signatures are rejected
//     (crypto/x509 considers them insecure); RSA-PSS signed responses are
//     not supported.
package ocsp
