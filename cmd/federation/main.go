// Command federation runs a complete Şlüz federation on loopback in one
// command: the federation PKI with its OCSP responder and time-stamp
// authority, and the sample members DİN, ƏMDK and DSMF. It runs sample
// checks, prints them, and keeps running for manual calls until Ctrl-C
// (--once: exit after the checks, 0 only if all passed).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/localfed"
	"github.com/sluz/sluz/pkiutil"
)

func main() {
	fs := flag.NewFlagSet("federation", flag.ContinueOnError)
	dir := fs.String("dir", "state", "state directory, created on the first run and reused after")
	once := fs.Bool("once", false, "run the sample checks and exit: 0 only if every check passed")
	ocspAddr := fs.String("ocsp-listen", pkiutil.DefaultOCSPAddr, "OCSP responder address")
	tsaAddr := fs.String("tsa-listen", pkiutil.DefaultTSAAddr, "time-stamp authority address")
	verbose := fs.Bool("v", false, "log every request of the trust services")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: federation [flags]\n\nRuns the Şlüz local federation on loopback (see README.md).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		os.Exit(2)
	}
	os.Exit(run(*dir, *once, *ocspAddr, *tsaAddr, *verbose, os.Stdout))
}

func run(dir string, once bool, ocspAddr, tsaAddr string, verbose bool, out io.Writer) int {
	logOut := io.Discard
	if verbose {
		logOut = os.Stderr
	}
	fed, err := localfed.Start(localfed.Options{Dir: dir, OCSPAddr: ocspAddr, TSAAddr: tsaAddr,
		Log: slog.New(slog.NewTextHandler(logOut, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, "federation:", err)
		return 1
	}
	defer fed.Close()
	fmt.Fprintf(out, "Şlüz local federation, state in %s\n  OCSP responder: %s\n  time-stamp authority: %s\n\n", dir, fed.OCSPURL, fed.TSAURL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	checks := fed.Checks(ctx)
	cancel()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tOK")
	failed := 0
	for _, c := range checks {
		mark := "yes"
		if !c.OK {
			mark, failed = "NO", failed+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.What, c.Result, mark)
	}
	tw.Flush()
	if once {
		if failed > 0 {
			fmt.Fprintf(out, "\n%d of %d checks failed\n", failed, len(checks))
			return 1
		}
		fmt.Fprintf(out, "\nall %d checks passed\n", len(checks))
		return 0
	}
	pki := filepath.Join(dir, "pki")
	fmt.Fprintf(out, "\nTry it by hand (Ctrl-C stops the federation):\n"+
		"  openssl ocsp -issuer %[1]s/ca.pem -cert %[2]s/DIN/sign.pem -url %[3]s -CAfile %[1]s/root-ca.pem -verify_other %[1]s/ca.pem\n"+
		"  openssl ts -query -data README.md -sha256 -cert -out /tmp/q.tsq && curl -s -H 'Content-Type: application/timestamp-query' --data-binary @/tmp/q.tsq %[4]s -o /tmp/r.tsr && openssl ts -verify -queryfile /tmp/q.tsq -in /tmp/r.tsr -CAfile %[1]s/root-ca.pem -untrusted %[1]s/ca.pem\n",
		pki, dir, fed.OCSPURL, fed.TSAURL)
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-sig.Done()
	fmt.Fprintln(out, "\nstopping")
	return 0
}
