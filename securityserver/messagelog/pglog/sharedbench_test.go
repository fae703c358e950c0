package pglog

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// BenchmarkAppendSigningBatch appends the records of signing batches of N
// messages, each carrying its own copy of the batch's signature document
// (about 4.7 KB), one Append per batch, and reports the database's storage
// per record: the log's tables with their TOAST and indexes, after VACUUM.
func BenchmarkAppendSigningBatch(b *testing.B) {
	for _, n := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			dsn := testtool.Postgres(b)
			l := open(b, dsn)
			b.ResetTimer()
			recs := storetest.AppendSigningBatches(b, l, n, b.N, false)
			b.StopTimer()
			testtool.Exec(b, dsn, `VACUUM`)
			var size int64
			err := l.pool.QueryRow(context.Background(), `SELECT sum(pg_total_relation_size(t)) FROM unnest(ARRAY['messagelog_records', 'messagelog_signatures']) t
WHERE to_regclass(t) IS NOT NULL`).Scan(&size)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(size)/float64(recs), "B-stored/rec")
		})
	}
}
