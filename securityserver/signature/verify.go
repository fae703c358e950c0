package signature

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluz/sluz/internal/c14n"
	"github.com/sluz/sluz/internal/xmltok"

	"github.com/beevik/etree"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

const (
	// maxDocumentSize bounds signatures.xml. X-Road's are 5–15 KB (the
	// certificate and the OCSP responses are most of it).
	maxDocumentSize = 1 << 20
	// maxDepth bounds the element nesting; X-Road's documents are 11 deep.
	maxDepth = 32
	// maxElements bounds the tree a document may make (each element costs
	// a few hundred bytes); X-Road's have about 50, plus 12 per
	// intermediate certificate.
	maxElements = 1000

	// hashChainResultURI is what batch signatures reference instead of the
	// message.
	hashChainResultURI = "/sig-hashchainresult.xml"
)

// Verify checks the signature document sigXML against the one part it
// signs (normally msg.URI "/message.xml" and the message bytes exactly as
// received). It is VerifyParts with one part.
func Verify(sigXML []byte, msg Part) (*Verified, error) {
	return VerifyParts(sigXML, []Part{msg})
}

// VerifyParts checks the signature document sigXML against the parts it
// signs, matched to its references by URI: every reference must name a
// given part and every part must be referenced. It returns what the
// signature carries for the caller to judge (see Verified).
//
// In this order it checks that the document is an X-Road signature document
// (asic:XAdESSignatures with exactly one ds:Signature — or a lone
// ds:Signature, as X-Road's verifier also accepts — strictly structured,
// elements matched by namespace, no duplicate Id, no DTD, comments or
// processing instructions, known algorithms only; else ErrMalformed), that
// each part's digest matches (else ErrDigest), that the canonical signed
// properties match their digest (else ErrDigest), that the signed
// SigningCertificate names the KeyInfo certificate by digest and serial
// number (else ErrCertificate), that the certificate has the
// nonRepudiation key usage (else ErrCertificate) and that the signature
// value verifies with its key — for ECDSA exactly two curve-size halves
// r||s (else ErrSignatureValue).
//
// It does not check the certificate chain, the OCSP responses, or who the
// signer is: the security server does that with the global configuration.
// Mistakes in the arguments themselves (no parts, a URI given twice) wrap
// none of the sentinel errors.
func VerifyParts(sigXML []byte, parts []Part) (*Verified, error) {
	if len(parts) == 0 {
		return nil, errors.New("signature: no parts were given to verify the signature against")
	}
	for i := range parts {
		for j := range i {
			if parts[i].URI == parts[j].URI {
				return nil, fmt.Errorf("signature: part %s was given twice", parts[i].URI)
			}
		}
	}
	doc, err := readDocument(sigXML)
	if err != nil {
		return nil, err
	}
	sig, err := findSignature(doc.Root())
	if err != nil {
		return nil, err
	}
	p, err := readSignature(sig)
	if err != nil {
		return nil, err
	}
	return p.verify(parts)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// readDocument parses data strictly (parseXML) and checks the tree
// (checker): every prefix bound, no duplicate attributes, no duplicate Id
// values, no mixed content.
func readDocument(data []byte) (*etree.Document, error) {
	if len(data) > maxDocumentSize {
		return nil, malformed("the document has %d bytes, more than the %d accepted", len(data), maxDocumentSize)
	}
	if !utf8.Valid(data) {
		return nil, malformed("the document is not valid UTF-8")
	}
	doc, err := parseXML(data)
	if err != nil {
		return nil, err
	}
	var c checker
	if err := c.check(doc.Root()); err != nil {
		return nil, err
	}
	return doc, nil
}

// checker walks the whole tree once: the namespace rules canonicalize
// relies on, and Id uniqueness against wrapping (whatever attribute named
// Id, ID or id, in any namespace: other tools resolve any of them).
// parseXML already refuses comments, processing instructions and
// directives; the checker refuses them too, for trees parsed otherwise.
type checker struct {
	scope []c14n.Binding
	ids   []string
}

func (c *checker) check(el *etree.Element) error {
	mark := len(c.scope)
	for _, a := range el.Attr {
		p, ok := c14n.NSDecl(a)
		if !ok {
			continue
		}
		switch {
		case p == "xml" || p == "xmlns":
			return malformed("<%s> declares the reserved prefix %s", el.FullTag(), p)
		case p != "" && a.Value == "":
			return malformed("<%s> undeclares prefix %s, which XML 1.0 does not allow", el.FullTag(), p)
		case c14n.HasPrefix(c.scope[mark:], p):
			return malformed("<%s> declares prefix %q twice", el.FullTag(), p)
		}
		c.scope = append(c.scope, c14n.Binding{Prefix: p, URI: a.Value})
	}
	switch el.Space {
	case "":
	case "xml", "xmlns":
		return malformed("element <%s> uses a reserved prefix", el.FullTag())
	default:
		if _, ok := c14n.Lookup(c.scope, el.Space); !ok {
			return malformed("element <%s> uses the undeclared prefix %s", el.FullTag(), el.Space)
		}
	}
	for i, a := range el.Attr {
		if _, ok := c14n.NSDecl(a); ok {
			continue
		}
		uri, err := c.attrURI(el, a)
		if err != nil {
			return err
		}
		for _, b := range el.Attr[:i] {
			if _, ok := c14n.NSDecl(b); ok || b.Key != a.Key {
				continue
			}
			if buri, _ := c.attrURI(el, b); buri == uri {
				return malformed("<%s> repeats the attribute %s", el.FullTag(), a.FullKey())
			}
		}
		if a.Key == "Id" || a.Key == "ID" || a.Key == "id" {
			for _, id := range c.ids {
				if id == a.Value {
					return malformed("the Id %q appears twice; duplicate Ids are refused (signature wrapping)", a.Value)
				}
			}
			c.ids = append(c.ids, a.Value)
		}
	}
	err := c14n.CheckContent(el, c.check, nil, func(reason string) error { return malformed("%s", reason) })
	if err != nil {
		return err
	}
	c.scope = c.scope[:mark]
	return nil
}

func (c *checker) attrURI(el *etree.Element, a etree.Attr) (string, error) {
	switch a.Space {
	case "":
		return "", nil
	case "xml":
		return "", malformed("<%s> has the attribute %s; xml:* attributes are not accepted", el.FullTag(), a.FullKey())
	}
	uri, ok := c14n.Lookup(c.scope, a.Space)
	if !ok {
		return "", malformed("attribute %s of <%s> uses an undeclared prefix", a.FullKey(), el.FullTag())
	}
	return uri, nil
}

// findSignature returns the one ds:Signature of the document.
func findSignature(root *etree.Element) (*etree.Element, error) {
	if is(root, nsDS, "Signature") {
		return root, nil
	}
	if ns := root.NamespaceURI(); root.Tag != "XAdESSignatures" || (ns != nsASiC && ns != nsASiCOld) {
		return nil, malformed("the root element is <%s> in namespace %q, not asic:XAdESSignatures", root.FullTag(), ns)
	}
	if err := onlyAttrs(root); err != nil {
		return nil, err
	}
	kids := root.ChildElements()
	if len(kids) != 1 {
		return nil, malformed("asic:XAdESSignatures holds %d elements; exactly one ds:Signature is accepted", len(kids))
	}
	if !is(kids[0], nsDS, "Signature") {
		return nil, malformed("asic:XAdESSignatures holds <%s> in namespace %q, not ds:Signature", kids[0].FullTag(), kids[0].NamespaceURI())
	}
	return kids[0], nil
}

// is reports whether el is the element local in namespace ns (by namespace
// URI, never by prefix).
func is(el *etree.Element, ns, local string) bool {
	return el.Tag == local && el.NamespaceURI() == ns
}

// attr returns the value of the unprefixed attribute key. (etree's
// SelectAttr would also match a prefixed x:Id.)
func attr(el *etree.Element, key string) (string, bool) {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// onlyAttrs refuses attributes other than the unprefixed ones allowed.
func onlyAttrs(el *etree.Element, allowed ...string) error {
	for _, a := range el.Attr {
		if _, ok := c14n.NSDecl(a); ok {
			continue
		}
		if a.Space != "" || !slices.Contains(allowed, a.Key) {
			return malformed("<%s> has the unexpected attribute %s", el.FullTag(), a.FullKey())
		}
	}
	return nil
}

// kids walks the child elements of one element in schema order.
type kids struct {
	parent *etree.Element
	i      int // index in parent.Child of the next token to look at
}

func children(el *etree.Element) kids { return kids{parent: el} }

// peek returns the next child element without moving past it, or nil.
func (k *kids) peek() *etree.Element {
	for ; k.i < len(k.parent.Child); k.i++ {
		if e, ok := k.parent.Child[k.i].(*etree.Element); ok {
			return e
		}
	}
	return nil
}

// any returns the next child element, whatever it is, or nil.
func (k *kids) any() *etree.Element {
	e := k.peek()
	if e != nil {
		k.i++
	}
	return e
}

// next returns the next child if it is ns:local (and moves past it), or nil.
func (k *kids) next(ns, local string) *etree.Element {
	if e := k.peek(); e != nil && is(e, ns, local) {
		k.i++
		return e
	}
	return nil
}

// must is next for a required child.
func (k *kids) must(ns, local string) (*etree.Element, error) {
	if e := k.next(ns, local); e != nil {
		return e, nil
	}
	if e := k.peek(); e != nil {
		return nil, malformed("<%s> has <%s> where %s is expected", k.parent.FullTag(), e.FullTag(), local)
	}
	return nil, malformed("<%s> lacks %s", k.parent.FullTag(), local)
}

// end refuses children left over.
func (k *kids) end() error {
	if e := k.peek(); e != nil {
		return malformed("<%s> has the unexpected child <%s>", k.parent.FullTag(), e.FullTag())
	}
	return nil
}

// text returns the text of a leaf element.
func text(el *etree.Element) (string, error) {
	var s string
	for _, t := range el.Child {
		cd, ok := t.(*etree.CharData)
		if !ok {
			return "", malformed("<%s> must hold text only", el.FullTag())
		}
		s += cd.Data
	}
	return s, nil
}

// base64Text decodes the base64 text of a leaf element; line breaks and
// spaces (X-Road wraps at 76 columns, sometimes with &#13;) are ignored.
func base64Text(el *etree.Element) ([]byte, error) {
	s, err := text(el)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, malformed("<%s> does not hold base64 data", el.FullTag())
	}
	return b, nil
}

// algorithm returns the Algorithm of an element that must have nothing
// else (no parameters such as HMACOutputLength or InclusiveNamespaces).
func algorithm(el *etree.Element) (string, error) {
	if err := onlyAttrs(el, "Algorithm"); err != nil {
		return "", err
	}
	k := children(el)
	if err := k.end(); err != nil {
		return "", err
	}
	if s, err := text(el); err != nil || !xmltok.IsSpace(s) {
		return "", malformed("<%s> must be empty", el.FullTag())
	}
	alg, ok := attr(el, "Algorithm")
	if !ok {
		return "", malformed("<%s> has no Algorithm", el.FullTag())
	}
	return alg, nil
}

// digest is a DigestMethod and DigestValue pair.
type digest struct {
	hash  crypto.Hash
	value []byte
}

func (d digest) matches(data []byte) bool {
	h := d.hash.New()
	h.Write(data)
	return bytes.Equal(h.Sum(nil), d.value)
}

// readDigest reads the ds:DigestMethod and ds:DigestValue children of el.
func readDigest(k *kids) (digest, error) {
	dm, err := k.must(nsDS, "DigestMethod")
	if err != nil {
		return digest{}, err
	}
	alg, err := algorithm(dm)
	if err != nil {
		return digest{}, err
	}
	h, ok := digestMethods[alg]
	if !ok {
		return digest{}, malformed("the digest method %q is not accepted (SHA-256, SHA-384 and SHA-512 are)", alg)
	}
	dv, err := k.must(nsDS, "DigestValue")
	if err != nil {
		return digest{}, err
	}
	if err := onlyAttrs(dv); err != nil {
		return digest{}, err
	}
	v, err := base64Text(dv)
	if err != nil {
		return digest{}, err
	}
	if len(v) != h.Size() {
		return digest{}, malformed("a %s digest value has %d bytes", h, len(v))
	}
	return digest{h, v}, nil
}

type reference struct {
	uri       string
	exclusive bool // a Transform asks for Exclusive C14N (signed properties only)
	digest    digest
}

// parsed is a signature whose structure has been read, not yet verified.
type parsed struct {
	signedInfo       *etree.Element
	signedProperties *etree.Element
	exclusive        bool // SignedInfo's CanonicalizationMethod
	method           signatureMethod
	data             []reference
	properties       reference
	value            []byte
	cert             *x509.Certificate
	certDigest       digest
	certSerial       *big.Int
	issuerSerialV2   []byte // DER IssuerSerial of SigningCertificateV2, if given
	signingTime      time.Time
	ocsp             [][]byte
	extra            []*x509.Certificate
}

func readSignature(sig *etree.Element) (*parsed, error) {
	p := &parsed{}
	if err := onlyAttrs(sig, "Id"); err != nil {
		return nil, err
	}
	sigID, ok := attr(sig, "Id")
	if !ok {
		return nil, malformed("ds:Signature has no Id, so its qualifying properties cannot target it")
	}
	k := children(sig)
	si, err := k.must(nsDS, "SignedInfo")
	if err != nil {
		return nil, err
	}
	sv, err := k.must(nsDS, "SignatureValue")
	if err != nil {
		return nil, err
	}
	ki, err := k.must(nsDS, "KeyInfo")
	if err != nil {
		return nil, err
	}
	obj, err := k.must(nsDS, "Object")
	if err != nil {
		return nil, err
	}
	if err := k.end(); err != nil {
		return nil, err
	}
	if err := p.readSignedInfo(si); err != nil {
		return nil, err
	}
	if err := onlyAttrs(sv, "Id"); err != nil {
		return nil, err
	}
	if p.value, err = base64Text(sv); err != nil {
		return nil, err
	}
	if err := p.readKeyInfo(ki); err != nil {
		return nil, err
	}
	if err := onlyAttrs(obj, "Id"); err != nil {
		return nil, err
	}
	k = children(obj)
	qp, err := k.must(nsXAdES, "QualifyingProperties")
	if err != nil {
		return nil, err
	}
	if err := k.end(); err != nil {
		return nil, err
	}
	if err := onlyAttrs(qp, "Target", "Id"); err != nil {
		return nil, err
	}
	if target, _ := attr(qp, "Target"); target != "#"+sigID {
		return nil, malformed("the qualifying properties target %q, not this signature (#%s)", target, sigID)
	}
	k = children(qp)
	sp, err := k.must(nsXAdES, "SignedProperties")
	if err != nil {
		return nil, err
	}
	up, err := k.must(nsXAdES, "UnsignedProperties")
	if err != nil {
		return nil, err
	}
	if err := k.end(); err != nil {
		return nil, err
	}
	if err := p.readSignedProperties(sp); err != nil {
		return nil, err
	}
	if err := p.readUnsignedProperties(up); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parsed) readSignedInfo(si *etree.Element) error {
	p.signedInfo = si
	if err := onlyAttrs(si, "Id"); err != nil {
		return err
	}
	k := children(si)
	cm, err := k.must(nsDS, "CanonicalizationMethod")
	if err != nil {
		return err
	}
	if p.exclusive, err = c14nAlgorithm(cm); err != nil {
		return err
	}
	sm, err := k.must(nsDS, "SignatureMethod")
	if err != nil {
		return err
	}
	methodURI, err := algorithm(sm)
	if err != nil {
		return err
	}
	m, ok := signatureMethods[methodURI]
	if !ok {
		return malformed("the signature method %q is not accepted", methodURI)
	}
	p.method = m
	havePropertiesRef := false
	for r := k.next(nsDS, "Reference"); r != nil; r = k.next(nsDS, "Reference") {
		ref, isProperties, err := readReference(r)
		if err != nil {
			return err
		}
		if !isProperties {
			for _, d := range p.data {
				if d.uri == ref.uri {
					return malformed("two references name %s", ref.uri)
				}
			}
			p.data = append(p.data, ref)
			continue
		}
		if havePropertiesRef {
			return malformed("SignedInfo references signed properties twice")
		}
		p.properties, havePropertiesRef = ref, true
	}
	if err := k.end(); err != nil {
		return err
	}
	if !havePropertiesRef {
		return malformed("SignedInfo does not reference the XAdES signed properties")
	}
	if len(p.data) == 0 {
		return malformed("SignedInfo references no message part")
	}
	return nil
}

func c14nAlgorithm(el *etree.Element) (exclusive bool, err error) {
	alg, err := algorithm(el)
	if err != nil {
		return false, err
	}
	switch alg {
	case algC14N:
		return false, nil
	case algExcC14N:
		return true, nil
	}
	return false, malformed("the canonicalization %q is not accepted (C14N 1.0 and Exclusive C14N 1.0 without comments are)", alg)
}

// readReference reads one ds:Reference. A same-document reference must be
// the one to the signed properties (Type SignedProperties, no transform or
// one C14N transform); any other is a part, digested as raw bytes, so it
// may have no transforms.
func readReference(r *etree.Element) (ref reference, isProperties bool, err error) {
	if err := onlyAttrs(r, "Id", "URI", "Type"); err != nil {
		return ref, false, err
	}
	uri, ok := attr(r, "URI")
	if !ok || uri == "" {
		return ref, false, malformed("a ds:Reference has no URI; references to the whole document are not accepted")
	}
	ref.uri = uri
	typ, hasType := attr(r, "Type")
	k := children(r)
	tr := k.next(nsDS, "Transforms")
	if tr != nil {
		if err := onlyAttrs(tr); err != nil {
			return ref, false, err
		}
		tk := children(tr)
		t, err := tk.must(nsDS, "Transform")
		if err != nil {
			return ref, false, err
		}
		if err := tk.end(); err != nil {
			return ref, false, err
		}
		if ref.exclusive, err = c14nAlgorithm(t); err != nil {
			return ref, false, err
		}
	}
	if ref.digest, err = readDigest(&k); err != nil {
		return ref, false, err
	}
	if err := k.end(); err != nil {
		return ref, false, err
	}
	if strings.HasPrefix(uri, "#") {
		if typ != typeSignedProperties {
			return ref, false, malformed("the same-document reference %s is not typed as the XAdES signed properties", uri)
		}
		return ref, true, nil
	}
	if tr != nil {
		return ref, false, malformed("the reference to %s has transforms; parts are digested as raw bytes", uri)
	}
	if hasType {
		return ref, false, malformed("the reference to %s has the unexpected Type %q", uri, typ)
	}
	return ref, false, nil
}

func (p *parsed) readKeyInfo(ki *etree.Element) error {
	if err := onlyAttrs(ki, "Id"); err != nil {
		return err
	}
	k := children(ki)
	xd, err := k.must(nsDS, "X509Data")
	if err != nil {
		return err
	}
	if err := k.end(); err != nil {
		return err
	}
	if err := onlyAttrs(xd); err != nil {
		return err
	}
	k = children(xd)
	xc, err := k.must(nsDS, "X509Certificate")
	if err != nil {
		return err
	}
	if err := k.end(); err != nil {
		return err
	}
	if err := onlyAttrs(xc); err != nil {
		return err
	}
	der, err := base64Text(xc)
	if err != nil {
		return err
	}
	if p.cert, err = parseCertificate(der); err != nil {
		return malformed("the KeyInfo certificate cannot be parsed: %v", err)
	}
	return nil
}

func (p *parsed) readSignedProperties(sp *etree.Element) error {
	p.signedProperties = sp
	if err := onlyAttrs(sp, "Id"); err != nil {
		return err
	}
	// Ids are unique in the document (checker), and the signed properties
	// are taken from their fixed place in this signature: the reference
	// must name exactly them.
	if id, _ := attr(sp, "Id"); "#"+id != p.properties.uri {
		return malformed("SignedInfo references %s, but this signature's signed properties have Id %q", p.properties.uri, id)
	}
	k := children(sp)
	ssp, err := k.must(nsXAdES, "SignedSignatureProperties")
	if err != nil {
		return err
	}
	// SignedDataObjectProperties (the parts' MIME types) is signed but not
	// interpreted.
	k.next(nsXAdES, "SignedDataObjectProperties")
	if err := k.end(); err != nil {
		return err
	}
	if err := onlyAttrs(ssp, "Id"); err != nil {
		return err
	}
	k = children(ssp)
	st, err := k.must(nsXAdES, "SigningTime")
	if err != nil {
		return err
	}
	if err := onlyAttrs(st); err != nil {
		return err
	}
	s, err := text(st)
	if err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return malformed("the SigningTime %q is not an xsd:dateTime with a time zone", s)
	}
	p.signingTime = t.UTC()
	v2 := false
	sc := k.next(nsXAdES, "SigningCertificate")
	if sc == nil {
		if sc = k.next(nsXAdES, "SigningCertificateV2"); sc == nil {
			return malformed("the signed properties lack SigningCertificate")
		}
		v2 = true
	}
	// The policy X-Road names is not interpreted.
	k.next(nsXAdES, "SignaturePolicyIdentifier")
	if err := k.end(); err != nil {
		return err
	}
	if err := onlyAttrs(sc); err != nil {
		return err
	}
	k = children(sc)
	cert, err := k.must(nsXAdES, "Cert")
	if err != nil {
		return err
	}
	if err := k.end(); err != nil {
		return malformed("SigningCertificate names more than one certificate")
	}
	if err := onlyAttrs(cert, "URI"); err != nil {
		return err
	}
	k = children(cert)
	if p.certDigest, err = readCertDigest(&k); err != nil {
		return err
	}
	if v2 {
		if isv2 := k.next(nsXAdES, "IssuerSerialV2"); isv2 != nil {
			if err := onlyAttrs(isv2); err != nil {
				return err
			}
			if p.issuerSerialV2, err = base64Text(isv2); err != nil {
				return err
			}
		}
	} else {
		serial, err := k.must(nsXAdES, "IssuerSerial")
		if err != nil {
			return err
		}
		if p.certSerial, err = readIssuerSerial(serial); err != nil {
			return err
		}
	}
	return k.end()
}

