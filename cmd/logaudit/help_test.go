package main

import (
	"testing"

	"github.com/sluz/sluz/internal/cli/clitest"
)

// TestHelpEverywhere: every command, group and subcommand answers --help
// with usage and an example.
func TestHelpEverywhere(t *testing.T) {
	t.Logf("%d help screens", clitest.HelpEverywhere(t, program))
}
