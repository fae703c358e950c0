// Package cli is the small command-line frame the Şlüz binaries share:
// "PROG COMMAND [flags]" and "PROG GROUP SUBCOMMAND [flags]" dispatch,
// --help on every level, and three exit codes (0 success, 1 the command
// failed, 2 the command line was wrong).
//
// Help is the frame's job: "PROG --help", "PROG help", "PROG COMMAND
// --help", "PROG GROUP -h", "PROG help GROUP SUBCOMMAND" all print usage to
// standard output and exit 0. A command's help is its usage line, summary,
// details, the flags of the flag set it made with [Env.Flags], its example
// and its footer (a subcommand shows its group's footer unless it has one).
//
// # Caveats
//
// A command learns of --help only by parsing its flags, so Run must parse
// them (with [Parse] or [ParseWithArg]) before it does anything else.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed
	ExitUsage = 2 // the command line was wrong
)

// UsageError marks an error in the command line (exit code 2, usage hint).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// Exit is an error that only sets the exit code: the command has already
// said what went wrong (a report with failed checks), so nothing is added.
type Exit int

func (e Exit) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Env is what a command runs with.
type Env struct {
	Name     string // "PROG COMMAND" or "PROG GROUP SUBCOMMAND"
	Out, Err io.Writer

	cmd    *Command
	footer string        // the command's or its group's
	flags  *flag.FlagSet // the last set Flags made: --help lists it
}

