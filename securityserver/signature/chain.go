package signature

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluz/sluz/securityserver/hashchain"
)

// A message with attachments is signed through a hash chain, as X-Road's
// SignatureCtx does when a signing request has more than one part: the
// SOAP message (/message.xml) and its attachments (/attachment1, ...)
// become one input of a hash chain, the signature references the chain's
// HashChainResult (/sig-hashchainresult.xml, DataObjectFormat MIME type
// application/hash-chain-result), and the message travels with the
// HashChainResult and its own HashChain (/sig-hashchain.xml).

// MIME types of the hash-chain documents, as X-Road's MimeTypes names them:
// the DataObjectFormat of a signature over a chain and the transport parts.
const (
	TypeHashChainResult = "application/hash-chain-result"
	TypeHashChain       = "application/hash-chain"
)

// Errors of VerifyChained, for errors.Is, beside the package's others. Each
// wraps the hashchain error that found it.
var (
	// ErrAttachment: an attachment is not the one signed: changed in transit.
	ErrAttachment = errors.New("signature: an attachment does not match its signed digest")
	// ErrAttachmentOrder: the attachments are the signed ones, in another order.
	ErrAttachmentOrder = errors.New("signature: the attachments are not in the signed order")
	// ErrChainInput: the hash chain and the parts given do not match one to
	// one: an attachment the chain does not reference, or one it references
	// that is missing.
	ErrChainInput = errors.New("signature: the hash chain and the message's parts do not match one to one")
	// ErrChain: the hash chain (or its result) is not the one the signature
	// covers, as when a signature is reused with another message's chain.
	ErrChain = errors.New("signature: the hash chain is not the one signed")
)

// Chained is a signature through a hash chain and the two documents the
// message travels with (PR-MESSTRANSP §2: hash-chain result, hash chain,
// then the signature).
type Chained struct {
	Signature []byte // signatures.xml, referencing /sig-hashchainresult.xml
	Result    []byte // the HashChainResult, stored as /sig-hashchainresult.xml
	Chain     []byte // the message's HashChain, stored as /sig-hashchain.xml
}

// SignChained signs the SOAP message soap (its exact bytes) with its
// attachments through a hash chain, the layout X-Road writes for one
// message with attachments. Each attachment is given by its Data or, when
// it streamed past, its SHA-512 Digest; its URI and MimeType are ignored
// (the chain names them /attachment1, /attachment2, ... in order). With
// no attachments, sign the message directly with Sign.
func (s *Signer) SignChained(soap []byte, attachments []Part, now time.Time) (*Chained, error) {
	if len(attachments) == 0 {
		return nil, errors.New("signature: a message without attachments is signed directly (Sign), not through a hash chain")
	}
	inputs := make([]hashchain.Part, 0, 1+len(attachments))
	inputs = append(inputs, hashchain.Bytes(soap))
	for i, a := range attachments {
		p, err := chainPart(a)
		if err != nil {
			return nil, fmt.Errorf("signature: attachment %d: %w", i+1, err)
		}
		inputs = append(inputs, p)
	}
	batch, err := hashchain.Builder{}.Build(inputs)
	if err != nil {
		return nil, fmt.Errorf("signature: building the hash chain: %w", err)
	}
	sig, err := s.Sign(Part{URI: hashchain.SigResultURI, Data: batch.Result, MimeType: TypeHashChainResult}, now)
	if err != nil {
		return nil, err
	}
	return &Chained{Signature: sig, Result: batch.Result, Chain: batch.Chains[0]}, nil
}

// chainPart is a Part as a hash-chain input: its bytes, or its SHA-512.
func chainPart(p Part) (hashchain.Part, error) {
	switch {
	case p.Data != nil:
		return hashchain.Bytes(p.Data), nil
	case len(p.Digest) == sha512.Size:
		return hashchain.Digested(digestSHA512, p.Digest), nil
	case p.Digest != nil:
		return hashchain.Part{}, fmt.Errorf("a digest of %d bytes is not a SHA-512", len(p.Digest))
	}
	return hashchain.Part{}, errors.New("neither its bytes nor its digest were given")
}

// digestOf is a Part's SHA-512: its Digest, or computed from Data.
func digestOf(p Part) []byte {
	if p.Data == nil {
		return p.Digest
	}
	d := sha512.Sum512(p.Data)
	return d[:]
}

