// Command registry runs the Şlüz central registry (serve) and is the central
// operator's tool to change it over the authenticated admin API.
//
// Run `registry help` for the commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/registry"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/store"
)

var program = &cli.Program{
	Name:   "registry",
	Intro:  "registry: the Şlüz central registry and its operator tool.",
	Footer: footer,
	Commands: []cli.Command{
		{Name: "serve", Args: "--config FILE",
			Summary: "run the registry: admin API (TLS) and the signed global configuration", Run: runServe},
		{Name: "check-config", Args: "--config FILE",
			Summary: "validate a configuration file without starting", Run: runCheckConfig},
		{Name: "anchor", Args: "--config FILE --out FILE",
			Summary: "write the configuration anchor security servers need", Run: runAnchor},
		{Name: "load", Args: "FILE",
			Summary: "load a federation description (configs/federation.yaml) in one all-or-nothing step", Run: runLoad},
		{Name: "member", Args: "add --id ID --name NAME | list | show --id ID | remove --id ID",
			Summary: "manage members", Run: runMember},
		{Name: "subsystem", Args: "add --id ID | remove --id ID",
			Summary: "manage subsystems", Run: runSubsystem},
		{Name: "server", Args: "add --id ID --address HOST:PORT --auth-cert FILE | approve --id ID | address --id ID --address HOST:PORT | client --server ID --client ID [--remove] | list | remove --id ID",
			Summary: "manage security servers", Run: runServer},
		{Name: "service", Args: "add --id ID --description TEXT | list [--provider ID] | remove --id ID",
			Summary: "manage the service catalogue", Run: runService},
		{Name: "group", Args: "add --id ID --description TEXT | member --group ID --client ID [--remove] | list | remove --id ID",
			Summary: "manage global groups", Run: runGroup},
		{Name: "trust", Args: "show | ca --name N --cert FILE [--issuers FILE] [--ocsp-url URL] | tsa --name N --url URL --cert FILE | remove --kind ca|tsa --name N | settings [--ocsp-freshness S] [--conf-validity S]",
			Summary: "manage trust settings", Run: runTrust},
		{Name: "audit", Args: "[--limit N]",
			Summary: "show the audit trail, newest first", Run: runAudit},
		{Name: "status", Args: "",
			Summary: "show the published configuration version and expiry", Run: runStatus},
	}}

const footer = `
Operator commands reach a running registry over TLS with an admin certificate:
  --registry URL   (or $SLUZ_REGISTRY_URL; default https://127.0.0.1:4000)
  --cert, --key    operator certificate and key (or $SLUZ_OPERATOR_CERT, $SLUZ_OPERATOR_KEY)
  --ca             PEM roots that issued the registry's TLS certificate (or $SLUZ_REGISTRY_CA)
`

// env is the process environment; tests replace it.
var env = os.Getenv

// op is a command's environment with the operator-call helpers.
type op struct{ *cli.Env }

func (c op) flags(sub string) *flag.FlagSet { return c.Flags(sub) }

func main() { os.Exit(program.Main(os.Args[1:], os.Stdout, os.Stderr)) }

// clientFlags adds the connection flags to fs and returns a constructor.
func clientFlags(fs *flag.FlagSet) func() (*adminapi.Client, error) {
	def := func(k, d string) string {
		if v := env(k); v != "" {
			return v
		}
		return d
	}
	u := fs.String("registry", def("SLUZ_REGISTRY_URL", "https://"+registry.DefaultAdminListen), "registry admin API URL")
	cert := fs.String("cert", def("SLUZ_OPERATOR_CERT", ""), "operator certificate (PEM, pkiutil profile admin)")
	key := fs.String("key", def("SLUZ_OPERATOR_KEY", ""), "operator private key (PEM)")
	ca := fs.String("ca", def("SLUZ_REGISTRY_CA", ""), "PEM roots for the registry's TLS certificate")
	return func() (*adminapi.Client, error) { return adminapi.NewClient(*u, *cert, *key, *ca) }
}

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", env("SLUZ_REGISTRY_CONFIG"), "registry configuration file (YAML; or $SLUZ_REGISTRY_CONFIG)")
}

func loadConfig(path string) (*registry.Config, error) {
	if path == "" {
		return nil, cli.Usagef("--config FILE is required (see configs/registry.yaml)")
	}
	return registry.LoadConfig(path)
}

