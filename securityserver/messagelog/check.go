package messagelog

import (
	"bytes"
	"cmp"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/pkiutil/tsa"
)

// Problem is one record that fails a check.
type Problem struct {
	Seq    uint64
	Reason string
}

func (p Problem) String() string { return fmt.Sprintf("record %d: %s", p.Seq, p.Reason) }

// CheckResult summarises a chain check.
type CheckResult struct {
	Records  int
	FirstSeq uint64
	LastSeq  uint64
	Head     []byte
	Batches  int    // time-stamp batches
	Stamped  uint64 // the last record covered by a batch
	// Archived is where the live log continues after archived records
	// were removed (nil if none were): its first record must chain to it.
	Archived *Anchor
	Problems []Problem
}

// OK reports whether no problem was found.
func (c *CheckResult) OK() bool { return len(c.Problems) == 0 }

// Check verifies the whole chain of the open log: consecutive sequence
// numbers, each record's PrevHash equal to the previous record's hash, each
// logged body matching its digest, and the stored head matching the last
// record. It does not verify signatures (the auditor does).
//
// It first moves appended records into the store; if that fails (a full
// disk), it checks what the store has: the rest waits in the write-ahead
// file until the store can take it.
func (l *Log) Check() (*CheckResult, error) {
	l.Flush()
	var res *CheckResult
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		res, err = check(tx)
		return err
	})
	return res, err
}

// CheckFile checks a log file that no server has open.
func CheckFile(path string) (*CheckResult, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var res *CheckResult
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		res, err = check(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("message log %s: %w", path, err)
	}
	return res, nil
}

// Source is a log as CheckSource reads it: one consistent view of the
// bbolt file (a read transaction) or of the database (pglog, a snapshot).
type Source interface {
	// Archived is where the live log continues (nil if nothing was
	// archived).
	Archived() (*Anchor, error)
	// EachStored calls fn with every stored record, by sequence, and,
	// for a record that refers to a shared signature document (SharedRef),
	// the document the store holds under that digest (nil if none).
	EachStored(fn func(seq uint64, stored, doc []byte) error) error
	Batches() ([]*Batch, error)
	// Leaves are the hashes of records first..last.
	Leaves(first, last uint64) ([][]byte, error)
	// Head is the log's own note of its newest record; ok is false when
	// it has none.
	Head() (seq uint64, hash []byte, ok bool, err error)
}

// boltSource is a Source in a bbolt read transaction. It puts the
// certificates and OCSP responses kept apart (blobs.go) back into what it
// passes on, and collects in blobs the records whose blobs are missing or
// changed.
type boltSource struct {
	tx    *bolt.Tx
	blobs *[]Problem
}

func (b boltSource) Archived() (*Anchor, error)                  { return anchor(b.tx) }
func (b boltSource) Batches() ([]*Batch, error)                  { return batches(b.tx) }
func (b boltSource) Leaves(first, last uint64) ([][]byte, error) { return leaves(b.tx, first, last) }
func (b boltSource) EachStored(fn func(seq uint64, stored, doc []byte) error) error {
	return b.tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
		seq := binary.BigEndian.Uint64(k)
		if x, ps, err := expandBlobsIn(b.tx, v, true); err == nil {
			v = x
			*b.blobs = append(*b.blobs, ps...)
		} // else Decode names the error
		var doc []byte
		if ref, err := SharedRef(v); err == nil {
			var bad [][]byte
			doc, bad = sigDocChecked(b.tx, ref, true)
			*b.blobs = append(*b.blobs, blobProblems(seq, bad)...)
		}
		return fn(seq, v, doc)
	})
}
func (b boltSource) Head() (uint64, []byte, bool, error) {
	h := b.tx.Bucket(bucketMeta).Get(keyHead)
	if h == nil {
		return 0, nil, false, nil
	}
	if len(h) != 40 {
		return ^uint64(0), nil, true, nil // matches no record: reported
	}
	return binary.BigEndian.Uint64(h), h[8:], true, nil
}

