// Command securityserver runs an agency's Şlüz security server (serve) and
// administers it: joining the federation (init, install), configuration
// check, access rights, and reading the
// operational monitoring records of security servers (opmon).
//
// Run `securityserver help` for the commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"os/user"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/rest"
)

var program = &cli.Program{
	Name:  "securityserver",
	Intro: "securityserver: an agency's Şlüz security server.",
	Commands: []cli.Command{
		{Name: "init", Args: "--dir DIR --anchor FILE --server ID --name NAME --subsystem CODE [--address HOST:PORT] [--client-listen ADDR] [--server-listen ADDR] [--admin-listen ADDR|off] [--pkcs11-* ...] [--force]",
			Summary: "make a new security server: keys, certificate requests, the registration request for the central operator and a commented configuration", Run: runInit,
			Details: initDetails, Example: initExample},
		{Name: "install", Args: "--dir DIR --bundle FILE [--force]",
			Summary: "install the certificates the central operator sent back (registry register) next to the keys init made", Run: runInstall,
			Example: "securityserver install --dir dgk --bundle dgk-response.json"},
		{Name: "serve", Args: "--config FILE", Summary: "run the client proxy (for local IS) and the service proxy (for peer servers)", Run: runServe,
			Example: "securityserver serve --config configs/securityserver-din.yaml"},
		{Name: "check-config", Args: "--config FILE", Summary: "validate a configuration file without starting", Run: runCheckConfig,
			Example: "securityserver check-config --config configs/securityserver-din.yaml"},
		{Name: "acl", Summary: "manage who may call the services this server provides",
			Details: "Access rights live in dataDir/acl.db, or with messageLog.storage: postgres in that database, shared by the nodes; the server reads them while it runs.",
			Subcommands: []cli.Command{
				{Name: "grant", Args: "--config FILE --service ID --client ID|group:ID [--method METHOD --path PATTERN]", Summary: "let a client, or the members of a global group, call a service (of a REST service, optionally one endpoint)", Run: runACLGrant,
					Details: "--method and --path narrow a right on a REST service to one endpoint (X-Road's endpoint-level rights): " +
						"METHOD is GET, POST, ... or * for any; in PATTERN * matches one path segment and ** anything.",
					Example: "securityserver acl grant --config configs/securityserver-din.yaml \\\n" +
						"    --service AZ/GOV/DIN/population/getPersonByFin --client AZ/GOV/EMDK/realestate\n" +
						"securityserver acl grant --config configs/securityserver-din.yaml \\\n" +
						"    --service AZ/GOV/DIN/population/getPersonByFin --client group:AZ/state-agencies\n" +
						"securityserver acl grant --config configs/securityserver-emdk.yaml \\\n" +
						"    --service AZ/GOV/EMDK/realestate/realEstateRegistry --client AZ/GOV/DSMF/insurance --method GET --path '/extract/*'"},
				{Name: "revoke", Args: "--config FILE --service ID --client ID|group:ID [--method METHOD --path PATTERN]", Summary: "withdraw a right that grant gave", Run: runACLRevoke,
					Example: "securityserver acl revoke --config configs/securityserver-din.yaml \\\n" +
						"    --service AZ/GOV/DIN/population/getPersonByFin --client AZ/GOV/EMDK/realestate"},
				{Name: "list", Args: "--config FILE", Summary: "list the access rights: service, client, when and by whom granted", Run: runACLList,
					Example: "securityserver acl list --config configs/securityserver-din.yaml"},
				{Name: "refused", Args: "--config FILE --client ID [--since DURATION|TIME]", Summary: "callers refused for want of an access right, by service and client (from operational monitoring)", Run: runACLRefused,
					Details: refusedDetails,
					Example: "securityserver acl refused --config configs/securityserver-din.yaml --client AZ/GOV/DIN/population --since 7d"},
			}},
		{Name: "opmon", Args: "--config FILE --client ID --since DURATION|TIME [--until DURATION|TIME] [--server ID] [--service CODE|ID] [--json]",
			Summary: "show who called which service, when, how fast and with what result (operational monitoring records of this or another security server)", Run: runOpmon,
			Details: opmonDetails, Example: opmonExample},
		{Name: "console-link", Args: "--config FILE [--as NAME]",
			Summary: "print a one-time link that signs a browser in to the web console on the admin listener (valid 2 minutes)", Run: runConsoleLink,
			Details: "The link is signed with dataDir/console.key (made on first use): run this as a user who may read the data directory. " +
				"Changes made in the console are recorded under --as (default: your user name).",
			Example: "securityserver console-link --config configs/securityserver-din.yaml"},
	},
}