// readCertDigest reads xades:CertDigest.
func readCertDigest(k *kids) (digest, error) {
	cd, err := k.must(nsXAdES, "CertDigest")
	if err != nil {
		return digest{}, err
	}
	if err := onlyAttrs(cd); err != nil {
		return digest{}, err
	}
	dk := children(cd)
	d, err := readDigest(&dk)
	if err != nil {
		return digest{}, err
	}
	return d, dk.end()
}

// readIssuerSerial returns the serial number of xades:IssuerSerial. The
// issuer name is not compared: implementations render it differently, and
// CertDigest already names the certificate.
func readIssuerSerial(el *etree.Element) (*big.Int, error) {
	if err := onlyAttrs(el); err != nil {
		return nil, err
	}
	k := children(el)
	name, err := k.must(nsDS, "X509IssuerName")
	if err != nil {
		return nil, err
	}
	if _, err := text(name); err != nil {
		return nil, err
	}
	sn, err := k.must(nsDS, "X509SerialNumber")
	if err != nil {
		return nil, err
	}
	if err := k.end(); err != nil {
		return nil, err
	}
	s, err := text(sn)
	if err != nil {
		return nil, err
	}
	serial, ok := new(big.Int).SetString(strings.TrimSpace(s), 10)
	if !ok {
		return nil, malformed("the X509SerialNumber %q is not a decimal integer", s)
	}
	return serial, nil
}

