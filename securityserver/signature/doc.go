// Package signature writes and verifies X-Road message signatures: the
// signatures.xml document (asic:XAdESSignatures with one detached XAdES
// ds:Signature) that travels last in every PR-MESSTRANSP exchange and is
// kept in the message log (xroad-protocols.md §3).
//
// [Signer.Sign] writes the document X-Road's own security server writes for
// a single message — same elements, Ids, algorithms, signature policy and
// issuer-name format — so X-Road peers and xmlsec1 accept it.
// [Verify] accepts such a document only if its digests, its signed
// SigningCertificate and its signature value all check out over the exact
// message bytes given, and tells each kind of failure apart with a sentinel
// error ([ErrMalformed], [ErrDigest], [ErrCertificate], [ErrSignatureValue]).
//
// # Basics
//
// The sender signs the raw SOAP message (or REST header part) as
// [MessageURI]:
//
//	sigXML, err := signer.Sign(signature.Part{URI: signature.MessageURI, Data: raw, MimeType: "text/xml"}, time.Now())
//
// The receiver verifies it over the bytes it received, then judges what
// the signature carries — [Verified] holds the signing certificate, the
// signing time and the embedded OCSP responses:
//
//	v, err := signature.Verify(sigXML, signature.Part{URI: signature.MessageURI, Data: raw})
//
// Signatures are built from byte templates written in canonical form: the
// message is digested exactly as given, never parsed, and the canonical
// SignedProperties and SignedInfo are the document's own bytes plus the
// root's namespace declarations. Verify is a thin XAdES layer over
// internal/xmldsig, Şlüz's one strict XML reader and XML-DSig core (shared
// with the global configuration): read.go reads the document, check.go
// checks it, and the signed elements are canonicalised in place: inclusive
// C14N 1.0 with the namespaces they inherit from the root, or Exclusive
// C14N where the signer chose it. A document byte for byte in the shape
// Sign writes (what every Şlüz peer sends) is read by fastread.go instead,
// which matches Sign's segments without building a tree and takes the
// canonical forms from the document's bytes; it takes only documents the
// strict reader reads the same (TestFastReadMutations, FuzzFastRead) and
// hands everything else to it, so both accept and refuse alike. Sign
// renders KeyInfo and the unsigned properties once per set of certificates
// and OCSP responses, and parsed certificates are cached by their DER and
// their base64 text.
// SHA-512 is used throughout; ECDSA keys sign with ecdsa-sha512 as X-Road
// does, RSA keys with rsa-sha512. Sign and Verify are safe for concurrent
// use.
//
// # Caveats
//
//   - Verify does not check the certificate chain, the OCSP responses'
//     status or freshness, or that the certificate names the expected
//     member: the security server must, with the global configuration
//     (X-Road's verifier does all three after the signature value).
//   - A message with attachments is signed through a hash chain
//     ([Signer.SignChained], [VerifyChained]: /sig-hashchainresult.xml and
//     the message's /sig-hashchain.xml, X-Road's layout for one message).
//     [Batcher] signs messages that wait for the same key together, one
//     signature over a hash chain of them (X-Road's batch signing;
//     [Signer.SignBatch] signs a given set); each
//     member verifies with VerifyChained through its own chain. Sign
//     signs one part; VerifyParts checks signatures with several part
//     references (as X-Road's sample from another XAdES library has), each
//     part by its raw bytes.
//   - Verify is strict: one ds:Signature, the X-Road element structure and
//     nothing else, no DTD, comments, processing instructions or xml:*
//     attributes, no Id value twice (whatever element or prefix),
//     SHA-256/384/512 digests and RSA, RSA-PSS or ECDSA signature methods
//     only, at most 1 MiB, 1000 elements and 32 levels deep. Documents that
//     X-Road would accept but that break these rules are refused as
//     ErrMalformed.
//   - An ECDSA value must be exactly twice the curve size (64 bytes for
//     P-256). X-Road's signer (Santuario's ASN.1 to XML-DSig conversion)
//     writes 62 bytes when both r and s have a leading zero byte, about once
//     in 65,536 EC signatures; Verify refuses those.
//   - Verify ignores what it does not need: the X509IssuerName (only the
//     serial number of IssuerSerial is compared; CertDigest already names
//     the certificate), the SignaturePolicyIdentifier, the DataObjectFormat
//     MIME types, and a SignatureTimeStamp the message log added.
//   - The issuer name Sign writes follows the JDK 25 rendering of
//     X500Principal.getName(); names with non-ASCII bytes in PrintableString,
//     IA5String, T61String or BMPString values render differently on JDK 17.
//   - Sign does not check the OCSP response it embeds; fetch and verify it
//     first (pkiutil/ocsp), and refresh it before the receivers' freshness
//     limit.
package signature
