package messagelog

import (
	"bytes"
	"crypto"
	"crypto/sha512"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/securityserver/hashchain"
)

var bucketBatches = []byte("batches")

// Batch is one time-stamped run of consecutive records: an RFC 3161 token
// over X-Road's time-stamp hash chain of the records' signature documents
// (xroad-protocols.md §3, "Time-stamps"): the HashChainResult
// (ts-hashchainresult.xml, in Result) over SHA-512(signatures.xml) of each
// record, which the token stamps (SHA-512 imprint over Result's bytes).
// Each record's own HashChain (ts-hashchain.xml) is rebuilt from the
// records when a container is written (TSChain).
//
// Batches written before this format (Result nil) hold an RFC 6962 Merkle
// root over the records' chain hashes (SHA-256), the token's imprint; they
// are still read and checked as they were.
type Batch struct {
	N        uint64 `json:"n"` // batch number, from 1
	FirstSeq uint64 `json:"firstSeq"`
	LastSeq  uint64 `json:"lastSeq"`
	// Root is the hash chain's top digest (SHA-512), or a legacy batch's
	// MerkleRoot of the records' chain hashes.
	Root []byte `json:"root"`
	// Result is ts-hashchainresult.xml; nil in a legacy Merkle batch.
	Result []byte    `json:"tsHashChainResult,omitempty"`
	Token  []byte    `json:"token"` // DER TimeStampToken over Result (SHA-512), or Root (legacy, SHA-256)
	Time   time.Time `json:"time"`  // the token's genTime
	TSA    string    `json:"tsa"`   // where it came from
}

// TSBuilder builds the time-stamp hash chains, as X-Road's message log does
// (BatchTimestampRequest): SHA-512, /ts-hashchain.xml, DataRefs to
// /META-INF/signatures.xml; a batch of one record gets a one-step chain
// (hashchain.Builder.Single) where X-Road would stamp the record alone.
var TSBuilder = hashchain.Builder{ChainURI: hashchain.TSChainURI, DataURI: hashchain.SignaturesURI, Single: true}

// SignatureDigest is a record's input to the time-stamp hash chain: the
// SHA-512 of its signature document.
func SignatureDigest(r *Record) []byte {
	sum := sha512.Sum512(r.Signature)
	return sum[:]
}

// appendedDigest is SignatureDigest for a record being appended: the one
// its caller handed in (Record.SignatureDigest) when there is one. Readers
// and checks always hash the document (SignatureDigest).
func appendedDigest(r *Record) []byte {
	if len(r.SignatureDigest) == sha512.Size {
		return r.SignatureDigest
	}
	return SignatureDigest(r)
}

func tsInputs(sigDigests [][]byte) [][]hashchain.Part {
	in := make([][]hashchain.Part, len(sigDigests))
	for i, d := range sigDigests {
		in[i] = []hashchain.Part{hashchain.Digested(hashchain.DefaultMethod, d)}
	}
	return in
}

// NewBatch is the batch of records first..last, whose signature digests
// (SignatureDigest) are given in order, without its token: Result is what
// the TSA must stamp (Imprint).
func NewBatch(first, last uint64, sigDigests [][]byte) (*Batch, error) {
	if last < first || uint64(len(sigDigests)) != last-first+1 {
		return nil, fmt.Errorf("batch of records %d..%d given %d signature digests", first, last, len(sigDigests))
	}
	res, top, err := TSBuilder.Result(tsInputs(sigDigests)...)
	if err != nil {
		return nil, err
	}
	return &Batch{FirstSeq: first, LastSeq: last, Root: top, Result: res}, nil
}

// HashChain reports whether b is stamped over X-Road's time-stamp hash
// chain (false: a legacy Merkle batch).
func (b *Batch) HashChain() bool { return b.Result != nil }

