package hashchain

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/internal/xmltok"
)

// Defaults of Verifier's limits.
const (
	// DefaultMaxDocumentBytes: a chain for a batch of 2^20 messages is
	// about 20 steps (a few KB); a message's own step lists one DataRef per
	// attachment, about 150 bytes each.
	DefaultMaxDocumentBytes = 1 << 20
	// DefaultMaxElements bounds the elements of one document.
	DefaultMaxElements = 1 << 15
)

// maxDepth: HashChain/HashStep/DataRef/Transforms/Transform is the deepest
// path hashchain.xsd allows.
const maxDepth = 5

// result is a HashChainResult document.
type result struct {
	uri    string // the chain document and step: "/sig-hashchain.xml#STEP0"
	method string
	digest []byte
}

// chainDoc is a HashChain document.
type chainDoc struct {
	uri           string
	defaultMethod string // "" if absent
	steps         []*hashStep
	byID          map[string]*hashStep
}

type hashStep struct {
	id     string
	values []value
	used   bool
}

// value is one HashValue, StepRef or DataRef of a step.
type value struct {
	kind   string // "HashValue", "StepRef" or "DataRef"
	method string // its own DigestMethod, "" for the chain's default
	uri    string // StepRef and DataRef
	digest []byte // HashValue and DataRef
	c14n   bool   // DataRef: the one transform accepted, inclusive C14N 1.0
}

func (v *Verifier) readOptions() xmldsig.Options {
	o := xmldsig.Options{MaxBytes: v.MaxDocumentBytes, MaxDepth: maxDepth, MaxElements: v.MaxElements}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxDocumentBytes
	}
	if o.MaxElements == 0 {
		o.MaxElements = DefaultMaxElements
	}
	return o
}

func malformed(doc string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrMalformed, doc, err)
}

// readResult reads a HashChainResult document (hashchain.xsd,
// HashChainResultType: StepRefType's URI and optional ds:DigestMethod,
// then ds:DigestValue). Şlüz requires the DigestMethod, which X-Road's
// verifier dereferences unconditionally, and a digest of its method's size.
func readResult(data []byte, o xmldsig.Options) (*result, error) {
	const doc = "HashChainResult"
	root, err := readRoot(doc, data, o, "HashChainResult")
	if err != nil {
		return nil, err
	}
	uri, err := requiredURI(root)
	if err != nil {
		return nil, malformed(doc, err)
	}
	k := xmldsig.Children(root)
	dg, err := xmldsig.ReadDigest(k, []string{xmldsig.SHA256, xmldsig.SHA384, xmldsig.SHA512})
	if err != nil {
		return nil, malformed(doc, err)
	}
	if err := k.End(); err != nil {
		return nil, malformed(doc, err)
	}
	return &result{uri: uri, method: dg.Method, digest: dg.Value}, nil
}

// readRoot reads the document named doc strictly and returns its root,
// which must be {Namespace}local.
func readRoot(doc string, data []byte, o xmldsig.Options, local string) (*etree.Element, error) {
	d, err := xmldsig.Read(data, o)
	if err != nil {
		return nil, malformed(doc, err)
	}
	if !xmldsig.Is(d.Root, Namespace, local) {
		return nil, fail(ErrMalformed, "%s: the root element is {%s}%s; want {%s}%s", doc, d.Root.NamespaceURI(), d.Root.Tag, Namespace, local)
	}
	return d.Root, nil
}

// requiredURI returns the URI attribute, the only attribute the value types
// of hashchain.xsd have ("use=required").
func requiredURI(el *etree.Element) (string, error) {
	if err := xmldsig.OnlyAttrs(el, "URI"); err != nil {
		return "", err
	}
	uri, ok := xmldsig.Attr(el, "URI")
	if !ok || uri == "" {
		return "", fmt.Errorf("<%s> needs a URI attribute; it has none", el.Tag)
	}
	return uri, nil
}

// readChain reads a HashChain document (hashchain.xsd, HashChainType:
// an optional DefaultDigestMethod, then HashSteps). Beyond the schema, each
// step needs an id (a step without one cannot be referenced) and at least
// one value (a step of nothing commits to nothing; X-Road's builder writes
// two values or more).
func readChain(uri string, data []byte, o xmldsig.Options) (*chainDoc, error) {
	root, err := readRoot(uri, data, o, "HashChain")
	if err != nil {
		return nil, err
	}
	if err := xmldsig.OnlyAttrs(root); err != nil {
		return nil, malformed(uri, err)
	}
	c := &chainDoc{uri: uri, byID: map[string]*hashStep{}}
	k := xmldsig.Children(root)
	if dm := k.Next(Namespace, "DefaultDigestMethod"); dm != nil {
		if c.defaultMethod, err = algorithm(dm); err != nil {
			return nil, malformed(uri, err)
		}
	}
	for el := k.Next(Namespace, "HashStep"); el != nil; el = k.Next(Namespace, "HashStep") {
		st, err := readStep(el)
		if err != nil {
			return nil, malformed(uri, err)
		}
		c.steps = append(c.steps, st)
		c.byID[st.id] = st // xmldsig.Read refused a repeated id
	}
	if err := k.End(); err != nil {
		return nil, malformed(uri, err)
	}
	return c, nil
}

func algorithm(el *etree.Element) (string, error) {
	alg, err := xmldsig.Algorithm(el)
	if err != nil {
		return "", err
	}
	if alg == "" {
		return "", fmt.Errorf("<%s> has an empty Algorithm", el.Tag)
	}
	return alg, nil
}

