package opmon_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/opmon/pgopmon"
)

// clock is a test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// backend is one of the stores the conformance tests below hold to the
// same promises: the bbolt file and the PostgreSQL database.
type backend struct {
	name string
	// place makes an empty store's place and returns its opener: each
	// call opens the same store again.
	place func(t *testing.T) func(opmon.Options) (*opmon.Store, error)
}

var backends = []backend{
	{"bbolt", func(t *testing.T) func(opmon.Options) (*opmon.Store, error) {
		path := filepath.Join(t.TempDir(), "opmon.db")
		return func(o opmon.Options) (*opmon.Store, error) { return opmon.Open(path, o) }
	}},
	{"postgres", func(t *testing.T) func(opmon.Options) (*opmon.Store, error) {
		pool, err := pgxpool.New(context.Background(), testtool.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return func(o opmon.Options) (*opmon.Store, error) {
			b, err := pgopmon.New(context.Background(), pool)
			if err != nil {
				return nil, err
			}
			return opmon.OpenBackend(b, o), nil
		}
	}},
}

// eachBackend runs test on every backend.
func eachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// open opens an empty store that is closed when t ends.
func (b backend) open(t *testing.T, opts opmon.Options) *opmon.Store {
	t.Helper()
	s, err := b.place(t)(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rec(id string, at time.Time) *opmon.Record {
	return &opmon.Record{SecurityServerType: opmon.Producer, MessageID: id, RequestInTs: at.UnixMilli(), ResponseOutTs: at.UnixMilli() + 5,
		ClientXRoadInstance: "AZ", ClientMemberClass: "GOV", ClientMemberCode: "EMDK", ClientSubsystemCode: "realestate",
		ServiceXRoadInstance: "AZ", ServiceMemberClass: "GOV", ServiceMemberCode: "DIN", ServiceSubsystemCode: "population",
		ServiceCode: "getPersonByFin", ServiceVersion: "v1", RequestSize: 900, ResponseSize: 1200, Succeeded: true}
}

func ids(recs []opmon.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.MessageID)
	}
	return out
}

func all(t *testing.T, s *opmon.Store) []opmon.Record {
	t.Helper()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Query(opmon.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Records
}

// TestRetention: records older than the retention period (by requestInTs,
// on the store's clock) are pruned, by Prune and by the periodic pruner;
// younger ones stay.
func TestRetention(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
		s := b.open(t, opmon.Options{Retention: 7 * 24 * time.Hour, Now: c.Now, PruneInterval: 10 * time.Millisecond})
		now := c.Now()
		s.Add(rec("8-days-old", now.Add(-8*24*time.Hour)))
		s.Add(rec("6-days-old", now.Add(-6*24*time.Hour)))
		s.Add(rec("new", now))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Prune(); err != nil {
			t.Fatal(err)
		}
		if got := ids(all(t, s)); len(got) != 2 || got[0] != "6-days-old" || got[1] != "new" {
			t.Fatalf("after pruning at day 0: %v, want [6-days-old new]", got)
		}
		c.Advance(2 * 24 * time.Hour) // the 6-day-old record is now 8 days old
		deadline := time.Now().Add(5 * time.Second)
		for {
			got := ids(all(t, s))
			if len(got) == 1 && got[0] == "new" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the periodic pruner left %v two days later, want [new]", got)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if s.Pruned() != 2 {
			t.Errorf("Pruned() = %d, want 2", s.Pruned())
		}
	})
}

// TestFullQueueDropsInsteadOfBlocking: while the writer is stuck, Add
// returns at once; what does not fit in the queue is dropped and counted,
// what fits is stored once the writer moves again.
func TestFullQueueDropsInsteadOfBlocking(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		entered, release := make(chan struct{}, 10), make(chan struct{})
		s := b.open(t, opmon.Options{QueueSize: 2, MaxBatch: 1, Complete: func(*opmon.Record) {
			entered <- struct{}{}
			<-release
		}})
		now := time.Now()
		s.Add(rec("first", now))
		<-entered // the writer holds "first" and waits
		start := time.Now()
		got := []bool{s.Add(rec("q1", now)), s.Add(rec("q2", now)), s.Add(rec("dropped", now))}
		if took := time.Since(start); took > time.Second {
			t.Errorf("Add blocked for %s", took)
		}
		if !got[0] || !got[1] || got[2] {
			t.Errorf("Add results %v, want [true true false]", got)
		}
		if s.Dropped() != 1 {
			t.Errorf("Dropped() = %d, want 1", s.Dropped())
		}
		close(release)
		if got := ids(all(t, s)); len(got) != 3 {
			t.Fatalf("stored %v, want first, q1, q2", got)
		}
		if s.Stored() != 3 {
			t.Errorf("Stored() = %d, want 3", s.Stored())
		}
	})
}

