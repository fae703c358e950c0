package securityserver_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/lease"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/pglog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// TestE2EPostgresMessageLog: DİN's security server keeps its message log
// on PostgreSQL (messageLog.storage: postgres) and answers ƏMDK; the
// request and the response are in the database, chained and time-stamped,
// its id is in the shared replay guard, its operational monitoring record
// and ƏMDK's access right are there too, and an archive written from there verifies as the auditor checks it.
func TestE2EPostgresMessageLog(t *testing.T) {
	dsn := testtool.Postgres(t)
	f, _ := e2eStart(t, t.TempDir())
	usePostgres := func(c *config.Config) {
		c.MessageLog.Storage, c.MessageLog.Postgres.DSN = config.StoragePostgres, dsn
	}
	if err := f.RestartAgency("DIN", usePostgres); err != nil {
		t.Fatal(err)
	}
	q := localfed.Queries[0] // ƏMDK -> DİN
	res := f.RunQuery(context.Background(), q)
	if !res.OK {
		t.Fatalf("exchange with DİN on PostgreSQL: %s", res.Outcome)
	}
	if f.Agency("DIN").Server.MessageLog() != nil {
		t.Fatal("DİN on PostgreSQL still has an embedded log")
	}
	// The admin listener's copy of the log says where to back it up instead.
	rec := httptest.NewRecorder()
	f.Agency("DIN").Server.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/messagelog/backup", nil))
	if rec.Code != http.StatusNotImplemented || !strings.Contains(rec.Body.String(), "pg_dump") {
		t.Fatalf("backup of a log on PostgreSQL: HTTP %d %q", rec.Code, rec.Body.String())
	}
	// Stopping stamps what was logged, once the node holds the lease (it
	// takes it right after starting; a busy machine can delay that past
	// the exchange).
	waitFor(t, "DİN to hold the time-stamping lease", func() bool {
		rec := httptest.NewRecorder()
		f.Agency("DIN").Server.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return strings.Contains(rec.Body.String(), "\nsluz_timestamping_lease_held 1\n")
	})
	if err := f.RestartAgency("DIN", usePostgres); err != nil {
		t.Fatal(err)
	}

	l, err := pglog.Open(context.Background(), dsn, pglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	kinds := map[messagelog.Kind]bool{}
	err = l.Each(0, func(r *messagelog.Record, _ []byte) error {
		if r.MessageID == res.MessageID && r.Side == messagelog.ServerSide {
			kinds[r.Kind] = true
		}
		return nil
	})
	if err != nil || !kinds[messagelog.Request] || !kinds[messagelog.Response] {
		t.Fatalf("DİN's PostgreSQL log has request %v, response %v of message %s (%v)", kinds[messagelog.Request], kinds[messagelog.Response], res.MessageID, err)
	}
	// The request's id is in the replay guard that every node shares.
	var seen int
	if err := l.Pool().QueryRow(context.Background(), `SELECT count(*) FROM replay_guard WHERE message_id = $1`, res.MessageID).Scan(&seen); err != nil || seen != 1 {
		t.Fatalf("message %s in the shared replay guard %d times (%v), want once", res.MessageID, seen, err)
	}
	// Its operational monitoring record and the access right that let
	// ƏMDK in are in the database too, where every node reads them.
	var monitored, rights int
	if err := l.Pool().QueryRow(context.Background(), `SELECT count(*) FROM opmon_records WHERE convert_from(data, 'UTF8')::jsonb->>'messageId' = $1`, res.MessageID).Scan(&monitored); err != nil || monitored != 1 {
		t.Fatalf("message %s has %d operational monitoring records on PostgreSQL (%v), want 1", res.MessageID, monitored, err)
	}
	if err := l.Pool().QueryRow(context.Background(), `SELECT count(*) FROM acl_rules WHERE subject = 'AZ/GOV/EMDK/realestate'`).Scan(&rights); err != nil || rights == 0 {
		t.Fatalf("ƏMDK's access rights on PostgreSQL: %d (%v)", rights, err)
	}
	n := storetest.CheckChain(t, l)
	batches, err := l.Archivable(time.Now().Add(time.Hour), 10000)
	if err != nil || len(batches) == 0 || batches[len(batches)-1].LastSeq != uint64(n) {
		t.Fatalf("the stopped server left %d batches (%v), not covering its %d records", len(batches), err, n)
	}

	dir := t.TempDir()
	ar, err := audit.WriteArchive(l, dir, "DIN", f.Agency("DIN").Config.Server.String(), batches, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	trust.Roots.AddCert(f.CA.Root)
	trust.Intermediates.AddCert(f.CA.Cert)
	rep, _, err := audit.VerifyArchives(dir, trust)
	if err != nil || !rep.OK() || rep.Verified != n {
		t.Fatalf("the archive of DİN's PostgreSQL log: %d of %d records verified, %+v, %v", rep.Verified, n, rep.Failures, err)
	}
	t.Logf("%d records on PostgreSQL, %d batches, archive %s verified", n, len(batches), ar.Path)
	if ar.Records != n {
		t.Fatalf("archive holds %d records, the log %d", ar.Records, n)
	}
}

// TestE2EPostgresLease: of the nodes sharing a log on PostgreSQL only the
// lease holder time-stamps. While another process holds the lease DİN logs
// its exchanges but leaves them unstamped; once that holder is gone DİN
// takes the lease and stamps them within seconds.
func TestE2EPostgresLease(t *testing.T) {
	dsn := testtool.Postgres(t)
	// Its retry is also how long its connection check may take: on a busy
	// machine (the cluster test runs beside this one) a short one loses
	// the lease to DİN, which must not happen here.
	other, err := lease.NewPostgres(dsn, lease.Options{Retry: time.Second, Name: "another node"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, release := context.WithCancel(context.Background())
	held, otherDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(otherDone)
		var once sync.Once // the work runs again should the lease be lost and taken back
		other.Run(ctx, func(ctx context.Context) { once.Do(func() { close(held) }); <-ctx.Done() })
	}()
	defer func() { release(); <-otherDone }()
	<-held

	f, _ := e2eStart(t, t.TempDir())
	err = f.RestartAgency("DIN", func(c *config.Config) {
		c.MessageLog.Storage, c.MessageLog.Postgres.DSN = config.StoragePostgres, dsn
		c.Timestamping.Interval = config.Duration(100 * time.Millisecond)
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := f.RunQuery(context.Background(), localfed.Queries[0]); !res.OK {
		t.Fatalf("exchange with DİN on PostgreSQL: %s", res.Outcome)
	}
	l, err := pglog.Open(context.Background(), dsn, pglog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	time.Sleep(time.Second) // ten time-stamping intervals
	first, last, _, err := l.PendingStored()
	if err != nil || first > last {
		t.Fatalf("DİN stamped without the lease: pending %d..%d (%v)", first, last, err)
	}
	rec := httptest.NewRecorder()
	f.Agency("DIN").Server.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "\nsluz_timestamping_lease_held 0\n") {
		t.Fatal("DİN's metrics do not say it lacks the lease")
	}

	release()
	<-otherDone
	gone := time.Now()
	waitFor(t, "DİN to take the lease and stamp", func() bool {
		first, last, _, err := l.PendingStored()
		return err == nil && first > last
	})
	t.Logf("DİN stamped records %d..%d %s after the other holder let go", first, last, time.Since(gone).Round(time.Millisecond))
	if time.Since(gone) > 10*time.Second {
		t.Fatalf("takeover took %s, more than 10 s", time.Since(gone))
	}
}

// TestE2EPostgresReadyz: a node whose database cannot be reached says so
// on /readyz (503), so that a load balancer stops sending it traffic, and
// is ready again once the database is back, without a restart.
func TestE2EPostgresReadyz(t *testing.T) {
	dsn := testtool.Postgres(t)
	f, _ := e2eStart(t, t.TempDir())
	err := f.RestartAgency("DIN", func(c *config.Config) {
		c.MessageLog.Storage, c.MessageLog.Postgres.DSN = config.StoragePostgres, dsn
	})
	if err != nil {
		t.Fatal(err)
	}
	admin := f.Agency("DIN").Server.AdminHandler()
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: HTTP %d %q", code, body)
	}
	restore := testtool.CutOff(t, dsn)
	t0 := time.Now()
	code, body := readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "database unreachable") {
		t.Fatalf("/readyz with the database cut off: HTTP %d %q", code, body)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("/readyz took %s to answer", d)
	}
	t.Logf("cut off: %s", strings.TrimSpace(body))
	// Once the pool's old connections are gone, new ones are refused.
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "database unreachable") {
		t.Fatalf("/readyz asked again with the database cut off: HTTP %d %q", code, body)
	} else {
		t.Logf("asked again: %s", strings.TrimSpace(body))
	}
	restore()
	waitFor(t, "/readyz to answer 200 after the database is back", func() bool {
		code, _ := readyz()
		return code == http.StatusOK
	})
}
