package ocsp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/sluz/sluz/internal/der"
)

var (
	oidNonce            = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidBasicResponse    = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidNonceDER         = der.MustOID(oidNonce)
	oidBasicResponseDER = der.MustOID(oidBasicResponse)
)

// Nonce length limits of RFC 8954.
const (
	minNonceLen = 1
	maxNonceLen = 32
)

// decodeNonce returns the nonce octets carried in a nonce extension value:
// the contents of the OCTET STRING it should hold (RFC 6960 section 4.4.1),
// or, for clients that put the bare nonce into extnValue, the value itself.
func decodeNonce(extnValue []byte) []byte {
	r := der.NewReader(extnValue, "nonce")
	if v, err := r.OctetString("nonce"); err == nil && r.Empty() {
		return v
	}
	return extnValue
}

// encodeNonce is the extnValue for nonce octets n.
func encodeNonce(n []byte) []byte { return der.TLV(der.TagOctetString, n) }

// nonceExtensions encodes Extensions holding only the nonce extension
// with extnValue value.
func nonceExtensions(value []byte) []byte {
	return der.TLV(der.TagSequence, der.TLV(der.TagSequence, oidNonceDER, der.TLV(der.TagOctetString, value)))
}

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
	oid, ok := der.HashOID(id.HashAlgorithm)
	if !ok {
		return nil, fmt.Errorf("ocsp: unsupported CertID hash algorithm %v", id.HashAlgorithm)
	}
	if len(id.IssuerNameHash) != id.HashAlgorithm.Size() || len(id.IssuerKeyHash) != id.HashAlgorithm.Size() {
		return nil, errors.New("ocsp: CertID hash length does not match its algorithm")
	}
	if id.SerialNumber == nil {
		return nil, errors.New("ocsp: CertID without serial number")
	}
	return der.TLV(der.TagSequence,
		der.AlgorithmID(oid, der.Null),
		der.TLV(der.TagOctetString, id.IssuerNameHash),
		der.TLV(der.TagOctetString, id.IssuerKeyHash),
		der.Integer(id.SerialNumber)), nil
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
		list = append(list, der.TLV(der.TagSequence, b))
	}
	tbs := [][]byte{der.TLV(der.TagSequence, list...)}
	if r.Nonce != nil {
		if len(r.Nonce) < minNonceLen || len(r.Nonce) > maxNonceLen {
			return nil, fmt.Errorf("ocsp: nonce must be %d to %d bytes", minNonceLen, maxNonceLen)
		}
		tbs = append(tbs, der.TLV(der.ContextCons(2), nonceExtensions(encodeNonce(r.Nonce))))
	}
	return der.TLV(der.TagSequence, der.TLV(der.TagSequence, tbs...)), nil
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

func parseRequest(b []byte) (*Request, error) {
	top, err := der.Parse(b, der.TagSequence, "OCSPRequest")
	if err != nil {
		return nil, err
	}
	tbsRequest, err := top.Read(der.TagSequence, "tbsRequest")
	if err != nil {
		return nil, err
	}
	if top.Peek(der.ContextCons(0)) {
		return nil, ErrSignedRequest
	}
	if err := top.Done(); err != nil {
		return nil, err
	}
	tbs := der.NewReader(tbsRequest.Content, "TBSRequest")
	if tbs.Peek(der.ContextCons(0)) { // version [0] EXPLICIT DEFAULT v1
		if err := parseVersion(&tbs); err != nil {
			return nil, err
		}
	}
	if tbs.Peek(der.ContextCons(1)) { // requestorName [1] EXPLICIT GeneralName
		if _, err := tbs.Explicit(1, "requestorName"); err != nil {
			return nil, err
		}
	}
	list, err := tbs.Enter(der.TagSequence, "requestList")
	if err != nil {
		return nil, err
	}
	if list.Empty() {
		return nil, list.Errorf("empty")
	}
	req := &Request{Certs: make([]CertID, 0, 1)}
	for !list.Empty() {
		if len(req.Certs) == MaxRequestCerts {
			return nil, list.Errorf("more than %d entries", MaxRequestCerts)
		}
		id, err := parseSingleRequest(&list)
		if err != nil {
			return nil, err
		}
		req.Certs = append(req.Certs, id)
	}
	if tbs.Peek(der.ContextCons(2)) {
		exts, err := explicitExtensions(&tbs, 2, "requestExtensions")
		if err != nil {
			return nil, err
		}
		for _, x := range exts {
			switch {
			case x.ID.Equal(oidNonce):
				n := decodeNonce(x.Value)
				if len(n) < minNonceLen || len(n) > maxNonceLen {
					return nil, fmt.Errorf("nonce of %d octets (want %d to %d)", len(n), minNonceLen, maxNonceLen)
				}
				req.Nonce = bytes.Clone(n)
				req.nonceExt = bytes.Clone(x.Value)
			case x.Critical:
				return nil, fmt.Errorf("unsupported critical extension %v", x.ID)
			}
		}
	}
	if err := tbs.Done(); err != nil {
		return nil, err
	}
	return req, nil
}

