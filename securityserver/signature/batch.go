package signature

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluz/sluz/securityserver/hashchain"
)

// Batch signing, as X-Road's BatchSigner does it: messages that wait for
// the same signing key while it is busy are signed together, with one
// XAdES signature over the HashChainResult of a hash chain built over all
// of them (hashchain.Builder's Merkle tree). Each message travels with that
// same signature document, the shared HashChainResult
// (/sig-hashchainresult.xml) and its own HashChain (/sig-hashchain.xml),
// which leads from its parts to the signed result; VerifyChained checks it
// like the chain of a single message with attachments.
//
// X-Road runs one worker thread per signing certificate that takes every
// queued request at once. Batcher has no worker: a message that finds its
// key idle is signed at once by its own goroutine (no added latency at low
// load); messages that arrive while the key is busy queue, and when the
// signature in progress is done, the first of them signs the whole queue
// for all of them.

// MaxBatch is the largest number of messages a Batcher puts under one
// signature unless told otherwise; the rest wait for the next signature.
const MaxBatch = 256

// Batched is what Batcher.Sign returns: the message's signature document
// and, when it was signed through a hash chain (it has attachments, or it
// shared its signature with others), the HashChainResult and its own
// HashChain. Result and Chain are nil for a lone message without
// attachments, signed directly over /message.xml as Sign does.
type Batched struct {
	Chained
	// Messages is the number of messages the signature covers (1 when the
	// message was signed alone).
	Messages int
}

// Batcher signs messages, batching those that wait for the same key. The
// zero Batcher is ready and batches; it is safe for concurrent use.
type Batcher struct {
	// Off turns batching off: every message is signed alone, exactly as
	// Sign (no attachments) or SignChained (attachments) sign it today.
	Off bool
	// Max bounds the messages under one signature; 0 means MaxBatch.
	Max int
	// Observe, if set, is called once per signature written with the
	// number of messages it covers (for a histogram of batch sizes). It
	// must not block.
	Observe func(messages int)

	mu     sync.Mutex
	queues map[[32]byte]*keyQueue
}

// keyQueue is the state of one signing key: whether a signature is being
// made with it, and the messages waiting for the next one.
type keyQueue struct {
	busy    bool
	waiting []*pending
}

// pending is one message submitted to Sign.
type pending struct {
	soap   []byte
	digest []byte // soap's SHA-512 if the caller gave it, else nil
	atts   []Part
	out    *Batched
	err    error
	done   chan struct{}
	lead   chan []*pending // when this message must sign the next batch
}

// Sign signs the SOAP message (or REST header part) soap, exactly as given,
// with its attachments (each by its Data or, when it streamed past, its
// SHA-512 Digest), with signer s. Messages signed with the same
// certificate while another signature with it is being made are signed
// together once it is done (unless Off). now is the signing time written
// when this message's goroutine makes the signature; a batch carries the
// time of the message that signs it.
//
// Callers keep one Signer per key and may replace it (a refreshed OCSP
// response): messages are grouped by certificate, and a batch is signed
// with the Signer of the message that signs it.
func (b *Batcher) Sign(s *Signer, soap []byte, attachments []Part, now time.Time) (*Batched, error) {
	return b.SignDigested(s, soap, nil, attachments, now)
}

// SignDigested is Sign for a message whose SHA-512 digest the caller has
// computed already (soapDigest; nil: Sign computes it): the signature and
// the batch's hash chain use it rather than hash soap again. A digest that
// is not soap's makes a signature that does not verify.
func (b *Batcher) SignDigested(s *Signer, soap, soapDigest []byte, attachments []Part, now time.Time) (*Batched, error) {
	if s == nil || s.Cert == nil {
		return nil, errors.New("signature: the signer has no certificate or no key")
	}
	if soap == nil {
		return nil, errors.New("signature: no message to sign")
	}
	if soapDigest != nil && len(soapDigest) != sha512.Size {
		return nil, fmt.Errorf("signature: a digest of %d bytes is not a SHA-512", len(soapDigest))
	}
	for i, a := range attachments {
		if _, err := chainPart(a); err != nil {
			return nil, fmt.Errorf("signature: attachment %d: %w", i+1, err)
		}
	}
	me := &pending{soap: soap, digest: soapDigest, atts: attachments}
	if b.Off {
		b.sign(s, []*pending{me}, now)
		return me.out, me.err
	}
	key := sha256.Sum256(s.Cert.Raw)
	b.mu.Lock()
	if b.queues == nil {
		b.queues = map[[32]byte]*keyQueue{}
	}
	q := b.queues[key]
	if q == nil {
		q = &keyQueue{}
		b.queues[key] = q
	}
	if !q.busy {
		q.busy = true
		b.mu.Unlock()
		b.sign(s, []*pending{me}, now)
		b.handOver(key, q)
		return me.out, me.err
	}
	me.done, me.lead = make(chan struct{}), make(chan []*pending, 1)
	q.waiting = append(q.waiting, me)
	b.mu.Unlock()
	select {
	case <-me.done:
	case batch := <-me.lead:
		b.sign(s, batch, now)
		for _, p := range batch[1:] {
			close(p.done)
		}
		b.handOver(key, q)
	}
	return me.out, me.err
}

