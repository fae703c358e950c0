package messagelog

import (
	"bytes"
	"crypto/sha256"
)

// The records of a time-stamp batch are the leaves of a Merkle tree built
// as RFC 6962 §2.1 builds it (SHA-256; leaf hash H(0x00 || leaf), node hash
// H(0x01 || left || right); the largest power of two smaller than n splits
// the tree), so that one RFC 3161 token over the root covers every record
// and each record is proven by O(log n) hashes. A leaf is a record's chain
// hash.

func leafHash(leaf []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	return h.Sum(nil)
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

func split(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// MerkleRoot is the root over leaves (at least one).
func MerkleRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return nil
	case 1:
		return leafHash(leaves[0])
	}
	k := split(len(leaves))
	return nodeHash(MerkleRoot(leaves[:k]), MerkleRoot(leaves[k:]))
}

// MerkleProof is the audit path of leaves[index] (RFC 6962 §2.1.1).
func MerkleProof(leaves [][]byte, index int) [][]byte {
	if len(leaves) <= 1 || index < 0 || index >= len(leaves) {
		return nil
	}
	k := split(len(leaves))
	if index < k {
		return append(MerkleProof(leaves[:k], index), MerkleRoot(leaves[k:]))
	}
	return append(MerkleProof(leaves[k:], index-k), MerkleRoot(leaves[:k]))
}

// VerifyMerkleProof checks that leaf is leaf number index of n leaves under
// root, given its audit path.
func VerifyMerkleProof(leaf []byte, index, n int, proof [][]byte, root []byte) bool {
	got, ok := rootFromProof(leafHash(leaf), index, n, proof)
	return ok && bytes.Equal(got, root)
}

func rootFromProof(h []byte, index, n int, proof [][]byte) ([]byte, bool) {
	if index < 0 || index >= n {
		return nil, false
	}
	if n == 1 {
		return h, len(proof) == 0
	}
	if len(proof) == 0 {
		return nil, false
	}
	k := split(n)
	last, rest := proof[len(proof)-1], proof[:len(proof)-1]
	if index < k {
		l, ok := rootFromProof(h, index, k, rest)
		return nodeHash(l, last), ok
	}
	r, ok := rootFromProof(h, index-k, n-k, rest)
	return nodeHash(last, r), ok
}
