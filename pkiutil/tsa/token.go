package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"slices"
	"time"
)

// Token is a parsed (not yet verified) TimeStampToken: a CMS SignedData
// whose encapsulated content is a TSTInfo.
type Token struct {
	Raw           []byte // the DER ContentInfo
	Policy        asn1.ObjectIdentifier
	HashAlgorithm crypto.Hash
	HashedMessage []byte
	SerialNumber  *big.Int
	GenTime       time.Time
	Accuracy      time.Duration // zero if absent
	Nonce         *big.Int      // nil if absent
	// Signer is the certificate among Certificates that the SignerInfo
	// identifies, nil if the token does not include it.
	Signer       *x509.Certificate
	Certificates []*x509.Certificate
}

// signedToken holds the CMS parts Verify needs.
type signedToken struct {
	tstInfo       []byte                  // eContent: DER TSTInfo
	digestAlgs    []asn1.ObjectIdentifier // SignedData.digestAlgorithms
	digestOID     asn1.ObjectIdentifier
	sigOID        asn1.ObjectIdentifier
	sigParams     []byte
	signature     []byte
	signedAttrs   []byte // the signed attributes encoded as a SET (0x31)
	sidIssuer     []byte
	sidSerial     *big.Int
	sidKeyID      []byte
	contentType   asn1.ObjectIdentifier
	messageDigest []byte
	essV1, essV2  []byte // DER SigningCertificate / SigningCertificateV2
}

// matches reports whether c is the certificate the SignerInfo names.
func (st *signedToken) matches(c *x509.Certificate) bool {
	if c == nil {
		return false
	}
	if st.sidKeyID != nil {
		return len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, st.sidKeyID)
	}
	return bytes.Equal(c.RawIssuer, st.sidIssuer) && c.SerialNumber != nil && c.SerialNumber.Cmp(st.sidSerial) == 0
}

// ParseToken parses a DER TimeStampToken. It checks the structure only; call
// Verify to check the signature, the certificate chain and the contents.
func ParseToken(der []byte) (*Token, error) {
	t, _, err := parseToken(der)
	return t, err
}

func parseToken(der []byte) (*Token, *signedToken, error) {
	ci, err := parseSequence(der, "time-stamp token")
	if err != nil {
		return nil, nil, err
	}
	ct, err := ci.readOID("contentType")
	if err != nil {
		return nil, nil, err
	}
	if !ct.Equal(oidSignedData) {
		return nil, nil, ci.errorf("content type %v, want signedData", ct)
	}
	content, err := ci.expect(asn1.ClassContextSpecific, 0, true, "content")
	if err != nil {
		return nil, nil, err
	}
	if err := ci.done(); err != nil {
		return nil, nil, err
	}

	sd, err := parseSequence(content.Bytes, "time-stamp token: SignedData")
	if err != nil {
		return nil, nil, err
	}
	version, err := sd.readInt("version")
	if err != nil {
		return nil, nil, err
	}
	if version < 1 || version > 5 {
		return nil, nil, sd.errorf("version %d", version)
	}
	das, err := sd.expect(asn1.ClassUniversal, asn1.TagSet, true, "digestAlgorithms")
	if err != nil {
		return nil, nil, err
	}
	st := new(signedToken)
	dr := &derReader{what: "time-stamp token: digestAlgorithms", rest: das.Bytes}
	for !dr.empty() {
		oid, _, _, err := dr.readAlgorithm("digestAlgorithm")
		if err != nil {
			return nil, nil, err
		}
		st.digestAlgs = append(st.digestAlgs, oid)
	}
	eci, err := sd.expect(asn1.ClassUniversal, asn1.TagSequence, true, "encapContentInfo")
	if err != nil {
		return nil, nil, err
	}
	er := &derReader{what: "time-stamp token: encapContentInfo", rest: eci.Bytes}
	ect, err := er.readOID("eContentType")
	if err != nil {
		return nil, nil, err
	}
	if !ect.Equal(oidTSTInfo) {
		return nil, nil, er.errorf("eContentType %v, want id-ct-TSTInfo", ect)
	}
	econt, err := er.expect(asn1.ClassContextSpecific, 0, true, "eContent")
	if err != nil {
		return nil, nil, err
	}
	if err := er.done(); err != nil {
		return nil, nil, err
	}
	or := &derReader{what: "time-stamp token: eContent", rest: econt.Bytes}
	if st.tstInfo, err = or.readOctets("OCTET STRING"); err != nil {
		return nil, nil, err
	}
	if err := or.done(); err != nil {
		return nil, nil, err
	}

	t := &Token{Raw: der}
	if v, ok, err := sd.optional(asn1.ClassContextSpecific, 0, true, "certificates"); err != nil {
		return nil, nil, err
	} else if ok {
		cr := &derReader{what: "time-stamp token: certificates", rest: v.Bytes}
		for !cr.empty() {
			c, err := cr.next("certificate")
			if err != nil {
				return nil, nil, err
			}
			if c.Class != asn1.ClassUniversal || c.Tag != asn1.TagSequence {
				continue // other CertificateChoices (attribute certificates etc.)
			}
			cert, err := x509.ParseCertificate(c.FullBytes)
			if err != nil {
				return nil, nil, cr.errorf("%v", err)
			}
			t.Certificates = append(t.Certificates, cert)
		}
	}
	if _, _, err := sd.optional(asn1.ClassContextSpecific, 1, true, "crls"); err != nil {
		return nil, nil, err
	}
	sis, err := sd.expect(asn1.ClassUniversal, asn1.TagSet, true, "signerInfos")
	if err != nil {
		return nil, nil, err
	}
	if err := sd.done(); err != nil {
		return nil, nil, err
	}
	sr := &derReader{what: "time-stamp token: signerInfos", rest: sis.Bytes}
	si, err := sr.expect(asn1.ClassUniversal, asn1.TagSequence, true, "SignerInfo")
	if err != nil {
		return nil, nil, err
	}
	if !sr.empty() {
		return nil, nil, sr.errorf("more than one SignerInfo")
	}
	if err := st.parseSignerInfo(si.Bytes); err != nil {
		return nil, nil, err
	}
	if err := parseTSTInfo(st.tstInfo, t); err != nil {
		return nil, nil, err
	}
	for _, c := range t.Certificates {
		if st.matches(c) {
			t.Signer = c
			break
		}
	}
	return t, st, nil
}

