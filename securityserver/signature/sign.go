package signature

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluz/sluz/internal/c14n"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The document is written from byte templates: every element is written in
// its canonical form (attributes in C14N order, empty elements as start and
// end tag, text escaped as C14N escapes it), so the canonical form of
// SignedProperties and SignedInfo is the document's own bytes with the
// root's namespace declarations added to the start tag. Nothing is parsed or
// re-serialised.

const (
	xmlDeclaration = `<?xml version="1.0" encoding="UTF-8" standalone="no"?>`
	rootOpen       = `<asic:XAdESSignatures xmlns:asic="` + nsASiC + `" xmlns:ds="` + nsDS +
		`" xmlns:xades="` + nsXAdES + `" xmlns:xsi="` + nsXSI + `">`
	rootClose = `</asic:XAdESSignatures>`
	// inheritedNS is what inclusive C14N writes on an apex below the root:
	// the root's declarations, sorted by prefix.
	inheritedNS = ` xmlns:asic="` + nsASiC + `" xmlns:ds="` + nsDS + `" xmlns:xades="` + nsXAdES +
		`" xmlns:xsi="` + nsXSI + `"`

	signedPropertiesID = "signed-properties"
	messageRefID       = "signature-reference-0"
	propertiesRefID    = "signature-reference-1"

	digestMethodSHA512 = `<ds:DigestMethod Algorithm="` + digestSHA512 + `"></ds:DigestMethod>`

	// The segments of the document between the values Sign writes, in
	// document order; fastRead matches them literally.
	docStart         = xmlDeclaration + rootOpen + `<ds:Signature Id="signature"><ds:SignedInfo`
	siStart          = `><ds:CanonicalizationMethod Algorithm="` + algC14N + `"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="`
	afterMethod      = `"></ds:SignatureMethod><ds:Reference Id="` + messageRefID + `" URI="`
	afterPartURI     = `">` + digestMethodSHA512 + `<ds:DigestValue>`
	afterPartDigest  = `</ds:DigestValue></ds:Reference><ds:Reference Id="` + propertiesRefID + `" Type="` + typeSignedProperties + `" URI="#` + signedPropertiesID + `">` + digestMethodSHA512 + `<ds:DigestValue>`
	siEnd            = `</ds:DigestValue></ds:Reference></ds:SignedInfo>`
	sigValueStart    = `<ds:SignatureValue Id="signature-value">`
	afterValue       = `</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>`
	afterCertificate = `</ds:X509Certificate></ds:X509Data></ds:KeyInfo><ds:Object><xades:QualifyingProperties Target="#signature"><xades:SignedProperties`
	spStart          = ` Id="` + signedPropertiesID + `"><xades:SignedSignatureProperties><xades:SigningTime>`
	afterSigningTime = `</xades:SigningTime><xades:SigningCertificate><xades:Cert>`
	certIDStart      = `<xades:CertDigest>` + digestMethodSHA512 + `<ds:DigestValue>`
	afterCertDigest  = `</ds:DigestValue></xades:CertDigest><xades:IssuerSerial><ds:X509IssuerName>`
	afterIssuerName  = `</ds:X509IssuerName><ds:X509SerialNumber>`
	certIDEnd        = `</ds:X509SerialNumber></xades:IssuerSerial>`
	spEnd            = `</xades:MimeType></xades:DataObjectFormat></xades:SignedDataObjectProperties></xades:SignedProperties>`
	unsignedStart    = `<xades:UnsignedProperties><xades:UnsignedSignatureProperties>`
	certRefsStart    = `<xades:CompleteCertificateRefs Id="complete-certificate-refs"><xades:CertRefs>`
	certRefStart     = `<xades:Cert URI="#encapsulated-cert-`
	certRefEnd       = `</xades:Cert>`
	certValuesStart  = `</xades:CertRefs></xades:CompleteCertificateRefs><xades:CertificateValues>`
	certValueStart   = `<xades:EncapsulatedX509Certificate Id="encapsulated-cert-`
	certValueEnd     = `</xades:EncapsulatedX509Certificate>`
	certValuesEnd    = `</xades:CertificateValues>`
	ocspStart        = `<xades:RevocationValues><xades:OCSPValues>`
	ocspValueStart   = `<xades:EncapsulatedOCSPValue Id="ocsp-response-`
	ocspValueEnd     = `</xades:EncapsulatedOCSPValue>`
	ocspEnd          = `</xades:OCSPValues></xades:RevocationValues></xades:UnsignedSignatureProperties></xades:UnsignedProperties></xades:QualifyingProperties></ds:Object></ds:Signature>` + rootClose

	// afterSigningCert is what SignedProperties holds between the signing
	// certificate's IssuerSerial and the MIME type of the part.
	afterSigningCert = `</xades:Cert></xades:SigningCertificate>` +
		`<xades:SignaturePolicyIdentifier><xades:SignaturePolicyId><xades:SigPolicyId>` +
		`<xades:Identifier Qualifier="OIDAsURN">` + policyIdentifier + `</xades:Identifier>` +
		`<xades:Description>` + policyDescription + `</xades:Description></xades:SigPolicyId>` +
		`<xades:SigPolicyHash>` + digestMethodSHA512 + `<ds:DigestValue>` + policyDigest + `</ds:DigestValue></xades:SigPolicyHash>` +
		`<xades:SigPolicyQualifiers><xades:SigPolicyQualifier><xades:SPURI>` + policySPURI + `</xades:SPURI>` +
		`</xades:SigPolicyQualifier></xades:SigPolicyQualifiers></xades:SignaturePolicyId></xades:SignaturePolicyIdentifier>` +
		`</xades:SignedSignatureProperties><xades:SignedDataObjectProperties>` +
		`<xades:DataObjectFormat ObjectReference="#` + messageRefID + `"><xades:MimeType>`
)

