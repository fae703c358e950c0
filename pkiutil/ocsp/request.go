package ocsp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// MaxRequestCerts is the largest number of CertIDs accepted in one request;
// larger requests are malformed.
const MaxRequestCerts = 16

// Request is a parsed OCSPRequest (unsigned).
type Request struct {
	// Certs has one entry per entry of the requestList, in order (at least
	// one, at most MaxRequestCerts).
	Certs []CertID
	// Nonce holds the nonce octets of the id-pkix-ocsp-nonce request
	// extension: the contents of the OCTET STRING in its extnValue (or the
	// bare extnValue of clients that do not wrap it). Nil if absent.
	Nonce []byte

	// nonceExt is the extnValue as received, echoed verbatim.
	nonceExt []byte
}

// CertID identifies one certificate in a request or response.
type CertID struct {
	HashAlgorithm  crypto.Hash // SHA1, SHA256, SHA384 or SHA512
	IssuerNameHash []byte
	IssuerKeyHash  []byte
	SerialNumber   *big.Int
	// Raw is the DER of the CertID as received; the responder echoes it
	// verbatim. When empty, the CertID is encoded from the fields.
	Raw []byte
}

// marshal returns Raw, or the DER encoding of the fields when Raw is empty.
func (id *CertID) marshal() ([]byte, error) {
	if len(id.Raw) > 0 {
		return id.Raw, nil
	}
	oid, ok := oidFromHash(id.HashAlgorithm)
	if !ok {
		return nil, fmt.Errorf("ocsp: unsupported CertID hash algorithm %v", id.HashAlgorithm)
	}
	if len(id.IssuerNameHash) != id.HashAlgorithm.Size() || len(id.IssuerKeyHash) != id.HashAlgorithm.Size() {
		return nil, errors.New("ocsp: CertID hash length does not match its algorithm")
	}
	serial, err := derInteger(id.SerialNumber)
	if err != nil {
		return nil, errors.New("ocsp: CertID without serial number")
	}
	return tlv(tagSequence,
		tlv(tagSequence, derOID(oid), derNull),
		tlv(tagOctetString, id.IssuerNameHash),
		tlv(tagOctetString, id.IssuerKeyHash),
		serial), nil
}

// Marshal encodes r as a DER OCSPRequest. The CertIDs are encoded from
// their fields (Raw is ignored); a non-nil Nonce becomes a nonce extension
// whose value is an OCTET STRING holding it.
func (r *Request) Marshal() ([]byte, error) {
	if len(r.Certs) == 0 || len(r.Certs) > MaxRequestCerts {
		return nil, fmt.Errorf("ocsp: a request needs 1 to %d CertIDs", MaxRequestCerts)
	}
	var list [][]byte
	for i := range r.Certs {
		id := r.Certs[i]
		id.Raw = nil
		b, err := id.marshal()
		if err != nil {
			return nil, err
		}
		list = append(list, tlv(tagSequence, b))
	}
	tbs := [][]byte{tlv(tagSequence, list...)}
	if r.Nonce != nil {
		if len(r.Nonce) < minNonceLen || len(r.Nonce) > maxNonceLen {
			return nil, fmt.Errorf("ocsp: nonce must be %d to %d bytes", minNonceLen, maxNonceLen)
		}
		ext := tlv(tagSequence, derOID(oidNonce), tlv(tagOctetString, encodeNonce(r.Nonce)))
		tbs = append(tbs, tlv(ctxTag(2, true), tlv(tagSequence, ext)))
	}
	return tlv(tagSequence, tlv(tagSequence, tbs...)), nil
}

// NewCertID computes the CertID of cert, issued by issuer, with hash
// algorithm h (SHA1, SHA256, SHA384 or SHA512). Raw is filled in.
func NewCertID(cert, issuer *x509.Certificate, h crypto.Hash) (CertID, error) {
	if cert == nil || cert.SerialNumber == nil {
		return CertID{}, errors.New("ocsp: nil certificate")
	}
	nameHash, keyHash, err := issuerHashes(issuer, h)
	if err != nil {
		return CertID{}, err
	}
	id := CertID{
		HashAlgorithm:  h,
		IssuerNameHash: nameHash,
		IssuerKeyHash:  keyHash,
		SerialNumber:   new(big.Int).Set(cert.SerialNumber),
	}
	id.Raw, err = id.marshal()
	return id, err
}

// CreateRequest returns a DER OCSPRequest for cert, issued by issuer, with
// a CertID in hash algorithm h (zero means SHA-1). A nil nonce adds no nonce
// extension; otherwise the nonce must be 1 to 32 bytes.
func CreateRequest(cert, issuer *x509.Certificate, h crypto.Hash, nonce []byte) ([]byte, error) {
	if h == 0 {
		h = crypto.SHA1
	}
	id, err := NewCertID(cert, issuer, h)
	if err != nil {
		return nil, err
	}
	r := Request{Certs: []CertID{id}, Nonce: nonce}
	return r.Marshal()
}

// ErrSignedRequest is returned (wrapped) by ParseRequest for requests that
// carry an optionalSignature, which this package does not support.
var ErrSignedRequest = errors.New("ocsp: signed requests are not supported")

// ParseRequest parses a DER OCSPRequest strictly: trailing data, non-DER
// encodings, unknown hash algorithms, hash lengths that do not match the
// algorithm, signed requests, unknown critical extensions, more than
// MaxRequestCerts CertIDs and nonces outside 1..32 octets are errors.
func ParseRequest(der []byte) (*Request, error) {
	r, err := parseRequest(der)
	if err != nil {
		return nil, fmt.Errorf("ocsp: malformed request: %w", err)
	}
	return r, nil
}

