package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/cli/clitest"
)

// sample is a program with a plain command and a group, as the Şlüz
// binaries are built.
func sample() (*cli.Program, *[]string) {
	var ran []string
	add := func(env *cli.Env, args []string) error {
		fs := env.Flags()
		id := fs.String("id", "", "member identifier")
		if err := cli.Parse(fs, args); err != nil {
			return err
		}
		if *id == "" {
			return cli.Usagef("--id is required")
		}
		ran = append(ran, env.Name+" "+*id)
		return nil
	}
	list := func(env *cli.Env, args []string) error {
		if err := cli.Parse(env.Flags(), args); err != nil {
			return err
		}
		ran = append(ran, env.Name)
		return cli.Exit(3)
	}
	return &cli.Program{
		Name:   "registry",
		Intro:  "registry: the sample.",
		Footer: "program footer\n",
		Commands: []cli.Command{
			{Name: "status", Summary: "show the status", Example: "registry status", Run: list},
			{Name: "member", Summary: "manage members", Footer: "Operator credentials: flags.", Subcommands: []cli.Command{
				{Name: "add", Args: "--id ID", Summary: "add a member", Example: "registry member add --id AZ/GOV/DIN", Run: add},
				{Name: "list", Summary: "list the members", Example: "registry member list", Run: list},
			}},
		},
	}, &ran
}

func run(p *cli.Program, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := p.Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string // in stdout, in order
		not  []string
	}{
		{[]string{}, []string{"registry: the sample.", "usage: registry COMMAND [flags]", "status", "member", "program footer"}, nil},
		{[]string{"help"}, []string{"usage: registry COMMAND [flags]"}, nil},
		{[]string{"--help"}, []string{"usage: registry COMMAND [flags]"}, nil},
		// A group lists its subcommands and their examples, and its footer.
		{[]string{"member", "--help"}, []string{"usage: registry member SUBCOMMAND [flags]", "manage members.", "subcommands:", "add", "add a member", "list",
			"examples:", "registry member add --id AZ/GOV/DIN", "registry member list", "Run 'registry member SUBCOMMAND --help'", "Operator credentials: flags."}, []string{"program footer"}},
		{[]string{"member", "-h"}, []string{"usage: registry member SUBCOMMAND [flags]", "subcommands:"}, nil},
		{[]string{"help", "member"}, []string{"usage: registry member SUBCOMMAND [flags]", "subcommands:"}, nil},
		// A subcommand shows its flags, its example and its group's footer.
		{[]string{"member", "add", "--help"}, []string{"usage: registry member add --id ID", "add a member.", "flags:", "-id string", "member identifier",
			"example:", "  registry member add --id AZ/GOV/DIN", "Operator credentials: flags."}, []string{"subcommands:"}},
		{[]string{"help", "member", "add"}, []string{"usage: registry member add --id ID", "-id string"}, nil},
		{[]string{"member", "add", "--id", "AZ/GOV/DIN", "-h"}, []string{"usage: registry member add --id ID"}, nil},
		// A command without flags has no flags section; the program's footer is not the commands'.
		{[]string{"status", "--help"}, []string{"usage: registry status", "example:", "  registry status"}, []string{"flags:", "program footer"}},
	} {
		code, out, errOut := run(mustProgram(), tc.args...)
		if code != cli.ExitOK || errOut != "" {
			t.Errorf("%q: exit %d, stderr %q", tc.args, code, errOut)
		}
		rest := out
		for _, w := range tc.want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Errorf("%q: no %q (in this order) in\n%s", tc.args, w, out)
				break
			}
			rest = rest[i+len(w):]
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("%q: %q in\n%s", tc.args, n, out)
			}
		}
	}
}

func mustProgram() *cli.Program { p, _ := sample(); return p }

