// Package testtool holds what many packages' tests share: Require finds the
// external programs tests compare Şlüz against (openssl, xmlsec1); outside
// CI a missing program skips the test, with CI set (.ci/run installs them)
// it fails, so a green CI run means the check ran. WantError checks an
// error's text and cause.
package testtool

import (
	"errors"
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of the program name or skips/fails t.
func Require(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; .ci/run (scripts/install-test-deps) should have installed it", name)
		}
		t.Skipf("%s not installed: run scripts/install-test-deps", name)
	}
	return p
}

// WantError requires err to read exactly want and to wrap cause
// (errors.Is): an error that names where it came from without losing why.
func WantError(t testing.TB, err error, want string, cause error) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if !errors.Is(err, cause) {
		t.Fatalf("errors.Is(%v, %v) = false: the cause is lost", err, cause)
	}
}
