package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/opmon"
)

const opmonDetails = `Sends getSecurityServerOperationalData (PR-OPMON) as the information system
of --client to this server's client proxy, which signs it and sends it to the
security server --server (default: this one). That server answers from its
operational monitoring records: all of them if --client's member owns it,
otherwise only the exchanges --client's member took part in, as client or as
provider. Times are a duration back from now (90m, 24h, 7d) or a time
(2026-11-25T10:00:00Z, 2026-11-25). The server must be running.`

const opmonExample = `# DİN's administrator: everything DİN's server saw in the last hour
securityserver opmon --config configs/securityserver-din.yaml --client AZ/GOV/DIN/population --since 1h
# ƏMDK: its calls to DİN's getPersonByFin in the last 7 days, as JSON
securityserver opmon --config configs/securityserver-emdk.yaml --client AZ/GOV/EMDK/realestate \
    --server AZ/GOV/DIN/ss1 --service getPersonByFin --since 7d --json`

func runOpmon(env *cli.Env, args []string) error {
	fs := env.Flags()
	path := configFlag(fs)
	q := addQueryFlags(fs, "the caller, INSTANCE/CLASS/CODE/SUBSYSTEM (or a member), hosted by this server (required)", "",
		"records from this time on: a duration back from now (90m, 24h, 7d) or a time (RFC 3339 or YYYY-MM-DD) (required)")
	serverFlag := fs.String("server", "", "the security server to ask, INSTANCE/CLASS/CODE/SERVERCODE (default: this server)")
	until := fs.String("until", "", "records up to this time (default: now)")
	svcFlag := fs.String("service", "", "only this service: a service code (getPersonByFin) or INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]")
	asJSON := fs.Bool("json", false, `print {"records": [...]} with PR-OPMON field names instead of a table`)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *q.client == "" || *q.since == "" {
		return cli.Usagef("--client and --since are required")
	}
	now := time.Now()
	caller, from, err := q.parse(now)
	if err != nil {
		return err
	}
	to := now
	if *until != "" {
		if to, err = parseWhen(*until, now); err != nil {
			return cli.UsageError{Err: fmt.Errorf("--until: %w", err)}
		}
	}
	if from.After(to) {
		return cli.Usagef("--since %s is after --until %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	crit := opmon.SearchCriteria{From: from.Unix(), To: to.Unix()}
	if *svcFlag != "" {
		if strings.Contains(*svcFlag, "/") {
			svc, err := identifier.ParseService(*svcFlag)
			if err != nil {
				return cli.UsageError{Err: fmt.Errorf("--service: %w", err)}
			}
			crit.Service = &svc
		} else {
			if err := identifier.CheckPart("--service", *svcFlag); err != nil {
				return cli.UsageError{Err: err}
			}
			crit.ServiceCode = *svcFlag
		}
	}
	cfg, err := load(*path)
	if err != nil {
		return err
	}
	server := cfg.Server
	if *serverFlag != "" {
		if server, err = identifier.ParseServer(*serverFlag); err != nil {
			return cli.UsageError{Err: fmt.Errorf("--server: %w", err)}
		}
	}
	recs, err := q.ask(cfg, opmon.Request{Caller: caller, Server: server, SearchCriteria: crit})
	if err != nil {
		return err
	}
	if *asJSON {
		if recs == nil {
			recs = []opmon.Record{}
		}
		enc := json.NewEncoder(env.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"records": recs})
	}
	return printRecords(env, recs, server, from, to)
}

// queryFlags are the flags of the commands that read operational
// monitoring records through this server's client proxy (opmon, acl
// refused).
type queryFlags struct {
	client, since, tlsCert, tlsKey *string
	timeout                        *time.Duration
}

func addQueryFlags(fs *flag.FlagSet, clientHelp, sinceDefault, sinceHelp string) *queryFlags {
	return &queryFlags{
		client:  fs.String("client", "", clientHelp),
		since:   fs.String("since", sinceDefault, sinceHelp),
		tlsCert: fs.String("tls-cert", "", "IS client certificate (PEM), when the client proxy requires HTTPS (clientProxy.tls)"),
		tlsKey:  fs.String("tls-key", "", "its key (PEM)"),
		timeout: fs.Duration("timeout", 2*time.Minute, "give up after this long"),
	}
}

// parse reads --client and --since (relative to now).
func (q *queryFlags) parse(now time.Time) (identifier.Client, time.Time, error) {
	caller, err := identifier.ParseClient(*q.client)
	if err != nil {
		return caller, time.Time{}, cli.UsageError{Err: fmt.Errorf("--client: %w", err)}
	}
	from, err := parseWhen(*q.since, now)
	if err != nil {
		return caller, from, cli.UsageError{Err: fmt.Errorf("--since: %w", err)}
	}
	return caller, from, nil
}

// ask sends req through cfg's client proxy (PR-OPMON) and returns the
// records, or the asked server's refusal as an error.
func (q *queryFlags) ask(cfg *config.Config, req opmon.Request) ([]opmon.Record, error) {
	url, hc, err := clientProxy(cfg, *q.tlsCert, *q.tlsKey)
	if err != nil {
		return nil, err
	}
	hc.Timeout = *q.timeout
	ctx, cancel := context.WithTimeout(context.Background(), *q.timeout)
	defer cancel()
	recs, err := opmon.Ask(ctx, hc, url, req)
	var f *message.Fault
	if errors.As(err, &f) {
		return nil, fmt.Errorf("%s refused the query: %s: %s", req.Server, f.Code, f.String)
	}
	return recs, err
}

// parseWhen reads a time: a duration back from now (with d for days), an
// RFC 3339 time, or a date (local midnight).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		n, nerr := strconv.Atoi(days)
		d, err = time.Duration(n)*24*time.Hour, nerr
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither a duration back from now (90m, 24h, 7d) nor a time (2026-11-25T10:00:00Z, 2026-11-25)", s)
	}
	return now.Add(-d), nil
}

