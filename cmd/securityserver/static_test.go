package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestStaticBuild: built as the Dockerfile builds it by default
// (CGO_ENABLED=0, -tags nopkcs11), the security server is a static
// executable: no dynamic loader, no shared library. It runs, and its
// check-config refuses a PKCS#11 signing key, saying what to use instead,
// while accepting the PEM key configuration.
func TestStaticBuild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("checks a Linux ELF executable")
	}
	if testing.Short() {
		t.Skip("builds the binary (-short)")
	}
	goTool, err := exec.LookPath(filepath.Join(runtime.GOROOT(), "bin", "go"))
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "securityserver")
	build := exec.Command(goTool, "build", "-tags", "nopkcs11", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build -tags nopkcs11: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a PT_INTERP program header: it needs a dynamic loader")
		}
	}
	if f.Section(".interp") != nil {
		t.Error("the binary has an .interp section")
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}

	cfg := sample(t)
	run := func(config string) (string, error) {
		out, err := exec.Command(bin, "check-config", "--config", config).CombinedOutput()
		return string(out), err
	}
	if out, err := run(cfg); err != nil || !strings.Contains(out, "configuration OK") {
		t.Fatalf("static check-config of the PEM sample: %v\n%s", err, out)
	}
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := "      key: ${SLUZ_STATE:-../state}/DIN/sign.key\n"
	if !strings.Contains(string(data), pemKey) {
		t.Fatalf("the sample configuration no longer has %q", pemKey)
	}
	hsm := strings.Replace(string(data), pemKey, "      pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, tokenLabel: sluz, pin: \"1234\", keyLabel: AZ-GOV-DIN-sign}\n", 1)
	hsmCfg := filepath.Join(filepath.Dir(cfg), "securityserver-din-hsm.yaml")
	if err := os.WriteFile(hsmCfg, []byte(hsm), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(hsmCfg)
	if err == nil {
		t.Fatalf("the static build accepted a PKCS#11 key:\n%s", out)
	}
	for _, want := range []string{"keys.sign[0].pkcs11", "static build", "PEM key file"} {
		if !strings.Contains(out, want) {
			t.Errorf("check-config's error does not say %q:\n%s", want, out)
		}
	}
}
