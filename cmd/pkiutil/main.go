// Command pkiutil runs the Şlüz federation's trust services: it creates the
// federation CA, issues certificates by profile, revokes them, and serves the
// OCSP responder and the RFC 3161 time-stamp authority.
//
// Run `pkiutil help` for the commands.
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/pkiutil"
)

var program = &cli.Program{
	Name:   "pkiutil",
	Intro:  "pkiutil: the Şlüz federation's trust services.",
	Footer: "Quick start:\n  pkiutil init --dir trust\n  pkiutil issue --dir trust --profile sign --member AZ/GOV/DIN --out din-sign\n  pkiutil serve --dir trust\n",
	Commands: []cli.Command{
		{Name: "init", Args: "[--dir DIR] [--instance AZ] [--name NAME] [--key-type ecdsa-p256|rsa2048] [--force]",
			Summary: "create a federation trust directory (root CA, issuing CA, config-signing, OCSP and TSA certificates)", Run: runInit,
			Example: "pkiutil init --dir trust --instance AZ"},
		{Name: "issue", Args: "--profile PROFILE --out PREFIX [--member AZ/GOV/DIN] [--cn NAME] [--dns NAME,...] [--ip ADDR,...] [--csr FILE] [--validity 730d]",
			Summary: "issue a certificate by profile; writes PREFIX.pem and, unless --csr is given, PREFIX.key", Run: runIssue,
			Example: "pkiutil issue --dir trust --profile sign --member AZ/GOV/DIN --out din-sign\n" +
				"pkiutil issue --dir trust --profile auth --member AZ/GOV/EMDK --dns ss1.emdk.gov.az --out emdk-auth"},
		{Name: "revoke", Args: "(--serial HEX | --cert FILE) [--reason keyCompromise] [--dir DIR]",
			Summary: "mark an issued certificate revoked; the OCSP responder answers revoked from then on", Run: runRevoke,
			Example: "pkiutil revoke --dir trust --cert din-sign.pem --reason keyCompromise"},
		{Name: "list", Args: "[--dir DIR]",
			Summary: "list issued certificates with their status", Run: runList,
			Example: "pkiutil list --dir trust"},
		{Name: "profiles", Args: "",
			Summary: "list the certificate profiles and their key usages", Run: runProfiles,
			Example: "pkiutil profiles"},
		{Name: "serve", Args: "[--dir DIR] [--only ocsp|tsa] [--ocsp-listen ADDR] [--tsa-listen ADDR] [--log-format text|json]",
			Summary: "run the OCSP responder and the time-stamp authority (or one of them alone)", Run: runServe,
			Example: "pkiutil serve --dir trust --ocsp-listen 127.0.0.1:8888 --tsa-listen 127.0.0.1:8899\n" +
				"pkiutil serve --dir trust --only ocsp   # and in another process: pkiutil serve --dir trust --only tsa"},
	}}

func main() { os.Exit(program.Main(os.Args[1:], os.Stdout, os.Stderr)) }

func dirFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("SLUZ_TRUST_DIR")
	if def == "" {
		def = "trust"
	}
	return fs.String("dir", def, "trust directory (default from $SLUZ_TRUST_DIR, else ./trust)")
}

func runInit(env *cli.Env, args []string) error {
	fs := env.Flags()
	dir := dirFlag(fs)
	instance := fs.String("instance", "AZ", "X-Road instance identifier, written as C= in the CA subjects")
	name := fs.String("name", "", `federation name shown in CA subjects (default "Şlüz <instance>")`)
	keyType := fs.String("key-type", string(pkiutil.KeyECDSAP256), "key algorithm: ecdsa-p256 or rsa2048")
	force := fs.Bool("force", false, "replace the files of an existing trust directory")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	kt, err := pkiutil.ParseKeyType(*keyType)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: *dir, Instance: *instance, Name: *name, KeyType: kt, Force: *force})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "created trust directory %s (%s keys)\n", ca.Dir, kt)
	fmt.Fprintf(env.Out, "  root CA:    %s  (%s)\n", pkiutil.FileRootCert, ca.Root.Subject.CommonName)
	fmt.Fprintf(env.Out, "  issuing CA: %s  (%s)\n", pkiutil.FileCACert, ca.Cert.Subject.CommonName)
	fmt.Fprintf(env.Out, "  services:   %s, %s, %s (with their keys, mode 0600)\n",
		pkiutil.FileConfigSigningCert, pkiutil.FileOCSPCert, pkiutil.FileTSACert)
	fmt.Fprintf(env.Out, "keep %s offline in production: only %s is needed to issue and revoke.\n", pkiutil.FileRootKey, pkiutil.FileCAKey)
	return nil
}

