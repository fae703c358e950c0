// Package asic reads X-Road's message-log ASiC-E containers (.asice) and
// checks them offline, for an auditor who trusts only the CA and TSA
// certificates given out of band (xroad-protocols.md §3, "ASiC-E
// container"; X-Road's AsicContainer and AsicContainerVerifier).
//
// [Verify] reads a container strictly and reports five checks, each on its
// own so that one never hides another:
//
//   - format: a ZIP archive of the entries X-Road writes and no others, the
//     right mimetype, the entries each batch structure needs, consistent
//     manifests, every size bounded (zip bombs refused);
//   - signature: the XAdES signature in META-INF/signatures.xml over
//     message.xml and the attachments directly, or over
//     sig-hashchainresult.xml and through the signature hash chain to them;
//   - timestamp: the RFC 3161 token (META-INF/timestamp.tst over
//     ts-hashchainresult.xml, whose time-stamp hash chain reaches
//     signatures.xml, or the token in the signature over its
//     SignatureValue): its signature, its TSA certificate's usage and its
//     imprint. A container without a time-stamp (exported before its
//     record was stamped) is not_checked with the code not_timestamped,
//     as the message log reports records not yet stamped;
//   - ocsp: the signature's OCSP response about the signing certificate:
//     signed by its CA or a responder the CA authorised, good, and fresh at
//     signing time;
//   - trust: the signer's, the TSA's and (through the CA) the OCSP
//     responder's chains to the certificates given. With none given it is
//     "not checked" with the code anchor_not_given, and the other checks
//     still run on what the container carries.
//
// The [Report] gives each check's status (ok, failed, not_checked), a code
// and a sentence for the first problem, every problem found, and notes on
// what was tolerated; it marshals to JSON as is.
//
// # Caveats
//
//   - The whole container is held in memory; [Limits] bounds it.
//   - X-Road writes the mimetype entry deflated, and its own test
//     containers have it last: both are tolerated (and noted) unless
//     Options.StrictMimetype asks for ETSI EN 319 162-1's first, stored
//     mimetype.
//   - Entry names are matched exactly. X-Road's reader matches them
//     ignoring case, accepts any META-INF/*signatures*.xml and ignores
//     entries it does not know; here those are unexpected entries.
//   - A sig-hashchain pair that the signature does not reference is refused
//     (X-Road's verifier ignores it).
//   - Who the signer is (the member named in the message against the
//     certificate) is not checked: that needs the federation's certificate
//     profiles, which a container does not carry.
//   - The OCSP response is checked at the signed SigningTime, the trust
//     chains at signing time (signer) and at the token's genTime (TSA);
//     revocation of CA and TSA certificates is not checked.
package asic
