package messagelog

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func sample(i int) *Record {
	msg := []byte(fmt.Sprintf("<Envelope>FİN 5ZJ8K2L, sorğu %d</Envelope>", i))
	sum := sha512.Sum512(msg)
	return &Record{Side: ClientSide, Kind: Request, MessageID: fmt.Sprintf("id-%d", i), RequestID: "rq",
		Client: "AZ/GOV/EMDK/realestate", Service: "AZ/GOV/DIN/population/getPersonByFin/v1",
		Message: msg, MessageDigest: sum[:], Signature: []byte("<asic:XAdESSignatures/>"), ContentType: "text/xml; charset=UTF-8"}
}

func openLog(t *testing.T, path string) *Log {
	t.Helper()
	l, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestConcurrentAppendsChainAndGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l := openLog(t, path)
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Append(context.Background(), sample(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	res, err := l.Check()
	if err != nil || !res.OK() || res.Records != n || res.FirstSeq != 1 || res.LastSeq != n {
		t.Fatalf("check: %+v %v", res, err)
	}
	if c := l.commits.Load(); c >= n {
		t.Errorf("%d appends took %d commits: no group commit", n, c)
	} else {
		t.Logf("%d concurrent appends in %d commits", n, c)
	}
	seq, head := l.Head()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the chain continues from the stored head.
	l = openLog(t, path)
	if s, h := l.Head(); s != seq || string(h) != string(head) {
		t.Fatalf("head after reopen %d, want %d", s, seq)
	}
	pair := []*Record{sample(1000), sample(1001)}
	pair[1].Kind = Response
	if err := l.Append(context.Background(), pair...); err != nil {
		t.Fatal(err)
	}
	if pair[0].Seq != n+1 || pair[1].Seq != n+2 || string(pair[0].PrevHash) != string(head) {
		t.Fatalf("appended after reopen at %d,%d", pair[0].Seq, pair[1].Seq)
	}
	l.Close()
	if res, err := CheckFile(path); err != nil || !res.OK() || res.Records != n+2 {
		t.Fatalf("CheckFile: %+v %v", res, err)
	}
	if err := l.Append(context.Background(), sample(1)); err != ErrClosed {
		t.Fatalf("append after close: %v", err)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := sample(7)
	r.Seq, r.PrevHash = 7, make([]byte, 32)
	got, err := Decode(r.encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageID != r.MessageID || string(got.Message) != string(r.Message) || got.Side != ClientSide || got.Kind != Request || got.Client != r.Client {
		t.Fatalf("round trip: %+v", got)
	}
	r.Message = nil // digest only
	if got, _ := Decode(r.encode(nil)); got.Message != nil || len(got.MessageDigest) != 64 {
		t.Fatalf("digest-only record: %+v", got)
	}
	enc := r.encode(nil)
	if enc[0] != 1 {
		t.Fatalf("a record without attachments is encoded as version %d, want 1 (as before attachments)", enc[0])
	}
	for i := range enc {
		if _, err := Decode(enc[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}

	// With attachments: version 2, every field back, truncations refused.
	r.HashChainResult, r.HashChain = []byte("<HashChainResult/>"), []byte("<HashChain/>")
	r.Attachments = []Attachment{{ContentType: "application/pdf", Data: []byte("%PDF"), Digest: make([]byte, 64)}, {Digest: make([]byte, 64)}, {Data: []byte{}, Digest: make([]byte, 64)}}
	enc = r.encode(make([]byte, 0, r.encodedSize()))
	if enc[0] != 2 || len(enc) > r.encodedSize() {
		t.Fatalf("version %d, %d bytes for %d reserved", enc[0], len(enc), r.encodedSize())
	}
	got, err = Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.HashChainResult) != "<HashChainResult/>" || string(got.HashChain) != "<HashChain/>" || len(got.Attachments) != 3 ||
		got.Attachments[0].ContentType != "application/pdf" || string(got.Attachments[0].Data) != "%PDF" || len(got.Attachments[0].Digest) != 64 ||
		got.Attachments[1].Data != nil || got.Attachments[2].Data == nil {
		t.Fatalf("round trip with attachments: %+v", got)
	}
	for i := range enc {
		if _, err := Decode(enc[:i]); err == nil {
			t.Fatalf("truncated at %d decoded", i)
		}
	}

	// With an attachment kept in a file: version 3, the name back; a
	// version 2 record cannot name a file, nor a version 3 name a path.
	name := strings.Repeat("ab", 16) + ".att"
	r.Attachments = append(r.Attachments, Attachment{ContentType: "application/pdf", File: name, Digest: make([]byte, 64)})
	enc = r.encode(make([]byte, 0, r.encodedSize()))
	if enc[0] != 3 || len(enc) > r.encodedSize() {
		t.Fatalf("version %d, %d bytes for %d reserved", enc[0], len(enc), r.encodedSize())
	}
	if got, err = Decode(enc); err != nil || len(got.Attachments) != 4 || got.Attachments[3].File != name || got.Attachments[3].Data != nil || got.Attachments[0].File != "" {
		t.Fatalf("round trip with a file: %v %+v", err, got)
	}
	v2 := append([]byte{2}, enc[1:]...)
	if _, err := Decode(v2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a version 2 record naming a file: %v", err)
	}
	r.Attachments[3].File = "../../etc/passwd"
	if _, err := Decode(r.encode(nil)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a record naming a path: %v", err)
	}
}

// TestFiles: an attachment file holds the bytes it was given (copied or
// linked), is checked against its digest, and a change to it is found.
func TestFiles(t *testing.T) {
	f := AttachmentsBeside(filepath.Join(t.TempDir(), "messagelog.db"))
	if filepath.Base(f.Dir) != "messagelog.attachments" {
		t.Fatalf("files beside messagelog.db in %s", f.Dir)
	}
	data := []byte("%PDF-1.7 DSMF rüblük hesabat")
	sum := sha512.Sum512(data)
	copied, err := f.Put(bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "spool-1")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	linked, err := f.Put(nil, src)
	if err != nil || linked == copied {
		t.Fatalf("linked %q (copied %q): %v", linked, copied, err)
	}
	for _, name := range []string{copied, linked} {
		if err := f.Check(Attachment{File: name, Digest: sum[:]}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.Dir, copied), []byte("%PDF-1.7 forged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(Attachment{File: copied, Digest: sum[:]}); err == nil || !strings.Contains(err.Error(), "does not match its digest") {
		t.Fatalf("a changed file: %v", err)
	}
	if err := f.Remove(copied, linked); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(Attachment{File: linked, Digest: sum[:]}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a removed file: %v", err)
	}
}

// tamper edits the stored records of a closed log with bbolt directly, as
// an attacker with file access would.
func tamper(t *testing.T, path string, fn func(b *bolt.Bucket)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { fn(tx.Bucket(bucketRecords)); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	cases := []struct {
		name string
		edit func(b *bolt.Bucket)
		seq  uint64
		want string
	}{
		{"one byte of a message", func(b *bolt.Bucket) {
			v := append([]byte(nil), b.Get(seqKey(5))...)
			i := strings.Index(string(v), "5ZJ8K2L")
			v[i] = '6'
			b.Put(seqKey(5), v)
		}, 5, "does not match its digest"},
		{"record deleted", func(b *bolt.Bucket) { b.Delete(seqKey(4)) }, 4, "missing"},
		{"two records swapped", func(b *bolt.Bucket) {
			v3, v6 := append([]byte(nil), b.Get(seqKey(3))...), append([]byte(nil), b.Get(seqKey(6))...)
			b.Put(seqKey(3), v6)
			b.Put(seqKey(6), v3)
		}, 3, "moved"},
		{"last record removed", func(b *bolt.Bucket) { b.Delete(seqKey(8)) }, 7, "recorded head"},
		{"record replaced by a self-consistent forgery", func(b *bolt.Bucket) {
			r, _ := Decode(b.Get(seqKey(2)))
			r.MessageID = "forged"
			b.Put(seqKey(2), r.encode(nil))
		}, 3, "does not chain to record 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "messagelog.db")
			l := openLog(t, path)
			for i := range 8 {
				if err := l.Append(context.Background(), sample(i)); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			tamper(t, path, tc.edit)
			res, err := CheckFile(path)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range res.Problems {
				if p.Seq == tc.seq && strings.Contains(p.Reason, tc.want) {
					found = true
				}
			}
			if !found {
				t.Fatalf("problems %v; want record %d: %q", res.Problems, tc.seq, tc.want)
			}
		})
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	l, err := Open(filepath.Join(b.TempDir(), "messagelog.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetParallelism(benchPar)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := l.Append(context.Background(), sample(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(l.commits.Load())/float64(b.N), "commits/op")
}

var benchPar = func() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_PAR")); err == nil {
		return n
	}
	return 16
}()