// parseVersion reads "version [0] EXPLICIT Version DEFAULT v1", which
// must be v1.
func parseVersion(r *der.Reader) error {
	v, err := r.Explicit(0, "version")
	if err != nil {
		return err
	}
	n, err := v.BigInt("Version")
	if err != nil {
		return err
	}
	if n.Sign() != 0 {
		return fmt.Errorf("unsupported version %v", n)
	}
	return nil
}

// explicitExtensions reads "[n] EXPLICIT Extensions", refusing duplicate
// extensions.
func explicitExtensions(r *der.Reader, n int, field string) ([]der.Extension, error) {
	x, err := r.Explicit(n, field)
	if err != nil {
		return nil, err
	}
	return x.Extensions(der.TagSequence, "Extensions")
}

// noCritical fails if one of exts is critical (none is supported).
func noCritical(exts []der.Extension, what string) error {
	for _, x := range exts {
		if x.Critical {
			return fmt.Errorf("unsupported critical %s %v", what, x.ID)
		}
	}
	return nil
}

// parseSingleRequest reads "Request ::= SEQUENCE { reqCert CertID,
// singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }".
func parseSingleRequest(list *der.Reader) (CertID, error) {
	r, err := list.Enter(der.TagSequence, "Request")
	if err != nil {
		return CertID{}, err
	}
	e, err := r.Read(der.TagSequence, "reqCert")
	if err != nil {
		return CertID{}, err
	}
	if r.Peek(der.ContextCons(0)) {
		exts, err := explicitExtensions(&r, 0, "singleRequestExtensions")
		if err != nil {
			return CertID{}, err
		}
		if err := noCritical(exts, "extension"); err != nil {
			return CertID{}, err
		}
	}
	if err := r.Done(); err != nil {
		return CertID{}, err
	}
	return parseCertID(e.Raw)
}

// parseCertID parses the DER of a CertID, checking the hash algorithm and
// the hash lengths. Raw is a copy of b.
func parseCertID(b []byte) (CertID, error) {
	r, err := der.Parse(b, der.TagSequence, "CertID")
	if err != nil {
		return CertID{}, err
	}
	alg, err := r.Algorithm("hashAlgorithm")
	if err != nil {
		return CertID{}, err
	}
	h, ok := der.HashFromOID(alg.OID)
	if !ok {
		return CertID{}, fmt.Errorf("CertID: unsupported hash algorithm %v", alg.OID)
	}
	if !alg.NullParams() {
		return CertID{}, errors.New("CertID: unexpected hash algorithm parameters")
	}
	id := CertID{HashAlgorithm: h}
	if id.IssuerNameHash, err = r.OctetString("issuerNameHash"); err != nil {
		return CertID{}, err
	}
	if id.IssuerKeyHash, err = r.OctetString("issuerKeyHash"); err != nil {
		return CertID{}, err
	}
	if len(id.IssuerNameHash) != h.Size() || len(id.IssuerKeyHash) != h.Size() {
		return CertID{}, fmt.Errorf("CertID: hash length does not match %v", h)
	}
	if id.SerialNumber, err = r.BigInt("serialNumber"); err != nil {
		return CertID{}, err
	}
	if err := r.Done(); err != nil {
		return CertID{}, err
	}
	id.IssuerNameHash = bytes.Clone(id.IssuerNameHash)
	id.IssuerKeyHash = bytes.Clone(id.IssuerKeyHash)
	id.Raw = bytes.Clone(b)
	return id, nil
}
