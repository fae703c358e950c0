package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/configs"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/keys"
)

// sampleTree lays out configs/ (as shipped) beside a prepared state/.
func sampleTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if _, err := localfed.Prepare(filepath.Join(root, "state")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "state", "anchor.json"), []byte("{}"), 0o644)
	os.Mkdir(filepath.Join(root, "configs"), 0o755)
	os.Mkdir(filepath.Join(root, "configs", "openapi"), 0o755)
	for _, n := range []string{"securityserver-din.yaml", "securityserver-emdk.yaml", "securityserver-dsmf.yaml", "openapi/emdk-realestate.yaml"} {
		data, _ := configs.FS.ReadFile(n)
		os.WriteFile(filepath.Join(root, "configs", n), data, 0o644)
	}
	return filepath.Join(root, "configs")
}

func TestSamplesLoad(t *testing.T) {
	dir := sampleTree(t)
	for _, n := range []string{"din", "emdk", "dsmf"} {
		c, err := config.Load(filepath.Join(dir, "securityserver-"+n+".yaml"))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if l := c.Limits; l.MaxMessageSize != 10<<20 || l.ReplayWindow.D() != 10*time.Minute || len(c.Services) == 0 ||
			l.ReplayCapacity != 1_000_000 || l.VerifyCacheSize != 10_000 || l.HeaderTimeout.D() != 10*time.Second ||
			l.IdleTimeout.D() != 2*time.Minute || l.MaxHeaderBytes != 64<<10 || l.ShutdownGrace.D() != 10*time.Second {
			t.Errorf("%s: defaults not applied: %+v", n, c.Limits)
		}
		if !filepath.IsAbs(c.Keys.Auth.Cert) || !strings.HasSuffix(c.Keys.Auth.Cert, "auth.pem") {
			t.Errorf("%s: auth cert path %q not resolved against the file", n, c.Keys.Auth.Cert)
		}
	}
	c, _ := config.Load(filepath.Join(dir, "securityserver-din.yaml"))
	if ar := c.MessageLog.Archive; !ar.On() || ar.Dir != filepath.Join(c.DataDir, "archive") || ar.After.D() != 720*time.Hour ||
		ar.Interval.D() != time.Hour || ar.Retention != 0 || ar.MaxRecords != 10000 {
		t.Errorf("archive defaults: %+v", ar)
	}
	v1, _ := identifier.ParseService("AZ/GOV/DIN/population/getPersonByFin/v1")
	if s, ok := c.ServiceFor(v1); !ok || s.URL != "http://127.0.0.1:9000/din" || s.Timeout.D() != 10*time.Second {
		t.Fatalf("ServiceFor(v1) = %+v, %v", s, ok)
	}
	if !c.Opmon.On() || c.Opmon.Retention.D() != 7*24*time.Hour {
		t.Errorf("opmon: %+v, want enabled with 168h retention", c.Opmon)
	}
	bare := filepath.Join(dir, "no-opmon.yaml")
	data, _ := os.ReadFile(filepath.Join(dir, "securityserver-din.yaml"))
	os.WriteFile(bare, []byte(strings.Replace(string(data), "opmon:", "opmonRemoved:", 1)), 0o644)
	if _, err := config.Load(bare); err == nil || !strings.Contains(err.Error(), "opmonRemoved") {
		t.Fatalf("unknown key: %v", err)
	}
	os.WriteFile(bare, []byte(strings.NewReplacer("opmon:", "", "  enabled: true", "", "  retention: 168h", "").Replace(string(data))), 0o644)
	if c, err := config.Load(bare); err != nil || !c.Opmon.On() || c.Opmon.Retention.D() != config.DefaultOpmonRetention {
		t.Errorf("without an opmon section: %+v, %v; want enabled, 7 days", c, err)
	}
	other, _ := identifier.ParseService("AZ/GOV/DIN/population/getPassport/v1")
	if _, ok := c.ServiceFor(other); ok {
		t.Fatal("ServiceFor found an unconfigured service")
	}
}

