package pglog

import (
	"bytes"
	"context"
	"crypto/sha512"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/internal/pgschema"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// TestSharedAfterOldRows: a database of schema 2 (every record holding its
// signature document) is migrated; its records read and check as before,
// the records appended after share their documents; a changed shared
// document is reported at every record that refers to it.
func TestSharedAfterOldRows(t *testing.T) {
	ctx := context.Background()
	dsn := testtool.Postgres(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgschema.Migrate(ctx, pool, component, migrations[:2], ErrSchemaNewer); err != nil {
		t.Fatal(err)
	}
	// What the schema 2 writer stored: records 1..3 with the document inline.
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a, b := storetest.SignatureDoc(1), storetest.SignatureDoc(2)
	var want []*messagelog.Record
	var old [][]byte
	prev := make([]byte, 32)
	for i := range 3 {
		r := storetest.RecShared(i, t0.Add(time.Duration(i)*time.Minute), a)
		r.Seq, r.PrevHash = uint64(i+1), prev
		enc := r.Encode()
		prev = messagelog.Hash(enc)
		if _, err := pool.Exec(ctx, `INSERT INTO messagelog_records (seq, time_ns, hash, stored) VALUES ($1, $2, $3, $4)`,
			int64(r.Seq), r.Time.UnixNano(), prev, enc); err != nil {
			t.Fatal(err)
		}
		want, old = append(want, r), append(old, enc)
	}
	if _, err := pool.Exec(ctx, `UPDATE messagelog_head SET seq = 3, hash = $1`, prev); err != nil {
		t.Fatal(err)
	}
	pool.Close()

	l := open(t, dsn) // migrates to schema 3
	// a's batch goes on (records 4..6), then b's (7, 8), each batch's
	// messages together.
	for _, g := range []struct {
		from, to int
		doc      []byte
	}{{3, 6, a}, {6, 8, b}} {
		var recs []*messagelog.Record
		for i := g.from; i < g.to; i++ {
			recs = append(recs, storetest.RecShared(i, t0.Add(time.Duration(i)*time.Minute), g.doc))
		}
		if err := l.Append(ctx, recs...); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	if n, size, err := l.SignatureDocs(); err != nil || n != 2 || size != len(a)+len(b) {
		t.Fatalf("%d documents of %d bytes stored apart, %v; want 2 (the new records')", n, size, err)
	}
	var inline int
	query(t, dsn, `SELECT count(*) FROM messagelog_records WHERE length(stored) > 2000`, &inline)
	if inline != 3 {
		t.Fatalf("%d records hold a document, want the 3 old ones", inline)
	}
	i := 0
	err = l.Each(1, func(r *messagelog.Record, stored []byte) error {
		if i < 3 && !bytes.Equal(stored, old[i]) {
			t.Errorf("old record %d reads back otherwise", i+1)
		}
		if !bytes.Equal(stored, want[i].Encode()) || !bytes.Equal(r.Signature, want[i].Signature) {
			t.Errorf("record %d reads back otherwise", i+1)
		}
		i++
		return nil
	})
	if err != nil || i != 8 {
		t.Fatalf("%d records, %v", i, err)
	}
	if p := storetest.Problems(t, l); len(p) > 0 {
		t.Fatalf("check: %v", p)
	}

	sum := sha512.Sum512(a)
	testtool.Exec(t, dsn, `UPDATE messagelog_signatures SET doc = overlay(doc placing 'X'::bytea from 200) WHERE digest = $1`, sum[:])
	named := map[uint64]bool{}
	for _, p := range storetest.Problems(t, l) {
		if strings.Contains(p.Reason, "does not match its digest") {
			named[p.Seq] = true
		}
	}
	if len(named) != 3 || !named[4] || !named[5] || !named[6] {
		t.Fatalf("a changed shared document: records %v named, want 4..6", named)
	}
}

// A record's sig column pointed at another shared document: readers refuse
// the record rather than hand out the other document as its own, and the
// check names that record, not its neighbour.
func TestSigColumnChanged(t *testing.T) {
	ctx := context.Background()
	dsn := testtool.Postgres(t)
	l := open(t, dsn)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a, b := storetest.SignatureDoc(1), storetest.SignatureDoc(2)
	for _, g := range []struct {
		from, to int
		doc      []byte
	}{{0, 3, a}, {3, 6, b}} {
		var recs []*messagelog.Record
		for i := g.from; i < g.to; i++ {
			recs = append(recs, storetest.RecShared(i, t0.Add(time.Duration(i)*time.Minute), g.doc))
		}
		if err := l.Append(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	if p := storetest.Problems(t, l); len(p) > 0 {
		t.Fatalf("check before: %v", p)
	}
	before, err := l.SignatureDigests(1, 6)
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := sha512.Sum512(a), sha512.Sum512(b)
	if !bytes.Equal(before[1], sa[:]) {
		t.Fatalf("record 2's signature digest is %x…, want its document's", before[1][:8])
	}
	// Record 2 refers to a (as records 1 and 3 do); its sig column now
	// finds b.
	testtool.Exec(t, dsn, `UPDATE messagelog_records SET sig = $1 WHERE seq = 2`, sb[:])

	wantRecord2 := func(what string, err error) {
		t.Helper()
		if err == nil || !errors.Is(err, messagelog.ErrCorrupt) || !strings.Contains(err.Error(), "record 2 refers to signature document") {
			t.Errorf("%s: %v, want an error naming record 2's sig column", what, err)
		}
	}
	err = l.Each(1, func(r *messagelog.Record, _ []byte) error {
		if r.Seq == 2 && !bytes.Equal(r.Signature, a) {
			t.Errorf("record 2 was handed out with another document")
		}
		return nil
	})
	wantRecord2("Each", err)
	wantRecord2("Recent", l.Recent(t0, func(*messagelog.Record) error { return nil }))
	_, err = l.SignatureDigests(1, 6)
	wantRecord2("SignatureDigests", err)

	named := map[uint64]string{}
	for _, p := range storetest.Problems(t, l) {
		named[p.Seq] += p.Reason + "; "
	}
	if !strings.Contains(named[2], "does not match its digest") {
		t.Fatalf("check after record 2's sig column changed: %v, want record 2 named", named)
	}
}
