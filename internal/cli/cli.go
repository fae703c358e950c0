// Package cli is the small command-line frame the Şlüz binaries share:
// "PROG COMMAND [flags]" dispatch, --help on every level, and three exit
// codes (0 success, 1 the command failed, 2 the command line was wrong).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
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

// Env is what a command runs with.
type Env struct {
	Name          string // "PROG COMMAND"
	Args, Summary string // from the Command, for --help
	Out, Err      io.Writer
}

// Flags returns a flag set for the command (or its subcommand sub) that
// reports to Err.
func (e *Env) Flags(sub string) *flag.FlagSet {
	name := e.Name
	if sub != "" {
		name += " " + sub
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.Err)
	fs.Usage = func() {
		fmt.Fprintf(e.Err, "usage: %s %s\n\n%s.\n\nflags:\n", e.Name, e.Args, e.Summary)
		fs.PrintDefaults()
	}
	return fs
}

// Command is one "PROG NAME" command.
type Command struct {
	Name, Args, Summary string
	Run                 func(env *Env, args []string) error
}

// Program is a binary's command table.
type Program struct {
	Name     string
	Intro    string // first line of the usage
	Footer   string // after the command list
	Commands []Command
}

// Main runs the command args[0] and returns the exit code.
func (p *Program) Main(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) < 2 {
			p.usage(out)
			return ExitOK
		}
		args = []string{args[1], "--help"}
	}
	for _, c := range p.Commands {
		if c.Name != args[0] {
			continue
		}
		env := &Env{Name: p.Name + " " + c.Name, Args: c.Args, Summary: c.Summary, Out: out, Err: errOut}
		err := c.Run(env, args[1:])
		var ue UsageError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return ExitOK
		case errors.As(err, &ue):
			fmt.Fprintf(errOut, "%s: %v\nusage: %s %s\nrun '%s --help' for details\n", env.Name, err, env.Name, c.Args, env.Name)
			return ExitUsage
		default:
			fmt.Fprintf(errOut, "%s: %v\n", env.Name, err)
			return ExitError
		}
	}
	fmt.Fprintf(errOut, "%s: unknown command %q\n\n", p.Name, args[0])
	p.usage(errOut)
	return ExitUsage
}

func (p *Program) usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nusage: %s COMMAND [flags]\n\ncommands:\n", p.Intro, p.Name)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range p.Commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n%s", p.Name, p.Footer)
}

// Parse parses flags, maps errors to UsageError and rejects stray arguments.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return UsageError{err}
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
