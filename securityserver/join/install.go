package join

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/registration"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
)

// Installed is what Install did.
type Installed struct {
	Config             string // the configuration file, ready for serve
	AuthCert, SignCert string // the files written
	Server             string
}

// Install checks the operator's response bundle against the server in dir
// (its registration request and keys) and writes the two certificates
// next to the keys; see the package comment. force replaces certificates
// already installed.
func Install(dir, bundle string, force bool) (*Installed, error) {
	req, err := registration.ReadRequest(filepath.Join(dir, FileRequest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a server directory made by securityserver init (no %s): give the --dir you gave init", dir, FileRequest)
	}
	if err != nil {
		return nil, err
	}
	resp, err := registration.ReadResponse(bundle)
	if err != nil {
		return nil, err
	}
	if resp.Server != req.Server {
		return nil, fmt.Errorf("%s is the response for %s, not for this server %s: ask the central operator for this server's", bundle, resp.Server, req.Server)
	}
	auth, sign, err := resp.Chains()
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		what, want, keyFile string
		chain               registration.Chain
	}{{"authentication", req.AuthKeySHA256, FileAuthKey, auth}, {"signing", req.SignKeySHA256, FileSignKey, sign}} {
		got, err := registration.KeySHA256(c.chain.Leaf.PublicKey)
		if err != nil {
			return nil, err
		}
		if got != c.want {
			return nil, fmt.Errorf("the %s certificate in %s is for another key (SHA-256 %s) than the one this server generated (%s): ask the central operator for the certificates of this server's request", c.what, bundle, got, c.want)
		}
		keyPath := filepath.Join(dir, c.keyFile)
		if _, err := os.Stat(keyPath); err == nil {
			key, err := pkiutil.ReadPrivateKey(keyPath)
			if err != nil {
				return nil, err
			}
			if !pkiutil.KeyMatches(c.chain.Leaf, key) {
				return nil, fmt.Errorf("the %s certificate in %s does not match %s: the key was replaced after the request was written; run securityserver init again", c.what, bundle, keyPath)
			}
		}
	}
	out := &Installed{Config: filepath.Join(dir, FileConfig), AuthCert: filepath.Join(dir, FileAuthCert), SignCert: filepath.Join(dir, FileSignCert), Server: req.Server.String()}
	if !force {
		for _, p := range []string{out.AuthCert, out.SignCert} {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("%s already exists: certificates are installed; pass --force to replace them", p)
			}
		}
	}
	// Keep what was there, to put it back if the configuration then fails
	// its checks.
	old := map[string][]byte{}
	for _, p := range []string{out.AuthCert, out.SignCert} {
		if data, err := os.ReadFile(p); err == nil {
			old[p] = data
		}
	}
	restore := func() {
		for _, p := range []string{out.AuthCert, out.SignCert} {
			if data, ok := old[p]; ok {
				os.WriteFile(p, data, 0o644)
			} else {
				os.Remove(p)
			}
		}
	}
	if err := pkiutil.WriteCertificates(out.AuthCert, true, auth.Leaf, auth.Issuer); err != nil {
		restore()
		return nil, err
	}
	if err := pkiutil.WriteCertificates(out.SignCert, true, sign.Leaf, sign.Issuer); err != nil {
		restore()
		return nil, err
	}
	cfg, err := config.Load(out.Config)
	if err == nil {
		err = securityserver.Check(cfg)
	}
	if err != nil {
		restore()
		return nil, fmt.Errorf("the certificates match the keys, but the configuration does not pass check-config with them (nothing was installed): %w", err)
	}
	return out, nil
}
