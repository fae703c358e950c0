// Package clitest checks a cli.Program's help from its tests: every
// command, group and subcommand answers --help (and a group also -h and
// "help GROUP") on standard output with exit 0, its usage line and a
// non-empty example.
package clitest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli"
)

// HelpEverywhere validates p and runs every help request on it: "PROG
// --help", "PROG help", then for each command (cli.Program.Walk, so a new
// command is covered without a new test) "PROG PATH --help", and for a
// group also "PROG PATH -h", and "PROG help PATH". It returns how many
// help screens it checked.
func HelpEverywhere(t *testing.T, p *cli.Program) int {
	t.Helper()
	if err := p.Validate(); err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	screens := 0
	check := func(args []string, wantUsage string, wantExample bool) {
		t.Helper()
		screens++
		var out, errOut bytes.Buffer
		code := p.Main(args, &out, &errOut)
		text := out.String()
		switch {
		case code != cli.ExitOK:
			t.Errorf("%s %s: exit %d, want 0\n%s%s", p.Name, strings.Join(args, " "), code, text, errOut.String())
		case errOut.Len() > 0:
			t.Errorf("%s %s: help on stderr, want stdout:\n%s", p.Name, strings.Join(args, " "), errOut.String())
		case !strings.Contains(text, "usage: "+wantUsage):
			t.Errorf("%s %s: no %q in\n%s", p.Name, strings.Join(args, " "), "usage: "+wantUsage, text)
		case wantExample && Example(text) == "":
			t.Errorf("%s %s: no example in\n%s", p.Name, strings.Join(args, " "), text)
		}
	}
	if p.Single != nil {
		check([]string{"--help"}, p.Name, true)
		check([]string{"help"}, p.Name, true)
		check([]string{"-h"}, p.Name, true)
		return screens
	}
	check([]string{"--help"}, p.Name+" COMMAND", false)
	check([]string{"help"}, p.Name+" COMMAND", false)
	p.Walk(func(path []string, c *cli.Command) {
		name := p.Name + " " + strings.Join(path, " ")
		check(append(path[:len(path):len(path)], "--help"), name, true)
		check(append([]string{"help"}, path...), name, true)
		if c.Run == nil {
			check(append(path[:len(path):len(path)], "-h"), name+" SUBCOMMAND", true)
		}
	})
	return screens
}

// Example returns the example section of a help text: the lines under
// "example:" or "examples:", up to the next blank line.
func Example(help string) string {
	var lines []string
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case line == "example:" || line == "examples:":
			in = true
		case in && strings.TrimSpace(line) == "":
			return strings.Join(lines, "\n")
		case in:
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return strings.Join(lines, "\n")
}