func runServe(e *cli.Env, args []string) error {
	c := op{e}
	fs := c.flags("")
	cfgPath := configFlag(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(c.Err, nil)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(c.Err, nil)
	}
	log := slog.New(h)
	srv, err := registry.New(cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return fmt.Errorf("admin.listen: %w", err)
	}
	publishLn, err := net.Listen("tcp", cfg.Publish.Listen)
	if err != nil {
		adminLn.Close()
		return fmt.Errorf("publish.listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			adminLn.Close()
			publishLn.Close()
			return fmt.Errorf("metricsListen: %w", err)
		}
		ms := &http.Server{Handler: srv.MetricsHandler(), ReadHeaderTimeout: 5 * time.Second}
		go ms.Serve(mln)
		defer ms.Close()
		log.Info("metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	err = srv.Serve(ctx, adminLn, publishLn)
	log.Info("registry stopped")
	return err
}

func runCheckConfig(e *cli.Env, args []string) error {
	c := op{e}
	fs := c.flags("")
	cfgPath := configFlag(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "configuration OK: instance %s, admin API on %s, global configuration at %s\n", cfg.Instance, cfg.Admin.Listen, cfg.Publish.URL)
	return nil
}

func runAnchor(e *cli.Env, args []string) error {
	c := op{e}
	fs := c.flags("")
	cfgPath := configFlag(fs)
	out := fs.String("out", "", "where to write the anchor file")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return cli.Usagef("--out FILE is required")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	a, err := registry.AnchorFromConfig(cfg)
	if err != nil {
		return err
	}
	if err := a.Write(*out); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "wrote configuration anchor for instance %s (%s) to %s\n", a.Instance, a.URL, *out)
	return nil
}

func runLoad(e *cli.Env, args []string) error {
	c := op{e}
	fs := c.flags("")
	connect := clientFlags(fs)
	name := fs.String("name", "load", "batch name recorded in the audit trail")
	// The description file is the one positional argument, before or after the flags.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return cli.UsageError{Err: err}
	}
	switch {
	case file == "" && fs.NArg() == 1:
		file = fs.Arg(0)
	case fs.NArg() > 0:
		return cli.Usagef("unexpected argument %q", fs.Arg(fs.NArg()-1))
	}
	if file == "" {
		return cli.Usagef("give the federation description file, e.g. registry load configs/federation.yaml")
	}
	changes, err := registry.LoadDescription(file)
	if err != nil {
		return err
	}
	req, err := adminapi.NewBatchRequest(*name, changes)
	if err != nil {
		return err
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	var entry store.AuditEntry
	if err := cl.Do(context.Background(), http.MethodPost, "/api/v1/batch", req, &entry); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "loaded %s: %d changes in one step (audit #%d)\n", file, len(changes), entry.Seq)
	return nil
}

// subcommand dispatches "registry NOUN VERB [flags]".
func (c op) subcommand(args []string, verbs map[string]func(fs *flag.FlagSet, args []string) error) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return cli.Usagef("missing subcommand")
	}
	fn, ok := verbs[args[0]]
	if !ok {
		return cli.Usagef("unknown subcommand %q", args[0])
	}
	return fn(c.flags(args[0]), args[1:])
}

// change sends one change and reports the audit entry.
func (c op) change(connect func() (*adminapi.Client, error), method, path string, body any, what string) error {
	cl, err := connect()
	if err != nil {
		return err
	}
	var entry store.AuditEntry
	if err := cl.Do(context.Background(), method, path, body, &entry); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "%s (audit #%d)\n", what, entry.Seq)
	return nil
}

func (c op) get(connect func() (*adminapi.Client, error), path string, out any) error {
	cl, err := connect()
	if err != nil {
		return err
	}
	return cl.Do(context.Background(), http.MethodGet, path, nil, out)
}

func required(pairs ...string) error {
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return cli.Usagef("--%s is required", pairs[i])
		}
	}
	return nil
}

func readFile(flagName, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagName, err)
	}
	return string(b), nil
}