// Imprint is what b's token must stamp: SHA-512 of Result, or a legacy
// batch's Merkle root with SHA-256.
func (b *Batch) Imprint() (crypto.Hash, []byte) {
	if b.HashChain() {
		sum := sha512.Sum512(b.Result)
		return crypto.SHA512, sum[:]
	}
	return crypto.SHA256, b.Root
}

// TSChain is ts-hashchain.xml of record seq of hash-chain batch b, whose
// records' signature digests are sigDigests.
func (b *Batch) TSChain(seq uint64, sigDigests [][]byte) ([]byte, error) {
	if !b.HashChain() {
		return nil, fmt.Errorf("batch %d is a legacy Merkle batch: it has no time-stamp hash chain", b.N)
	}
	if seq < b.FirstSeq || seq > b.LastSeq || uint64(len(sigDigests)) != b.LastSeq-b.FirstSeq+1 {
		return nil, fmt.Errorf("record %d is not in batch %d (%d..%d)", seq, b.N, b.FirstSeq, b.LastSeq)
	}
	return TSBuilder.Chain(int(seq-b.FirstSeq), tsInputs(sigDigests)...)
}

// Matches reports whether b covers the records whose chain hashes (for a
// legacy batch) or signature digests (for a hash-chain batch) are given;
// only the one b needs is called.
func (b *Batch) Matches(chainHashes, sigDigests func() ([][]byte, error)) error {
	if !b.HashChain() {
		lv, err := chainHashes()
		if err != nil {
			return err
		}
		if !bytes.Equal(MerkleRoot(lv), b.Root) {
			return fmt.Errorf("records %d..%d do not match the root time-stamped in batch %d (changed)", b.FirstSeq, b.LastSeq, b.N)
		}
		return nil
	}
	sd, err := sigDigests()
	if err != nil {
		return err
	}
	nb, err := NewBatch(b.FirstSeq, b.LastSeq, sd)
	if err != nil {
		return err
	}
	if !bytes.Equal(nb.Result, b.Result) || !bytes.Equal(nb.Root, b.Root) {
		return fmt.Errorf("the signatures of records %d..%d do not match the hash chain time-stamped in batch %d (changed)", b.FirstSeq, b.LastSeq, b.N)
	}
	return nil
}

// Pending reports the records not yet in a batch: first..last (first >
// last when none) and the time of the first of them. It first moves
// appended records into the store (Flush).
func (l *Log) Pending() (first, last uint64, oldest time.Time, err error) {
	if err := l.Flush(); err != nil {
		return 0, 0, time.Time{}, err
	}
	return l.PendingStored()
}

// PendingStored is Pending without the Flush: records still in the
// write-ahead file count once they move into the store (within
// Options.IngestInterval). The time-stamper polls with it, so that its
// ticks do not add store commits, and their disk flushes, to the exchanges'.
func (l *Log) PendingStored() (first, last uint64, oldest time.Time, err error) {
	l.pendMu.Lock()
	var queued uint64
	if n := len(l.pendBatches); n > 0 {
		queued = l.pendBatches[n-1].LastSeq
	}
	l.pendMu.Unlock()
	err = l.db.View(func(tx *bolt.Tx) error {
		end, _, err := lastBatchEnd(tx)
		if err != nil {
			return err
		}
		first = max(end, queued) + 1
		if last, _, err = storedHead(tx); err != nil {
			return err
		}
		if first <= last {
			v := tx.Bucket(bucketRecords).Get(seqKey(first))
			r, err := decodeStored(v)
			if err != nil {
				return fmt.Errorf("record %d: %w", first, err)
			}
			oldest = r.Time
		}
		return nil
	})
	return
}

// leafCacheMax bounds the chain hashes kept for time-stamping (32 bytes
// each): a backlog longer than that (a TSA down for long) is read back from
// the store instead.
const leafCacheMax = 1 << 18