// clientProxy is the URL of this server's client proxy and an HTTP client
// for it: plain HTTP, or HTTPS with an IS certificate, trusting exactly the
// certificate the configuration gives the client proxy.
func clientProxy(cfg *config.Config, certFile, keyFile string) (string, *http.Client, error) {
	host, port, err := net.SplitHostPort(cfg.ClientProxy.Listen)
	if err != nil {
		return "", nil, fmt.Errorf("clientProxy.listen %q: %w", cfg.ClientProxy.Listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	t := cfg.ClientProxy.TLS
	if t == nil {
		if certFile != "" || keyFile != "" {
			return "", nil, cli.Usagef("--tls-cert and --tls-key are for a client proxy with clientProxy.tls; this one speaks plain HTTP")
		}
		return "http://" + addr + "/", &http.Client{}, nil
	}
	if certFile == "" || keyFile == "" {
		return "", nil, cli.Usagef("the client proxy requires HTTPS with an IS certificate (clientProxy.tls): give it with --tls-cert and --tls-key")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return "", nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	want, err := pkiutil.ReadCertificates(t.Cert)
	if err != nil {
		return "", nil, fmt.Errorf("clientProxy.tls.cert: %w", err)
	}
	tc := &tls.Config{
		Certificates:       []tls.Certificate{pair},
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the exact-certificate check below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !cs.PeerCertificates[0].Equal(want[0]) {
				return fmt.Errorf("the client proxy at %s does not present the certificate of clientProxy.tls.cert (%s)", addr, t.Cert)
			}
			return nil
		},
	}
	return "https://" + addr + "/", &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}, nil
}

func printRecords(env *cli.Env, recs []opmon.Record, server identifier.ServerID, from, to time.Time) error {
	if len(recs) == 0 {
		fmt.Fprintf(env.Out, "no exchanges recorded by %s between %s and %s that you may see\n", server, from.Format(time.RFC3339), to.Format(time.RFC3339))
		return nil
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSIDE\tCLIENT\tSERVICE\tDURATION\tREQUEST\tRESPONSE\tRESULT\tMESSAGE ID")
	failed := 0
	for i := range recs {
		r := &recs[i]
		result := "ok"
		if !r.Succeeded {
			result, failed = r.FaultCode, failed+1
		}
		side := "producer"
		if r.SecurityServerType == opmon.Client {
			side = "client"
		}
		client := "-"
		if r.ClientMemberCode != "" {
			client = r.ClientID().String()
		}
		service := "-"
		if r.ServiceCode != "" {
			service = r.ServiceID().String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%dms\t%dB\t%dB\t%s\t%s\n", time.UnixMilli(r.RequestInTs).Format("2006-01-02 15:04:05.000"), side,
			client, service, r.ResponseOutTs-r.RequestInTs, r.RequestSize, r.ResponseSize, result, r.MessageID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "%d exchanges recorded by %s, %d failed\n", len(recs), server, failed)
	return nil
}
