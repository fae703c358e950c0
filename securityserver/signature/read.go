package signature

import (
	"crypto/x509"
	"math/big"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/xmldsig"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Reading: the X-Road signature document as XAdES over the XML-DSig core
// of internal/xmldsig. Nothing here checks a digest or a signature value;
// check.go does, in Verify's order.

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

var readOptions = xmldsig.Options{MaxBytes: maxDocumentSize, MaxDepth: maxDepth, MaxElements: maxElements}

// The attributes allowed on elements of the list Each reads.
var (
	idAttr  = []string{"Id"}
	uriAttr = []string{"URI"}
)

// parsed is a signature whose structure has been read, not yet verified.
type parsed struct {
	sig              *xmldsig.Signature
	signedProperties *etree.Element
	data             []*xmldsig.Reference // the parts, raw bytes
	properties       *xmldsig.Reference   // the signed properties
	cert             *x509.Certificate
	certCached       *cachedCert // cert, with its SHA-512
	certDigest       xmldsig.Digest
	certSerial       *big.Int
	issuerSerialV2   []byte // DER IssuerSerial of SigningCertificateV2, if given
	signingTime      time.Time
	ocsp             [][]byte
	extra            []*x509.Certificate
	extraCached      []*cachedCert // extra, index for index
	extraIDs         []string      // the Ids of extra ("" where none), index for index
	certRefs         []certRef     // CompleteCertificateRefs

	// canonSignedInfo and canonSignedProperties are the canonical forms
	// fastRead took from the document (sig.SignedInfo and signedProperties
	// are nil then); nil when read built a tree.
	canonSignedInfo, canonSignedProperties []byte
}

// certRef is one Cert of CompleteCertificateRefs.
type certRef struct {
	uri    string
	digest xmldsig.Digest
}

// read reads the one signature of sigXML: through fastRead when the
// document is in the shape Sign writes, else through readStrict.
func read(sigXML []byte) (*parsed, error) {
	if len(sigXML) <= maxDocumentSize {
		if p, ok := fastRead(sigXML); ok {
			return p, nil
		}
	}
	return readStrict(sigXML)
}

// readStrict parses sigXML strictly into a tree and reads its one
// signature.
func readStrict(sigXML []byte) (*parsed, error) {
	doc, err := xmldsig.Read(sigXML, readOptions)
	if err != nil {
		return nil, err
	}
	sig, err := findSignature(doc.Root)
	if err != nil {
		return nil, err
	}
	return readSignature(doc, sig)
}

// findSignature returns the one ds:Signature of the document.
func findSignature(root *etree.Element) (*etree.Element, error) {
	if xmldsig.Is(root, nsDS, "Signature") {
		return root, nil
	}
	if ns := root.NamespaceURI(); root.Tag != "XAdESSignatures" || (ns != nsASiC && ns != nsASiCOld) {
		return nil, malformed("the root element is <%s> in namespace %q, not asic:XAdESSignatures", root.FullTag(), ns)
	}
	if err := xmldsig.OnlyAttrs(root); err != nil {
		return nil, err
	}
	kids := root.ChildElements()
	if len(kids) != 1 {
		return nil, malformed("asic:XAdESSignatures holds %d elements; exactly one ds:Signature is accepted", len(kids))
	}
	if !xmldsig.Is(kids[0], nsDS, "Signature") {
		return nil, malformed("asic:XAdESSignatures holds <%s> in namespace %q, not ds:Signature", kids[0].FullTag(), kids[0].NamespaceURI())
	}
	return kids[0], nil
}

func readSignature(doc *xmldsig.Document, el *etree.Element) (*parsed, error) {
	sig, err := xmldsig.ReadSignature(el, &rules)
	if err != nil {
		return nil, err
	}
	p := &parsed{sig: sig}
	if _, ok := xmldsig.Attr(el, "Id"); !ok {
		return nil, malformed("ds:Signature has no Id, so its qualifying properties cannot target it")
	}
	if err := p.sortReferences(); err != nil {
		return nil, err
	}
	if p.certCached, err = parseCertificate(sig.Certificate); err != nil {
		return nil, malformed("the KeyInfo certificate cannot be parsed: %w", err)
	}
	p.cert = p.certCached.cert
	if len(sig.Objects) != 1 {
		return nil, malformed("ds:Signature holds %d ds:Object elements; exactly one, with the XAdES qualifying properties, is accepted", len(sig.Objects))
	}
	obj := sig.Objects[0]
	if err := xmldsig.OnlyAttrs(obj, "Id"); err != nil {
		return nil, err
	}
	qp, err := xmldsig.Single(obj, nsXAdES, "QualifyingProperties", "Target", "Id")
	if err != nil {
		return nil, err
	}
	if target, _ := xmldsig.Attr(qp, "Target"); target != "#"+sig.ID {
		return nil, malformed("the qualifying properties target %q, not this signature (#%s)", target, sig.ID)
	}
	k := xmldsig.Children(qp)
	sp, err := k.Must(nsXAdES, "SignedProperties")
	if err != nil {
		return nil, err
	}
	up, err := k.Must(nsXAdES, "UnsignedProperties")
	if err != nil {
		return nil, err
	}
	if err := k.End(); err != nil {
		return nil, err
	}
	if err := p.readSignedProperties(doc, sp); err != nil {
		return nil, err
	}
	if err := p.readUnsignedProperties(up); err != nil {
		return nil, err
	}
	return p, nil
}

// sortReferences tells the parts from the signed properties. A
// same-document reference must be the one to the signed properties (Type
// SignedProperties, no transform or one C14N transform); any other is a
// part, digested as raw bytes, so it may have no transforms.
func (p *parsed) sortReferences() error {
	for i := range p.sig.References {
		ref := &p.sig.References[i]
		if ref.URI == "" {
			return malformed("a ds:Reference has no URI; references to the whole document are not accepted")
		}
		if len(ref.Transforms) > 1 {
			return malformed("the reference to %s has %d transforms; one C14N transform at most is accepted", ref.URI, len(ref.Transforms))
		}
		if strings.HasPrefix(ref.URI, "#") {
			if ref.Type != typeSignedProperties {
				return malformed("the same-document reference %s is not typed as the XAdES signed properties", ref.URI)
			}
			if p.properties != nil {
				return malformed("SignedInfo references signed properties twice")
			}
			p.properties = ref
			continue
		}
		if len(ref.Transforms) > 0 {
			return malformed("the reference to %s has transforms; parts are digested as raw bytes", ref.URI)
		}
		if ref.HasType {
			return malformed("the reference to %s has the unexpected Type %q", ref.URI, ref.Type)
		}
		for _, d := range p.data {
			if d.URI == ref.URI {
				return malformed("two references name %s", ref.URI)
			}
		}
		p.data = append(p.data, ref)
	}
	if p.properties == nil {
		return malformed("SignedInfo does not reference the XAdES signed properties")
	}
	if len(p.data) == 0 {
		return malformed("SignedInfo references no message part")
	}
	return nil
}

func (p *parsed) readSignedProperties(doc *xmldsig.Document, sp *etree.Element) error {
	p.signedProperties = sp
	if err := xmldsig.OnlyAttrs(sp, "Id"); err != nil {
		return err
	}
	// The reference resolves within this signature only (Ids are unique
	// in the document), and the signed properties are taken from their
	// fixed place in it: the reference must name exactly them.
	el, err := p.sig.Resolve(doc, p.properties)
	if err != nil {
		return err
	}
	if el != sp {
		id, _ := xmldsig.Attr(sp, "Id")
		return malformed("SignedInfo references %s, but this signature's signed properties have Id %q", p.properties.URI, id)
	}
	k := xmldsig.Children(sp)
	ssp, err := k.Must(nsXAdES, "SignedSignatureProperties")
	if err != nil {
		return err
	}
	// SignedDataObjectProperties (the parts' MIME types) is signed but not
	// interpreted.
	k.Next(nsXAdES, "SignedDataObjectProperties")
	if err := k.End(); err != nil {
		return err
	}
	if err := xmldsig.OnlyAttrs(ssp, "Id"); err != nil {
		return err
	}
	k = xmldsig.Children(ssp)
	st, err := k.Must(nsXAdES, "SigningTime")
	if err != nil {
		return err
	}
	if err := xmldsig.OnlyAttrs(st); err != nil {
		return err
	}
	s, err := xmldsig.Text(st)
	if err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return malformed("the SigningTime %q is not an xsd:dateTime with a time zone", s)
	}
	p.signingTime = t.UTC()
	v2 := false
	sc := k.Next(nsXAdES, "SigningCertificate")
	if sc == nil {
		if sc = k.Next(nsXAdES, "SigningCertificateV2"); sc == nil {
			return malformed("the signed properties lack SigningCertificate")
		}
		v2 = true
	}
	// The policy X-Road names is not interpreted.
	k.Next(nsXAdES, "SignaturePolicyIdentifier")
	if err := k.End(); err != nil {
		return err
	}
	if err := xmldsig.OnlyAttrs(sc); err != nil {
		return err
	}
	k = xmldsig.Children(sc)
	cert, err := k.Must(nsXAdES, "Cert")
	if err != nil {
		return err
	}
	if err := k.End(); err != nil {
		return malformed("SigningCertificate names more than one certificate")
	}
	if err := xmldsig.OnlyAttrs(cert, "URI"); err != nil {
		return err
	}
	k = xmldsig.Children(cert)
	if p.certDigest, err = readCertDigest(k); err != nil {
		return err
	}
	if v2 {
		if isv2 := k.Next(nsXAdES, "IssuerSerialV2"); isv2 != nil {
			if err := xmldsig.OnlyAttrs(isv2); err != nil {
				return err
			}
			if p.issuerSerialV2, err = xmldsig.Base64(isv2); err != nil {
				return err
			}
		}
	} else {
		serial, err := k.Must(nsXAdES, "IssuerSerial")
		if err != nil {
			return err
		}
		if p.certSerial, err = readIssuerSerial(serial); err != nil {
			return err
		}
	}
	return k.End()
}

