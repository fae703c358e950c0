// Package config is a security server's configuration file: one YAML file
// per server, decoded strictly (unknown keys are errors), with every default
// stated here and every error naming the field and the bad value.
//
// Provision fills defaults, resolves relative paths against the file's
// directory and validates; `securityserver check-config` and `serve` run the
// same code.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"

	"github.com/sluz/sluz/internal/envsubst"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/keys"
)

// Config is one security server.
type Config struct {
	// Server is this server's identifier, INSTANCE/CLASS/OWNER/SERVERCODE,
	// as registered in the central registry.
	Server identifier.ServerID `yaml:"server"`
	// Anchor is the configuration anchor file handed out by the registry.
	Anchor string `yaml:"anchor"`
	// DataDir holds the configuration cache and the access rights
	// (acl.db). Created if missing.
	DataDir string `yaml:"dataDir"`
	// Keys are the server's authentication key and the signing keys of the
	// members it hosts.
	Keys Keys `yaml:"keys"`
	// ClientProxy is where local information systems send requests.
	ClientProxy ClientProxy `yaml:"clientProxy"`
	// ServerProxy is where peer security servers send requests (mTLS 1.3).
	ServerProxy ServerProxy `yaml:"serverProxy"`
	// Admin serves /metrics, /healthz and /readyz for operators.
	Admin Admin `yaml:"admin"`
	// GlobalConf says how often the global configuration is fetched.
	GlobalConf GlobalConf `yaml:"globalConf"`
	// Services maps the services this server provides to the local IS
	// endpoints that implement them.
	Services []Service `yaml:"services"`
	// MessageLog says what the message log keeps.
	MessageLog MessageLog `yaml:"messageLog"`
	// Timestamping says when the log's records get their RFC 3161 token.
	Timestamping Timestamping `yaml:"timestamping"`
	// Opmon configures operational monitoring (dataDir/opmon.db).
	Opmon Opmon `yaml:"opmon"`
	// Signing says how messages are signed.
	Signing Signing `yaml:"signing"`
	// Limits bound what one message may cost.
	Limits Limits `yaml:"limits"`
	// LogFormat is text (default) or json.
	LogFormat string `yaml:"logFormat"`

	dir string
}

// Keys names key material. Paths are PEM files.
type Keys struct {
	Auth KeyPair   `yaml:"auth"`
	Sign []SignKey `yaml:"sign"`
}

// KeyPair is a PEM certificate (with its chain after it) and its private
// key: a PEM file (key) or, for signing keys, a PKCS#11 token (pkcs11).
type KeyPair struct {
	Cert   string       `yaml:"cert"`
	Key    string       `yaml:"key"`
	PKCS11 *keys.PKCS11 `yaml:"pkcs11,omitempty"`
}

// KeySpec says where the private key is.
func (k KeyPair) KeySpec() keys.Spec { return keys.Spec{File: k.Key, PKCS11: k.PKCS11} }

// SignKey is the signing key of one hosted member.
type SignKey struct {
	Member  identifier.Client `yaml:"member"`
	KeyPair `yaml:",inline"`
}

// GlobalConf configures the global configuration client.
type GlobalConf struct {
	// RefreshInterval: how often the registry is asked for a newer
	// version; default 60s, at least 1s.
	RefreshInterval Duration `yaml:"refreshInterval"`
	// RecheckInterval: when a peer server, a client or a service is not in
	// the copy in use, the registry is asked at once before the request is
	// refused (a new agency's first request succeeds), but at most once
	// per this interval; default 5s, at least 100ms.
	RecheckInterval Duration `yaml:"recheckInterval"`
}

// Defaults of GlobalConf.
const (
	DefaultRefreshInterval = 60 * time.Second
	DefaultRecheckInterval = 5 * time.Second
)

// ClientProxy configures the IS-facing listener.
type ClientProxy struct {
	// Listen address; default 127.0.0.1:8080 (plain HTTP on loopback).
	Listen string `yaml:"listen"`
	// TLS, when set, serves HTTPS and requires IS client certificates
	// issued by ClientCAs.
	TLS *ClientTLS `yaml:"tls"`
}

