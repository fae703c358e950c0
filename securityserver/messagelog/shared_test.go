package messagelog

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testDoc is a signature document the size of a real one; n makes it
// distinct.
func testDoc(n int) []byte {
	return fmt.Appendf(nil, "<asic:XAdESSignatures><ds:Signature Id=\"batch-%d\">%s</ds:Signature></asic:XAdESSignatures>",
		n, strings.Repeat(fmt.Sprintf("certificate and OCSP response of batch %d;", n), 100))
}

// sharedSample is sample(i) signed in batch i/per (its own copy of the
// batch's document, as each message carries one).
func sharedSample(i, per int) *Record {
	r := sample(i)
	r.Signature = testDoc(i / per)
	return r
}

// stampAll adds the batch of every pending record (a token of only bytes).
func stampAll(t *testing.T, l *Log) *Batch {
	t.Helper()
	first, last, _, err := l.Pending()
	if err != nil || first > last {
		t.Fatalf("pending %d..%d, %v", first, last, err)
	}
	sd, err := l.SignatureDigests(first, last)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBatch(first, last, sd)
	if err != nil {
		t.Fatal(err)
	}
	b.Token, b.Time = []byte("token"), time.Now()
	if err := l.AddBatch(b); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	return b
}

// pruneTo prunes the live log up to b (which must end a batch).
func pruneTo(t *testing.T, l *Log, b *Batch) {
	t.Helper()
	_, prev, _, err := l.Oldest()
	if err != nil {
		t.Fatal(err)
	}
	lv, err := l.Leaves(b.LastSeq, b.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Prune(prev, Anchor{LastSeq: b.LastSeq, RecordHash: lv[0], Batch: b.N, Manifest: make([]byte, 32), File: "x.zip"}); err != nil {
		t.Fatal(err)
	}
}

// chainProblems are res's problems but for the tokens stampAll adds.
func chainProblems(res *CheckResult) []Problem {
	var out []Problem
	for _, p := range res.Problems {
		if !strings.Contains(p.Reason, "the token is not over") {
			out = append(out, p)
		}
	}
	return out
}

func requireChecks(t *testing.T, res *CheckResult, err error, records int) {
	t.Helper()
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if len(chainProblems(res)) > 0 || res.Records != records {
		t.Fatalf("check: %d records (want %d), %v", res.Records, records, chainProblems(res))
	}
}

// requireSignatures requires the live records from first on to carry the
// documents of sharedSample(seq-1, per).
func requireSignatures(t *testing.T, l *Log, first uint64, n, per int) {
	t.Helper()
	got := 0
	err := l.Each(first, func(r *Record, stored []byte) error {
		if want := sharedSample(int(r.Seq-1), per).Signature; !bytes.Equal(r.Signature, want) {
			return fmt.Errorf("record %d: another signature document read back", r.Seq)
		}
		if !bytes.Equal(stored, r.Encode()) {
			return fmt.Errorf("record %d: the stored bytes read back are not its full encoding", r.Seq)
		}
		got++
		return nil
	})
	if err != nil || got != n {
		t.Fatalf("%d records read, want %d: %v", got, n, err)
	}
}

// appendGroup appends recs in one Append, as a signing batch's messages
// arrive at the log together.
func appendGroup(t *testing.T, l *Log, recs ...*Record) {
	t.Helper()
	if err := l.Append(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
}

// TestSharedStoredOnce: 5 messages of one signing batch store their
// document once: the write-ahead file and the store hold it once, and the
// records each hold its digest. A batch of one keeps its document inline;
// a batch whose first message came alone keeps that one's inline and
// stores the document once for the rest.
func TestSharedStoredOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	doc := testDoc(0)
	appendGroup(t, l, sharedSample(0, 5), sharedSample(1, 5), sharedSample(2, 5), sharedSample(3, 5), sharedSample(4, 5))
	// The write-ahead file: one frame, which carries the document once.
	if walBytes := l.wal.off; walBytes > int64(len(doc))+5*600 {
		t.Fatalf("5 records of one %d-byte document took %d bytes of the write-ahead file", len(doc), walBytes)
	}
	n, size, err := l.SignatureDocs()
	if err != nil || n != 1 || size != len(doc) {
		t.Fatalf("signature documents stored: %d of %d bytes, %v; want 1 of %d", n, size, err, len(doc))
	}
	err = l.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			if len(v) > 600 || bytes.Contains(v, doc[:100]) {
				return fmt.Errorf("record %x is stored with its document (%d bytes)", k, len(v))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	requireSignatures(t, l, 1, 5, 5)
	res, err := l.Check()
	requireChecks(t, res, err, 5)

	stored := func(seq uint64) (v []byte) {
		l.Flush()
		l.db.View(func(tx *bolt.Tx) error { v = bytes.Clone(tx.Bucket(bucketRecords).Get(seqKey(seq))); return nil })
		return v
	}
	appendGroup(t, l, sharedSample(5, 1)) // a batch of one: as before
	if n, _, _ := l.SignatureDocs(); n != 1 || stored(6)[0]&storedShared != 0 || !bytes.Contains(stored(6), testDoc(5)) {
		t.Fatalf("a batch of one: %d documents apart, record 6 stored %d bytes", n, len(stored(6)))
	}
	for i := 10; i < 13; i++ { // a batch whose messages come one by one
		appendGroup(t, l, sharedSample(i, 10))
	}
	if n, _, _ := l.SignatureDocs(); n != 2 || stored(7)[0]&storedShared != 0 || stored(8)[0]&storedShared == 0 || stored(9)[0]&storedShared == 0 {
		t.Fatalf("a batch of 3 appended apart: %d documents apart; records 7..9 stored %d, %d, %d bytes", n, len(stored(7)), len(stored(8)), len(stored(9)))
	}
	res, err = l.Check()
	requireChecks(t, res, err, 9)
}

// TestSharedTamper: a changed or removed shared document is reported at
// every record that refers to it, by the live check and the offline one.
func TestSharedTamper(t *testing.T) {
	for _, c := range []struct {
		name, want string
		edit       func(b *bolt.Bucket, k []byte)
	}{
		{"changed", "does not match its digest", func(b *bolt.Bucket, k []byte) {
			v := bytes.Clone(b.Get(k))
			i := bytes.Index(v, []byte("OCSP"))
			v[i] = 'X'
			b.Put(k, v)
		}},
		{"removed", "is missing", func(b *bolt.Bucket, k []byte) { b.Delete(k) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "messagelog.db")
			l := openLog(t, path)
			var recs []*Record
			for i := range 8 { // records 1..5 share a document, 6..8 another
				recs = append(recs, sharedSample(i, 5))
			}
			appendGroup(t, l, recs...)
			l.Close()
			sum := sha512.Sum512(testDoc(0))
			named := tamperNamed(t, path, func(tx *bolt.Tx) error { c.edit(tx.Bucket(bucketSigDocs), sum[:]); return nil }, c.want)
			if len(named) != 5 || !named[1] || !named[5] {
				t.Fatalf("records named %v; want records 1..5: %q", named, c.want)
			}
		})
	}
}

// TestSharedKeptUntilLastPruned: pruning the records of a document that
// records still waiting in the write-ahead file refer to keeps it for them,
// whether they move into the store while the server runs or after it was
// killed.
func TestSharedKeptUntilLastPruned(t *testing.T) {
	for _, killed := range []bool{false, true} {
		t.Run(fmt.Sprint("killed=", killed), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "messagelog.db")
			opts := Options{IngestInterval: time.Hour}
			l, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 { // four batches of 5
				if err := l.Append(context.Background(), sharedSample(i, 5)); err != nil {
					t.Fatal(err)
				}
			}
			b := stampAll(t, l)
			// Three more messages of the last batch (its document again),
			// not yet in the store, then everything before them pruned.
			for i := 20; i < 23; i++ {
				r := sample(i)
				r.Signature = testDoc(3)
				if err := l.Append(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			pruneTo(t, l, b)
			if killed {
				abandon(t, l)
				res, err := CheckFile(path)
				requireChecks(t, res, err, 3)
				if l, err = Open(path, opts); err != nil {
					t.Fatal(err)
				}
			}
			defer l.Close()
			res, err := l.Check()
			requireChecks(t, res, err, 3)
			got := 0
			err = l.Each(21, func(r *Record, _ []byte) error {
				if !bytes.Equal(r.Signature, testDoc(3)) {
					return fmt.Errorf("record %d: another document", r.Seq)
				}
				got++
				return nil
			})
			if err != nil || got != 3 {
				t.Fatalf("%d records, %v", got, err)
			}
			if n, _, err := l.SignatureDocs(); err != nil || n != 1 {
				t.Fatalf("%d documents, %v; want 1", n, err)
			}
			pruneTo(t, l, stampAll(t, l))
			if n, _, err := l.SignatureDocs(); err != nil || n != 0 {
				t.Fatalf("every record pruned: %d documents left, %v", n, err)
			}
		})
	}
}

// TestOldFormatLog: a log written before documents were kept apart (each
// record holding its own, no document buckets) reads and checks as it did,
// read-only and open; new records continue its chain, sharing their
// documents, and it prunes.
func TestOldFormatLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	// What the earlier writer left: records 1..4 with their documents
	// inline, record 4 in the version 2 encoding (a hash chain).
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var old [][]byte
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketRecords, bucketBatches, bucketMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		prev := make([]byte, 32)
		for i := range 4 {
			r := sharedSample(i, 2)
			if i == 3 {
				sum := sha512.Sum512([]byte("attachment"))
				r.HashChainResult, r.HashChain = []byte("<hashchainresult/>"), []byte("<hashchain/>")
				r.Attachments = []Attachment{{ContentType: "text/plain", Data: []byte("attachment"), Digest: sum[:]}}
			}
			r.Seq, r.PrevHash, r.Time = uint64(i+1), prev, time.Date(2026, 3, 1, 0, i, 0, 0, time.UTC)
			enc := r.Encode()
			if enc[0]&storedShared != 0 || !bytes.Contains(enc, r.Signature) {
				return fmt.Errorf("record %d is not in the old form", i+1)
			}
			old = append(old, enc)
			if err := tx.Bucket(bucketRecords).Put(seqKey(r.Seq), enc); err != nil {
				return err
			}
			prev = Hash(enc)
		}
		return tx.Bucket(bucketMeta).Put(keyHead, append(binary.BigEndian.AppendUint64(nil, 4), prev...))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	res, err := CheckFile(path)
	requireChecks(t, res, err, 4)
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	err = ro.Each(1, func(r *Record, stored []byte) error {
		if !bytes.Equal(stored, old[i]) {
			return fmt.Errorf("record %d read back differs from what was stored", i+1)
		}
		i++
		return nil
	})
	ro.Close()
	if err != nil || i != 4 {
		t.Fatalf("%d records, %v", i, err)
	}

	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 4; i < 8; i++ { // batch 2's document again (inline in record 4) and batch 3's
		if err := l.Append(context.Background(), sharedSample(i, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, err := l.SignatureDocs(); err != nil || n != 2 {
		t.Fatalf("%d documents kept apart, %v; want 2 (the new records')", n, err)
	}
	res, err = l.Check()
	requireChecks(t, res, err, 8)
	i = 0
	err = l.Each(1, func(r *Record, stored []byte) error {
		if i < 4 && !bytes.Equal(stored, old[i]) {
			return fmt.Errorf("old record %d read back differs", i+1)
		}
		if want := sharedSample(i, 2).Signature; !bytes.Equal(r.Signature, want) {
			return fmt.Errorf("record %d: another signature document", i+1)
		}
		i++
		return nil
	})
	if err != nil || i != 8 {
		t.Fatalf("%d records, %v", i, err)
	}
	pruneTo(t, l, stampAll(t, l))
	if n, _, err := l.SignatureDocs(); err != nil || n != 0 {
		t.Fatalf("%d documents after pruning everything, %v", n, err)
	}
}

// TestSharedWALRounds: with a write-ahead file of 6 KiB, frames
// of shared documents wrap around many times (a new round's first frame
// carries the documents its records refer to again); a killed server's
// log reads and checks, read-only and reopened, with every document back.
func TestSharedWALRounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	opts := Options{WALSize: 6 << 10, IngestInterval: time.Hour}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Batches of 30: 2 records together (the document goes apart), then 28
	// one by one, so that rounds also begin with a record whose document an
	// earlier round carried.
	for i := 0; i < 60; i += 30 {
		appendGroup(t, l, sharedSample(i, 30), sharedSample(i+1, 30))
		requireRoundSelfContained(t, path)
		for j := 2; j < 30; j++ {
			appendGroup(t, l, sharedSample(i+j, 30))
			requireRoundSelfContained(t, path)
		}
	}
	abandon(t, l)
	res, err := CheckFile(path)
	requireChecks(t, res, err, 60)
	if l, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	requireSignatures(t, l, 1, 60, 30)
	if n, _, err := l.SignatureDocs(); err != nil || n != 2 {
		t.Fatalf("%d documents, %v; want 2", n, err)
	}
	res, err = l.Check()
	requireChecks(t, res, err, 60)
}

// requireRoundSelfContained requires each record of the write-ahead file's
// current round that refers to a document to find it in a frame of the
// round: recovery must not need the store's copy, which pruning may have
// removed.
func requireRoundSelfContained(t *testing.T, path string) {
	t.Helper()
	wf, err := os.ReadFile(walPath(path))
	if err != nil {
		t.Fatal(err)
	}
	from := binary.BigEndian.Uint64(wf[4:]) // the round's first record
	round, err := readWAL(bytesReaderAt(wf), int64(len(wf)), from-1)
	if err != nil || len(round) == 0 {
		t.Fatalf("the write-ahead file's round from record %d: %d records, %v", from, len(round), err)
	}
	for _, r := range round {
		if r.ref != nil && r.doc == nil {
			t.Fatalf("record %d refers to a document no frame of its round (from record %d) carries", r.seq, from)
		}
	}
}

// TestSharedCallerReusesBuffer: the writer remembers a document it stored
// inline by the bytes of its own encoding, not the caller's: a caller that
// reuses its record's buffer once Append returned (as a pooled reader may)
// neither changes what the log remembers nor keeps the batch's next record
// from sharing the document.
func TestSharedCallerReusesBuffer(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "messagelog.db"), Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	first := sharedSample(1, 10) // batch 0
	appendGroup(t, l, first)
	clear(first.Signature) // the caller's buffer, reused
	appendGroup(t, l, sharedSample(2, 10))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	n, _, err := l.SignatureDocs()
	if err != nil || n != 1 {
		t.Fatalf("%d documents kept apart, %v; want the second record's shared", n, err)
	}
	res, err := l.Check()
	requireChecks(t, res, err, 2)
	var got [][]byte
	l.Each(1, func(r *Record, _ []byte) error { got = append(got, r.Signature); return nil })
	if len(got) != 2 || !bytes.Equal(got[0], testDoc(0)) || !bytes.Equal(got[1], testDoc(0)) {
		t.Fatalf("documents read back differ from the one appended")
	}
}

// TestHandedInSignatureDigest: a record's SignatureDigest handed in by its
// (in-process) caller is the time-stamp input the log takes, for documents
// kept inline and apart; a right one gives a log that checks clean after
// stamping, a wrong one is not silently trusted: the log's check, which
// hashes the documents, names the stamped batch.
func TestHandedInSignatureDigest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		right bool
	}{{"right", true}, {"wrong", false}} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(filepath.Join(t.TempDir(), "messagelog.db"), Options{IngestInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// 1: a placeholder document (always inline), 2: a real-size
			// one alone (inline), 3 and 4: one batch's (kept apart).
			recs := []*Record{sample(1), sharedSample(2, 100), sharedSample(300, 100), sharedSample(301, 100)}
			want := make([][]byte, len(recs))
			for i, r := range recs {
				sum := sha512.Sum512(r.Signature)
				if !tc.right {
					sum = sha512.Sum512(append([]byte("not "), r.Signature...))
				}
				r.SignatureDigest, want[i] = sum[:], sum[:]
			}
			appendGroup(t, l, recs[0])
			appendGroup(t, l, recs[1])
			appendGroup(t, l, recs[2:]...)
			got, err := l.SignatureDigests(1, 4)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("record %d's time-stamp input is not the digest handed in", i+1)
				}
			}
			stampAll(t, l)
			res, err := l.Check()
			if err != nil {
				t.Fatal(err)
			}
			if tc.right {
				requireChecks(t, res, err, 4)
				return
			}
			if res.OK() {
				t.Fatalf("a batch stamped over wrong signature digests checks clean: %+v", res)
			}
			t.Logf("problems: %v", res.Problems)
		})
	}
}

// tamperNamed edits the closed log at path and returns the records its
// check names with a problem containing want.
func tamperNamed(t *testing.T, path string, edit func(tx *bolt.Tx) error, want string) map[uint64]bool {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(edit); err != nil {
		t.Fatal(err)
	}
	db.Close()
	res, err := CheckFile(path)
	if err != nil {
		t.Fatal(err)
	}
	named := map[uint64]bool{}
	for _, p := range res.Problems {
		if strings.Contains(p.Reason, want) {
			named[p.Seq] = true
		}
	}
	return named
}