func readStep(el *etree.Element) (*hashStep, error) {
	if err := xmldsig.OnlyAttrs(el, "id"); err != nil {
		return nil, err
	}
	id, _ := xmldsig.Attr(el, "id")
	if !isNCName(id) {
		return nil, fmt.Errorf("a HashStep needs an id that is an XML NCName (xs:ID); found %q", id)
	}
	st := &hashStep{id: id}
	k := xmldsig.Children(el)
	for c := k.Any(); c != nil; c = k.Any() {
		if c.NamespaceURI() != Namespace {
			return nil, fmt.Errorf("HashStep %s: a HashValue, StepRef or DataRef is required; found {%s}%s", id, c.NamespaceURI(), c.Tag)
		}
		v, err := readValue(c)
		if err != nil {
			return nil, fmt.Errorf("HashStep %s: %w", id, err)
		}
		st.values = append(st.values, v)
	}
	if len(st.values) == 0 {
		return nil, fmt.Errorf("HashStep %s is empty; a step needs at least one HashValue, StepRef or DataRef", id)
	}
	return st, nil
}

// readValue reads one value (AbstractValueType: an optional ds:DigestMethod;
// DataRef and HashValue then an optional ds:Transforms and a ds:DigestValue).
func readValue(el *etree.Element) (value, error) {
	v := value{kind: el.Tag}
	var err error
	switch el.Tag {
	case "StepRef", "DataRef":
		if v.uri, err = requiredURI(el); err != nil {
			return v, err
		}
	case "HashValue":
		if err := xmldsig.OnlyAttrs(el); err != nil {
			return v, err
		}
	default:
		return v, fmt.Errorf("a HashValue, StepRef or DataRef is required; found %s", el.Tag)
	}
	k := xmldsig.Children(el)
	if dm := k.Next(xmldsig.NS, "DigestMethod"); dm != nil {
		if v.method, err = algorithm(dm); err != nil {
			return v, err
		}
	}
	if v.kind == "StepRef" {
		return v, k.End()
	}
	if tr := k.Next(xmldsig.NS, "Transforms"); tr != nil {
		if v.kind != "DataRef" {
			return v, fmt.Errorf("a HashValue has Transforms; a hash value has nothing to transform")
		}
		if err := readTransforms(tr); err != nil {
			return v, fmt.Errorf("DataRef %s: %w", v.uri, err)
		}
		v.c14n = true
	}
	dv, err := k.Must(xmldsig.NS, "DigestValue")
	if err != nil {
		return v, fmt.Errorf("%s: %w", v.kind, err)
	}
	if err := xmldsig.OnlyAttrs(dv); err != nil {
		return v, err
	}
	if v.digest, err = xmldsig.Base64(dv); err != nil {
		return v, fmt.Errorf("%s %s: DigestValue: %w", v.kind, v.uri, err)
	}
	return v, k.End()
}

// readTransforms accepts exactly one Transform, inclusive C14N 1.0 without
// comments: the one X-Road's own vector (hc-verifier3) uses. X-Road's
// builder writes no Transforms at all.
func readTransforms(tr *etree.Element) error {
	if err := xmldsig.OnlyAttrs(tr); err != nil {
		return err
	}
	t, err := xmldsig.Single(tr, xmldsig.NS, "Transform", "Algorithm")
	if err != nil {
		return err
	}
	alg, err := xmldsig.Algorithm(t)
	if err != nil {
		return err
	}
	if alg != xmldsig.C14N10 {
		return fmt.Errorf("the transform %q is not supported; only %s is", alg, xmldsig.C14N10)
	}
	return nil
}

// isNCName reports whether s is a non-empty XML name without colons.
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := false
		if r < utf8.RuneSelf {
			ok = xmltok.IsNameByte(byte(r), i == 0)
		} else {
			ok = xmltok.IsNameRune(r, i == 0)
		}
		if !ok {
			return false
		}
	}
	return true
}

// canonical returns the inclusive C14N 1.0 form (without comments) of a
// whole XML document, for a DataRef with that transform. The comments
// are cut out of the bytes (C14N without comments drops them; cutting
// joins the text around them exactly as the node set does), then the rest
// is read as strictly as any signed document and canonicalised.
func canonical(data []byte) ([]byte, error) {
	var tok xmltok.Tokenizer
	tok.Reset(data)
	var cut []byte
	last := 0
	for {
		t, err := tok.Next()
		if err != nil {
			return nil, fmt.Errorf("the part is not well-formed XML: %w", err)
		}
		if t.Kind == xmltok.EOF {
			break
		}
		if t.Kind == xmltok.Comment {
			cut = append(cut, data[last:t.Start]...)
			last = t.End
		}
	}
	if cut != nil {
		data = append(cut, data[last:]...)
	}
	d, err := xmldsig.Read(data, xmldsig.Options{})
	if err != nil {
		return nil, err
	}
	return xmldsig.Canonicalize(nil, d.Root, false, nil), nil
}

// splitStepURI splits a StepRef or HashChainResult URI into the chain
// document ("" for the current one) and the step id.
func splitStepURI(uri string) (docURI, id string, err error) {
	docURI, id, ok := strings.Cut(uri, "#")
	if !ok || id == "" {
		return "", "", fail(ErrMalformed, "invalid hash step URI %q: a step is named by a fragment, as in %s#STEP0", uri, SigChainURI)
	}
	return docURI, id, nil
}
