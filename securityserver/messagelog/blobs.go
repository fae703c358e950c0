package messagelog

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Certificates and OCSP responses stored once (bbolt store). A signature
// document carries the signer's certificate, its CA's and an OCSP response
// as base64 (ds:X509Certificate, xades:EncapsulatedX509Certificate,
// xades:EncapsulatedOCSPValue): most of its size, and the same in every
// document signed until the next OCSP refresh. When the store takes
// records in (putRecords), each such run of base64 of at least BlobMin
// bytes is replaced by its SHA-512 and kept once in bucket sigblobs. A
// document without the expected shape is stored as it is.
//
// Only the stored form changes: every reader gets the full document back
// (the record's full encoding, which the chain hash covers), and the
// write-ahead file keeps full records, so recovery needs nothing from the
// store. Blobs are kept for ever (no reference counts): they change only
// with a certificate or an OCSP response, a few KB per OCSP refresh.
//
// A record holding its document (not shared) with blobs apart has
// storedBlobs or'ed into its version byte, its signature field the compact
// document; a shared document (sigdocs) with blobs apart starts with
// blobMagic. The compact document is blobMagic, the number of blobs
// (uvarint), then for each blob the text before it (uvarint length, bytes)
// and its 64-byte SHA-512, then the text after the last one (length,
// bytes).

// storedBlobs marks a record's stored form whose (inline) signature
// document has its certificates and OCSP responses kept apart.
const storedBlobs = 0x40

// BlobMin is the least base64 run kept apart.
const BlobMin = 256

var (
	bucketSigBlobs = []byte("sigblobs")
	blobMagic      = []byte("\x00SLZBLOB1")
	// blobEnds are the end tags (without their namespace prefix) whose
	// content is kept apart.
	blobEnds = [][]byte{[]byte("X509Certificate>"), []byte("EncapsulatedOCSPValue>")}
	// blobElements are the local names of the elements whose content is
	// kept apart.
	blobElements = map[string]bool{"X509Certificate": true, "EncapsulatedX509Certificate": true, "EncapsulatedOCSPValue": true}
)

// findBlobs returns the [start, end) spans of doc's certificate and OCSP
// response contents of at least BlobMin bytes, in order.
func findBlobs(doc []byte) [][2]int {
	var spans [][2]int
	for _, end := range blobEnds {
		for from := 0; ; {
			i := bytes.Index(doc[from:], end)
			if i < 0 {
				break
			}
			i += from
			from = i + len(end)
			// back over the namespace prefix to "</"
			j := i
			for j > 0 && doc[j-1] != '<' && doc[j-1] != '>' {
				j--
			}
			if j < 2 || doc[j-1] != '<' || doc[j] != '/' {
				continue
			}
			name := doc[j+1 : i+len(end)-1]
			if k := bytes.LastIndexByte(name, ':'); k >= 0 {
				name = name[k+1:]
			}
			if !blobElements[string(name)] {
				continue // another element whose name ends so
			}
			stop := j - 1
			start := stop
			for start > 0 && isBase64(doc[start-1]) {
				start--
			}
			if start == 0 || doc[start-1] != '>' || stop-start < BlobMin {
				continue
			}
			spans = append(spans, [2]int{start, stop})
		}
	}
	// two end tags: merge the two sorted lists
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j][0] < spans[j-1][0]; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	return spans
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n' || c == ' ' || c == '\t'
}

// blobBatch collects the blobs of the records one transaction stores.
type blobBatch struct {
	// sums is the writer's memory of recent blobs and their SHA-512 (so
	// that the same certificate is not hashed again for every record), nil
	// for none.
	sums map[string][]byte
	put  map[string][]byte // SHA-512 → blob, to store
}

// blobSumsMax bounds the remembered blobs (a few certificates and OCSP
// responses are current at a time).
const blobSumsMax = 64

// ref is blob's SHA-512, blob added to those to store.
func (bb *blobBatch) ref(blob []byte) []byte {
	sum, ok := bb.sums[string(blob)]
	if !ok {
		s := sha512.Sum512(blob)
		sum = s[:]
		if bb.sums != nil {
			if len(bb.sums) >= blobSumsMax {
				clear(bb.sums)
			}
			bb.sums[string(blob)] = sum
		}
	}
	if bb.put == nil {
		bb.put = map[string][]byte{}
	}
	bb.put[string(sum)] = blob
	return sum
}

// compactDoc returns doc's compact form, adding its blobs to bb, or nil
// when doc has no blob to keep apart. A document that itself starts with
// blobMagic is always compacted (with no blob), so that reading it back
// does not mistake it for a compact one.
func compactDoc(doc []byte, bb *blobBatch) []byte {
	spans := findBlobs(doc)
	if len(spans) == 0 && !bytes.HasPrefix(doc, blobMagic) {
		return nil
	}
	out := make([]byte, 0, len(doc)-len(spans)*(BlobMin-64)+len(blobMagic)+8)
	out = append(out, blobMagic...)
	out = binary.AppendUvarint(out, uint64(len(spans)))
	at := 0
	for _, s := range spans {
		out = appendBytes(out, doc[at:s[0]])
		out = append(out, bb.ref(doc[s[0]:s[1]])...)
		at = s[1]
	}
	return appendBytes(out, doc[at:])
}

