package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/registry/identifier"
)

// readmeAddAgency returns the commands of README.md's "Add an agency"
// block, continuation lines joined, comments left out.
func readmeAddAgency(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "\n## Add an agency\n")
	if !ok {
		t.Fatal(`README.md has no "## Add an agency" section`)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal(`README.md's "Add an agency" section has no sh block`)
	}
	var cmds []string
	cur := ""
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur += more
			continue
		}
		cmds = append(cmds, cur+line)
		cur = ""
	}
	return cmds
}

// TestAddAgency runs README.md's "Add an agency" commands, as written,
// against a running local federation: the built securityserver and
// registry binaries on PATH, the federation's state directory as ./state,
// only DGK's listen addresses moved to free ports. DGK's server runs in its
// own process, and DGK's first request gets DİN's signed answer. The
// agency's and the operator's side take at most 5 commands, plus the grant.
func TestAddAgency(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries and runs a federation")
	}
	start := time.Now()
	cmds := readmeAddAgency(t)
	f := startFederation(t)
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+"/", ".", "../registry").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := t.TempDir()
	if err := os.Symlink(f.Dir, filepath.Join(work, "state")); err != nil {
		t.Fatal(err)
	}
	clientAddr := testtool.FreeAddr(t)
	moved := strings.NewReplacer("127.0.0.1:5503", testtool.FreeAddr(t), "127.0.0.1:8084", clientAddr, "127.0.0.1:9014", testtool.FreeAddr(t))
	shell := func(cmd string) string {
		return "cd '" + work + "' && export PATH='" + bin + "':\"$PATH\" SLUZ_REGISTRY_URL='" + f.AdminURL + "' && exec " + moved.Replace(cmd)
	}

	var grants, others int
	for i, cmd := range cmds {
		switch {
		case strings.HasPrefix(cmd, "securityserver acl grant "):
			grants++
		case strings.HasPrefix(cmd, "securityserver serve "):
			others++
			if i != len(cmds)-1 {
				t.Fatalf("serve must be the last command of the README block: %q", cmd)
			}
			p := testtool.Start(t, "security server serving", "sh", "-c", shell(cmd))
			t.Cleanup(func() { p.Stop(t) })
			continue
		default:
			others++
		}
		out, err := exec.Command("sh", "-c", shell(cmd)).CombinedOutput()
		if err != nil {
			t.Fatalf("README command %q: %v\n%s", cmd, err, out)
		}
		t.Logf("%s\n%s", cmd, out)
	}
	if others > 5 || grants != 1 {
		t.Errorf("the README takes %d commands on the agency's and operator's side (want at most 5) and %d grants (want 1)", others, grants)
	}

	client, _ := identifier.ParseClient("AZ/GOV/DGK/customs")
	service, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	body := localfed.RequestXML(client, service, "dgk-first-request", "AZDGK0001", "<fin>5ZJ8K2L</fin>")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+clientAddr+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"Əliyev", "requestHash", "<xrd:id>dgk-first-request</xrd:id>"} {
		if !strings.Contains(string(answer), want) {
			t.Fatalf("DGK's first request: the answer lacks %q:\n%s", want, answer)
		}
	}
	if strings.Contains(string(answer), "Fault") {
		t.Fatalf("DGK's first request was refused:\n%s", answer)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("adding an agency took %s of machine time, want at most 60 s", d)
	}
}