// TestRecordsSurviveClose: Close commits what is queued; reopening finds it.
func TestRecordsSurviveClose(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		reopen := b.place(t)
		s, err := reopen(opmon.Options{FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		r := rec("kept", time.Now())
		r.FaultCode, r.FaultString, r.Succeeded = "Server.ServerProxy.AccessDenied", "client AZ/GOV/DSMF/insurance is not allowed", false
		s.Add(r)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.Add(rec("late", time.Now())) {
			t.Error("Add after Close reported success")
		}
		if _, err := s.Query(opmon.Query{}); err != opmon.ErrClosed {
			t.Errorf("Query after Close: %v, want ErrClosed", err)
		}
		s, err = reopen(opmon.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got := all(t, s)
		if len(got) != 1 {
			t.Fatalf("after reopening: %v", ids(got))
		}
		g := got[0]
		if g.MessageID != "kept" || g.FaultCode != r.FaultCode || g.FaultString != r.FaultString || g.Succeeded || g.RequestSize != 900 || g.ClientID().String() != "AZ/GOV/EMDK/realestate" || g.MonitoringDataTs == 0 {
			t.Errorf("stored record %+v, want the one added (with monitoringDataTs)", g)
		}
	})
}

// TestQueryPaging: the cap falls on a second boundary, and following Next
// returns every record exactly once.
func TestQueryPaging(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, opmon.Options{})
		base := time.Unix(1_800_000_000, 0)
		var want []string
		for sec := 0; sec < 4; sec++ {
			for i := 0; i < 3; i++ {
				id := string(rune('A'+sec)) + string(rune('0'+i))
				s.Add(rec(id, base.Add(time.Duration(sec)*time.Second+time.Duration(i)*time.Millisecond)))
				want = append(want, id)
			}
		}
		s.Flush()
		tests := []struct {
			limit int
			pages []int // records per page
		}{
			{limit: 0, pages: []int{12}},
			{limit: 3, pages: []int{3, 3, 3, 3}},
			{limit: 5, pages: []int{3, 3, 3, 3}},
			{limit: 6, pages: []int{6, 6}},
			{limit: 2, pages: []int{3, 3, 3, 3}}, // a second holding more than the cap is returned whole
		}
		for _, tt := range tests {
			var got []string
			var pages []int
			from := base
			for {
				res, err := s.Query(opmon.Query{From: from, To: base.Add(time.Hour), Limit: tt.limit})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ids(res.Records)...)
				pages = append(pages, len(res.Records))
				if res.Next == 0 {
					break
				}
				from = time.Unix(res.Next, 0)
			}
			if len(got) != len(want) || len(pages) != len(tt.pages) {
				t.Errorf("limit %d: pages %v of %v, want pages %v of all 12", tt.limit, pages, got, tt.pages)
				continue
			}
			for i := range pages {
				if pages[i] != tt.pages[i] || got[i] != want[i] {
					t.Errorf("limit %d: pages %v of %v, want pages %v", tt.limit, pages, got, tt.pages)
					break
				}
			}
		}
		// A time range reads only its records, both ends inclusive.
		res, _ := s.Query(opmon.Query{From: base.Add(time.Second), To: base.Add(2*time.Second + 2*time.Millisecond)})
		if got := ids(res.Records); len(got) != 6 || got[0] != "B0" || got[5] != "C2" {
			t.Errorf("seconds 1-2: %v", got)
		}
	})
}

