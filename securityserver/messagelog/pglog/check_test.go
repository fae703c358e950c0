package pglog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
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