func runIssue(env *cli.Env, args []string) error {
	fs := env.Flags()
	dir := dirFlag(fs)
	profile := fs.String("profile", "", "certificate profile: "+strings.Join(endEntityNames(), ", ")+" (see 'pkiutil profiles')")
	out := fs.String("out", "", "output prefix: writes PREFIX.pem (certificate) and PREFIX.key (private key, mode 0600)")
	member := fs.String("member", "", "member identifier INSTANCE/CLASS/CODE, e.g. AZ/GOV/DIN (required for sign)")
	cn := fs.String("cn", "", "subject common name (default: member code for sign, first DNS name or IP otherwise)")
	dns := fs.String("dns", "", "comma-separated DNS names (auth: at least one DNS name or IP)")
	ips := fs.String("ip", "", "comma-separated IP addresses")
	csr := fs.String("csr", "", "PEM certificate signing request: certify its key instead of generating one")
	validity := fs.String("validity", "", "lifetime, e.g. 720h, 90d, 2y (default: the profile's)")
	force := fs.Bool("force", false, "overwrite existing output files")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *profile == "" {
		return cli.Usagef("--profile is required: one of %s", strings.Join(endEntityNames(), ", "))
	}
	if *out == "" {
		return cli.Usagef("--out PREFIX is required (writes PREFIX.pem and PREFIX.key)")
	}
	req := pkiutil.IssueRequest{Profile: *profile, CommonName: *cn, Member: *member, DNSNames: splitList(*dns)}
	for _, s := range splitList(*ips) {
		ip := net.ParseIP(s)
		if ip == nil {
			return cli.Usagef("--ip %q is not an IP address", s)
		}
		req.IPAddresses = append(req.IPAddresses, ip)
	}
	if *validity != "" {
		d, err := parseLifetime(*validity)
		if err != nil {
			return cli.UsageError{Err: err}
		}
		req.Validity = d
	}
	ca, err := pkiutil.Open(*dir)
	if err != nil {
		return err
	}
	certPath, keyPath := *out+".pem", *out+".key"
	var cert *x509.Certificate
	if *csr != "" {
		pub, err := readCSR(*csr)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(certPath); err == nil && !*force {
			return fmt.Errorf("%s already exists: choose another --out or pass --force", certPath)
		}
		req.PublicKey = pub
		if cert, err = ca.Issue(req); err != nil {
			return err
		}
		if err := pkiutil.WriteCertificates(certPath, *force, cert, ca.Cert); err != nil {
			return err
		}
		keyPath = ""
	} else if cert, _, err = ca.IssueToFiles(req, certPath, keyPath, *force); err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "issued %s certificate\n  serial:  %s\n  subject: %s\n  valid:   %s .. %s\n  cert:    %s\n",
		*profile, pkiutil.SerialHex(cert.SerialNumber), cert.Subject, cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339), certPath)
	if keyPath != "" {
		fmt.Fprintf(env.Out, "  key:     %s (mode 0600)\n", keyPath)
	}
	return nil
}

func readCSR(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CSR: %w", err)
	}
	der := data
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%s holds a %s PEM block, not a CERTIFICATE REQUEST", path, block.Type)
		}
		der = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("parse CSR %s: %w", path, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("CSR %s is not signed by its own key (proof of possession failed): %w", path, err)
	}
	return csr.PublicKey, nil
}

func runRevoke(env *cli.Env, args []string) error {
	fs := env.Flags()
	dir := dirFlag(fs)
	serialFlag := fs.String("serial", "", "serial number in hex, as 'pkiutil list' or 'openssl x509 -serial' prints it")
	certFile := fs.String("cert", "", "PEM certificate to revoke (instead of --serial)")
	reasonFlag := fs.String("reason", "unspecified", "RFC 5280 reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn, aACompromise")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if (*serialFlag == "") == (*certFile == "") {
		return cli.Usagef("give exactly one of --serial and --cert")
	}
	reason, err := pkiutil.ParseReason(*reasonFlag)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	ca, err := pkiutil.Open(*dir)
	if err != nil {
		return err
	}
	var serialHex string
	if *certFile != "" {
		c, err := pkiutil.ReadCertificate(*certFile)
		if err != nil {
			return err
		}
		if err := c.CheckSignatureFrom(ca.Cert); err != nil {
			return fmt.Errorf("%s was not issued by this federation's issuing CA", *certFile)
		}
		serialHex = pkiutil.SerialHex(c.SerialNumber)
	} else {
		serialHex = *serialFlag
	}
	serial, err := pkiutil.ParseSerial(serialHex)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	rec, err := ca.Revoke(serial, reason)
	if err != nil {
		return fmt.Errorf("serial %s: %w", pkiutil.SerialHex(serial), err)
	}
	fmt.Fprintf(env.Out, "revoked %s (%s) at %s, reason %s\n", rec.SerialHex(), rec.Subject, rec.RevokedAt.Format(time.RFC3339), pkiutil.ReasonName(rec.Reason))
	return nil
}

