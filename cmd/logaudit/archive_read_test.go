package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// loggedRecord is what the server logged, read from its live log before
// any archiving: the oracle the auditor's view is compared with.
type loggedRecord struct {
	seq     uint64
	time    time.Time
	kind    string
	id      string
	message []byte
}

// splitHistory is DİN's history after archiving part of it: archive
// files[0] holds the first round of exchanges, files[1] only the request
// of the first exchange of the second round (whose response stays in the
// live log), and the live log the rest.
type splitHistory struct {
	log, archives string
	files         []string
	logged        []loggedRecord // every record, in sequence order
	archivedID    string         // an exchange wholly in files[0]
	splitID       string         // the exchange split between files[1] and the live log
	liveID        string         // an exchange wholly in the live log
	pkiDir        string
}

func (h *splitHistory) byID(id string) (req, resp loggedRecord) {
	for _, r := range h.logged {
		if r.id == id && r.kind == "request" {
			req = r
		}
		if r.id == id && r.kind == "response" {
			resp = r
		}
	}
	return req, resp
}

// federationSplitHistory runs three rounds of the sample queries through a
// local federation, DİN's server time-stamping every record in a batch of
// its own (so that an archive may end between a request and its response),
// and archives as splitHistory describes.
func federationSplitHistory(t *testing.T) *splitHistory {
	t.Helper()
	dir := t.TempDir()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
	}()
	if err := f.RestartAgency("DIN", func(c *config.Config) { c.Timestamping.MaxBatch = 1 }); err != nil {
		t.Fatal(err)
	}
	din := agencyOf(t, f, "DIN")
	h := &splitHistory{archives: din.Config.MessageLog.Archive.Dir, log: filepath.Join(din.Config.DataDir, securityserver.FileMessageLog),
		pkiDir: filepath.Join(dir, "pki")}
	// logRound reads the records the round added, before they are archived.
	logRound := func() []loggedRecord {
		var next uint64 = 1
		if n := len(h.logged); n > 0 {
			next = h.logged[n-1].seq + 1
		}
		var round []loggedRecord
		err := din.Server.MessageLog().Each(next, func(r *messagelog.Record, _ []byte) error {
			round = append(round, loggedRecord{seq: r.Seq, time: r.Time, kind: r.Kind.String(), id: r.MessageID, message: append([]byte(nil), r.Message...)})
			return nil
		})
		if err != nil || len(round) < 4 {
			t.Fatalf("DIN's log after a round: %d records, %v", len(round), err)
		}
		h.logged = append(h.logged, round...)
		return round
	}
	archive := func(cutoff time.Time, wantLast uint64) {
		files, err := din.Server.ArchiveNow(cutoff)
		if err != nil || len(files) != 1 {
			t.Fatalf("ArchiveNow: %v %v", files, err)
		}
		a, err := audit.OpenArchive(files[0])
		if err != nil {
			t.Fatal(err)
		}
		last := a.Manifest.LastSeq
		a.Close()
		if last != wantLast {
			t.Fatalf("archive %s ends at record %d, want %d", files[0], last, wantLast)
		}
		h.files = append(h.files, files[0])
	}

	runQueriesStamped(t, f)
	round := logRound()
	h.archivedID = round[0].id
	archive(time.Now(), round[len(round)-1].seq)

	runQueriesStamped(t, f)
	round = logRound()
	if round[0].kind != "request" || round[1].kind != "response" || round[1].id != round[0].id {
		t.Fatalf("round 2 does not start with one exchange's request and response: %+v", round[:2])
	}
	h.splitID = round[0].id
	archive(round[1].time, round[0].seq) // everything logged before the response

	runQueriesStamped(t, f)
	round = logRound()
	h.liveID = round[0].id
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	closed = true
	f.Close()
	return h
}

// checkExported checks an exported container as a court or a peer agency
// would, with independent tools: it holds the logged message and passes
// the README's recipe (checkIndependent).
func checkExported(t *testing.T, container, pkiDir string, logged []byte) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "c")
	unzip(t, container, dir)
	if msg, _ := os.ReadFile(filepath.Join(dir, "message.xml")); !bytes.Equal(msg, logged) {
		t.Fatalf("%s: message.xml is not the logged message:\n%s", container, msg)
	}
	checkIndependent(t, container, pkiDir)
}

