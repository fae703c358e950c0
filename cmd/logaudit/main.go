// Command logaudit is the auditor's tool: it verifies a security server's
// message log offline, trusting only the federation CA certificates it is
// given, and lists and shows the exchanges in it.
//
// Run `logaudit help` for the commands.
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/pglog"
)

var program = &cli.Program{
	Name:  "logaudit",
	Intro: "logaudit: verify and read a Şlüz security server's message log, offline.",
	Footer: `
The log is dataDir/messagelog.db of a stopped security server (or a copy);
its archives are in dataDir/archive unless messageLog.archive.dir says otherwise.
--ca names the federation's CA certificates (root and issuing CA, PEM);
nothing else is trusted. replay, show and export read --log, --archives or
both as one history; they do not verify it (run verify for that).
`,
	Commands: []cli.Command{
		{Name: "verify", Args: "[--log FILE | --postgres DSN] [--archives DIR] --ca root-ca.pem [--ca ca.pem] [--json] | --xroad PATH... [--ca CA.pem...] [--tsa-ca TSA.pem...] [--json]",
			Summary: "verify every record of a live log and/or a directory of archives (signature, signer, OCSP, hash chain across records and archives, time-stamp), or X-Road's ASiC-E containers and message-log archives (--xroad); exit 0 only if all pass", Run: runVerify,
			Details: xroadDetails,
			Example: `logaudit verify --log state/DIN/ss/messagelog.db --archives state/DIN/ss/archive --ca state/pki/root-ca.pem --ca state/pki/ca.pem
logaudit verify --postgres 'postgres://auditor@db.din.gov.az/sluz_din?sslmode=verify-full' --ca state/pki/root-ca.pem --ca state/pki/ca.pem
logaudit verify --xroad /var/lib/xroad/mlog-20231023121255-20231023121609-c7a7bc866bb45efc.zip --ca xroad-ca.pem --tsa-ca xroad-tsa.pem`},
		{Name: "replay", Args: "[--log FILE] [--archives DIR] [--from TIME] [--to TIME]",
			Summary: "list the logged messages in a time range, from a live log and/or its archives as one history in record order", Run: runReplay,
			Example: "logaudit replay --log state/DIN/ss/messagelog.db --from 2026-11-25T10:00:00Z --to 2026-11-25T11:00:00Z"},
		{Name: "show", Args: "[--log FILE] [--archives DIR] --id MESSAGE-ID | --xroad PATH... [--id QUERY-ID]",
			Summary: "print the logged request and response of one exchange, wherever they are (live log or archives), or X-Road containers' messages, attachments, signer and times (--xroad, as verify reads them)", Run: runShow,
			Example: `logaudit show --log state/DIN/ss/messagelog.db --id 84946996-4b92-4a90-9260-bef01f1ad6f2
logaudit show --xroad mlog-20231023121255-20231023121609-c7a7bc866bb45efc.zip --id ID1234`},
		{Name: "export", Args: "[--log FILE] [--archives DIR] --id MESSAGE-ID --out DIR",
			Summary: "write an exchange's request and response as ASiC-E containers (for a court or a peer agency); an archived record's container is copied from its archive unchanged", Run: runExport,
			Example: "logaudit export --log state/DIN/ss/messagelog.db --archives state/DIN/ss/archive --id 84946996-4b92-4a90-9260-bef01f1ad6f2 --out evidence"},
		{Name: "proof", Args: "FILE.asice", Summary: "check how a container reaches its time-stamp (its signature hash chain, if any, and X-Road's time-stamp hash chain, or an older container's Merkle proof) and print the openssl ts command for its token", Run: runProof,
			Example: "logaudit proof evidence/84946996-4b92-4a90-9260-bef01f1ad6f2-request.asice"},
	},
}

