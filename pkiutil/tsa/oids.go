package tsa

import (
	"crypto"
	"encoding/asn1"
	"fmt"

	"github.com/sluz/sluz/internal/der"
)

// Object identifiers used by RFC 3161, RFC 5652, RFC 2634 and RFC 5035
// (the algorithm identifiers are in internal/der).
var (
	oidSignedData               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo                  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidAttrContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidAttrMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAttrSigningTime          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidAttrSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidAttrSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidExtKeyUsage              = asn1.ObjectIdentifier{2, 5, 29, 37}

	oidSignedDataDER    = der.MustOID(oidSignedData)
	oidTSTInfoDER       = der.MustOID(oidTSTInfo)
	oidContentTypeDER   = der.MustOID(oidAttrContentType)
	oidMsgDigestDER     = der.MustOID(oidAttrMessageDigest)
	oidSigningTimeDER   = der.MustOID(oidAttrSigningTime)
	oidSigningCertV2DER = der.MustOID(oidAttrSigningCertificateV2)

	derIntegerOne = der.Int(1) // the version of requests, TSTInfos and SignerInfos
)

// strongHash reports whether h is acceptable for new time-stamps and for
// signatures: SHA-256, SHA-384 or SHA-512. (SHA-1 is recognised so that
// requests can be parsed and refused with badAlg.)
func strongHash(h crypto.Hash) bool {
	return h == crypto.SHA256 || h == crypto.SHA384 || h == crypto.SHA512
}

// hashAlgorithmID returns the DER AlgorithmIdentifier for h with absent
// parameters (RFC 5754) or, if withNull, NULL parameters.
func hashAlgorithmID(h crypto.Hash, withNull bool) ([]byte, error) {
	oid, ok := der.HashOID(h)
	if !ok {
		return nil, fmt.Errorf("tsa: unsupported hash algorithm %v", h)
	}
	if withNull {
		return der.AlgorithmID(oid, der.Null), nil
	}
	return der.AlgorithmID(oid, nil), nil
}

// malformed marks an error of the DER reader as ErrMalformed, keeping its
// text ("tsa: malformed ASN.1: what: problem").
func malformed(err error) error {
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}