// ClientTLS is the optional HTTPS setting of the client proxy.
type ClientTLS struct {
	KeyPair   `yaml:",inline"`
	ClientCAs []string `yaml:"clientCAs"`
}

// ServerProxy configures the peer-facing listener.
type ServerProxy struct {
	// Listen address; default 0.0.0.0:5500 (PR-MESSTRANSP's port).
	Listen string `yaml:"listen"`
}

// Admin configures the operators' listener.
type Admin struct {
	// Listen address for /metrics, /healthz and /readyz (plain HTTP; keep it
	// on loopback or a management network). Empty: not served.
	Listen string `yaml:"listen"`
}

// Service is one provided service and the IS endpoint behind it.
type Service struct {
	// Service identifier; without a version it covers every version.
	ID identifier.ServiceID `yaml:"service"`
	// URL of the provider IS endpoint (http or https). For a REST service
	// it is the base URL: a call of METHOD /r1/{service}/path?query reaches
	// the IS as METHOD URL/path?query (PR-REST §4.1).
	URL string `yaml:"url"`
	// Timeout for the IS to answer; default Limits.ProviderTimeout.
	Timeout Duration `yaml:"timeout"`
	// Type is the protocol of the service: "soap" (the default; X-Road
	// SOAP, PR-MESS), "rest" (PR-REST) or "openapi" (PR-REST, described by
	// the OpenAPI document OpenAPI). REST services have no version.
	Type string `yaml:"type"`
	// OpenAPI is the file of an openapi service's OpenAPI 3 description,
	// relative to this file (required for type openapi).
	OpenAPI string `yaml:"openapi"`
	// LogRequestFirst keeps X-Road's strict order for this service: the
	// provider IS gets a request only once its record is durable in the
	// message log. By default the request's record is appended while the
	// provider works (the answer still waits for it, and is refused with
	// LoggingFailed if it fails), which saves a commit's latency but lets
	// the provider act on a request whose client is then refused; set it
	// for state-changing services where that matters.
	LogRequestFirst bool `yaml:"logRequestFirst"`
}

// Service types.
const (
	ServiceSOAP    = "soap"
	ServiceREST    = "rest"
	ServiceOpenAPI = "openapi"
)

// IsREST reports whether the service speaks PR-REST.
func (s Service) IsREST() bool { return s.Type == ServiceREST || s.Type == ServiceOpenAPI }

// MessageLog configures the message log (dataDir/messagelog.db, or a
// PostgreSQL database).
type MessageLog struct {
	// Storage is where the log is kept: "bbolt" (default), the file
	// dataDir/messagelog.db, or "postgres", the database Postgres.DSN
	// names, which several security server processes can share (one
	// chain and one replay guard across them; the holder of a lease on
	// the database alone time-stamps and archives). With postgres the
	// access rights and the operational monitoring records are kept in
	// that database too, instead of dataDir/acl.db and dataDir/opmon.db.
	Storage string `yaml:"storage"`
	// Postgres is the database of storage: postgres.
	Postgres PostgresLog `yaml:"postgres"`
	// Bodies: log message bodies (default true); false keeps only their
	// SHA-512 digests, which the signatures still verify against.
	Bodies *bool `yaml:"bodies"`
	// DigestOnly lists local subsystems (clients on the client side,
	// providers on the service side) whose messages are logged as digests
	// only, whatever Bodies says.
	DigestOnly []identifier.Client `yaml:"digestOnly"`
	// Archive moves old records out of the live log into dated archive
	// files.
	Archive Archive `yaml:"archive"`
	// WALSize is the preallocated size of the log's write-ahead file
	// (messagelog.db-wal); default 16 MiB, at least 64 KiB.
	WALSize Size `yaml:"walSize"`
	// CommitInterval is the least time between two group commits of the
	// log (default 1 ms; "0s" commits as soon as an append waits). Under
	// load more appends share each fdatasync; an append waits at most this
	// much longer.
	CommitInterval *Duration `yaml:"commitInterval"`
}

