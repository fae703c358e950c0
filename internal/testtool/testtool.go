// Package testtool finds the external programs tests compare Şlüz against
// (openssl, xmlsec1). Outside CI a missing program skips the test; with CI set
// (.ci/run installs them) it fails, so a green CI run means the check ran.
package testtool

import (
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
