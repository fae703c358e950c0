package verify

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluz/sluz/pkiutil/ocsp"
)

// Refusal is a rule's refusal: the fault code, what the rule required and
// what it found. Its Error is the one-sentence reason sent to the peer.
type Refusal struct {
	// Code is the X-Road fault code without the proxy prefix
	// (message.SslAuthenticationFailed, ...); the proxy adds
	// Server.ClientProxy. or Server.ServerProxy.
	Code string
	// Required and Found name the two values the rule compared.
	Required, Found string
	// Reason classifies a refused peer certificate for metrics
	// (ReasonUnapprovedCA, ...); empty for the other rules.
	Reason string
	// Err is the underlying cause (an x509 or OCSP error), if any.
	Err error

	msg string
}

func (r *Refusal) Error() string { return r.msg }
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(code, required, found string, cause error, format string, a ...any) *Refusal {
	return &Refusal{Code: code, Required: required, Found: found, Err: cause, msg: fmt.Sprintf(format, a...)}
}

// Why a peer's certificate was refused: a small fixed set, so that the
// failure counters stay bounded whatever peers send.
const (
	ReasonNoCertificate  = "no_certificate"  // the peer sent none
	ReasonUnapprovedCA   = "unapproved_ca"   // its chain does not lead to a CA the configuration approves
	ReasonNotRegistered  = "not_registered"  // chains fine, but the global configuration does not register it for that server
	ReasonExpired        = "expired"         // it or its chain is outside its validity
	ReasonRevoked        = "revoked"         // its OCSP status says revoked
	ReasonOCSP           = "ocsp"            // no acceptable OCSP status: stale, expired, unknown or unverifiable
	ReasonBadCertificate = "bad_certificate" // unparsable, or the wrong key usage
	ReasonOther          = "other"
)

// Trust is what the global configuration says about certificates.
// Implementations must be pointers (*globalconf.Snapshot is): a Verifier's
// caches are keyed by the value, so that a new configuration, which may
// approve other CAs, is checked afresh.
type Trust interface {
	Roots() *x509.CertPool
	Intermediates() *x509.CertPool
	OCSPFreshness() time.Duration
}

// Verifier checks certificates and OCSP responses against a Trust and
// caches what it verified. The zero value is not usable: call New.
type Verifier struct {
	// Now is the clock the checks judge validity and freshness by; nil is
	// time.Now.
	Now func() time.Time

	// Signatures, if set, remembers batch signatures that verified
	// (SignatureOf); nil checks every message in full.
	Signatures *SignatureCache

	max    int
	mu     sync.Mutex
	chains map[chainKey]chainEntry
	stats  map[statusKey]*ocsp.Response
}

// DefaultCacheSize is the number of chains and of OCSP responses a
// Verifier keeps when New is given 0.
const DefaultCacheSize = 10000

