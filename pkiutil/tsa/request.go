package tsa

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/sluz/sluz/internal/der"
)

// Request is an RFC 3161 TimeStampReq.
type Request struct {
	// HashAlgorithm is SHA256, SHA384 or SHA512. SHA1 is accepted when
	// parsing but refused by the Authority (badAlg).
	HashAlgorithm crypto.Hash
	HashedMessage []byte
	Policy        asn1.ObjectIdentifier // optional reqPolicy
	Nonce         *big.Int              // optional
	CertReq       bool

	// rawHashAlg is the AlgorithmIdentifier as received by ParseRequest,
	// so that the token can echo it exactly (NULL vs absent parameters).
	rawHashAlg []byte
}

// imprintAlgorithm returns the DER AlgorithmIdentifier of the message
// imprint: the received one if it names HashAlgorithm, otherwise the
// canonical encoding with NULL parameters (as OpenSSL writes it).
func (r *Request) imprintAlgorithm() ([]byte, error) {
	if r.rawHashAlg != nil {
		rd := der.NewReader(r.rawHashAlg, "request")
		if alg, err := rd.Algorithm("hashAlgorithm"); err == nil {
			if h, ok := der.HashFromOID(alg.OID); ok && h == r.HashAlgorithm {
				return r.rawHashAlg, nil
			}
		}
	}
	return hashAlgorithmID(r.HashAlgorithm, true)
}

// Marshal returns the DER encoding of the request.
func (r *Request) Marshal() ([]byte, error) {
	if _, ok := der.HashOID(r.HashAlgorithm); !ok {
		return nil, fmt.Errorf("tsa: unsupported hash algorithm %v", r.HashAlgorithm)
	}
	if len(r.HashedMessage) != r.HashAlgorithm.Size() {
		return nil, fmt.Errorf("tsa: hashed message is %d bytes, %v needs %d", len(r.HashedMessage), r.HashAlgorithm, r.HashAlgorithm.Size())
	}
	alg, err := r.imprintAlgorithm()
	if err != nil {
		return nil, err
	}
	parts := [][]byte{
		derIntegerOne,
		der.TLV(der.TagSequence, alg, der.TLV(der.TagOctetString, r.HashedMessage)),
	}
	if len(r.Policy) > 0 {
		p, err := der.OID(r.Policy)
		if err != nil {
			return nil, fmt.Errorf("tsa: policy: %w", err)
		}
		parts = append(parts, p)
	}
	if r.Nonce != nil {
		parts = append(parts, der.Integer(r.Nonce))
	}
	if r.CertReq {
		parts = append(parts, der.Bool(true))
	}
	return der.TLV(der.TagSequence, parts...), nil
}

// ParseRequest parses a DER TimeStampReq strictly: it rejects trailing data,
// versions other than 1, unknown hash algorithms, digests of the wrong
// length and critical extensions. The error is a *RequestError whose
// FailInfo says how an authority should answer.
func ParseRequest(b []byte) (*Request, error) {
	bad := func(err error) (*Request, error) {
		return nil, requestError(FailBadDataFormat, malformed(err))
	}
	if len(b) == 0 {
		return nil, requestError(FailBadDataFormat, fmt.Errorf("%w: time-stamp request: empty", ErrMalformed))
	}
	rd, err := der.Parse(b, der.TagSequence, "time-stamp request")
	if err != nil {
		return bad(err)
	}
	version, err := rd.Int64("version")
	if err != nil {
		return bad(err)
	}
	if version != 1 {
		return bad(rd.Errorf("version %d, want 1", version))
	}

	imprint, err := rd.Enter(der.TagSequence, "messageImprint")
	if err != nil {
		return bad(err)
	}
	req := new(Request)
	if err := req.parseImprint(&imprint); err != nil {
		return nil, err
	}

	if rd.Peek(der.TagOID) {
		if req.Policy, err = rd.OID("reqPolicy"); err != nil {
			return bad(err)
		}
	}
	if rd.Peek(der.TagInteger) {
		if req.Nonce, err = rd.BigInt("nonce"); err != nil {
			return bad(err)
		}
	}
	if rd.Peek(der.TagBoolean) {
		if req.CertReq, err = rd.Bool("certReq"); err != nil {
			return bad(err)
		}
	}
	if rd.Peek(der.ContextCons(0)) {
		exts, err := rd.Extensions(der.ContextCons(0), "extensions")
		if err != nil {
			return bad(err)
		}
		if crit := firstCritical(exts); crit != nil {
			return nil, requestError(FailUnacceptedExtension, fmt.Errorf("tsa: unsupported critical extension %v", crit))
		}
	}
	if err := rd.Done(); err != nil {
		return bad(err)
	}
	return req, nil
}

// parseImprint reads the contents of "MessageImprint ::= SEQUENCE {
// hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }".
func (r *Request) parseImprint(rd *der.Reader) error {
	alg, err := rd.Algorithm("hashAlgorithm")
	if err != nil {
		return requestError(FailBadDataFormat, malformed(err))
	}
	h, ok := der.HashFromOID(alg.OID)
	if !ok {
		return requestError(FailBadAlg, fmt.Errorf("tsa: unsupported hash algorithm %v", alg.OID))
	}
	if !alg.NullParams() {
		return requestError(FailBadAlg, fmt.Errorf("tsa: hash algorithm %v has unexpected parameters", alg.OID))
	}
	msg, err := rd.OctetString("hashedMessage")
	if err != nil {
		return requestError(FailBadDataFormat, malformed(err))
	}
	if err := rd.Done(); err != nil {
		return requestError(FailBadDataFormat, malformed(err))
	}
	if len(msg) != h.Size() {
		return requestError(FailBadDataFormat, fmt.Errorf("%w: hashed message is %d bytes, %v needs %d", ErrMalformed, len(msg), h, h.Size()))
	}
	r.HashAlgorithm = h
	r.HashedMessage = msg
	r.rawHashAlg = alg.Raw
	return nil
}

// firstCritical returns the OID of the first critical extension among
// exts (none is supported), or nil.
func firstCritical(exts []der.Extension) asn1.ObjectIdentifier {
	for _, x := range exts {
		if x.Critical {
			return x.ID
		}
	}
	return nil
}

// failInfoOf returns the failInfo for an error from ParseRequest.
func failInfoOf(err error) int {
	var re *RequestError
	if errors.As(err, &re) {
		return re.FailInfo
	}
	return FailBadDataFormat
}
