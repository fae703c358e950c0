package hashchain

import (
	"crypto"
	"encoding/base64"
	"strconv"

	"github.com/sluz/sluz/internal/c14n"
)

// Builder builds the hash chains of a batch the way X-Road's
// HashChainBuilder does. The zero Builder builds the chains of a batch
// signature with SHA-512.
type Builder struct {
	// Method is the digest method URI of every step and input; "" means
	// DefaultMethod (SHA-512). Inputs given as digests must use it.
	Method string
	// ChainURI is where each HashChain document will be found: the
	// HashChainResult references ChainURI#STEP0. "" means SigChainURI;
	// time-stamp batches use TSChainURI.
	ChainURI string
	// DataURI names an input's first part in its DataRef; the others are
	// AttachmentURI(1), AttachmentURI(2), ... "" means MessageURI;
	// time-stamp batches use SignaturesURI.
	DataURI string
	// Single builds a chain for a single one-part input too, which X-Road
	// refuses: its chain is one step with one DataRef, and the result's
	// digest is that step's. Şlüz's message log uses it for a time-stamp
	// batch of one record, which X-Road would stamp on its own (the token
	// inside signatures.xml); X-Road's verifier follows such a chain like
	// any other.
	Single bool
}

// Batch is what Build returns.
type Batch struct {
	// Result is the HashChainResult document: the bytes to sign, stored as
	// SigResultURI.
	Result []byte
	// Chains holds one HashChain document per input, in input order,
	// each stored with its message as ChainURI.
	Chains [][]byte
	// Top is the digest in Result (the Merkle tree's top).
	Top []byte
}

// Build returns the HashChainResult and one HashChain per input. Each input
// is one message: its first part (DataURI) and then its attachments in
// order. An input of several parts enters the tree as the digest of one
// step listing them all; the inputs then form X-Road's Merkle tree (see
// the package comment). Like X-Road, Build refuses no inputs and a single
// input of a single part, which needs no chain (a plain signature
// references it directly).
func (b Builder) Build(inputs ...[]Part) (*Batch, error) {
	t, chainURI, dataURI, err := b.tree(inputs)
	if err != nil {
		return nil, err
	}
	top := t.top()
	out := &Batch{Top: top, Chains: make([][]byte, len(inputs))}
	out.Result = writeResult(chainURI+"#STEP0", t.method, top)
	for i := range inputs {
		out.Chains[i] = writeChain(t.method, t.chain(i, dataURI))
	}
	return out, nil
}

// Result is Build's Result and Top without the chains: what a time-stamper
// needs to stamp a batch, and what a log checks a stored batch against.
func (b Builder) Result(inputs ...[]Part) (result, top []byte, err error) {
	t, chainURI, _, err := b.tree(inputs)
	if err != nil {
		return nil, nil, err
	}
	top = t.top()
	return writeResult(chainURI+"#STEP0", t.method, top), top, nil
}

// Chain is Build's Chains[i] alone, for exporting one input of a batch.
func (b Builder) Chain(i int, inputs ...[]Part) ([]byte, error) {
	t, _, dataURI, err := b.tree(inputs)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(inputs) {
		return nil, fail(ErrMissing, "input %d of a batch of %d", i, len(inputs))
	}
	return writeChain(t.method, t.chain(i, dataURI)), nil
}

