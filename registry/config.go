// Package registry is the central registry of a Şlüz federation: it keeps who
// is who (members, subsystems, security servers, services, global groups,
// trust settings) in a durable store, lets the central operator change it
// through an authenticated admin API, and publishes every version as a
// signed global configuration that security servers download.
//
// Sub-packages: identifier (X-Road identifiers), store (state and audit
// trail), adminapi (operator API and its client), globalconf (the signed
// document, its publisher and the security servers' client).
//
// # Caveats
//
// The registry must be the only process using its data directory. The
// configuration-signing key is read at start; rotate it by restarting with
// the new key and handing out a new anchor.
package registry

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluz/sluz/internal/envsubst"
	"go.yaml.in/yaml/v3"
)

// Config is the registry's configuration file (YAML). Relative paths are
// resolved against the file's directory.
type Config struct {
	// Instance is the X-Road instance identifier the registry serves, e.g. AZ.
	Instance string `yaml:"instance"`
	// DataDir holds registry.db (state and audit trail) and the last
	// published configuration. Created if missing.
	DataDir string `yaml:"dataDir"`
	// Signing is the configuration-signing certificate and key
	// (pkiutil init writes config-signing.pem/.key).
	Signing KeyPair `yaml:"signing"`
	// Publish serves the signed global configuration over plain HTTP: it is
	// signed, so it needs no transport security.
	Publish PublishConfig `yaml:"publish"`
	// Admin is the operators' TLS API.
	Admin AdminConfig `yaml:"admin"`
	// MetricsListen serves Prometheus /metrics (plain HTTP; keep it on
	// loopback or a management network). Empty: not served.
	MetricsListen string `yaml:"metricsListen"`
	// Log format: text (default) or json.
	LogFormat string `yaml:"logFormat"`

	dir string // directory of the config file
}

// KeyPair names a PEM certificate and its PEM private key.
type KeyPair struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// PublishConfig says where the configuration is served.
type PublishConfig struct {
	// Listen address, default 127.0.0.1:4001.
	Listen string `yaml:"listen"`
	// URL security servers download from (written into the anchor); default
	// http://<listen>/globalconf.
	URL string `yaml:"url"`
}

// AdminConfig configures the admin API listener.
type AdminConfig struct {
	// Listen address, default 127.0.0.1:4000.
	Listen string `yaml:"listen"`
	// TLS is the registry's server certificate (pkiutil profile auth).
	TLS KeyPair `yaml:"tls"`
	// OperatorRoots and OperatorIssuers are PEM files of the CA that issues
	// operator (admin-profile) certificates: usually root-ca.pem and ca.pem.
	OperatorRoots   []string `yaml:"operatorRoots"`
	OperatorIssuers []string `yaml:"operatorIssuers"`
	// ConsoleRemote lets browsers on other hosts reach the web console
	// (/console/ on this listener); false, the default, answers only
	// loopback clients.
	ConsoleRemote bool `yaml:"consoleRemote"`
	// Operators optionally restricts access to these certificate SHA-256
	// fingerprints (hex); empty admits any admin certificate of the CA.
	Operators []string `yaml:"operators"`
}

// Defaults.
const (
	DefaultAdminListen   = "127.0.0.1:4000"
	DefaultPublishListen = "127.0.0.1:4001"
	ConfPath             = "/globalconf"
)

// LoadConfig reads, defaults and validates a configuration file. Unknown
// keys are errors.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("registry config: %w", err)
	}
	if data, err = envsubst.Expand(data, nil); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", path, err)
	}
	c.dir = filepath.Dir(path)
	if err := c.Provision(); err != nil {
		return nil, fmt.Errorf("registry config %s: %w", path, err)
	}
	return &c, nil
}

// Provision fills defaults, resolves relative paths and validates. It is
// what `registry check-config` runs, and what `serve` runs before starting.
func (c *Config) Provision() error {
	if c.Publish.Listen == "" {
		c.Publish.Listen = DefaultPublishListen
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.Publish.URL == "" {
		c.Publish.URL = "http://" + c.Publish.Listen + ConfPath
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	for _, p := range []*string{&c.DataDir, &c.Signing.Cert, &c.Signing.Key, &c.Admin.TLS.Cert, &c.Admin.TLS.Key} {
		*p = c.resolve(*p)
	}
	for _, list := range [][]string{c.Admin.OperatorRoots, c.Admin.OperatorIssuers} {
		for i := range list {
			list[i] = c.resolve(list[i])
		}
	}
	var errs []error
	need := func(field, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", field))
		}
	}
	need("instance", c.Instance)
	need("dataDir", c.DataDir)
	need("signing.cert", c.Signing.Cert)
	need("signing.key", c.Signing.Key)
	need("admin.tls.cert", c.Admin.TLS.Cert)
	need("admin.tls.key", c.Admin.TLS.Key)
	if len(c.Admin.OperatorRoots) == 0 {
		errs = append(errs, errors.New("admin.operatorRoots is required: the CA that issues operator certificates"))
	}
	addrs := map[string]string{"publish.listen": c.Publish.Listen, "admin.listen": c.Admin.Listen}
	if c.MetricsListen != "" {
		addrs["metricsListen"] = c.MetricsListen
	}
	for field, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port", field, addr))
		}
	}
	if !strings.HasPrefix(c.Publish.URL, "http://") && !strings.HasPrefix(c.Publish.URL, "https://") {
		errs = append(errs, fmt.Errorf("publish.url %q must be an http(s) URL", c.Publish.URL))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("logFormat %q: use text or json", c.LogFormat))
	}
	files := map[string]string{"signing.cert": c.Signing.Cert, "signing.key": c.Signing.Key, "admin.tls.cert": c.Admin.TLS.Cert, "admin.tls.key": c.Admin.TLS.Key}
	for i, p := range c.Admin.OperatorRoots {
		files[fmt.Sprintf("admin.operatorRoots[%d]", i)] = p
	}
	for i, p := range c.Admin.OperatorIssuers {
		files[fmt.Sprintf("admin.operatorIssuers[%d]", i)] = p
	}
	for field, p := range files {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}
