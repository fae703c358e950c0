package loadtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/config"
)

// BenchmarkCluster drives the same load (16 concurrent callers, ƏMDK asks
// DİN getPersonByFin) through DİN's server as one node on bbolt, and as
// 1, 2 and 3 nodes sharing one PostgreSQL database, in one run. Every
// configuration sits behind the same TCP proxy on the address the global
// configuration registers (in-process nodes, one federation). Besides the
// time per exchange (16 callers: 1/ns·op is the throughput) it reports per
// exchange:
//
//	cpu-µs/op      CPU of this process (caller, ƏMDK, DİN's nodes, proxy)
//	pg-cpu-µs/op   CPU of the machine's postgres processes (others' too)
//	pg-xact/op     transactions committed in DİN's database
//	pg-rows/op     rows inserted there
//	log-B/op       bytes of DİN's log records (stored encodings)
//	wal-B/op       WAL written by the whole PostgreSQL cluster
//
// Run: go test -run '^$' -bench BenchmarkCluster -benchtime 5s ./internal/harness/loadtest
// (needs SLUZ_TEST_POSTGRES; see BENCHMARKS.md).
func BenchmarkCluster(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a local federation and PostgreSQL nodes")
	}
	dir := b.TempDir()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true, External: []string{"DIN"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	din, emdk := f.Agency("DIN"), f.Agency("EMDK")
	lb := testtool.StartTCPProxy(b, din.Config.ServerProxy.Listen)
	req, err := NewRequest(localfed.Queries[0])
	if err != nil {
		b.Fatal(err)
	}
	tg := &Target{Name: NameSluz, URL: emdk.ClientURL, Request: req, Check: &Check{Signed: true}}

	for _, c := range []struct {
		name  string
		nodes int
		pg    bool
	}{{"bbolt-1", 1, false}, {"postgres-1", 1, true}, {"postgres-2", 2, true}, {"postgres-3", 3, true}} {
		dsn := ""
		var pool *pgxpool.Pool
		if c.pg {
			dsn = testtool.Postgres(b)
			if pool, err = pgxpool.New(context.Background(), dsn); err != nil {
				b.Fatal(err)
			}
		}
		var addrs []string
		var stops []func()
		for i := range c.nodes {
			addr, stop := startNode(b, din.Config, filepath.Join(dir, fmt.Sprintf("%s-node%d", c.name, i+1)), dsn)
			addrs, stops = append(addrs, addr), append(stops, stop)
		}
		lb.SetBackends(addrs...)
		if err := Probe(context.Background(), tg, "5ZJ8K2L"); err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			before := sampleCluster(b, pool)
			benchTarget(b, tg)
			b.StopTimer()
			sampleCluster(b, pool).report(b, before)
		})
		for _, stop := range stops {
			stop()
		}
		if pool != nil {
			pool.Close()
		}
	}
}

// startNode starts one in-process node of DİN's server: base with its own
// data directory and listeners, on the database dsn (bbolt when empty),
// with ƏMDK's access right granted where the node reads it.
func startNode(b *testing.B, base *config.Config, dir, dsn string) (serverAddr string, stop func()) {
	cfg := *base
	cfg.DataDir = dir
	if dsn != "" {
		cfg.MessageLog.Storage, cfg.MessageLog.Postgres.DSN = config.StoragePostgres, dsn
	}
	rights, err := securityserver.OpenACL(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	svc, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin")
	sub, _ := acl.ParseSubject("AZ/GOV/EMDK/realestate")
	if _, err := rights.Grant(svc, sub, "bench", time.Now()); err != nil && !strings.Contains(err.Error(), "already") {
		b.Fatal(err)
	}
	rights.Close()
	srv, err := securityserver.New(&cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	clientLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	serverLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, clientLn, serverLn) }()
	return serverLn.Addr().String(), func() {
		cancel()
		<-done
		srv.Close()
	}
}

// clusterSample is what BenchmarkCluster reads before and after a run.
type clusterSample struct {
	cpu, pgCPU       time.Duration
	xact, rows, logB int64
	wal              string // pg_current_wal_lsn
	pool             *pgxpool.Pool
	haveDB           bool
}

func sampleCluster(b *testing.B, pool *pgxpool.Pool) clusterSample {
	s := clusterSample{cpu: ProcessCPU(), pgCPU: postgresCPU(), pool: pool}
	if pool == nil {
		return s
	}
	ctx := context.Background()
	// Statistics reach pg_stat_database when backends report them (about
	// once a second): wait so that a sample includes the run's.
	time.Sleep(1100 * time.Millisecond)
	pool.Exec(ctx, `SELECT pg_stat_clear_snapshot()`)
	err := pool.QueryRow(ctx, `SELECT d.xact_commit, d.tup_inserted, pg_current_wal_lsn()::text,
	(SELECT coalesce(sum(length(stored)), 0) FROM messagelog_records)
FROM pg_stat_database d WHERE d.datname = current_database()`).Scan(&s.xact, &s.rows, &s.wal, &s.logB)
	if err != nil {
		b.Logf("database statistics: %v", err)
		return s
	}
	s.haveDB = true
	return s
}

func (s clusterSample) report(b *testing.B, before clusterSample) {
	n := float64(b.N)
	b.ReportMetric(float64((s.cpu-before.cpu).Microseconds())/n, "cpu-µs/op")
	b.ReportMetric(float64((s.pgCPU-before.pgCPU).Microseconds())/n, "pg-cpu-µs/op")
	if !s.haveDB || !before.haveDB {
		return
	}
	b.ReportMetric(float64(s.xact-before.xact)/n, "pg-xact/op")
	b.ReportMetric(float64(s.rows-before.rows)/n, "pg-rows/op")
	b.ReportMetric(float64(s.logB-before.logB)/n, "log-B/op")
	var wal int64
	if err := s.pool.QueryRow(context.Background(), `SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::bigint`, s.wal, before.wal).Scan(&wal); err == nil {
		b.ReportMetric(float64(wal)/n, "wal-B/op")
	}
}

// postgresCPU is the user and system CPU time of the machine's postgres
// processes (Linux /proc; 0 elsewhere). Other users of the same cluster
// count too.
func postgresCPU() time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ... utime stime: fields 14 and 15.
		open, close := strings.IndexByte(string(data), '('), strings.LastIndexByte(string(data), ')')
		if open < 0 || close < open || string(data[open+1:close]) != "postgres" {
			continue
		}
		f := strings.Fields(string(data[close+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}
