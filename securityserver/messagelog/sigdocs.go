package messagelog

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The bbolt file keeps shared signature documents (shared.go) in two
// buckets keyed by the document's SHA-512: sigdocs holds the document,
// written once; sigrefs how many stored records refer to it (8 bytes, big
// endian), so that counting a reference rewrites 8 bytes, not the
// document. Prune takes references away and removes a document with its
// last one. Logs written before have neither bucket.
var (
	bucketSigDocs = []byte("sigdocs")
	bucketSigRefs = []byte("sigrefs")
)

// addSigRefs counts refs more references to their documents, storing from
// docs those the store does not have yet (their blobs apart, added to bb).
func addSigRefs(tx *bolt.Tx, refs map[string]uint64, docs map[string][]byte, bb *blobBatch) error {
	return eachSigRef(tx, refs, func(db, rb *bolt.Bucket, k []byte, have, n uint64) error {
		if db.Get(k) == nil {
			doc := docs[string(k)]
			if doc == nil {
				return fmt.Errorf("%w: the signature document (SHA-512 %x…) that records refer to is missing", ErrCorrupt, k[:8])
			}
			if err := db.Put(k, compactShared(doc, bb)); err != nil {
				return err
			}
		}
		return rb.Put(k, binary.BigEndian.AppendUint64(nil, have+n))
	})
}

// dropSigRefs takes refs references away from their documents and removes
// each document that has none left.
func dropSigRefs(tx *bolt.Tx, refs map[string]uint64) error {
	return eachSigRef(tx, refs, func(db, rb *bolt.Bucket, k []byte, have, n uint64) error {
		if have > n {
			return rb.Put(k, binary.BigEndian.AppendUint64(nil, have-n))
		}
		if err := rb.Delete(k); err != nil {
			return err
		}
		return db.Delete(k)
	})
}

// eachSigRef calls fn with the document and count buckets for each
// document of refs, its stored reference count and its count in refs.
func eachSigRef(tx *bolt.Tx, refs map[string]uint64, fn func(db, rb *bolt.Bucket, k []byte, have, n uint64) error) error {
	if len(refs) == 0 {
		return nil
	}
	db, rb := tx.Bucket(bucketSigDocs), tx.Bucket(bucketSigRefs)
	if db == nil || rb == nil {
		return fmt.Errorf("%w: no signature document buckets", ErrCorrupt)
	}
	for ref, n := range refs {
		k := []byte(ref)
		var have uint64
		if v := rb.Get(k); len(v) == 8 {
			have = binary.BigEndian.Uint64(v)
		}
		if err := fn(db, rb, k, have, n); err != nil {
			return err
		}
	}
	return nil
}

// sigDocIn is the shared signature document stored under ref, nil if none
// (or if a blob it refers to is missing).
func sigDocIn(tx *bolt.Tx, ref []byte) []byte {
	doc, bad := sigDocChecked(tx, ref, false)
	if len(bad) > 0 {
		return nil
	}
	return doc
}

// sigDocChecked is sigDocIn with the references of the blobs (blobs.go)
// that are missing or, when verify, changed.
func sigDocChecked(tx *bolt.Tx, ref []byte, verify bool) ([]byte, [][]byte) {
	if b := tx.Bucket(bucketSigDocs); b != nil && ref != nil {
		c := b.Get(ref)
		doc, bad, err := expandDoc(c, blobGetter(tx), verify)
		if err != nil {
			return c, nil // does not match its digest: reported as such
		}
		return doc, bad
	}
	return nil, nil
}

// expandIn is a stored record's full encoding (Expand), with its shared
// signature document and the blobs it refers to from the store.
func expandIn(tx *bolt.Tx, stored []byte) ([]byte, error) {
	stored, _, err := expandBlobsIn(tx, stored, false)
	if err != nil {
		return nil, err
	}
	ref, err := SharedRef(stored)
	if err != nil || ref == nil {
		return stored, err
	}
	return Expand(stored, sigDocIn(tx, ref))
}

// SignatureDocs reports how many shared signature documents the store
// holds and their size in bytes (for tests and metrics: the records of one
// signing batch share one).
func (l *Log) SignatureDocs() (n, size int, err error) { return l.bucketSize(bucketSigDocs) }

// bucketSize is how many values the store holds in bucket and their size
// in bytes.
func (l *Log) bucketSize(bucket []byte) (n, size int, err error) {
	if err := l.Flush(); err != nil {
		return 0, 0, err
	}
	err = l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			n, size = n+1, size+len(v)
			return nil
		})
	})
	return n, size, err
}
