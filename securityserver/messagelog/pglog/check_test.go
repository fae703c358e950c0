package pglog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// TestReadOnlyCheck: the auditor's read-only view of a log on PostgreSQL
// checks its chain as the bbolt log's check does, finds a record changed
// in the database, and writes nothing.
func TestReadOnlyCheck(t *testing.T) {
	dsn := testtool.Postgres(t)
	l := open(t, dsn)
	t0 := time.Now()
	for i := range 5 {
		if err := l.Append(context.Background(), storetest.Rec(i, t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	ro, err := OpenReadOnly(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	res, err := ro.Check()
	if err != nil || !res.OK() || res.Records != 5 || res.LastSeq != 5 {
		t.Fatalf("check of an intact log: %+v, %v", res, err)
	}
	if err := ro.Append(context.Background(), storetest.Rec(9, t0)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Append on the read-only log: %v, want ErrReadOnly", err)
	}
	if _, err := ro.pool.Exec(context.Background(), `UPDATE messagelog_head SET seq = 0`); err == nil {
		t.Fatal("the read-only session could write")
	}

	// A record changed in the database: the next one no longer chains to it.
	testtool.Exec(t, dsn, `UPDATE messagelog_records SET stored = stored || '\x00'::bytea WHERE seq = 3`)
	res, err = ro.Check()
	if err != nil || res.OK() {
		t.Fatalf("check after record 3 was changed: %+v, %v", res, err)
	}
	var found bool
	for _, p := range res.Problems {
		found = found || (p.Seq == 3 || p.Seq == 4)
	}
	if !found {
		t.Fatalf("problems %v do not name record 3 or 4", res.Problems)
	}
	// A database without a Şlüz log is refused, not migrated.
	empty := testtool.Postgres(t)
	if _, err := OpenReadOnly(context.Background(), empty); err == nil || !strings.Contains(err.Error(), "not a Şlüz message log") {
		t.Fatalf("OpenReadOnly of an empty database: %v", err)
	}
}

// TestReadOnlyCheckBatches: the read-only check matches both kinds of
// batch against the stored records, a legacy batch's Merkle root and a
// batch's X-Road time-stamp hash chain over the records' signatures, and
// names the batch whose root or hash chain was changed in the database.
func TestReadOnlyCheckBatches(t *testing.T) {
	dsn := testtool.Postgres(t)
	l := open(t, dsn)
	t0 := time.Now()
	for i := range 6 {
		if i == 3 { // records 1..3: a legacy Merkle batch
			lv, err := l.Leaves(1, 3)
			if err != nil {
				t.Fatal(err)
			}
			b := &messagelog.Batch{FirstSeq: 1, LastSeq: 3, Root: messagelog.MerkleRoot(lv), Token: []byte("token 1..3"), Time: t0, TSA: "http://tsa.test"}
			if err := l.AddBatch(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Append(context.Background(), storetest.Rec(i, t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	if b := storetest.Stamp(t, l); !b.HashChain() || b.FirstSeq != 4 || b.LastSeq != 6 {
		t.Fatalf("batch 2 is %d..%d, hash chain %v", b.FirstSeq, b.LastSeq, b.HashChain())
	}
	ro, err := OpenReadOnly(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	mismatch := func(res *messagelog.CheckResult) string {
		var s []string
		for _, p := range res.Problems {
			if strings.Contains(p.Reason, "do not match") {
				s = append(s, p.String())
			}
		}
		return strings.Join(s, "; ")
	}
	// The tokens are only bytes, so they are reported; the batches match.
	res, err := ro.Check()
	if err != nil || res.Batches != 2 || res.Stamped != 6 || mismatch(res) != "" {
		t.Fatalf("check of intact batches: %+v, %v", res, err)
	}
	testtool.Exec(t, dsn, `UPDATE messagelog_batches SET root = sha256(root) WHERE n = 1`)
	testtool.Exec(t, dsn, `UPDATE messagelog_batches SET result = result || ' '::bytea WHERE n = 2`)
	res, err = ro.Check()
	if err != nil {
		t.Fatal(err)
	}
	got := mismatch(res)
	if !strings.Contains(got, "record 1: time-stamp batch 1: records 1..3 do not match the root time-stamped in batch 1") ||
		!strings.Contains(got, "record 4: time-stamp batch 2: the signatures of records 4..6 do not match the hash chain time-stamped in batch 2") {
		t.Fatalf("check after both batches were changed names: %q", got)
	}
}
