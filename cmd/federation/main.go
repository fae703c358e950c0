// Command federation runs a complete Şlüz federation on loopback in one
// command: the federation PKI with its OCSP responder and time-stamp
// authority, and the central registry loaded with the sample members DİN,
// ƏMDK and DSMF. It runs sample checks, prints them, and keeps running for
// manual calls until Ctrl-C (--once: exit after the checks, 0 only if all
// passed).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry"
	"github.com/sluz/sluz/securityserver"
)

var program = &cli.Program{
	Name: "federation",
	Single: &cli.Command{Args: "[--dir DIR] [--once] [flags]",
		Summary: "run the Şlüz local federation on loopback: PKI, registry and the security servers of DİN, ƏMDK and DSMF",
		Details: "It runs the sample checks, prints them and keeps running for manual calls until Ctrl-C\n" +
			"(--once: exit after the checks, 0 only if all passed). See README.md.",
		Example: "federation --dir state\n" +
			"federation --dir /tmp/fed --once",
		Run: runFederation},
}

func main() {
	securityserver.TuneGC() // its security servers run in this process
	os.Exit(program.Main(os.Args[1:], os.Stdout, os.Stderr))
}

func runFederation(env *cli.Env, args []string) error {
	fs := env.Flags()
	var opts localfed.Options
	fs.StringVar(&opts.Dir, "dir", "state", "state directory, created on the first run and reused after")
	once := fs.Bool("once", false, "run the sample checks and exit: 0 only if every check passed")
	fs.StringVar(&opts.OCSPAddr, "ocsp-listen", pkiutil.DefaultOCSPAddr, "OCSP responder address")
	fs.StringVar(&opts.TSAAddr, "tsa-listen", pkiutil.DefaultTSAAddr, "time-stamp authority address")
	fs.StringVar(&opts.AdminAddr, "admin-listen", registry.DefaultAdminListen, "registry admin API address (TLS)")
	fs.StringVar(&opts.PublishAddr, "publish-listen", registry.DefaultPublishListen, "registry global configuration address (HTTP)")
	verbose := fs.Bool("v", false, "log what every service does")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *verbose {
		opts.Log = slog.New(slog.NewTextHandler(env.Err, nil))
	}
	if code := run(opts, *once, env.Out, env.Err); code != cli.ExitOK {
		return cli.Exit(code)
	}
	return nil
}

func run(opts localfed.Options, once bool, out, errOut io.Writer) int {
	fed, err := localfed.Start(opts)
	if err != nil {
		fmt.Fprintln(errOut, "federation:", err)
		return 1
	}
	defer fed.Close()
	fmt.Fprintf(out, "Şlüz local federation, state in %s\n  OCSP responder:        %s\n  time-stamp authority:  %s\n  registry admin API:    %s\n  global configuration:  %s\n\n",
		opts.Dir, fed.OCSPURL, fed.TSAURL, fed.AdminURL, fed.ConfURL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	failed, total := 0, 0
	fmt.Fprintln(out, "Sample exchanges: the asking agency's IS -> its security server -> the provider's security server -> the provider's IS")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FROM	SERVICE	ANSWER	TIME	AS EXPECTED")
	for _, q := range localfed.Queries {
		r := fed.RunQuery(ctx, q)
		total++
		mark := "yes"
		if !r.OK {
			mark, failed = "NO", failed+1
		}
		fmt.Fprintf(tw, "%s	%s	%s	%s	%s\n", q.Client, q.Service, r.Outcome, r.Duration.Round(time.Millisecond), mark)
	}
	tw.Flush()
	fmt.Fprintln(out, "\nFederation checks")
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tOK")
	for _, c := range fed.Checks(ctx) {
		total++
		mark := "yes"
		if !c.OK {
			mark, failed = "NO", failed+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.What, c.Result, mark)
	}
	tw.Flush()
	if once {
		if failed > 0 {
			fmt.Fprintf(out, "\n%d of %d outcomes were not as expected\n", failed, total)
			return 1
		}
		fmt.Fprintf(out, "\nall %d outcomes as expected\n", total)
		return 0
	}
	reqFile, err := fed.WriteSampleRequest()
	if err != nil {
		fmt.Fprintln(errOut, "federation:", err)
		return 1
	}
	fmt.Fprint(out, tryIt(opts.Dir, fed.AdminURL, fed.ConfURL, fed.OCSPURL, reqFile, fed.Agencies[1].ClientURL, fed.Agencies[0].ClientURL))
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-sig.Done()
	fmt.Fprintln(out, "\nstopping")
	return 0
}

// tryIt is what the federation suggests trying by hand while it runs: a
// sample request to ƏMDK's client proxy emdk, a REST call to DİN's client
// proxy din, opmon, an operator command and the independent checks, and how
// operator commands take their credentials.
func tryIt(dir, adminURL, confURL, ocspURL, reqFile, emdk, din string) string {
	return fmt.Sprintf("\nTry it by hand (Ctrl-C stops the federation):\n"+
		"  # ƏMDK's information system asks DİN for a person, through ƏMDK's security server (each call needs a new xrd:id):\n"+
		"  sed \"s/MESSAGE-ID/$(cat /proc/sys/kernel/random/uuid)/\" %[6]s | curl -s -H 'Content-Type: text/xml; charset=UTF-8' --data-binary @- %[7]s\n"+
		"  # DİN's information system reads ƏMDK's real-estate extract (X-Road's REST protocol), through DİN's security server:\n"+
		"  curl -s -H 'X-Road-Client: AZ/GOV/DIN/population' %[9]sr1/AZ/GOV/EMDK/realestate/realEstateRegistry/extract/5ZJ8K2L\n"+
		"  # who called DİN's services, when and how fast (DİN's operational monitoring records):\n"+
		"  go run ./cmd/securityserver opmon --config %[1]s/securityserver-din.yaml --client AZ/GOV/DIN/population --since 1h\n"+
		"  # the central operator's view of the members (registry --help for all operator commands):\n"+
		"  go run ./cmd/registry member list --registry %[3]s --cert %[1]s/operator.pem --key %[1]s/operator.key --ca %[2]s/root-ca.pem\n"+
		"  curl -s %[4]s -o /tmp/globalconf.xml && xmlsec1 --verify --trusted-pem %[2]s/root-ca.pem --untrusted-pem %[2]s/ca.pem /tmp/globalconf.xml\n"+
		"  openssl ocsp -issuer %[2]s/ca.pem -cert %[1]s/DIN/sign.pem -url %[5]s -CAfile %[2]s/root-ca.pem -verify_other %[2]s/ca.pem\n"+
		"\n%[8]s",
		dir, filepath.Join(dir, "pki"), adminURL, confURL, ocspURL, reqFile, emdk, registry.OperatorCredentialsHelp, strings.TrimSuffix(din, "/")+"/")
}
