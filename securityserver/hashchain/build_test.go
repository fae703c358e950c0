package hashchain_test

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/securityserver/hashchain"
)

// messageData returns the bytes of input i of a test batch: a message and
// its attachments.
func messageData(i, attachments int) [][]byte {
	ds := [][]byte{fmt.Appendf(nil, "<m>message %d</m>", i)}
	for a := 1; a <= attachments; a++ {
		ds = append(ds, fmt.Appendf(nil, "attachment %d of message %d", a, i))
	}
	return ds
}

// message is messageData as parts given by their bytes.
func message(i, attachments int) []hashchain.Part {
	return partsList(messageData(i, attachments))
}

// partsOf maps an input's parts to the URIs its chain references, as bytes
// or, digested, as SHA-512 digests computed beforehand (while streaming).
func partsOf(data [][]byte, digested bool) map[string]hashchain.Part {
	m := map[string]hashchain.Part{}
	for a, d := range data {
		uri := hashchain.MessageURI
		if a > 0 {
			uri = hashchain.AttachmentURI(a)
		}
		m[uri] = hashchain.Bytes(d)
		if digested {
			s := sha512.Sum512(d)
			m[uri] = hashchain.Digested(xmldsig.SHA512, s[:])
		}
	}
	return m
}

func batch(t *testing.T, b hashchain.Builder, inputs [][]hashchain.Part) *hashchain.Batch {
	t.Helper()
	out, err := b.Build(inputs...)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(out.Chains) != len(inputs) {
		t.Fatalf("Build returned %d chains for %d inputs", len(out.Chains), len(inputs))
	}
	return out
}

// TestBuildVerify builds batches of 1, 2, 3, 5 and 8 messages, some with
// attachments, and verifies every message's chain, with its parts given as
// bytes and as digests computed beforehand.
func TestBuildVerify(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 8} {
		for _, attach := range []int{0, 1, 3} {
			if n == 1 && attach == 0 {
				continue // needs no chain; TestBuildRefuses
			}
			t.Run(fmt.Sprintf("n=%d/attachments=%d", n, attach), func(t *testing.T) {
				data := make([][][]byte, n)
				inputs := make([][]hashchain.Part, n)
				for i := range inputs {
					data[i] = messageData(i, (i*attach)%4) // a mix: 0..3 attachments
					if n == 1 {
						data[i] = messageData(i, attach)
					}
					inputs[i] = partsList(data[i])
				}
				out := batch(t, hashchain.Builder{}, inputs)
				for i := range inputs {
					chains := map[string][]byte{hashchain.SigChainURI: out.Chains[i]}
					for _, digested := range []bool{false, true} {
						if err := hashchain.Verify(out.Result, chains, partsOf(data[i], digested)); err != nil {
							t.Fatalf("input %d (digested %v): %v", i, digested, err)
						}
					}
				}
			})
		}
	}
}

func partsList(data [][]byte) []hashchain.Part {
	var ps []hashchain.Part
	for _, d := range data {
		ps = append(ps, hashchain.Bytes(d))
	}
	return ps
}