// PostgresLog is the database of a message log on PostgreSQL.
type PostgresLog struct {
	// DSN is its connection string, a URL
	// (postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full) or
	// keyword/value pairs; required with storage: postgres. A password may
	// instead come from PGPASSWORD or ~/.pgpass, as for libpq. The role
	// needs to create tables on the first start (the schema is migrated
	// at start).
	DSN string `yaml:"dsn"`
}

// The message log's storages (MessageLog.Storage).
const (
	StorageBbolt    = "bbolt"
	StoragePostgres = "postgres"
)

// Archive configures the archiver: records of time-stamped batches whose
// newest record is older than After are written to an archive file in Dir
// (one ASiC-E container per message, a manifest chained to the previous
// archive) and then removed from the live log.
type Archive struct {
	// Enabled: run the archiver; default true.
	Enabled *bool `yaml:"enabled"`
	// Dir for the archive files; default dataDir/archive.
	Dir string `yaml:"dir"`
	// After: how old a batch's newest record must be before the batch is
	// archived; default 720h (30 days); at least 1s and at least
	// Limits.ReplayWindow.
	After Duration `yaml:"after"`
	// Interval: how often the archiver runs; default 1h; at least 1s.
	Interval Duration `yaml:"interval"`
	// Retention: archive files whose newest record is older than this are
	// deleted (and noted in the directory's retention ledger); default 0,
	// keep them forever. When set it must exceed After.
	Retention Duration `yaml:"retention"`
	// MaxRecords: the most records in one archive file (whole batches; a
	// larger batch gets a file of its own); default 10000.
	MaxRecords int `yaml:"maxRecords"`
}

// On reports whether the archiver runs.
func (a Archive) On() bool { return a.Enabled == nil || *a.Enabled }

// Timestamping configures batch time-stamping of the message log.
type Timestamping struct {
	// Interval: a batch closes when its oldest record is this old; default 5 s.
	Interval Duration `yaml:"interval"`
	// MaxBatch: or when it has this many records; default 10000.
	MaxBatch int `yaml:"maxBatch"`
	// Grace: how long messages keep flowing while no TSA answers; after
	// that new messages are refused until one does. Default 1 h.
	Grace Duration `yaml:"grace"`
}

// Signing configures message signing.
type Signing struct {
	// Batch: messages waiting for the same signing key while it is busy
	// are signed together, with one signature over a hash chain of them
	// (X-Road's batch signing); a message that finds its key idle is
	// signed at once. false signs every message alone (default true).
	Batch *bool `yaml:"batch"`
}

// Batched reports whether batch signing is on.
func (s Signing) Batched() bool { return s.Batch == nil || *s.Batch }

// Opmon configures operational monitoring: one record per exchange
// (client, service, times, sizes, result; no bodies), which the server's
// owner and the members involved read with getSecurityServerOperationalData.
type Opmon struct {
	// Enabled: record exchanges and answer getSecurityServerOperationalData
	// (default true).
	Enabled *bool `yaml:"enabled"`
	// Retention: records older than this are deleted; default 168h (7 days),
	// at least 1m.
	Retention Duration `yaml:"retention"`
}

// On reports whether operational monitoring is enabled.
func (o Opmon) On() bool { return o.Enabled == nil || *o.Enabled }

// DefaultOpmonRetention is how long operational monitoring records are kept.
const DefaultOpmonRetention = 7 * 24 * time.Hour

