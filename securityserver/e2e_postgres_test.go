package securityserver_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/pglog"
	"github.com/sluz/sluz/securityserver/messagelog/storetest"
)

// TestE2EPostgresMessageLog: DİN's security server keeps its message log
// on PostgreSQL (messageLog.storage: postgres) and answers ƏMDK; the
// request and the response are in the database, chained and time-stamped,
// its id is in the shared replay guard,
// and an archive written from there verifies as the auditor checks it.
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
	// Stopping stamps what was logged.
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
