package tsa

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
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
		rd := &derReader{what: "request", rest: r.rawHashAlg}
		if oid, _, _, err := rd.readAlgorithm("hashAlgorithm"); err == nil {
			if h, ok := hashFromOID(oid); ok && h == r.HashAlgorithm {
				return r.rawHashAlg, nil
			}
		}
	}
	return hashAlgorithmID(r.HashAlgorithm, true)
}

// Marshal returns the DER encoding of the request.
func (r *Request) Marshal() ([]byte, error) {
	if _, ok := hashOID(r.HashAlgorithm); !ok {
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
		tlv(tagSequence, alg, tlv(tagOctetString, r.HashedMessage)),
	}
	if len(r.Policy) > 0 {
		p, err := asn1.Marshal(r.Policy)
		if err != nil {
			return nil, fmt.Errorf("tsa: policy: %w", err)
		}
		parts = append(parts, p)
	}
	if r.Nonce != nil {
		parts = append(parts, derInteger(r.Nonce))
	}
	if r.CertReq {
		parts = append(parts, derBooleanTrue)
	}
	return tlv(tagSequence, parts...), nil
}

// ParseRequest parses a DER TimeStampReq strictly: it rejects trailing data,
// versions other than 1, unknown hash algorithms, digests of the wrong
// length and critical extensions. The error is a *RequestError whose
// FailInfo says how an authority should answer.
func ParseRequest(der []byte) (*Request, error) {
	bad := func(err error) (*Request, error) {
		return nil, requestError(FailBadDataFormat, err)
	}
	if len(der) == 0 {
		return bad(fmt.Errorf("%w: time-stamp request: empty", ErrMalformed))
	}
	rd, err := parseSequence(der, "time-stamp request")
	if err != nil {
		return bad(err)
	}
	version, err := rd.readInt("version")
	if err != nil {
		return bad(err)
	}
	if version != 1 {
		return bad(rd.errorf("version %d, want 1", version))
	}

	imprint, err := rd.expect(asn1.ClassUniversal, asn1.TagSequence, true, "messageImprint")
	if err != nil {
		return bad(err)
	}
	req := new(Request)
	if err := req.parseImprint(imprint.Bytes); err != nil {
		return nil, err
	}

	if v, ok, err := rd.optional(asn1.ClassUniversal, asn1.TagOID, false, "reqPolicy"); err != nil {
		return bad(err)
	} else if ok {
		if req.Policy, err = rd.oid(v, "reqPolicy"); err != nil {
			return bad(err)
		}
	}
	if v, ok, err := rd.optional(asn1.ClassUniversal, asn1.TagInteger, false, "nonce"); err != nil {
		return bad(err)
	} else if ok {
		if req.Nonce, err = rd.bigInt(v, "nonce"); err != nil {
			return bad(err)
		}
	}
	if v, ok, err := rd.optional(asn1.ClassUniversal, asn1.TagBoolean, false, "certReq"); err != nil {
		return bad(err)
	} else if ok {
		if req.CertReq, err = rd.boolean(v, "certReq"); err != nil {
			return bad(err)
		}
	}
	if v, ok, err := rd.optional(asn1.ClassContextSpecific, 0, true, "extensions"); err != nil {
		return bad(err)
	} else if ok {
		crit, err := parseExtensions(v.Bytes, "time-stamp request: extensions")
		if err != nil {
			return bad(err)
		}
		if crit != nil {
			return nil, requestError(FailUnacceptedExtension, fmt.Errorf("tsa: unsupported critical extension %v", crit))
		}
	}
	if err := rd.done(); err != nil {
		return bad(err)
	}
	return req, nil
}

func (r *Request) parseImprint(b []byte) error {
	rd := &derReader{what: "time-stamp request: messageImprint", rest: b}
	oid, params, full, err := rd.readAlgorithm("hashAlgorithm")
	if err != nil {
		return requestError(FailBadDataFormat, err)
	}
	h, ok := hashFromOID(oid)
	if !ok {
		return requestError(FailBadAlg, fmt.Errorf("tsa: unsupported hash algorithm %v", oid))
	}
	if params != nil && !bytes.Equal(params, derNull) {
		return requestError(FailBadAlg, fmt.Errorf("tsa: hash algorithm %v has unexpected parameters", oid))
	}
	msg, err := rd.readOctets("hashedMessage")
	if err != nil {
		return requestError(FailBadDataFormat, err)
	}
	if err := rd.done(); err != nil {
		return requestError(FailBadDataFormat, err)
	}
	if len(msg) != h.Size() {
		return requestError(FailBadDataFormat, fmt.Errorf("%w: hashed message is %d bytes, %v needs %d", ErrMalformed, len(msg), h, h.Size()))
	}
	r.HashAlgorithm = h
	r.HashedMessage = msg
	r.rawHashAlg = full
	return nil
}

// parseExtensions parses the contents of an Extensions SEQUENCE and returns
// the first critical extension's OID (none are supported), or nil.
func parseExtensions(b []byte, what string) (asn1.ObjectIdentifier, error) {
	rd := &derReader{what: what, rest: b}
	if rd.empty() {
		return nil, rd.errorf("empty")
	}
	var critical asn1.ObjectIdentifier
	for !rd.empty() {
		v, err := rd.expect(asn1.ClassUniversal, asn1.TagSequence, true, "extension")
		if err != nil {
			return nil, err
		}
		ed := &derReader{what: what, rest: v.Bytes}
		oid, err := ed.readOID("extnID")
		if err != nil {
			return nil, err
		}
		isCritical := false
		if cv, ok, err := ed.optional(asn1.ClassUniversal, asn1.TagBoolean, false, "critical"); err != nil {
			return nil, err
		} else if ok {
			if isCritical, err = ed.boolean(cv, "critical"); err != nil {
				return nil, err
			}
		}
		if _, err := ed.readOctets("extnValue"); err != nil {
			return nil, err
		}
		if err := ed.done(); err != nil {
			return nil, err
		}
		if isCritical && critical == nil {
			critical = oid
		}
	}
	return critical, nil
}

// failInfoOf returns the failInfo for an error from ParseRequest.
func failInfoOf(err error) int {
	var re *RequestError
	if errors.As(err, &re) {
		return re.FailInfo
	}
	return FailBadDataFormat
}