func runConsoleLink(env *cli.Env, args []string) error {
	fs := env.Flags()
	path := configFlag(fs)
	as := fs.String("as", "", "the name changes are recorded under (default: your operating-system user name)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	cfg, err := load(*path)
	if err != nil {
		return err
	}
	if *as == "" {
		*as = "unknown"
		if u, err := user.Current(); err == nil {
			*as = u.Username
		}
	}
	link, err := securityserver.ConsoleLink(cfg, *as, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "%s\n(open it in a browser on this machine within %s; it works once)\n", link, securityserver.ConsoleLinkTTL)
	return nil
}

func main() { os.Exit(program.Main(os.Args[1:], os.Stdout, os.Stderr)) }

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", os.Getenv("SLUZ_SECURITYSERVER_CONFIG"), "configuration file (YAML; or $SLUZ_SECURITYSERVER_CONFIG)")
}

func load(path string) (*config.Config, error) {
	if path == "" {
		return nil, cli.Usagef("--config FILE is required (see configs/securityserver-din.yaml)")
	}
	return config.Load(path)
}

func runServe(env *cli.Env, args []string) error {
	securityserver.TuneGC()
	fs := env.Flags()
	path := configFlag(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	cfg, err := load(*path)
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(env.Err, nil)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(env.Err, nil)
	}
	log := slog.New(h)
	srv, err := securityserver.New(cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	clientLn, err := net.Listen("tcp", cfg.ClientProxy.Listen)
	if err != nil {
		return fmt.Errorf("clientProxy.listen: %w", err)
	}
	serverLn, err := net.Listen("tcp", cfg.ServerProxy.Listen)
	if err != nil {
		clientLn.Close()
		return fmt.Errorf("serverProxy.listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Admin.Listen != "" {
		adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			clientLn.Close()
			serverLn.Close()
			return fmt.Errorf("admin.listen: %w", err)
		}
		go func() {
			if err := srv.ServeAdmin(ctx, adminLn); err != nil {
				log.Error("admin listener failed", "err", err)
			}
		}()
		log.Info("admin listener", "metrics", "http://"+adminLn.Addr().String()+"/metrics")
	}
	err = srv.Serve(ctx, clientLn, serverLn)
	log.Info("security server stopped")
	return err
}

func runCheckConfig(env *cli.Env, args []string) error {
	fs := env.Flags()
	path := configFlag(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	cfg, err := load(*path)
	if err != nil {
		return err
	}
	// What serve checks before it opens any store: keys against their
	// certificates, the owner hosted, the anchor.
	if err := securityserver.Check(cfg); err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "configuration OK: %s, client proxy %s, service proxy %s, %d provided services\n",
		cfg.Server, cfg.ClientProxy.Listen, cfg.ServerProxy.Listen, len(cfg.Services))
	return nil
}

// openACL loads the configuration at path and opens the server's access
// rights, where its nodes read them (securityserver.OpenACL).
func openACL(path string) (*config.Config, securityserver.ACLStore, error) {
	cfg, err := load(path)
	if err != nil {
		return nil, nil, err
	}
	store, err := securityserver.OpenACL(cfg)
	return cfg, store, err
}

// aclRule is what "acl grant" and "acl revoke" name.
type aclRule struct {
	store    securityserver.ACLStore
	service  identifier.ServiceID
	subject  acl.Subject
	endpoint *rest.Endpoint
}

// what is the right as the commands print it.
func (r aclRule) what() string {
	if r.endpoint == nil {
		return r.service.WithoutVersion().String()
	}
	return fmt.Sprintf("%s endpoint %s %s", r.service.WithoutVersion(), r.endpoint.Method, r.endpoint.Path)
}

// parseRule parses the flags of "acl grant" and "acl revoke" and opens
// the access rights.
func parseRule(env *cli.Env, args []string) (aclRule, error) {
	var r aclRule
	fs := env.Flags()
	path := configFlag(fs)
	svcFlag := fs.String("service", "", "service INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE (any version)")
	clientFlag := fs.String("client", "", "client INSTANCE/CLASS/CODE[/SUBSYSTEM], or group:INSTANCE/GROUP")
	methodFlag := fs.String("method", "", "REST services: the endpoint's HTTP method, or * for any (with --path)")
	pathFlag := fs.String("path", "", "REST services: the endpoint's path pattern; * matches one segment, ** anything (with --method)")
	if err := cli.Parse(fs, args); err != nil {
		return r, err
	}
	cfg, err := load(*path)
	if err != nil {
		return r, err
	}
	if *svcFlag == "" || *clientFlag == "" {
		return r, cli.Usagef("--service and --client are required")
	}
	if r.service, err = identifier.ParseService(*svcFlag); err != nil {
		return r, cli.UsageError{Err: err}
	}
	svc, ok := cfg.ServiceFor(r.service)
	if !ok {
		return r, fmt.Errorf("service %s is not among the services this server provides (services: in %s)", r.service, *path)
	}
	if r.subject, err = acl.ParseSubject(*clientFlag); err != nil {
		return r, cli.UsageError{Err: err}
	}
	if (*methodFlag == "") != (*pathFlag == "") {
		return r, cli.Usagef("--method and --path go together")
	}
	if *methodFlag != "" {
		if !svc.IsREST() {
			return r, fmt.Errorf("service %s is a %s service: endpoint rights (--method, --path) are for REST services", r.service, svc.Type)
		}
		r.endpoint = &rest.Endpoint{Method: *methodFlag, Path: *pathFlag}
		if err := acl.CheckEndpoint(*r.endpoint); err != nil {
			return r, cli.UsageError{Err: err}
		}
	}
	r.store, err = securityserver.OpenACL(cfg)
	return r, err
}

func runACLGrant(env *cli.Env, args []string) error {
	r, err := parseRule(env, args)
	if err != nil {
		return err
	}
	defer r.store.Close()
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	if r.endpoint != nil {
		_, err = r.store.GrantEndpoint(r.service, *r.endpoint, r.subject, who, time.Now())
	} else {
		_, err = r.store.Grant(r.service, r.subject, who, time.Now())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "%s may now call %s\n", r.subject, r.what())
	return nil
}

func runACLRevoke(env *cli.Env, args []string) error {
	r, err := parseRule(env, args)
	if err != nil {
		return err
	}
	defer r.store.Close()
	var eps []rest.Endpoint
	if r.endpoint != nil {
		eps = append(eps, *r.endpoint)
	}
	if err := r.store.Revoke(r.service, r.subject, eps...); err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "%s may no longer call %s\n", r.subject, r.what())
	return nil
}

func runACLList(env *cli.Env, args []string) error {
	fs := env.Flags()
	path := configFlag(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	_, store, err := openACL(*path)
	if err != nil {
		return err
	}
	defer store.Close()
	rules, err := store.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENDPOINT\tCLIENT\tGRANTED\tBY")
	for _, r := range rules {
		ep := "*"
		if r.Endpoint != nil {
			ep = r.Endpoint.Method + " " + r.Endpoint.Path
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Service, ep, r.Subject, r.Granted.Format(time.RFC3339), r.By)
	}
	return tw.Flush()
}
