package hashchain_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluz/sluz/securityserver/hashchain"
)

// FuzzVerify feeds arbitrary bytes to the verifier's document reader, as
// a HashChain and as a HashChainResult, beside a valid batch. It must never
// panic or hang, and every refusal must wrap one of the package's kinds.
// (An accepted mutant is a re-layout of the same values: the digests, not
// this test, make anything else fail.)
func FuzzVerify(f *testing.F) {
	data := [][][]byte{messageData(0, 1), messageData(1, 0), messageData(2, 2)}
	out, err := hashchain.Builder{}.Build(partsList(data[0]), partsList(data[1]), partsList(data[2]))
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range out.Chains {
		f.Add(c, false)
	}
	f.Add(out.Result, true)
	f.Add([]byte(`<ns2:HashChain xmlns:ns2="http://cyber.ee/hashchain"><ns2:HashStep id="STEP0"><ns2:StepRef URI="#STEP0"/></ns2:HashStep></ns2:HashChain>`), false)
	kinds := []error{hashchain.ErrMalformed, hashchain.ErrResult, hashchain.ErrDataRef, hashchain.ErrUnused, hashchain.ErrMissing, hashchain.ErrAlgorithm}
	parts := partsOf(data[0], false)
	f.Fuzz(func(t *testing.T, doc []byte, asResult bool) {
		result, chain := out.Result, doc
		if asResult {
			result, chain = doc, out.Chains[0]
		}
		err := hashchain.Verify(result, map[string][]byte{hashchain.SigChainURI: chain}, parts)
		if err == nil {
			if asResult && !bytes.Contains(doc, []byte("DigestValue")) {
				t.Fatalf("a HashChainResult without a DigestValue verified:\n%s", doc)
			}
			return
		}
		for _, k := range kinds {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("error of no kind: %v", err)
	})
}
