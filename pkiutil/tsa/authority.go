package tsa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"log"
	"math/big"
	"slices"
	"time"

	"github.com/sluz/sluz/internal/der"
)

// SerialSource hands out strictly increasing serial numbers that survive
// restarts. Implementations must be safe for concurrent use.
type SerialSource interface {
	Next() (*big.Int, error)
}

// Authority signs time-stamp tokens. Create it with NewAuthority and do not
// modify its fields afterwards. Respond and ServeHTTP are safe for
// concurrent use if Signer and Serials are.
type Authority struct {
	// Signer is the private key of Cert: ECDSA P-256 (or P-384) or RSA of
	// at least 2048 bits.
	Signer crypto.Signer
	// Cert is the TSA certificate. It must carry the extended key usage
	// extension, marked critical, with only id-kp-timeStamping.
	Cert *x509.Certificate
	// Chain holds the issuing CA certificate(s), Chain[0] having issued
	// Cert. They are included with Cert when the request sets certReq.
	Chain []*x509.Certificate
	// Policy is the TSA policy put in every token; a request naming
	// another policy is rejected with unacceptedPolicy.
	Policy asn1.ObjectIdentifier
	// Accuracy is encoded as Accuracy{seconds, millis, micros}, rounded up
	// to a microsecond; zero omits it. It also sets the precision of
	// genTime: whole seconds if Accuracy is zero or at least 10 s,
	// milliseconds if at least 10 ms, microseconds otherwise.
	Accuracy time.Duration
	// Serials supplies the token serial numbers.
	Serials SerialSource
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// ErrorLog receives internal failures that ServeHTTP answers with
	// systemFailure; nil means the log package's standard logger.
	ErrorLog *log.Logger

	p *prepared
}

// prepared holds the DER pieces computed once by NewAuthority.
type prepared struct {
	hash      crypto.Hash
	sigAlg    x509.SignatureAlgorithm
	digestAlg []byte // AlgorithmIdentifier, absent parameters
	sigAlgID  []byte // AlgorithmIdentifier
	sid       []byte // IssuerAndSerialNumber
	essAttr   []byte // signingCertificateV2 Attribute
	certs     []byte // [0] IMPLICIT CertificateSet (DER-sorted)
	policy    []byte
	tsaName   []byte // [0] EXPLICIT GeneralName (directoryName)
	accuracy  []byte // Accuracy, nil if zero
	precision time.Duration
}

