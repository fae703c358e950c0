package main

import (
	"os"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/cli/clitest"
	"github.com/sluz/sluz/registry"
)

// TestHelpEverywhere: every command, group and subcommand answers --help
// with usage and an example.
func TestHelpEverywhere(t *testing.T) {
	t.Logf("%d help screens", clitest.HelpEverywhere(t, program))
}

// TestCredentialsHelp: operator credentials are documented one way, the
// same words in registry --help, in the --help of every command that takes
// them (it has the --registry flag) and in README.md.
func TestCredentialsHelp(t *testing.T) {
	if _, out, _ := runCLI("--help"); !strings.Contains(out, registry.OperatorCredentialsHelp) {
		t.Errorf("registry --help lacks the credentials text:\n%s", out)
	}
	operators := 0
	program.Walk(func(path []string, c *cli.Command) {
		if c.Run == nil {
			return
		}
		_, out, _ := runCLI(append(path[:len(path):len(path)], "--help")...)
		takes, says := strings.Contains(out, "\n  -registry string"), strings.Contains(out, registry.OperatorCredentialsHelp)
		if takes != says {
			t.Errorf("registry %s: takes credentials %v, documents them %v:\n%s", strings.Join(path, " "), takes, says, out)
		}
		if takes {
			operators++
		}
	})
	if operators < 20 {
		t.Errorf("%d operator commands document their credentials, want all (at least 20)", operators)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), registry.OperatorCredentialsHelp) {
		t.Errorf("README.md lacks the credentials text:\n%s", registry.OperatorCredentialsHelp)
	}
}
