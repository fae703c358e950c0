package storetest

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// Run runs every case of the suite as a subtest of t; fresh makes an empty
// store for one subtest and returns how to open it.
func Run(t *testing.T, fresh func(t *testing.T) Open) {
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, open Open)
	}{
		{"AppendChains", testAppendChains},
		{"ReopenKeepsChain", testReopenKeepsChain},
		{"ConcurrentAppendsOneChain", testConcurrentAppends},
		{"EmptyAppend", testEmptyAppend},
		{"Batches", testBatches},
		{"AddBatchRefuses", testAddBatchRefuses},
		{"Recent", testRecent},
		{"ArchivableAndPrune", testArchivableAndPrune},
		{"PruneRefusesMismatch", testPruneRefuses},
		{"PruneEverythingThenContinue", testPruneAll},
		{"Close", testClose},
		{"SharedSignatures", testSharedSignatures},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, fresh(t)) })
	}
}

// opened opens the store and closes it when t ends.
func opened(t *testing.T, open Open) Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Rec is a record as a proxy would log it; n makes it distinct.
func Rec(n int, at time.Time) *messagelog.Record {
	body := []byte(fmt.Sprintf("<Envelope>message %d</Envelope>", n))
	sum := sha512.Sum512(body)
	kind := messagelog.Request
	if n%2 == 1 {
		kind = messagelog.Response
	}
	return &messagelog.Record{Time: at, Side: messagelog.ClientSide, Kind: kind,
		MessageID: fmt.Sprintf("id-%d", n), RequestID: fmt.Sprintf("req-%d", n/2),
		Client: "SUBSYSTEM:AZ/GOV/DIN/portal", Service: "SERVICE:AZ/GOV/EMDK/registry/getPerson/v1",
		Message: body, MessageDigest: sum[:], Signature: fmt.Appendf(nil, `<signatures n="%d"/>`, n), ContentType: "text/xml; charset=utf-8"}
}

func appendRecs(t *testing.T, s Store, recs ...*messagelog.Record) {
	t.Helper()
	if err := s.Append(context.Background(), recs...); err != nil {
		t.Fatalf("append: %v", err)
	}
}

// appendAt appends one record per time, numbered from n.
func appendAt(t *testing.T, s Store, n int, times ...time.Time) {
	t.Helper()
	for i, at := range times {
		appendRecs(t, s, Rec(n+i, at))
	}
}

// stored is every record with its stored bytes, in order.
type stored struct {
	rec   *messagelog.Record
	bytes []byte
}

func all(t *testing.T, s Store, from uint64) []stored {
	t.Helper()
	var out []stored
	err := s.Each(from, func(r *messagelog.Record, b []byte) error {
		out = append(out, stored{r, bytes.Clone(b)})
		return nil
	})
	if err != nil {
		t.Fatalf("each: %v", err)
	}
	return out
}

// checkChain requires consecutive records from first, each chained to the
// previous one's stored bytes (to prev for the first), each stored as its
// own encoding; it returns the last hash.
func checkChain(t *testing.T, recs []stored, first uint64, prev []byte) []byte {
	t.Helper()
	for i, s := range recs {
		want := first + uint64(i)
		if s.rec.Seq != want {
			t.Fatalf("record %d has sequence number %d", want, s.rec.Seq)
		}
		if !bytes.Equal(s.rec.PrevHash, prev) {
			t.Fatalf("record %d does not chain to the record before", want)
		}
		if !bytes.Equal(s.rec.Encode(), s.bytes) {
			t.Fatalf("record %d: stored bytes are not its encoding", want)
		}
		prev = messagelog.Hash(s.bytes)
	}
	return prev
}

// CheckChain requires every live record of s to chain to the one before,
// the first to the archive anchor (or to zeros), and returns how many
// there are.
func CheckChain(t *testing.T, s Store) int {
	t.Helper()
	a, err := s.Archived()
	if err != nil {
		t.Fatalf("archived: %v", err)
	}
	first, prev := uint64(1), zeros()
	if a != nil {
		first, prev = a.LastSeq+1, a.RecordHash
	}
	recs := all(t, s, 0)
	checkChain(t, recs, first, prev)
	return len(recs)
}