func TestErrorsNameTheField(t *testing.T) {
	dir := sampleTree(t)
	base, _ := os.ReadFile(filepath.Join(dir, "securityserver-din.yaml"))
	cases := []struct {
		edit func(string) string
		want string
	}{
		{func(s string) string { return s + "\nbogus: 1\n" }, "field bogus not found"},
		{func(s string) string { return strings.Replace(s, "server: AZ/GOV/DIN/ss1", "server: AZ/GOV/DIN", 1) }, "SERVERCODE"},
		{func(s string) string {
			return strings.Replace(s, "${SLUZ_STATE:-../state}/DIN/auth.key", "${SLUZ_STATE:-../state}/DIN/nope.key", 1)
		}, "keys.auth.key: stat"},
		{func(s string) string { return strings.Replace(s, "listen: 127.0.0.1:8081", "listen: 8081", 1) }, `clientProxy.listen "8081"`},
		{func(s string) string { return strings.Replace(s, "http://127.0.0.1:9000/din", "ftp://x", 1) }, "services[0].url"},
		{func(s string) string { return strings.Replace(s, "timeout: 10s", "timeout: soon", 1) }, "not a duration"},
		{func(s string) string { return strings.Replace(s, "timeout: 10s", "timeout: 10s\n    type: grpc", 1) }, `services[0].type "grpc": use soap, rest or openapi`},
		{func(s string) string {
			return strings.Replace(strings.Replace(s, "getPersonByFin ", "getPersonByFin/v1 ", 1), "timeout: 10s", "timeout: 10s\n    type: rest", 1)
		}, "services[0].service AZ/GOV/DIN/population/getPersonByFin/v1: a REST service has no version"},
		{func(s string) string {
			return strings.Replace(s, "timeout: 10s", "timeout: 10s\n    openapi: x.yaml", 1)
		}, "services[0].openapi is for type openapi, not soap"},
		{func(s string) string {
			return strings.Replace(s, "timeout: 10s", "timeout: 10s\n    type: openapi\n    openapi: nope.yaml", 1)
		}, "services[0].openapi: stat"},
		{func(s string) string { return strings.Replace(s, "maxMessageSize: 10MiB", "maxMessageSize: lots", 1) }, "not a size"},
		{func(s string) string {
			return strings.Replace(s, "AZ/GOV/DIN/population/getPersonByFin", "AZ/GOV/EMDK/realestate/x", 1)
		}, "not provided by a member this server signs for"},
		{func(s string) string { return strings.Replace(s, "member: AZ/GOV/DIN", "member: AZ/GOV/EMDK", 1) }, "no key for the owner member AZ/GOV/DIN"},
		{func(s string) string { return strings.Replace(s, "logFormat: text", "logFormat: xml", 1) }, `logFormat "xml"`},
		{func(s string) string { return strings.Replace(s, "retention: 168h", "retention: 30s", 1) }, "opmon.retention 30s is below 1m"},
		{func(s string) string { return strings.Replace(s, "retention: 168h", "retention: 7d", 1) }, `"7d" is not a duration`},
		{func(s string) string { return strings.Replace(s, "enabled: true", "enabled: maybe", 1) }, "maybe"},
		{func(s string) string { return strings.Replace(s, "bodies: true", "bodies: true\n  walSize: 1KiB", 1) }, "messageLog.walSize 1024 is below 64 KiB"},
		{func(s string) string { return strings.Replace(s, "bodies: true", "bodies: true\n  storage: mysql", 1) }, `messageLog.storage "mysql" is neither bbolt nor postgres`},
		{func(s string) string {
			return strings.Replace(s, "bodies: true", "bodies: true\n  storage: postgres", 1)
		}, "messageLog.postgres.dsn is required with messageLog.storage postgres"},
		{func(s string) string {
			return strings.Replace(s, "bodies: true", "bodies: true\n  storage: postgres\n  postgres: {dsn: 'postgres://a:secret@h:notaport/db'}", 1)
		}, "messageLog.postgres.dsn: cannot parse"},
		{func(s string) string {
			return strings.Replace(s, "bodies: true", "bodies: true\n  postgres: {dsn: 'postgres://h/db'}", 1)
		}, "messageLog.postgres.dsn is set but messageLog.storage is bbolt"},
		{func(s string) string {
			return strings.Replace(s, "bodies: true", "bodies: true\n  commitInterval: 1s", 1)
		}, "messageLog.commitInterval 1s is outside 0s..100ms"},
		{func(s string) string { return strings.Replace(s, "after: 720h", "after: 10ms", 1) }, "messageLog.archive.after 10ms is below 1s"},
		{func(s string) string { return strings.Replace(s, "after: 720h", "after: 5m", 1) }, "messageLog.archive.after 5m0s is shorter than limits.replayWindow 10m0s"},
		{func(s string) string { return strings.Replace(s, "interval: 1h", "interval: 100ms", 1) }, "messageLog.archive.interval 100ms is below 1s"},
		{func(s string) string { return strings.Replace(s, "after: 720h", "after: 720h\n    retention: 24h", 1) }, "messageLog.archive.retention 24h0m0s must exceed messageLog.archive.after 720h0m0s"},
		{func(s string) string { return strings.Replace(s, "after: 720h", "after: 720h\n    maxRecords: -1", 1) }, "messageLog.archive.maxRecords -1 is outside"},
		{func(s string) string { return strings.Replace(s, "after: 720h", "after: soon", 1) }, "not a duration"},
		{func(s string) string {
			return strings.Replace(s, "replayWindow: 10m", "replayWindow: 10m\n  replayCapacity: 10", 1)
		}, "limits.replayCapacity 10 is below 1000"},
		{func(s string) string {
			return strings.Replace(s, "replayWindow: 10m", "replayWindow: 10m\n  verifyCacheSize: -5", 1)
		}, "limits.verifyCacheSize -5 is below 1"},
		{func(s string) string {
			return strings.Replace(s, "replayWindow: 10m", "replayWindow: 10m\n  maxHeaderBytes: 1KiB", 1)
		}, "limits.maxHeaderBytes 1024 is below 4 KiB"},
		{func(s string) string {
			return strings.Replace(s, "replayWindow: 10m", "replayWindow: 10m\n  shutdownGrace: -1s", 1)
		}, `"-1s" is not a duration`},
		{func(s string) string { return strings.Replace(s, "after: 720h", "after: 720h\n    keep: all", 1) }, "field keep not found"},
		{func(s string) string {
			return strings.Replace(s, "key: ${SLUZ_STATE:-../state}/DIN/sign.key", "pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, pinFile: pin, keyLabel: x}", 1)
		}, "keys.sign[0]: invalid key spec: pkcs11.tokenLabel is empty"},
		{func(s string) string {
			return strings.Replace(s, "key: ${SLUZ_STATE:-../state}/DIN/sign.key", "key: ${SLUZ_STATE:-../state}/DIN/sign.key\n      pkcs11: {module: m.so, tokenLabel: t, pin: '1', keyLabel: x}", 1)
		}, "keys.sign[0]:"},
	}
	for _, tc := range cases {
		p := filepath.Join(dir, "edited.yaml")
		os.WriteFile(p, []byte(tc.edit(string(base))), 0o644)
		_, err := config.Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error mentioning %q, got %v", tc.want, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the DSN's password: %v", err)
		}
	}
}

