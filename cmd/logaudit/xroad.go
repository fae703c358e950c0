package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver/audit/asic"
)

// exitUntrusted is verify --xroad's exit code when no check failed but the
// trust check did not run (no --ca given): the containers are consistent,
// not shown to come from the federation.
const exitUntrusted = 3

const xroadDetails = `With --xroad, verify reads X-Road's ASiC-E containers instead of a Şlüz log:
PATH is a container (.asice), a directory (its .asice files, and each of its
.zip files), or a zip of containers (X-Road's message-log archive mlog-*.zip,
or the zip X-Road's /asic endpoint returns). A zip is taken for an archive
when it holds .asice entries or linkinginfo; any other file is a container.
Each container gets five checks, each reported on its own: format, signature
(and its hash chain), timestamp (token and time-stamp hash chain), ocsp,
trust. An archive's linkinginfo is checked too: every container's chained
digest in archive order, the same file names, and, when the archive it
continues is also given, that archive's last digest.

Trust: only the certificates given. --ca: the federation's CA certificates
(self-signed ones are trust anchors, others only complete chains); --tsa-ca:
time-stamping authorities' certificates, trusted as they are (as X-Road's
verification configuration does). With neither, trust and OCSP say "anchor
not given" and the other checks still run.

Exit codes with --xroad: 0 when no check of any container or archive failed
and every container's trust check ran and passed (a container not yet
time-stamped, or a zip without linkinginfo, is reported, not failed); 1 when
a check failed or a file could not be read; 3 when nothing failed but trust
was not checked (no --ca): consistent, but not shown to come from the
federation; 2 for a wrong command line.`

// xroadTrust reads the --ca and --tsa-ca files into asic options.
func xroadTrust(cas, tsaCAs []string) (asic.Options, error) {
	var opts asic.Options
	for _, f := range cas {
		certs, err := pkiutil.ReadCertificates(f)
		if err != nil {
			return opts, err
		}
		for _, c := range certs {
			if c.CheckSignatureFrom(c) == nil {
				opts.Anchors = append(opts.Anchors, c)
			} else {
				opts.Intermediates = append(opts.Intermediates, c)
			}
		}
	}
	for _, f := range tsaCAs {
		certs, err := pkiutil.ReadCertificates(f)
		if err != nil {
			return opts, err
		}
		opts.Anchors = append(opts.Anchors, certs...)
	}
	return opts, nil
}

// xroadContainer is one container's outcome in verify --xroad --json.
type xroadContainer struct {
	Source string `json:"source"`          // the file, directory or archive given
	Name   string `json:"name"`            // the container's file name
	Error  string `json:"error,omitempty"` // it could not be read
	*asic.Report
}

// xroadArchive is one archive's linking outcome.
type xroadArchive struct {
	Path        string     `json:"path"`
	Containers  int        `json:"containers"`
	Linking     asic.Check `json:"linking"`
	PrevArchive string     `json:"prevArchive,omitempty"`
	PrevDigest  string     `json:"prevDigest,omitempty"`
	LastDigest  string     `json:"lastDigest,omitempty"`
}

type xroadResult struct {
	Containers []xroadContainer `json:"containers"`
	Archives   []xroadArchive   `json:"archives,omitempty"`
	// Valid: no check failed and trust passed, per container; Failed: a
	// check failed or it could not be read; Untrusted: nothing failed but
	// trust was not checked.
	Valid     int `json:"valid"`
	Failed    int `json:"failed"`
	Untrusted int `json:"untrusted"`
	// LinkingFailed counts archives whose linking check failed.
	LinkingFailed int `json:"linkingFailed"`
}

