//go:build nopkcs11

package keys

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
)

// PKCS11Supported reports whether this build opens PKCS#11 keys: this one,
// built with -tags nopkcs11 (static, without cgo), does not.
const PKCS11Supported = false

// unsupportedPKCS11Hint says what to do about ErrPKCS11Unsupported.
const unsupportedPKCS11Hint = "this binary is the static build (-tags nopkcs11, without cgo), which cannot load a token's library: " +
	"use a PEM key file (key), or the PKCS#11 build (CGO_ENABLED=1 go build without -tags nopkcs11; docker build --build-arg PKCS11=yes)"

func openPKCS11(p *PKCS11, _ *x509.Certificate) (crypto.Signer, io.Closer, error) {
	return nil, nil, fmt.Errorf("%w: %s: %s", ErrPKCS11Unsupported, where(p.TokenLabel, p.Module), unsupportedPKCS11Hint)
}

// GeneratePKCS11 is not available in the static build.
func GeneratePKCS11(p *PKCS11, _ bool) (crypto.Signer, io.Closer, error) {
	return openPKCS11(p, nil)
}
