package signature

import (
	"crypto"
	"crypto/x509"
	"errors"
	"time"

	"github.com/sluz/sluz/internal/xmldsig"
)

// Part is one signed data object.
type Part struct {
	// URI names the part in the signature: "/message.xml" for the SOAP
	// message or REST header part (X-Road also signs "/attachment1", … and
	// "/sig-hashchainresult.xml"; Sign writes single-message signatures only).
	URI string
	// Data is the exact bytes of the part as sent or received. The digest is
	// computed over them as they are: they are never parsed or re-serialised.
	Data []byte
	// Digest, for Verify, stands in for Data when Data is nil: the SHA-512
	// of the part, as a message log that keeps only digests has it. Sign
	// uses a SHA-512 Digest given with Data as Data's, without hashing Data
	// again (the caller computed it already; a wrong one makes a signature
	// that does not verify).
	Digest []byte
	// DataDigest, for Verify, is the SHA-512 of Data that the caller
	// computed itself, in this process, from these very bytes (never one
	// received): a reference with a SHA-512 digest is compared with it in
	// place of hashing Data again; any other method hashes Data.
	DataDigest []byte
	// MimeType is written by Sign into the signed DataObjectFormat: "text/xml"
	// for the SOAP message (X-Road writes text/xml for REST header parts too).
	// Verify does not compare it.
	MimeType string
}

// Signer signs messages as one member, with the key of its signing
// certificate.
type Signer struct {
	// Key is the private key of Cert: ECDSA (signed with ecdsa-sha512 as
	// X-Road does, the value written as raw r||s) or RSA (rsa-sha512,
	// PKCS #1 v1.5). Any crypto.Signer works, an HSM key included, as long
	// as it returns ASN.1 DER (or raw r||s) for ECDSA.
	Key crypto.Signer
	// Cert is the member's signing certificate. It must carry the
	// nonRepudiation key usage: X-Road's verifier requires it.
	Cert *x509.Certificate
	// OCSP is a DER OCSP response about Cert (good and fresh: the receiver
	// checks it against its freshness limit). It is embedded in
	// RevocationValues; a signature without it is rejected by X-Road.
	OCSP []byte
	// Extra are intermediate CA certificates between Cert and the trust
	// anchor of the global configuration (optional). They are embedded in
	// CertificateValues and referenced from CompleteCertificateRefs.
	Extra []*x509.Certificate
	// ExtraOCSP are DER OCSP responses about the Extra certificates (X-Road
	// checks the status of every certificate of the chain below the trust
	// anchor). They are embedded after OCSP.
	ExtraOCSP [][]byte
}

// Verified is what Verify found in a signature that verified. Verify does
// not judge it: the caller checks the certificate chain, the OCSP responses'
// status and freshness and that the certificate names the expected member.
type Verified struct {
	// Cert is the signing certificate (from KeyInfo, matching the signed
	// SigningCertificate digest).
	Cert *x509.Certificate
	// SigningTime is the signed xades:SigningTime, in UTC.
	SigningTime time.Time
	// OCSP are the embedded OCSP responses (DER), in document order; X-Road
	// writes the one about Cert first.
	OCSP [][]byte
	// Extra are the embedded certificates of CertificateValues (intermediate
	// CAs), in document order.
	Extra []*x509.Certificate
}

// Errors of Verify (and, for ErrCertificate, of Sign), for errors.Is. The
// returned errors wrap them with the detail.
var (
	// ErrMalformed: the document is not a signature Şlüz accepts: not
	// well-formed, not the X-Road structure, an unsupported algorithm, a
	// duplicate Id, or a part that it does not reference.
	ErrMalformed = errors.New("signature: malformed signature document")
	// ErrDigest: a digest does not match: the message (or another part) or
	// the signed properties were changed after signing.
	ErrDigest = errors.New("signature: digest mismatch")
	// ErrSignatureValue: the signature value does not verify with the
	// certificate's key.
	ErrSignatureValue = errors.New("signature: invalid signature value")
	// ErrCertificate: the certificate is not the one the signed properties
	// name, or it is not a signing certificate (no nonRepudiation).
	ErrCertificate = errors.New("signature: unacceptable signing certificate")
)

// Namespaces and algorithm identifiers of the X-Road signature profile
// (xroad-protocols.md §3; X-Road's SignatureXmlBuilder and Helper).
const (
	nsASiC    = "http://uri.etsi.org/02918/v1.2.1#"
	nsASiCOld = "http://uri.etsi.org/02918/v1.1.1#" // written by X-Road before 6.x; still verified by X-Road
	nsDS      = xmldsig.NS
	nsXAdES   = "http://uri.etsi.org/01903/v1.3.2#"
	nsXSI     = "http://www.w3.org/2001/XMLSchema-instance"

	algC14N = xmldsig.C14N10

	typeSignedProperties = "http://uri.etsi.org/01903#SignedProperties"

	digestSHA512 = xmldsig.SHA512

	sigRSASHA512   = xmldsig.RSASHA512
	sigECDSASHA512 = xmldsig.ECDSASHA512

	// The signature policy X-Road names in every signature.
	policyIdentifier  = "urn:oid:1.3.6.1.4.1.3516.16.2"
	policyDescription = "Profile for High Performance Digital Signatures (version 1.2)"
	policyDigest      = "BuO0EDNfkxSVlUbxCzmQPzX1AUF1/xx9ytWHk3/6SAOePxQiniEfDYk+90QeYb3lWpV3Izhuz9fKaYyE+lTcXw=="
	policySPURI       = "https://repo.cyber.ee/dsig-profile-1.2.pdf"
)

// MessageURI is the name X-Road gives the signed SOAP message (or REST
// header part) in the signature and in ASiC containers.
const MessageURI = "/message.xml"

// rules are the XML-DSig Verify accepts: what X-Road 7 signs with for RSA
// and EC keys (SHA-1 variants refused), digests SHA-256/384/512 (X-Road
// writes SHA-512 unless configured otherwise), inclusive or Exclusive C14N.
var rules = xmldsig.Rules{
	C14N: []string{xmldsig.C14N10, xmldsig.ExcC14N10},
	SignatureMethods: []string{
		xmldsig.RSASHA256, xmldsig.RSASHA384, xmldsig.RSASHA512,
		xmldsig.RSAPSSSHA256, xmldsig.RSAPSSSHA384, xmldsig.RSAPSSSHA512,
		xmldsig.ECDSASHA256, xmldsig.ECDSASHA384, xmldsig.ECDSASHA512,
	},
	DigestMethods: []string{xmldsig.SHA256, xmldsig.SHA384, xmldsig.SHA512},
	Transforms:    []string{xmldsig.C14N10, xmldsig.ExcC14N10},
	IDs:           true,
	Objects:       true,
}