// Sign returns the bytes of signatures.xml for one message: an X-Road
// asic:XAdESSignatures document holding one detached XAdES signature, in
// the layout X-Road's SignatureXmlBuilder writes (xroad-protocols.md §3).
//
// SignedInfo (inclusive C14N 1.0) references msg.URI, with the SHA-512
// digest of msg.Data exactly as given, and #signed-properties. The signed
// properties hold now as SigningTime (UTC, milliseconds), the
// SigningCertificate (SHA-512 CertDigest and IssuerSerial, the issuer
// written as Java's RFC 2253 form), X-Road's SignaturePolicyIdentifier and
// msg.MimeType. KeyInfo carries Cert; UnsignedProperties carry Extra (with
// CompleteCertificateRefs) and the OCSP responses as
// EncapsulatedOCSPValue Id="ocsp-response-1", -2, … as X-Road numbers them.
//
// ECDSA keys sign with ecdsa-sha512 and the value is raw r||s, each half
// left-padded to the curve size; RSA keys sign with rsa-sha512.
//
// Sign fails if Cert lacks the nonRepudiation key usage (wrapping
// ErrCertificate), if Key does not belong to Cert, if OCSP is empty, or if
// msg is not a single part with a URI like "/message.xml".
func (s *Signer) Sign(msg Part, now time.Time) ([]byte, error) {
	if s.Cert == nil || s.Key == nil {
		return nil, errors.New("signature: the signer has no certificate or no key")
	}
	if s.Cert.KeyUsage&x509.KeyUsageContentCommitment == 0 {
		return nil, fmt.Errorf("%w: certificate %s has no nonRepudiation key usage, so X-Road peers would reject its signatures: use a signing certificate", ErrCertificate, s.Cert.Subject)
	}
	return s.sign(msg, now)
}