func main() { os.Exit(program.Main(os.Args[1:], os.Stdout, os.Stderr)) }

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runVerify(env *cli.Env, args []string) error {
	fs := env.Flags()
	logPath := fs.String("log", "", "message log file (messagelog.db)")
	pgDSN := fs.String("postgres", "", "message log on PostgreSQL: the DSN of its database (messageLog.postgres.dsn; a role that may only SELECT suffices), read in read-only transactions; instead of --log")
	archives := fs.String("archives", "", "directory of the server's archive files (dataDir/archive); with --log, the log must continue them")
	var cas stringList
	fs.Var(&cas, "ca", "federation CA certificate (PEM); repeat for root and issuing CA")
	freshness := fs.Duration("ocsp-freshness", time.Hour, "oldest an OCSP response may be at signing time")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var xroad, tsaCAs stringList
	fs.Var(&xroad, "xroad", "X-Road container (.asice), directory of them, or zip of them (X-Road's message-log archive); repeatable; instead of --log/--archives")
	fs.Var(&tsaCAs, "tsa-ca", "with --xroad: a time-stamping authority's certificate (PEM), trusted as it is; repeatable")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if len(xroad) > 0 {
		if *logPath != "" || *archives != "" || *pgDSN != "" {
			return cli.Usagef("--xroad reads X-Road's containers, --log and --archives a Şlüz log: run verify once for each")
		}
		opts, err := xroadTrust(cas, tsaCAs)
		if err != nil {
			return err
		}
		opts.OCSPFreshness = *freshness
		return verifyXRoad(env, xroad, opts, *asJSON)
	}
	if len(tsaCAs) > 0 {
		return cli.Usagef("--tsa-ca is for --xroad; a Şlüz log's TSA chains to --ca")
	}
	if *logPath != "" && *pgDSN != "" {
		return cli.Usagef("--log reads a log file, --postgres a log on PostgreSQL: give one")
	}
	if (*logPath == "" && *archives == "" && *pgDSN == "") || len(cas) == 0 {
		return cli.Usagef("--log or --postgres, or --archives (or both), and at least one --ca, are required (or --xroad PATH for X-Road's containers)")
	}
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool(), OCSPFreshness: *freshness}
	for _, f := range cas {
		certs, err := pkiutil.ReadCertificates(f)
		if err != nil {
			return err
		}
		for _, c := range certs {
			if c.CheckSignatureFrom(c) == nil {
				trust.Roots.AddCert(c)
			} else {
				trust.Intermediates.AddCert(c)
			}
		}
	}
	// Progress on a terminal only: not into files, pipes or --json.
	var progress func(done, total int)
	meter := newProgress(env.Err, *asJSON)
	if meter != nil {
		progress = meter.update
	}
	var rep *audit.Report
	var err error
	var pg *pglog.Log
	if *pgDSN != "" {
		if pg, err = pglog.OpenReadOnly(context.Background(), *pgDSN); err != nil {
			return err
		}
		defer pg.Close()
	}
	switch {
	case pg != nil && *archives == "":
		rep, err = audit.VerifyStore(pg, trust, progress)
	case pg != nil:
		rep, err = audit.VerifyArchivesAndStore(*archives, "the log on PostgreSQL", pg, trust, progress)
	case *archives == "":
		rep, err = audit.VerifyLog(*logPath, trust, progress)
	case *logPath == "":
		rep, _, err = audit.VerifyArchives(*archives, trust)
	default:
		rep, err = audit.VerifyArchivesAndLog(*archives, *logPath, trust, progress)
	}
	if meter != nil {
		meter.finish()
	}
	if err != nil {
		return err
	}
	if *logPath == "" && pg == nil && rep.Archives == 0 && rep.Retired == 0 && rep.OK() {
		return fmt.Errorf("no archive files (*.zip) in %s: give the server's archive directory (messageLog.archive.dir, default dataDir/archive)", *archives)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		if *archives != "" {
			fmt.Fprintf(env.Out, "%d archives", rep.Archives)
			if rep.Retired > 0 {
				fmt.Fprintf(env.Out, " (and %d records in archives removed by retention, per the ledger)", rep.Retired)
			}
			fmt.Fprint(env.Out, ", ")
		}
		fmt.Fprintf(env.Out, "%d records, %d verified, %d failed checks, %d time-stamp batches, %d records not yet time-stamped\n",
			rep.Records, rep.Verified, len(rep.Failures), rep.Batches, rep.Unstamped)
		if rep.Records > 0 {
			fmt.Fprintf(env.Out, "records from %s to %s\n", rep.First.Format(time.RFC3339), rep.Last.Format(time.RFC3339))
		}
		if rep.ArchivedThrough > 0 && *archives == "" {
			fmt.Fprintf(env.Out, "records 1..%d were moved to archives (the last is %s): verify them with --archives DIR\n", rep.ArchivedThrough, rep.LastArchive)
		}
		for _, f := range rep.Failures {
			id := ""
			if f.MessageID != "" {
				id = " (message " + f.MessageID + ")"
			}
			where := ""
			if f.Archive != "" {
				where = "archive " + f.Archive + " "
			}
			fmt.Fprintf(env.Out, "FAIL %srecord %d%s: %s\n", where, f.Seq, id, f.Reason)
		}
	}
	if !rep.OK() {
		return fmt.Errorf("%d checks failed", len(rep.Failures))
	}
	if !*asJSON {
		fmt.Fprintln(env.Out, "OK")
	}
	return nil
}

func parseTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, cli.Usagef("--%s %q: use RFC 3339 (2026-11-25T10:00:00Z) or a date (2026-11-25)", flagName, v)
}