func (p *parsed) readUnsignedProperties(up *etree.Element) error {
	if err := onlyAttrs(up, "Id"); err != nil {
		return err
	}
	k := children(up)
	usp, err := k.must(nsXAdES, "UnsignedSignatureProperties")
	if err != nil {
		return err
	}
	if err := k.end(); err != nil {
		return err
	}
	if err := onlyAttrs(usp, "Id"); err != nil {
		return err
	}
	var refs, values, revocation *etree.Element
	seen := func(slot **etree.Element, el *etree.Element) error {
		if *slot != nil {
			return malformed("UnsignedSignatureProperties has %s twice", el.Tag)
		}
		*slot = el
		return nil
	}
	k = children(usp)
	for el := k.any(); el != nil; el = k.any() {
		var err error
		switch {
		case is(el, nsXAdES, "RevocationValues"):
			err = seen(&revocation, el)
		case is(el, nsXAdES, "CertificateValues"):
			err = seen(&values, el)
		case is(el, nsXAdES, "CompleteCertificateRefs"):
			err = seen(&refs, el)
		case is(el, nsXAdES, "SignatureTimeStamp"), is(el, nsXAdES, "CompleteRevocationRefs"):
			// Added by X-Road's message log, or by old X-Road versions;
			// not interpreted here.
		default:
			err = malformed("UnsignedSignatureProperties has the unexpected <%s>", el.FullTag())
		}
		if err != nil {
			return err
		}
	}
	if revocation == nil {
		return malformed("the signature carries no OCSP response (RevocationValues); X-Road requires one")
	}
	if err := p.readOCSP(revocation); err != nil {
		return err
	}
	ids, err := p.readCertificateValues(values)
	if err != nil {
		return err
	}
	return p.checkCertificateRefs(refs, ids)
}