func runList(env *cli.Env, args []string) error {
	fs := env.Flags()
	dir := dirFlag(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	ca, err := pkiutil.Open(*dir)
	if err != nil {
		return err
	}
	recs, err := ca.Store.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tPROFILE\tSTATUS\tNOT AFTER\tSUBJECT")
	for _, r := range recs {
		status := "good"
		if r.Revoked {
			status = "revoked (" + pkiutil.ReasonName(r.Reason) + ")"
		} else if time.Now().After(r.NotAfter) {
			status = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.SerialHex(), r.Profile, status, r.NotAfter.Format("2006-01-02"), r.Subject)
	}
	return tw.Flush()
}

func runProfiles(env *cli.Env, args []string) error {
	fs := env.Flags()
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROFILE\tKEY USAGE\tEXTENDED KEY USAGE\tVALIDITY\tDESCRIPTION")
	for _, p := range pkiutil.EndEntityProfiles() {
		eku := strings.Join(p.ExtKeyUsageNames(), ",")
		if p.ExtKeyUsageCritical {
			eku += " (critical)"
		}
		if eku == "" {
			eku = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%dd\t%s\n", p.Name, strings.Join(p.KeyUsageNames(), ","), eku, int(p.Validity.Hours()/24), p.Description)
	}
	return tw.Flush()
}

func runServe(env *cli.Env, args []string) error {
	fs := env.Flags()
	dir := dirFlag(fs)
	ocspAddr := fs.String("ocsp-listen", pkiutil.DefaultOCSPAddr, "OCSP responder listen address (HTTP, GET and POST)")
	tsaAddr := fs.String("tsa-listen", pkiutil.DefaultTSAAddr, "time-stamp authority listen address (HTTP POST application/timestamp-query)")
	only := fs.String("only", "", "run one service alone: ocsp or tsa (default both; the TSA runs in one process per trust directory, the OCSP responder in as many as you like)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(os.Stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(os.Stderr, nil)
	default:
		return cli.Usagef("--log-format %q: use text or json", *logFormat)
	}
	log := slog.New(handler)
	which := pkiutil.Which{OCSP: true, TSA: true}
	switch *only {
	case "":
	case "ocsp":
		which.TSA = false
	case "tsa":
		which.OCSP = false
	default:
		return cli.Usagef("--only %q: use ocsp or tsa", *only)
	}
	ca, err := pkiutil.Open(*dir)
	if err != nil {
		return err
	}
	svc, err := pkiutil.NewServicesOf(ca, log, which)
	if err != nil {
		return err
	}
	defer svc.Close()
	var ocspLn, tsaLn net.Listener
	attrs := []any{"trust_dir", ca.Dir}
	if which.OCSP {
		if ocspLn, err = net.Listen("tcp", *ocspAddr); err != nil {
			return fmt.Errorf("OCSP responder: %w", err)
		}
		attrs = append(attrs, "ocsp", "http://"+ocspLn.Addr().String()+"/")
	}
	if which.TSA {
		if tsaLn, err = net.Listen("tcp", *tsaAddr); err != nil {
			if ocspLn != nil {
				ocspLn.Close()
			}
			return fmt.Errorf("TSA: %w", err)
		}
		attrs = append(attrs, "tsa", "http://"+tsaLn.Addr().String()+"/")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("serving", attrs...)
	err = svc.Serve(ctx, ocspLn, tsaLn)
	log.Info("stopped")
	return err
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseLifetime accepts Go durations plus whole days (90d) and years (2y, 365 days).
func parseLifetime(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "y": 365 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.Atoi(n)
			if err != nil || v <= 0 {
				break
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--validity %q: use a positive duration such as 720h, 90d or 2y", s)
	}
	return d, nil
}

func endEntityNames() []string {
	var names []string
	for _, p := range pkiutil.EndEntityProfiles() {
		names = append(names, p.Name)
	}
	return names
}
