package globalconf

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/xmltok"
	"github.com/sluz/sluz/pkiutil"
)

// Build validates c, writes it as a global configuration document and signs
// it with signer, whose certificate cert is put in KeyInfo: ECDSA P-256 keys
// sign with ecdsa-sha256, RSA keys (2048 bits or more) with rsa-sha256. The
// document is serialised once; the returned bytes are the ones that were
// digested and signed, and Build checks them with the verifier before
// returning them. c is not modified.
//
// Times are written in UTC with millisecond precision (finer parts are
// dropped) and lists in a canonical order (see the package documentation), so
// the same Conf always gives the same bytes apart from the signature value.
func Build(c *Conf, signer crypto.Signer, cert *x509.Certificate) ([]byte, error) {
	if c == nil || signer == nil || cert == nil {
		return nil, errors.New("build global configuration: configuration, signing key and certificate are all required")
	}
	method, err := signatureMethod(cert.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("build global configuration: signing certificate %s: %w", cert.Subject, err)
	}
	if !pkiutil.KeyMatches(cert, signer) {
		return nil, fmt.Errorf("build global configuration: the signing key does not belong to certificate %s", cert.Subject)
	}
	n := c.normalized()
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("build global configuration: %w", err)
	}
	doc := n.buildTree()
	root := doc.Root()

	sig := root.CreateElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", dsigNS)
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", algC14N10)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", method)
	ref := si.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "")
	tr := ref.CreateElement("ds:Transforms")
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", algEnveloped)
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", algC14N10)
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", algSHA256)
	digestValue := ref.CreateElement("ds:DigestValue")
	sigValue := sig.CreateElement("ds:SignatureValue")
	leaf(sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data"), "ds:X509Certificate", b64.EncodeToString(cert.Raw))

	// Whitespace is signed: indent first, then digest and sign.
	indent := etree.NewIndentSettings()
	indent.Spaces = 1
	indent.PreserveLeafWhitespace = true
	doc.IndentWithSettings(indent)

	digest := sha256.Sum256(canonicalize(root, sig))
	digestValue.SetText(b64.EncodeToString(digest[:]))
	value, err := signSignedInfo(signer, method, canonicalize(si, nil))
	if err != nil {
		return nil, fmt.Errorf("build global configuration: sign: %w", err)
	}
	sigValue.SetText(b64.EncodeToString(value))

	out, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("build global configuration: %w", err)
	}
	out = append(out, '\n')
	if _, _, err := verifySignature(out, cert); err != nil {
		return nil, fmt.Errorf("build global configuration: the signed document does not verify, so the signer is faulty: %w", err)
	}
	return out, nil
}

// signatureMethod picks the XML-DSig SignatureMethod for a public key.
func signatureMethod(pub crypto.PublicKey) (string, error) {
	kt, err := pkiutil.KeyTypeOf(pub)
	if err != nil {
		return "", err
	}
	if kt == pkiutil.KeyRSA2048 {
		return algRSASHA256, nil
	}
	return algECDSASHA256, nil
}