// New returns a Verifier whose caches hold at most maxCached chains and as
// many OCSP responses (0: DefaultCacheSize).
func New(maxCached int) *Verifier {
	if maxCached <= 0 {
		maxCached = DefaultCacheSize
	}
	return &Verifier{max: maxCached, chains: map[chainKey]chainEntry{}, stats: map[statusKey]*ocsp.Response{}}
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

type chainKey struct {
	trust Trust
	cert  [32]byte
	usage x509.ExtKeyUsage
}

type chainEntry struct {
	issuer              *x509.Certificate
	notBefore, notAfter time.Time
}

type statusKey struct{ resp, cert, issuer [32]byte }

// Chain checks cert (with extra intermediates) against the approved CAs of
// t for usage and returns the certificate that issued it. Results are
// cached per trust, certificate and usage for as long as every certificate
// of the chain is valid: every message of a peer carries the same
// certificates, and a chain check is costly.
func (v *Verifier) Chain(t Trust, cert *x509.Certificate, extra []*x509.Certificate, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	at := v.now()
	key := chainKey{trust: t, cert: sha256.Sum256(cert.Raw), usage: usage}
	v.mu.Lock()
	e, ok := v.chains[key]
	v.mu.Unlock()
	if ok && !at.Before(e.notBefore) && !at.After(e.notAfter) {
		return e.issuer, nil
	}
	inter := t.Intermediates()
	for _, c := range extra {
		inter.AddCert(c)
	}
	chains, err := cert.Verify(x509.VerifyOptions{Roots: t.Roots(), Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: at})
	if err != nil {
		return nil, err
	}
	if len(chains[0]) < 2 {
		return nil, errors.New("certificate is itself a trust anchor")
	}
	e = chainEntry{issuer: chains[0][1], notBefore: cert.NotBefore, notAfter: cert.NotAfter}
	for _, c := range chains[0][1:] {
		if c.NotBefore.After(e.notBefore) {
			e.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(e.notAfter) {
			e.notAfter = c.NotAfter
		}
	}
	v.mu.Lock()
	if len(v.chains) >= v.max {
		clear(v.chains)
	}
	v.chains[key] = e
	v.mu.Unlock()
	return e.issuer, nil
}

// RevokedError is Status's refusal of a revoked certificate.
type RevokedError struct {
	Subject   string
	RevokedAt time.Time
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("certificate %q was revoked at %s", e.Subject, e.RevokedAt.Format(time.RFC3339))
}

// Status checks a stapled OCSP response for cert: signed by issuer or its
// responder, about cert, good, and no older than freshness. The signature
// check is cached per response; freshness is judged anew at every call.
// Its errors wrap ocsp.ErrStale, ocsp.ErrNotYetValid, ocsp.ErrExpired, or
// are a *RevokedError.
func (v *Verifier) Status(der []byte, cert, issuer *x509.Certificate, freshness time.Duration) error {
	_, err := v.status(der, cert, issuer, freshness)
	return err
}

// status is Status returning the good response.
func (v *Verifier) status(der []byte, cert, issuer *x509.Certificate, freshness time.Duration) (*ocsp.Response, error) {
	now := v.now()
	key := statusKey{resp: sha256.Sum256(der), cert: sha256.Sum256(cert.Raw), issuer: sha256.Sum256(issuer.Raw)}
	v.mu.Lock()
	resp, ok := v.stats[key]
	v.mu.Unlock()
	if !ok {
		var err error
		resp, err = ocsp.Verify(der, ocsp.VerifyOptions{Cert: cert, Issuer: issuer, Now: now})
		if err != nil {
			return nil, err
		}
		v.mu.Lock()
		if len(v.stats) >= v.max {
			clear(v.stats)
		}
		v.stats[key] = resp
		v.mu.Unlock()
	}
	switch {
	case now.Sub(resp.ThisUpdate) > freshness:
		return nil, fmt.Errorf("%w: the OCSP response for %q is %s old, the limit is %s", ocsp.ErrStale, cert.Subject.CommonName, now.Sub(resp.ThisUpdate).Round(time.Second), freshness)
	case resp.ThisUpdate.After(now.Add(time.Minute)):
		return nil, fmt.Errorf("%w: the OCSP response for %q is dated in the future", ocsp.ErrNotYetValid, cert.Subject.CommonName)
	case !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate):
		return nil, fmt.Errorf("%w: the OCSP response for %q expired at %s", ocsp.ErrExpired, cert.Subject.CommonName, resp.NextUpdate.Format(time.RFC3339))
	}
	switch resp.Status {
	case ocsp.Good:
		return resp, nil
	case ocsp.Revoked:
		return nil, &RevokedError{Subject: cert.Subject.CommonName, RevokedAt: resp.RevokedAt}
	default:
		return nil, fmt.Errorf("the CA does not know certificate %q (OCSP status unknown)", cert.Subject.CommonName)
	}
}

// statusReason classifies a Status error for metrics.
func statusReason(err error) string {
	var re *RevokedError
	if errors.As(err, &re) {
		return ReasonRevoked
	}
	return ReasonOCSP
}

// chainReason classifies a Chain error for metrics.
func chainReason(err error) string {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			return ReasonExpired
		case x509.IncompatibleUsage:
			return ReasonBadCertificate
		}
	}
	return ReasonUnapprovedCA
}