func runMember(e *cli.Env, args []string) error {
	c := op{e}
	return c.subcommand(args, map[string]func(*flag.FlagSet, []string) error{
		"add": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			id := fs.String("id", "", "member identifier INSTANCE/CLASS/CODE, e.g. AZ/GOV/DIN")
			name := fs.String("name", "", `display name, e.g. "Daxili İşlər Nazirliyi"`)
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			if err := required("id", *id, "name", *name); err != nil {
				return err
			}
			m, err := identifier.ParseMember(*id)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			return c.change(connect, http.MethodPost, "/api/v1/members", store.AddMember{ID: m, Name: *name}, "member "+m.String()+" added")
		},
		"list": listVerb(c, "/api/v1/members", "MEMBER\tNAME\tSUBSYSTEMS", func(m store.Member) []any {
			return []any{m.ID, m.Name, strings.Join(m.Subsystems, ",")}
		}),
		"show": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			id := fs.String("id", "", "member identifier")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			if err := required("id", *id); err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.get(connect, "/api/v1/members/"+*id, &raw); err != nil {
				return err
			}
			_, err := c.Out.Write(raw)
			return err
		},
		"remove": removeVerb(c, "member", "/api/v1/members/"),
	})
}

func removeVerb(c op, what, prefix string) func(*flag.FlagSet, []string) error {
	return func(fs *flag.FlagSet, args []string) error {
		connect := clientFlags(fs)
		id := fs.String("id", "", what+" identifier")
		if err := cli.Parse(fs, args); err != nil {
			return err
		}
		if err := required("id", *id); err != nil {
			return err
		}
		return c.change(connect, http.MethodDelete, prefix+*id, nil, what+" "+*id+" removed")
	}
}

func runSubsystem(e *cli.Env, args []string) error {
	c := op{e}
	return c.subcommand(args, map[string]func(*flag.FlagSet, []string) error{
		"add": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			id := fs.String("id", "", "subsystem identifier INSTANCE/CLASS/CODE/SUBSYSTEM, e.g. AZ/GOV/DIN/population")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			if err := required("id", *id); err != nil {
				return err
			}
			s, err := identifier.ParseSubsystem(*id)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			return c.change(connect, http.MethodPost, "/api/v1/subsystems", store.AddSubsystem{ID: s}, "subsystem "+s.String()+" added")
		},
		"remove": removeVerb(c, "subsystem", "/api/v1/subsystems/"),
	})
}

func runServer(e *cli.Env, args []string) error {
	c := op{e}
	return c.subcommand(args, map[string]func(*flag.FlagSet, []string) error{
		"add": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			id := fs.String("id", "", "server identifier INSTANCE/CLASS/CODE/SERVERCODE, e.g. AZ/GOV/DIN/ss1")
			addr := fs.String("address", "", "host:port of its service proxy")
			cert := fs.String("auth-cert", "", "its authentication certificate (PEM, pkiutil profile auth)")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			if err := required("id", *id, "address", *addr, "auth-cert", *cert); err != nil {
				return err
			}
			s, err := identifier.ParseServer(*id)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			pem, err := readFile("auth-cert", *cert)
			if err != nil {
				return err
			}
			return c.change(connect, http.MethodPost, "/api/v1/servers", store.AddServer{ID: s, Address: *addr, AuthCert: pem},
				"security server "+s.String()+" registered; approve it to publish it")
		},
		"approve": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			id := fs.String("id", "", "server identifier")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			s, err := identifier.ParseServer(*id)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			return c.change(connect, http.MethodPost, "/api/v1/servers/approve", store.ApproveServer{ID: s}, "security server "+s.String()+" approved")
		},
		"address": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			id := fs.String("id", "", "server identifier")
			addr := fs.String("address", "", "its new host:port")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			s, err := identifier.ParseServer(*id)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			return c.change(connect, http.MethodPost, "/api/v1/servers/address", store.SetServerAddress{ID: s, Address: *addr}, "security server "+s.String()+" now at "+*addr)
		},
		"client": clientVerb(c, "server", "server identifier", "stop hosting the client instead", "/api/v1/servers/clients",
			func(id string, cl identifier.Client, remove bool) (any, string, error) {
				s, err := identifier.ParseServer(id)
				what := map[bool]string{false: " now hosts ", true: " no longer hosts "}[remove]
				return store.AddServerClient{Server: s, Client: cl}, s.String() + what + cl.String(), err
			}),
		"list": listVerb(c, "/api/v1/servers", "SERVER\tADDRESS\tAPPROVED\tCLIENTS", func(s store.Server) []any {
			return []any{s.ID, s.Address, s.Approved, joinClients(s.Clients)}
		}),
		"remove": removeVerb(c, "security server", "/api/v1/servers/"),
	})
}