func zeros() []byte { return make([]byte, 32) }

func testAppendChains(t *testing.T, open Open) {
	s := opened(t, open)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	in := []*messagelog.Record{Rec(0, t0), Rec(1, t0.Add(time.Millisecond)), Rec(2, time.Time{})}
	in[1].Message = nil // digest only (privacy setting)
	in[2].Message = []byte{}
	// A message with attachments: its hash chain and attachments, one kept
	// whole, one by its digest only, one in a file beside the log (version
	// 3 encoding).
	att := []byte("%PDF-1.7 quarterly report")
	attSum := sha512.Sum512(att)
	in[2].HashChainResult, in[2].HashChain = []byte("<HashChainResult/>"), []byte("<HashChain/>")
	in[2].Attachments = []messagelog.Attachment{
		{ContentType: "application/pdf", Data: att, Digest: attSum[:]},
		{Digest: attSum[:]},
		{ContentType: "application/pdf", File: "0123456789abcdef0123456789abcdef.att", Digest: attSum[:]},
	}
	appendRecs(t, s, in[0], in[1])
	before := time.Now()
	appendRecs(t, s, in[2])
	for i, r := range in {
		if r.Seq != uint64(i+1) {
			t.Fatalf("Append set record %d's Seq to %d", i+1, r.Seq)
		}
	}
	if in[2].Time.Before(before.Add(-time.Second)) || in[2].Time.Location() != time.UTC {
		t.Fatalf("a record without time got %v, want now in UTC", in[2].Time)
	}
	got := all(t, s, 0)
	if len(got) != 3 {
		t.Fatalf("Each gave %d records, want 3", len(got))
	}
	checkChain(t, got, 1, zeros())
	for i, g := range got {
		r, w := g.rec, in[i]
		if !r.Time.Equal(w.Time) || r.Side != w.Side || r.Kind != w.Kind || r.MessageID != w.MessageID || r.RequestID != w.RequestID ||
			r.Client != w.Client || r.Service != w.Service || r.ContentType != w.ContentType ||
			!bytes.Equal(r.MessageDigest, w.MessageDigest) || !bytes.Equal(r.Signature, w.Signature) ||
			!bytes.Equal(r.Message, w.Message) || (r.Message == nil) != (w.Message == nil) ||
			!bytes.Equal(r.HashChainResult, w.HashChainResult) || !bytes.Equal(r.HashChain, w.HashChain) || !sameAttachments(r.Attachments, w.Attachments) {
			t.Fatalf("record %d read back as %+v, appended %+v", i+1, r, w)
		}
	}
	if from2 := all(t, s, 2); len(from2) != 2 || from2[0].rec.Seq != 2 {
		t.Fatalf("Each(2) gave %d records", len(from2))
	}
	if err := s.LastError(); err != nil {
		t.Fatalf("LastError after good appends: %v", err)
	}
	if n := s.QueueLen(); n != 0 {
		t.Fatalf("QueueLen of an idle store: %d", n)
	}
	stop := errors.New("stop")
	if err := s.Each(0, func(*messagelog.Record, []byte) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Each returned %v, want the callback's error", err)
	}
}

func testReopenKeepsChain(t *testing.T, open Open) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		appendRecs(t, s, Rec(i, time.Time{}))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	s = opened(t, open)
	if got := all(t, s, 0); len(got) != 5 {
		t.Fatalf("after reopening %d records, 5 were acknowledged", len(got))
	}
	r := Rec(5, time.Time{})
	appendRecs(t, s, r)
	if r.Seq != 6 {
		t.Fatalf("after reopening the next record is %d, want 6", r.Seq)
	}
	checkChain(t, all(t, s, 0), 1, zeros())
}

