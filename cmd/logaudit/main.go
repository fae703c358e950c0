// Command logaudit is the auditor's tool: it verifies a security server's
// message log offline, trusting only the federation CA certificates it is
// given, and lists and shows the exchanges in it.
//
// Run `logaudit help` for the commands.
package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/messagelog"
)

var program = &cli.Program{
	Name:  "logaudit",
	Intro: "logaudit: verify and read a Şlüz security server's message log, offline.",
	Footer: `
The log is dataDir/messagelog.db of a stopped security server (or a copy);
its archives are in dataDir/archive unless messageLog.archive.dir says otherwise.
--ca names the federation's CA certificates (root and issuing CA, PEM);
nothing else is trusted.
`,
	Commands: []cli.Command{
		{Name: "verify", Args: "[--log FILE] [--archives DIR] --ca root-ca.pem [--ca ca.pem] [--json]",
			Summary: "verify every record of a live log and/or a directory of archives: signature, signer, OCSP, hash chain across records and archives, time-stamp; exit 0 only if all pass", Run: runVerify},
		{Name: "replay", Args: "--log FILE [--from TIME] [--to TIME]", Summary: "list the logged messages in a time range", Run: runReplay},
		{Name: "show", Args: "--log FILE --id MESSAGE-ID", Summary: "print the logged request and response of one exchange", Run: runShow},
		{Name: "export", Args: "--log FILE --id MESSAGE-ID --out DIR", Summary: "write an exchange's request and response as ASiC-E containers (for a court or a peer agency)", Run: runExport},
		{Name: "proof", Args: "FILE.asice", Summary: "check a container's time-stamp proof and print the Merkle root its token covers", Run: runProof},
	},
}

func main() { os.Exit(program.Main(os.Args[1:], os.Stdout, os.Stderr)) }

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runVerify(env *cli.Env, args []string) error {
	fs := env.Flags("")
	logPath := fs.String("log", "", "message log file (messagelog.db)")
	archives := fs.String("archives", "", "directory of the server's archive files (dataDir/archive); with --log, the log must continue them")
	var cas stringList
	fs.Var(&cas, "ca", "federation CA certificate (PEM); repeat for root and issuing CA")
	freshness := fs.Duration("ocsp-freshness", time.Hour, "oldest an OCSP response may be at signing time")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if (*logPath == "" && *archives == "") || len(cas) == 0 {
		return cli.Usagef("--log or --archives (or both), and at least one --ca, are required")
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
	var progress func(done, total int)
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && !*asJSON {
		progress = func(done, total int) { fmt.Fprintf(os.Stderr, "\rverifying %d/%d records", done, total) }
	}
	var rep *audit.Report
	var err error
	switch {
	case *archives == "":
		rep, err = audit.VerifyLog(*logPath, trust, progress)
	case *logPath == "":
		rep, _, err = audit.VerifyArchives(*archives, trust)
	default:
		rep, err = audit.VerifyArchivesAndLog(*archives, *logPath, trust, progress)
	}
	if progress != nil {
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	if *logPath == "" && rep.Archives == 0 && rep.Retired == 0 && rep.OK() {
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

func openLog(path string) (*messagelog.Log, error) {
	if path == "" {
		return nil, cli.Usagef("--log FILE is required")
	}
	return messagelog.OpenReadOnly(path)
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

func runReplay(env *cli.Env, args []string) error {
	fs := env.Flags("")
	logPath := fs.String("log", "", "message log file")
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
	l, err := openLog(*logPath)
	if err != nil {
		return err
	}
	defer l.Close()
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tSIDE\tKIND\tMESSAGE ID\tCLIENT\tSERVICE\tBYTES")
	err = l.Each(0, func(r *messagelog.Record, _ []byte) error {
		if (!from.IsZero() && r.Time.Before(from)) || (!to.IsZero() && r.Time.After(to)) {
			return nil
		}
		size := "digest only"
		if r.Message != nil {
			size = fmt.Sprint(len(r.Message))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Format(time.RFC3339Nano), r.Side, r.Kind, r.MessageID, r.Client, r.Service, size)
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

func runShow(env *cli.Env, args []string) error {
	fs := env.Flags("")
	logPath := fs.String("log", "", "message log file")
	id := fs.String("id", "", "the message id (xrd:id) of the exchange")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return eachOfMessage(*logPath, *id, func(_ *messagelog.Log, r *messagelog.Record, _ []byte) error {
		fmt.Fprintf(env.Out, "== record %d: %s %s, %s\n   client %s, service %s, request id %s\n", r.Seq, r.Side, r.Kind, r.Time.Format(time.RFC3339Nano), r.Client, r.Service, r.RequestID)
		if r.Message != nil {
			fmt.Fprintf(env.Out, "%s\n", r.Message)
		} else {
			fmt.Fprintf(env.Out, "   (body not logged; SHA-512 %x)\n", r.MessageDigest)
		}
		return nil
	})
}

// eachOfMessage calls fn for every record of the exchange with message id
// id, and fails if there is none.
func eachOfMessage(logPath, id string, fn func(l *messagelog.Log, r *messagelog.Record, stored []byte) error) error {
	if id == "" {
		return cli.Usagef("--id is required")
	}
	l, err := openLog(logPath)
	if err != nil {
		return err
	}
	defer l.Close()
	found := 0
	err = l.Each(0, func(r *messagelog.Record, stored []byte) error {
		if r.MessageID != id {
			return nil
		}
		found++
		return fn(l, r, stored)
	})
	if err == nil && found == 0 {
		err = fmt.Errorf("no record with message id %q in %s", id, logPath)
	}
	return err
}

func runExport(env *cli.Env, args []string) error {
	fs := env.Flags("")
	logPath := fs.String("log", "", "message log file")
	id := fs.String("id", "", "the message id (xrd:id) of the exchange")
	out := fs.String("out", ".", "directory for MESSAGE-ID-request.asice and MESSAGE-ID-response.asice")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return eachOfMessage(*logPath, *id, func(l *messagelog.Log, r *messagelog.Record, stored []byte) error {
		name := filepath.Join(*out, fmt.Sprintf("%s-%s.asice", safeName(r.MessageID), r.Kind))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if err := audit.WriteContainer(f, l, r, stored); err != nil {
			f.Close()
			os.Remove(name)
			return fmt.Errorf("record %d: %w", r.Seq, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintln(env.Out, "wrote", name)
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
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return cli.Usagef("give one container file")
	}
	root, err := audit.CheckContainerProof(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "the proof holds: the record is covered by Merkle root %s\n"+
		"check the token with: openssl ts -verify -token_in -in timestamp.tst -digest %s -sha256 -CAfile root-ca.pem -untrusted ca.pem\n", root, root)
	return nil
}