// TestLayout checks the Merkle layout and step structure of every chain
// against what X-Road's HashChainBuilder writes. Notation: one step per
// "|", in order STEP0, STEP1, ...; SR = StepRef to the next step, HV =
// HashValue, DR = DataRef (with its URI for multipart steps). The rules, read
// from HashChainBuilder.java:
//   - height k = ceil(log2 n) (getNodesCount, ceilingLog2); the path from the
//     root follows input i's bits from bit k-1 down (makeHashChain's
//     myDirection), left child first in each step;
//   - a node whose right half holds no input is skipped, its left child
//     taken instead, with no step (fixTree; "while (get(myChildIdx) ==
//     null)" in makeHashChain); so in n=5, input 4's chain is one step;
//   - the input's own side is a DataRef at its leaf if it has one part,
//     else a StepRef to a final step of DataRefs to /message.xml,
//     /attachment1, ... (multipartStep);
//   - hc-verifier1 is n=4, input 1: "SR HV | HV DR"; hc-verifier2 is n=4,
//     input 1 with 4 parts: "SR HV | HV SR | DR DR1 DR2 DR3".
func TestLayout(t *testing.T) {
	cases := []struct {
		parts []int    // number of parts of each input
		want  []string // each input's chain
	}{
		{[]int{3}, []string{"DR DR1 DR2"}},
		{[]int{1, 1}, []string{"DR HV", "HV DR"}},
		{[]int{1, 1, 1}, []string{"SR HV | DR HV", "SR HV | HV DR", "HV DR"}},
		{[]int{1, 4, 1, 2}, []string{"SR HV | DR HV", "SR HV | HV SR | DR DR1 DR2 DR3", "HV SR | DR HV", "HV SR | HV SR | DR DR1"}},
		{[]int{1, 1, 1, 1, 1}, []string{
			"SR HV | SR HV | DR HV", "SR HV | SR HV | HV DR",
			"SR HV | HV SR | DR HV", "SR HV | HV SR | HV DR",
			"HV DR"}},
		{[]int{1, 1, 1, 1, 1, 1, 1, 1}, []string{
			"SR HV | SR HV | DR HV", "SR HV | SR HV | HV DR",
			"SR HV | HV SR | DR HV", "SR HV | HV SR | HV DR",
			"HV SR | SR HV | DR HV", "HV SR | SR HV | HV DR",
			"HV SR | HV SR | DR HV", "HV SR | HV SR | HV DR"}},
		{[]int{1, 1, 1, 1, 1, 1, 1, 1, 1}, []string{ // n=9: k=4, input 8 alone on the right
			"SR HV | SR HV | SR HV | DR HV", "SR HV | SR HV | SR HV | HV DR",
			"SR HV | SR HV | HV SR | DR HV", "SR HV | SR HV | HV SR | HV DR",
			"SR HV | HV SR | SR HV | DR HV", "SR HV | HV SR | SR HV | HV DR",
			"SR HV | HV SR | HV SR | DR HV", "SR HV | HV SR | HV SR | HV DR",
			"HV DR"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.parts), func(t *testing.T) {
			inputs := make([][]hashchain.Part, len(c.parts))
			for i, p := range c.parts {
				inputs[i] = message(i, p-1)
			}
			out := batch(t, hashchain.Builder{}, inputs)
			for i, chain := range out.Chains {
				if got := layout(t, chain); got != c.want[i] {
					t.Errorf("input %d: chain %q, want %q (X-Road's layout)", i, got, c.want[i])
				}
			}
			if want := `URI="/sig-hashchain.xml#STEP0"`; !strings.Contains(string(out.Result), want) {
				t.Errorf("HashChainResult lacks %s:\n%s", want, out.Result)
			}
		})
	}
}

var (
	stepRe = regexp.MustCompile(`<ns2:HashStep id="STEP(\d+)">`)
	itemRe = regexp.MustCompile(`<ns2:(StepRef|HashValue|DataRef)(?: URI="([^"]*)")?`)
)

// layout summarises a chain in TestLayout's notation, checking on the way
// that steps are numbered from 0 and each StepRef names the next step.
func layout(t *testing.T, chain []byte) string {
	t.Helper()
	var steps []string
	for n, part := range strings.Split(string(chain), "</ns2:HashStep>")[:strings.Count(string(chain), "</ns2:HashStep>")] {
		m := stepRe.FindStringSubmatch(part)
		if m == nil || m[1] != fmt.Sprint(n) {
			t.Fatalf("step %d is not STEP%d:\n%s", n, n, chain)
		}
		var items []string
		for _, it := range itemRe.FindAllStringSubmatch(part, -1) {
			switch it[1] {
			case "StepRef":
				if it[2] != fmt.Sprintf("#STEP%d", n+1) {
					t.Fatalf("STEP%d's StepRef names %q, not the next step", n, it[2])
				}
				items = append(items, "SR")
			case "HashValue":
				items = append(items, "HV")
			case "DataRef":
				items = append(items, "DR"+strings.TrimPrefix(strings.TrimPrefix(it[2], hashchain.MessageURI), "/attachment"))
			}
		}
		steps = append(steps, strings.Join(items, " "))
	}
	return strings.Join(steps, " | ")
}

