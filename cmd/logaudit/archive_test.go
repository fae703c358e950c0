package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// archivedServer is one security server's state after archiving.
type archivedServer struct {
	code, log, archives string
	files               []string // archive files, oldest first
}

func agencyOf(t *testing.T, f *localfed.Federation, code string) *localfed.Agency {
	t.Helper()
	a := f.Agency(code)
	if a == nil {
		t.Fatalf("no agency %s", code)
	}
	return a
}

// runQueriesStamped runs the sample queries and waits until ƏMDK's and
// DİN's logs are time-stamped to their last record.
func runQueriesStamped(t *testing.T, f *localfed.Federation) {
	t.Helper()
	for _, q := range localfed.Queries {
		if r := f.RunQuery(context.Background(), q); !r.OK {
			t.Fatalf("%s: %s", q.Name, r.Outcome)
		}
	}
	for _, code := range []string{"EMDK", "DIN"} {
		s := agencyOf(t, f, code).Server
		if err := s.StampNow(context.Background()); err != nil {
			t.Fatalf("%s: StampNow: %v", code, err)
		}
		if res, err := s.MessageLog().Check(); err != nil || res.Records == 0 || res.Stamped != res.LastSeq {
			t.Fatalf("%s log not time-stamped: %+v %v", code, res, err)
		}
	}
}

// federationArchives runs three rounds of the sample queries through a
// local federation, archiving ƏMDK's and DİN's logs after each (three
// archives each), then one more round left in the live logs, and stops.
func federationArchives(t *testing.T) (servers []archivedServer, cas []string) {
	t.Helper()
	dir := t.TempDir()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed { // a failed test
			f.Close()
		}
	}()
	servers = []archivedServer{{code: "EMDK"}, {code: "DIN"}}
	for round := range 4 {
		runQueriesStamped(t, f)
		if round == 3 {
			break
		}
		for i := range servers {
			a := agencyOf(t, f, servers[i].code)
			files, err := a.Server.ArchiveNow(time.Now())
			if err != nil || len(files) != 1 {
				t.Fatalf("%s: ArchiveNow: %v %v", a.Code, files, err)
			}
			servers[i].files = append(servers[i].files, files[0])
			servers[i].archives = a.Config.MessageLog.Archive.Dir
			servers[i].log = filepath.Join(a.Config.DataDir, securityserver.FileMessageLog)
			// The attachments' files (DİN's quarterly reports to DSMF, the
			// REST bodies both keep) went into the archive with their records.
			if left, err := os.ReadDir(messagelog.AttachmentsBeside(servers[i].log).Dir); (err != nil && !os.IsNotExist(err)) || len(left) != 0 {
				t.Fatalf("%s: attachment files left after archiving everything: %d, %v", a.Code, len(left), err)
			}
		}
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	closed = true
	f.Close()
	pki := filepath.Join(dir, "pki")
	return servers, []string{"--ca", filepath.Join(pki, "root-ca.pem"), "--ca", filepath.Join(pki, "ca.pem")}
}

// copyDir copies an archive directory so each tampering starts clean.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(to, e.Name()), data, 0o644)
	}
	return to
}

// rewriteArchived rewrites one container of an archive file with edit
// applied to it; with fixManifest the manifest's SHA-256 of that container
// is updated too (a careful forger). It returns the record's sequence
// number.
func rewriteArchived(t *testing.T, path string, pick int, fixManifest bool, edit func(container map[string][]byte)) uint64 {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string][]byte{}
	var order []string
	for _, f := range zr.File {
		rc, _ := f.Open()
		entries[f.Name], _ = io.ReadAll(rc)
		rc.Close()
		order = append(order, f.Name)
	}
	zr.Close()
	var m audit.Manifest
	if err := json.Unmarshal(entries[audit.ArchiveManifest], &m); err != nil {
		t.Fatal(err)
	}
	e := &m.Entries[pick]
	// The container, entry by entry.
	cr, err := zip.NewReader(bytes.NewReader(entries[e.Name]), int64(len(entries[e.Name])))
	if err != nil {
		t.Fatal(err)
	}
	inner := map[string][]byte{}
	var innerOrder []string
	for _, f := range cr.File {
		rc, _ := f.Open()
		inner[f.Name], _ = io.ReadAll(rc)
		rc.Close()
		innerOrder = append(innerOrder, f.Name)
	}
	edit(inner)
	var cb bytes.Buffer
	cw := zip.NewWriter(&cb)
	for _, n := range innerOrder {
		w, _ := cw.Create(n)
		w.Write(inner[n])
	}
	cw.Close()
	entries[e.Name] = cb.Bytes()
	if fixManifest {
		sum := sha256.Sum256(cb.Bytes())
		e.SHA256 = hex.EncodeToString(sum[:])
		entries[audit.ArchiveManifest], _ = json.MarshalIndent(m, "", "  ")
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, n := range order {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		w.Write(entries[n])
	}
	zw.Close()
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return e.Seq
}