// The errors that name a field keep their cause for errors.Is.
func TestErrorsKeepTheCause(t *testing.T) {
	dir := sampleTree(t)
	base, _ := os.ReadFile(filepath.Join(dir, "securityserver-din.yaml"))
	missing := filepath.Join(dir, "missing.yaml")
	cases := []struct {
		edit func(string) string
		want string
		is   error
	}{
		{func(s string) string {
			return strings.Replace(s, "${SLUZ_STATE:-../state}/DIN/auth.key", "${SLUZ_STATE:-../state}/DIN/nope.key", 1)
		}, "keys.auth.key: stat", fs.ErrNotExist},
		{func(s string) string {
			return strings.Replace(s, "key: ${SLUZ_STATE:-../state}/DIN/sign.key", "pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, pinFile: pin, keyLabel: x}", 1)
		}, "keys.sign[0]: invalid key spec: pkcs11.tokenLabel is empty", keys.ErrInvalidSpec},
		{func(s string) string {
			return strings.Replace(s, "AZ/GOV/DIN/population/getPersonByFin", "AZ/GOV/DIN/population/get Person", 1)
		}, `service "AZ/GOV/DIN/population/get Person": invalid identifier`, identifier.ErrInvalid},
	}
	for _, tc := range cases {
		p := filepath.Join(dir, "edited.yaml")
		os.WriteFile(p, []byte(tc.edit(string(base))), 0o644)
		_, err := config.Load(p)
		if err == nil || !strings.Contains(err.Error(), "security server config "+p+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want error naming %s and mentioning %q, got %v", p, tc.want, err)
		}
		if !errors.Is(err, tc.is) {
			t.Errorf("%v: errors.Is(%v) = false", err, tc.is)
		}
	}
	_, err := config.Load(missing)
	if want := "security server config: open " + missing + ": no such file or directory"; err == nil || err.Error() != want || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing): %v, want %q", err, want)
	}
}

// TestSamplesAnyStateDirectory: the sample configurations name their files
// under $SLUZ_STATE when it is set, so one copy serves any state directory;
// a reference to an unset variable without a default is refused by name.
func TestSamplesAnyStateDirectory(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "elsewhere", "fed-state")
	if _, err := localfed.Prepare(state); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(state, "anchor.json"), []byte("{}"), 0o644)
	data, err := configs.FS.ReadFile("securityserver-din.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "din.yaml") // no ../state beside it
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUZ_STATE", state)
	c, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Keys.Auth.Cert != filepath.Join(state, "DIN", "auth.pem") || c.DataDir != filepath.Join(state, "DIN", "ss") {
		t.Fatalf("paths not under $SLUZ_STATE: auth %s, dataDir %s", c.Keys.Auth.Cert, c.DataDir)
	}
	bad := filepath.Join(root, "bad.yaml")
	if err := os.WriteFile(bad, []byte("server: AZ/GOV/DIN/ss1\nanchor: ${SLUZ_NO_SUCH_VAR}/anchor.json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(bad); err == nil || !strings.Contains(err.Error(), "line 2: ${SLUZ_NO_SUCH_VAR}: the environment variable SLUZ_NO_SUCH_VAR is not set") {
		t.Fatalf("unset variable: %v", err)
	}
}
