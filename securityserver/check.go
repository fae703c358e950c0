package securityserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/keys"
)

// Check makes every check of cfg that New makes before it opens any store,
// without starting anything or writing anything: the configuration anchor
// reads and verifies; the authentication key matches its certificate,
// which is followed by the certificate that issued it; each signing key
// matches its certificate (file or PKCS#11 token), which names its member,
// is followed by its issuer and was signed by it; the client proxy's TLS
// files load. (config.Load has checked the rest: fields, files present,
// the owner member hosted.)
// `securityserver check-config` runs it; New runs the same code, so both
// give the same message.
func Check(cfg *config.Config) error {
	m, err := loadMaterial(cfg)
	if err != nil {
		return err
	}
	return m.close()
}

// material is what a server loads from the files cfg names.
type material struct {
	anchor    *globalconf.Anchor
	auth      tls.Certificate
	authIs    *x509.Certificate // issuer of the auth certificate
	sign      map[identifier.Client]*memberKey
	clientTLS *tls.Config
	closers   []io.Closer // key handles (PKCS#11 sessions)
}

func (m *material) close() error {
	var errs []error
	for _, c := range m.closers {
		errs = append(errs, c.Close())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// loadMaterial reads and checks the anchor and keys cfg names; on failure
// it has closed whatever it opened.
func loadMaterial(cfg *config.Config) (_ *material, err error) {
	m := &material{sign: map[identifier.Client]*memberKey{}}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if m.anchor, err = globalconf.LoadAnchor(cfg.Anchor); err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	if m.auth, err = tls.LoadX509KeyPair(cfg.Keys.Auth.Cert, cfg.Keys.Auth.Key); err != nil {
		return nil, fmt.Errorf("keys.auth: %w", err)
	}
	if len(m.auth.Certificate) < 2 {
		return nil, fmt.Errorf("keys.auth.cert %s must hold the certificate followed by its issuing CA (as pkiutil issue writes it)", cfg.Keys.Auth.Cert)
	}
	if m.authIs, err = x509.ParseCertificate(m.auth.Certificate[1]); err != nil {
		return nil, fmt.Errorf("keys.auth.cert: %w", err)
	}
	if err := m.auth.Leaf.CheckSignatureFrom(m.authIs); err != nil {
		return nil, fmt.Errorf("keys.auth.cert %s: the second certificate (%q) did not issue the first (%q): %w", cfg.Keys.Auth.Cert, m.authIs.Subject.CommonName, m.auth.Leaf.Subject.CommonName, err)
	}
	if t := cfg.ClientProxy.TLS; t != nil {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("clientProxy.tls: %w", err)
		}
		pool := x509.NewCertPool()
		for i, f := range t.ClientCAs {
			certs, err := pkiutil.ReadCertificates(f)
			if err != nil {
				return nil, fmt.Errorf("clientProxy.tls.clientCAs[%d]: %w", i, err)
			}
			for _, c := range certs {
				pool.AddCert(c)
			}
		}
		m.clientTLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12}
	}
	for i, k := range cfg.Keys.Sign {
		mk, err := loadSignKey(k, &m.closers)
		if err != nil {
			return nil, fmt.Errorf("keys.sign[%d]: %w", i, err)
		}
		m.sign[k.Member] = mk
	}
	return m, nil
}

// loadSignKey opens one member's signing key; its handle goes to closers.
func loadSignKey(k config.SignKey, closers *[]io.Closer) (*memberKey, error) {
	certs, err := pkiutil.ReadCertificates(k.Cert)
	if err != nil {
		return nil, fmt.Errorf("cert: %w", err)
	}
	if len(certs) < 2 {
		return nil, fmt.Errorf("cert %s must hold the certificate followed by its issuing CA", k.Cert)
	}
	if m, err := pkiutil.MemberFromSubject(certs[0].Subject); err != nil || m != k.Member.String() {
		return nil, fmt.Errorf("certificate subject names %q, not member %s", m, k.Member)
	}
	if err := certs[0].CheckSignatureFrom(certs[1]); err != nil {
		return nil, fmt.Errorf("cert %s: the second certificate (%q) did not issue the first (%q): %w", k.Cert, certs[1].Subject.CommonName, certs[0].Subject.CommonName, err)
	}
	key, closer, err := keys.Open(k.KeySpec(), certs[0])
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, closer)
	return &memberKey{key: key, cert: certs[0], issuer: certs[1]}, nil
}