// Limits bound the cost of one message.
type Limits struct {
	// MaxMessageSize caps a request or response without its attachments
	// or REST body (the SOAP part or REST header part and the framing,
	// which a proxy holds in memory); default 10 MiB.
	MaxMessageSize Size `yaml:"maxMessageSize"`
	// MaxAttachmentSize caps the attachments of one message together
	// (SOAP with attachments, PR-MESS §2.4), or a REST message's body
	// (PR-REST, signed as its /attachment1), which stream through the
	// proxies via files in dataDir/spool, never whole in memory; a message
	// over it is refused with InvalidMessage naming this limit. Default
	// 4 GiB, at least 1 KiB.
	MaxAttachmentSize Size `yaml:"maxAttachmentSize"`
	// ProviderTimeout: how long the provider IS may take; default 30 s.
	ProviderTimeout Duration `yaml:"providerTimeout"`
	// PeerTimeout: connecting to and hearing back from a peer security
	// server (on top of its provider's time); default 60 s.
	PeerTimeout Duration `yaml:"peerTimeout"`
	// ReadTimeout: how long a client may take to send its request; default 30 s.
	ReadTimeout Duration `yaml:"readTimeout"`
	// ReplayWindow: a message id seen again from the same client within it
	// is refused; default 10 min.
	ReplayWindow Duration `yaml:"replayWindow"`
	// ReplayCapacity: the most message ids the replay guard holds; when it
	// is full of ids younger than ReplayWindow it forgets the oldest half.
	// Default 1,000,000 (about 100 MB); at least 1000. With the message log
	// on PostgreSQL the guard is a table there and this does not apply.
	ReplayCapacity int `yaml:"replayCapacity"`
	// VerifyCacheSize: how many verified certificate chains, and as many
	// verified OCSP responses, are kept so that each peer's certificates
	// are not checked again on every message (when full that cache starts
	// over); and how many verified batch signatures, so that each further
	// message of a batch is checked through its own hash chain only (least
	// recently used dropped first). Default 10,000.
	VerifyCacheSize int `yaml:"verifyCacheSize"`
	// HeaderTimeout: how long a client or peer may take to send the HTTP
	// request headers (net/http ReadHeaderTimeout); default 10 s.
	HeaderTimeout Duration `yaml:"headerTimeout"`
	// IdleTimeout: how long a keep-alive connection may wait for its next
	// request; default 2 min.
	IdleTimeout Duration `yaml:"idleTimeout"`
	// MaxHeaderBytes caps the HTTP request headers; default 64 KiB, at
	// least 4 KiB.
	MaxHeaderBytes Size `yaml:"maxHeaderBytes"`
	// ShutdownGrace: on stop, how long exchanges in flight may take to
	// finish before their connections are closed; default 10 s.
	ShutdownGrace Duration `yaml:"shutdownGrace"`
}

// Defaults.
const (
	DefaultClientListen      = "127.0.0.1:8080"
	DefaultServerListen      = "0.0.0.0:5500"
	DefaultWALSize           = 16 << 20
	DefaultCommitInterval    = time.Millisecond
	DefaultMaxMessageSize    = 10 << 20
	DefaultMaxAttachmentSize = 4 << 30
	DefaultProviderTimeout   = 30 * time.Second
	DefaultPeerTimeout       = 60 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultReplayWindow      = 10 * time.Minute
	DefaultReplayCapacity    = 1_000_000
	DefaultVerifyCacheSize   = 10_000
	DefaultHeaderTimeout     = 10 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultShutdownGrace     = 10 * time.Second
	DefaultArchiveAfter      = 30 * 24 * time.Hour
	DefaultArchiveInterval   = time.Hour
)

// Load reads and provisions a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("security server config: %w", err)
	}
	if data, err = envsubst.Expand(data, nil); err != nil {
		return nil, fmt.Errorf("security server config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("security server config %s: %w", path, err)
	}
	c.dir = filepath.Dir(path)
	if err := c.Provision(); err != nil {
		return nil, fmt.Errorf("security server config %s: %w", path, err)
	}
	return &c, nil
}

// Dir is the directory relative paths were resolved against.
func (c *Config) Dir() string { return c.dir }