// TestAddAllocatesNothing: recording costs an exchange no allocation.
func TestAddAllocatesNothing(t *testing.T) {
	s := backends[0].open(t, opmon.Options{QueueSize: 100000})
	r := rec("x", time.Now())
	if n := testing.AllocsPerRun(1000, func() { s.Add(r) }); n != 0 {
		t.Errorf("Add allocates %.1f times per record", n)
	}
}

// TestStringsAreClamped: PR-OPMON's limits, on a UTF-8 boundary.
func TestStringsAreClamped(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, opmon.Options{})
		r := rec("long", time.Now())
		r.FaultString = string(make([]byte, 2047)) + "ə" // 2049 bytes, the last rune crossing 2048
		r.MessageUserID = string(make([]byte, 300))
		s.Add(r)
		got := all(t, s)[0]
		if len(got.FaultString) != 2047 || len(got.MessageUserID) != 255 {
			t.Errorf("faultString %d bytes, messageUserId %d bytes; want 2047 and 255", len(got.FaultString), len(got.MessageUserID))
		}
	})
}

// TestQueryFit: an answer too large for a message is cut to fewer records,
// on a second boundary, with Next to go on from.
func TestQueryFit(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, opmon.Options{})
		base := time.Unix(1_800_000_000, 0)
		for i := 0; i < 10; i++ {
			s.Add(rec(string(rune('a'+i)), base.Add(time.Duration(i)*time.Second)))
		}
		s.Flush()
		var pages []opmon.Result
		encode := func(res opmon.Result) ([]byte, error) {
			pages = append(pages, res)
			return make([]byte, 100*len(res.Records)), nil
		}
		out, err := s.QueryFit(opmon.Query{From: base, Limit: 10}, 450, encode)
		if err != nil {
			t.Fatal(err)
		}
		last := pages[len(pages)-1]
		if len(out) != 200 || len(last.Records) != 2 || last.Next != base.Unix()+2 {
			t.Errorf("%d bytes, %d records, next %d; want 200 bytes of 2 records (limit 10 -> 5 -> 2), next %d", len(out), len(last.Records), last.Next, base.Unix()+2)
		}
		// One second's records are never split: with Limit 1 they come whole.
		for i := 0; i < 3; i++ {
			s.Add(rec("same-second", base.Add(time.Hour)))
		}
		s.Flush()
		pages = nil
		out, _ = s.QueryFit(opmon.Query{From: base.Add(time.Hour), Limit: 1}, 150, encode)
		if len(out) != 300 {
			t.Errorf("%d bytes; want the 3 records of one second (300 bytes) despite the 150-byte budget", len(out))
		}
	})
}

// TestPruneBacklog: a backlog larger than one pruning transaction is
// deleted whole, and nothing younger goes with it.
func TestPruneBacklog(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		c := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
		s := b.open(t, opmon.Options{Retention: time.Hour, Now: c.Now, QueueSize: 30000})
		old := c.Now().Add(-2 * time.Hour)
		const n = 25000
		for i := 0; i < n; i++ {
			s.Add(rec("old", old.Add(time.Duration(i)*time.Millisecond)))
		}
		s.Add(rec("young", c.Now()))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := s.Prune()
		if err != nil || got != n {
			t.Fatalf("Prune = %d, %v; want %d", got, err, n)
		}
		if left := ids(all(t, s)); len(left) != 1 || left[0] != "young" {
			t.Fatalf("left %d records, want only the young one", len(left))
		}
	})
}

// TestFlushEndsUnderLoad: a flush waits for the records queued before it,
// not for a queue that exchanges keep filling.
func TestFlushEndsUnderLoad(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.open(t, opmon.Options{})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rec("load", time.Now())
				for {
					select {
					case <-stop:
						return
					default:
						s.Add(r)
					}
				}
			}()
		}
		defer func() {
			close(stop)
			wg.Wait()
		}()
		time.Sleep(50 * time.Millisecond)
		for !s.Add(rec("marker", time.Now())) { // the queue is mostly full: retry until it is in
		}
		done := make(chan error, 1)
		go func() { done <- s.Flush() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Flush did not return within 10 s while records kept coming")
		}
		res, _ := s.Query(opmon.Query{Match: func(r *opmon.Record) bool { return r.MessageID == "marker" }})
		if len(res.Records) != 1 {
			t.Error("the record queued before Flush is not stored after it")
		}
	})
}