// describedAddVerb is "NOUN add --id ID --description TEXT": build parses
// the id and makes the change and its success message.
func describedAddVerb(c op, idUsage, descUsage, path string, build func(id, desc string) (any, string, error)) func(*flag.FlagSet, []string) error {
	return func(fs *flag.FlagSet, args []string) error {
		connect := clientFlags(fs)
		id := fs.String("id", "", idUsage)
		desc := fs.String("description", "", descUsage)
		if err := cli.Parse(fs, args); err != nil {
			return err
		}
		if err := required("id", *id, "description", *desc); err != nil {
			return err
		}
		body, what, err := build(*id, *desc)
		if err != nil {
			return cli.UsageError{Err: err}
		}
		return c.change(connect, http.MethodPost, path, body, what)
	}
}

// listVerb is "NOUN list": GET path and print one table row per item.
func listVerb[T any](c op, path, header string, row func(T) []any) func(*flag.FlagSet, []string) error {
	return func(fs *flag.FlagSet, args []string) error {
		connect := clientFlags(fs)
		if err := cli.Parse(fs, args); err != nil {
			return err
		}
		var items []T
		if err := c.get(connect, path, &items); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(c.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		for _, it := range items {
			cells := row(it)
			for i, v := range cells {
				sep := "\t"
				if i == len(cells)-1 {
					sep = "\n"
				}
				fmt.Fprintf(tw, "%v%s", v, sep)
			}
		}
		return tw.Flush()
	}
}

func joinClients(cs []identifier.Client) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return strings.Join(out, ",")
}

// clientVerb adds a client to (or with --remove, removes it from) the server
// or group named by --NOUN: POST path or path+"/remove" with build's body.
func clientVerb(c op, noun, nounUsage, removeUsage, path string, build func(id string, cl identifier.Client, remove bool) (any, string, error)) func(*flag.FlagSet, []string) error {
	return func(fs *flag.FlagSet, args []string) error {
		connect := clientFlags(fs)
		id := fs.String(noun, "", nounUsage)
		clientID := fs.String("client", "", "member or subsystem")
		remove := fs.Bool("remove", false, removeUsage)
		if err := cli.Parse(fs, args); err != nil {
			return err
		}
		cl, err := identifier.ParseClient(*clientID)
		if err != nil {
			return cli.UsageError{Err: err}
		}
		body, what, err := build(*id, cl, *remove)
		if err != nil {
			return cli.UsageError{Err: err}
		}
		target := path
		if *remove {
			target += "/remove"
		}
		return c.change(connect, http.MethodPost, target, body, what)
	}
}

func runService(e *cli.Env, args []string) error {
	c := op{e}
	return c.subcommand(args, map[string]func(*flag.FlagSet, []string) error{
		"add": describedAddVerb(c, "service identifier INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]", "what the service answers", "/api/v1/services",
			func(id, desc string) (any, string, error) {
				s, err := identifier.ParseService(id)
				return store.AddService{ID: s, Description: desc}, "service " + s.String() + " added", err
			}),
		"list": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			provider := fs.String("provider", "", "only services of this member or subsystem")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			path := "/api/v1/services"
			if *provider != "" {
				path += "?provider=" + url.QueryEscape(*provider)
			}
			var services []store.Service
			if err := c.get(connect, path, &services); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tDESCRIPTION")
			for _, s := range services {
				fmt.Fprintf(tw, "%s\t%s\n", s.ID, s.Description)
			}
			return tw.Flush()
		},
		"remove": removeVerb(c, "service", "/api/v1/services/"),
	})
}

