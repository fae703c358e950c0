package messagelog

import (
	"context"
	"crypto"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/tsa"
)

// stamper closes batches with tokens of a real federation TSA.
func stamper(t *testing.T) func(l *Log) *Batch {
	t.Helper()
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(t.TempDir(), "pki")})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := pkiutil.NewServices(ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return func(l *Log) *Batch {
		t.Helper()
		first, last, _, err := l.Pending()
		if err != nil || first > last {
			t.Fatalf("pending %d..%d: %v", first, last, err)
		}
		lv, err := l.Leaves(first, last)
		if err != nil {
			t.Fatal(err)
		}
		root := MerkleRoot(lv)
		resp, err := svc.TSA.Respond(&tsa.Request{HashAlgorithm: crypto.SHA256, HashedMessage: root, CertReq: true})
		if err != nil || resp.Token == nil {
			t.Fatalf("TSA: %v %+v", err, resp)
		}
		b := &Batch{FirstSeq: first, LastSeq: last, Root: root, Token: resp.Token, Time: time.Now(), TSA: "test"}
		if err := l.AddBatch(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := range n {
		if err := l.Append(context.Background(), sample(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// anchorAt is the anchor an archive of records up to b.LastSeq names.
func anchorAt(t *testing.T, l *Log, b *Batch) Anchor {
	t.Helper()
	var h []byte
	l.Each(b.LastSeq, func(r *Record, stored []byte) error {
		if r.Seq == b.LastSeq {
			h = Hash(stored)
		}
		return nil
	})
	return Anchor{LastSeq: b.LastSeq, RecordHash: h, Batch: b.N, Manifest: make([]byte, 32), File: "test.zip"}
}

// TestPruneKeepsTheChain: pruning removes exactly the archived records and
// batches and stores the anchor in one step; the log then checks from the
// anchor, and appends and time-stamp batches continue the numbering.
// Requests that do not match the live log are refused and change nothing.
func TestPruneKeepsTheChain(t *testing.T) {
	stamp := stamper(t)
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l := openLog(t, path)
	appendN(t, l, 3)
	b1 := stamp(l)
	appendN(t, l, 4)
	b2 := stamp(l)
	appendN(t, l, 2) // not stamped: never archived
	zero := make([]byte, 32)

	bad := []struct {
		name string
		prev []byte
		a    Anchor
		want string
	}{
		{"another chain start", Hash([]byte("x")), anchorAt(t, l, b1), "another chain hash"},
		{"not the end of a batch", zero, Anchor{LastSeq: 2, RecordHash: zero, Batch: 1}, "does not end a time-stamped batch"},
		{"an unstamped record", zero, Anchor{LastSeq: 9, RecordHash: zero, Batch: 3}, "does not end a time-stamped batch"},
		{"another last record", zero, Anchor{LastSeq: b1.LastSeq, RecordHash: zero, Batch: 1}, "another hash"},
	}
	for _, tc := range bad {
		if err := l.Prune(tc.prev, tc.a); !errors.Is(err, ErrPruneMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Prune = %v, want %q", tc.name, err, tc.want)
		}
	}
	if res, _ := l.Check(); res.Records != 9 || res.Archived != nil {
		t.Fatalf("a refused prune changed the log: %+v", res)
	}

	a1 := anchorAt(t, l, b1)
	if err := l.Prune(zero, a1); err != nil {
		t.Fatal(err)
	}
	res, err := l.Check()
	if err != nil || !res.OK() || res.FirstSeq != 4 || res.Records != 6 || res.Batches != 1 || res.Archived.LastSeq != 3 {
		t.Fatalf("after pruning batch 1: %+v %v", res, err)
	}
	// Pruning the same range again (a repeated run) is refused, not doubled.
	if err := l.Prune(zero, a1); !errors.Is(err, ErrPruneMismatch) {
		t.Fatalf("second prune of the same range: %v", err)
	}
	if err := l.Prune(a1.RecordHash, anchorAt(t, l, b2)); err != nil {
		t.Fatal(err)
	}
	// Everything stamped is gone; the pending records are still pending
	// and the next batch is number 3.
	if first, last, _, err := l.Pending(); err != nil || first != 8 || last != 9 {
		t.Fatalf("pending after pruning: %d..%d %v", first, last, err)
	}
	appendN(t, l, 1)
	if b3 := stamp(l); b3.N != 3 || b3.FirstSeq != 8 || b3.LastSeq != 10 {
		t.Fatalf("batch after pruning: %+v", b3)
	}
	seq, head := l.Head()
	l.Close()

	// Reopened: the chain continues; the check starts from the anchor.
	l = openLog(t, path)
	defer l.Close()
	if s, h := l.Head(); s != seq || string(h) != string(head) {
		t.Fatalf("head after reopen %d, want %d", s, seq)
	}
	res, err = l.Check()
	if err != nil || !res.OK() || res.FirstSeq != 8 || res.LastSeq != 10 || res.Stamped != 10 {
		t.Fatalf("after reopen: %+v %v", res, err)
	}
	// Removing the oldest live record now is named against the anchor.
	l.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRecords).Delete(seqKey(8)) })
	res, _ = l.Check()
	if res.OK() || !strings.Contains(res.Problems[0].String(), "record 8: missing") {
		t.Fatalf("removed oldest live record: %+v", res.Problems)
	}
}