// TestArchivesVerifyAndTampering: after exchanges through the local
// federation, archived three times, verify passes on both servers' archives
// and live logs together (and on each alone); a removed archive (in the
// middle, or the newest), a flipped byte in an archived message and a
// replaced time-stamp token are each detected with the record named.
func TestArchivesVerifyAndTampering(t *testing.T) {
	servers, cas := federationArchives(t)
	for _, s := range servers {
		if len(s.files) != 3 {
			t.Fatalf("%s: archives %v", s.code, s.files)
		}
		code, out, errOut := runCLI(append([]string{"verify", "--archives", s.archives, "--log", s.log}, cas...)...)
		if code != cli.ExitOK || !strings.HasPrefix(out, "3 archives, ") || !strings.Contains(out, "OK") || !strings.Contains(out, "0 records not yet time-stamped") {
			t.Fatalf("%s: verify archives and log: exit %d\n%s%s", s.code, code, out, errOut)
		}
		t.Logf("%s: %s", s.code, strings.SplitN(out, "\n", 2)[0])
		for _, args := range [][]string{{"--archives", s.archives}, {"--log", s.log}} {
			if code, out, _ := runCLI(append(append([]string{"verify"}, args...), cas...)...); code != cli.ExitOK {
				t.Fatalf("%s: verify %v: exit %d\n%s", s.code, args, code, out)
			}
		}
		code, out, _ = runCLI(append([]string{"verify", "--json", "--archives", s.archives, "--log", s.log}, cas...)...)
		var rep audit.Report
		if err := json.Unmarshal([]byte(out), &rep); code != cli.ExitOK || err != nil || rep.Archives != 3 || rep.Verified != rep.Records || rep.Records == 0 {
			t.Fatalf("%s: verify --json: exit %d %v\n%s", s.code, code, err, out)
		}
		// The live log holds only the last round; the archives the rest.
		l, err := messagelog.OpenReadOnly(s.log)
		if err != nil {
			t.Fatal(err)
		}
		anchor, _ := l.Archived()
		res, _ := l.Check()
		l.Close()
		if anchor == nil || anchor.File != filepath.Base(s.files[2]) || res.FirstSeq != anchor.LastSeq+1 || !res.OK() {
			t.Fatalf("%s: live log after archiving: anchor %+v, check %+v", s.code, anchor, res)
		}
	}
	din := servers[1]
	archived := func(path string) *audit.Manifest {
		a, err := audit.OpenArchive(path)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		return a.Manifest
	}
	verify := func(dir string) (int, string) {
		code, out, _ := runCLI(append([]string{"verify", "--archives", dir, "--log", din.log}, cas...)...)
		t.Logf("verify:\n%s", out)
		return code, out
	}

	t.Run("archived container checks with independent tools", func(t *testing.T) {
		pkiDir := filepath.Dir(cas[1])
		// The archive unzips into ordinary containers.
		out := t.TempDir()
		unzip(t, din.files[1], out)
		containers, _ := filepath.Glob(filepath.Join(out, "*-request.asice"))
		if len(containers) == 0 {
			t.Fatalf("no request container in %s", din.files[1])
		}
		checkIndependent(t, containers[0], pkiDir)
	})
	t.Run("not an archive directory", func(t *testing.T) {
		code, _, errOut := runCLI(append([]string{"verify", "--archives", t.TempDir()}, cas...)...)
		if code != cli.ExitError || !strings.Contains(errOut, "no archive files (*.zip) in") {
			t.Fatalf("empty directory: exit %d %s", code, errOut)
		}
		code, _, errOut = runCLI(append([]string{"verify", "--archives", filepath.Join(t.TempDir(), "nope")}, cas...)...)
		if code != cli.ExitError || !strings.Contains(errOut, "archives: open") {
			t.Fatalf("missing directory: exit %d %s", code, errOut)
		}
	})
	t.Run("middle archive removed", func(t *testing.T) {
		dir := copyDir(t, din.archives)
		mid := archived(din.files[1])
		os.Remove(filepath.Join(dir, filepath.Base(din.files[1])))
		code, out := verify(dir)
		want := "FAIL archive " + filepath.Base(din.files[2]) + " record " + itoa(mid.FirstSeq) + ": records " + itoa(mid.FirstSeq) + ".." + itoa(mid.LastSeq) + " are missing"
		if code != cli.ExitError || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q in\n%s", code, want, out)
		}
	})
	t.Run("newest archive removed", func(t *testing.T) {
		dir := copyDir(t, din.archives)
		last := archived(din.files[2])
		os.Remove(filepath.Join(dir, filepath.Base(din.files[2])))
		code, out := verify(dir)
		if code != cli.ExitError || !strings.Contains(out, "record "+itoa(last.FirstSeq)+": records "+itoa(last.FirstSeq)+".."+itoa(last.LastSeq)+" are missing: the live log says they were archived") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("flipped byte in an archived message", func(t *testing.T) {
		dir := copyDir(t, din.archives)
		seq := rewriteArchived(t, filepath.Join(dir, filepath.Base(din.files[1])), 0, false, func(c map[string][]byte) {
			msg := c[audit.EntryMessage]
			i := bytes.Index(msg, []byte("Body"))
			msg[i+10] ^= 0x01
		})
		code, out := verify(dir)
		if code != cli.ExitError || !strings.Contains(out, "record "+itoa(seq)+" ") || !strings.Contains(out, "is not the logged message (changed)") ||
			!strings.Contains(out, "does not match its SHA-256 in the manifest") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("token replaced inside an archive", func(t *testing.T) {
		dir := copyDir(t, din.archives)
		// A genuine token of another batch (from the newest archive).
		other := containerEntry(t, din.files[2], 0, audit.EntryToken)
		seq := rewriteArchived(t, filepath.Join(dir, filepath.Base(din.files[0])), 1, true, func(c map[string][]byte) { c[audit.EntryToken] = other })
		code, out := verify(dir)
		if code != cli.ExitError || !strings.Contains(out, "FAIL archive "+filepath.Base(din.files[0])+" record "+itoa(seq)+" ") ||
			!strings.Contains(out, "time-stamp token of batch") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		// The forger fixed the container's SHA-256, which changed the
		// manifest: the next archive no longer links to it.
		if !strings.Contains(out, "FAIL archive "+filepath.Base(din.files[1])) || !strings.Contains(out, "does not link to the previous archive") {
			t.Fatalf("manifest chain break not reported:\n%s", out)
		}
	})
	t.Run("damaged archive file", func(t *testing.T) {
		dir := copyDir(t, din.archives)
		p := filepath.Join(dir, filepath.Base(din.files[0]))
		data, _ := os.ReadFile(p)
		data[len(data)/3] ^= 0xff
		os.WriteFile(p, data, 0o644)
		code, out := verify(dir)
		if code != cli.ExitError || !strings.Contains(out, "FAIL archive "+filepath.Base(din.files[0])+" record ") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// containerEntry reads one entry of the pick-th container of an archive.
func containerEntry(t *testing.T, path string, pick int, name string) []byte {
	t.Helper()
	a, err := audit.OpenArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	outer, err := zr.Open(a.Manifest.Entries[pick].Name)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(outer)
	outer.Close()
	cr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := cr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, _ := io.ReadAll(f)
	return v
}

// syncBuffer is a log sink the server writes from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestArchiveCrashRecoveryAndRetention: a server that wrote an archive but
// crashed before pruning its live log (the archive is written here and the
// server stopped before pruning) leaves a state the auditor is told about;
// restarted, its background archiver completes the pruning from that
// archive (no second archive, no gap) and removes an unfinished temporary
// file; verify then passes. Retention removes the archive, noting it in the
// ledger, which verify accepts; an archive removed without the ledger is
// named.
func TestArchiveCrashRecoveryAndRetention(t *testing.T) {
	dir := t.TempDir()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	runQueriesStamped(t, f)
	emdk := agencyOf(t, f, "EMDK")
	cfg := *emdk.Config
	ml := emdk.Server.MessageLog()
	batches, err := ml.Archivable(time.Now(), 10000)
	if err != nil || len(batches) == 0 {
		t.Fatalf("archivable: %v %v", batches, err)
	}
	written, err := audit.WriteArchive(ml, cfg.MessageLog.Archive.Dir, "EMDK-ss1", cfg.Server.String(), batches, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The crash: the server stops before pruning.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	f.Close()
	garbage := filepath.Join(cfg.MessageLog.Archive.Dir, ".archive-123.tmp")
	os.WriteFile(garbage, []byte("PK half an archive"), 0o600)
	logPath := filepath.Join(cfg.DataDir, securityserver.FileMessageLog)
	pki := filepath.Join(dir, "pki")
	cas := []string{"--ca", filepath.Join(pki, "root-ca.pem"), "--ca", filepath.Join(pki, "ca.pem")}
	code, out, _ := runCLI(append([]string{"verify", "--archives", cfg.MessageLog.Archive.Dir, "--log", logPath}, cas...)...)
	if code != cli.ExitError || !strings.Contains(out, "archiving was interrupted before pruning") {
		t.Fatalf("verify of the interrupted state: exit %d\n%s", code, out)
	}

	// Restart the server alone with a background archiver that runs every
	// second (the registry is gone: it starts from its cached configuration).
	cfg.MessageLog.Archive.After = config.Duration(time.Second)
	cfg.MessageLog.Archive.Interval = config.Duration(time.Second)
	cfg.Limits.ReplayWindow = config.Duration(time.Second) // after must not be shorter
	if err := cfg.Provision(); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	srv, err := securityserver.New(&cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl, _ := net.Listen("tcp", "127.0.0.1:0")
	sl, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, cl, sl) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := srv.MessageLog().Archived()
		if err == nil && a != nil {
			if a.File != filepath.Base(written.Path) || a.LastSeq != written.Manifest.LastSeq {
				t.Fatalf("anchor %+v, want the archive written before the crash %s", a, written.Path)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted archiver did not complete the pruning; its log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if !strings.Contains(logs.String(), "completed an archive interrupted before the live log was pruned") {
		t.Errorf("no operator line about the completed archive:\n%s", logs.String())
	}
	names, _ := audit.ListArchives(cfg.MessageLog.Archive.Dir)
	if len(names) != 1 || names[0] != filepath.Base(written.Path) {
		t.Fatalf("archives after recovery: %v (want only %s)", names, written.Path)
	}
	if _, err := os.Stat(garbage); !os.IsNotExist(err) {
		t.Errorf("unfinished temporary file not removed: %v", err)
	}
	code, out, _ = runCLI(append([]string{"verify", "--archives", cfg.MessageLog.Archive.Dir, "--log", logPath}, cas...)...)
	if code != cli.ExitOK || !strings.HasPrefix(out, "1 archives, ") {
		t.Fatalf("verify after recovery: exit %d\n%s", code, out)
	}

	// Retention (2 s here): the running server's archiver removes the
	// archive, noted in the ledger first, and says so.
	cfg.MessageLog.Archive.Retention = config.Duration(2 * time.Second)
	var retLogs syncBuffer
	if srv, err = securityserver.New(&cfg, slog.New(slog.NewTextHandler(&retLogs, nil))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cl, _ = net.Listen("tcp", "127.0.0.1:0")
	sl, _ = net.Listen("tcp", "127.0.0.1:0")
	go func() { done <- srv.Serve(ctx, cl, sl) }()
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(retLogs.String(), "retention removed an archive") {
		if time.Now().After(deadline) {
			t.Fatalf("retention did not remove the archive; server log:\n%s", retLogs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := os.Stat(written.Path); !os.IsNotExist(err) {
		t.Fatalf("retention left the file: %v", err)
	}
	if !strings.Contains(retLogs.String(), "file="+filepath.Base(written.Path)) {
		t.Errorf("the retention line does not name the file:\n%s", retLogs.String())
	}
	code, out, _ = runCLI(append([]string{"verify", "--archives", cfg.MessageLog.Archive.Dir, "--log", logPath}, cas...)...)
	if code != cli.ExitOK || !strings.Contains(out, "removed by retention") {
		t.Fatalf("verify after retention: exit %d\n%s", code, out)
	}
	// Without the ledger the same removal is a gap, named.
	os.Remove(filepath.Join(cfg.MessageLog.Archive.Dir, audit.RetentionLedger))
	code, out, _ = runCLI(append([]string{"verify", "--archives", cfg.MessageLog.Archive.Dir, "--log", logPath}, cas...)...)
	if code != cli.ExitError || !strings.Contains(out, "record 1: records 1..") {
		t.Fatalf("verify without the ledger: exit %d\n%s", code, out)
	}
}