// historyFlags are the sources replay, show and export read: a live log,
// a directory of archives, or both.
type historyFlags struct{ log, archives *string }

func addHistoryFlags(fs *flag.FlagSet) historyFlags {
	return historyFlags{
		log:      fs.String("log", "", "message log file (messagelog.db)"),
		archives: fs.String("archives", "", "directory of the server's archive files (dataDir/archive); with --log, read as one history with the live log"),
	}
}

// historyRecord is one record of the history, from an archive or the live
// log.
type historyRecord struct {
	*messagelog.Record
	stored    []byte
	archive   string          // the archive file that holds it; "" for the live log
	container []byte          // its container as archived
	log       *messagelog.Log // the live log, for a live record
}

func (h *historyRecord) source() string {
	if h.archive != "" {
		return h.archive
	}
	return "live log"
}

// eachRecord calls fn for every record of the history the query selects:
// the archives' records, then the live log's after them, in sequence order
// and each once (a record still in the log after being archived, as when
// archiving was interrupted before pruning, is given from its archive). It
// returns what it read, for messages. It verifies nothing (verify does).
// Records the log moved to archives that were not read are noted on note.
func eachRecord(src historyFlags, q audit.ArchiveQuery, note io.Writer, fn func(*historyRecord) error) (string, error) {
	logPath, dir := *src.log, *src.archives
	if logPath == "" && dir == "" {
		return "", cli.Usagef("--log FILE or --archives DIR (or both) is required")
	}
	// Both sources are opened before anything is given, so that a wrong
	// one fails before output.
	var what []string
	var ar *audit.ArchiveReader
	var from uint64
	if dir != "" {
		var err error
		if ar, err = audit.OpenArchiveDir(dir); err != nil {
			return "", err
		}
		if len(ar.Files()) == 0 && logPath == "" {
			return "", fmt.Errorf("no archive files (*.zip) in %s: give the server's archive directory (messageLog.archive.dir, default dataDir/archive)", dir)
		}
		what = append(what, fmt.Sprintf("%d archives in %s", len(ar.Files()), dir))
		from = ar.LastSeq() + 1
	}
	var l *messagelog.Log
	if logPath != "" {
		var err error
		if l, err = messagelog.OpenReadOnly(logPath); err != nil {
			return "", err
		}
		defer l.Close()
		what = append(what, logPath)
		// Records the log says it moved to archives that are not read.
		switch anchor, err := l.Archived(); {
		case err != nil:
			return "", err
		case anchor == nil:
		case dir == "":
			fmt.Fprintf(note, "note: records 1..%d were moved from this log to archives (the last is %s): add --archives DIR to include them\n", anchor.LastSeq, anchor.File)
		case anchor.LastSeq >= from:
			fmt.Fprintf(note, "note: records %d..%d were moved from this log to archives (the last is %s), but are not in %s\n", from, anchor.LastSeq, anchor.File, dir)
		}
	}
	if ar != nil {
		err := ar.Each(q, func(a *audit.ArchivedRecord) error {
			return fn(&historyRecord{Record: a.Record, stored: a.Stored, archive: a.Archive, container: a.Container})
		})
		if err != nil {
			return "", err
		}
	}
	if l != nil {
		err := l.Each(from, func(r *messagelog.Record, stored []byte) error {
			if (q.MessageID != "" && r.MessageID != q.MessageID) ||
				(!q.From.IsZero() && r.Time.Before(q.From)) || (!q.To.IsZero() && r.Time.After(q.To)) {
				return nil
			}
			return fn(&historyRecord{Record: r, stored: stored, log: l})
		})
		if err != nil {
			return "", err
		}
	}
	return strings.Join(what, " and "), nil
}