// eachXRoad opens every path and calls fn for each container, then
// checks the archives' links to each other.
func eachXRoad(paths []string, lim asic.Limits, fn func(src *asic.Source, name string, data []byte, err error) error) ([]*asic.Source, error) {
	var all []*asic.Source
	for _, p := range paths {
		srcs, err := asic.Open(p)
		if err != nil {
			asic.Close(all)
			return nil, err
		}
		all = append(all, srcs...)
	}
	defer asic.Close(all)
	for _, s := range all {
		err := s.Each(lim, func(name string, data []byte, err error) error { return fn(s, name, data, err) })
		if err != nil {
			return nil, err
		}
	}
	asic.LinkArchives(all)
	return all, nil
}

func verifyXRoad(env *cli.Env, paths []string, opts asic.Options, asJSON bool) error {
	res := xroadResult{Containers: []xroadContainer{}}
	srcs, err := eachXRoad(paths, opts.Limits, func(src *asic.Source, name string, data []byte, err error) error {
		c := xroadContainer{Source: src.Path, Name: name}
		switch {
		case err != nil:
			c.Error = err.Error()
			res.Failed++
		default:
			c.Report = asic.Verify(data, opts)
			switch {
			case c.Report.Failed():
				res.Failed++
			case c.Report.Trust.Status != asic.OK:
				res.Untrusted++
			default:
				res.Valid++
			}
		}
		res.Containers = append(res.Containers, c)
		if !asJSON {
			writeContainerLine(env.Out, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range srcs {
		if !s.Archive {
			continue
		}
		a := xroadArchive{Path: s.Path, Containers: len(s.Files), Linking: s.Link, LastDigest: s.LastDigest}
		if s.Linking != nil {
			a.PrevArchive, a.PrevDigest = s.Linking.PrevArchive, s.Linking.PrevDigest
		}
		if s.Link.Status == asic.Failed {
			res.LinkingFailed++
		}
		res.Archives = append(res.Archives, a)
	}
	if asJSON {
		enc := json.NewEncoder(env.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		for _, a := range res.Archives {
			fmt.Fprintf(env.Out, "archive %s: %d containers, linking %s\n", a.Path, a.Containers, a.Linking.String())
			for _, n := range a.Linking.Notes {
				fmt.Fprintf(env.Out, "  note: %s\n", n)
			}
		}
		fmt.Fprintf(env.Out, "%d containers: %d valid, %d failed, %d not checked against a trust anchor", len(res.Containers), res.Valid, res.Failed, res.Untrusted)
		if len(res.Archives) > 0 {
			fmt.Fprintf(env.Out, "; %d archives, %d with failed linking", len(res.Archives), res.LinkingFailed)
		}
		fmt.Fprintln(env.Out)
	}
	switch {
	case res.Failed > 0 || res.LinkingFailed > 0:
		return fmt.Errorf("%d containers and %d archives failed a check", res.Failed, res.LinkingFailed)
	case res.Untrusted > 0:
		fmt.Fprintf(env.Err, "%s: no check failed, but trust was not checked for %d containers: give the federation's certificates with --ca (and --tsa-ca) to verify them (exit %d)\n", env.Name, res.Untrusted, exitUntrusted)
		return cli.Exit(exitUntrusted)
	}
	if !asJSON {
		fmt.Fprintln(env.Out, "OK")
	}
	return nil
}

// writeContainerLine writes one line: the container, each check's status,
// and the first failure's reason (or, when none failed, why a check did
// not run).
func writeContainerLine(w io.Writer, c xroadContainer) {
	where := c.Source
	if !strings.HasSuffix(c.Source, c.Name) {
		where = c.Source + ": " + c.Name
	}
	if c.Report == nil {
		fmt.Fprintf(w, "%s: FAIL unreadable: %s\n", where, c.Error)
		return
	}
	verdict := "OK"
	var first, skipped *asic.Named
	var parts []string
	for _, n := range c.Report.Checks() {
		parts = append(parts, n.Name+"="+string(n.Check.Status))
		switch {
		case n.Check.Status == asic.Failed && first == nil:
			first = &n
		case n.Check.Status == asic.NotChecked && skipped == nil:
			skipped = &n
		}
	}
	switch {
	case first != nil:
		verdict = "FAIL"
	case c.Report.Trust.Status != asic.OK:
		verdict = "UNTRUSTED"
	}
	fmt.Fprintf(w, "%s: %s %s", where, verdict, strings.Join(parts, " "))
	switch {
	case first != nil:
		fmt.Fprintf(w, "; %s: %s: %s", first.Name, first.Check.Code, first.Check.Reason)
	case c.Report.Trust.Status != asic.OK:
		fmt.Fprintf(w, "; trust not checked: %s", c.Report.Trust.Code)
	case skipped != nil:
		fmt.Fprintf(w, "; %s not checked: %s", skipped.Name, skipped.Check.Code)
	}
	fmt.Fprintln(w)
}

// showXRoad prints the containers at paths (those whose name starts with
// "id-" when id is given): message, attachments, signer and times.
func showXRoad(env *cli.Env, paths []string, id string) error {
	found := 0
	_, err := eachXRoad(paths, asic.Limits{}, func(src *asic.Source, name string, data []byte, err error) error {
		if id != "" && !strings.HasPrefix(name, id+"-") {
			return nil
		}
		found++
		where := src.Path
		if !strings.HasSuffix(src.Path, name) {
			where = src.Path + ": " + name
		}
		fmt.Fprintf(env.Out, "== %s\n", where)
		if err != nil {
			fmt.Fprintf(env.Out, "   unreadable: %v\n", err)
			return nil
		}
		rep := asic.Verify(data, asic.Options{})
		c, _ := asic.Read(data, asic.Options{})
		if rep.Signer != nil {
			fmt.Fprintf(env.Out, "   signer %s (serial %s, issuer %s)\n", rep.Signer.Subject, rep.Signer.Serial, rep.Signer.Issuer)
		}
		if !rep.SigningTime.IsZero() {
			fmt.Fprintf(env.Out, "   signed %s", rep.SigningTime.Format(time.RFC3339))
			if rep.Batch {
				fmt.Fprint(env.Out, " (batch signature)")
			}
			fmt.Fprintln(env.Out)
		}
		if !rep.TimestampTime.IsZero() {
			fmt.Fprintf(env.Out, "   time-stamped %s", rep.TimestampTime.Format(time.RFC3339))
			if rep.TSA != nil {
				fmt.Fprintf(env.Out, " by %s", rep.TSA.Subject)
			}
			fmt.Fprintln(env.Out)
		}
		if !rep.OCSPProducedAt.IsZero() {
			fmt.Fprintf(env.Out, "   OCSP response produced %s\n", rep.OCSPProducedAt.Format(time.RFC3339))
		}
		var checks []string
		for _, n := range rep.Checks() {
			checks = append(checks, n.Name+"="+string(n.Check.Status))
		}
		fmt.Fprintf(env.Out, "   checks without trust anchors: %s (run verify --xroad with --ca for trust)\n", strings.Join(checks, " "))
		if c == nil {
			fmt.Fprintf(env.Out, "   not a readable container: %s\n", rep.Format.Reason)
			return nil
		}
		for i, a := range c.Attachments {
			fmt.Fprintf(env.Out, "   attachment%d: %d bytes\n", i+1, len(a))
		}
		if c.Message == nil {
			fmt.Fprintf(env.Out, "   (no %s)\n", asic.EntryMessage)
		} else {
			fmt.Fprintf(env.Out, "%s (%d bytes):\n%s\n", asic.EntryMessage, len(c.Message), c.Message)
		}
		return nil
	})
	if err == nil && found == 0 {
		if id != "" {
			return fmt.Errorf("no container named %s-… in %s (X-Road names them QUERY-ID-request-….asice)", id, strings.Join(paths, ", "))
		}
		return fmt.Errorf("no containers in %s", strings.Join(paths, ", "))
	}
	return err
}