// expandDoc returns the full document of a compact one, its blobs from
// get. bad lists the references whose blob is missing or, when verify,
// does not match its digest (the blob's stored bytes, if any, are put in
// all the same, so the chain hash shows the change too). Readers but the
// check do not verify: the record's chain hash covers the blob's bytes.
func expandDoc(c []byte, get func(ref []byte) []byte, verify bool) (doc []byte, bad [][]byte, err error) {
	if !bytes.HasPrefix(c, blobMagic) {
		return c, nil, nil
	}
	d := &decoder{b: c[len(blobMagic):]}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(c))/sha512.Size {
		return nil, nil, fmt.Errorf("%w: a compact signature document is malformed", ErrCorrupt)
	}
	doc = make([]byte, 0, len(c)+int(n)*2048)
	for i := uint64(0); i <= n; i++ {
		doc = append(doc, d.bytes()...)
		if i == n {
			break
		}
		if d.err != nil || len(d.b) < sha512.Size {
			return nil, nil, fmt.Errorf("%w: a compact signature document is malformed", ErrCorrupt)
		}
		ref := d.b[:sha512.Size]
		d.b = d.b[sha512.Size:]
		blob := get(ref)
		if blob == nil {
			bad = append(bad, ref)
			continue
		}
		if verify {
			if s := sha512.Sum512(blob); !bytes.Equal(s[:], ref) {
				bad = append(bad, ref)
			}
		}
		doc = append(doc, blob...)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, nil, fmt.Errorf("%w: a compact signature document is malformed", ErrCorrupt)
	}
	return doc, bad, nil
}

// blobGetter reads blobs from tx's sigblobs bucket.
func blobGetter(tx *bolt.Tx) func([]byte) []byte {
	b := tx.Bucket(bucketSigBlobs)
	return func(ref []byte) []byte {
		if b == nil {
			return nil
		}
		return b.Get(ref)
	}
}

// putBlobs stores the blobs of bb that tx does not hold yet.
func putBlobs(tx *bolt.Tx, bb *blobBatch) error {
	if len(bb.put) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketSigBlobs)
	if err != nil {
		return err
	}
	for k, v := range bb.put {
		if b.Get([]byte(k)) == nil {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
	}
	return nil
}

// compactRecord is the stored form enc (a record holding its document, as
// the write-ahead file has it) with its blobs apart, added to bb; enc
// itself when it has none.
func compactRecord(enc []byte, bb *blobBatch) ([]byte, error) {
	if len(enc) < BlobMin || enc[0]&(storedShared|storedBlobs) != 0 {
		return enc, nil
	}
	r, err := Decode(enc)
	if err != nil {
		return nil, err
	}
	c := compactDoc(r.Signature, bb)
	if c == nil {
		return enc, nil
	}
	cp := *r
	cp.Signature = c
	out := cp.Encode()
	out[0] |= storedBlobs
	return out, nil
}

// compactShared is a shared document's stored form (sigdocs), its blobs
// added to bb.
func compactShared(doc []byte, bb *blobBatch) []byte {
	if c := compactDoc(doc, bb); c != nil {
		return c
	}
	return doc
}

// expandRecordBlobs puts the full document back into r, decoded from a
// stored form with storedBlobs set. Unless verify (the check: problems
// returned), a missing blob is an error.
func expandRecordBlobs(tx *bolt.Tx, r *Record, verify bool) ([]Problem, error) {
	doc, bad, err := expandDoc(r.Signature, blobGetter(tx), verify)
	if err == nil && !verify && len(bad) > 0 {
		err = fmt.Errorf("%w: a certificate or OCSP response of its signature document (SHA-512 %x…) is missing", ErrCorrupt, bad[0][:8])
	}
	if err != nil {
		return nil, fmt.Errorf("record %d: %w", r.Seq, err)
	}
	r.Signature = doc
	return blobProblems(r.Seq, bad), nil
}

func blobProblems(seq uint64, bad [][]byte) []Problem {
	var ps []Problem
	for _, ref := range bad {
		ps = append(ps, Problem{seq, fmt.Sprintf("a certificate or OCSP response of its signature document (stored once, SHA-512 %x…) is missing or does not match its digest (changed)", ref[:8])})
	}
	return ps
}

// expandBlobsIn is a stored record in the form the store's other readers
// know (full, or shared by reference), with any blobs put back, and the
// problems found with them.
func expandBlobsIn(tx *bolt.Tx, stored []byte, verify bool) ([]byte, []Problem, error) {
	if len(stored) == 0 || stored[0]&storedBlobs == 0 {
		return stored, nil, nil
	}
	r, err := decodeStored(stored)
	if err != nil {
		return nil, nil, err
	}
	ps, err := expandRecordBlobs(tx, r, verify)
	if err != nil {
		return nil, nil, err
	}
	return r.Encode(), ps, nil
}

// SignatureBlobs reports how many certificates and OCSP responses the
// store keeps apart and their size in bytes.
func (l *Log) SignatureBlobs() (n, size int, err error) { return l.bucketSize(bucketSigBlobs) }