// testConcurrentAppends: appends from many exchanges at once make one
// chain, each Append's records adjacent and each appender's in its order.
func testConcurrentAppends(t *testing.T, open Open) {
	s := opened(t, open)
	const workers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				q, a := Rec(2*(w*each+i), time.Time{}), Rec(2*(w*each+i)+1, time.Time{})
				if err := s.Append(context.Background(), q, a); err != nil {
					errs <- err
					return
				}
				if a.Seq != q.Seq+1 {
					errs <- fmt.Errorf("one Append's records got %d and %d", q.Seq, a.Seq)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := all(t, s, 0)
	if len(got) != 2*workers*each {
		t.Fatalf("%d records, %d appended", len(got), 2*workers*each)
	}
	checkChain(t, got, 1, zeros())
	last := map[int]int{} // worker -> last message number seen
	for i := 0; i < len(got); i += 2 {
		var q, a int
		fmt.Sscanf(got[i].rec.MessageID, "id-%d", &q)
		fmt.Sscanf(got[i+1].rec.MessageID, "id-%d", &a)
		if a != q+1 {
			t.Fatalf("records %d and %d are %s and %s: an Append was split", i+1, i+2, got[i].rec.MessageID, got[i+1].rec.MessageID)
		}
		w := q / 2 / each
		if prev, ok := last[w]; ok && prev > q {
			t.Fatalf("appender %d's message %d logged after its message %d", w, q, prev)
		}
		last[w] = q
	}
}

func testEmptyAppend(t *testing.T, open Open) {
	s := opened(t, open)
	appendRecs(t, s)
	appendRecs(t, s, Rec(0, time.Time{}))
	appendRecs(t, s)
	got := all(t, s, 0)
	if len(got) != 1 || got[0].rec.Seq != 1 {
		t.Fatalf("empty appends left %d records", len(got))
	}
}

func pending(t *testing.T, s Store) (first, last uint64, oldest time.Time) {
	t.Helper()
	first, last, oldest, err := s.Pending()
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	if err := s.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	f2, l2, o2, err := s.PendingStored()
	if err != nil || f2 != first || l2 != last || !o2.Equal(oldest) {
		t.Fatalf("after Flush PendingStored is %d..%d %v (%v), Pending %d..%d %v", f2, l2, o2, err, first, last, oldest)
	}
	return first, last, oldest
}

// Stamp adds the batch of every pending record (X-Road's time-stamp hash
// chain over their signatures), with a token that is only bytes (no store
// reads it), and returns it.
func Stamp(t *testing.T, s Store) *messagelog.Batch {
	t.Helper()
	first, last, _ := pending(t, s)
	if first > last {
		t.Fatalf("nothing pending to stamp (%d..%d)", first, last)
	}
	sd, err := s.SignatureDigests(first, last)
	if err != nil {
		t.Fatalf("signature digests %d..%d: %v", first, last, err)
	}
	b, err := messagelog.NewBatch(first, last, sd)
	if err != nil {
		t.Fatal(err)
	}
	b.Token, b.Time, b.TSA = []byte(fmt.Sprintf("token %d..%d", first, last)), time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC), "http://tsa.test"
	if err := s.AddBatch(b); err != nil {
		t.Fatalf("add batch %d..%d: %v", first, last, err)
	}
	return b
}

// stampLegacy adds a batch as Şlüz stamped them before the hash chain: a
// Merkle root over the records' chain hashes.
func stampLegacy(t *testing.T, s Store) *messagelog.Batch {
	t.Helper()
	first, last, _ := pending(t, s)
	lv, err := s.Leaves(first, last)
	if err != nil {
		t.Fatalf("leaves %d..%d: %v", first, last, err)
	}
	b := &messagelog.Batch{FirstSeq: first, LastSeq: last, Root: messagelog.MerkleRoot(lv),
		Token: []byte(fmt.Sprintf("token %d..%d", first, last)), Time: time.Date(2026, 3, 1, 11, 0, 0, 5, time.UTC), TSA: "http://tsa.test"}
	if err := s.AddBatch(b); err != nil {
		t.Fatalf("add legacy batch %d..%d: %v", first, last, err)
	}
	return b
}