// handOver ends a signature with the key: the first waiting message signs
// the next batch, or the key is idle.
func (b *Batcher) handOver(key [32]byte, q *keyQueue) {
	max := b.Max
	if max <= 0 {
		max = MaxBatch
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(q.waiting) == 0 {
		q.busy = false
		delete(b.queues, key) // idle keys cost nothing
		return
	}
	n := min(len(q.waiting), max)
	batch := q.waiting[:n:n]
	q.waiting = append([]*pending(nil), q.waiting[n:]...)
	batch[0].lead <- batch
}

// sign signs the messages of batch under one signature and sets each one's
// out or err.
func (b *Batcher) sign(s *Signer, batch []*pending, now time.Time) {
	if b.Observe != nil {
		defer b.Observe(len(batch))
	}
	msgs := make([]Message, len(batch))
	for i, p := range batch {
		msgs[i] = Message{SOAP: p.soap, SOAPDigest: p.digest, Attachments: p.atts}
	}
	out, err := signRecovered(s, msgs, now)
	for i, p := range batch {
		if err != nil {
			p.err = err
			continue
		}
		p.out = &Batched{Chained: out[i], Messages: len(batch)}
	}
}

// signRecovered is SignBatch, with a panic (a key module's driver, say)
// turned into the batch's error: the key must be handed over whatever
// happens, or every later message for it would wait for ever.
func signRecovered(s *Signer, msgs []Message, now time.Time) (out []Chained, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("signature: signing failed: %v", r)
		}
	}()
	return s.SignBatch(msgs, now)
}

// Message is one message of a batch: the SOAP message (or REST header
// part), exactly as sent, and its attachments, each by its Data or SHA-512
// Digest.
type Message struct {
	SOAP []byte
	// SOAPDigest, if set, is the SHA-512 of SOAP, computed already by the
	// caller (Batcher.SignDigested).
	SOAPDigest  []byte
	Attachments []Part
}

// signedDigest is the SHA-512 of the part Sign signs: its Digest when the
// caller gave one, else computed from Data.
func signedDigest(p Part) []byte {
	if len(p.Digest) == sha512.Size {
		return p.Digest
	}
	sum := sha512.Sum512(p.Data)
	return sum[:]
}

// soapPart is a message's SOAP part as a hash-chain input: by its digest
// when the caller gave it, else by its bytes.
func soapPart(m Message) hashchain.Part {
	if m.SOAPDigest != nil {
		return hashchain.Digested(digestSHA512, m.SOAPDigest)
	}
	return hashchain.Bytes(m.SOAP)
}

// SignBatch signs msgs under one signature, in X-Road's layout, and returns
// each message's documents in order. One message is signed as it would be
// alone: with Sign over /message.xml (no attachments; Result and Chain are
// nil) or with SignChained. Several are signed through one hash chain over
// all of them: the signature covers the shared HashChainResult and each
// message gets its own HashChain.
func (s *Signer) SignBatch(msgs []Message, now time.Time) ([]Chained, error) {
	for i, m := range msgs {
		if m.SOAPDigest != nil && len(m.SOAPDigest) != sha512.Size {
			return nil, fmt.Errorf("signature: message %d: a digest of %d bytes is not a SHA-512", i, len(m.SOAPDigest))
		}
	}
	switch {
	case len(msgs) == 0:
		return nil, errors.New("signature: no messages to sign")
	case len(msgs) == 1 && len(msgs[0].Attachments) == 0:
		sig, err := s.Sign(Part{URI: MessageURI, Data: msgs[0].SOAP, Digest: msgs[0].SOAPDigest, MimeType: "text/xml"}, now)
		if err != nil {
			return nil, err
		}
		return []Chained{{Signature: sig}}, nil
	case len(msgs) == 1:
		c, err := s.SignChained(msgs[0].SOAP, msgs[0].Attachments, now)
		if err != nil {
			return nil, err
		}
		return []Chained{*c}, nil
	}
	inputs := make([][]hashchain.Part, len(msgs))
	for i, m := range msgs {
		if m.SOAP == nil {
			return nil, fmt.Errorf("signature: message %d has no SOAP part", i)
		}
		in := make([]hashchain.Part, 0, 1+len(m.Attachments))
		in = append(in, soapPart(m))
		for j, a := range m.Attachments {
			cp, err := chainPart(a)
			if err != nil {
				return nil, fmt.Errorf("signature: message %d, attachment %d: %w", i, j+1, err)
			}
			in = append(in, cp)
		}
		inputs[i] = in
	}
	hc, err := hashchain.Builder{}.Build(inputs...)
	if err != nil {
		return nil, fmt.Errorf("signature: building the batch's hash chain: %w", err)
	}
	sig, err := s.Sign(Part{URI: hashchain.SigResultURI, Data: hc.Result, MimeType: TypeHashChainResult}, now)
	if err != nil {
		return nil, err
	}
	out := make([]Chained, len(msgs))
	for i := range msgs {
		out[i] = Chained{Signature: sig, Result: hc.Result, Chain: hc.Chains[i]}
	}
	return out, nil
}