// cacheLeaves keeps the chain hashes and signature digests of records
// first, first+1, … as the writer computed them, for the time-stamper:
// they are the hashes of the very bytes written to the write-ahead file and
// then to the store, so stamping needs neither to read the records back
// nor to hash them again. (The auditor's verification reads and hashes
// what is stored.)
func (l *Log) cacheLeaves(first uint64, hashes, sigs [][]byte) {
	l.leafMu.Lock()
	defer l.leafMu.Unlock()
	if len(l.leafs) == 0 || l.leafFirst+uint64(len(l.leafs)) != first || len(l.leafs)+len(hashes) > leafCacheMax {
		l.leafs, l.sigs, l.leafFirst = l.leafs[:0], l.sigs[:0], first
	}
	l.leafs = append(l.leafs, hashes...)
	l.sigs = append(l.sigs, sigs...)
}

// cachedLeaves returns the cached chain hashes (or, with sigs, signature
// digests) of first..last, if all are.
func (l *Log) cachedLeaves(first, last uint64, sigs bool) ([][]byte, bool) {
	l.leafMu.Lock()
	defer l.leafMu.Unlock()
	if len(l.leafs) == 0 || first < l.leafFirst || last >= l.leafFirst+uint64(len(l.leafs)) || last < first {
		return nil, false
	}
	from := l.leafs
	if sigs {
		from = l.sigs
	}
	return append([][]byte(nil), from[first-l.leafFirst:last-l.leafFirst+1]...), true
}

// forgetLeaves drops the cached hashes of records up to last (stamped).
func (l *Log) forgetLeaves(last uint64) {
	l.leafMu.Lock()
	defer l.leafMu.Unlock()
	if last < l.leafFirst {
		return
	}
	n := min(last-l.leafFirst+1, uint64(len(l.leafs)))
	l.leafs = append(l.leafs[:0], l.leafs[n:]...)
	l.sigs = append(l.sigs[:0], l.sigs[n:]...)
	l.leafFirst += n
}

// Leaves returns the chain hashes of records first..last: as the writer
// computed them when it has them, else read from the store.
func (l *Log) Leaves(first, last uint64) ([][]byte, error) { return l.batchHashes(first, last, false) }

// SignatureDigests returns the SignatureDigest of records first..last: as
// the writer computed them when it has them, else read from the store.
func (l *Log) SignatureDigests(first, last uint64) ([][]byte, error) {
	return l.batchHashes(first, last, true)
}

func (l *Log) batchHashes(first, last uint64, sigs bool) ([][]byte, error) {
	if lv, ok := l.cachedLeaves(first, last, sigs); ok {
		return lv, nil
	}
	var out [][]byte
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		if sigs {
			out, err = signatureDigests(tx, first, last)
		} else {
			out, err = leaves(tx, first, last)
		}
		return err
	})
	return out, err
}

func leaves(tx *bolt.Tx, first, last uint64) ([][]byte, error) {
	return eachStored(tx, first, last, func(seq uint64, v []byte) ([]byte, error) {
		full, err := expandIn(tx, v)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", seq, err)
		}
		return Hash(full), nil
	})
}

func signatureDigests(tx *bolt.Tx, first, last uint64) ([][]byte, error) {
	return eachStored(tx, first, last, func(seq uint64, v []byte) ([]byte, error) {
		r, err := decodeStored(v)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", seq, err)
		}
		if v[0]&storedShared != 0 {
			return r.Signature, nil // the digest it refers to its document by
		}
		if v[0]&storedBlobs != 0 {
			if _, err := expandRecordBlobs(tx, r, false); err != nil {
				return nil, err
			}
		}
		return SignatureDigest(r), nil
	})
}

// eachStored returns fn of each stored record first..last, all of which
// must be there.
func eachStored(tx *bolt.Tx, first, last uint64, fn func(seq uint64, v []byte) ([]byte, error)) ([][]byte, error) {
	out := make([][]byte, 0, last-first+1)
	c := tx.Bucket(bucketRecords).Cursor()
	want := first
	for k, v := c.Seek(seqKey(first)); k != nil && want <= last; k, v = c.Next() {
		if binary.BigEndian.Uint64(k) != want {
			return nil, fmt.Errorf("%w: record %d missing", ErrCorrupt, want)
		}
		h, err := fn(want, v)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
		want++
	}
	if want != last+1 {
		return nil, fmt.Errorf("%w: record %d missing", ErrCorrupt, want)
	}
	return out, nil
}

