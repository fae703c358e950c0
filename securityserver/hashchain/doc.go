// Package hashchain builds and verifies X-Road's hash chains: the batch
// structure that lets one signature (or one time-stamp) cover several
// messages, or a message and its attachments (xroad-protocols.md §3, "Hash
// chain format"; DESIGN.md, wire formats 3 and 5).
//
// A Builder turns a batch of inputs (each a message part and its
// attachments, as bytes or as digests computed while they streamed) into
// the HashChainResult document that is signed (/sig-hashchainresult.xml)
// and one HashChain document per input (/sig-hashchain.xml), byte for byte
// as X-Road's HashChainBuilder writes them for the same inputs. Verify
// checks a HashChainResult, the chain documents it reaches and the parts
// they reference, strictly: every DataRef's digest equals its part's own,
// every part and chain document given is referenced, every step used once,
// and the documents are read as hashchain.xsd says and no looser. Nothing
// digested is re-serialised: step digests are over DER built from the
// values, parts are hashed as given.
//
// # Layout
//
// The step digest is X-Road's DigestList (DigestList.java):
// H(DER(SEQUENCE OF SEQUENCE { OCTET STRING digest, UTF8String methodURI,
// SEQUENCE {} })) over a step's values in document order. An input of
// several parts first becomes one leaf, the digest of a step over its parts
// (HashChainBuilder.addInputHash(byte[][])); its chain ends with that step,
// whose DataRefs name /message.xml, /attachment1, /attachment2, ...
// The leaves form a binary Merkle tree in array layout of height
// k = ceil(log2 n); pairs are hashed left then right; a node with no leaf
// in its right half is its left child, unhashed (fixTree). Each input's
// chain walks from the root: one step per node with two children, STEP0
// first, the input's side a StepRef "#STEPi+1" (or the DataRef, at its own
// single-part leaf), the other side a HashValue, in tree order. The
// HashChainResult references ChainURI#STEP0 with the top digest; a single
// input's top is its leaf.
//
// # Caveats
//
//   - SHA-256, SHA-384 and SHA-512 only (default SHA-512); X-Road's
//     DigestAlgorithm also knows SHA-1 and SHA-224, which nothing writes.
//   - Digest values inside a chain and digests given for parts are not
//     length-checked against their method: X-Road's own vectors
//     (hc-verifier2) use one-byte stand-ins, and a value of the wrong
//     length can only fail to match. The HashChainResult's digest is
//     checked.
//   - A DataRef may carry one transform, inclusive C14N 1.0 without
//     comments, applied to a whole document that internal/xmldsig's Read
//     accepts once its comments are cut (no mixed content, DTDs or
//     processing instructions). X-Road's builder writes no transforms;
//     this exists for X-Road's hc-verifier3 vector.
//   - A part given as Absent is taken on the chain's word. Use it only for
//     what an archive did not keep, never for parts that were received.
//   - Verify does not check that the chain has X-Road's layout (the digests
//     make any other layout useless to a forger); it requires a path: each
//     step used once, no step or input left over.
//   - Build refuses an empty batch and a single one-part input, as X-Road
//     does: such a message is signed directly (/message.xml). Builder.Single
//     lifts the second refusal for Şlüz's one-record time-stamp batches.
package hashchain