// sign is Sign without the key usage check (tests use it to make
// signatures that Verify must refuse).
func (s *Signer) sign(msg Part, now time.Time) ([]byte, error) {
	if err := checkPart(msg); err != nil {
		return nil, err
	}
	if len(s.OCSP) == 0 {
		return nil, errors.New("signature: the signer has no OCSP response for its certificate; X-Road requires one in every signature")
	}
	if len(s.ExtraOCSP) > 0 && len(s.Extra) == 0 {
		return nil, errors.New("signature: ExtraOCSP is set but Extra holds no certificates")
	}
	for i, o := range s.ExtraOCSP {
		if len(o) == 0 {
			return nil, fmt.Errorf("signature: ExtraOCSP[%d] is empty", i)
		}
	}
	if slices.Contains(s.Extra, nil) {
		return nil, errors.New("signature: Extra holds a nil certificate")
	}
	method, curveSize, err := signatureMethodFor(s.Key, s.Cert)
	if err != nil {
		return nil, err
	}
	fixed, err := s.rendered()
	if err != nil {
		return nil, err
	}

	// SignedProperties, canonical form (the apex carries the inherited
	// namespace declarations before its Id attribute).
	scratch := scratches.Get().(*signScratch)
	defer scratch.release()
	sp := scratch.sp[:0]
	sp = append(sp, `<xades:SignedProperties`+inheritedNS...)
	spBody := len(sp)
	sp = append(sp, spStart...)
	sp = now.UTC().AppendFormat(sp, "2006-01-02T15:04:05.000Z")
	sp = append(sp, afterSigningTime...)
	if sp, err = appendCertID(sp, s.Cert); err != nil {
		return nil, err
	}
	sp = append(sp, afterSigningCert...)
	sp = c14n.AppendEscapedText(sp, msg.MimeType)
	sp = append(sp, spEnd...)
	spDigest := sha512.Sum512(sp)
	msgDigest := signedDigest(msg)

	// SignedInfo, canonical form.
	si := scratch.si[:0]
	si = append(si, `<ds:SignedInfo`+inheritedNS...)
	siBody := len(si)
	si = append(si, siStart...)
	si = append(si, method...)
	si = append(si, afterMethod...)
	si = append(si, msg.URI...)
	si = append(si, afterPartURI...)
	si = base64.StdEncoding.AppendEncode(si, msgDigest[:])
	si = append(si, afterPartDigest...)
	si = base64.StdEncoding.AppendEncode(si, spDigest[:])
	si = append(si, siEnd...)

	scratch.sp, scratch.si = sp, si
	siDigest := sha512.Sum512(si)
	sigValue, err := s.Key.Sign(rand.Reader, siDigest[:], crypto.SHA512)
	if err != nil {
		return nil, fmt.Errorf("signature: signing with the key of %s: %w", s.Cert.Subject, err)
	}
	if curveSize > 0 {
		if sigValue, err = rawECDSA(sigValue, curveSize); err != nil {
			return nil, err
		}
	}

	out := make([]byte, 0, len(docStart)+len(si)-siBody+len(sigValueStart)+base64.StdEncoding.EncodedLen(len(sigValue))+
		len(fixed.keyInfo)+len(sp)-spBody+len(fixed.unsigned))
	out = append(out, docStart...)
	out = append(out, si[siBody:]...)
	out = append(out, sigValueStart...)
	out = base64.StdEncoding.AppendEncode(out, sigValue)
	out = append(out, fixed.keyInfo...)
	out = append(out, sp[spBody:]...)
	out = append(out, fixed.unsigned...)
	return out, nil
}

// signScratch holds the canonical SignedProperties and SignedInfo while a
// document is made.
type signScratch struct{ sp, si []byte }

var scratches = sync.Pool{New: func() any { return &signScratch{sp: make([]byte, 0, 2048), si: make([]byte, 0, 1024)} }}

func (s *signScratch) release() {
	if cap(s.sp)+cap(s.si) <= 1<<16 {
		scratches.Put(s)
	}
}

// rendering is what a signature document holds that depends only on the
// signer's certificates and OCSP responses: KeyInfo (from the end of the
// signature value to SignedProperties) and UnsignedProperties to the end
// of the document.
type rendering struct {
	keyInfo, unsigned []byte
}