// Provision fills defaults, resolves paths and validates.
func (c *Config) Provision() error {
	if c.ClientProxy.Listen == "" {
		c.ClientProxy.Listen = DefaultClientListen
	}
	if c.ServerProxy.Listen == "" {
		c.ServerProxy.Listen = DefaultServerListen
	}
	l := &c.Limits
	if l.MaxMessageSize == 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.MaxAttachmentSize == 0 {
		l.MaxAttachmentSize = DefaultMaxAttachmentSize
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.ReplayCapacity == 0 {
		l.ReplayCapacity = DefaultReplayCapacity
	}
	if l.VerifyCacheSize == 0 {
		l.VerifyCacheSize = DefaultVerifyCacheSize
	}
	if c.MessageLog.Storage == "" {
		c.MessageLog.Storage = StorageBbolt
	}
	if c.MessageLog.WALSize == 0 {
		c.MessageLog.WALSize = DefaultWALSize
	}
	if c.MessageLog.CommitInterval == nil {
		d := Duration(DefaultCommitInterval)
		c.MessageLog.CommitInterval = &d
	}
	for _, d := range []struct {
		v   *Duration
		def time.Duration
	}{{&l.ProviderTimeout, DefaultProviderTimeout}, {&l.PeerTimeout, DefaultPeerTimeout}, {&l.ReadTimeout, DefaultReadTimeout}, {&l.ReplayWindow, DefaultReplayWindow},
		{&l.HeaderTimeout, DefaultHeaderTimeout}, {&l.IdleTimeout, DefaultIdleTimeout}, {&l.ShutdownGrace, DefaultShutdownGrace},
		{&c.GlobalConf.RefreshInterval, DefaultRefreshInterval}, {&c.GlobalConf.RecheckInterval, DefaultRecheckInterval}} {
		if *d.v == 0 {
			*d.v = Duration(d.def)
		}
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	ts := &c.Timestamping
	if ts.Interval == 0 {
		ts.Interval = Duration(5 * time.Second)
	}
	if ts.MaxBatch == 0 {
		ts.MaxBatch = 10000
	}
	if ts.Grace == 0 {
		ts.Grace = Duration(time.Hour)
	}
	if c.Opmon.Retention == 0 {
		c.Opmon.Retention = Duration(DefaultOpmonRetention)
	}
	c.Anchor, c.DataDir = c.resolve(c.Anchor), c.resolve(c.DataDir)
	ar := &c.MessageLog.Archive
	if ar.Dir == "" && c.DataDir != "" {
		ar.Dir = filepath.Join(c.DataDir, "archive")
	}
	ar.Dir = c.resolve(ar.Dir)
	if ar.After == 0 {
		ar.After = Duration(DefaultArchiveAfter)
	}
	if ar.Interval == 0 {
		ar.Interval = Duration(DefaultArchiveInterval)
	}
	if ar.MaxRecords == 0 {
		ar.MaxRecords = 10000
	}
	c.Keys.Auth.Cert, c.Keys.Auth.Key = c.resolve(c.Keys.Auth.Cert), c.resolve(c.Keys.Auth.Key)
	for i := range c.Keys.Sign {
		k := &c.Keys.Sign[i]
		k.Cert, k.Key = c.resolve(k.Cert), c.resolve(k.Key)
		if p := k.PKCS11; p != nil {
			p.PINFile = c.resolve(p.PINFile)
			if strings.ContainsRune(p.Module, filepath.Separator) {
				p.Module = c.resolve(p.Module)
			}
		}
	}
	if t := c.ClientProxy.TLS; t != nil {
		t.Cert, t.Key = c.resolve(t.Cert), c.resolve(t.Key)
		for i := range t.ClientCAs {
			t.ClientCAs[i] = c.resolve(t.ClientCAs[i])
		}
	}
	for i := range c.Services {
		if c.Services[i].Timeout == 0 {
			c.Services[i].Timeout = l.ProviderTimeout
		}
		if c.Services[i].Type == "" {
			c.Services[i].Type = ServiceSOAP
		}
		c.Services[i].OpenAPI = c.resolve(c.Services[i].OpenAPI)
	}
	return c.validate()
}

func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *Config) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Server == (identifier.ServerID{}) {
		add("server is required: this server's identifier INSTANCE/CLASS/OWNER/SERVERCODE, e.g. AZ/GOV/DIN/ss1")
	}
	files := map[string]string{"anchor": c.Anchor, "keys.auth.cert": c.Keys.Auth.Cert, "keys.auth.key": c.Keys.Auth.Key}
	if c.DataDir == "" {
		add("dataDir is required")
	}
	if len(c.Keys.Sign) == 0 {
		add("keys.sign needs at least the owner member's signing key")
	}
	seen := map[identifier.Client]bool{}
	for i, k := range c.Keys.Sign {
		field := fmt.Sprintf("keys.sign[%d]", i)
		if k.Member.IsSubsystem() || k.Member.IsZero() {
			add("%s.member %q must be a member identifier INSTANCE/CLASS/CODE", field, k.Member.String())
		}
		if seen[k.Member] {
			add("%s.member %s has two signing keys", field, k.Member)
		}
		seen[k.Member] = true
		files[field+".cert"] = k.Cert
		if err := k.KeySpec().Validate(); err != nil {
			add("%s: %w", field, err)
		} else if k.PKCS11 != nil && !keys.PKCS11Supported {
			add("%s.pkcs11: this securityserver is the static build (-tags nopkcs11, without cgo), which cannot use PKCS#11 tokens: give a PEM key file (key) or run the PKCS#11 build", field)
		} else if k.PKCS11 == nil {
			files[field+".key"] = k.Key
		}
	}
	if c.Server != (identifier.ServerID{}) && !seen[c.Server.Owner] {
		add("keys.sign has no key for the owner member %s", c.Server.Owner)
	}
	addrs := map[string]string{"clientProxy.listen": c.ClientProxy.Listen, "serverProxy.listen": c.ServerProxy.Listen}
	if c.Admin.Listen != "" {
		addrs["admin.listen"] = c.Admin.Listen
	}
	for field, addr := range addrs {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			add("%s %q is not host:port", field, addr)
		}
	}
	if t := c.ClientProxy.TLS; t != nil {
		files["clientProxy.tls.cert"], files["clientProxy.tls.key"] = t.Cert, t.Key
		if len(t.ClientCAs) == 0 {
			add("clientProxy.tls.clientCAs is required with clientProxy.tls: the CA of the IS client certificates")
		}
		for i, p := range t.ClientCAs {
			files[fmt.Sprintf("clientProxy.tls.clientCAs[%d]", i)] = p
		}
	}
	services := map[string]bool{}
	for i, s := range c.Services {
		field := fmt.Sprintf("services[%d]", i)
		if err := s.ID.Validate(); err != nil {
			add("%s.service: %w", field, err)
			continue
		}
		if c.Server != (identifier.ServerID{}) && s.ID.Provider.MemberID() != c.Server.Owner && !seen[s.ID.Provider.MemberID()] {
			add("%s.service %s is not provided by a member this server signs for", field, s.ID)
		}
		if services[s.ID.String()] {
			add("%s.service %s is listed twice", field, s.ID)
		}
		services[s.ID.String()] = true
		if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s.url %q must be an absolute http(s) URL of the provider IS", field, s.URL)
		}
		if s.Timeout < 0 {
			add("%s.timeout must be positive", field)
		}
		switch s.Type {
		case ServiceSOAP, ServiceREST:
			if s.OpenAPI != "" {
				add("%s.openapi is for type openapi, not %s", field, s.Type)
			}
		case ServiceOpenAPI:
			files[field+".openapi"] = s.OpenAPI
		default:
			add("%s.type %q: use soap, rest or openapi", field, s.Type)
		}
		if s.IsREST() && s.ID.ServiceVersion != "" {
			add("%s.service %s: a REST service has no version (PR-REST §4.1)", field, s.ID)
		}
	}
	if c.Timestamping.MaxBatch < 1 || c.Timestamping.MaxBatch > 1_000_000 {
		add("timestamping.maxBatch %d is outside 1..1000000", c.Timestamping.MaxBatch)
	}
	if c.Opmon.Retention.D() < time.Minute {
		add("opmon.retention %s is below 1m: records would be deleted before anyone could read them", c.Opmon.Retention.D())
	}
	if ar := c.MessageLog.Archive; ar.On() {
		if ar.After.D() < time.Second {
			add("messageLog.archive.after %s is below 1s", ar.After.D())
		}
		if ar.Interval.D() < time.Second {
			add("messageLog.archive.interval %s is below 1s", ar.Interval.D())
		}
		if ar.After < c.Limits.ReplayWindow {
			// A restarted server refuses replays by reading the live log's
			// recent requests: they must not be archived yet.
			add("messageLog.archive.after %s is shorter than limits.replayWindow %s: archived requests could be replayed after a restart", ar.After.D(), c.Limits.ReplayWindow.D())
		}
		if ar.Retention != 0 && ar.Retention <= ar.After {
			add("messageLog.archive.retention %s must exceed messageLog.archive.after %s (or be 0 to keep archives forever)", ar.Retention.D(), ar.After.D())
		}
		if ar.MaxRecords < 1 || ar.MaxRecords > 1_000_000 {
			add("messageLog.archive.maxRecords %d is outside 1..1000000", ar.MaxRecords)
		}
	}
	if d := c.MessageLog.CommitInterval.D(); d < 0 || d > 100*time.Millisecond {
		add("messageLog.commitInterval %s is outside 0s..100ms", d)
	}
	switch ml := c.MessageLog; {
	case ml.Storage != StorageBbolt && ml.Storage != StoragePostgres:
		add("messageLog.storage %q is neither %s nor %s", ml.Storage, StorageBbolt, StoragePostgres)
	case ml.Storage == StoragePostgres && ml.Postgres.DSN == "":
		add("messageLog.postgres.dsn is required with messageLog.storage %s", StoragePostgres)
	case ml.Storage == StoragePostgres:
		if _, err := pgconn.ParseConfig(ml.Postgres.DSN); err != nil {
			add("messageLog.postgres.dsn: %w", err)
		}
	case ml.Postgres.DSN != "":
		add("messageLog.postgres.dsn is set but messageLog.storage is %s: set storage: %s to use it, or remove it", ml.Storage, StoragePostgres)
	}
	if c.MessageLog.WALSize < 64<<10 {
		add("messageLog.walSize %d is below 64 KiB", c.MessageLog.WALSize)
	}
	if c.Limits.MaxMessageSize < 1024 {
		add("limits.maxMessageSize %d is below 1 KiB", c.Limits.MaxMessageSize)
	}
	if c.Limits.MaxAttachmentSize < 1024 {
		add("limits.maxAttachmentSize %d is below 1 KiB", c.Limits.MaxAttachmentSize)
	}
	if d := c.GlobalConf.RefreshInterval.D(); d < time.Second {
		add("globalConf.refreshInterval %s is below 1s", d)
	}
	if d := c.GlobalConf.RecheckInterval.D(); d < 100*time.Millisecond {
		add("globalConf.recheckInterval %s is below 100ms", d)
	}
	if c.Limits.MaxHeaderBytes < 4<<10 {
		add("limits.maxHeaderBytes %d is below 4 KiB", c.Limits.MaxHeaderBytes)
	}
	if c.Limits.ReplayCapacity < 1000 {
		add("limits.replayCapacity %d is below 1000", c.Limits.ReplayCapacity)
	}
	if c.Limits.VerifyCacheSize < 1 {
		add("limits.verifyCacheSize %d is below 1", c.Limits.VerifyCacheSize)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		add("logFormat %q: use text or json", c.LogFormat)
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		p := files[f]
		if p == "" {
			add("%s is required", f)
			continue
		}
		if _, err := os.Stat(p); err != nil {
			add("%s: %w", f, err)
		}
	}
	return errors.Join(errs...)
}

// ServiceFor returns the endpoint of a provided service: the entry for its
// exact version if any, else the version-less entry.
func (c *Config) ServiceFor(id identifier.ServiceID) (Service, bool) {
	var fallback *Service
	for i := range c.Services {
		s := &c.Services[i]
		if s.ID == id {
			return *s, true
		}
		if s.ID.ServiceVersion == "" && s.ID == id.WithoutVersion() {
			fallback = s
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return Service{}, false
}

// Duration is a time.Duration written as "30s", "2m".
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 30s or 2m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written as 1048576, "512KiB" or "10MiB".
type Size int64

// UnmarshalYAML parses sizes with KiB/MiB/GiB suffixes.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if t, ok := strings.CutSuffix(v, suffix); ok {
			v, mult = strings.TrimSpace(t), m
		}
	}
	i, err := strconv.ParseInt(v, 10, 64)
	if err != nil || i <= 0 {
		return fmt.Errorf("line %d: %q is not a size such as 1048576, 512KiB or 10MiB", n.Line, n.Value)
	}
	*s = Size(i * mult)
	return nil
}