// Flags returns the command's flag set. Its errors and --help are reported
// by the frame (Program.Main), not by the flag package.
func (e *Env) Flags() *flag.FlagSet {
	fs := flag.NewFlagSet(e.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	e.flags = fs
	return fs
}

// Command is one command, "PROG NAME [flags]", or a group of them,
// "PROG NAME SUBCOMMAND [flags]": a command has Run, a group has
// Subcommands.
type Command struct {
	Name    string
	Args    string // what follows the name in the usage line (a group's is "SUBCOMMAND [flags]")
	Summary string // one line, without a final period
	Details string // optional paragraphs for --help, after the summary
	// Example is one or more lines of a real invocation, each starting
	// with the command ("registry member add --id AZ/GOV/DIN ..."); "#"
	// lines are comments and a line ending in "\" continues on the next.
	// A group without one shows its subcommands' examples.
	Example     string
	Footer      string // last in --help; a subcommand without one shows its group's
	Run         func(env *Env, args []string) error
	Subcommands []Command
}

// Program is a binary's command table.
type Program struct {
	Name     string
	Intro    string // first line of the usage
	Footer   string // after the command list (not shown by the commands)
	Commands []Command
	// Single, when set, is the program's only command: "PROG [flags]" runs
	// it (also without arguments) and Commands must be empty. Its Name is
	// the program's.
	Single *Command
}

// Main runs the command args name and returns the exit code.
func (p *Program) Main(args []string, out, errOut io.Writer) int {
	if len(args) > 0 && args[0] == "help" {
		args = append(args[1:len(args):len(args)], "--help") // "help GROUP SUB" is "GROUP SUB --help"
	}
	if p.Single != nil {
		return p.Single.run(p.Name, "", args, out, errOut)
	}
	if len(args) == 0 || isHelp(args[0]) {
		p.usage(out)
		return ExitOK
	}
	if c := find(p.Commands, args[0]); c != nil {
		return c.run(p.Name+" "+c.Name, "", args[1:], out, errOut) // the program's footer is not the commands'
	}
	fmt.Fprintf(errOut, "%s: unknown command %q\n\n", p.Name, args[0])
	p.usage(errOut)
	return ExitUsage
}

// Walk calls fn for every command, group and subcommand of p, parents
// first, with the arguments that name it ("member", "add"); for a
// single-command program, once with no arguments.
func (p *Program) Walk(fn func(path []string, c *Command)) {
	if p.Single != nil {
		fn(nil, p.Single)
		return
	}
	walk(nil, p.Commands, fn)
}

func walk(parent []string, cmds []Command, fn func([]string, *Command)) {
	for i := range cmds {
		path := append(parent[:len(parent):len(parent)], cmds[i].Name)
		fn(path, &cmds[i])
		walk(path, cmds[i].Subcommands, fn)
	}
}

// Validate reports what would make a command's help wrong or missing: a
// command with both or neither of Run and Subcommands, a repeated name, no
// summary, or an example that does not start with the command.
func (p *Program) Validate() error {
	if p.Single != nil && len(p.Commands) > 0 {
		return fmt.Errorf("%s: a program has Single or Commands, not both", p.Name)
	}
	var errs []error
	seen := map[string]bool{}
	p.Walk(func(path []string, c *Command) {
		name := strings.Join(append([]string{p.Name}, path...), " ")
		switch {
		case seen[name]:
			errs = append(errs, fmt.Errorf("%s: defined twice", name))
		case (c.Run == nil) == (len(c.Subcommands) == 0):
			errs = append(errs, fmt.Errorf("%s: give it Run or Subcommands (not both)", name))
		case c.Summary == "":
			errs = append(errs, fmt.Errorf("%s: no Summary", name))
		case c.Run != nil && c.Example == "":
			errs = append(errs, fmt.Errorf("%s: no Example", name))
		}
		seen[name] = true
		for _, line := range exampleLines(c.Example) {
			if line != name && !strings.HasPrefix(line, name+" ") {
				errs = append(errs, fmt.Errorf("%s: example %q does not start with %q", name, line, name))
			}
		}
	})
	return errors.Join(errs...)
}

// exampleLines returns the invocations in an example: not comments, not
// continuation lines.
func exampleLines(example string) []string {
	var out []string
	continued := false
	for _, line := range strings.Split(strings.TrimSpace(example), "\n") {
		line = strings.TrimSpace(line)
		if !continued && line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
		continued = strings.HasSuffix(line, `\`)
	}
	return out
}

func find(cmds []Command, name string) *Command {
	for i := range cmds {
		if cmds[i].Name == name {
			return &cmds[i]
		}
	}
	return nil
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// run runs c, named name ("PROG GROUP SUB"), with footer its group's.
func (c *Command) run(name, footer string, args []string, out, errOut io.Writer) int {
	if c.Footer != "" {
		footer = c.Footer
	}
	if c.Run == nil {
		if len(args) > 0 && isHelp(args[0]) {
			c.groupHelp(out, name, footer)
			return ExitOK
		}
		if len(args) > 0 {
			if sub := find(c.Subcommands, args[0]); sub != nil {
				return sub.run(name+" "+sub.Name, footer, args[1:], out, errOut)
			}
		}
		var err error
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			err = Usagef("missing subcommand: %s", c.subcommandNames())
		} else {
			err = Usagef("unknown subcommand %q: use %s", args[0], c.subcommandNames())
		}
		return report(errOut, name, c.args(), err)
	}
	env := &Env{Name: name, Out: out, Err: errOut, cmd: c, footer: footer}
	err := c.Run(env, args)
	if errors.Is(err, flag.ErrHelp) {
		env.help(out)
		return ExitOK
	}
	return report(errOut, name, c.args(), err)
}

// report maps err to the exit code, saying what was wrong on errOut.
func report(errOut io.Writer, name, args string, err error) int {
	var ue UsageError
	var exit Exit
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &exit):
		return int(exit)
	case errors.As(err, &ue):
		fmt.Fprintf(errOut, "%s: %v\nusage: %s\nrun '%s --help' for details\n", name, err, usageLine(name, args), name)
		return ExitUsage
	default:
		fmt.Fprintf(errOut, "%s: %v\n", name, err)
		return ExitError
	}
}

func (c *Command) args() string {
	if c.Run == nil {
		return "SUBCOMMAND [flags]"
	}
	return c.Args
}

func usageLine(name, args string) string { return strings.TrimSpace(name + " " + args) }

// subcommandNames is "add, list or remove".
func (c *Command) subcommandNames() string {
	names := make([]string, len(c.Subcommands))
	for i, s := range c.Subcommands {
		names[i] = s.Name
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// help prints a command's --help: usage, summary, details, flags, example
// and footer.
func (e *Env) help(w io.Writer) {
	c := e.cmd
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", usageLine(e.Name, c.Args), c.Summary)
	if c.Details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Details, "\n"))
	}
	if e.flags != nil && hasFlags(e.flags) {
		fmt.Fprint(w, "\nflags:\n")
		e.flags.SetOutput(w)
		e.flags.PrintDefaults()
		e.flags.SetOutput(io.Discard)
	}
	printExample(w, "example", c.Example)
	printFooter(w, e.footer)
}

// groupHelp prints a group's --help: usage, summary, the subcommands, their
// examples and the footer.
func (c *Command) groupHelp(w io.Writer, name, footer string) {
	fmt.Fprintf(w, "usage: %s\n\n%s.\n", usageLine(name, c.args()), c.Summary)
	if c.Details != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Details, "\n"))
	}
	fmt.Fprint(w, "\nsubcommands:\n")
	list(w, c.Subcommands)
	example := c.Example
	if example == "" {
		var lines []string
		for _, s := range c.Subcommands {
			lines = append(lines, strings.TrimSpace(s.Example))
		}
		example = strings.Join(lines, "\n")
	}
	printExample(w, "examples", example)
	fmt.Fprintf(w, "\nRun '%s SUBCOMMAND --help' for a subcommand's flags.\n", name)
	printFooter(w, footer)
}

func (p *Program) usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nusage: %s COMMAND [flags]\n\ncommands:\n", p.Intro, p.Name)
	list(w, p.Commands)
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags and an example.\n%s", p.Name, p.Footer)
}

func list(w io.Writer, cmds []Command) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
}

func printExample(w io.Writer, title, example string) {
	if example = strings.TrimSpace(example); example == "" {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, line := range strings.Split(example, "\n") {
		fmt.Fprintf(w, "  %s\n", strings.TrimRight(line, " \t"))
	}
}

func printFooter(w io.Writer, footer string) {
	if footer = strings.Trim(footer, "\n"); footer != "" {
		fmt.Fprintf(w, "\n%s\n", footer)
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// Parse parses flags, maps errors to UsageError and rejects stray arguments.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// ParseWithArg parses flags around at most one positional argument, given
// before or after them, and returns it ("" if there is none).
func ParseWithArg(fs *flag.FlagSet, args []string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return "", err
	}
	switch {
	case arg == "" && fs.NArg() == 1:
		arg = fs.Arg(0)
	case fs.NArg() > 0:
		return "", Usagef("unexpected argument %q", fs.Arg(fs.NArg()-1))
	}
	return arg, nil
}

// parseFlags parses flags; any error but a request for help is a UsageError.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return UsageError{err}
	}
	return err
}
