package signature

import (
	"crypto/x509"
	"sync"
)

// Every message from a member carries the same signing certificate and
// its CA's: parsing them (≈ 20 µs each) once instead of per message saves
// a good part of a verification. Parsed certificates are immutable.
var certs = struct {
	sync.RWMutex
	m map[string]*x509.Certificate
}{m: map[string]*x509.Certificate{}}

// certCacheSize bounds the cache; when full it starts again (a federation
// has far fewer certificates in use than this).
const certCacheSize = 4096

// parseCertificate is x509.ParseCertificate with a cache keyed by the DER.
func parseCertificate(der []byte) (*x509.Certificate, error) {
	certs.RLock()
	c := certs.m[string(der)]
	certs.RUnlock()
	if c != nil {
		return c, nil
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	certs.Lock()
	if len(certs.m) >= certCacheSize {
		clear(certs.m)
	}
	certs.m[string(der)] = c
	certs.Unlock()
	return c, nil
}