func (p *parsed) readOCSP(rv *etree.Element) error {
	if err := onlyAttrs(rv, "Id"); err != nil {
		return err
	}
	k := children(rv)
	ov, err := k.must(nsXAdES, "OCSPValues")
	if err != nil {
		return err
	}
	if err := k.end(); err != nil {
		return err
	}
	if err := onlyAttrs(ov); err != nil {
		return err
	}
	k = children(ov)
	for el := k.any(); el != nil; el = k.any() {
		if !is(el, nsXAdES, "EncapsulatedOCSPValue") {
			return malformed("OCSPValues has the unexpected <%s>", el.FullTag())
		}
		if err := onlyAttrs(el, "Id"); err != nil {
			return err
		}
		der, err := base64Text(el)
		if err != nil {
			return err
		}
		if !isDERSequence(der) {
			return malformed("an EncapsulatedOCSPValue is not a DER OCSPResponse")
		}
		p.ocsp = append(p.ocsp, der)
	}
	if len(p.ocsp) == 0 {
		return malformed("OCSPValues holds no OCSP response")
	}
	return nil
}

func isDERSequence(der []byte) bool {
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	return s.ReadASN1(&seq, cbasn1.SEQUENCE) && s.Empty()
}

// readCertificateValues parses the embedded certificates and returns
// their Ids ("" where none), index for index with p.extra.
func (p *parsed) readCertificateValues(cv *etree.Element) ([]string, error) {
	if cv == nil {
		return nil, nil
	}
	if err := onlyAttrs(cv, "Id"); err != nil {
		return nil, err
	}
	var ids []string
	k := children(cv)
	for el := k.any(); el != nil; el = k.any() {
		if !is(el, nsXAdES, "EncapsulatedX509Certificate") {
			return nil, malformed("CertificateValues has the unexpected <%s>", el.FullTag())
		}
		if err := onlyAttrs(el, "Id"); err != nil {
			return nil, err
		}
		der, err := base64Text(el)
		if err != nil {
			return nil, err
		}
		c, err := parseCertificate(der)
		if err != nil {
			return nil, malformed("an EncapsulatedX509Certificate cannot be parsed: %v", err)
		}
		id, _ := attr(el, "Id")
		ids = append(ids, id)
		p.extra = append(p.extra, c)
	}
	return ids, nil
}

