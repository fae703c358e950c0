package hashchain

import (
	"crypto"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluz/sluz/internal/der"
	"github.com/sluz/sluz/internal/xmldsig"
)

// The names X-Road gives the parts of a batch-signed message and of its hash
// chain (src/common/common-message/.../util/MessageFileNames.java).
const (
	// SigResultURI is the HashChainResult a batch signature references.
	SigResultURI = "/sig-hashchainresult.xml"
	// SigChainURI is the HashChain document of one message in a batch.
	SigChainURI = "/sig-hashchain.xml"
	// MessageURI is the message part (SOAP envelope or REST header part).
	MessageURI = "/message.xml"
	// TSResultURI, TSChainURI and SignaturesURI are the time-stamp batch's
	// names: the message log hashes each record's signatures.xml.
	TSResultURI   = "/ts-hashchainresult.xml"
	TSChainURI    = "/ts-hashchain.xml"
	SignaturesURI = "/META-INF/signatures.xml"
)

// AttachmentURI is the name of the n-th attachment, counted from 1
// (MessageFileNames.attachmentOfIdx).
func AttachmentURI(n int) string { return "/attachment" + strconv.Itoa(n) }

// Namespace is the namespace of HashChain and HashChainResult
// (hashchain.xsd's targetNamespace).
const Namespace = "http://cyber.ee/hashchain"

// The kinds of failure, for errors.Is; each is X-Road's error code of the
// same meaning (ee.ria.xroad.common.ErrorCodes), named in its comment.
// Every error of this package wraps exactly one of them.
var (
	// ErrMalformed: a document is not XML this package accepts, breaks
	// hashchain.xsd, or its steps do not form one chain
	// (X_MALFORMED_HASH_CHAIN).
	ErrMalformed = errors.New("hashchain: malformed hash chain")
	// ErrResult: the chain does not compute the HashChainResult's digest
	// (X_INVALID_HASH_CHAIN_RESULT).
	ErrResult = errors.New("hashchain: the hash chain result does not match the chain")
	// ErrDataRef: a part's digest differs from its DataRef's
	// (X_INVALID_HASH_CHAIN_REF).
	ErrDataRef = errors.New("hashchain: a part does not match its reference")
	// ErrUnused: a part or chain document given to the verifier is not
	// referenced (X_HASHCHAIN_UNUSED_INPUTS).
	ErrUnused = errors.New("hashchain: input not referenced by the hash chain")
	// ErrMissing: a reference names a part or chain document that was not
	// given, or that was given as a digest where bytes are needed
	// (X_INVALID_REFERENCE).
	ErrMissing = errors.New("hashchain: referenced input not given")
	// ErrAlgorithm: a digest method is not supported, or a part's digest was
	// computed with another method than its reference names.
	ErrAlgorithm = errors.New("hashchain: digest algorithm")
)

func fail(kind error, format string, a ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, a...))
}

// DefaultMethod is the digest method used when none is given: SHA-512,
// as everywhere in X-Road 7 (DESIGN.md, wire formats 3).
const DefaultMethod = xmldsig.SHA512

// hashOf returns the hash of a digest method URI: SHA-256, SHA-384 or
// SHA-512 (X-Road's DigestAlgorithm also knows SHA-1 and SHA-224, which
// nothing in X-Road 7 writes and Şlüz does not accept).
func hashOf(method string) (crypto.Hash, error) {
	h, ok := xmldsig.DigestMethods[method]
	if !ok {
		return 0, fail(ErrAlgorithm, "digest method %q is not supported; use %s, %s or %s", method, xmldsig.SHA256, xmldsig.SHA384, xmldsig.SHA512)
	}
	return h, nil
}

func sum(h crypto.Hash, data []byte) []byte {
	d := h.New()
	d.Write(data)
	return d.Sum(nil)
}

// Part is one input of a hash chain: a part's bytes, its digest computed
// while it streamed, or (verifier only) a part that is not available.
// The zero Part is refused.
type Part struct {
	kind   partKind
	data   []byte
	method string
	digest []byte
}

type partKind int

const (
	partNone partKind = iota
	partBytes
	partDigest
	partAbsent
)

// Bytes is a part given by its bytes, exactly as sent (MIME part content,
// transfer encoding not decoded). It is hashed with the method its
// reference names.
func Bytes(data []byte) Part { return Part{kind: partBytes, data: data} }

// Digested is a part given by its digest under method (a DigestMethod URI),
// computed while the part streamed past. Its length is not checked against
// the method: a digest of the wrong length simply never matches.
func Digested(method string, digest []byte) Part {
	return Part{kind: partDigest, method: method, digest: digest}
}

// Absent is a part the verifier must take on the chain's word: it is
// referenced, but its bytes are not available (an archive that did not keep
// the attachment). Its DataRef's digest is used as written. This is
// X-Road's HashChainReferenceResolver.shouldResolve returning false; the
// caller names each such part, nothing is skipped silently.
func Absent() Part { return Part{kind: partAbsent} }

func (p Part) String() string {
	switch p.kind {
	case partBytes:
		return fmt.Sprintf("%d bytes", len(p.data))
	case partDigest:
		return "a digest under " + p.method
	case partAbsent:
		return "absent"
	}
	return "the zero Part"
}

// stepDigestInput is the DER X-Road digests for one hash step
// (DigestList.concatDigests):
//
//	DigestList   ::= SEQUENCE OF SingleDigest
//	SingleDigest ::= SEQUENCE { digest OCTET STRING, digestMethod UTF8String,
//	                            transforms SEQUENCE {} }
//
// with the step's values in document order; the transforms are always
// empty, even for a DataRef that has Transforms.
func stepDigestInput(values []digestValue) []byte {
	items := make([][]byte, len(values))
	for i, v := range values {
		items[i] = der.TLV(der.TagSequence,
			der.TLV(der.TagOctetString, v.digest),
			der.TLV(der.TagUTF8String, []byte(v.method)),
			der.TLV(der.TagSequence))
	}
	return der.TLV(der.TagSequence, items...)
}

// digestValue is a digest and the URI of its method (X-Road's DigestValue).
type digestValue struct {
	method string
	digest []byte
}
