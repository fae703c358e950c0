package localfed

import (
	"context"
	"testing"

	"github.com/sluz/sluz/securityserver"
)

// TestRestartAgency: a restarted pair of servers keeps answering on the
// same addresses, and the benchmark options do what they say: without the
// message log nothing is logged, without time-stamping records are logged
// but not stamped.
func TestRestartAgency(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local federation")
	}
	f, err := Start(Options{Dir: t.TempDir(), AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	q := Queries[0] // ƏMDK -> DİN
	exchange := func() {
		t.Helper()
		if r := f.RunQuery(ctx, q); !r.OK {
			t.Fatalf("query after restart: %s", r.Outcome)
		}
	}
	counts := func() (records uint64, batches int) {
		t.Helper()
		log := f.Agency("DIN").Server.MessageLog()
		res, err := log.Check()
		if err != nil {
			t.Fatal(err)
		}
		return res.LastSeq, res.Batches
	}
	restart := func(opts ...securityserver.Option) {
		t.Helper()
		for _, code := range []string{"EMDK", "DIN"} {
			if err := f.RestartAgency(code, nil, opts...); err != nil {
				t.Fatal(err)
			}
		}
	}
	exchange()
	restart() // stopping stamps what was logged
	base, stamped := counts()
	if base < 2 || stamped == 0 {
		t.Fatalf("after one exchange and a restart: %d records, %d batches", base, stamped)
	}

	restart(securityserver.WithoutMessageLog())
	exchange()
	if n, _ := counts(); n != base {
		t.Fatalf("without the message log the log grew from %d to %d records", base, n)
	}

	restart(securityserver.WithoutTimestamping())
	exchange()
	restart(securityserver.WithoutTimestamping()) // a stop stamps nothing either
	if n, b := counts(); n != base+2 || b != stamped {
		t.Fatalf("without time-stamping: %d records (want %d), %d batches (want %d)", n, base+2, b, stamped)
	}
	restart()
	exchange()
}
