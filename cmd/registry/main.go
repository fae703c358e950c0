// Command registry runs the Şlüz central registry (serve) and is the central
// operator's tool to change it over the authenticated admin API.
//
// Run `registry help` for the commands.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/durable"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/console"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/registration"
	"github.com/sluz/sluz/registry/store"
)

var program = &cli.Program{
	Name:   "registry",
	Intro:  "registry: the Şlüz central registry and its operator tool.",
	Footer: "\n" + registry.OperatorCredentialsHelp,
	Commands: []cli.Command{
		{Name: "serve", Args: "--config FILE",
			Summary: "run the registry: admin API (TLS) and the signed global configuration", Run: runServe,
			Example: "registry serve --config configs/registry.yaml"},
		{Name: "check-config", Args: "--config FILE",
			Summary: "validate a configuration file without starting", Run: runCheckConfig,
			Example: "registry check-config --config configs/registry.yaml"},
		{Name: "anchor", Args: "--config FILE --out FILE",
			Summary: "write the configuration anchor security servers need", Run: runAnchor,
			Example: "registry anchor --config configs/registry.yaml --out anchor.json"},
		{Name: "load", Args: "FILE [--name NAME]",
			Summary: "load a federation description (configs/federation.yaml) in one all-or-nothing step", Run: runLoad, Footer: registry.OperatorCredentialsHelp,
			Example: "registry load configs/federation.yaml --cert state/operator.pem --key state/operator.key --ca state/pki/root-ca.pem"},
		{Name: "register", Args: "REQUEST.json --trust DIR [--out FILE]",
			Summary: "register a new security server from its registration request in one step: certificates, member, subsystems, server, approval", Run: runRegister,
			Details: registerDetails, Footer: registry.OperatorCredentialsHelp,
			Example: "registry register dgk/registration-request.json --trust state/pki --out dgk-response.json \\\n" +
				"    --cert state/operator.pem --key state/operator.key --ca state/pki/root-ca.pem"},
		{Name: "member", Summary: "manage members", Footer: registry.OperatorCredentialsHelp, Subcommands: []cli.Command{
			{Name: "add", Args: "--id ID --name NAME", Summary: "add a member", Run: runMemberAdd,
				Example: `registry member add --id AZ/COM/1234567 --name "Notarius Günay Əliyeva"`},
			listVerb("member", "/api/v1/members", "MEMBER\tNAME\tSUBSYSTEMS", func(m store.Member) []any {
				return []any{m.ID, m.Name, strings.Join(m.Subsystems, ",")}
			}),
			{Name: "show", Args: "--id ID", Summary: "print a member with its subsystems (JSON)", Run: runMemberShow,
				Example: "registry member show --id AZ/GOV/DIN"},
			removeVerb("member", "member", "AZ/COM/1234567", "/api/v1/members/"),
		}},
		{Name: "subsystem", Summary: "manage subsystems", Footer: registry.OperatorCredentialsHelp, Subcommands: []cli.Command{
			{Name: "add", Args: "--id ID", Summary: "add a subsystem to its member", Run: runSubsystemAdd,
				Example: "registry subsystem add --id AZ/COM/1234567/notary"},
			removeVerb("subsystem", "subsystem", "AZ/COM/1234567/notary", "/api/v1/subsystems/"),
		}},
		{Name: "server", Summary: "manage security servers", Footer: registry.OperatorCredentialsHelp, Subcommands: []cli.Command{
			{Name: "add", Args: "--id ID --address HOST:PORT --auth-cert FILE", Summary: "register a security server (published once approved)", Run: runServerAdd,
				Example: "registry server add --id AZ/COM/1234567/ss1 --address 10.0.0.5:5500 --auth-cert notary-auth.pem"},
			{Name: "approve", Args: "--id ID", Summary: "approve a registered security server, publishing it", Run: runServerApprove,
				Example: "registry server approve --id AZ/COM/1234567/ss1"},
			{Name: "address", Args: "--id ID --address HOST:PORT", Summary: "move a security server to a new address", Run: runServerAddress,
				Example: "registry server address --id AZ/GOV/DIN/ss1 --address 10.0.0.7:5500"},
			clientVerb("client", "server", "let a security server host a client (or stop, with --remove)", "server identifier", "stop hosting the client instead", "/api/v1/servers/clients",
				"registry server client --server AZ/COM/1234567/ss1 --client AZ/COM/1234567/notary",
				func(id string, cl identifier.Client, remove bool) (any, string, error) {
					s, err := identifier.ParseServer(id)
					what := map[bool]string{false: " now hosts ", true: " no longer hosts "}[remove]
					return store.AddServerClient{Server: s, Client: cl}, s.String() + what + cl.String(), err
				}),
			listVerb("server", "/api/v1/servers", "SERVER\tADDRESS\tAPPROVED\tCLIENTS", func(s store.Server) []any {
				return []any{s.ID, s.Address, s.Approved, joinClients(s.Clients)}
			}),
			removeVerb("server", "security server", "AZ/COM/1234567/ss1", "/api/v1/servers/"),
		}},
		{Name: "service", Summary: "manage the service catalogue", Footer: registry.OperatorCredentialsHelp, Subcommands: []cli.Command{
			describedAddVerb("service", "service identifier INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]", "what the service answers", "/api/v1/services",
				`registry service add --id AZ/GOV/DSMF/insurance/getInsuredPerson/v2 --description "Sığortaolunan şəxsin fərdi uçot məlumatları"`,
				func(id, desc string) (any, string, error) {
					s, err := identifier.ParseService(id)
					return store.AddService{ID: s, Description: desc}, "service " + s.String() + " added", err
				}),
			{Name: "list", Args: "[--provider ID]", Summary: "list the services, all or one provider's", Run: runServiceList,
				Example: "registry service list --provider AZ/GOV/EMDK"},
			{Name: "doc", Args: "--id ID (--wsdl FILE | --openapi FILE | --remove)", Summary: "set or remove a service's WSDL or OpenAPI 3 description", Run: runServiceDoc,
				Example: "registry service doc --id AZ/GOV/EMDK/realestate/realEstateRegistry --openapi configs/openapi/emdk-realestate.yaml"},
			removeVerb("service", "service", "AZ/GOV/DSMF/insurance/getInsuredPerson/v2", "/api/v1/services/"),
		}},
		{Name: "group", Summary: "manage global groups", Footer: registry.OperatorCredentialsHelp, Subcommands: []cli.Command{
			describedAddVerb("global group", "group identifier INSTANCE/GROUPCODE", "what the group is", "/api/v1/groups",
				`registry group add --id AZ/social-protection --description "Sosial müdafiə orqanları"`,
				func(id, desc string) (any, string, error) {
					g, err := identifier.ParseGlobalGroup(id)
					return store.AddGroup{ID: g, Description: desc}, "global group " + g.String() + " added", err
				}),
			clientVerb("member", "group", "add a client to a global group (or remove it, with --remove)", "group identifier", "remove the client from the group instead", "/api/v1/groups/members",
				"registry group member --group AZ/state-agencies --client AZ/COM/1234567/notary",
				func(id string, cl identifier.Client, remove bool) (any, string, error) {
					g, err := identifier.ParseGlobalGroup(id)
					what := map[bool]string{false: " added to ", true: " removed from "}[remove]
					return store.AddGroupMember{Group: g, Client: cl}, cl.String() + what + g.String(), err
				}),
			listVerb("group", "/api/v1/groups", "GROUP\tDESCRIPTION\tMEMBERS", func(g store.Group) []any {
				return []any{g.ID, g.Description, joinClients(g.Members)}
			}),
			removeVerb("group", "global group", "AZ/social-protection", "/api/v1/groups/"),
		}},
		{Name: "trust", Summary: "manage trust settings", Footer: registry.OperatorCredentialsHelp, Subcommands: []cli.Command{
			{Name: "show", Summary: "print the approved CAs, TSAs and trust settings (JSON)", Run: runTrustShow,
				Example: "registry trust show"},
			{Name: "ca", Args: "--name NAME --ca-cert FILE [--issuers FILE] [--ocsp-url URL]...", Summary: "approve a certification authority", Run: runTrustCA,
				Example: `registry trust ca --name "Şlüz AZ" --ca-cert state/pki/root-ca.pem --issuers state/pki/ca.pem --ocsp-url http://127.0.0.1:8888/`},
			{Name: "tsa", Args: "--name NAME --url URL --tsa-cert FILE", Summary: "approve a time-stamp authority", Run: runTrustTSA,
				Example: `registry trust tsa --name "Şlüz AZ Time-Stamp Authority" --url http://127.0.0.1:8899/ --tsa-cert state/pki/tsa.pem`},
			{Name: "remove", Args: "--kind ca|tsa --name NAME", Summary: "withdraw an approved CA or TSA", Run: runTrustRemove,
				Example: `registry trust remove --kind tsa --name "Şlüz AZ Time-Stamp Authority"`},
			{Name: "settings", Args: "[--ocsp-freshness SECONDS] [--conf-validity SECONDS]", Summary: "change the OCSP freshness limit and the configuration validity", Run: runTrustSettings,
				Example: "registry trust settings --ocsp-freshness 1800 --conf-validity 3600"},
		}},
		{Name: "audit", Args: "[--limit N]",
			Summary: "show the audit trail, newest first", Run: runAudit, Footer: registry.OperatorCredentialsHelp,
			Example: "registry audit --limit 50"},
		{Name: "status", Args: "",
			Summary: "show the published configuration version and expiry", Run: runStatus, Footer: registry.OperatorCredentialsHelp,
			Example: "registry status"},
		{Name: "console-link", Args: "",
			Summary: "print a one-time link that signs a browser in to the web console (valid 2 minutes)", Run: runConsoleLink, Footer: registry.OperatorCredentialsHelp,
			Example: "registry console-link --cert state/operator.pem --key state/operator.key --ca state/pki/root-ca.pem"},
	}}