// renderings caches them by the certificates' and responses' bytes: a
// security server signs every message of a member with the same ones
// until its OCSP response is refreshed, and encoding them is about a
// third of what signing costs besides the key operation.
var renderings struct {
	sync.RWMutex
	m map[string]*rendering // by renderingKey
}

// maxRenderings bounds renderings; when full it starts again.
const maxRenderings = 128

var renderingKeys = sync.Pool{New: func() any { return new([]byte) }}

// rendered returns s's rendering, from the cache if it holds it.
func (s *Signer) rendered() (*rendering, error) {
	kb := renderingKeys.Get().(*[]byte)
	defer func() {
		if cap(*kb) <= 1<<16 {
			renderingKeys.Put(kb)
		}
	}()
	key := s.renderingKey((*kb)[:0])
	*kb = key
	renderings.RLock()
	r := renderings.m[string(key)]
	renderings.RUnlock()
	if r != nil {
		return r, nil
	}
	r, err := s.render()
	if err != nil {
		return nil, err
	}
	renderings.Lock()
	if len(renderings.m) >= maxRenderings || renderings.m == nil {
		renderings.m = map[string]*rendering{}
	}
	renderings.m[string(key)] = r
	renderings.Unlock()
	return r, nil
}

// renderingKey appends what the rendering of s depends on, each value
// preceded by its length and each list by its count.
func (s *Signer) renderingKey(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s.Cert.Raw)))
	b = append(b, s.Cert.Raw...)
	b = binary.AppendUvarint(b, uint64(len(s.OCSP)))
	b = append(b, s.OCSP...)
	b = binary.AppendUvarint(b, uint64(len(s.Extra)))
	for _, c := range s.Extra {
		b = binary.AppendUvarint(b, uint64(len(c.Raw)))
		b = append(b, c.Raw...)
	}
	b = binary.AppendUvarint(b, uint64(len(s.ExtraOCSP)))
	for _, o := range s.ExtraOCSP {
		b = binary.AppendUvarint(b, uint64(len(o)))
		b = append(b, o...)
	}
	return b
}

// render writes s's rendering.
func (s *Signer) render() (*rendering, error) {
	r := &rendering{}
	r.keyInfo = append(r.keyInfo, afterValue...)
	r.keyInfo = base64.StdEncoding.AppendEncode(r.keyInfo, s.Cert.Raw)
	r.keyInfo = append(r.keyInfo, afterCertificate...)

	out := append([]byte(nil), unsignedStart...)
	if len(s.Extra) > 0 {
		out = append(out, certRefsStart...)
		for i, c := range s.Extra {
			out = append(out, certRefStart...)
			out = strconv.AppendInt(out, int64(i+1), 10)
			out = append(out, `">`...)
			var err error
			if out, err = appendCertID(out, c); err != nil {
				return nil, err
			}
			out = append(out, certRefEnd...)
		}
		out = append(out, certValuesStart...)
		for i, c := range s.Extra {
			out = append(out, certValueStart...)
			out = strconv.AppendInt(out, int64(i+1), 10)
			out = append(out, `">`...)
			out = base64.StdEncoding.AppendEncode(out, c.Raw)
			out = append(out, certValueEnd...)
		}
		out = append(out, certValuesEnd...)
	}
	out = append(out, ocspStart...)
	for i := range 1 + len(s.ExtraOCSP) {
		o := s.OCSP
		if i > 0 {
			o = s.ExtraOCSP[i-1]
		}
		out = append(out, ocspValueStart...)
		out = strconv.AppendInt(out, int64(i+1), 10)
		out = append(out, `">`...)
		out = base64.StdEncoding.AppendEncode(out, o)
		out = append(out, ocspValueEnd...)
	}
	r.unsigned = append(out, ocspEnd...)
	return r, nil
}