// tree reads the inputs into the tree Build lays out.
func (b Builder) tree(inputs [][]Part) (*tree, string, string, error) {
	method := b.Method
	if method == "" {
		method = DefaultMethod
	}
	h, err := hashOf(method)
	if err != nil {
		return nil, "", "", err
	}
	chainURI, dataURI := b.ChainURI, b.DataURI
	if chainURI == "" {
		chainURI = SigChainURI
	}
	if dataURI == "" {
		dataURI = MessageURI
	}
	switch {
	case len(inputs) == 0:
		return nil, "", "", fail(ErrMissing, "no inputs to build a hash chain of; give at least one message")
	case len(inputs) == 1 && len(inputs[0]) == 1 && !b.Single:
		// HashChainBuilder.getHashChainResult: "Hash chains cannot be
		// constructed for single input without attachments."
		return nil, "", "", fail(ErrMissing, "a single input without attachments needs no hash chain; sign its part directly")
	}
	t := &tree{method: method, h: h, cache: map[[2]int][]byte{}, single: len(inputs) == 1 && len(inputs[0]) == 1}
	for i, parts := range inputs {
		if len(parts) == 0 {
			return nil, "", "", fail(ErrMissing, "input %d has no parts; give the message first, then its attachments", i)
		}
		ds := make([][]byte, len(parts))
		for j, p := range parts {
			switch p.kind {
			case partBytes:
				ds[j] = sum(h, p.data)
			case partDigest:
				if p.method != method {
					return nil, "", "", fail(ErrAlgorithm, "input %d part %d: the chain uses %s, the part's digest was computed with %s", i, j, method, p.method)
				}
				ds[j] = p.digest
			default:
				return nil, "", "", fail(ErrMissing, "input %d part %d is %s; a builder needs each part's bytes or digest", i, j, p)
			}
		}
		t.parts = append(t.parts, ds)
		if len(ds) == 1 && !t.single {
			t.leaves = append(t.leaves, ds[0])
		} else {
			t.leaves = append(t.leaves, t.step(ds...))
		}
	}
	return t, chainURI, dataURI, nil
}

// tree is X-Road's Merkle tree over n leaves. HashChainBuilder lays it out
// as an array of 2^k-1 inner nodes (k = ceil(log2 n), getNodesCount) over
// the leaves; pairs of present nodes are hashed bottom-up (hashInputs,
// hashNodes), and a node whose right subtree holds no leaf takes its left
// child's value unhashed (fixTree, getDeep: "orphans" are promoted).
// value(lo, size) is that node's value for the subtree covering leaf slots
// [lo, lo+size).
type tree struct {
	method string
	h      crypto.Hash
	leaves [][]byte   // one per input
	parts  [][][]byte // each input's part digests
	cache  map[[2]int][]byte
	single bool // a single one-part input, chained anyway (Builder.Single)
}

func (t *tree) step(ds ...[]byte) []byte {
	vs := make([]digestValue, len(ds))
	for i, d := range ds {
		vs[i] = digestValue{t.method, d}
	}
	return sum(t.h, stepDigestInput(vs))
}

// height is k: the smallest k with 2^k >= n (HashChainBuilder.ceilingLog2).
func (t *tree) height() int {
	k := 0
	for 1<<k < len(t.leaves) {
		k++
	}
	return k
}

func (t *tree) top() []byte {
	if len(t.leaves) == 1 {
		return t.leaves[0] // getTreeTop: a single input is the top
	}
	return t.value(0, 1<<t.height())
}

// promoted reports whether the node over [lo, lo+size) has an empty right
// half, so that it is its left child.
func (t *tree) promoted(lo, size int) bool { return size > 1 && lo+size/2 >= len(t.leaves) }

func (t *tree) value(lo, size int) []byte {
	for t.promoted(lo, size) {
		size /= 2
	}
	if size == 1 {
		return t.leaves[lo]
	}
	key := [2]int{lo, size}
	if v, ok := t.cache[key]; ok {
		return v
	}
	v := t.step(t.value(lo, size/2), t.value(lo+size/2, size/2))
	t.cache[key] = v
	return v
}

// item is one child of a hash step as written.
type item struct {
	kind   string // "HashValue", "StepRef" or "DataRef"
	uri    string
	digest []byte
}