// readCertDigest reads xades:CertDigest.
func readCertDigest(k *xmldsig.Cursor) (xmldsig.Digest, error) {
	cd, err := k.Must(nsXAdES, "CertDigest")
	if err != nil {
		return xmldsig.Digest{}, err
	}
	if err := xmldsig.OnlyAttrs(cd); err != nil {
		return xmldsig.Digest{}, err
	}
	dk := xmldsig.Children(cd)
	d, err := xmldsig.ReadDigest(dk, rules.DigestMethods)
	if err != nil {
		return xmldsig.Digest{}, err
	}
	return d, dk.End()
}

// readIssuerSerial returns the serial number of xades:IssuerSerial. The
// issuer name is not compared: implementations render it differently, and
// CertDigest already names the certificate.
func readIssuerSerial(el *etree.Element) (*big.Int, error) {
	if err := xmldsig.OnlyAttrs(el); err != nil {
		return nil, err
	}
	k := xmldsig.Children(el)
	name, err := k.Must(nsDS, "X509IssuerName")
	if err != nil {
		return nil, err
	}
	if _, err := xmldsig.Text(name); err != nil {
		return nil, err
	}
	sn, err := k.Must(nsDS, "X509SerialNumber")
	if err != nil {
		return nil, err
	}
	if err := k.End(); err != nil {
		return nil, err
	}
	s, err := xmldsig.Text(sn)
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
	if err := xmldsig.OnlyAttrs(up, "Id"); err != nil {
		return err
	}
	usp, err := xmldsig.Single(up, nsXAdES, "UnsignedSignatureProperties", "Id")
	if err != nil {
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
	k := xmldsig.Children(usp)
	for el := k.Any(); el != nil; el = k.Any() {
		var err error
		switch {
		case xmldsig.Is(el, nsXAdES, "RevocationValues"):
			err = seen(&revocation, el)
		case xmldsig.Is(el, nsXAdES, "CertificateValues"):
			err = seen(&values, el)
		case xmldsig.Is(el, nsXAdES, "CompleteCertificateRefs"):
			err = seen(&refs, el)
		case xmldsig.Is(el, nsXAdES, "SignatureTimeStamp"), xmldsig.Is(el, nsXAdES, "CompleteRevocationRefs"):
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
	if err := p.readCertificateValues(values); err != nil {
		return err
	}
	return p.readCertificateRefs(refs)
}

func (p *parsed) readOCSP(rv *etree.Element) error {
	if err := xmldsig.OnlyAttrs(rv, "Id"); err != nil {
		return err
	}
	ov, err := xmldsig.Single(rv, nsXAdES, "OCSPValues")
	if err != nil {
		return err
	}
	err = xmldsig.Each(ov, nsXAdES, "EncapsulatedOCSPValue", idAttr, func(el *etree.Element) error {
		der, err := xmldsig.Base64(el)
		if err != nil {
			return err
		}
		if !isDERSequence(der) {
			return malformed("an EncapsulatedOCSPValue is not a DER OCSPResponse")
		}
		p.ocsp = append(p.ocsp, der)
		return nil
	})
	if err != nil {
		return err
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

// readCertificateValues parses the embedded certificates and keeps their
// Ids.
func (p *parsed) readCertificateValues(cv *etree.Element) error {
	if cv == nil {
		return nil
	}
	if err := xmldsig.OnlyAttrs(cv, "Id"); err != nil {
		return err
	}
	return xmldsig.Each(cv, nsXAdES, "EncapsulatedX509Certificate", idAttr, func(el *etree.Element) error {
		der, err := xmldsig.Base64(el)
		if err != nil {
			return err
		}
		c, err := parseCertificate(der)
		if err != nil {
			return malformed("an EncapsulatedX509Certificate cannot be parsed: %w", err)
		}
		id, _ := xmldsig.Attr(el, "Id")
		p.extraIDs = append(p.extraIDs, id)
		p.extra = append(p.extra, c.cert)
		p.extraCached = append(p.extraCached, c)
		return nil
	})
}

// readCertificateRefs reads CompleteCertificateRefs; checkCertificateRefs
// compares them with the embedded certificates.
func (p *parsed) readCertificateRefs(refs *etree.Element) error {
	if refs == nil {
		return nil
	}
	if err := xmldsig.OnlyAttrs(refs, "Id"); err != nil {
		return err
	}
	certRefs, err := xmldsig.Single(refs, nsXAdES, "CertRefs")
	if err != nil {
		return err
	}
	return xmldsig.Each(certRefs, nsXAdES, "Cert", uriAttr, func(c *etree.Element) error {
		uri, _ := xmldsig.Attr(c, "URI")
		ck := xmldsig.Children(c)
		d, err := readCertDigest(ck)
		if err != nil {
			return err
		}
		if serial := ck.Next(nsXAdES, "IssuerSerial"); serial != nil {
			if _, err := readIssuerSerial(serial); err != nil {
				return err
			}
		}
		if err := ck.End(); err != nil {
			return err
		}
		p.certRefs = append(p.certRefs, certRef{uri, d})
		return nil
	})
}