// checkPart accepts the parts Sign can name: a URI of the form /name made
// of letters, digits and . _ - (X-Road's /message.xml, /attachmentN,
// /sig-hashchainresult.xml), and a MIME type that is valid XML text.
func checkPart(p Part) error {
	if len(p.URI) < 2 || p.URI[0] != '/' {
		return fmt.Errorf("signature: part URI %q is not of the form /name: X-Road signs the message as %s", p.URI, MessageURI)
	}
	for i := 1; i < len(p.URI); i++ {
		c := p.URI[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("signature: part URI %q has the character %q; use letters, digits and . _ - after the /", p.URI, c)
		}
	}
	if p.MimeType == "" {
		return fmt.Errorf("signature: part %s has no MIME type: X-Road writes text/xml for the SOAP message", p.URI)
	}
	if !isXMLText(p.MimeType) {
		return fmt.Errorf("signature: the MIME type %q of part %s is not valid XML text", p.MimeType, p.URI)
	}
	return nil
}

// isXMLText reports whether s is UTF-8 made of characters XML 1.0 allows.
func isXMLText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

// appendCertID appends CertDigest (SHA-512 of the DER certificate) and
// IssuerSerial (Java RFC 2253 issuer, decimal serial), as X-Road writes
// them in SigningCertificate and CompleteCertificateRefs.
func appendCertID(b []byte, c *x509.Certificate) ([]byte, error) {
	certIDs.Lock()
	id, ok := certIDs.m[string(c.Raw)]
	certIDs.Unlock()
	if ok {
		return append(b, id...), nil
	}
	issuer, err := javaRFC2253(c.RawIssuer)
	if err != nil {
		return nil, fmt.Errorf("signature: the issuer name of certificate %s cannot be read: %w", c.Subject, err)
	}
	if !isXMLText(issuer) {
		return nil, fmt.Errorf("signature: the issuer name of certificate %s has a character XML cannot carry", c.Subject)
	}
	d := sha512.Sum512(c.Raw)
	id = append(id, certIDStart...)
	id = base64.StdEncoding.AppendEncode(id, d[:])
	id = append(id, afterCertDigest...)
	id = c14n.AppendEscapedText(id, issuer)
	id = append(id, afterIssuerName...)
	id = c.SerialNumber.Append(id, 10)
	id = append(id, certIDEnd...)

	certIDs.Lock()
	if len(certIDs.m) >= 64 || certIDs.m == nil {
		certIDs.m = map[string][]byte{}
	}
	certIDs.m[string(c.Raw)] = id
	certIDs.Unlock()
	return append(b, id...), nil
}

// certIDs caches appendCertID's output for the few certificates a
// security server signs with (rendering it costs about a tenth of a
// signature).
var certIDs struct {
	sync.Mutex
	m map[string][]byte // by DER certificate
}

// signatureMethodFor returns the SignatureMethod for key and, for ECDSA,
// the size in bytes of each half of a raw signature value.
func signatureMethodFor(key crypto.Signer, cert *x509.Certificate) (string, int, error) {
	pub := key.Public()
	if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(cert.PublicKey) {
		return "", 0, fmt.Errorf("signature: the key does not belong to certificate %s", cert.Subject)
	}
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		return sigECDSASHA512, (pub.Curve.Params().BitSize + 7) / 8, nil
	case *rsa.PublicKey:
		return sigRSASHA512, 0, nil
	}
	return "", 0, fmt.Errorf("signature: %T keys cannot sign X-Road messages: use ECDSA or RSA", pub)
}

// rawECDSA turns an ASN.1 DER ECDSA signature into the XML-DSig form r||s,
// each half left-padded to size bytes. A value that is already raw is
// returned as is.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, cbasn1.INTEGER) || !seq.ReadASN1(&s, cbasn1.INTEGER) || !seq.Empty() {
		if len(der) == 2*size {
			return der, nil
		}
		return nil, errors.New("signature: the ECDSA key returned a signature that is neither DER nor raw r||s")
	}
	out := make([]byte, 2*size)
	for i, v := range [][]byte{r, s} {
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, errors.New("signature: the ECDSA key returned an integer longer than its curve")
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
	}
	return out, nil
}