// chain returns the steps of input i's chain (HashChainBuilder.makeHashChain
// and makeSingleInputHashChain): from the root down, one step per inner
// node with both children present, STEPn in that order; the child on i's
// side is a StepRef to the next step, or a DataRef when it is i's leaf and
// i has one part; the other child is a HashValue (the node's value). The
// children keep their tree order, left then right. An input of several
// parts ends its chain with a step of DataRefs to each part:
// DataURI, then AttachmentURI(1), ...
func (t *tree) chain(i int, dataURI string) [][]item {
	var steps [][]item
	multipart := len(t.parts[i]) > 1 || t.single
	if len(t.leaves) > 1 {
		lo, size := 0, 1<<t.height()
		for size > 1 {
			half := size / 2
			mine, other := lo, lo+half
			right := i >= lo+half
			if right {
				mine, other = other, mine
			}
			mySize := half
			for t.promoted(mine, mySize) {
				mySize /= 2 // missing nodes: go down to the left (makeHashChain)
			}
			var my item
			if mySize == 1 && !multipart {
				my = item{"DataRef", dataURI, t.leaves[i]}
			} else {
				my = item{kind: "StepRef", uri: "#STEP" + strconv.Itoa(len(steps)+1)}
			}
			sib := item{kind: "HashValue", digest: t.value(other, half)}
			if right {
				steps = append(steps, []item{sib, my})
			} else {
				steps = append(steps, []item{my, sib})
			}
			lo, size = mine, mySize
		}
	}
	if multipart {
		var last []item
		for j, d := range t.parts[i] {
			uri := dataURI
			if j > 0 {
				uri = AttachmentURI(j)
			}
			last = append(last, item{"DataRef", uri, d})
		}
		steps = append(steps, last)
	}
	return steps
}

// The documents are written as X-Road's JAXB marshaller formats them
// (JAXB_FORMATTED_OUTPUT; the layout of X-Road's hc-verifier vectors):
// standalone="yes", the hashchain namespace as ns2, xmldsig as the default
// namespace, four spaces per level, unwrapped base64, a final line feed.
const (
	xmlDecl  = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n"
	nsDecls  = ` xmlns:ns2="` + Namespace + `" xmlns="http://www.w3.org/2000/09/xmldsig#"`
	indent1  = "    "
	indent2  = indent1 + indent1
	indent3  = indent2 + indent1
	dvOpen   = "<DigestValue>"
	dvClose  = "</DigestValue>\n"
	algOpen  = ` Algorithm="`
	emptyEnd = `"/>` + "\n"
)

func appendDigestValue(b []byte, ind string, d []byte) []byte {
	b = append(b, ind...)
	b = append(b, dvOpen...)
	b = base64.StdEncoding.AppendEncode(b, d)
	return append(b, dvClose...)
}

func writeResult(uri, method string, top []byte) []byte {
	b := append([]byte(xmlDecl), `<ns2:HashChainResult URI="`...)
	b = c14n.AppendEscapedAttr(b, uri)
	b = append(b, `"`+nsDecls+">\n"...)
	b = append(b, indent1+"<DigestMethod"+algOpen...)
	b = c14n.AppendEscapedAttr(b, method)
	b = append(b, emptyEnd...)
	b = appendDigestValue(b, indent1, top)
	return append(b, "</ns2:HashChainResult>\n"...)
}

func writeChain(method string, steps [][]item) []byte {
	b := append([]byte(xmlDecl), "<ns2:HashChain"+nsDecls+">\n"...)
	b = append(b, indent1+"<ns2:DefaultDigestMethod"+algOpen...)
	b = c14n.AppendEscapedAttr(b, method)
	b = append(b, emptyEnd...)
	for n, st := range steps {
		b = append(b, indent1+`<ns2:HashStep id="STEP`...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, "\">\n"...)
		for _, it := range st {
			b = append(b, indent2+"<ns2:"...)
			b = append(b, it.kind...)
			if it.uri != "" {
				b = append(b, ` URI="`...)
				b = c14n.AppendEscapedAttr(b, it.uri)
				b = append(b, '"')
			}
			if it.kind == "StepRef" {
				b = append(b, "/>\n"...)
				continue
			}
			b = append(b, ">\n"...)
			b = appendDigestValue(b, indent3, it.digest)
			b = append(b, indent2+"</ns2:"...)
			b = append(b, it.kind...)
			b = append(b, ">\n"...)
		}
		b = append(b, indent1+"</ns2:HashStep>\n"...)
	}
	return append(b, "</ns2:HashChain>\n"...)
}
