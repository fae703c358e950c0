package messagelog

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

func TestMerkleProofs(t *testing.T) {
	for n := 1; n <= 33; n++ {
		leaves := make([][]byte, n)
		for i := range leaves {
			h := sha256.Sum256([]byte(fmt.Sprint(i)))
			leaves[i] = h[:]
		}
		root := MerkleRoot(leaves)
		for i := range leaves {
			proof := MerkleProof(leaves, i)
			if !VerifyMerkleProof(leaves[i], i, n, proof, root) {
				t.Fatalf("n=%d i=%d: proof does not verify", n, i)
			}
			if n > 1 && VerifyMerkleProof(leaves[(i+1)%n], i, n, proof, root) {
				t.Fatalf("n=%d i=%d: proof verifies another leaf", n, i)
			}
			if n > 1 && VerifyMerkleProof(leaves[i], (i+1)%n, n, proof, root) {
				t.Fatalf("n=%d i=%d: proof verifies at another position", n, i)
			}
		}
	}
	// RFC 6962 shape: the root of two leaves is H(1 || H(0||a) || H(0||b)).
	a, b := []byte("a"), []byte("b")
	if got, want := MerkleRoot([][]byte{a, b}), nodeHash(leafHash(a), leafHash(b)); string(got) != string(want) {
		t.Fatal("two-leaf root is not RFC 6962's")
	}
}
