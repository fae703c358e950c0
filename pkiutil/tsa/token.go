package tsa

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"slices"
	"time"

	"github.com/sluz/sluz/internal/der"
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
	sigAlg        der.Algorithm
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

func parseToken(b []byte) (*Token, *signedToken, error) {
	t, st, err := parseSignedData(b)
	if err != nil {
		return nil, nil, malformed(err)
	}
	return t, st, nil
}

// parseSignedData parses a ContentInfo holding a SignedData holding a
// TSTInfo; its errors are the DER reader's.
func parseSignedData(b []byte) (*Token, *signedToken, error) {
	ci, err := der.Parse(b, der.TagSequence, "time-stamp token")
	if err != nil {
		return nil, nil, err
	}
	ct, err := ci.OID("contentType")
	if err != nil {
		return nil, nil, err
	}
	if !ct.Equal(oidSignedData) {
		return nil, nil, ci.Errorf("content type %v, want signedData", ct)
	}
	content, err := ci.Read(der.ContextCons(0), "content")
	if err != nil {
		return nil, nil, err
	}
	if err := ci.Done(); err != nil {
		return nil, nil, err
	}

	sd, err := der.Parse(content.Content, der.TagSequence, "time-stamp token: SignedData")
	if err != nil {
		return nil, nil, err
	}
	version, err := sd.Int64("version")
	if err != nil {
		return nil, nil, err
	}
	if version < 1 || version > 5 {
		return nil, nil, sd.Errorf("version %d", version)
	}
	dr, err := sd.Enter(der.TagSet, "digestAlgorithms")
	if err != nil {
		return nil, nil, err
	}
	st := new(signedToken)
	for !dr.Empty() {
		alg, err := dr.Algorithm("digestAlgorithm")
		if err != nil {
			return nil, nil, err
		}
		st.digestAlgs = append(st.digestAlgs, alg.OID)
	}
	er, err := sd.Enter(der.TagSequence, "encapContentInfo")
	if err != nil {
		return nil, nil, err
	}
	ect, err := er.OID("eContentType")
	if err != nil {
		return nil, nil, err
	}
	if !ect.Equal(oidTSTInfo) {
		return nil, nil, er.Errorf("eContentType %v, want id-ct-TSTInfo", ect)
	}
	or, err := er.Explicit(0, "eContent")
	if err != nil {
		return nil, nil, err
	}
	if err := er.Done(); err != nil {
		return nil, nil, err
	}
	if st.tstInfo, err = or.OctetString("OCTET STRING"); err != nil {
		return nil, nil, err
	}

	t := &Token{Raw: b}
	if sd.Peek(der.ContextCons(0)) {
		cr, err := sd.Enter(der.ContextCons(0), "certificates")
		if err != nil {
			return nil, nil, err
		}
		for !cr.Empty() {
			c, err := cr.Next("certificate")
			if err != nil {
				return nil, nil, err
			}
			if c.Tag&0xc0 == 0x80 {
				continue // other CertificateChoices (attribute certificates etc.)
			}
			cert, err := x509.ParseCertificate(c.Raw)
			if err != nil {
				return nil, nil, cr.Errorf("%w", err)
			}
			t.Certificates = append(t.Certificates, cert)
		}
	}
	if sd.Peek(der.ContextCons(1)) {
		if _, err := sd.Read(der.ContextCons(1), "crls"); err != nil {
			return nil, nil, err
		}
	}
	sr, err := sd.Enter(der.TagSet, "signerInfos")
	if err != nil {
		return nil, nil, err
	}
	if err := sd.Done(); err != nil {
		return nil, nil, err
	}
	si, err := sr.Read(der.TagSequence, "SignerInfo")
	if err != nil {
		return nil, nil, err
	}
	if !sr.Empty() {
		return nil, nil, sr.Errorf("more than one SignerInfo")
	}
	if err := st.parseSignerInfo(si.Content); err != nil {
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
	rd := der.NewReader(b, "time-stamp token: SignerInfo")
	version, err := rd.Int64("version")
	if err != nil {
		return err
	}
	switch {
	case version == 1 && rd.Peek(der.TagSequence):
		ir, err := rd.Enter(der.TagSequence, "issuerAndSerialNumber")
		if err != nil {
			return err
		}
		issuer, err := ir.Read(der.TagSequence, "issuer")
		if err != nil {
			return err
		}
		st.sidIssuer = issuer.Raw
		if st.sidSerial, err = ir.BigInt("serialNumber"); err != nil {
			return err
		}
		if err := ir.Done(); err != nil {
			return err
		}
	case version == 3 && rd.Peek(der.Context(0)):
		v, err := rd.Read(der.Context(0), "subjectKeyIdentifier")
		if err != nil {
			return err
		}
		if len(v.Content) == 0 {
			return rd.Errorf("empty subjectKeyIdentifier")
		}
		st.sidKeyID = v.Content
	default:
		return rd.Errorf("version %d with unsupported signer identifier", version)
	}
	digestAlg, err := rd.Algorithm("digestAlgorithm")
	if err != nil {
		return err
	}
	st.digestOID = digestAlg.OID
	if !rd.Peek(der.ContextCons(0)) {
		return rd.Errorf("missing signedAttrs")
	}
	attrs, err := rd.Read(der.ContextCons(0), "signedAttrs")
	if err != nil {
		return err
	}
	st.signedAttrs = der.TLV(der.TagSet, attrs.Content)
	if err := st.parseSignedAttrs(attrs.Content); err != nil {
		return err
	}
	if st.sigAlg, err = rd.Algorithm("signatureAlgorithm"); err != nil {
		return err
	}
	if st.signature, err = rd.OctetString("signature"); err != nil {
		return err
	}
	if rd.Peek(der.ContextCons(1)) {
		if _, err := rd.Read(der.ContextCons(1), "unsignedAttrs"); err != nil {
			return err
		}
	}
	return rd.Done()
}

func (st *signedToken) parseSignedAttrs(b []byte) error {
	rd := der.NewReader(b, "time-stamp token: signedAttrs")
	var seen []asn1.ObjectIdentifier // a slice, not a map: keeps fuzzing coverage deterministic
	for !rd.Empty() {
		ar, err := rd.Enter(der.TagSequence, "attribute")
		if err != nil {
			return err
		}
		oid, err := ar.OID("attrType")
		if err != nil {
			return err
		}
		vr, err := ar.Enter(der.TagSet, "attrValues")
		if err != nil {
			return err
		}
		if err := ar.Done(); err != nil {
			return err
		}
		if slices.ContainsFunc(seen, oid.Equal) {
			return rd.Errorf("duplicate attribute %v", oid)
		}
		seen = append(seen, oid)
		switch {
		case oid.Equal(oidAttrContentType):
			st.contentType, err = vr.OID("value")
		case oid.Equal(oidAttrMessageDigest):
			st.messageDigest, err = vr.OctetString("value")
		case oid.Equal(oidAttrSigningCertificate):
			var v der.Element
			v, err = vr.Read(der.TagSequence, "value")
			st.essV1 = v.Raw
		case oid.Equal(oidAttrSigningCertificateV2):
			var v der.Element
			v, err = vr.Read(der.TagSequence, "value")
			st.essV2 = v.Raw
		default: // other attributes may be multi-valued
			_, err = vr.Next("value")
			for err == nil && !vr.Empty() {
				_, err = vr.Next("value")
			}
		}
		if err != nil {
			return err
		}
		if err := vr.Done(); err != nil {
			return err
		}
	}
	if st.contentType == nil {
		return rd.Errorf("missing contentType attribute")
	}
	if st.messageDigest == nil {
		return rd.Errorf("missing messageDigest attribute")
	}
	return nil
}

func parseTSTInfo(b []byte, t *Token) error {
	rd, err := der.Parse(b, der.TagSequence, "TSTInfo")
	if err != nil {
		return err
	}
	version, err := rd.Int64("version")
	if err != nil {
		return err
	}
	if version != 1 {
		return rd.Errorf("version %d, want 1", version)
	}
	if t.Policy, err = rd.OID("policy"); err != nil {
		return err
	}
	mr, err := rd.Enter(der.TagSequence, "messageImprint")
	if err != nil {
		return err
	}
	alg, err := mr.Algorithm("hashAlgorithm")
	if err != nil {
		return err
	}
	h, ok := der.HashFromOID(alg.OID)
	if !ok {
		return mr.Errorf("unsupported hash algorithm %v", alg.OID)
	}
	if !alg.NullParams() {
		return mr.Errorf("hash algorithm has unexpected parameters")
	}
	if t.HashedMessage, err = mr.OctetString("hashedMessage"); err != nil {
		return err
	}
	if err := mr.Done(); err != nil {
		return err
	}
	if len(t.HashedMessage) != h.Size() {
		return mr.Errorf("hashed message is %d bytes, %v needs %d", len(t.HashedMessage), h, h.Size())
	}
	t.HashAlgorithm = h
	if t.SerialNumber, err = rd.BigInt("serialNumber"); err != nil {
		return err
	}
	if t.GenTime, err = rd.GeneralizedTime("genTime"); err != nil {
		return err
	}
	if rd.Peek(der.TagSequence) {
		ar, err := rd.Enter(der.TagSequence, "accuracy")
		if err != nil {
			return err
		}
		if t.Accuracy, err = parseAccuracy(&ar); err != nil {
			return err
		}
	}
	if rd.Peek(der.TagBoolean) {
		if _, err := rd.Bool("ordering"); err != nil {
			return err
		}
	}
	if rd.Peek(der.TagInteger) {
		if t.Nonce, err = rd.BigInt("nonce"); err != nil {
			return err
		}
	}
	if rd.Peek(der.ContextCons(0)) {
		if _, err := rd.Read(der.ContextCons(0), "tsa"); err != nil {
			return err
		}
	}
	if rd.Peek(der.ContextCons(1)) {
		exts, err := rd.Extensions(der.ContextCons(1), "extensions")
		if err != nil {
			return err
		}
		if crit := firstCritical(exts); crit != nil {
			return rd.Errorf("unsupported critical extension %v", crit)
		}
	}
	return rd.Done()
}

// maxAccuracySeconds bounds Accuracy.seconds so the duration cannot
// overflow.
const maxAccuracySeconds = 1 << 32

// parseAccuracy reads the contents of "Accuracy ::= SEQUENCE { seconds
// INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL, micros [1]
// INTEGER (1..999) OPTIONAL }".
func parseAccuracy(rd *der.Reader) (time.Duration, error) {
	var secs, millis, micros int64
	if rd.Peek(der.TagInteger) {
		var err error
		if secs, err = rd.Int64("seconds"); err != nil {
			return 0, err
		}
		if secs < 0 || secs > maxAccuracySeconds {
			return 0, rd.Errorf("seconds %d out of range", secs)
		}
	}
	for _, f := range []struct {
		tag  int
		name string
		dst  *int64
	}{{0, "millis", &millis}, {1, "micros", &micros}} {
		if !rd.Peek(der.Context(f.tag)) {
			continue
		}
		var err error
		if *f.dst, err = rd.ImplicitInt64(der.Context(f.tag), f.name); err != nil {
			return 0, err
		}
		if *f.dst < 1 || *f.dst > 999 {
			return 0, rd.Errorf("%s %d out of range 1..999", f.name, *f.dst)
		}
	}
	if err := rd.Done(); err != nil {
		return 0, err
	}
	return time.Duration(secs)*time.Second + time.Duration(millis)*time.Millisecond + time.Duration(micros)*time.Microsecond, nil
}