// signSignedInfo signs the canonical SignedInfo. An ECDSA value is the raw
// r||s of XML-DSig, each half left-padded to 32 bytes (crypto.Signer
// returns DER).
func signSignedInfo(signer crypto.Signer, method string, canonical []byte) ([]byte, error) {
	h := sha256.Sum256(canonical)
	sig, err := signer.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	if method != algECDSASHA256 {
		return sig, nil
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil {
		return nil, errors.New("the ECDSA signer returned a value that is not an ASN.1 (r, s) pair")
	}
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, errors.New("the ECDSA signer returned an out-of-range value")
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

// signatureParts are the parts of a parsed ds:Signature.
type signatureParts struct {
	signature  *etree.Element
	signedInfo *etree.Element
	method     string
	digest     []byte
	value      []byte
	cert       []byte // DER of the X509Certificate in KeyInfo
}

// Verify checks a global configuration document against the anchor and
// returns its content. It parses strictly (see the package documentation),
// requires the certificate in KeyInfo to be the anchor's certificate, checks
// the digest over the canonical form of the received document without the
// signature, the signature value over the canonical SignedInfo, the signed
// content's rules (as Build's), the instance, and the expiry. The error
// wraps ErrMalformed, ErrSigner, ErrSignature, ErrInstance or ErrExpired; an
// expired configuration is returned together with ErrExpired.
func Verify(data []byte, a *Anchor, now time.Time) (*Conf, error) {
	c, _, err := verify(data, a, now)
	return c, err
}

// verify is Verify that also returns the digest of the signed content,
// which identifies the content whatever the signature value.
func verify(data []byte, a *Anchor, now time.Time) (*Conf, []byte, error) {
	if a == nil || a.Cert == nil {
		return nil, nil, errors.New("verify global configuration: no anchor certificate given")
	}
	doc, digest, err := verifySignature(data, a.Cert)
	if err != nil {
		return nil, nil, err
	}
	c, err := parseConf(doc.Root())
	if err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: the signed content is invalid: %v", ErrMalformed, err)
	}
	if c.Instance != a.Instance {
		return nil, nil, fmt.Errorf("%w: it is for instance %q, the anchor for %q", ErrInstance, c.Instance, a.Instance)
	}
	if now.After(c.Expires) {
		return c, digest, fmt.Errorf("%w: version %d expired at %s (now %s)", ErrExpired, c.Version, fmtTime(c.Expires), fmtTime(now))
	}
	return c, digest, nil
}

// verifySignature parses data strictly and checks its signature against
// cert, the only certificate accepted.
func verifySignature(data []byte, cert *x509.Certificate) (*etree.Document, []byte, error) {
	doc, err := readDocument(data)
	if err != nil {
		return nil, nil, err
	}
	p, err := parseSignature(doc.Root())
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(p.cert, cert.Raw) {
		who := "an unparsable certificate"
		if c, err := x509.ParseCertificate(p.cert); err == nil {
			who = fmt.Sprintf("%q (serial %x)", c.Subject.String(), c.SerialNumber)
		}
		return nil, nil, fmt.Errorf("%w: it is signed with %s, the anchor holds %q (serial %x)", ErrSigner, who, cert.Subject.String(), cert.SerialNumber)
	}
	want, err := signatureMethod(cert.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: anchor certificate: %v", ErrSigner, err)
	}
	if p.method != want {
		return nil, nil, fmt.Errorf("%w: signature method %s does not fit the anchor's key (%s expected)", ErrSignature, p.method, want)
	}
	digest := sha256.Sum256(canonicalize(doc.Root(), p.signature))
	if !bytes.Equal(digest[:], p.digest) {
		return nil, nil, fmt.Errorf("%w: the document's digest differs from the signed one (the content was changed)", ErrSignature)
	}
	h := sha256.Sum256(canonicalize(p.signedInfo, nil))
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if len(p.value) != 64 {
			return nil, nil, fmt.Errorf("%w: an ecdsa-sha256 P-256 signature value has 64 bytes, not %d", ErrSignature, len(p.value))
		}
		r, s := new(big.Int).SetBytes(p.value[:32]), new(big.Int).SetBytes(p.value[32:])
		if !ecdsa.Verify(pub, h[:], r, s) {
			return nil, nil, fmt.Errorf("%w: the signature value does not match SignedInfo", ErrSignature)
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], p.value); err != nil {
			return nil, nil, fmt.Errorf("%w: the signature value does not match SignedInfo", ErrSignature)
		}
	default:
		return nil, nil, fmt.Errorf("%w: the anchor's key type %T is not supported", ErrSigner, pub)
	}
	return doc, digest[:], nil
}