// checkCertificateRefs checks that each CompleteCertificateRefs entry
// names an embedded certificate (by Id, within CertificateValues) with
// the right digest, as X-Road's verifier does.
func (p *parsed) checkCertificateRefs(refs *etree.Element, ids []string) error {
	if refs == nil {
		return nil
	}
	if err := onlyAttrs(refs, "Id"); err != nil {
		return err
	}
	k := children(refs)
	certRefs, err := k.must(nsXAdES, "CertRefs")
	if err != nil {
		return err
	}
	if err := k.end(); err != nil {
		return err
	}
	if err := onlyAttrs(certRefs); err != nil {
		return err
	}
	k = children(certRefs)
	for c := k.any(); c != nil; c = k.any() {
		if !is(c, nsXAdES, "Cert") {
			return malformed("CertRefs has the unexpected <%s>", c.FullTag())
		}
		if err := onlyAttrs(c, "URI"); err != nil {
			return err
		}
		uri, _ := attr(c, "URI")
		ck := children(c)
		d, err := readCertDigest(&ck)
		if err != nil {
			return err
		}
		if serial := ck.next(nsXAdES, "IssuerSerial"); serial != nil {
			if _, err := readIssuerSerial(serial); err != nil {
				return err
			}
		}
		if err := ck.end(); err != nil {
			return err
		}
		found := false
		for i, id := range ids {
			if id != "" && "#"+id == uri {
				if !d.matches(p.extra[i].Raw) {
					return malformed("the digest of the embedded certificate %s does not match its reference", uri)
				}
				found = true
				break
			}
		}
		if !found {
			return malformed("CompleteCertificateRefs names %q, which CertificateValues does not hold", uri)
		}
	}
	return nil
}