// VerifyChained checks a signature through a hash chain (sigXML, result
// and chain as received) against the SOAP message msg and its attachments
// in the order received, each by its Data or its SHA-512 Digest (URIs and
// MIME types are ignored). It checks
// that the signature references exactly /sig-hashchainresult.xml and that
// result is the document signed (else ErrChain), that the chain computes
// result from the parts (else ErrChain), that the message is the one
// chained (else ErrDigest), that each attachment is (else ErrAttachment,
// or ErrAttachmentOrder when they are all there in another order), that
// the chain references every attachment and nothing else (else
// ErrChainInput), then the signature itself as Verify does.
func VerifyChained(sigXML []byte, msg Part, attachments []Part, result, chain []byte) (*Verified, error) {
	p, err := read(sigXML)
	if err != nil {
		return nil, sentinel(err)
	}
	if len(p.data) != 1 || p.data[0].URI != hashchain.SigResultURI {
		uris := make([]string, len(p.data))
		for i, r := range p.data {
			uris[i] = r.URI
		}
		return nil, malformed("the signature references %v; a message with attachments is signed through %s alone", uris, hashchain.SigResultURI)
	}
	if err := p.data[0].CheckBytes(result); err != nil {
		return nil, fmt.Errorf("%w: the hash-chain result received is not the one this signature covers: %w", ErrChain, err)
	}
	if err := CheckChain(msg, attachments, result, chain); err != nil {
		return nil, err
	}
	v, err := p.verify([]Part{{URI: hashchain.SigResultURI, Data: result}})
	if err != nil {
		return nil, sentinel(err)
	}
	return v, nil
}

// CheckChain is the hash-chain half of VerifyChained: it checks that chain
// computes the HashChainResult result from the SOAP message msg and its
// attachments, in order, with the same errors (ErrChain, ErrDigest,
// ErrAttachment, ErrAttachmentOrder, ErrChainInput, ErrMalformed). It does
// not look at the signature: a verifier that has already verified the
// signature over exactly these result bytes (one signature of a batch,
// cached) checks each further message of the batch with it alone.
func CheckChain(msg Part, attachments []Part, result, chain []byte) error {
	mp, err := chainPart(msg)
	if err != nil {
		return fmt.Errorf("signature: the message: %w", err)
	}
	parts := map[string]hashchain.Part{hashchain.MessageURI: mp}
	for i, a := range attachments {
		cp, err := chainPart(a)
		if err != nil {
			return fmt.Errorf("signature: attachment %d: %w", i+1, err)
		}
		parts[hashchain.AttachmentURI(i+1)] = cp
	}
	if err := hashchain.Verify(result, map[string][]byte{hashchain.SigChainURI: chain}, parts); err != nil {
		return chainError(err, chain, msg, attachments)
	}
	return nil
}

// chainError gives a hashchain error the sentinel of this package that
// says what it means for the message.
func chainError(err error, chain []byte, msg Part, attachments []Part) error {
	switch {
	case errors.Is(err, hashchain.ErrResult):
		return fmt.Errorf("%w: %w", ErrChain, err)
	case errors.Is(err, hashchain.ErrUnused), errors.Is(err, hashchain.ErrMissing):
		return fmt.Errorf("%w: %w", ErrChainInput, err)
	case errors.Is(err, hashchain.ErrDataRef):
		refs, rerr := hashchain.DataRefs(chain)
		if rerr != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, rerr)
		}
		if !bytes.Equal(refs[hashchain.MessageURI], digestOf(msg)) {
			return fmt.Errorf("%w: the SOAP message was changed after signing: %w", ErrDigest, err)
		}
		if reordered(refs, attachments) {
			return fmt.Errorf("%w: %w", ErrAttachmentOrder, err)
		}
		return fmt.Errorf("%w: %w", ErrAttachment, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// reordered reports whether the attachments' digests are those the chain
// references, as a multiset, in another order.
func reordered(refs map[string][]byte, attachments []Part) bool {
	var want, got [][]byte
	for i, a := range attachments {
		want = append(want, refs[hashchain.AttachmentURI(i+1)])
		got = append(got, digestOf(a))
	}
	if slices.EqualFunc(want, got, bytes.Equal) {
		return false
	}
	slices.SortFunc(want, bytes.Compare)
	slices.SortFunc(got, bytes.Compare)
	return slices.EqualFunc(want, got, bytes.Equal)
}