// parseSignature finds the one ds:Signature, which must be the last child
// element of root, and reads it strictly: one Reference to the whole
// document (URI=""), the enveloped-signature and C14N 1.0 transforms, SHA-256,
// ecdsa-sha256 or rsa-sha256, and one X509Certificate in KeyInfo.
func parseSignature(root *etree.Element) (*signatureParts, error) {
	var sigs []*etree.Element
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		if e.Tag == "Signature" && e.NamespaceURI() == dsigNS {
			sigs = append(sigs, e)
		}
		for _, c := range e.ChildElements() {
			walk(c)
		}
	}
	walk(root)
	switch {
	case len(sigs) == 0:
		return nil, malformed("the document has no ds:Signature: it is not signed")
	case len(sigs) > 1:
		return nil, malformed("the document has %d ds:Signature elements, want one", len(sigs))
	}
	sig := sigs[0]
	if kids := root.ChildElements(); len(kids) == 0 || kids[len(kids)-1] != sig {
		return nil, malformed("the ds:Signature is not the last child of the root element")
	}
	if err := onlyAttrs(sig); err != nil {
		return nil, err
	}
	p := &signatureParts{signature: sig}
	sc := children(sig)
	si, err := sc.next(dsigNS, "SignedInfo")
	if err != nil {
		return nil, err
	}
	if err := onlyAttrs(si); err != nil {
		return nil, err
	}
	p.signedInfo = si
	sic := children(si)
	if err := algorithm(sic, "CanonicalizationMethod", algC14N10); err != nil {
		return nil, err
	}
	sm, err := sic.next(dsigNS, "SignatureMethod")
	if err != nil {
		return nil, err
	}
	if err := emptyElement(sm, "Algorithm"); err != nil {
		return nil, err
	}
	switch p.method = sm.SelectAttrValue("Algorithm", ""); p.method {
	case algECDSASHA256, algRSASHA256:
	default:
		return nil, malformed("signature method %q is not accepted (want %s or %s)", p.method, algECDSASHA256, algRSASHA256)
	}
	ref, err := sic.next(dsigNS, "Reference")
	if err != nil {
		return nil, err
	}
	if err := onlyAttrs(ref, "URI"); err != nil {
		return nil, err
	}
	if uri := ref.SelectAttr("URI"); uri == nil || uri.Value != "" {
		return nil, malformed(`the ds:Reference must have URI="" (the whole document)`)
	}
	if err := sic.end(); err != nil {
		return nil, err // a second Reference, or anything else
	}
	rc := children(ref)
	tr, err := rc.next(dsigNS, "Transforms")
	if err != nil {
		return nil, err
	}
	if err := onlyAttrs(tr); err != nil {
		return nil, err
	}
	tc := children(tr)
	if err := algorithm(tc, "Transform", algEnveloped); err != nil {
		return nil, err
	}
	if err := algorithm(tc, "Transform", algC14N10); err != nil {
		return nil, err
	}
	if err := tc.end(); err != nil {
		return nil, err
	}
	if err := algorithm(rc, "DigestMethod", algSHA256); err != nil {
		return nil, err
	}
	if p.digest, err = base64Leaf(rc, dsigNS, "DigestValue"); err != nil {
		return nil, err
	}
	if len(p.digest) != sha256.Size {
		return nil, malformed("ds:DigestValue has %d bytes; a SHA-256 digest has 32", len(p.digest))
	}
	if err := rc.end(); err != nil {
		return nil, err
	}
	if p.value, err = base64Leaf(sc, dsigNS, "SignatureValue"); err != nil {
		return nil, err
	}
	ki, err := sc.next(dsigNS, "KeyInfo")
	if err != nil {
		return nil, err
	}
	if err := onlyAttrs(ki); err != nil {
		return nil, err
	}
	kc := children(ki)
	xd, err := kc.next(dsigNS, "X509Data")
	if err != nil {
		return nil, err
	}
	if err := onlyAttrs(xd); err != nil {
		return nil, err
	}
	if err := kc.end(); err != nil {
		return nil, err
	}
	xc := children(xd)
	if p.cert, err = base64Leaf(xc, dsigNS, "X509Certificate"); err != nil {
		return nil, err
	}
	if err := xc.end(); err != nil {
		return nil, err
	}
	if err := sc.end(); err != nil {
		return nil, err
	}
	return p, nil
}

// algorithm reads the next child ds:tag, an empty element whose Algorithm
// attribute must be want.
func algorithm(c *cursor, tag, want string) error {
	e, err := c.next(dsigNS, tag)
	if err != nil {
		return err
	}
	if err := emptyElement(e, "Algorithm"); err != nil {
		return err
	}
	if got := e.SelectAttrValue("Algorithm", ""); got != want {
		return malformed("ds:%s Algorithm %q is not accepted (want %s)", tag, got, want)
	}
	return nil
}

// emptyElement requires e to have only the attributes listed and no
// content except whitespace.
func emptyElement(e *etree.Element, attrs ...string) error {
	t, err := leafText(e, attrs...)
	if err != nil {
		return err
	}
	if !xmltok.IsSpace(t) {
		return malformed("ds:%s must be empty", e.Tag)
	}
	return nil
}

func base64Leaf(c *cursor, space, tag string) ([]byte, error) {
	t, err := c.text(space, tag)
	if err != nil {
		return nil, err
	}
	b, err := decodeB64(t)
	if err != nil {
		return nil, malformed("ds:%s is not base64: %v", tag, err)
	}
	return b, nil
}