func parseRequest(der []byte) (*Request, error) {
	outer, err := readOne(der)
	if err != nil {
		return nil, err
	}
	top, err := sequence(outer, "OCSPRequest")
	if err != nil {
		return nil, err
	}
	switch {
	case len(top) == 2 && is(top[1], ctxTag(0, true)):
		return nil, ErrSignedRequest
	case len(top) != 1:
		return nil, errors.New("OCSPRequest: wrong number of elements")
	}
	tbs, err := sequence(top[0], "TBSRequest")
	if err != nil {
		return nil, err
	}
	i := 0
	if i < len(tbs) && is(tbs[i], ctxTag(0, true)) { // version [0] EXPLICIT DEFAULT v1
		v, err := explicit(tbs[i], "version")
		if err != nil {
			return nil, err
		}
		n, err := integer(v, "version")
		if err != nil {
			return nil, err
		}
		if n.Sign() != 0 {
			return nil, fmt.Errorf("unsupported version %v", n)
		}
		i++
	}
	if i < len(tbs) && is(tbs[i], ctxTag(1, true)) { // requestorName [1] EXPLICIT GeneralName
		if _, err := explicit(tbs[i], "requestorName"); err != nil {
			return nil, err
		}
		i++
	}
	if i >= len(tbs) {
		return nil, errors.New("TBSRequest: missing requestList")
	}
	list, err := sequence(tbs[i], "requestList")
	if err != nil {
		return nil, err
	}
	i++
	if len(list) == 0 {
		return nil, errors.New("requestList: empty")
	}
	if len(list) > MaxRequestCerts {
		return nil, fmt.Errorf("requestList: more than %d entries", MaxRequestCerts)
	}
	req := &Request{Certs: make([]CertID, 0, len(list))}
	for _, e := range list {
		id, err := parseSingleRequest(e)
		if err != nil {
			return nil, err
		}
		req.Certs = append(req.Certs, id)
	}
	if i < len(tbs) && is(tbs[i], ctxTag(2, true)) { // requestExtensions [2] EXPLICIT
		v, err := explicit(tbs[i], "requestExtensions")
		if err != nil {
			return nil, err
		}
		exts, err := extensions(v, "requestExtensions")
		if err != nil {
			return nil, err
		}
		for _, x := range exts {
			switch {
			case x.id.Equal(oidNonce):
				n := decodeNonce(x.value)
				if len(n) < minNonceLen || len(n) > maxNonceLen {
					return nil, fmt.Errorf("nonce of %d octets (want %d to %d)", len(n), minNonceLen, maxNonceLen)
				}
				req.Nonce = bytes.Clone(n)
				req.nonceExt = bytes.Clone(x.value)
			case x.critical:
				return nil, fmt.Errorf("unsupported critical extension %v", x.id)
			}
		}
		i++
	}
	if i != len(tbs) {
		return nil, errors.New("TBSRequest: unexpected elements")
	}
	return req, nil
}

// parseSingleRequest parses "Request ::= SEQUENCE { reqCert CertID,
// singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }".
func parseSingleRequest(v asn1.RawValue) (CertID, error) {
	els, err := sequence(v, "Request")
	if err != nil {
		return CertID{}, err
	}
	if len(els) < 1 || len(els) > 2 {
		return CertID{}, errors.New("Request: wrong number of elements")
	}
	if len(els) == 2 {
		if !is(els[1], ctxTag(0, true)) {
			return CertID{}, errors.New("Request: unexpected element")
		}
		x, err := explicit(els[1], "singleRequestExtensions")
		if err != nil {
			return CertID{}, err
		}
		exts, err := extensions(x, "singleRequestExtensions")
		if err != nil {
			return CertID{}, err
		}
		for _, e := range exts {
			if e.critical {
				return CertID{}, fmt.Errorf("unsupported critical extension %v", e.id)
			}
		}
	}
	return parseCertID(els[0])
}

// parseCertID parses a CertID, checking the hash algorithm and the hash
// lengths.
func parseCertID(v asn1.RawValue) (CertID, error) {
	els, err := sequence(v, "CertID")
	if err != nil {
		return CertID{}, err
	}
	if len(els) != 4 {
		return CertID{}, errors.New("CertID: wrong number of elements")
	}
	oid, params, err := algorithmIdentifier(els[0], "CertID hashAlgorithm")
	if err != nil {
		return CertID{}, err
	}
	h, ok := hashFromOID(oid)
	if !ok {
		return CertID{}, fmt.Errorf("CertID: unsupported hash algorithm %v", oid)
	}
	if params != nil && !bytes.Equal(params, derNull) {
		return CertID{}, errors.New("CertID: unexpected hash algorithm parameters")
	}
	id := CertID{HashAlgorithm: h, Raw: bytes.Clone(v.FullBytes)}
	if id.IssuerNameHash, err = octetString(els[1], "issuerNameHash"); err != nil {
		return CertID{}, err
	}
	if id.IssuerKeyHash, err = octetString(els[2], "issuerKeyHash"); err != nil {
		return CertID{}, err
	}
	if len(id.IssuerNameHash) != h.Size() || len(id.IssuerKeyHash) != h.Size() {
		return CertID{}, fmt.Errorf("CertID: hash length does not match %v", h)
	}
	id.IssuerNameHash = bytes.Clone(id.IssuerNameHash)
	id.IssuerKeyHash = bytes.Clone(id.IssuerKeyHash)
	if id.SerialNumber, err = integer(els[3], "serialNumber"); err != nil {
		return CertID{}, err
	}
	return id, nil
}