// env is the process environment; tests replace it.
var env = os.Getenv

// op is a command's environment with the operator-call helpers.
type op struct{ *cli.Env }

func main() { os.Exit(program.Main(os.Args[1:], os.Stdout, os.Stderr)) }

// clientFlags adds the connection flags to fs (registry.OperatorCredentialsHelp)
// and returns a constructor.
func clientFlags(fs *flag.FlagSet) func() (*adminapi.Client, error) {
	def := func(k, d string) string {
		if v := env(k); v != "" {
			return v
		}
		return d
	}
	u := fs.String("registry", def(registry.EnvAdminURL, "https://"+registry.DefaultAdminListen), "registry admin API URL (else $"+registry.EnvAdminURL+")")
	cert := fs.String("cert", def(registry.EnvOperatorCert, ""), "operator certificate (PEM, pkiutil profile admin; else $"+registry.EnvOperatorCert+")")
	key := fs.String("key", def(registry.EnvOperatorKey, ""), "operator private key (PEM; else $"+registry.EnvOperatorKey+")")
	ca := fs.String("ca", def(registry.EnvAdminCA, ""), "PEM roots for the registry's TLS certificate (else $"+registry.EnvAdminCA+")")
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
	fs := c.Flags()
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
	fs := c.Flags()
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
	fs := c.Flags()
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
	fs := c.Flags()
	connect := clientFlags(fs)
	name := fs.String("name", "load", "batch name recorded in the audit trail")
	// The description file is the one positional argument, before or after the flags.
	file, err := cli.ParseWithArg(fs, args)
	if err != nil {
		return err
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

// operatorFlags is how every operator subcommand starts: its flag set with
// the connection flags, and the constructor of the admin API client.
func (c op) operatorFlags() (*flag.FlagSet, func() (*adminapi.Client, error)) {
	fs := c.Flags()
	return fs, clientFlags(fs)
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

// show GETs path and prints the JSON answer as it came.
func (c op) show(connect func() (*adminapi.Client, error), path string) error {
	var raw json.RawMessage
	if err := c.get(connect, path, &raw); err != nil {
		return err
	}
	_, err := c.Out.Write(raw)
	return err
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

func runMemberAdd(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
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
}

func runMemberShow(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	id := fs.String("id", "", "member identifier")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := required("id", *id); err != nil {
		return err
	}
	return c.show(connect, "/api/v1/members/"+*id)
}

// removeVerb is "NOUN remove --id ID", what the thing removed, exampleID
// one for the example.
func removeVerb(noun, what, exampleID, prefix string) cli.Command {
	return cli.Command{Name: "remove", Args: "--id ID", Summary: "remove a " + what,
		Example: "registry " + noun + " remove --id " + exampleID,
		Run: func(e *cli.Env, args []string) error {
			c := op{e}
			fs, connect := c.operatorFlags()
			id := fs.String("id", "", what+" identifier")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			if err := required("id", *id); err != nil {
				return err
			}
			return c.change(connect, http.MethodDelete, prefix+*id, nil, what+" "+*id+" removed")
		}}
}

func runSubsystemAdd(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
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
}

func runServerAdd(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
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
}

func runServerApprove(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	id := fs.String("id", "", "server identifier")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	s, err := identifier.ParseServer(*id)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	return c.change(connect, http.MethodPost, "/api/v1/servers/approve", store.ApproveServer{ID: s}, "security server "+s.String()+" approved")
}

func runServerAddress(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
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
}

// describedAddVerb is "NOUN add --id ID --description TEXT": build parses
// the id and makes the change and its success message.
func describedAddVerb(what, idUsage, descUsage, path, example string, build func(id, desc string) (any, string, error)) cli.Command {
	return cli.Command{Name: "add", Args: "--id ID --description TEXT", Summary: "add a " + what, Example: example,
		Run: func(e *cli.Env, args []string) error {
			c := op{e}
			fs, connect := c.operatorFlags()
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
		}}
}

// listVerb is "NOUN list": GET path and print one table row per item.
func listVerb[T any](noun, path, header string, row func(T) []any) cli.Command {
	return cli.Command{Name: "list", Summary: "list the " + noun + "s", Example: "registry " + noun + " list",
		Run: func(e *cli.Env, args []string) error {
			c := op{e}
			fs, connect := c.operatorFlags()
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
		}}
}

func joinClients(cs []identifier.Client) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return strings.Join(out, ",")
}

// clientVerb is "NOUN NAME --NOUN ID --client ID [--remove]": it adds a
// client to (or with --remove, removes it from) the server or group: POST
// path or path+"/remove" with build's body.
func clientVerb(name, noun, summary, nounUsage, removeUsage, path, example string, build func(id string, cl identifier.Client, remove bool) (any, string, error)) cli.Command {
	return cli.Command{Name: name, Args: "--" + noun + " ID --client ID [--remove]", Summary: summary, Example: example,
		Run: func(e *cli.Env, args []string) error {
			c := op{e}
			fs, connect := c.operatorFlags()
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
		}}
}

func runServiceList(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
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
	fmt.Fprintln(tw, "SERVICE\tDOC\tDESCRIPTION")
	for _, s := range services {
		doc := "-"
		if s.Doc != nil {
			doc = s.Doc.Type
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, doc, s.Description)
	}
	return tw.Flush()
}

func runServiceDoc(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	id := fs.String("id", "", "service identifier INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]")
	wsdl := fs.String("wsdl", "", "the service's WSDL file (SOAP)")
	openapi := fs.String("openapi", "", "the service's OpenAPI 3 description, YAML or JSON (REST)")
	remove := fs.Bool("remove", false, "remove the service's description document instead")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := required("id", *id); err != nil {
		return err
	}
	svc, err := identifier.ParseService(*id)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	given := 0
	for _, set := range []bool{*wsdl != "", *openapi != "", *remove} {
		if set {
			given++
		}
	}
	if given != 1 {
		return cli.Usagef("give exactly one of --wsdl FILE, --openapi FILE or --remove")
	}
	if *remove {
		return c.change(connect, http.MethodDelete, "/api/v1/services/doc/"+svc.String(), nil, "description document of "+svc.String()+" removed")
	}
	typ, file := store.DocWSDL, *wsdl
	if *openapi != "" {
		typ, file = store.DocOpenAPI, *openapi
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := store.CheckServiceDoc(typ, data); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return c.change(connect, http.MethodPut, "/api/v1/services/doc", store.SetServiceDoc{ID: svc, Type: typ, Content: string(data)}, typ+" description of "+svc.String()+" set")
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runTrustShow(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return c.show(connect, "/api/v1/trust")
}

// runTrustCA approves a CA. Its certificate is --ca-cert: --cert is the
// operator's, as in every operator command.
func runTrustCA(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	name := fs.String("name", "", "CA name")
	cert := fs.String("ca-cert", "", "top CA certificate (PEM)")
	issuers := fs.String("issuers", "", "intermediate CA certificates (PEM)")
	var ocspURLs stringList
	fs.Var(&ocspURLs, "ocsp-url", "OCSP responder URL (repeatable)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := required("name", *name, "ca-cert", *cert); err != nil {
		return err
	}
	certPEM, err := readFile("ca-cert", *cert)
	if err != nil {
		return err
	}
	issuersPEM, err := readFile("issuers", *issuers)
	if err != nil {
		return err
	}
	return c.change(connect, http.MethodPost, "/api/v1/trust/cas", store.AddCA{Name: *name, Cert: certPEM, Issuers: issuersPEM, OCSPURLs: ocspURLs}, "approved CA "+*name+" added")
}

// runTrustTSA approves a TSA; its certificate is --tsa-cert (see runTrustCA).
func runTrustTSA(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	name := fs.String("name", "", "TSA name")
	u := fs.String("url", "", "TSA URL")
	cert := fs.String("tsa-cert", "", "TSA certificate (PEM)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := required("name", *name, "url", *u, "tsa-cert", *cert); err != nil {
		return err
	}
	certPEM, err := readFile("tsa-cert", *cert)
	if err != nil {
		return err
	}
	return c.change(connect, http.MethodPost, "/api/v1/trust/tsas", store.AddTSA{Name: *name, URL: *u, Cert: certPEM}, "TSA "+*name+" added")
}

func runTrustRemove(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	kind := fs.String("kind", "", "ca or tsa")
	name := fs.String("name", "", "its name")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return c.change(connect, http.MethodPost, "/api/v1/trust/remove", store.RemoveTrust{Kind: *kind, Name: *name}, *kind+" "+*name+" removed")
}

func runTrustSettings(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
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
}

func runAudit(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
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
	fs, connect := c.operatorFlags()
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

func runConsoleLink(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	var link console.LinkResponse
	if err := cl.Do(context.Background(), http.MethodPost, console.Prefix+"/link", nil, &link); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "%s\n(open it in a browser on this machine before %s; it works once)\n", link.URL, link.Expires.Format(time.RFC3339))
	return nil
}

const registerDetails = `Reads the registration request securityserver init wrote and checks it (each
certificate request signed by its own key, the keys those the request names,
the names those of the server), checks it against the registry (the server
must be new, the member class known, the trust directory's CA approved),
issues the authentication and signing certificates through the federation CA
(profiles auth and sign) and applies one batch: the member unless it exists,
its new subsystems, the server with its authentication certificate, its
approval and the hosted subsystems. A new global configuration is published
at once. Any refusal changes nothing (certificates issued for a batch the
registry then refuses are revoked). Writes the response bundle for the agency.
The trust directory is --trust, else $SLUZ_TRUST_DIR.`

func runRegister(e *cli.Env, args []string) error {
	c := op{e}
	fs, connect := c.operatorFlags()
	trust := fs.String("trust", env("SLUZ_TRUST_DIR"), "the federation trust directory whose CA issues the certificates (else $SLUZ_TRUST_DIR)")
	out := fs.String("out", "", "where to write the response bundle for the agency (default: SERVER-response.json beside the request, e.g. AZ-GOV-DGK-ss1-response.json)")
	file, err := cli.ParseWithArg(fs, args)
	if err != nil {
		return err
	}
	if file == "" {
		return cli.Usagef("give the registration request file, e.g. registry register dgk/registration-request.json --trust state/pki")
	}
	if *trust == "" {
		return cli.Usagef("--trust DIR (or $SLUZ_TRUST_DIR) is required: the trust directory of the federation CA")
	}
	req, err := registration.ReadRequest(file)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(filepath.Dir(file), strings.ReplaceAll(req.Server.String(), "/", "-")+"-response.json")
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("%s already exists: choose another --out", *out)
	}
	ca, err := pkiutil.Open(*trust)
	if err != nil {
		return err
	}
	cl, err := connect()
	if err != nil {
		return err
	}
	res, err := registration.Register(context.Background(), cl, ca, req)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(res.Response, "", "  ")
	if err != nil {
		return err
	}
	if err := durable.WriteFile(*out, append(data, '\n'), 0o644, false); err != nil {
		return fmt.Errorf("%s is registered (audit #%d) but the response could not be written: %w; run registry register again after removing the server, or send the certificates by hand", req.Server, res.Entry.Seq, err)
	}
	what := "existing member " + req.Server.Owner.String()
	if res.NewMember {
		what = "new member " + req.Server.Owner.String() + " (" + req.MemberName + ")"
	}
	fmt.Fprintf(c.Out, "registered security server %s of %s at %s, hosting %s: %d changes in one step (audit #%d)\n",
		req.Server, what, req.Address, joinClients(req.Subsystems), len(res.Changes), res.Entry.Seq)
	fmt.Fprintf(c.Out, "  issued authentication certificate %s and signing certificate %s\n", res.AuthSerial, res.SignSerial)
	fmt.Fprintf(c.Out, "Send this file back to the agency (it holds certificates only, no secret):\n  %s\n", *out)
	fmt.Fprintf(c.Out, "They install it with:\n  securityserver install --dir DIR --bundle %s\n", filepath.Base(*out))
	return nil
}
