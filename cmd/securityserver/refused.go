package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/opmon"
)

const refusedDetails = `Lists the callers this server's service proxy refused for want of an access
right (Server.ServerProxy.AccessDenied) in the period, by service and client,
with how often and when last, and the grant command for each. It reads the
server's operational monitoring records over getSecurityServerOperationalData
(PR-OPMON), asking as --client, a subsystem of the server's owner member (the
owner sees every record). The server must be running.`

func runACLRefused(env *cli.Env, args []string) error {
	fs := env.Flags()
	path := configFlag(fs)
	q := addQueryFlags(fs, "ask as this subsystem of the server's owner member, INSTANCE/CLASS/CODE/SUBSYSTEM (required)", "7d",
		"refusals from this time on: a duration back from now (90m, 24h, 7d) or a time (RFC 3339 or YYYY-MM-DD)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *q.client == "" {
		return cli.Usagef("--client is required: a subsystem of the server's owner member, e.g. AZ/GOV/DIN/population")
	}
	now := time.Now()
	caller, from, err := q.parse(now)
	if err != nil {
		return err
	}
	cfg, err := load(*path)
	if err != nil {
		return err
	}
	if caller.MemberID() != cfg.Server.Owner {
		return cli.Usagef("--client %s is not of %s, the owner of %s: only the owner sees every caller's records", caller, cfg.Server.Owner, cfg.Server)
	}
	recs, err := q.ask(cfg, opmon.Request{Caller: caller, Server: cfg.Server,
		SearchCriteria: opmon.SearchCriteria{From: from.Unix(), To: now.Unix()}})
	if err != nil {
		return err
	}
	refused := securityserver.RefusedCallers(recs)
	if len(refused) == 0 {
		fmt.Fprintf(env.Out, "no caller was refused for want of an access right since %s\n", from.Format(time.RFC3339))
		return nil
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCLIENT\tREFUSED\tLAST\tLAST MESSAGE ID")
	for _, r := range refused {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Service, r.Client, r.Times, r.Last.Format(time.RFC3339), r.Messages[len(r.Messages)-1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "\nTo let one call, for example:\n  securityserver acl grant --config %s --service %s --client %s\n", *path, refused[0].Service, refused[0].Client)
	return nil
}
