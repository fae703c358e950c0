// Package xmldsig is the one strict reader of signed XML and the one
// XML-DSig core of Şlüz: the registry's signed global configuration and
// the security server's XAdES message signatures are thin layers over it,
// so each pitfall DESIGN.md lists ("Library notes") is guarded here, once.
//
// [Read] parses a document on internal/xmltok into a small tree (etree
// elements with parent pointers, so every element keeps the namespaces in
// scope for inclusive C14N) and refuses what a signed document must not
// have: DTDs, comments, processing instructions, text beside elements,
// undeclared or reserved prefixes, duplicate attributes and duplicate Ids
// (any Id, ID or id attribute, whatever its prefix: wrapping attacks).
// [ReadSignature] reads a ds:Signature as the caller's [Rules] allow
// (SignedInfo, References and their Transforms, DigestMethod and
// DigestValue, SignatureMethod, SignatureValue, KeyInfo), matching
// elements by namespace URI, never by prefix. [Signature.Resolve] resolves
// a same-document reference within this signature only;
// [Reference.CheckBytes] and [Signature.CheckElement] check digests over
// given bytes or over an element canonicalised in place with the
// namespaces it inherits; [Signature.CheckValue] and [VerifyValue] check
// the value (ECDSA as raw r||s of exactly twice the curve size, RSA
// PKCS #1 v1.5 or PSS). [CheckPlainText] is the rule for text that must
// survive a serialiser that writes CR and tabs raw.
//
// Every error wraps exactly one of [ErrMalformed], [ErrDigest] and
// [ErrSignatureValue]; its message is the detail only (what was required
// and what was found), for the caller to wrap with its own sentinel.
//
// # Caveats
//
//   - The tree is etree's because internal/c14n and registry/identifier
//     read etree; it is read-only by convention. Never re-serialise it:
//     digests are over the bytes received or over the canonical form.
//   - Only what Şlüz signs is supported: one X509Certificate in KeyInfo,
//     no XPath or Base64 transforms, no InclusiveNamespaces, no
//     HMACOutputLength, same-document references only by Id within the
//     signature or "" for the whole document. Certificate chains, key
//     usage and who signed are the callers' to check.
//   - Ids are looked up by the unprefixed Id attribute only, although all
//     Id, ID and id attributes count for uniqueness.
//   - Base64 must be canonical (no non-zero padding bits) and not empty.
package xmldsig