// NewAuthority validates a and returns a ready Authority.
func NewAuthority(a Authority) (*Authority, error) {
	if a.Signer == nil {
		return nil, errors.New("tsa: Authority.Signer is required")
	}
	if a.Cert == nil {
		return nil, errors.New("tsa: Authority.Cert is required")
	}
	if a.Serials == nil {
		return nil, errors.New("tsa: Authority.Serials is required")
	}
	if len(a.Policy) == 0 {
		return nil, errors.New("tsa: Authority.Policy is required")
	}
	if a.Accuracy < 0 {
		return nil, errors.New("tsa: Authority.Accuracy must not be negative")
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	pub, ok := a.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(a.Cert.PublicKey) {
		return nil, errors.New("tsa: Authority.Signer's public key does not match Authority.Cert")
	}
	if err := checkTSACert(a.Cert); err != nil {
		return nil, err
	}
	now := a.Now()
	if now.Before(a.Cert.NotBefore) || now.After(a.Cert.NotAfter) {
		return nil, fmt.Errorf("tsa: certificate is not valid at %v (valid from %v to %v)", now.UTC(), a.Cert.NotBefore, a.Cert.NotAfter)
	}
	issued := a.Cert
	for i, c := range a.Chain {
		if c == nil {
			return nil, fmt.Errorf("tsa: Authority.Chain[%d] is nil", i)
		}
		if err := issued.CheckSignatureFrom(c); err != nil {
			return nil, fmt.Errorf("tsa: Authority.Chain[%d] did not issue the certificate before it: %v", i, err)
		}
		issued = c
	}
	p, err := prepare(&a)
	if err != nil {
		return nil, err
	}
	a.Chain = slices.Clone(a.Chain)
	a.Policy = slices.Clone(a.Policy)
	a.p = p
	return &a, nil
}

// prepare checks the key type and precomputes the DER pieces of tokens.
func prepare(a *Authority) (*prepared, error) {
	p := new(prepared)
	switch k := a.Cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			p.hash, p.sigAlg = crypto.SHA256, x509.ECDSAWithSHA256
		case elliptic.P384():
			p.hash, p.sigAlg = crypto.SHA384, x509.ECDSAWithSHA384
		default:
			return nil, fmt.Errorf("tsa: unsupported ECDSA curve %s (want P-256 or P-384)", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("tsa: RSA key of %d bits is too small (want at least 2048)", k.N.BitLen())
		}
		p.hash, p.sigAlg = crypto.SHA256, x509.SHA256WithRSA
	default:
		return nil, fmt.Errorf("tsa: unsupported TSA key type %T (want ECDSA P-256/P-384 or RSA)", a.Cert.PublicKey)
	}
	p.sigAlgID, _ = der.SignatureID(p.sigAlg) // one of the algorithms it knows
	if a.Cert.SerialNumber == nil {
		return nil, errors.New("tsa: Authority.Cert has no serial number")
	}
	var err error
	if p.policy, err = der.OID(a.Policy); err != nil {
		return nil, fmt.Errorf("tsa: Authority.Policy: %w", err)
	}
	if p.digestAlg, err = hashAlgorithmID(p.hash, false); err != nil {
		return nil, err
	}
	p.sid = der.TLV(der.TagSequence, a.Cert.RawIssuer, der.Integer(a.Cert.SerialNumber))

	// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 }
	// ESSCertIDv2 ::= SEQUENCE { certHash, issuerSerial } (hashAlgorithm
	// is SHA-256, the DEFAULT, hence omitted in DER).
	certHash := sha256.Sum256(a.Cert.Raw)
	issuerSerial := der.TLV(der.TagSequence,
		der.TLV(der.TagSequence, der.TLV(der.ContextCons(4), a.Cert.RawIssuer)),
		der.Integer(a.Cert.SerialNumber))
	essCertID := der.TLV(der.TagSequence, der.TLV(der.TagOctetString, certHash[:]), issuerSerial)
	p.essAttr = der.TLV(der.TagSequence, oidSigningCertV2DER, der.TLV(der.TagSet, der.TLV(der.TagSequence, der.TLV(der.TagSequence, essCertID))))

	raws := [][]byte{a.Cert.Raw}
	for _, c := range a.Chain {
		raws = append(raws, c.Raw)
	}
	slices.SortFunc(raws, bytes.Compare)
	p.certs = der.TLV(der.ContextCons(0), raws...)
	p.tsaName = der.TLV(der.ContextCons(0), der.TLV(der.ContextCons(4), a.Cert.RawSubject))

	p.precision = time.Second
	if a.Accuracy > 0 {
		p.accuracy = encodeAccuracy(a.Accuracy)
		if a.Accuracy < 10*time.Second {
			p.precision = time.Millisecond
		}
		if a.Accuracy < 10*time.Millisecond {
			p.precision = time.Microsecond
		}
	}
	return p, nil
}

// encodeAccuracy encodes d, rounded up to a microsecond, as
// Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL,
// millis [0] INTEGER (1..999) OPTIONAL, micros [1] INTEGER (1..999) OPTIONAL }.
func encodeAccuracy(d time.Duration) []byte {
	us := int64((d + time.Microsecond - 1) / time.Microsecond)
	secs, millis, micros := us/1_000_000, (us/1000)%1000, us%1000
	var parts [][]byte
	if secs > 0 {
		parts = append(parts, der.Int(secs))
	}
	if millis > 0 {
		parts = append(parts, der.TLV(der.Context(0), der.Int(millis)[2:]))
	}
	if micros > 0 {
		parts = append(parts, der.TLV(der.Context(1), der.Int(micros)[2:]))
	}
	return der.TLV(der.TagSequence, parts...)
}

