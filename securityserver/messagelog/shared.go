package messagelog

import (
	"bytes"
	"crypto/sha512"
	"fmt"
	"hash/maphash"
)

// Signature documents stored once. The messages of one signing batch
// share one signatures.xml (several KB: certificates and an OCSP response
// inside) and differ only in their hash chains. Once a second record
// carries a document (SigDocs.Group), a store keeps it once, under its SHA-512 (the record's input to the time-stamp
// hash chain, SignatureDigest), and the record's stored form holds that
// digest in place of the document: its version byte has storedShared set
// and its signature field is the 64-byte digest. The document stays until
// the last record referring to it is pruned. A batch of one (every
// message signed alone, the usual case at low load) is stored as before.
//
// The record chain is unchanged: a record's chain hash (Hash) is over its
// full encoding (Encode, the document inside), which every reader gets
// back (Expand), so archives, proofs, time-stamps and exports are
// byte-identical to a log that keeps documents inline, and a changed
// shared document breaks the chain at every record that refers to it. The
// check (CheckSource) also names each such record directly, comparing the
// document with the digest the record refers to it by.

// storedShared marks a record's stored form whose signature document is
// kept apart (see above), or'ed into the version byte.
const storedShared = 0x80

// SharedMin is the least signature document size a store keeps apart: a
// smaller one (tests' placeholders) stays in the record.
const SharedMin = 256

// Shares reports whether a store may keep r's signature document apart.
func Shares(r *Record) bool { return len(r.Signature) >= SharedMin }

// EncodeShared is r's stored form with its signature document kept apart
// under digest (SHA-512 of r.Signature).
func (r *Record) EncodeShared(digest []byte) []byte {
	return r.encodeShared(make([]byte, 0, r.encodedSize()-len(r.Signature)+len(digest)), digest)
}

// encodeShared appends EncodeShared(digest) to dst.
func (r *Record) encodeShared(dst, digest []byte) []byte {
	c := *r
	c.Signature = digest
	at := len(dst)
	dst = c.encode(dst)
	dst[at] |= storedShared
	return dst
}

// SharedRef is the digest a stored record refers to its signature document
// by, nil when the record holds the document itself.
func SharedRef(stored []byte) ([]byte, error) {
	if len(stored) == 0 || stored[0]&storedShared == 0 {
		return nil, nil
	}
	r, err := decodeStored(stored)
	if err != nil {
		return nil, err
	}
	return r.Signature, nil
}

// Expand returns a stored record's full encoding (what Decode reads and
// Hash covers): stored itself when it holds its signature document, else
// stored with doc, the document it refers to, put back. doc is not
// checked against the reference here: the chain hash covers it, and
// CheckSource compares the two.
func Expand(stored, doc []byte) ([]byte, error) {
	if len(stored) == 0 || stored[0]&storedShared == 0 {
		return stored, nil
	}
	r, err := decodeStored(stored)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, fmt.Errorf("%w: record %d: its signature document (SHA-512 %x…) is missing", ErrCorrupt, r.Seq, r.Signature[:8])
	}
	r.Signature = doc
	return r.Encode(), nil
}

// decodeStored reads a stored record in either form; for the shared form
// the record's Signature is the 64-byte digest of the document.
func decodeStored(stored []byte) (*Record, error) {
	if len(stored) == 0 || stored[0]&(storedShared|storedBlobs) == 0 {
		return Decode(stored)
	}
	full := bytes.Clone(stored) // Decode's fields alias their input: keep stored intact
	full[0] &^= storedShared | storedBlobs
	r, err := Decode(full)
	if err != nil {
		return nil, err
	}
	if stored[0]&storedShared != 0 && len(r.Signature) != sha512.Size {
		return nil, fmt.Errorf("%w: record %d refers to its signature document by %d bytes, not a SHA-512", ErrCorrupt, r.Seq, len(r.Signature))
	}
	return r, nil
}

// SigDocs remembers the signature documents a writer stored lately, so
// that the records of one signing batch (each carrying its own copy of the
// same document) hash it once (SignatureDigest) and share one copy. Not
// safe for concurrent use: a store's single writer owns one.
type SigDocs struct {
	seed maphash.Seed
	m    map[uint64]*sigDoc
	last []*sigDoc // the entries of the last group's records (own, keep)
}

type sigDoc struct {
	doc, digest []byte
	// borrowed: doc is still a record's own Signature (borrow), until own
	// or keep gives the writer its own copy.
	borrowed bool
	seen     bool // a record of an earlier group carried it
	n        int  // records of the current group that carry it
}

// sigDocsMax bounds the remembered documents (a batch's records are logged
// within moments of each other).
const sigDocsMax = 1024

// Group returns, for each of a group of records to store, its
// SignatureDigest and, when the store should keep its document apart, the
// writer's own copy of it (the same slice for every record that carries
// the same document), else nil. A document is kept apart once more than
// one record carries it: two records of the group, or one and a record of
// an earlier group. So a signing batch of one, the usual case at low load,
// keeps its document inline as before and costs nothing more; a batch whose
// first record came alone keeps that one's inline and the rest's apart.
func (s *SigDocs) Group(recs []*Record) (digests, docs [][]byte) {
	digests, docs = s.borrow(recs)
	s.keep()
	return digests, docs
}

// borrow is Group, but a document seen for the first time and kept in the
// record may stay the record's own bytes until the writer hands a stable
// copy of them (own, e.g. inside its encoding) or keep copies them: so
// that a document of a batch of one is not copied only to be remembered.
func (s *SigDocs) borrow(recs []*Record) (digests, docs [][]byte) {
	digests, docs = make([][]byte, len(recs)), make([][]byte, len(recs))
	if s.m == nil {
		s.seed, s.m = maphash.MakeSeed(), make(map[uint64]*sigDoc)
	}
	es := s.last[:0]
	for i, r := range recs {
		if !Shares(r) {
			digests[i] = appendedDigest(r)
			es = append(es, nil)
			continue
		}
		k := maphash.Bytes(s.seed, r.Signature)
		e, ok := s.m[k]
		if !ok || !bytes.Equal(e.doc, r.Signature) {
			if len(s.m) >= sigDocsMax {
				clear(s.m)
			}
			e = &sigDoc{doc: r.Signature, borrowed: true, digest: appendedDigest(r)}
			s.m[k] = e
		}
		e.n++
		es = append(es, e)
		digests[i] = e.digest
	}
	for i, e := range es {
		if e != nil && (e.seen || e.n > 1) {
			if e.borrowed { // kept apart: the store needs its own copy
				e.doc, e.borrowed = bytes.Clone(e.doc), false
			}
			docs[i] = e.doc
		}
	}
	for _, e := range es {
		if e != nil {
			e.seen, e.n = true, 0
		}
	}
	s.last = es
	return digests, docs
}

// own gives the entry of the last group's record i, if it still borrows
// the record's bytes, doc: the same bytes, which the writer keeps
// unchanged (its own encoding of the record).
func (s *SigDocs) own(i int, doc []byte) {
	if e := s.last[i]; e != nil && e.borrowed {
		e.doc, e.borrowed = doc, false
	}
}

// keep copies the documents the last group's entries still borrow.
func (s *SigDocs) keep() {
	for i, e := range s.last {
		if e != nil && e.borrowed {
			e.doc, e.borrowed = bytes.Clone(e.doc), false
		}
		s.last[i] = nil
	}
	s.last = s.last[:0]
}
