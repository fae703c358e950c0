package xmldsig

import (
	"crypto"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// The XML-DSig namespace and the algorithm identifiers both users accept.
const (
	NS = "http://www.w3.org/2000/09/xmldsig#"

	C14N10    = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	ExcC14N10 = "http://www.w3.org/2001/10/xml-exc-c14n#"
	Enveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

	SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

	RSASHA256    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	RSASHA384    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	RSASHA512    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	RSAPSSSHA256 = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1"
	RSAPSSSHA384 = "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1"
	RSAPSSSHA512 = "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1"
	ECDSASHA256  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ECDSASHA384  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	ECDSASHA512  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
)

// DigestMethods are the DigestMethod algorithms known here; SHA-1 and
// SHA-224 are not among them.
var DigestMethods = map[string]crypto.Hash{SHA256: crypto.SHA256, SHA384: crypto.SHA384, SHA512: crypto.SHA512}

// KeyKind is the public-key algorithm of a signature method.
type KeyKind int

const (
	RSA    KeyKind = iota // PKCS #1 v1.5
	RSAPSS                // PSS, salt as long as the hash
	ECDSA                 // the value is raw r||s, each half the curve size
)

// Method is a SignatureMethod.
type Method struct {
	URI  string
	Hash crypto.Hash
	Kind KeyKind
}

// Methods are the SignatureMethod algorithms known here (SHA-1 variants
// are not among them).
var Methods = map[string]Method{
	RSASHA256:    {RSASHA256, crypto.SHA256, RSA},
	RSASHA384:    {RSASHA384, crypto.SHA384, RSA},
	RSASHA512:    {RSASHA512, crypto.SHA512, RSA},
	RSAPSSSHA256: {RSAPSSSHA256, crypto.SHA256, RSAPSS},
	RSAPSSSHA384: {RSAPSSSHA384, crypto.SHA384, RSAPSS},
	RSAPSSSHA512: {RSAPSSSHA512, crypto.SHA512, RSAPSS},
	ECDSASHA256:  {ECDSASHA256, crypto.SHA256, ECDSA},
	ECDSASHA384:  {ECDSASHA384, crypto.SHA384, ECDSA},
	ECDSASHA512:  {ECDSASHA512, crypto.SHA512, ECDSA},
}

// Rules are the profile of XML-DSig a caller accepts; each list a subset
// of what is known here.
type Rules struct {
	C14N             []string // CanonicalizationMethod of SignedInfo: C14N10, ExcC14N10
	SignatureMethods []string // keys of Methods
	DigestMethods    []string // keys of DigestMethods
	Transforms       []string // Enveloped, C14N10, ExcC14N10
	// IDs allows an Id attribute on ds:Signature, SignedInfo, Reference,
	// SignatureValue and KeyInfo, and a Type on Reference; without it
	// none of them may have one.
	IDs bool
	// Objects lets ds:Object elements follow KeyInfo, for the caller to
	// read (Signature.Objects); without it KeyInfo is the last child.
	Objects bool
}

// Signature is a ds:Signature whose structure has been read, not yet
// checked.
type Signature struct {
	Element    *etree.Element
	ID         string // its Id, if any
	SignedInfo *etree.Element
	Exclusive  bool // SignedInfo is canonicalised with Exclusive C14N
	Method     Method
	References []Reference
	Value      []byte
	// Certificate is the DER of KeyInfo's one X509Data/X509Certificate.
	Certificate []byte
	Objects     []*etree.Element
}

// Reference is one ds:Reference.
type Reference struct {
	Element *etree.Element
	URI     string
	HasURI  bool
	Type    string
	HasType bool
	// Transforms are the Algorithms of its Transforms, in order.
	Transforms []string
	Digest     Digest
}

// Exclusive reports whether the reference asks for Exclusive C14N.
func (r *Reference) Exclusive() bool { return slices.Contains(r.Transforms, ExcC14N10) }

// Digest is a DigestMethod and DigestValue pair.
type Digest struct {
	Method string
	Hash   crypto.Hash
	Value  []byte
}

// ReadSignature reads the ds:Signature el as rules allow: SignedInfo
// (CanonicalizationMethod, SignatureMethod, one or more Reference with
// optional Transforms, DigestMethod and DigestValue of the method's size),
// SignatureValue, KeyInfo holding exactly one X509Data with exactly one
// X509Certificate, then ds:Object elements if rules allow them; nothing
// else, no attribute or parameter it does not know. It checks nothing
// cryptographic: see Signature.CheckValue and CheckReference.
func ReadSignature(el *etree.Element, rules *Rules) (*Signature, error) {
	if !Is(el, NS, "Signature") {
		return nil, malformed("<%s> (namespace %q) is not a ds:Signature", el.FullTag(), el.NamespaceURI())
	}
	ids := rules.idAttr()
	if err := OnlyAttrs(el, ids...); err != nil {
		return nil, err
	}
	s := &Signature{Element: el}
	s.ID, _ = Attr(el, "Id")
	k := Children(el)
	si, err := k.Must(NS, "SignedInfo")
	if err != nil {
		return nil, err
	}
	sv, err := k.Must(NS, "SignatureValue")
	if err != nil {
		return nil, err
	}
	ki, err := k.Must(NS, "KeyInfo")
	if err != nil {
		return nil, err
	}
	if rules.Objects {
		for o := k.Next(NS, "Object"); o != nil; o = k.Next(NS, "Object") {
			s.Objects = append(s.Objects, o)
		}
	}
	if err := k.End(); err != nil {
		return nil, err
	}
	if err := s.readSignedInfo(si, rules); err != nil {
		return nil, err
	}
	if err := OnlyAttrs(sv, ids...); err != nil {
		return nil, err
	}
	if s.Value, err = Base64(sv); err != nil {
		return nil, err
	}
	if s.Certificate, err = readKeyInfo(ki, ids); err != nil {
		return nil, err
	}
	return s, nil
}

var (
	idAttr         = []string{"Id"}
	refAttrs       = []string{"URI"}
	refAttrsWithID = []string{"URI", "Id", "Type"}
)

func (r *Rules) idAttr() []string {
	if r.IDs {
		return idAttr
	}
	return nil
}

func (s *Signature) readSignedInfo(si *etree.Element, rules *Rules) error {
	s.SignedInfo = si
	if err := OnlyAttrs(si, rules.idAttr()...); err != nil {
		return err
	}
	k := Children(si)
	cm, err := k.Must(NS, "CanonicalizationMethod")
	if err != nil {
		return err
	}
	alg, err := accepted(cm, rules.C14N, "canonicalization")
	if err != nil {
		return err
	}
	s.Exclusive = alg == ExcC14N10
	sm, err := k.Must(NS, "SignatureMethod")
	if err != nil {
		return err
	}
	if alg, err = accepted(sm, rules.SignatureMethods, "signature method"); err != nil {
		return err
	}
	var known bool
	if s.Method, known = Methods[alg]; !known {
		return malformed("the signature method %q is not one this package knows", alg)
	}
	s.References = make([]Reference, 0, 2) // X-Road signs a part and its signed properties
	for r := k.Next(NS, "Reference"); r != nil; r = k.Next(NS, "Reference") {
		ref, err := readReference(r, rules)
		if err != nil {
			return err
		}
		s.References = append(s.References, ref)
	}
	if len(s.References) == 0 {
		if _, err := k.Must(NS, "Reference"); err != nil {
			return err
		}
	}
	return k.End()
}

// accepted returns the Algorithm of el if it is one of those allowed.
func accepted(el *etree.Element, allowed []string, what string) (string, error) {
	alg, err := Algorithm(el)
	if err != nil {
		return "", err
	}
	if !slices.Contains(allowed, alg) {
		return "", malformed("the %s %q of <%s> is not accepted (%s accepted)", what, alg, el.FullTag(), strings.Join(allowed, ", "))
	}
	return alg, nil
}

func readReference(r *etree.Element, rules *Rules) (Reference, error) {
	ref := Reference{Element: r}
	allowed := refAttrs
	if rules.IDs {
		allowed = refAttrsWithID
	}
	if err := OnlyAttrs(r, allowed...); err != nil {
		return ref, err
	}
	ref.URI, ref.HasURI = Attr(r, "URI")
	ref.Type, ref.HasType = Attr(r, "Type")
	k := Children(r)
	if tr := k.Next(NS, "Transforms"); tr != nil {
		if err := OnlyAttrs(tr); err != nil {
			return ref, err
		}
		tk := Children(tr)
		if _, err := tk.Must(NS, "Transform"); err != nil {
			return ref, err
		}
		tk = Children(tr)
		for t := tk.Next(NS, "Transform"); t != nil; t = tk.Next(NS, "Transform") {
			alg, err := accepted(t, rules.Transforms, "transform")
			if err != nil {
				return ref, err
			}
			ref.Transforms = append(ref.Transforms, alg)
		}
		if err := tk.End(); err != nil {
			return ref, err
		}
	}
	var err error
	if ref.Digest, err = ReadDigest(k, rules.DigestMethods); err != nil {
		return ref, err
	}
	return ref, k.End()
}

// ReadDigest reads the ds:DigestMethod and ds:DigestValue children at k,
// the method one of those allowed, the value of its size. XAdES's
// CertDigest and SigPolicyHash have the same pair.
func ReadDigest(k *Cursor, allowed []string) (Digest, error) {
	dm, err := k.Must(NS, "DigestMethod")
	if err != nil {
		return Digest{}, err
	}
	alg, err := accepted(dm, allowed, "digest method")
	if err != nil {
		return Digest{}, err
	}
	h, known := DigestMethods[alg]
	if !known {
		return Digest{}, malformed("the digest method %q is not one this package knows", alg)
	}
	dv, err := k.Must(NS, "DigestValue")
	if err != nil {
		return Digest{}, err
	}
	if err := OnlyAttrs(dv); err != nil {
		return Digest{}, err
	}
	v, err := Base64(dv)
	if err != nil {
		return Digest{}, err
	}
	if len(v) != h.Size() {
		return Digest{}, malformed("a %s digest value has %d bytes, not %d", h, len(v), h.Size())
	}
	return Digest{alg, h, v}, nil
}

func readKeyInfo(ki *etree.Element, ids []string) ([]byte, error) {
	if err := OnlyAttrs(ki, ids...); err != nil {
		return nil, err
	}
	xd, err := Single(ki, NS, "X509Data")
	if err != nil {
		return nil, err
	}
	xc, err := Single(xd, NS, "X509Certificate")
	if err != nil {
		return nil, err
	}
	return Base64(xc)
}

// Resolve returns what a reference of s names in doc: URI "" the whole
// document (its root), "#id" the element with that Id, which must lie
// inside this ds:Signature (DESIGN.md pitfall 5: a same-document reference
// resolved elsewhere is how wrapping attacks move signed content). Any
// other URI names data outside the document and is the caller's.
func (s *Signature) Resolve(doc *Document, r *Reference) (*etree.Element, error) {
	switch {
	case r.HasURI && r.URI == "":
		return doc.Root, nil
	case strings.HasPrefix(r.URI, "#"):
		el, ok := doc.ByID(r.URI[1:])
		if !ok {
			return nil, malformed("the reference %s names no element with that Id", r.URI)
		}
		if !within(el, s.Element) {
			return nil, malformed("the reference %s names <%s> outside this ds:Signature", r.URI, el.FullTag())
		}
		return el, nil
	}
	return nil, malformed("the reference %q is not a same-document reference", r.URI)
}

func within(el, ancestor *etree.Element) bool {
	for e := el; e != nil; e = e.Parent() {
		if e == ancestor {
			return true
		}
	}
	return false
}
