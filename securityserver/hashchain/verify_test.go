package hashchain_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/securityserver/hashchain"
)

func wantErr(t *testing.T, err error, kind error, text string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one wrapping %q and saying %q", kind, text)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q does not wrap %q", err, kind)
	}
	if !strings.Contains(err.Error(), text) {
		t.Fatalf("error %q does not say %q", err, text)
	}
}

// TestVerifyRefuses takes a valid batch of three messages (input 1 with two
// attachments) and breaks one thing at a time: each refusal has its own
// kind and says what was required and what was found.
func TestVerifyRefuses(t *testing.T) {
	data := [][][]byte{messageData(0, 0), messageData(1, 2), messageData(2, 0)}
	out := batch(t, hashchain.Builder{}, [][]hashchain.Part{partsList(data[0]), partsList(data[1]), partsList(data[2])})
	chain := string(out.Chains[1])
	edit := func(old, new string) string {
		if !strings.Contains(chain, old) {
			t.Fatalf("chain has no %q:\n%s", old, chain)
		}
		return strings.Replace(chain, old, new, 1)
	}
	parts := func(change func(map[string]hashchain.Part)) map[string]hashchain.Part {
		m := partsOf(data[1], false)
		if change != nil {
			change(m)
		}
		return m
	}
	sha256Of := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
	c14nChain := edit(`<ns2:DataRef URI="/attachment2">`, `<ns2:DataRef URI="/attachment2"><Transforms><Transform Algorithm="`+xmldsig.C14N10+`"/></Transforms>`)

	cases := []struct {
		name   string
		result string
		chains map[string]string
		parts  map[string]hashchain.Part
		kind   error
		text   string
	}{
		{name: "tampered part", parts: parts(func(m map[string]hashchain.Part) {
			m["/attachment1"] = hashchain.Bytes([]byte("attachment 1 of message 1!"))
		}), kind: hashchain.ErrDataRef, text: "/sig-hashchain.xml#STEP2: the DataRef to /attachment1 has digest "},
		{name: "swapped parts", parts: parts(func(m map[string]hashchain.Part) {
			m["/attachment1"], m["/attachment2"] = m["/attachment2"], m["/attachment1"]
		}), kind: hashchain.ErrDataRef, text: "the DataRef to /attachment1 has digest"},
		{name: "another message's parts", parts: partsOf(data[0], false),
			kind: hashchain.ErrDataRef, text: "/sig-hashchain.xml#STEP2: the DataRef to /message.xml has digest"},
		{name: "another message's chain", chains: map[string]string{hashchain.SigChainURI: string(out.Chains[2])},
			kind: hashchain.ErrDataRef, text: "the DataRef to /message.xml has digest"},
		{name: "unused input", parts: parts(func(m map[string]hashchain.Part) {
			m["/attachment3"] = hashchain.Bytes(nil)
		}), kind: hashchain.ErrUnused, text: "references /attachment1, /attachment2, /message.xml but not /attachment3"},
		{name: "missing reference", parts: parts(func(m map[string]hashchain.Part) { delete(m, "/attachment2") }),
			kind: hashchain.ErrMissing, text: "references /attachment2, which is not among the parts given (/attachment1, /message.xml)"},
		{name: "zero part", parts: parts(func(m map[string]hashchain.Part) { m["/attachment2"] = hashchain.Part{} }),
			kind: hashchain.ErrMissing, text: "the part /attachment2 is the zero Part"},
		{name: "wrong digest algorithm", parts: parts(func(m map[string]hashchain.Part) {
			m["/message.xml"] = hashchain.Digested(xmldsig.SHA256, sha256Of(data[1][0]))
		}), kind: hashchain.ErrAlgorithm, text: "the DataRef to /message.xml is digested with " + xmldsig.SHA512 + "; the part's digest was computed with " + xmldsig.SHA256},
		{name: "unsupported algorithm", chains: map[string]string{hashchain.SigChainURI: edit(xmldsig.SHA512, "http://www.w3.org/2000/09/xmldsig#sha1")},
			kind: hashchain.ErrAlgorithm, text: `digest method "http://www.w3.org/2000/09/xmldsig#sha1" is not supported`},
		{name: "no digest method", chains: map[string]string{hashchain.SigChainURI: edit(`<ns2:DefaultDigestMethod Algorithm="`+xmldsig.SHA512+`"/>`, "")},
			kind: hashchain.ErrMalformed, text: "has no DigestMethod and the chain has no DefaultDigestMethod"},
		{name: "tampered hash value", chains: map[string]string{hashchain.SigChainURI: edit("<DigestValue>", "<DigestValue>AAAA")},
			kind: hashchain.ErrResult, text: "the chain from /sig-hashchain.xml#STEP0 computes"},
		{name: "tampered result", result: strings.Replace(string(out.Result), "<DigestValue>", "<DigestValue>AAAA", 1),
			kind: hashchain.ErrMalformed, text: "digest value has 67 bytes, not 64"},
		{name: "cycle", chains: map[string]string{hashchain.SigChainURI: edit(`URI="#STEP1"`, `URI="#STEP0"`)},
			kind: hashchain.ErrMalformed, text: "/sig-hashchain.xml#STEP0 is referenced twice"},
		{name: "unknown step", chains: map[string]string{hashchain.SigChainURI: edit(`URI="#STEP1"`, `URI="#STEP9"`)},
			kind: hashchain.ErrMalformed, text: `/sig-hashchain.xml has no hash step "STEP9"; its steps are STEP0, STEP1, STEP2`},
		{name: "step without fragment", chains: map[string]string{hashchain.SigChainURI: edit(`URI="#STEP1"`, `URI="/sig-hashchain.xml"`)},
			kind: hashchain.ErrMalformed, text: `invalid hash step URI "/sig-hashchain.xml"`},
		{name: "missing chain document", chains: map[string]string{"/other.xml": chain},
			kind: hashchain.ErrMissing, text: "the hash chain /sig-hashchain.xml is referenced but not given; given: /other.xml"},
		{name: "unused chain document", chains: map[string]string{hashchain.SigChainURI: chain, "/spare.xml": chain},
			kind: hashchain.ErrUnused, text: "the hash chain document /spare.xml is never referenced"},
		{name: "unused step", chains: map[string]string{hashchain.SigChainURI: edit(`</ns2:HashChain>`, `<ns2:HashStep id="STEP9"><ns2:HashValue><DigestValue>AA==</DigestValue></ns2:HashValue></ns2:HashStep></ns2:HashChain>`)},
			kind: hashchain.ErrUnused, text: "/sig-hashchain.xml#STEP9 is never referenced"},
		{name: "part referenced twice", chains: map[string]string{hashchain.SigChainURI: edit(`URI="/attachment2"`, `URI="/attachment1"`)},
			kind: hashchain.ErrMalformed, text: "references /attachment1 a second time"},
		{name: "transform over a digest", chains: map[string]string{hashchain.SigChainURI: c14nChain}, parts: partsOf(data[1], true),
			kind: hashchain.ErrMissing, text: "the DataRef to /attachment2 canonicalises the part first; give the part's bytes"},
		{name: "transform over non-XML", chains: map[string]string{hashchain.SigChainURI: c14nChain},
			kind: hashchain.ErrDataRef, text: "the DataRef to /attachment2 canonicalises the part, which cannot be"},
		// Schema violations (hashchain.xsd), each its own detail.
		{name: "schema: unknown element", chains: map[string]string{hashchain.SigChainURI: edit("</ns2:HashValue>", "<FooBar/></ns2:HashValue>")},
			kind: hashchain.ErrMalformed, text: "unexpected child <FooBar>"},
		{name: "schema: unknown attribute", chains: map[string]string{hashchain.SigChainURI: edit(`<ns2:HashValue>`, `<ns2:HashValue URI="/x">`)},
			kind: hashchain.ErrMalformed, text: "URI"},
		{name: "schema: missing DigestValue", chains: map[string]string{hashchain.SigChainURI: edit(`<ns2:StepRef URI="#STEP1"/>`, `<ns2:DataRef URI="/attachment9"/>`)},
			kind: hashchain.ErrMalformed, text: "DataRef: "},
		{name: "schema: StepRef with a digest", chains: map[string]string{hashchain.SigChainURI: edit(`<ns2:StepRef URI="#STEP1"/>`, `<ns2:StepRef URI="#STEP1"><DigestValue>AA==</DigestValue></ns2:StepRef>`)},
			kind: hashchain.ErrMalformed, text: "DigestValue"},
		{name: "schema: step without id", chains: map[string]string{hashchain.SigChainURI: edit(`<ns2:HashStep id="STEP2">`, `<ns2:HashStep>`)},
			kind: hashchain.ErrMalformed, text: `a HashStep needs an id that is an XML NCName (xs:ID); found ""`},
		{name: "schema: empty step", chains: map[string]string{hashchain.SigChainURI: edit(`</ns2:HashChain>`, `<ns2:HashStep id="STEP9"/></ns2:HashChain>`)},
			kind: hashchain.ErrMalformed, text: "HashStep STEP9 is empty"},
		{name: "schema: wrong namespace", chains: map[string]string{hashchain.SigChainURI: strings.ReplaceAll(chain, hashchain.Namespace, "http://example.com/hashchain")},
			kind: hashchain.ErrMalformed, text: "the root element is {http://example.com/hashchain}HashChain; want {http://cyber.ee/hashchain}HashChain"},
		{name: "schema: result is a chain", result: chain,
			kind: hashchain.ErrMalformed, text: "want {http://cyber.ee/hashchain}HashChainResult"},
		{name: "schema: text in a step", chains: map[string]string{hashchain.SigChainURI: edit(`<ns2:HashStep id="STEP2">`, `<ns2:HashStep id="STEP2">text`)},
			kind: hashchain.ErrMalformed, text: "/sig-hashchain.xml: "},
		{name: "xml: comment", chains: map[string]string{hashchain.SigChainURI: edit(`<ns2:HashStep id="STEP2">`, `<ns2:HashStep id="STEP2"><!-- x -->`)},
			kind: hashchain.ErrMalformed, text: "comment"},
		{name: "xml: DTD", result: strings.Replace(string(out.Result), "?>\n", "?>\n<!DOCTYPE x>\n", 1),
			kind: hashchain.ErrMalformed, text: "DOCTYPE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			result := out.Result
			if c.result != "" {
				result = []byte(c.result)
			}
			chains := map[string][]byte{hashchain.SigChainURI: out.Chains[1]}
			if c.chains != nil {
				chains = map[string][]byte{}
				for uri, doc := range c.chains {
					chains[uri] = []byte(doc)
				}
			}
			ps := c.parts
			if ps == nil {
				ps = parts(nil)
			}
			wantErr(t, hashchain.Verify(result, chains, ps), c.kind, c.text)
		})
	}
}