func TestDispatch(t *testing.T) {
	p, ran := sample()
	if code, out, errOut := run(p, "member", "add", "--id", "AZ/GOV/DIN"); code != cli.ExitOK || out != "" || errOut != "" {
		t.Errorf("member add: exit %d %q %q", code, out, errOut)
	}
	// cli.Exit sets the code and adds nothing.
	if code, _, errOut := run(p, "member", "list"); code != 3 || errOut != "" {
		t.Errorf("member list: exit %d %q", code, errOut)
	}
	if want := []string{"registry member add AZ/GOV/DIN", "registry member list"}; fmt.Sprint(*ran) != fmt.Sprint(want) {
		t.Errorf("ran %q, want %q", *ran, want)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the whole of stderr, or its start
	}{
		{[]string{"member"}, "registry member: missing subcommand: add or list\nusage: registry member SUBCOMMAND [flags]\nrun 'registry member --help' for details\n"},
		{[]string{"member", "--id", "x"}, "registry member: missing subcommand: add or list\n"},
		{[]string{"member", "fly"}, "registry member: unknown subcommand \"fly\": use add or list\nusage: registry member SUBCOMMAND [flags]\n"},
		{[]string{"help", "member", "fly"}, "registry member: unknown subcommand \"fly\": use add or list\n"},
		{[]string{"fly"}, "registry: unknown command \"fly\"\n\nregistry: the sample.\n\nusage: registry COMMAND [flags]"},
		// The flag package's error is said once, by the frame.
		{[]string{"member", "add", "--nope"}, "registry member add: flag provided but not defined: -nope\nusage: registry member add --id ID\nrun 'registry member add --help' for details\n"},
		{[]string{"member", "add"}, "registry member add: --id is required\n"},
		{[]string{"member", "add", "--id", "x", "stray"}, "registry member add: unexpected argument \"stray\"\n"},
	} {
		code, out, errOut := run(mustProgram(), tc.args...)
		if code != cli.ExitUsage || out != "" || !strings.HasPrefix(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr\n%s\nwant exit 2 and stderr starting\n%s", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestCommandError(t *testing.T) {
	p := &cli.Program{Name: "pkiutil", Commands: []cli.Command{{Name: "list", Summary: "list", Example: "pkiutil list",
		Run: func(env *cli.Env, args []string) error { return errors.New("open trust: no such directory") }}}}
	if code, _, errOut := run(p, "list"); code != cli.ExitError || errOut != "pkiutil list: open trust: no such directory\n" {
		t.Errorf("exit %d %q", code, errOut)
	}
}

// TestSingle: a program that is one command runs it without arguments and
// shows its help as a command's.
func TestSingle(t *testing.T) {
	ran := 0
	p := &cli.Program{Name: "federation", Single: &cli.Command{Args: "[--once]", Summary: "run the federation", Example: "federation --once",
		Run: func(env *cli.Env, args []string) error {
			fs := env.Flags()
			fs.Bool("once", false, "run the checks and exit")
			if err := cli.Parse(fs, args); err != nil {
				return err
			}
			ran++
			return nil
		}}}
	if code, _, _ := run(p); code != cli.ExitOK || ran != 1 {
		t.Errorf("no arguments: exit %d, ran %d", code, ran)
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		code, out, _ := run(p, args...)
		if code != cli.ExitOK || !strings.HasPrefix(out, "usage: federation [--once]\n") || !strings.Contains(out, "-once") || clitest.Example(out) != "federation --once" {
			t.Errorf("%q: exit %d\n%s", args, code, out)
		}
	}
	if ran != 1 {
		t.Errorf("help ran the command")
	}
	if n := clitest.HelpEverywhere(t, p); n != 3 {
		t.Errorf("HelpEverywhere checked %d screens, want 3", n)
	}
}

func TestWalk(t *testing.T) {
	var got []string
	mustProgram().Walk(func(path []string, c *cli.Command) { got = append(got, strings.Join(path, " ")) })
	if want := "[status member member add member list]"; fmt.Sprint(got) != want {
		t.Errorf("walked %v, want %s", got, want)
	}
	// root --help, help; status --help, help; member --help, help, -h; add and list --help, help.
	if n := clitest.HelpEverywhere(t, mustProgram()); n != 11 {
		t.Errorf("HelpEverywhere checked %d screens, want 11", n)
	}
}

func TestValidate(t *testing.T) {
	run := func(*cli.Env, []string) error { return nil }
	for _, tc := range []struct {
		cmd  cli.Command
		want string
	}{
		{cli.Command{Name: "audit", Summary: "show the audit trail", Run: run}, "registry audit: no Example"},
		{cli.Command{Name: "audit", Summary: "show the audit trail", Example: "registry status", Run: run}, `registry audit: example "registry status" does not start with "registry audit"`},
		{cli.Command{Name: "audit", Example: "registry audit", Run: run}, "registry audit: no Summary"},
		{cli.Command{Name: "member", Summary: "manage members"}, "registry member: give it Run or Subcommands (not both)"},
		{cli.Command{Name: "member", Summary: "manage members", Subcommands: []cli.Command{
			{Name: "list", Summary: "list", Example: "registry member list", Run: run},
			{Name: "list", Summary: "list", Example: "registry member list", Run: run}}}, "registry member list: defined twice"},
	} {
		p := &cli.Program{Name: "registry", Commands: []cli.Command{tc.cmd}}
		if err := p.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%s: Validate() = %v, want %s", tc.cmd.Name, err, tc.want)
		}
	}
	// Comments and continuation lines are not invocations.
	p := &cli.Program{Name: "securityserver", Commands: []cli.Command{{Name: "acl", Summary: "manage access rights", Example: "# grant a right\nsecurityserver acl grant \\\n    --service AZ/GOV/DIN/population/getPersonByFin", Run: run}}}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	if err := mustProgram().Validate(); err != nil {
		t.Errorf("sample: %v", err)
	}
}

func TestParseWithArg(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		arg, name string
		err       string
	}{
		{[]string{"configs/federation.yaml", "--name", "b"}, "configs/federation.yaml", "b", ""},
		{[]string{"--name", "b", "configs/federation.yaml"}, "configs/federation.yaml", "b", ""},
		{[]string{"--name", "b"}, "", "b", ""},
		{[]string{"a.yaml", "b.yaml"}, "", "", `unexpected argument "b.yaml"`},
		{[]string{"--name"}, "", "", "flag needs an argument: -name"},
	} {
		env := &cli.Env{Name: "registry load", Out: os.Stdout, Err: os.Stderr}
		fs := env.Flags()
		name := fs.String("name", "", "batch name")
		arg, err := cli.ParseWithArg(fs, tc.args)
		var ue cli.UsageError
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err || !errors.As(err, &ue)):
			t.Errorf("%q: error %v, want usage error %s", tc.args, err, tc.err)
		case tc.err == "" && (err != nil || arg != tc.arg || *name != tc.name):
			t.Errorf("%q: %q %q %v, want %q %q", tc.args, arg, *name, err, tc.arg, tc.name)
		}
	}
}

