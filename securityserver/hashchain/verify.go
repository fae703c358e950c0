package hashchain

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sluz/sluz/internal/xmldsig"
)

// Verifier checks a HashChainResult against its hash chains and the parts
// they reference. The zero Verifier is ready, with the default limits.
type Verifier struct {
	// MaxDocumentBytes bounds each HashChainResult and HashChain document;
	// 0 means DefaultMaxDocumentBytes (1 MiB).
	MaxDocumentBytes int
	// MaxElements bounds the elements of each document; 0 means
	// DefaultMaxElements.
	MaxElements int
}

// Verify is Verifier{}.Verify.
func Verify(result []byte, chains map[string][]byte, parts map[string]Part) error {
	var v Verifier
	return v.Verify(result, chains, parts)
}

// Verify checks that result, the HashChainResult document as received,
// is the digest of the chain it references, computed from the parts.
// chains maps each HashChain document's URI (SigChainURI for a batch
// signature) to its bytes; parts maps each part's URI (MessageURI,
// AttachmentURI(n)) to the part. It succeeds only if the chain computes
// result's digest, every DataRef names a part given and its digest is that
// part's own (digested now from its bytes, or compared with the digest
// computed as it streamed), and every part, chain document and hash step
// given is used exactly once. The error says which check failed and what
// was required and found; it wraps one of the package's Err values.
func (v *Verifier) Verify(result []byte, chains map[string][]byte, parts map[string]Part) error {
	o := v.readOptions()
	res, err := readResult(result, o)
	if err != nil {
		return err
	}
	w := &walk{opts: o, chains: chains, parts: parts, docs: map[string]*chainDoc{}, usedParts: map[string]bool{}}
	docURI, id, err := splitStepURI(res.uri)
	if err != nil {
		return err
	}
	if docURI == "" {
		return fail(ErrMalformed, "the HashChainResult references %q, a step without its chain document; X-Road writes %s#STEP0", res.uri, SigChainURI)
	}
	doc, err := w.doc(docURI)
	if err != nil {
		return err
	}
	stepDER, err := w.step(doc, id)
	if err != nil {
		return err
	}
	h, err := hashOf(res.method)
	if err != nil {
		return err
	}
	if got := sum(h, stepDER); !bytes.Equal(got, res.digest) {
		return fail(ErrResult, "the chain from %s computes %s, the HashChainResult says %s", res.uri, b64(got), b64(res.digest))
	}
	return w.unused()
}

// walk is one verification's state.
type walk struct {
	opts      xmldsig.Options
	chains    map[string][]byte
	parts     map[string]Part
	docs      map[string]*chainDoc
	usedParts map[string]bool
}

func (w *walk) doc(uri string) (*chainDoc, error) {
	if d, ok := w.docs[uri]; ok {
		return d, nil
	}
	data, ok := w.chains[uri]
	if !ok {
		return nil, fail(ErrMissing, "the hash chain %s is referenced but not given; given: %s", uri, names(w.chains))
	}
	d, err := readChain(uri, data, w.opts)
	if err != nil {
		return nil, err
	}
	w.docs[uri] = d
	return d, nil
}

// step returns the DER DigestList of step id in doc (HashChainVerifier.
// resolveHashStep). A step may be used once: X-Road's chains are paths,
// and a second use would be a cycle or a step counted twice.
func (w *walk) step(doc *chainDoc, id string) ([]byte, error) {
	st, ok := doc.byID[id]
	if !ok {
		return nil, fail(ErrMalformed, "%s has no hash step %q; its steps are %s", doc.uri, id, stepIDs(doc))
	}
	if st.used {
		return nil, fail(ErrMalformed, "%s#%s is referenced twice; each step of a chain is used once", doc.uri, id)
	}
	st.used = true
	values := make([]digestValue, len(st.values))
	for i, val := range st.values {
		method := val.method
		if method == "" {
			method = doc.defaultMethod
		}
		if method == "" {
			return nil, fail(ErrMalformed, "%s#%s: a %s has no DigestMethod and the chain has no DefaultDigestMethod", doc.uri, id, val.kind)
		}
		h, err := hashOf(method)
		if err != nil {
			return nil, fmt.Errorf("%s#%s: %w", doc.uri, id, err)
		}
		d := digestValue{method: method}
		switch val.kind {
		case "HashValue":
			d.digest = val.digest
		case "StepRef":
			next, nextID, err := splitStepURI(val.uri)
			if err != nil {
				return nil, err
			}
			nextDoc := doc
			if next != "" {
				if nextDoc, err = w.doc(next); err != nil {
					return nil, err
				}
			}
			der, err := w.step(nextDoc, nextID)
			if err != nil {
				return nil, err
			}
			d.digest = sum(h, der)
		case "DataRef":
			if d.digest, err = w.dataRef(doc.uri+"#"+id, val, method, h); err != nil {
				return nil, err
			}
		}
		values[i] = d
	}
	return stepDigestInput(values), nil
}

