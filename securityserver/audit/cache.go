package audit

import (
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"time"

	"github.com/sluz/sluz/pkiutil/ocsp"
)

// verifyCache remembers what records share, so that a log of many records
// signed by few certificates and stapled with few OCSP responses costs one
// signature check per record: each signer's chain to the federation CA is
// built once (later records only check the chain's validity at their
// signing time), and each OCSP response's signature once (later records
// only check its times, ocsp.Response.ValidAt). Only successes are kept: a
// failure is checked again in full, so its reason is the full check's.
// Safe for concurrent use.
type verifyCache struct {
	chains sync.Map // chainKey -> []*x509.Certificate (leaf first)
	ocsp   sync.Map // ocspKey -> *ocsp.Response
}

type chainKey [32]byte
type ocspKey [3][32]byte

func newChainKey(cert *x509.Certificate, extra []*x509.Certificate) chainKey {
	h := sha256.New()
	h.Write(cert.Raw)
	for _, c := range extra {
		h.Write(c.Raw)
	}
	var k chainKey
	h.Sum(k[:0])
	return k
}

// chain returns a chain of cert to trust's roots valid at t: the cached
// one if every certificate in it is valid at t, else a new one from
// x509.Verify (whose error is returned).
func (c *verifyCache) chain(cert *x509.Certificate, extra []*x509.Certificate, trust Trust, t time.Time) ([]*x509.Certificate, error) {
	k := newChainKey(cert, extra)
	if v, ok := c.chains.Load(k); ok {
		ch := v.([]*x509.Certificate)
		valid := true
		for _, x := range ch {
			if t.Before(x.NotBefore) || t.After(x.NotAfter) {
				valid = false
			}
		}
		if valid {
			return ch, nil
		}
	}
	inter := trust.Intermediates
	if len(extra) > 0 {
		inter = inter.Clone()
		for _, x := range extra {
			inter.AddCert(x)
		}
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: trust.Roots, Intermediates: inter, CurrentTime: t,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, err
	}
	c.chains.Store(k, chains[0])
	return chains[0], nil
}

// ocspResponse verifies der about cert (issued by issuer) at t, with the
// signature checked once per response.
func (c *verifyCache) ocspResponse(der []byte, cert, issuer *x509.Certificate, t time.Time, maxAge time.Duration) (*ocsp.Response, error) {
	k := ocspKey{sha256.Sum256(der), sha256.Sum256(cert.Raw), sha256.Sum256(issuer.Raw)}
	if v, ok := c.ocsp.Load(k); ok {
		resp := v.(*ocsp.Response)
		if resp.ValidAt(t, maxAge) == nil {
			return resp, nil
		}
	}
	resp, err := ocsp.Verify(der, ocsp.VerifyOptions{Cert: cert, Issuer: issuer, Now: t, MaxAge: maxAge})
	if err != nil {
		return nil, err
	}
	c.ocsp.Store(k, resp)
	return resp, nil
}