// A group's help: its subcommands, their examples and the group's footer,
// on standard output.
func ExampleProgram_Main() {
	run := func(env *cli.Env, args []string) error { return cli.Parse(env.Flags(), args) }
	p := &cli.Program{Name: "securityserver", Commands: []cli.Command{
		{Name: "acl", Summary: "manage who may call the services this server provides", Footer: "Access rights live in dataDir/acl.db.",
			Subcommands: []cli.Command{
				{Name: "grant", Summary: "let a client call a service", Run: run,
					Example: "securityserver acl grant --config configs/securityserver-din.yaml \\\n    --service AZ/GOV/DIN/population/getPersonByFin --client AZ/GOV/EMDK/realestate"},
				{Name: "list", Summary: "list the access rights", Run: run, Example: "securityserver acl list --config configs/securityserver-din.yaml"},
			}},
	}}
	fmt.Println("exit", p.Main([]string{"acl", "--help"}, os.Stdout, os.Stderr))
	// Output:
	// usage: securityserver acl SUBCOMMAND [flags]
	//
	// manage who may call the services this server provides.
	//
	// subcommands:
	//   grant  let a client call a service
	//   list   list the access rights
	//
	// examples:
	//   securityserver acl grant --config configs/securityserver-din.yaml \
	//       --service AZ/GOV/DIN/population/getPersonByFin --client AZ/GOV/EMDK/realestate
	//   securityserver acl list --config configs/securityserver-din.yaml
	//
	// Run 'securityserver acl SUBCOMMAND --help' for a subcommand's flags.
	//
	// Access rights live in dataDir/acl.db.
	// exit 0
}
