package der

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
)

// Algorithm identifiers shared by OCSP, time-stamping and CMS.
var (
	OIDSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	OIDSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	OIDSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	OIDSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	OIDRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	OIDSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	OIDSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	OIDSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	OIDSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}

	OIDECPublicKey     = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	OIDECDSAWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	OIDECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	OIDECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	OIDECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}

	OIDEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// hashes are the digest algorithms known here.
var hashes = []struct {
	h   crypto.Hash
	oid asn1.ObjectIdentifier
}{
	{crypto.SHA1, OIDSHA1},
	{crypto.SHA256, OIDSHA256},
	{crypto.SHA384, OIDSHA384},
	{crypto.SHA512, OIDSHA512},
}

// HashFromOID returns the hash (SHA-1 or SHA-2) a digest algorithm OID
// names.
func HashFromOID(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for _, e := range hashes {
		if e.oid.Equal(oid) {
			return e.h, true
		}
	}
	return 0, false
}

// HashOID returns the digest algorithm OID of h (SHA-1 or SHA-2).
func HashOID(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	for _, e := range hashes {
		if e.h == h {
			return e.oid, true
		}
	}
	return nil, false
}

// Signature is a signature algorithm known here.
type Signature struct {
	OID       asn1.ObjectIdentifier
	Algorithm x509.SignatureAlgorithm
	Hash      crypto.Hash // 0 for Ed25519
	// RSA: the parameters are NULL (RFC 4055), or absent when reading.
	// Otherwise they are absent (RFC 5758, RFC 8410).
	RSA bool
}

var signatures = []Signature{
	{OIDECDSAWithSHA1, x509.ECDSAWithSHA1, crypto.SHA1, false},
	{OIDECDSAWithSHA256, x509.ECDSAWithSHA256, crypto.SHA256, false},
	{OIDECDSAWithSHA384, x509.ECDSAWithSHA384, crypto.SHA384, false},
	{OIDECDSAWithSHA512, x509.ECDSAWithSHA512, crypto.SHA512, false},
	{OIDSHA1WithRSA, x509.SHA1WithRSA, crypto.SHA1, true},
	{OIDSHA256WithRSA, x509.SHA256WithRSA, crypto.SHA256, true},
	{OIDSHA384WithRSA, x509.SHA384WithRSA, crypto.SHA384, true},
	{OIDSHA512WithRSA, x509.SHA512WithRSA, crypto.SHA512, true},
	{OIDEd25519, x509.PureEd25519, 0, false},
}

// SignatureFromOID returns the signature algorithm oid names (ECDSA or RSA
// PKCS #1 v1.5 with SHA-1 or SHA-2, or Ed25519).
func SignatureFromOID(oid asn1.ObjectIdentifier) (Signature, bool) {
	for _, s := range signatures {
		if s.OID.Equal(oid) {
			return s, true
		}
	}
	return Signature{}, false
}

// ParamsOK reports whether a's parameters are the ones s allows.
func (s Signature) ParamsOK(a Algorithm) bool {
	if s.RSA {
		return a.NullParams()
	}
	return a.Params == nil
}

// SignatureID encodes the AlgorithmIdentifier of alg, one of the
// algorithms SignatureFromOID knows.
func SignatureID(alg x509.SignatureAlgorithm) ([]byte, bool) {
	for _, s := range signatures {
		if s.Algorithm == alg {
			var params []byte
			if s.RSA {
				params = Null
			}
			return AlgorithmID(s.OID, params), true
		}
	}
	return nil, false
}
