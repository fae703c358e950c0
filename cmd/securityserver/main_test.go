package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluz/sluz/configs"
	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/globalconf"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := program.Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// sample lays out the shipped DİN configuration beside a prepared state.
func sample(t *testing.T) string {
	t.Helper()
	return sampleOf(t, "din")
}

// sampleOf lays out the shipped configuration of an agency (din, emdk, ...)
// and the OpenAPI documents beside a prepared state.
func sampleOf(t *testing.T, agency string) string {
	t.Helper()
	root := t.TempDir()
	ca, err := localfed.Prepare(filepath.Join(root, "state"))
	if err != nil {
		t.Fatal(err)
	}
	// The anchor the registry would hand out: its configuration-signing
	// certificate (nothing is published at the URL; check-config does not fetch).
	key, err := pkiutil.GenerateKey(pkiutil.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	signing, err := ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileConfigSigning, CommonName: "Şlüz registry", PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	anchor := &globalconf.Anchor{Instance: "AZ", URL: "http://127.0.0.1:1/globalconf", Cert: signing}
	if err := anchor.Write(filepath.Join(root, "state", "anchor.json")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "configs", "openapi"), 0o755)
	docs, _ := fs.Glob(configs.FS, "openapi/*")
	for _, name := range append(docs, "securityserver-"+agency+".yaml") {
		data, err := configs.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "configs", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(root, "configs", "securityserver-"+agency+".yaml")
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

// TestACLEndpointRights: `acl grant|revoke --method --path` keep endpoint
// rights of a REST service where the server reads them, in dataDir/acl.db
// and, with messageLog.storage: postgres, in the database; a right on the
// whole service is another right; endpoint rights are refused for SOAP
// services and for bad methods or paths.
func TestACLEndpointRights(t *testing.T) {
	for _, storage := range []string{"bbolt", "postgres"} {
		t.Run(storage, func(t *testing.T) {
			cfg := sampleOf(t, "emdk")
			if storage == "postgres" {
				data, err := os.ReadFile(cfg)
				if err != nil {
					t.Fatal(err)
				}
				text := string(data)
				i := strings.Index(text, "\nmessageLog:")
				j := i + 1 + strings.Index(text[i+1:], "\n") // the end of that line
				text = text[:j+1] + "  storage: postgres\n  postgres:\n    dsn: " + testtool.Postgres(t) + "\n" + text[j+1:]
				if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			svc := []string{"--config", cfg, "--service", "AZ/GOV/EMDK/realestate/realEstateRegistry", "--client", "AZ/GOV/DSMF/insurance"}
			acl := func(cmd string, args ...string) (int, string, string) {
				return runCLI(append([]string{"acl", cmd}, args...)...)
			}
			extract := append(slices.Clone(svc), "--method", "GET", "--path", "/extract/*")
			if code, out, errOut := acl("grant", extract...); code != cli.ExitOK || !strings.Contains(out, "AZ/GOV/DSMF/insurance may now call AZ/GOV/EMDK/realestate/realEstateRegistry endpoint GET /extract/*") {
				t.Fatalf("grant an endpoint: %d %s %s", code, out, errOut)
			}
			if code, _, errOut := acl("grant", extract...); code != cli.ExitError || !strings.Contains(errOut, "already granted") {
				t.Fatalf("the same endpoint again: %d %s", code, errOut)
			}
			if code, out, errOut := acl("grant", svc...); code != cli.ExitOK || !strings.Contains(out, "may now call AZ/GOV/EMDK/realestate/realEstateRegistry\n") {
				t.Fatalf("grant the whole service beside it: %d %s %s", code, out, errOut)
			}
			for _, bad := range []struct {
				args []string
				code int
				want string
			}{
				{append(slices.Clone(svc), "--method", "GET"), cli.ExitUsage, "--method and --path go together"},
				{append(slices.Clone(svc), "--method", "FETCH", "--path", "/x"), cli.ExitUsage, `endpoint method "FETCH"`},
				{append(slices.Clone(svc), "--method", "GET", "--path", "x"), cli.ExitUsage, `endpoint path "x"`},
				{[]string{"--config", cfg, "--service", "AZ/GOV/EMDK/realestate/getRealEstateExtract", "--client", "AZ/GOV/DSMF/insurance", "--method", "GET", "--path", "/x"},
					cli.ExitError, "endpoint rights (--method, --path) are for REST services"},
			} {
				if code, _, errOut := acl("grant", bad.args...); code != bad.code || !strings.Contains(errOut, bad.want) {
					t.Errorf("grant %q: %d %s, want %d %q", bad.args, code, errOut, bad.code, bad.want)
				}
			}
			code, out, _ := acl("list", "--config", cfg)
			if code != cli.ExitOK || strings.Count(out, "AZ/GOV/DSMF/insurance") != 2 || !strings.Contains(out, "GET /extract/*") || strings.Contains(out, "FETCH") {
				t.Fatalf("list:\n%s", out)
			}
			if code, out, errOut := acl("revoke", extract...); code != cli.ExitOK || !strings.Contains(out, "no longer call AZ/GOV/EMDK/realestate/realEstateRegistry endpoint GET /extract/*") {
				t.Fatalf("revoke the endpoint: %d %s %s", code, out, errOut)
			}
			if code, _, errOut := acl("revoke", extract...); code != cli.ExitError || !strings.Contains(errOut, "no such access right") {
				t.Fatalf("revoke the endpoint again: %d %s", code, errOut)
			}
			if _, out, _ := acl("list", "--config", cfg); strings.Contains(out, "/extract/*") || strings.Count(out, "AZ/GOV/DSMF/insurance") != 1 {
				t.Fatalf("after revoking the endpoint, the right on the whole service alone:\n%s", out)
			}
			// Where the server reads them: not in the file on PostgreSQL.
			if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "..", "state", "EMDK", "ss", "acl.db")); (err == nil) != (storage == "bbolt") {
				t.Errorf("dataDir/acl.db with storage %s: %v", storage, err)
			}
		})
	}
}

// TestCheckConfigRunsServesChecks: check-config refuses what serve would
// refuse before opening anything, with the same message: a signing key
// that is not its certificate's, and an owner member without a signing key.
func TestCheckConfigRunsServesChecks(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"signing key of another certificate", "key: ${SLUZ_STATE:-../state}/DIN/sign.key", "key: ${SLUZ_STATE:-../state}/EMDK/sign.key", "keys.sign[0]"},
		{"owner member not hosted",
			"- member: AZ/GOV/DIN\n      cert: ${SLUZ_STATE:-../state}/DIN/sign.pem\n      key: ${SLUZ_STATE:-../state}/DIN/sign.key",
			"- member: AZ/GOV/EMDK\n      cert: ${SLUZ_STATE:-../state}/EMDK/sign.pem\n      key: ${SLUZ_STATE:-../state}/EMDK/sign.key",
			"keys.sign has no key for the owner member AZ/GOV/DIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sample(t)
			data, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte(tc.old)) {
				t.Fatalf("the sample configuration no longer holds %q", tc.old)
			}
			if err := os.WriteFile(cfg, bytes.Replace(data, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, checkErr := runCLI("check-config", "--config", cfg)
			if code != cli.ExitError || !strings.Contains(checkErr, tc.want) || strings.Contains(out, "configuration OK") {
				t.Fatalf("check-config: exit %d, out %q, err %q; want exit %d naming %q", code, out, checkErr, cli.ExitError, tc.want)
			}
			code, _, serveErr := runCLI("serve", "--config", cfg)
			_, checkMsg, _ := strings.Cut(checkErr, "securityserver check-config: ")
			if _, serveMsg, _ := strings.Cut(serveErr, "securityserver serve: "); code != cli.ExitError || serveMsg != checkMsg || checkMsg == "" {
				t.Fatalf("serve: exit %d, err %q; want the message check-config gave: %q", code, serveErr, checkErr)
			}
		})
	}
}
