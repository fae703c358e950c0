// Package globalconf is Şlüz's signed global configuration: the central
// registry builds and signs it (Build) and serves it (Publisher); every
// security server downloads it, verifies it against a configuration anchor
// (Verify, Client) and looks peers up in it (Snapshot).
//
// The promise: a configuration a Client hands out was signed by the
// anchor's pinned key over exactly the content it returns, is for the
// anchor's instance, is not older than one the client already used, and
// Current says when it has expired. Lookups never wait for a download.
//
// # Document
//
// The document is Şlüz's own XML (namespace Namespace, identifiers in
// http://x-road.eu/xsd/identifiers with prefix id), UTF-8, indented with one
// space, elements in this order:
//
//	<conf xmlns="urn:sluz:globalconf:1" xmlns:id="http://x-road.eu/xsd/identifiers">
//	 <instance>AZ</instance> <version>7</version>
//	 <created>2025-03-01T10:00:00.000Z</created> <expires>…</expires>
//	 <members><member><memberId id:objectType="MEMBER">…</memberId><name>Daxili İşlər Nazirliyi</name><subsystem>population</subsystem>…</member>…</members>
//	 <securityServers><securityServer><serverId id:objectType="SERVER">…</serverId><address>127.0.0.1:5500</address>
//	   <authCertHash algorithm="http://www.w3.org/2001/04/xmlenc#sha256">base64</authCertHash>… <client id:objectType="SUBSYSTEM">…</client>…</securityServer>…</securityServers>
//	 <services><service><serviceId id:objectType="SERVICE">…</serviceId><description>…</description></service>…</services>
//	 <globalGroups><globalGroup><groupId id:objectType="GLOBALGROUP">…</groupId><description>…</description><member …>…</member>…</globalGroup>…</globalGroups>
//	 <trust><approvedCA><name/><topCA>base64 DER</topCA><issuer>…</issuer>…<ocspURL>…</ocspURL>…</approvedCA>…
//	   <tsa><name/><url/><cert>base64 DER</cert></tsa>… <ocspFreshnessSeconds>600</ocspFreshnessSeconds></trust>
//	 <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">…</ds:Signature>
//	</conf>
//
// Members, servers, services and groups are sorted by identifier string,
// subsystem codes, hosted clients, group members and auth-certificate hashes
// sorted too, CAs and TSAs by name; a CA's issuers and OCSP responders keep
// their order. The same Conf therefore always builds the same bytes apart
// from the signature value.
//
// The signature is an enveloped XML-DSig signature, the last child of the
// root: one Reference with URI="" and the transforms enveloped-signature and
// inclusive C14N 1.0, SHA-256 digest, ecdsa-sha256 (P-256, raw r||s value) or
// rsa-sha256, and the signing certificate in KeyInfo/X509Data. xmlsec1
// verifies it (the tests run `xmlsec1 --verify --trusted-pem root.pem
// --untrusted-pem issuing.pem conf.xml`).
//
// # Verification
//
// Verify reads the received bytes strictly (internal/xmldsig, the reader
// and XML-DSig core the security server's signatures share) before any
// cryptography: UTF-8 only, no byte order mark, no DOCTYPE or entities, no
// comments or processing instructions (a comment inside a value is
// dropped by C14N, so it could truncate what a reader sees without
// breaking the signature), no mixed content, no duplicate Ids, every
// prefix bound, no duplicate attributes, exactly one ds:Signature as the
// root's last child with the algorithms above and nothing else (no Id
// attributes, no ds:Object, no second Reference). It then requires the
// KeyInfo certificate to be the anchor's certificate byte for byte
// (ErrSigner), recomputes the digest over the canonical form of the parsed
// received document without the signature and checks the signature value
// over the canonical SignedInfo in place (ErrSignature), and only then reads
// the content, with the rules Build enforces (ErrMalformed), the instance
// (ErrInstance) and the expiry (ErrExpired, returned with the Conf).
//
// The anchor file is JSON: instance, url, certificateSha256 (checked when
// present) and the PEM certificate; see Anchor.Marshal.
//
// # Caveats
//
//   - The anchor pins one certificate: the signature is not checked against
//     the CA, and the certificate's validity period and revocation are not
//     checked. Rotating the signing key means distributing a new anchor;
//     caches signed with the old key are then refused.
//   - A document without a signature is ErrMalformed, not ErrSignature.
//   - Every identifier must belong to the configuration's instance: there is
//     no federation between instances. X-Road's own configuration directory
//     format (PR-GCONF) is not read here.
//   - Created and Expires are written with millisecond precision in UTC;
//     finer parts are dropped. Text may not contain carriage returns or
//     other control characters (names not even tabs or line feeds), which XML
//     cannot carry unchanged.
//   - NewClient refuses a cache that does not verify (corrupted, another key
//     or instance) and says to remove the file; it does not silently fall
//     back to downloading, since a damaged cache deserves a look. An expired
//     cache loads.
//   - The Client never swaps in an expired download. A cache write failure
//     does not stop a verified newer version from being used; Refresh
//     reports the failure.
//   - The same version re-signed with identical content (a new ECDSA value)
//     is accepted as the same version; the same version with other content
//     is refused with ErrRollback.
//   - After loading its cache the Client sends an ETag computed the way
//     Publisher computes them, so a restart costs a 304 against a Publisher;
//     against another server it costs one full download.
//   - Publisher serves the bytes it is given without verifying them.
//   - Snapshot.OCSPURLs and ApprovedCAFor match a certificate's issuer by
//     name and key identifier without checking its signature: validate the
//     path with Roots and Intermediates before trusting it.
//   - A Snapshot and the Conf in it are shared by all readers and must not
//     be modified.
package globalconf