// verify checks the parsed signature against the parts.
func (p *parsed) verify(parts []Part) (*Verified, error) {
	for _, ref := range p.data {
		found := false
		for _, part := range parts {
			if part.URI == ref.uri {
				found = true
				break
			}
		}
		if !found {
			if ref.uri == hashChainResultURI {
				return nil, malformed("this is a batch signature over %s (a hash chain); batch signatures are not supported yet", ref.uri)
			}
			return nil, malformed("the signature references %s, which was not given to verify", ref.uri)
		}
	}
	for _, part := range parts {
		var ref *reference
		for i := range p.data {
			if p.data[i].uri == part.URI {
				ref = &p.data[i]
			}
		}
		if ref == nil {
			return nil, malformed("part %s is not signed by this signature", part.URI)
		}
		if part.Data == nil && part.Digest != nil {
			if ref.digest.hash != crypto.SHA512 || !bytes.Equal(ref.digest.value, part.Digest) {
				return nil, fmt.Errorf("%w: %s does not match its signed digest: it was changed after signing", ErrDigest, part.URI)
			}
			continue
		}
		if !ref.digest.matches(part.Data) {
			return nil, fmt.Errorf("%w: %s does not match its signed digest: it was changed after signing", ErrDigest, part.URI)
		}
	}

	buf := canonicalize(make([]byte, 0, 4096), p.signedProperties, p.properties.exclusive)
	if !p.properties.digest.matches(buf) {
		return nil, fmt.Errorf("%w: the signed properties do not match their signed digest: they were changed after signing", ErrDigest)
	}

	if !p.certDigest.matches(p.cert.Raw) {
		return nil, fmt.Errorf("%w: the KeyInfo certificate %s is not the one the signed SigningCertificate names", ErrCertificate, p.cert.Subject)
	}
	if p.certSerial != nil && p.certSerial.Cmp(p.cert.SerialNumber) != 0 {
		return nil, fmt.Errorf("%w: the signed IssuerSerial names serial %s, the certificate has %s", ErrCertificate, p.certSerial, p.cert.SerialNumber)
	}
	if p.issuerSerialV2 != nil {
		if err := checkIssuerSerialV2(p.issuerSerialV2, p.cert); err != nil {
			return nil, err
		}
	}
	if p.cert.KeyUsage&x509.KeyUsageContentCommitment == 0 {
		return nil, fmt.Errorf("%w: certificate %s has no nonRepudiation key usage, so it is not a signing certificate", ErrCertificate, p.cert.Subject)
	}

	buf = canonicalize(buf[:0], p.signedInfo, p.exclusive)
	if err := verifyValue(p.method, p.cert.PublicKey, buf, p.value); err != nil {
		return nil, err
	}
	return &Verified{Cert: p.cert, SigningTime: p.signingTime, OCSP: p.ocsp, Extra: p.extra}, nil
}

