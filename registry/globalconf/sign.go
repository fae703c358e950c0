package globalconf

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/xmldsig"
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

	digest := sha256.Sum256(xmldsig.Canonicalize(nil, root, false, sig))
	digestValue.SetText(b64.EncodeToString(digest[:]))
	value, err := signSignedInfo(signer, method, xmldsig.Canonicalize(nil, si, false, nil))
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

// readOptions are the reader's rules for this document: it is written
// through etree's serialiser, so its text must be plain text (no CR, no
// control characters, no tab or line feed in attribute values).
var readOptions = xmldsig.Options{MaxBytes: maxDocumentSize, MaxDepth: 32, PlainText: true}

// rules are the XML-DSig this document uses: C14N 1.0, SHA-256, the
// enveloped-signature and C14N 1.0 transforms, ecdsa-sha256 or rsa-sha256,
// no Ids and no ds:Object.
var rules = xmldsig.Rules{
	C14N:             []string{algC14N10},
	SignatureMethods: []string{algECDSASHA256, algRSASHA256},
	DigestMethods:    []string{algSHA256},
	Transforms:       []string{algEnveloped, algC14N10},
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
	c, err := parseConf(doc.Root)
	if err != nil {
		return nil, nil, sentinel(err)
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
// cert, the only certificate accepted. It returns the digest of the signed
// content.
func verifySignature(data []byte, cert *x509.Certificate) (*xmldsig.Document, []byte, error) {
	doc, digest, err := checkSignature(data, cert)
	return doc, digest, sentinel(err)
}

func checkSignature(data []byte, cert *x509.Certificate) (*xmldsig.Document, []byte, error) {
	if bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) {
		return nil, nil, malformed("the document starts with a byte order mark")
	}
	doc, err := xmldsig.Read(data, readOptions)
	if err != nil {
		return nil, nil, err
	}
	s, err := parseSignature(doc)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(s.Certificate, cert.Raw) {
		who := "an unparsable certificate"
		if c, err := x509.ParseCertificate(s.Certificate); err == nil {
			who = fmt.Sprintf("%q (serial %x)", c.Subject.String(), c.SerialNumber)
		}
		return nil, nil, fmt.Errorf("%w: it is signed with %s, the anchor holds %q (serial %x)", ErrSigner, who, cert.Subject.String(), cert.SerialNumber)
	}
	want, err := signatureMethod(cert.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: anchor certificate: %w", ErrSigner, err)
	}
	if s.Method.URI != want {
		return nil, nil, fmt.Errorf("%w: signature method %s does not fit the anchor's key (%s expected)", ErrSignature, s.Method.URI, want)
	}
	ref := &s.References[0]
	root, err := s.Resolve(doc, ref)
	if err != nil {
		return nil, nil, err
	}
	buf, err := s.CheckElement(nil, ref, root)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.CheckValue(buf, cert.PublicKey); err != nil {
		return nil, nil, err
	}
	return doc, ref.Digest.Value, nil
}

// sentinel gives an error of internal/xmldsig this package's sentinel for
// its kind (a digest or value that does not match is ErrSignature); the
// detail is kept.
func sentinel(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrSignature), errors.Is(err, ErrSigner):
		return err
	case errors.Is(err, xmldsig.ErrDigest), errors.Is(err, xmldsig.ErrSignatureValue):
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// parseSignature finds the one ds:Signature, which must be the last child
// element of the root, and reads it strictly: one Reference to the whole
// document (URI=""), the enveloped-signature and C14N 1.0 transforms,
// SHA-256, ecdsa-sha256 or rsa-sha256, and one X509Certificate in KeyInfo.
func parseSignature(doc *xmldsig.Document) (*xmldsig.Signature, error) {
	root := doc.Root
	var sigs []*etree.Element
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		if xmldsig.Is(e, dsigNS, "Signature") {
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
	if kids := root.ChildElements(); len(kids) == 0 || kids[len(kids)-1] != sigs[0] {
		return nil, malformed("the ds:Signature is not the last child of the root element")
	}
	s, err := xmldsig.ReadSignature(sigs[0], &rules)
	if err != nil {
		return nil, err
	}
	if n := len(s.References); n != 1 {
		return nil, malformed("ds:SignedInfo has %d ds:Reference elements, want one (to the whole document)", n)
	}
	ref := &s.References[0]
	if !ref.HasURI || ref.URI != "" {
		return nil, malformed(`the ds:Reference must have URI="" (the whole document), not %q`, ref.URI)
	}
	if !slices.Equal(ref.Transforms, []string{algEnveloped, algC14N10}) {
		return nil, malformed("the ds:Reference has the transforms %q, want the enveloped signature then C14N 1.0", ref.Transforms)
	}
	return s, nil
}