// TestBuildRefuses: what X-Road's builder refuses, and parts a builder
// cannot use.
func TestBuildRefuses(t *testing.T) {
	sha256 := hashchain.Digested(xmldsig.SHA256, make([]byte, 32))
	cases := []struct {
		name   string
		b      hashchain.Builder
		inputs [][]hashchain.Part
		kind   error
		text   string
	}{
		{"no inputs", hashchain.Builder{}, nil, hashchain.ErrMissing, "no inputs"},
		{"one part", hashchain.Builder{}, [][]hashchain.Part{message(0, 0)}, hashchain.ErrMissing, "needs no hash chain"},
		{"empty input", hashchain.Builder{}, [][]hashchain.Part{message(0, 0), nil}, hashchain.ErrMissing, "input 1 has no parts"},
		{"absent part", hashchain.Builder{}, [][]hashchain.Part{message(0, 0), {hashchain.Absent()}}, hashchain.ErrMissing, "input 1 part 0 is absent"},
		{"zero part", hashchain.Builder{}, [][]hashchain.Part{message(0, 0), {{}}}, hashchain.ErrMissing, "the zero Part"},
		{"other method", hashchain.Builder{}, [][]hashchain.Part{message(0, 0), {sha256}}, hashchain.ErrAlgorithm, "the chain uses " + xmldsig.SHA512},
		{"unknown method", hashchain.Builder{Method: "http://www.w3.org/2000/09/xmldsig#sha1"}, [][]hashchain.Part{message(0, 0), message(1, 0)}, hashchain.ErrAlgorithm, "is not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.b.Build(c.inputs...)
			wantErr(t, err, c.kind, c.text)
		})
	}
}

// A one-record time-stamp batch (hashchain.Builder.Single) and the Result and Chain
// shortcuts: the same documents as Build, and they verify.
func TestBuildSingleAndShortcuts(t *testing.T) {
	b := hashchain.Builder{ChainURI: hashchain.TSChainURI, DataURI: hashchain.SignaturesURI, Single: true}
	for _, n := range []int{1, 2, 5} {
		var inputs [][]hashchain.Part
		for i := range n {
			inputs = append(inputs, []hashchain.Part{hashchain.Bytes([]byte(fmt.Sprintf("<signatures %d/>", i)))})
		}
		full, err := b.Build(inputs...)
		if err != nil {
			t.Fatalf("%d inputs: %v", n, err)
		}
		res, top, err := b.Result(inputs...)
		if err != nil || !bytes.Equal(res, full.Result) || !bytes.Equal(top, full.Top) {
			t.Fatalf("%d inputs: Result differs from Build's (%v)", n, err)
		}
		for i := range n {
			c, err := b.Chain(i, inputs...)
			if err != nil || !bytes.Equal(c, full.Chains[i]) {
				t.Fatalf("%d inputs: Chain(%d) differs from Build's (%v)", n, i, err)
			}
			err = hashchain.Verify(res, map[string][]byte{hashchain.TSChainURI: c}, map[string]hashchain.Part{hashchain.SignaturesURI: inputs[i][0]})
			if err != nil {
				t.Fatalf("%d inputs: chain %d: %v", n, i, err)
			}
			err = hashchain.Verify(res, map[string][]byte{hashchain.TSChainURI: c}, map[string]hashchain.Part{hashchain.SignaturesURI: hashchain.Bytes([]byte("changed"))})
			if !errors.Is(err, hashchain.ErrDataRef) {
				t.Fatalf("%d inputs: chain %d over changed bytes: %v, want hashchain.ErrDataRef", n, i, err)
			}
		}
	}
	if _, err := (hashchain.Builder{}).Build([]hashchain.Part{hashchain.Bytes([]byte("x"))}); !errors.Is(err, hashchain.ErrMissing) {
		t.Fatalf("a single one-part input without Single: %v, want hashchain.ErrMissing", err)
	}
}