// dataRef checks one DataRef against its part and returns the part's
// digest (HashChainVerifier.resolveDataRef, but strict: the part must be
// given, and a digest given for it is compared with the DataRef's, not
// substituted for it).
func (w *walk) dataRef(where string, val value, method string, h crypto.Hash) ([]byte, error) {
	p, ok := w.parts[val.uri]
	if !ok {
		return nil, fail(ErrMissing, "%s references %s, which is not among the parts given (%s)", where, val.uri, names(w.parts))
	}
	if w.usedParts[val.uri] {
		return nil, fail(ErrMalformed, "%s references %s a second time; each part is referenced once", where, val.uri)
	}
	w.usedParts[val.uri] = true
	var got []byte
	switch p.kind {
	case partBytes:
		data := p.data
		if val.c14n {
			var err error
			if data, err = canonical(data); err != nil {
				return nil, fail(ErrDataRef, "%s: the DataRef to %s canonicalises the part, which cannot be: %v", where, val.uri, err)
			}
		}
		got = sum(h, data)
	case partDigest:
		if val.c14n {
			return nil, fail(ErrMissing, "%s: the DataRef to %s canonicalises the part first; give the part's bytes, not its digest", where, val.uri)
		}
		if p.method != method {
			return nil, fail(ErrAlgorithm, "%s: the DataRef to %s is digested with %s; the part's digest was computed with %s", where, val.uri, method, p.method)
		}
		got = p.digest
	case partAbsent:
		return val.digest, nil
	default:
		return nil, fail(ErrMissing, "%s: the part %s is the zero Part; give Bytes, Digested or Absent", where, val.uri)
	}
	if !bytes.Equal(got, val.digest) {
		return nil, fail(ErrDataRef, "%s: the DataRef to %s has digest %s; the part's is %s", where, val.uri, b64(val.digest), b64(got))
	}
	return got, nil
}

// unused refuses parts, chain documents and steps that the chain did not
// use (HashChainVerifier.checkReferencedInputs, extended to documents and
// steps: nothing given may be left over).
func (w *walk) unused() error {
	var left []string
	for _, uri := range slices.Sorted(maps.Keys(w.parts)) {
		if !w.usedParts[uri] {
			left = append(left, uri)
		}
	}
	if len(left) > 0 {
		return fail(ErrUnused, "the hash chain references %s but not %s; give only the parts it covers", names(w.usedParts), strings.Join(left, ", "))
	}
	for _, uri := range slices.Sorted(maps.Keys(w.chains)) {
		d, ok := w.docs[uri]
		if !ok {
			return fail(ErrUnused, "the hash chain document %s is never referenced", uri)
		}
		for _, st := range d.steps {
			if !st.used {
				return fail(ErrUnused, "%s#%s is never referenced; a chain has no spare steps", uri, st.id)
			}
		}
	}
	return nil
}

func names[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

func stepIDs(d *chainDoc) string {
	if len(d.steps) == 0 {
		return "none"
	}
	ids := make([]string, len(d.steps))
	for i, st := range d.steps {
		ids[i] = st.id
	}
	return strings.Join(ids, ", ")
}

func b64(d []byte) string { return base64.StdEncoding.EncodeToString(d) }

// DataRefs returns the digest each DataRef of a HashChain document names,
// by the URI it references (MessageURI, AttachmentURI(n), ...), as the
// document says them: nothing is checked but the document's form. It lets
// a verifier that was refused with ErrDataRef tell a changed part from
// parts given in another order.
func DataRefs(chain []byte) (map[string][]byte, error) {
	var v Verifier
	doc, err := readChain(SigChainURI, chain, v.readOptions())
	if err != nil {
		return nil, err
	}
	refs := map[string][]byte{}
	for _, s := range doc.steps {
		for _, val := range s.values {
			if val.kind == "DataRef" {
				refs[val.uri] = val.digest
			}
		}
	}
	return refs, nil
}

// ResultDigest returns the digest a HashChainResult document states (the
// chain's top), after reading it as strictly as Verify does; it checks
// nothing else.
func ResultDigest(result []byte) ([]byte, error) {
	var v Verifier
	res, err := readResult(result, v.readOptions())
	if err != nil {
		return nil, err
	}
	return res.digest, nil
}