// checkIssuerSerialV2 checks the DER IssuerSerial of SigningCertificateV2
// (RFC 5035): one directoryName equal to the certificate's issuer, and its
// serial number.
func checkIssuerSerialV2(der []byte, c *x509.Certificate) error {
	in := cryptobyte.String(der)
	var seq, names, name, dn cryptobyte.String
	serial := new(big.Int)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&names, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(serial) ||
		!names.ReadASN1(&name, cbasn1.Tag(4).ContextSpecific().Constructed()) || !names.Empty() ||
		!name.ReadASN1Element(&dn, cbasn1.SEQUENCE) || !name.Empty() {
		return malformed("IssuerSerialV2 is not a DER IssuerSerial with one directory name")
	}
	if !bytes.Equal(dn, c.RawIssuer) || serial.Cmp(c.SerialNumber) != 0 {
		return fmt.Errorf("%w: the signed IssuerSerialV2 does not name certificate %s", ErrCertificate, c.Subject)
	}
	return nil
}

// verifyValue verifies the signature value over the canonical SignedInfo.
func verifyValue(m signatureMethod, pub crypto.PublicKey, signed, value []byte) error {
	h := m.hash.New()
	h.Write(signed)
	hashed := h.Sum(nil)
	switch m.kind {
	case kindECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: the signature method is ECDSA but the certificate has a %T key", ErrSignatureValue, pub)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(value) != 2*size {
			return fmt.Errorf("%w: the ECDSA value has %d bytes; %s needs exactly %d (r||s)", ErrSignatureValue, len(value), k.Curve.Params().Name, 2*size)
		}
		r := new(big.Int).SetBytes(value[:size])
		s := new(big.Int).SetBytes(value[size:])
		if !ecdsa.Verify(k, hashed, r, s) {
			return fmt.Errorf("%w: the ECDSA signature does not verify with the certificate's key", ErrSignatureValue)
		}
	case kindRSA, kindRSAPSS:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: the signature method is RSA but the certificate has a %T key", ErrSignatureValue, pub)
		}
		var err error
		if m.kind == kindRSA {
			err = rsa.VerifyPKCS1v15(k, m.hash, hashed, value)
		} else {
			err = rsa.VerifyPSS(k, m.hash, hashed, value, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		if err != nil {
			return fmt.Errorf("%w: the RSA signature does not verify with the certificate's key", ErrSignatureValue)
		}
	}
	return nil
}