func (st *signedToken) parseSignerInfo(b []byte) error {
	rd := &derReader{what: "time-stamp token: SignerInfo", rest: b}
	version, err := rd.readInt("version")
	if err != nil {
		return err
	}
	switch {
	case version == 1 && rd.peek(asn1.ClassUniversal, asn1.TagSequence, true):
		v, _ := rd.next("sid")
		ir := &derReader{what: rd.what + ": issuerAndSerialNumber", rest: v.Bytes}
		issuer, err := ir.expect(asn1.ClassUniversal, asn1.TagSequence, true, "issuer")
		if err != nil {
			return err
		}
		st.sidIssuer = issuer.FullBytes
		if st.sidSerial, err = ir.readBigInt("serialNumber"); err != nil {
			return err
		}
		if err := ir.done(); err != nil {
			return err
		}
	case version == 3 && rd.peek(asn1.ClassContextSpecific, 0, false):
		v, _ := rd.next("sid")
		if len(v.Bytes) == 0 {
			return rd.errorf("empty subjectKeyIdentifier")
		}
		st.sidKeyID = v.Bytes
	default:
		return rd.errorf("version %d with unsupported signer identifier", version)
	}
	if st.digestOID, _, _, err = rd.readAlgorithm("digestAlgorithm"); err != nil {
		return err
	}
	attrs, ok, err := rd.optional(asn1.ClassContextSpecific, 0, true, "signedAttrs")
	if err != nil {
		return err
	}
	if !ok {
		return rd.errorf("missing signedAttrs")
	}
	st.signedAttrs = tlv(tagSet, attrs.Bytes)
	if err := st.parseSignedAttrs(attrs.Bytes); err != nil {
		return err
	}
	if st.sigOID, st.sigParams, _, err = rd.readAlgorithm("signatureAlgorithm"); err != nil {
		return err
	}
	if st.signature, err = rd.readOctets("signature"); err != nil {
		return err
	}
	if _, _, err := rd.optional(asn1.ClassContextSpecific, 1, true, "unsignedAttrs"); err != nil {
		return err
	}
	return rd.done()
}

func (st *signedToken) parseSignedAttrs(b []byte) error {
	rd := &derReader{what: "time-stamp token: signedAttrs", rest: b}
	var seen []asn1.ObjectIdentifier // a slice, not a map: keeps fuzzing coverage deterministic
	for !rd.empty() {
		a, err := rd.expect(asn1.ClassUniversal, asn1.TagSequence, true, "attribute")
		if err != nil {
			return err
		}
		ar := &derReader{what: rd.what, rest: a.Bytes}
		oid, err := ar.readOID("attrType")
		if err != nil {
			return err
		}
		vals, err := ar.expect(asn1.ClassUniversal, asn1.TagSet, true, "attrValues")
		if err != nil {
			return err
		}
		if err := ar.done(); err != nil {
			return err
		}
		if slices.ContainsFunc(seen, oid.Equal) {
			return rd.errorf("duplicate attribute %v", oid)
		}
		seen = append(seen, oid)
		vr := &derReader{what: rd.what + ": " + oid.String(), rest: vals.Bytes}
		switch {
		case oid.Equal(oidAttrContentType):
			st.contentType, err = vr.readOID("value")
		case oid.Equal(oidAttrMessageDigest):
			st.messageDigest, err = vr.readOctets("value")
		case oid.Equal(oidAttrSigningCertificate):
			var v asn1.RawValue
			v, err = vr.expect(asn1.ClassUniversal, asn1.TagSequence, true, "value")
			st.essV1 = v.FullBytes
		case oid.Equal(oidAttrSigningCertificateV2):
			var v asn1.RawValue
			v, err = vr.expect(asn1.ClassUniversal, asn1.TagSequence, true, "value")
			st.essV2 = v.FullBytes
		default:
			_, err = vr.next("value")
			vr.rest = nil // other attributes may be multi-valued
		}
		if err != nil {
			return err
		}
		if err := vr.done(); err != nil {
			return err
		}
	}
	if st.contentType == nil {
		return rd.errorf("missing contentType attribute")
	}
	if st.messageDigest == nil {
		return rd.errorf("missing messageDigest attribute")
	}
	return nil
}