func check(tx *bolt.Tx) (*CheckResult, error) {
	if tx.Bucket(bucketRecords) == nil || tx.Bucket(bucketMeta) == nil {
		return nil, fmt.Errorf("%w: not a message log (buckets missing)", ErrCorrupt)
	}
	var blobs []Problem
	res, err := CheckSource(boltSource{tx, &blobs})
	if err != nil || len(blobs) == 0 {
		return res, err
	}
	res.Problems = append(res.Problems, blobs...)
	slices.SortStableFunc(res.Problems, func(a, b Problem) int { return cmp.Compare(a.Seq, b.Seq) })
	return res, nil
}

// CheckSource checks the chain of a log as Check does.
func CheckSource(src Source) (*CheckResult, error) {
	res := &CheckResult{}
	arch, err := src.Archived()
	if err != nil {
		return nil, err
	}
	res.Archived = arch
	// Where the chain starts: record 1 from zeros, or the record after the
	// last archived one from its hash.
	start, startHash := uint64(1), make([]byte, 32)
	if arch != nil {
		start, startHash = arch.LastSeq+1, arch.RecordHash
	}
	var prevHash []byte
	var prevSeq uint64
	// The records' signature digests, by seq-start, for hash-chain
	// batches: collected in this one pass, not read again per batch.
	var sigs [][]byte
	// The last shared document and its SHA-512: the records of a batch are
	// logged together, so each document is mostly hashed once. Keyed by
	// the document itself, not by the reference: a record given another
	// document than the one it refers to is named, whatever its neighbours.
	var lastDoc, lastSum []byte
	err = src.EachStored(func(keySeq uint64, v, doc []byte) error {
		var sigDigest []byte // SHA-512 of the record's document, when known here
		ref, err := SharedRef(v)
		if err == nil && ref != nil {
			// The document the record refers to must be the one its
			// digest names: else every record of its batch is named here
			// (the chain breaks after each of them, too).
			if doc != nil && (lastSum == nil || !bytes.Equal(doc, lastDoc)) {
				s := sha512.Sum512(doc)
				lastDoc, lastSum = bytes.Clone(doc), s[:]
			}
			sum := lastSum
			switch {
			case doc == nil:
				res.Problems = append(res.Problems, Problem{keySeq, fmt.Sprintf("its signature document (stored once for the records that share it, SHA-512 %x…) is missing (removed)", ref[:8])})
				prevHash, prevSeq = Hash(v), keySeq
				return nil
			case !bytes.Equal(sum, ref):
				res.Problems = append(res.Problems, Problem{keySeq, fmt.Sprintf("its signature document (stored once for the records that share it, SHA-512 %x…) does not match its digest (changed)", ref[:8])})
			}
			v, err = Expand(v, doc)
			sigDigest = sum
		}
		var r *Record
		if err == nil {
			r, err = Decode(v)
		}
		if err != nil {
			res.Problems = append(res.Problems, Problem{keySeq, err.Error()})
			prevHash, prevSeq = Hash(v), keySeq
			return nil
		}
		if res.Records == 0 {
			res.FirstSeq = keySeq
		}
		res.Records++
		if keySeq >= start && keySeq-start <= uint64(len(sigs))+1024 { // a larger gap is reported, not filled
			for uint64(len(sigs)) < keySeq-start {
				sigs = append(sigs, nil)
			}
			if uint64(len(sigs)) == keySeq-start {
				if sigDigest == nil {
					sigDigest = SignatureDigest(r)
				}
				sigs = append(sigs, sigDigest)
			}
		}
		switch {
		case r.Seq != keySeq:
			res.Problems = append(res.Problems, Problem{keySeq, fmt.Sprintf("stored under sequence %d but says it is %d (moved)", keySeq, r.Seq)})
		case prevHash != nil && keySeq != prevSeq+1:
			res.Problems = append(res.Problems, Problem{prevSeq + 1, fmt.Sprintf("missing (the log jumps from %d to %d)", prevSeq, keySeq)})
		case prevHash != nil && !bytes.Equal(r.PrevHash, prevHash):
			res.Problems = append(res.Problems, Problem{keySeq, fmt.Sprintf("does not chain to record %d (changed, removed or reordered records before it)", prevSeq)})
		case prevHash == nil && keySeq != start:
			res.Problems = append(res.Problems, Problem{start, fmt.Sprintf("missing (the log starts at record %d, it should start at %d)", keySeq, start)})
		case prevHash == nil && arch == nil && !bytes.Equal(r.PrevHash, startHash):
			res.Problems = append(res.Problems, Problem{keySeq, "the first record does not start the chain"})
		case prevHash == nil && !bytes.Equal(r.PrevHash, startHash):
			res.Problems = append(res.Problems, Problem{keySeq, fmt.Sprintf("does not chain to the last archived record %d (archive %s)", arch.LastSeq, arch.File)})
		}
		if r.Message != nil {
			if sum := sha512.Sum512(r.Message); !bytes.Equal(sum[:], r.MessageDigest) {
				res.Problems = append(res.Problems, Problem{keySeq, "the logged message does not match its digest (changed)"})
			}
		}
		for i, a := range r.Attachments {
			if a.Data == nil { // a digest only, or a file (audit.VerifyLog checks those)
				continue
			}
			if sum := sha512.Sum512(a.Data); !bytes.Equal(sum[:], a.Digest) {
				res.Problems = append(res.Problems, Problem{keySeq, fmt.Sprintf("logged attachment %d does not match its digest (changed)", i+1)})
			}
		}
		prevHash, prevSeq = Hash(v), keySeq
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.LastSeq, res.Head = prevSeq, prevHash
	bs, err := src.Batches()
	if err != nil {
		return nil, err
	}
	next := start
	for _, b := range bs {
		res.Batches++
		if b.FirstSeq != next {
			res.Problems = append(res.Problems, Problem{next, fmt.Sprintf("not covered by a time-stamp batch (batch %d starts at %d)", b.N, b.FirstSeq)})
		}
		next = b.LastSeq + 1
		err := b.Matches(func() ([][]byte, error) { return src.Leaves(b.FirstSeq, b.LastSeq) }, func() ([][]byte, error) {
			if b.FirstSeq < start || b.LastSeq-start >= uint64(len(sigs)) {
				return nil, fmt.Errorf("%w: records %d..%d missing", ErrCorrupt, b.FirstSeq, b.LastSeq)
			}
			sd := sigs[b.FirstSeq-start : b.LastSeq-start+1]
			for i, d := range sd {
				if d == nil {
					return nil, fmt.Errorf("%w: record %d missing or unreadable", ErrCorrupt, b.FirstSeq+uint64(i))
				}
			}
			return sd, nil
		})
		if err != nil {
			res.Problems = append(res.Problems, Problem{b.FirstSeq, fmt.Sprintf("time-stamp batch %d: %v", b.N, err)})
			continue
		}
		h, imprint := b.Imprint()
		if tok, err := tsa.ParseToken(b.Token); err != nil || tok.HashAlgorithm != h || !bytes.Equal(tok.HashedMessage, imprint) {
			what := "root"
			if b.HashChain() {
				what = "hash chain result"
			}
			res.Problems = append(res.Problems, Problem{b.FirstSeq, fmt.Sprintf("time-stamp batch %d: the token is not over the batch %s (replaced or damaged)", b.N, what)})
		}
		res.Stamped = b.LastSeq
	}
	hs, hh, ok, err := src.Head()
	if err != nil {
		return nil, err
	}
	if ok && res.Records == 0 && arch != nil {
		if hs != arch.LastSeq || !bytes.Equal(hh, arch.RecordHash) {
			res.Problems = append(res.Problems, Problem{arch.LastSeq + 1, "the log's recorded head is past its last archived record, but the live log holds no record (records removed)"})
		}
	}
	if ok && res.Records > 0 {
		if hs != prevSeq || !bytes.Equal(hh, prevHash) {
			res.Problems = append(res.Problems, Problem{prevSeq, "the log's recorded head does not match its last record (records removed or changed at the end)"})
		}
	}
	return res, nil
}