func testBatches(t *testing.T, open Open) {
	s := opened(t, open)
	if first, last, _ := pending(t, s); first <= last {
		t.Fatalf("an empty log has records %d..%d pending", first, last)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	appendAt(t, s, 0, t0, t0.Add(time.Second), t0.Add(2*time.Second))
	first, last, oldest := pending(t, s)
	if first != 1 || last != 3 || !oldest.Equal(t0) {
		t.Fatalf("pending %d..%d since %v, want 1..3 since %v", first, last, oldest, t0)
	}
	lv, err := s.Leaves(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	got := all(t, s, 0)
	for i, l := range lv {
		if !bytes.Equal(l, messagelog.Hash(got[i].bytes)) {
			t.Fatalf("leaf %d is not the chain hash of record %d", i+1, i+1)
		}
	}
	if lv, err := s.Leaves(2, 3); err != nil || len(lv) != 2 || !bytes.Equal(lv[0], messagelog.Hash(got[1].bytes)) {
		t.Fatalf("Leaves(2, 3) = %d hashes, %v", len(lv), err)
	}
	sd, err := s.SignatureDigests(2, 3)
	if err != nil || len(sd) != 2 {
		t.Fatalf("SignatureDigests(2, 3) = %d digests, %v", len(sd), err)
	}
	for i, d := range sd {
		if sum := sha512.Sum512(got[i+1].rec.Signature); !bytes.Equal(d, sum[:]) {
			t.Fatalf("signature digest of record %d is not SHA-512 of its signature", i+2)
		}
	}
	// A log stamped before the hash chain keeps its Merkle batches, and
	// the chain's batches continue them.
	b1 := stampLegacy(t, s)
	if b1.N != 1 {
		t.Fatalf("first batch numbered %d", b1.N)
	}
	if first, last, _ := pending(t, s); first != 4 || last != 3 {
		t.Fatalf("after stamping everything, pending %d..%d, want 4..3", first, last)
	}
	appendAt(t, s, 3, t0.Add(3*time.Second))
	if first, last, oldest := pending(t, s); first != 4 || last != 4 || !oldest.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("pending %d..%d since %v, want 4..4", first, last, oldest)
	}
	b2 := Stamp(t, s)
	appendAt(t, s, 4, t0.Add(4*time.Second), t0.Add(5*time.Second), t0.Add(6*time.Second))
	b3 := Stamp(t, s)
	bs, err := s.Batches()
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 {
		t.Fatalf("%d batches, want 3", len(bs))
	}
	for i, w := range []*messagelog.Batch{b1, b2, b3} {
		if g := bs[i]; g.N != uint64(i+1) || g.FirstSeq != w.FirstSeq || g.LastSeq != w.LastSeq || !bytes.Equal(g.Root, w.Root) ||
			!bytes.Equal(g.Result, w.Result) || g.HashChain() != w.HashChain() ||
			!bytes.Equal(g.Token, w.Token) || !g.Time.Equal(w.Time) || g.TSA != w.TSA {
			t.Fatalf("batch %d read back as %+v, added %+v", i+1, g, w)
		}
	}
	if bs[0].HashChain() || !bs[1].HashChain() || !bs[2].HashChain() {
		t.Fatal("the legacy batch and the hash-chain batches read back as the other kind")
	}
	if !bytes.Contains(bs[2].Result, []byte(`URI="/ts-hashchain.xml#STEP0"`)) {
		t.Fatalf("batch 3's result is not a time-stamp hash chain result:\n%s", bs[2].Result)
	}
}

func testAddBatchRefuses(t *testing.T, open Open) {
	s := opened(t, open)
	appendAt(t, s, 0, time.Time{}, time.Time{}, time.Time{})
	lv, err := s.Leaves(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	root := messagelog.MerkleRoot(lv)
	for _, b := range []*messagelog.Batch{
		{FirstSeq: 2, LastSeq: 3, Root: root},                      // a gap before it
		{FirstSeq: 1, LastSeq: 4, Root: root},                      // past the last record
		{FirstSeq: 1, LastSeq: 3, Root: messagelog.Hash([]byte{})}, // another root
		{FirstSeq: 1, LastSeq: 0, Root: root},                      // nothing
	} {
		if err := s.AddBatch(b); err == nil {
			t.Fatalf("AddBatch(%d..%d) accepted", b.FirstSeq, b.LastSeq)
		}
	}
	if bs, err := s.Batches(); err != nil || len(bs) != 0 {
		t.Fatalf("refused batches left %d batches (%v)", len(bs), err)
	}
	sd, err := s.SignatureDigests(1, 3)
	if err != nil {
		t.Fatal(err)
	}
	good, err := messagelog.NewBatch(1, 3, sd)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := messagelog.NewBatch(1, 3, [][]byte{sd[0], sd[2], sd[1]})
	for name, b := range map[string]*messagelog.Batch{
		"another chain result": {FirstSeq: 1, LastSeq: 3, Root: good.Root, Result: other.Result},
		"another top":          {FirstSeq: 1, LastSeq: 3, Root: other.Root, Result: good.Result},
		"a chain of 2 records": {FirstSeq: 1, LastSeq: 2, Root: good.Root, Result: good.Result},
	} {
		if err := s.AddBatch(b); err == nil {
			t.Fatalf("AddBatch with %s accepted", name)
		}
	}
	if bs, err := s.Batches(); err != nil || len(bs) != 0 {
		t.Fatalf("refused batches left %d batches (%v)", len(bs), err)
	}
	Stamp(t, s)
	b := &messagelog.Batch{FirstSeq: 1, LastSeq: 3, Root: root}
	if err := s.AddBatch(b); err == nil {
		t.Fatal("a batch over stamped records accepted")
	}
}

func testRecent(t *testing.T, open Open) {
	s := opened(t, open)
	now := time.Now().UTC()
	appendAt(t, s, 0, now.Add(-2*time.Hour), now.Add(-time.Hour), now.Add(-time.Minute), now)
	var got []string
	err := s.Recent(now.Add(-time.Hour), func(r *messagelog.Record) error {
		got = append(got, r.MessageID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first, down to the one logged exactly at since.
	if fmt.Sprint(got) != "[id-3 id-2 id-1]" {
		t.Fatalf("Recent gave %v, want [id-3 id-2 id-1]", got)
	}
	stop := errors.New("stop")
	if err := s.Recent(now.Add(-time.Hour), func(*messagelog.Record) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Recent returned %v, want the callback's error", err)
	}
}

// archiveFixture: batches 1 (records 1..3), 2 (4..6) and 3 (7..8), the
// records an hour apart from t0.
func archiveFixture(t *testing.T, s Store) (t0 time.Time, batches []*messagelog.Batch, recs []stored) {
	t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	appendAt(t, s, 0, at(1), at(2), at(3))
	batches = append(batches, Stamp(t, s))
	appendAt(t, s, 3, at(4), at(5), at(6))
	batches = append(batches, Stamp(t, s))
	appendAt(t, s, 6, at(7), at(8))
	batches = append(batches, Stamp(t, s))
	appendAt(t, s, 8, at(9)) // not stamped
	return t0, batches, all(t, s, 0)
}

func ns(bs []*messagelog.Batch) []uint64 {
	var out []uint64
	for _, b := range bs {
		out = append(out, b.N)
	}
	return out
}

func testArchivableAndPrune(t *testing.T, open Open) {
	s := opened(t, open)
	t0, _, recs := archiveFixture(t, s)
	for _, c := range []struct {
		cutoff time.Duration
		max    int
		want   string
	}{
		{3 * time.Hour, 100, "[]"},         // batch 1's last record is not before the cutoff
		{3*time.Hour + 1, 100, "[1]"},      // now it is
		{10 * time.Hour, 100, "[1 2 3]"},   // every stamped batch
		{10 * time.Hour, 6, "[1 2]"},       // 3+3 records fit, 3+3+2 do not
		{10 * time.Hour, 1, "[1]"},         // at least one batch
		{6*time.Hour + 1, 100, "[1 2]"},    // batch 3 ends later
		{8*time.Hour + 1, 1000, "[1 2 3]"}, // the unstamped record 9 is never archivable
	} {
		bs, err := s.Archivable(t0.Add(c.cutoff), c.max)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(ns(bs)); got != c.want {
			t.Fatalf("Archivable(t0+%v, %d) = %s, want %s", c.cutoff, c.max, got, c.want)
		}
	}
	if a, err := s.Archived(); err != nil || a != nil {
		t.Fatalf("Archived before any pruning: %+v, %v", a, err)
	}
	a1 := messagelog.Anchor{LastSeq: 3, RecordHash: messagelog.Hash(recs[2].bytes), Batch: 1,
		Manifest: messagelog.Hash([]byte("manifest 1")), File: "DIN-1-3.zip"}
	if err := s.Prune(zeros(), a1); err != nil {
		t.Fatalf("prune batch 1: %v", err)
	}
	got, err := s.Archived()
	if err != nil || got == nil || got.LastSeq != 3 || !bytes.Equal(got.RecordHash, a1.RecordHash) || got.Batch != 1 ||
		!bytes.Equal(got.Manifest, a1.Manifest) || got.File != a1.File || got.Time == "" {
		t.Fatalf("Archived after pruning: %+v, %v", got, err)
	}
	live := all(t, s, 0)
	if len(live) != 6 || live[0].rec.Seq != 4 {
		t.Fatalf("after pruning 1..3 the live log has %d records from %d", len(live), live[0].rec.Seq)
	}
	checkChain(t, live, 4, a1.RecordHash)
	if bs, err := s.Batches(); err != nil || fmt.Sprint(ns(bs)) != "[2 3]" {
		t.Fatalf("batches after pruning: %v, %v", ns(bs), err)
	}
	if bs, err := s.Archivable(t0.Add(100*time.Hour), 100); err != nil || fmt.Sprint(ns(bs)) != "[2 3]" {
		t.Fatalf("Archivable after pruning: %v, %v", ns(bs), err)
	}
	if lv, err := s.Leaves(4, 6); err != nil || len(lv) != 3 {
		t.Fatalf("Leaves of live records after pruning: %d, %v", len(lv), err)
	}
	// Batches 2 and 3 at once, continuing from the first anchor.
	a2 := messagelog.Anchor{LastSeq: 8, RecordHash: messagelog.Hash(recs[7].bytes), Batch: 3,
		Manifest: messagelog.Hash([]byte("manifest 2")), File: "DIN-4-8.zip", Time: "2026-03-02T00:00:00Z"}
	if err := s.Prune(a1.RecordHash, a2); err != nil {
		t.Fatalf("prune batches 2 and 3: %v", err)
	}
	if got, err := s.Archived(); err != nil || got.LastSeq != 8 || got.Time != a2.Time || got.File != a2.File {
		t.Fatalf("Archived after the second pruning: %+v, %v", got, err)
	}
	if live := all(t, s, 0); len(live) != 1 || live[0].rec.Seq != 9 {
		t.Fatalf("after pruning 1..8 the live log has %d records", len(live))
	}
	if first, last, _ := pending(t, s); first != 9 || last != 9 {
		t.Fatalf("pending after pruning every batch: %d..%d, want 9..9", first, last)
	}
	if b := Stamp(t, s); b.N != 4 {
		t.Fatalf("the batch after the anchor's batch 3 is numbered %d", b.N)
	}
}

func testPruneRefuses(t *testing.T, open Open) {
	s := opened(t, open)
	_, _, recs := archiveFixture(t, s)
	h := func(i int) []byte { return messagelog.Hash(recs[i-1].bytes) }
	for _, c := range []struct {
		name string
		prev []byte
		a    messagelog.Anchor
	}{
		{"another start", h(1), messagelog.Anchor{LastSeq: 3, RecordHash: h(3), Batch: 1}},
		{"mid-batch", zeros(), messagelog.Anchor{LastSeq: 2, RecordHash: h(2), Batch: 1}},
		{"other record hash", zeros(), messagelog.Anchor{LastSeq: 3, RecordHash: h(2), Batch: 1}},
		{"other batch number", zeros(), messagelog.Anchor{LastSeq: 3, RecordHash: h(3), Batch: 2}},
		{"unstamped", zeros(), messagelog.Anchor{LastSeq: 9, RecordHash: h(9), Batch: 4}},
		{"before the start", zeros(), messagelog.Anchor{LastSeq: 0, RecordHash: zeros(), Batch: 0}},
	} {
		err := s.Prune(c.prev, c.a)
		if !errors.Is(err, messagelog.ErrPruneMismatch) {
			t.Fatalf("%s: Prune returned %v, want ErrPruneMismatch", c.name, err)
		}
	}
	if live := all(t, s, 0); len(live) != 9 {
		t.Fatalf("refused prunes left %d of 9 records", len(live))
	}
	if bs, err := s.Batches(); err != nil || len(bs) != 3 {
		t.Fatalf("refused prunes left %d of 3 batches (%v)", len(bs), err)
	}
	if a, err := s.Archived(); err != nil || a != nil {
		t.Fatalf("refused prunes left an anchor: %+v, %v", a, err)
	}
}

// testPruneAll: a log whose every record went to archives still chains
// its next record to the last archived one, also after reopening.
func testPruneAll(t *testing.T, open Open) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	appendAt(t, s, 0, time.Time{}, time.Time{})
	Stamp(t, s)
	recs := all(t, s, 0)
	a := messagelog.Anchor{LastSeq: 2, RecordHash: messagelog.Hash(recs[1].bytes), Batch: 1, Manifest: zeros(), File: "x.zip"}
	if err := s.Prune(zeros(), a); err != nil {
		t.Fatal(err)
	}
	if live := all(t, s, 0); len(live) != 0 {
		t.Fatalf("%d records left", len(live))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = opened(t, open)
	r := Rec(2, time.Time{})
	appendRecs(t, s, r)
	if r.Seq != 3 || !bytes.Equal(r.PrevHash, a.RecordHash) {
		t.Fatalf("the record after an emptied log is %d, chained to the anchor: %v", r.Seq, bytes.Equal(r.PrevHash, a.RecordHash))
	}
	if b := Stamp(t, s); b.FirstSeq != 3 || b.N != 2 {
		t.Fatalf("the batch after the anchor covers %d.. and is numbered %d", b.FirstSeq, b.N)
	}
}

func testClose(t *testing.T, open Open) {
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	appendRecs(t, s, Rec(0, time.Time{}))
	if s.Closed() {
		t.Fatal("Closed before Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if !s.Closed() {
		t.Fatal("not Closed after Close")
	}
	if err := s.Append(context.Background(), Rec(1, time.Time{})); !errors.Is(err, messagelog.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if err := s.Each(0, func(*messagelog.Record, []byte) error { return nil }); err == nil {
		t.Fatal("Each after Close succeeded")
	}
	if _, _, _, err := s.Pending(); err == nil {
		t.Fatal("Pending after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	s = opened(t, open)
	if got := all(t, s, 0); len(got) != 1 {
		t.Fatalf("after Close and reopening %d records, want 1", len(got))
	}
}

func sameAttachments(a, b []messagelog.Attachment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ContentType != b[i].ContentType || !bytes.Equal(a[i].Data, b[i].Data) || (a[i].Data == nil) != (b[i].Data == nil) || a[i].File != b[i].File ||
			!bytes.Equal(a[i].Digest, b[i].Digest) {
			return false
		}
	}
	return true
}
