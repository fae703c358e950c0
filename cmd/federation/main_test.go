package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/harness/localfed"
)

func testOptions(dir string) localfed.Options {
	return localfed.Options{Dir: dir, AnyPorts: true}
}

// TestOnce runs the local federation twice on one state directory, as a user
// would, and requires every sample check to pass both times with the state
// reused (same CA, sample loaded once) rather than recreated.
func TestOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var out, errOut bytes.Buffer
	if code := run(testOptions(dir), true, &out, &errOut); code != 0 {
		t.Fatalf("first run exit %d:\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"Daxili İşlər Nazirliyi", "Əmlak Məsələləri Dövlət Komitəsi", "Dövlət Sosial Müdafiə Fondu",
		"token verified", "one batch, audit #1", "3 members, 3 servers, 7 services", "AZ/GOV/DIN/ss1 at 127.0.0.1:", "refused: HTTP 401",
		"Əliyev, Rəşad, Həsən oğlu, born 1984-03-12 (signed, requestHash checked)", "Hüseynov Tural Şahin oğlu, 2 parcels, 3.75 ha", "Server.ServerProxy.AccessDenied",
		"report B1, 2025, Q4, qəbul edildi, receipt DSMF-2025-R4-B1-000001, attachment 1 (application/xml, 299 bytes) (signed, requestHash checked)", "HTTP 200, extract ÇX-", "properties: 1 (signed, X-Road-Request-Hash checked)",
		"HTTP 201, report B1, 2025, Q3, qəbul edildi, receipt DSMF-2025-R3-B1-000001 (signed, X-Road-Request-Hash checked)",
		"HTTP 500 Server.ServerProxy.AccessDenied: client AZ/GOV/EMDK/realestate is not allowed to call AZ/GOV/DSMF/insurance/insurerReports (POST /quarterly-reports)",
		"REST services: realEstateRegistry (GET /extract/*) (signed, X-Road-Request-Hash checked)", "all 17 outcomes as expected"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	root1, err := os.ReadFile(filepath.Join(dir, "pki", "root-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(testOptions(dir), true, &out, &errOut); code != 0 {
		t.Fatalf("second run exit %d:\n%s%s", code, out.String(), errOut.String())
	}
	root2, _ := os.ReadFile(filepath.Join(dir, "pki", "root-ca.pem"))
	if !bytes.Equal(root1, root2) || !strings.Contains(out.String(), "already loaded (state reused)") {
		t.Fatalf("second start did not reuse the state:\n%s", out.String())
	}
}

// TestOnceFailsOnBrokenState: a state directory whose CA key was replaced is
// reported, not silently recreated.
func TestOnceFailsOnBrokenState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var out, errOut bytes.Buffer
	if code := run(testOptions(dir), true, &out, &errOut); code != 0 {
		t.Fatalf("first run exit %d:\n%s%s", code, out.String(), errOut.String())
	}
	os.WriteFile(filepath.Join(dir, "pki", "ca.key"), []byte("garbage"), 0o600)
	errOut.Reset()
	if code := run(testOptions(dir), true, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "remove the directory") {
		t.Fatalf("run on broken state exit %d, stderr %q", code, errOut.String())
	}
}
