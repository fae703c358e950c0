//go:build nopkcs11

package keys

import (
	"errors"
	"strings"
	"testing"
)

// TestPKCS11Unsupported: the static build refuses a PKCS#11 key with an
// error that says why and what to use instead; a PEM key still opens.
func TestPKCS11Unsupported(t *testing.T) {
	if PKCS11Supported {
		t.Fatal("PKCS11Supported is true in the nopkcs11 build")
	}
	spec := Spec{PKCS11: &PKCS11{Module: "/usr/lib/softhsm/libsofthsm2.so", TokenLabel: "sluz-test", PIN: "1234", KeyLabel: "AZ-GOV-DIN-sign"}}
	_, _, err := Open(spec, nil)
	if !errors.Is(err, ErrPKCS11Unsupported) {
		t.Fatalf("Open: %v, want ErrPKCS11Unsupported", err)
	}
	for _, want := range []string{`token "sluz-test"`, "nopkcs11", "PEM key file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	// A spec that is wrong anyway is still refused for that first.
	spec.PKCS11.TokenLabel = ""
	if _, _, err := Open(spec, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Open of an invalid spec: %v, want ErrInvalidSpec", err)
	}
}