func runReplay(env *cli.Env, args []string) error {
	fs := env.Flags()
	src := addHistoryFlags(fs)
	fromFlag := fs.String("from", "", "first time (RFC 3339 or date)")
	toFlag := fs.String("to", "", "last time (RFC 3339 or date)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	from, err := parseTime("from", *fromFlag)
	if err != nil {
		return err
	}
	to, err := parseTime("to", *toFlag)
	if err != nil {
		return err
	}
	withSource := *src.archives != ""
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	head := "SEQ\tTIME\tSIDE\tKIND\tMESSAGE ID\tCLIENT\tSERVICE\tBYTES"
	if withSource {
		head += "\tIN"
	}
	fmt.Fprintln(tw, head)
	_, err = eachRecord(src, audit.ArchiveQuery{From: from, To: to}, env.Err, func(r *historyRecord) error {
		size := "digest only"
		if r.Message != nil {
			size = fmt.Sprint(len(r.Message))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Seq, r.Time.Format(time.RFC3339Nano), r.Side, r.Kind, r.MessageID, r.Client, r.Service, size)
		if withSource {
			fmt.Fprintf(tw, "\t%s", r.source())
		}
		fmt.Fprintln(tw)
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

func runShow(env *cli.Env, args []string) error {
	fs := env.Flags()
	src := addHistoryFlags(fs)
	id := fs.String("id", "", "the message id (xrd:id) of the exchange; with --xroad, only the containers named ID-… (X-Road names them QUERY-ID-request-….asice)")
	var xroad stringList
	fs.Var(&xroad, "xroad", "X-Road container (.asice), directory of them, or zip of them (X-Road's message-log archive); repeatable; instead of --log/--archives")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if len(xroad) > 0 {
		if *src.log != "" || *src.archives != "" {
			return cli.Usagef("--xroad reads X-Road's containers, --log and --archives a Şlüz log: run show once for each")
		}
		return showXRoad(env, xroad, *id)
	}
	return eachOfMessage(env, src, *id, func(r *historyRecord) error {
		fmt.Fprintf(env.Out, "== record %d: %s %s, %s\n   client %s, service %s, request id %s\n", r.Seq, r.Side, r.Kind, r.Time.Format(time.RFC3339Nano), r.Client, r.Service, r.RequestID)
		if r.archive != "" {
			fmt.Fprintf(env.Out, "   archived in %s\n", r.archive)
		}
		if r.Message != nil {
			fmt.Fprintf(env.Out, "%s\n", r.Message)
		} else {
			fmt.Fprintf(env.Out, "   (body not logged; SHA-512 %x)\n", r.MessageDigest)
		}
		return nil
	})
}

// eachOfMessage calls fn for every record of the exchange with message id
// id, wherever it is, and fails if there is none.
func eachOfMessage(env *cli.Env, src historyFlags, id string, fn func(r *historyRecord) error) error {
	if id == "" {
		return cli.Usagef("--id is required")
	}
	found := 0
	what, err := eachRecord(src, audit.ArchiveQuery{MessageID: id}, env.Err, func(r *historyRecord) error {
		found++
		return fn(r)
	})
	if err == nil && found == 0 {
		err = fmt.Errorf("no record with message id %q in %s", id, what)
	}
	return err
}

func runExport(env *cli.Env, args []string) error {
	fs := env.Flags()
	src := addHistoryFlags(fs)
	id := fs.String("id", "", "the message id (xrd:id) of the exchange")
	out := fs.String("out", ".", "directory for MESSAGE-ID-request.asice and MESSAGE-ID-response.asice")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return eachOfMessage(env, src, *id, func(r *historyRecord) error {
		if r.Message == nil {
			return fmt.Errorf("record %d was logged as a digest only: no message to export", r.Seq)
		}
		name := filepath.Join(*out, fmt.Sprintf("%s-%s.asice", safeName(r.MessageID), r.Kind))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if r.archive != "" {
			// The archived container, unchanged: it carries the signature,
			// the OCSP response, the batch's token and the proof.
			_, err = f.Write(r.container)
		} else {
			err = audit.WriteContainer(f, r.log, r.Record, r.stored)
		}
		if err != nil {
			f.Close()
			os.Remove(name)
			return fmt.Errorf("record %d: %w", r.Seq, err)
		}
		if err := f.Close(); err != nil {
			os.Remove(name)
			return err
		}
		if r.archive != "" {
			fmt.Fprintln(env.Out, "wrote", name, "(as archived in "+r.archive+")")
		} else {
			fmt.Fprintln(env.Out, "wrote", name)
		}
		return nil
	})
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

func runProof(env *cli.Env, args []string) error {
	file, err := cli.ParseWithArg(env.Flags(), args)
	if err != nil {
		return err
	}
	if file == "" {
		return cli.Usagef("give one container file")
	}
	p, err := audit.CheckContainerProof(file)
	if err != nil {
		return err
	}
	if p.Legacy {
		fmt.Fprintf(env.Out, "the proof holds: the record is covered by Merkle root %s\n"+
			"check the token with: openssl ts -verify -token_in -in timestamp.tst -digest %s -sha256 -CAfile root-ca.pem -untrusted ca.pem\n", p.Root, p.Root)
		return nil
	}
	fmt.Fprintf(env.Out, "the time-stamp hash chain holds: ts-hashchainresult.xml (top %s) reaches META-INF/signatures.xml\n"+
		"check the token over it with: openssl ts -verify -token_in -in META-INF/timestamp.tst -data ts-hashchainresult.xml -CAfile root-ca.pem -untrusted ca.pem\n", p.Root)
	return nil
}
