package signature

import (
	"bytes"
	"crypto"
	"crypto/sha256"
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
//
// The certificates are cached before anything about them is checked, so
// what a peer sends must not decide how much the cache holds: only
// certificates of at most maxCachedCert bytes are cached (X-Road signing
// certificates are 1–2 KB; larger ones are parsed for each message), and
// each map is bounded by bytes as well as by entries.
var certs = struct {
	sync.RWMutex
	m      map[string]*cachedCert            // by DER
	b64    map[[sha256.Size]byte]*cachedCert // by SHA-256 of the base64 text, as fastRead finds it
	mBytes int                               // DER held by m: its keys and the certificates
	bBytes int                               // DER held by b64's certificates
}{m: map[string]*cachedCert{}, b64: map[[sha256.Size]byte]*cachedCert{}}

// cachedCert is a parsed certificate and the SHA-512 of its DER.
type cachedCert struct {
	cert   *x509.Certificate
	sha512 [sha512.Size]byte
}

const (
	// certCacheSize bounds each of the cache's maps by entries, and
	// certCacheBytes by the DER they hold; when either is reached the map
	// starts again (a federation has far fewer certificates in use).
	certCacheSize  = 4096
	certCacheBytes = 8 << 20
	// maxCachedCert is the largest DER certificate cached.
	maxCachedCert = 16 << 10
)

// parseCertificate is x509.ParseCertificate with a cache keyed by the DER.
func parseCertificate(der []byte) (*cachedCert, error) {
	if len(der) > maxCachedCert {
		return newCachedCert(der)
	}
	certs.RLock()
	c := certs.m[string(der)]
	certs.RUnlock()
	if c != nil {
		return c, nil
	}
	c, err := newCachedCert(der)
	if err != nil {
		return nil, err
	}
	certs.Lock()
	if len(certs.m) >= certCacheSize || certs.mBytes+2*len(der) > certCacheBytes {
		clear(certs.m)
		certs.mBytes = 0
	}
	if certs.m[string(der)] == nil {
		certs.m[string(der)] = c
		certs.mBytes += 2 * len(der)
	}
	certs.Unlock()
	return c, nil
}

func newCachedCert(der []byte) (*cachedCert, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &cachedCert{cert: cert, sha512: sha512.Sum512(cert.Raw)}, nil
}

// parseCertificateBase64 is parseCertificate for the base64 text of the
// DER (no white space), decoded as xmldsig.Base64 decodes, with a cache
// keyed by the text's SHA-256: a hit neither decodes nor parses the
// certificate.
func parseCertificateBase64(text []byte) (*cachedCert, error) {
	cache := len(text) <= base64.StdEncoding.EncodedLen(maxCachedCert)
	var key [sha256.Size]byte
	if cache {
		key = sha256.Sum256(text)
		certs.RLock()
		c := certs.b64[key]
		certs.RUnlock()
		if c != nil {
			return c, nil
		}
	}
	der := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(der, text)
	if err != nil {
		return nil, err
	}
	c, err := parseCertificate(der[:n])
	if err != nil || !cache {
		return c, err
	}
	certs.Lock()
	if len(certs.b64) >= certCacheSize || certs.bBytes+n > certCacheBytes {
		clear(certs.b64)
		certs.bBytes = 0
	}
	if certs.b64[key] == nil {
		certs.b64[key] = c
		certs.bBytes += n
	}
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