// archivedContainer is the container of record seq as the archive file
// holds it.
func archivedContainer(t *testing.T, archive string, seq uint64) []byte {
	t.Helper()
	a, err := audit.OpenArchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	name := ""
	for _, e := range a.Manifest.Entries {
		if e.Seq == seq {
			name = e.Name
		}
	}
	a.Close()
	zr, err := zip.OpenReader(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open(name)
	if err != nil {
		t.Fatalf("record %d in %s: %v", seq, archive, err)
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	return data
}

// replayed is one line of replay's table.
type replayed struct {
	seq      uint64
	kind, id string
	in       string
}

func parseReplay(t *testing.T, out string) []replayed {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "SEQ") {
		t.Fatalf("replay: no table:\n%s", out)
	}
	var rows []replayed
	for _, l := range lines[1:] {
		fs := strings.Fields(l)
		if len(fs) < 8 {
			t.Fatalf("replay line %q", l)
		}
		seq, err := strconv.ParseUint(fs[0], 10, 64)
		if err != nil {
			t.Fatalf("replay line %q: %v", l, err)
		}
		rows = append(rows, replayed{seq: seq, kind: fs[3], id: fs[4], in: strings.Join(fs[8:], " ")})
	}
	return rows
}

// TestArchivedExchangesShowExportReplay: after DİN's server moved part of
// its log into archives, one of them ending between an exchange's request
// and its response, the auditor reads archives and live log as one
// history: show prints both sides of an archived and of a split exchange,
// export writes containers that xmlsec1, logaudit proof and openssl ts
// accept (the archived ones byte for byte as archived), and replay lists
// every record once, in order, also over a time range spanning archives
// and log and when archiving was interrupted before pruning.
func TestArchivedExchangesShowExportReplay(t *testing.T) {
	h := federationSplitHistory(t)
	split := h.files[1]
	splitSeq := h.logged[0].seq
	for _, r := range h.logged {
		if r.id == h.splitID && r.kind == "request" {
			splitSeq = r.seq
		}
	}
	src := []string{"--archives", h.archives, "--log", h.log}

	t.Run("show an archived exchange", func(t *testing.T) {
		req, resp := h.byID(h.archivedID)
		// The live log no longer has it.
		if code, _, errOut := runCLI("show", "--log", h.log, "--id", h.archivedID); code != cli.ExitError || !strings.Contains(errOut, "no record with message id") ||
			!strings.Contains(errOut, "were moved from this log to archives (the last is "+filepath.Base(split)+"): add --archives DIR") {
			t.Fatalf("show --log of an archived exchange: exit %d %s", code, errOut)
		}
		for _, args := range [][]string{src, {"--archives", h.archives}} {
			code, out, errOut := runCLI(append(append([]string{"show"}, args...), "--id", h.archivedID)...)
			if code != cli.ExitOK {
				t.Fatalf("show %v: exit %d %s", args, code, errOut)
			}
			want := []string{fmt.Sprintf("== record %d: ", req.seq), fmt.Sprintf("== record %d: ", resp.seq), string(req.message), string(resp.message),
				"archived in " + filepath.Base(h.files[0])}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Fatalf("show %v: %q missing in\n%s", args, w, out)
				}
			}
			if strings.Count(out, "== record ") != 2 || strings.Index(out, string(req.message)) > strings.Index(out, string(resp.message)) {
				t.Fatalf("show %v: want the request, then the response:\n%s", args, out)
			}
		}
	})
	t.Run("show an exchange split between an archive and the live log", func(t *testing.T) {
		req, resp := h.byID(h.splitID)
		code, out, errOut := runCLI(append(append([]string{"show"}, src...), "--id", h.splitID)...)
		if code != cli.ExitOK || strings.Count(out, "== record ") != 2 || !strings.Contains(out, string(req.message)) || !strings.Contains(out, string(resp.message)) {
			t.Fatalf("show: exit %d %s\n%s", code, errOut, out)
		}
		reqPart, respPart, _ := strings.Cut(out, fmt.Sprintf("== record %d: ", resp.seq))
		if !strings.Contains(reqPart, "archived in "+filepath.Base(split)) || strings.Contains(respPart, "archived in") {
			t.Fatalf("show: the request is in %s, the response in the live log:\n%s", split, out)
		}
		// The archives alone have only the request.
		code, out, _ = runCLI("show", "--archives", h.archives, "--id", h.splitID)
		if code != cli.ExitOK || strings.Count(out, "== record ") != 1 || !strings.Contains(out, "request") {
			t.Fatalf("show --archives: exit %d\n%s", code, out)
		}
	})
	t.Run("export archived and split exchanges", func(t *testing.T) {
		for _, id := range []string{h.archivedID, h.splitID, h.liveID} {
			req, resp := h.byID(id)
			out := t.TempDir()
			code, stdout, errOut := runCLI(append(append([]string{"export"}, src...), "--id", id, "--out", out)...)
			if code != cli.ExitOK || strings.Count(stdout, "wrote") != 2 {
				t.Fatalf("export %s: exit %d %s %s", id, code, stdout, errOut)
			}
			for _, r := range []loggedRecord{req, resp} {
				p := filepath.Join(out, id+"-"+r.kind+".asice")
				checkExported(t, p, h.pkiDir, r.message)
				got, _ := os.ReadFile(p)
				for i, f := range h.files {
					if id == h.archivedID && i == 0 || id == h.splitID && i == 1 && r.kind == "request" {
						if !bytes.Equal(got, archivedContainer(t, f, r.seq)) {
							t.Errorf("%s: not the container archived in %s, byte for byte", p, f)
						}
					}
				}
			}
		}
		// An existing file is not overwritten.
		out := t.TempDir()
		os.WriteFile(filepath.Join(out, h.archivedID+"-request.asice"), []byte("earlier evidence"), 0o644)
		if code, _, errOut := runCLI(append(append([]string{"export"}, src...), "--id", h.archivedID, "--out", out)...); code != cli.ExitError || !strings.Contains(errOut, "exists") {
			t.Fatalf("export over an existing file: exit %d %s", code, errOut)
		}
		if b, _ := os.ReadFile(filepath.Join(out, h.archivedID+"-request.asice")); string(b) != "earlier evidence" {
			t.Fatal("export overwrote an existing file")
		}
	})
	t.Run("replay lists archives and live log as one history", func(t *testing.T) {
		code, out, errOut := runCLI(append([]string{"replay"}, src...)...)
		if code != cli.ExitOK {
			t.Fatalf("replay: exit %d %s", code, errOut)
		}
		rows := parseReplay(t, out)
		if len(rows) != len(h.logged) {
			t.Fatalf("replay: %d records, the server logged %d:\n%s", len(rows), len(h.logged), out)
		}
		for i, r := range rows {
			l := h.logged[i]
			in := "live log"
			switch {
			case l.seq <= splitSeq-1:
				in = filepath.Base(h.files[0])
			case l.seq == splitSeq:
				in = filepath.Base(split)
			}
			if r.seq != l.seq || r.id != l.id || r.kind != l.kind || r.in != in {
				t.Fatalf("replay line %d: %+v, want record %d %s %s in %s:\n%s", i+1, r, l.seq, l.kind, l.id, in, out)
			}
		}
		// A range from the middle of the first archive into the live log.
		from, to := h.logged[2].time, h.logged[len(h.logged)-3].time
		code, out, errOut = runCLI(append([]string{"replay", "--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano)}, src...)...)
		if code != cli.ExitOK {
			t.Fatalf("replay --from --to: exit %d %s", code, errOut)
		}
		var want []uint64
		for _, l := range h.logged {
			if !l.time.Before(from) && !l.time.After(to) {
				want = append(want, l.seq)
			}
		}
		rows = parseReplay(t, out)
		var got []uint64
		for _, r := range rows {
			got = append(got, r.seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || got[0] != 3 {
			t.Fatalf("replay --from %s --to %s: records %v, want %v", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), got, want)
		}
	})
	t.Run("interrupted archiving: records in an archive and the live log are listed once", func(t *testing.T) {
		// The server wrote the next archive but stopped before pruning.
		dir := copyDir(t, h.archives)
		logCopy := filepath.Join(t.TempDir(), "messagelog.db")
		data, _ := os.ReadFile(h.log)
		os.WriteFile(logCopy, data, 0o600)
		l, err := messagelog.Open(logCopy, messagelog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		batches, err := l.Archivable(time.Now(), 3)
		anchor, _ := l.Archived()
		first, ferr := audit.OpenArchive(h.files[0])
		if ferr != nil {
			t.Fatal(ferr)
		}
		first.Close()
		var res *audit.ArchiveResult
		if err == nil {
			res, err = audit.WriteArchive(l, dir, "DIN-ss1", first.Manifest.Server, batches, anchor, time.Now())
		}
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI("replay", "--archives", dir, "--log", logCopy)
		rows := parseReplay(t, out)
		if code != cli.ExitOK || len(rows) != len(h.logged) {
			t.Fatalf("replay: exit %d %s, %d records, want %d:\n%s", code, errOut, len(rows), len(h.logged), out)
		}
		for i, r := range rows {
			want := "live log"
			if r.seq >= res.Manifest.FirstSeq && r.seq <= res.Manifest.LastSeq {
				want = filepath.Base(res.Path)
			}
			if r.seq != h.logged[i].seq || (r.seq > splitSeq && r.in != want) {
				t.Fatalf("replay line %d: %+v (want record %d in %s):\n%s", i+1, r, h.logged[i].seq, want, out)
			}
		}
	})
	t.Run("a file that is not an archive", func(t *testing.T) {
		empty := t.TempDir()
		for _, c := range []struct {
			name    string
			content func() []byte
		}{
			{"notes.zip", func() []byte { return []byte("not a zip at all") }},
			{"DIN-ss1-20261125T000000Z-90-99.zip", func() []byte {
				var b bytes.Buffer
				zw := zip.NewWriter(&b)
				w, _ := zw.Create("report.txt")
				io.WriteString(w, "a zip, but no manifest")
				zw.Close()
				return b.Bytes()
			}},
		} {
			dir := copyDir(t, h.archives)
			os.WriteFile(filepath.Join(dir, c.name), c.content(), 0o644)
			for _, args := range [][]string{
				{"replay", "--archives", dir, "--log", h.log},
				{"show", "--archives", dir, "--id", h.archivedID},
				{"export", "--archives", dir, "--id", h.archivedID, "--out", empty},
			} {
				code, out, errOut := runCLI(args...)
				if code != cli.ExitError || !strings.Contains(errOut, c.name+" is not a Şlüz message log archive") || out != "" {
					t.Fatalf("%s with %s in the directory: exit %d, stderr %q, stdout %q", args[0], c.name, code, errOut, out)
				}
			}
		}
		if ents, _ := os.ReadDir(empty); len(ents) != 0 {
			t.Fatalf("export wrote %d files from a directory it refused", len(ents))
		}
		// The newest archive is missing: replay says which records it lacks.
		dir := copyDir(t, h.archives)
		os.Remove(filepath.Join(dir, filepath.Base(split)))
		code, out, errOut := runCLI("replay", "--archives", dir, "--log", h.log)
		if code != cli.ExitOK || len(parseReplay(t, out)) != len(h.logged)-1 ||
			!strings.Contains(errOut, fmt.Sprintf("records %d..%d were moved from this log to archives (the last is %s), but are not in %s", splitSeq, splitSeq, filepath.Base(split), dir)) {
			t.Fatalf("replay without the newest archive: exit %d %s\n%s", code, errOut, out)
		}
		// A wrong log is refused before anything is listed.
		code, out, errOut = runCLI("replay", "--archives", h.archives, "--log", filepath.Join(t.TempDir(), "nope.db"))
		if code != cli.ExitError || out != "" {
			t.Fatalf("replay with a missing log: exit %d %s\n%s", code, errOut, out)
		}
		code, _, errOut = runCLI("replay", "--archives", h.files[0])
		if code != cli.ExitError || !strings.Contains(errOut, "is a file, not a directory") {
			t.Fatalf("replay --archives FILE: exit %d %s", code, errOut)
		}
		code, _, errOut = runCLI("show", "--archives", t.TempDir(), "--id", h.archivedID)
		if code != cli.ExitError || !strings.Contains(errOut, "no archive files (*.zip) in") {
			t.Fatalf("show --archives EMPTY: exit %d %s", code, errOut)
		}
		code, _, errOut = runCLI("export", "--id", h.archivedID)
		if code != cli.ExitUsage || !strings.Contains(errOut, "--log FILE or --archives DIR") {
			t.Fatalf("export without a source: exit %d %s", code, errOut)
		}
	})
}