// AddBatch adds a batch. It must continue the previous one exactly and
// cover only records in the store; its hash chain (or a legacy batch's
// root) must match them (Batch.Matches). The batch is
// written with the next move of records into the store (Options.
// IngestInterval, or Flush, Close and every reader of batches): a batch is
// not urgent — one lost in a crash is stamped again — and sharing that
// commit saves the disk flushes that would slow the exchanges' appends.
func (l *Log) AddBatch(b *Batch) error {
	if l.readOnly {
		return errors.New("message log opened read-only")
	}
	l.ingMu.Lock() // no ingest may write queued batches meanwhile
	defer l.ingMu.Unlock()
	l.pendMu.Lock()
	var prev *Batch
	if n := len(l.pendBatches); n > 0 {
		prev = l.pendBatches[n-1]
	}
	l.pendMu.Unlock()
	err := l.db.View(func(tx *bolt.Tx) error {
		end, n, err := lastBatchEnd(tx)
		if err != nil {
			return err
		}
		if prev != nil {
			end, n = prev.LastSeq, prev.N
		}
		if b.FirstSeq != end+1 || b.LastSeq < b.FirstSeq {
			return fmt.Errorf("batch covers records %d..%d, but the next batch must start at %d", b.FirstSeq, b.LastSeq, end+1)
		}
		err = b.Matches(func() ([][]byte, error) {
			if lv, ok := l.cachedLeaves(b.FirstSeq, b.LastSeq, false); ok {
				return lv, nil
			}
			return leaves(tx, b.FirstSeq, b.LastSeq)
		}, func() ([][]byte, error) {
			if sd, ok := l.cachedLeaves(b.FirstSeq, b.LastSeq, true); ok {
				return sd, nil
			}
			return signatureDigests(tx, b.FirstSeq, b.LastSeq)
		})
		if err != nil {
			return fmt.Errorf("batch does not match records %d..%d: %w", b.FirstSeq, b.LastSeq, err)
		}
		b.N = n + 1
		return nil
	})
	if err != nil {
		return err
	}
	l.pendMu.Lock()
	l.pendBatches = append(l.pendBatches, b)
	l.pendMu.Unlock()
	l.forgetLeaves(b.LastSeq)
	return nil
}

// putBatches stores queued batches after the stored ones.
func putBatches(tx *bolt.Tx, bs []*Batch) error {
	bb := tx.Bucket(bucketBatches)
	for _, b := range bs {
		end, n, err := lastBatchEnd(tx)
		if err != nil {
			return err
		}
		if b.FirstSeq != end+1 || b.N != n+1 {
			return fmt.Errorf("%w: queued batch %d (records %d..%d) does not continue batch %d (to record %d)", ErrCorrupt, b.N, b.FirstSeq, b.LastSeq, n, end)
		}
		v, err := json.Marshal(b)
		if err != nil {
			return err
		}
		if err := bb.Put(seqKey(b.N), v); err != nil {
			return err
		}
	}
	return nil
}

// Batches returns every batch in order (after Flush).
func (l *Log) Batches() ([]*Batch, error) {
	if err := l.Flush(); err != nil {
		return nil, err
	}
	var out []*Batch
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = batches(tx)
		return err
	})
	return out, err
}

func batches(tx *bolt.Tx) ([]*Batch, error) {
	var out []*Batch
	b := tx.Bucket(bucketBatches)
	if b == nil {
		return nil, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var bt Batch
		if err := json.Unmarshal(v, &bt); err != nil {
			return fmt.Errorf("%w: batch %x: %w", ErrCorrupt, k, err)
		}
		out = append(out, &bt)
		return nil
	})
	return out, err
}
