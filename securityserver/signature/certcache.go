package signature

import (
	"bytes"
	"crypto"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"sync"

	"github.com/sluz/sluz/internal/xmldsig"
)

// Every message from a member carries the same signing certificate and
// its CA's: parsing them (≈ 20 µs each), and their SHA-512 digests, once
// instead of per message saves a good part of a verification. Parsed
// certificates are immutable.
var certs = struct {
	sync.RWMutex
	m   map[string]*cachedCert // by DER
	b64 map[string]*cachedCert // by base64 text, as fastRead finds it
}{m: map[string]*cachedCert{}, b64: map[string]*cachedCert{}}

// cachedCert is a parsed certificate and the SHA-512 of its DER.
type cachedCert struct {
	cert   *x509.Certificate
	sha512 [sha512.Size]byte
}

// certCacheSize bounds each of the cache's maps; when full it starts
// again (a federation has far fewer certificates in use than this).
const certCacheSize = 4096

// parseCertificate is x509.ParseCertificate with a cache keyed by the DER.
func parseCertificate(der []byte) (*cachedCert, error) {
	certs.RLock()
	c := certs.m[string(der)]
	certs.RUnlock()
	if c != nil {
		return c, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c = &cachedCert{cert: cert, sha512: sha512.Sum512(cert.Raw)}
	certs.Lock()
	if len(certs.m) >= certCacheSize {
		clear(certs.m)
	}
	certs.m[string(der)] = c
	certs.Unlock()
	return c, nil
}

// parseCertificateBase64 is parseCertificate for the base64 text of the
// DER (no white space), decoded as xmldsig.Base64 decodes, with a cache
// keyed by the text: a hit neither decodes nor hashes the certificate.
func parseCertificateBase64(text []byte) (*cachedCert, error) {
	certs.RLock()
	c := certs.b64[string(text)]
	certs.RUnlock()
	if c != nil {
		return c, nil
	}
	der := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(der, text)
	if err != nil {
		return nil, err
	}
	if c, err = parseCertificate(der[:n]); err != nil {
		return nil, err
	}
	certs.Lock()
	if len(certs.b64) >= certCacheSize {
		clear(certs.b64)
	}
	certs.b64[string(text)] = c
	certs.Unlock()
	return c, nil
}

// matches reports whether d is the digest of c, using its cached SHA-512.
func (c *cachedCert) matches(d xmldsig.Digest) bool {
	if d.Hash == crypto.SHA512 {
		return bytes.Equal(d.Value, c.sha512[:])
	}
	return d.Matches(c.cert.Raw)
}