// Respond answers req. A request the authority cannot grant gets a
// rejection response (status 2 with failInfo and statusString) and a nil
// error. A non-nil error reports an internal failure (serial source,
// signer); ServeHTTP answers it with systemFailure.
func (a *Authority) Respond(req *Request) (*Response, error) {
	if a == nil || a.p == nil {
		return nil, errors.New("tsa: Authority must be created with NewAuthority")
	}
	if req == nil {
		return nil, errors.New("tsa: nil request")
	}
	if !strongHash(req.HashAlgorithm) {
		return rejection(FailBadAlg, fmt.Sprintf("unsupported hash algorithm %v (use SHA-256, SHA-384 or SHA-512)", req.HashAlgorithm)), nil
	}
	if len(req.HashedMessage) != req.HashAlgorithm.Size() {
		return rejection(FailBadDataFormat, fmt.Sprintf("hashed message is %d bytes, %v needs %d", len(req.HashedMessage), req.HashAlgorithm, req.HashAlgorithm.Size())), nil
	}
	if len(req.Policy) > 0 && !req.Policy.Equal(a.Policy) {
		return rejection(FailUnacceptedPolicy, fmt.Sprintf("policy %v is not supported (this authority uses %v)", req.Policy, a.Policy)), nil
	}
	imprintAlg, err := req.imprintAlgorithm()
	if err != nil {
		return rejection(FailBadAlg, err.Error()), nil
	}

	genTime := a.Now().UTC().Truncate(a.p.precision)
	if genTime.Before(a.Cert.NotBefore) || genTime.After(a.Cert.NotAfter) {
		return nil, fmt.Errorf("tsa: certificate is not valid at %v", genTime)
	}
	serial, err := a.Serials.Next()
	if err != nil {
		return nil, fmt.Errorf("tsa: serial number: %w", err)
	}
	if serial == nil || serial.Sign() <= 0 {
		return nil, errors.New("tsa: serial source returned a non-positive serial number")
	}

	genTimeDER, err := der.GeneralizedTime(genTime)
	if err != nil {
		return nil, fmt.Errorf("tsa: genTime: %w", err)
	}
	tst := [][]byte{
		derIntegerOne,
		a.p.policy,
		der.TLV(der.TagSequence, imprintAlg, der.TLV(der.TagOctetString, req.HashedMessage)),
		der.Integer(serial),
		genTimeDER,
	}
	if a.p.accuracy != nil {
		tst = append(tst, a.p.accuracy)
	}
	if req.Nonce != nil {
		tst = append(tst, der.Integer(req.Nonce))
	}
	tst = append(tst, a.p.tsaName)
	token, err := a.sign(der.TLV(der.TagSequence, tst...), genTime, req.CertReq)
	if err != nil {
		return nil, err
	}
	return &Response{Status: StatusGranted, FailInfo: -1, Token: token}, nil
}

// sign wraps the DER TSTInfo in a CMS SignedData ContentInfo.
func (a *Authority) sign(tstInfo []byte, genTime time.Time, certReq bool) ([]byte, error) {
	p := a.p
	d := p.hash.New()
	d.Write(tstInfo)
	signingTime, err := der.Time(genTime) // UTCTime for 1950..2049
	if err != nil {
		return nil, fmt.Errorf("tsa: signingTime: %w", err)
	}
	attrs := [][]byte{
		der.TLV(der.TagSequence, oidContentTypeDER, der.TLV(der.TagSet, oidTSTInfoDER)),
		der.TLV(der.TagSequence, oidSigningTimeDER, der.TLV(der.TagSet, signingTime)),
		der.TLV(der.TagSequence, oidMsgDigestDER, der.TLV(der.TagSet, der.TLV(der.TagOctetString, d.Sum(nil)))),
		p.essAttr,
	}
	slices.SortFunc(attrs, bytes.Compare) // DER SET OF order
	signed := der.TLV(der.TagSet, attrs...)
	d = p.hash.New()
	d.Write(signed)
	sig, err := a.Signer.Sign(rand.Reader, d.Sum(nil), p.hash)
	if err != nil {
		return nil, fmt.Errorf("tsa: signing: %w", err)
	}
	// Guard against faulty signers (wrong key, hardware faults).
	if err := a.Cert.CheckSignature(p.sigAlg, signed, sig); err != nil {
		return nil, fmt.Errorf("tsa: signer produced an invalid signature: %w", err)
	}
	signerInfo := der.TLV(der.TagSequence,
		derIntegerOne,
		p.sid,
		p.digestAlg,
		der.TLV(der.ContextCons(0), attrs...),
		p.sigAlgID,
		der.TLV(der.TagOctetString, sig))
	sd := [][]byte{
		der.Int(3),
		der.TLV(der.TagSet, p.digestAlg),
		der.TLV(der.TagSequence, oidTSTInfoDER, der.TLV(der.ContextCons(0), der.TLV(der.TagOctetString, tstInfo))),
	}
	if certReq {
		sd = append(sd, p.certs)
	}
	sd = append(sd, der.TLV(der.TagSet, signerInfo))
	return der.TLV(der.TagSequence, oidSignedDataDER, der.TLV(der.ContextCons(0), der.TLV(der.TagSequence, sd...))), nil
}
