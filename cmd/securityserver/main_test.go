package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/configs"
	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/localfed"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := program.Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// sample lays out the shipped DİN configuration beside a prepared state.
func sample(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if _, err := localfed.Prepare(filepath.Join(root, "state")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "state", "anchor.json"), []byte("{}"), 0o644)
	os.Mkdir(filepath.Join(root, "configs"), 0o755)
	data, _ := configs.FS.ReadFile("securityserver-din.yaml")
	p := filepath.Join(root, "configs", "securityserver-din.yaml")
	os.WriteFile(p, data, 0o644)
	return p
}

func TestCheckConfigAndACL(t *testing.T) {
	cfg := sample(t)
	if code, out, errOut := runCLI("check-config", "--config", cfg); code != cli.ExitOK || !strings.Contains(out, "configuration OK: AZ/GOV/DIN/ss1") {
		t.Fatalf("check-config: %d %s %s", code, out, errOut)
	}
	grant := []string{"acl", "grant", "--config", cfg, "--service", "AZ/GOV/DIN/population/getPersonByFin/v1", "--client", "AZ/GOV/EMDK/realestate"}
	if code, out, errOut := runCLI(grant...); code != cli.ExitOK || !strings.Contains(out, "AZ/GOV/EMDK/realestate may now call AZ/GOV/DIN/population/getPersonByFin") {
		t.Fatalf("grant: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(grant...); code != cli.ExitError || !strings.Contains(errOut, "already granted") {
		t.Fatalf("second grant: %d %s", code, errOut)
	}
	if code, out, _ := runCLI("acl", "grant", "--config", cfg, "--service", "AZ/GOV/DIN/population/getPersonByFin", "--client", "group:AZ/state-agencies"); code != cli.ExitOK || !strings.Contains(out, "group:AZ/state-agencies") {
		t.Fatalf("grant to a group: %d %s", code, out)
	}
	if code, _, errOut := runCLI("acl", "grant", "--config", cfg, "--service", "AZ/GOV/DIN/population/getPassport", "--client", "AZ/GOV/EMDK"); code != cli.ExitError || !strings.Contains(errOut, "not among the services this server provides") {
		t.Fatalf("grant for an unprovided service: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI("acl", "grant", "--config", cfg, "--service", "AZ/GOV/DIN/population/getPersonByFin", "--client", "group:AZ"); code != cli.ExitUsage || !strings.Contains(errOut, "INSTANCE/GROUPCODE") {
		t.Fatalf("bad subject: %d %s", code, errOut)
	}
	code, out, _ := runCLI("acl", "list", "--config", cfg)
	if code != cli.ExitOK || strings.Count(out, "AZ/GOV/DIN/population/getPersonByFin") != 2 {
		t.Fatalf("list:\n%s", out)
	}
	if code, out, errOut := runCLI("acl", "revoke", "--config", cfg, "--service", "AZ/GOV/DIN/population/getPersonByFin", "--client", "AZ/GOV/EMDK/realestate"); code != cli.ExitOK || !strings.Contains(out, "no longer") {
		t.Fatalf("revoke: %d %s %s", code, out, errOut)
	}
	if _, out, _ := runCLI("acl", "list", "--config", cfg); strings.Contains(out, "AZ/GOV/EMDK/realestate") {
		t.Fatalf("revoked right still listed:\n%s", out)
	}
	if code, _, errOut := runCLI("serve"); code != cli.ExitUsage || !strings.Contains(errOut, "--config FILE is required") {
		t.Fatalf("serve without config: %d %s", code, errOut)
	}
}