func parseTSTInfo(b []byte, t *Token) error {
	rd, err := parseSequence(b, "TSTInfo")
	if err != nil {
		return err
	}
	version, err := rd.readInt("version")
	if err != nil {
		return err
	}
	if version != 1 {
		return rd.errorf("version %d, want 1", version)
	}
	if t.Policy, err = rd.readOID("policy"); err != nil {
		return err
	}
	mi, err := rd.expect(asn1.ClassUniversal, asn1.TagSequence, true, "messageImprint")
	if err != nil {
		return err
	}
	mr := &derReader{what: "TSTInfo: messageImprint", rest: mi.Bytes}
	oid, params, _, err := mr.readAlgorithm("hashAlgorithm")
	if err != nil {
		return err
	}
	h, ok := hashFromOID(oid)
	if !ok {
		return mr.errorf("unsupported hash algorithm %v", oid)
	}
	if params != nil && !bytes.Equal(params, derNull) {
		return mr.errorf("hash algorithm has unexpected parameters")
	}
	if t.HashedMessage, err = mr.readOctets("hashedMessage"); err != nil {
		return err
	}
	if err := mr.done(); err != nil {
		return err
	}
	if len(t.HashedMessage) != h.Size() {
		return mr.errorf("hashed message is %d bytes, %v needs %d", len(t.HashedMessage), h, h.Size())
	}
	t.HashAlgorithm = h
	if t.SerialNumber, err = rd.readBigInt("serialNumber"); err != nil {
		return err
	}
	if t.GenTime, err = rd.readGeneralizedTime("genTime"); err != nil {
		return err
	}
	if v, ok, err := rd.optional(asn1.ClassUniversal, asn1.TagSequence, true, "accuracy"); err != nil {
		return err
	} else if ok {
		if t.Accuracy, err = parseAccuracy(v.Bytes); err != nil {
			return err
		}
	}
	if v, ok, err := rd.optional(asn1.ClassUniversal, asn1.TagBoolean, false, "ordering"); err != nil {
		return err
	} else if ok {
		if _, err := rd.boolean(v, "ordering"); err != nil {
			return err
		}
	}
	if v, ok, err := rd.optional(asn1.ClassUniversal, asn1.TagInteger, false, "nonce"); err != nil {
		return err
	} else if ok {
		if t.Nonce, err = rd.bigInt(v, "nonce"); err != nil {
			return err
		}
	}
	if _, _, err := rd.optional(asn1.ClassContextSpecific, 0, true, "tsa"); err != nil {
		return err
	}
	if v, ok, err := rd.optional(asn1.ClassContextSpecific, 1, true, "extensions"); err != nil {
		return err
	} else if ok {
		crit, err := parseExtensions(v.Bytes, "TSTInfo: extensions")
		if err != nil {
			return err
		}
		if crit != nil {
			return rd.errorf("unsupported critical extension %v", crit)
		}
	}
	return rd.done()
}

// maxAccuracySeconds bounds Accuracy.seconds so the duration cannot
// overflow.
const maxAccuracySeconds = 1 << 32

func parseAccuracy(b []byte) (time.Duration, error) {
	rd := &derReader{what: "TSTInfo: accuracy", rest: b}
	var secs, millis, micros int64
	if rd.peek(asn1.ClassUniversal, asn1.TagInteger, false) {
		var err error
		if secs, err = rd.readInt("seconds"); err != nil {
			return 0, err
		}
		if secs < 0 || secs > maxAccuracySeconds {
			return 0, rd.errorf("seconds %d out of range", secs)
		}
	}
	for _, f := range []struct {
		tag  int
		name string
		dst  *int64
	}{{0, "millis", &millis}, {1, "micros", &micros}} {
		v, ok, err := rd.optional(asn1.ClassContextSpecific, f.tag, false, f.name)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		if _, err := asn1.Unmarshal(retag(v, asn1.TagInteger), f.dst); err != nil {
			return 0, rd.errorf("%s: %v", f.name, err)
		}
		if *f.dst < 1 || *f.dst > 999 {
			return 0, rd.errorf("%s %d out of range 1..999", f.name, *f.dst)
		}
	}
	if err := rd.done(); err != nil {
		return 0, err
	}
	return time.Duration(secs)*time.Second + time.Duration(millis)*time.Millisecond + time.Duration(micros)*time.Microsecond, nil
}