// TestVerifyAccepts: what the strict verifier still accepts.
func TestVerifyAccepts(t *testing.T) {
	data := [][][]byte{messageData(0, 2), messageData(1, 0)}
	out := batch(t, hashchain.Builder{Method: xmldsig.SHA384}, [][]hashchain.Part{partsList(data[0]), partsList(data[1])})
	chains := map[string][]byte{hashchain.SigChainURI: out.Chains[0]}
	t.Run("absent attachments", func(t *testing.T) {
		ps := partsOf(data[0], false)
		ps["/attachment1"], ps["/attachment2"] = hashchain.Absent(), hashchain.Absent()
		if err := hashchain.Verify(out.Result, chains, ps); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reformatted chain", func(t *testing.T) {
		// The chain's digests are over values, not its bytes: another
		// layout of the same document verifies.
		compact := bytes.ReplaceAll(bytes.ReplaceAll(out.Chains[0], []byte("\n"), nil), []byte("    "), nil)
		if err := hashchain.Verify(out.Result, map[string][]byte{hashchain.SigChainURI: compact}, partsOf(data[0], false)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("own digest methods", func(t *testing.T) {
		// A value may name its own DigestMethod instead of the default.
		dm := `<DigestMethod Algorithm="` + xmldsig.SHA384 + `"/>`
		c := strings.Replace(string(out.Chains[0]), `<ns2:StepRef URI="#STEP1"/>`, `<ns2:StepRef URI="#STEP1">`+dm+`</ns2:StepRef>`, 1)
		c = strings.Replace(c, `<ns2:HashValue>`, `<ns2:HashValue>`+dm, 1)
		if c == string(out.Chains[0]) {
			t.Fatal("nothing replaced")
		}
		if err := hashchain.Verify(out.Result, map[string][]byte{hashchain.SigChainURI: []byte(c)}, partsOf(data[0], false)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("c14n transform", func(t *testing.T) {
		// inclusive C14N 1.0 drops the comment and the declaration and
		// expands the empty element.
		msg := []byte("<?xml version=\"1.0\"?>\n<a><!-- c --><b/></a>")
		canon := sha256.Sum256([]byte("<a><b></b></a>"))
		other := sha256.Sum256([]byte("x"))
		b := hashchain.Builder{Method: xmldsig.SHA256}
		out, err := b.Build([]hashchain.Part{hashchain.Digested(xmldsig.SHA256, canon[:])}, []hashchain.Part{hashchain.Digested(xmldsig.SHA256, other[:])})
		if err != nil {
			t.Fatal(err)
		}
		c := strings.Replace(string(out.Chains[0]), `<ns2:DataRef URI="/message.xml">`, `<ns2:DataRef URI="/message.xml"><Transforms><Transform Algorithm="`+xmldsig.C14N10+`"/></Transforms>`, 1)
		if err := hashchain.Verify(out.Result, map[string][]byte{hashchain.SigChainURI: []byte(c)}, map[string]hashchain.Part{"/message.xml": hashchain.Bytes(msg)}); err != nil {
			t.Fatal(err)
		}
	})
}