func runGroup(e *cli.Env, args []string) error {
	c := op{e}
	return c.subcommand(args, map[string]func(*flag.FlagSet, []string) error{
		"add": describedAddVerb(c, "group identifier INSTANCE/GROUPCODE", "what the group is", "/api/v1/groups",
			func(id, desc string) (any, string, error) {
				g, err := identifier.ParseGlobalGroup(id)
				return store.AddGroup{ID: g, Description: desc}, "global group " + g.String() + " added", err
			}),
		"member": clientVerb(c, "group", "group identifier", "remove the client from the group instead", "/api/v1/groups/members",
			func(id string, cl identifier.Client, remove bool) (any, string, error) {
				g, err := identifier.ParseGlobalGroup(id)
				what := map[bool]string{false: " added to ", true: " removed from "}[remove]
				return store.AddGroupMember{Group: g, Client: cl}, cl.String() + what + g.String(), err
			}),
		"list": listVerb(c, "/api/v1/groups", "GROUP\tDESCRIPTION\tMEMBERS", func(g store.Group) []any {
			return []any{g.ID, g.Description, joinClients(g.Members)}
		}),
		"remove": removeVerb(c, "global group", "/api/v1/groups/"),
	})
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runTrust(e *cli.Env, args []string) error {
	c := op{e}
	return c.subcommand(args, map[string]func(*flag.FlagSet, []string) error{
		"show": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.get(connect, "/api/v1/trust", &raw); err != nil {
				return err
			}
			_, err := c.Out.Write(raw)
			return err
		},
		"ca": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			name := fs.String("name", "", "CA name")
			cert := fs.String("cert", "", "top CA certificate (PEM)")
			issuers := fs.String("issuers", "", "intermediate CA certificates (PEM)")
			var ocspURLs stringList
			fs.Var(&ocspURLs, "ocsp-url", "OCSP responder URL (repeatable)")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			if err := required("name", *name, "cert", *cert); err != nil {
				return err
			}
			certPEM, err := readFile("cert", *cert)
			if err != nil {
				return err
			}
			issuersPEM, err := readFile("issuers", *issuers)
			if err != nil {
				return err
			}
			return c.change(connect, http.MethodPost, "/api/v1/trust/cas", store.AddCA{Name: *name, Cert: certPEM, Issuers: issuersPEM, OCSPURLs: ocspURLs}, "approved CA "+*name+" added")
		},
		"tsa": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			name := fs.String("name", "", "TSA name")
			u := fs.String("url", "", "TSA URL")
			cert := fs.String("cert", "", "TSA certificate (PEM)")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			if err := required("name", *name, "url", *u, "cert", *cert); err != nil {
				return err
			}
			certPEM, err := readFile("cert", *cert)
			if err != nil {
				return err
			}
			return c.change(connect, http.MethodPost, "/api/v1/trust/tsas", store.AddTSA{Name: *name, URL: *u, Cert: certPEM}, "TSA "+*name+" added")
		},
		"remove": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			kind := fs.String("kind", "", "ca or tsa")
			name := fs.String("name", "", "its name")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			return c.change(connect, http.MethodPost, "/api/v1/trust/remove", store.RemoveTrust{Kind: *kind, Name: *name}, *kind+" "+*name+" removed")
		},
		"settings": func(fs *flag.FlagSet, args []string) error {
			connect := clientFlags(fs)
			fresh := fs.Int("ocsp-freshness", 0, "maximum OCSP response age in seconds")
			validity := fs.Int("conf-validity", 0, "global configuration validity in seconds")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			var ch store.SetTrustSettings
			if *fresh != 0 {
				ch.OCSPFreshnessSeconds = fresh
			}
			if *validity != 0 {
				ch.ConfValiditySeconds = validity
			}
			return c.change(connect, http.MethodPut, "/api/v1/trust/settings", ch, "trust settings changed")
		},
	})
}

func runAudit(e *cli.Env, args []string) error {
	c := op{e}
	fs := c.flags("")
	connect := clientFlags(fs)
	limit := fs.Int("limit", 20, "how many entries")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var entries []store.AuditEntry
	if err := c.get(connect, "/api/v1/audit?limit="+strconv.Itoa(*limit), &entries); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTIME\tOPERATOR\tACTION\tCHANGE")
	for _, e := range entries {
		change := string(e.Change)
		if len(change) > 120 {
			change = change[:117] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Actor, e.Action, change)
	}
	return tw.Flush()
}

func runStatus(e *cli.Env, args []string) error {
	c := op{e}
	fs := c.flags("")
	connect := clientFlags(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var st registry.Status
	if err := c.get(connect, "/api/v1/configuration", &st); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "global configuration version %d\n  created: %s\n  expires: %s\n  sha256:  %s\n  url:     %s\n",
		st.Version, st.Created.Format(time.RFC3339), st.Expires.Format(time.RFC3339), st.SHA256, st.URL)
	return nil
}
