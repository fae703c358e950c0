package join_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/registration"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/join"
	"github.com/sluz/sluz/securityserver/keys"
)

// federation is a trust directory and an anchor naming its
// configuration-signing certificate.
func federation(t *testing.T) (*pkiutil.CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "pki")})
	if err != nil {
		t.Fatal(err)
	}
	signing, err := pkiutil.ReadCertificate(filepath.Join(dir, "pki", pkiutil.FileConfigSigningCert))
	if err != nil {
		t.Fatal(err)
	}
	anchor := filepath.Join(dir, "anchor.json")
	if err := (&globalconf.Anchor{Instance: "AZ", URL: "http://127.0.0.1:4001/globalconf", Cert: signing}).Write(anchor); err != nil {
		t.Fatal(err)
	}
	return ca, anchor
}

func dgk(dir, anchor string) join.InitOptions {
	id, _ := identifier.ParseServer("AZ/GOV/DGK/ss1")
	return join.InitOptions{Dir: dir, Anchor: anchor, Server: id, MemberName: "Dövlət Gömrük Komitəsi", Subsystems: []string{"customs"},
		Address: "127.0.0.1:5503", ClientListen: "127.0.0.1:8084", AdminListen: "127.0.0.1:9014"}
}

// respond is the operator's part without a registry: the CA certifies
// the request's keys.
func respond(t *testing.T, ca *pkiutil.CA, req *registration.Request) *registration.Response {
	t.Helper()
	auth, sign := req.AuthRequest(), req.SignRequest()
	a, err := ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: req.Server.Owner.String(), IPAddresses: auth.IPAddresses, DNSNames: auth.DNSNames, PublicKey: auth.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: req.Server.Owner.String(), PublicKey: sign.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	return &registration.Response{Format: registration.ResponseFormat, Server: req.Server,
		AuthCert: string(pkiutil.EncodeCertificates(a, ca.Cert)), SignCert: string(pkiutil.EncodeCertificates(s, ca.Cert)),
		RootCA: string(pkiutil.EncodeCertificates(ca.Root))}
}

func writeJSON(t *testing.T, path string, v any) string {
	t.Helper()
	data, _ := json.Marshal(v)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil {
			info, _ := d.Info()
			out = append(out, strings.TrimPrefix(p, dir)+" "+info.Mode().String()+" "+info.ModTime().String())
		}
		return nil
	})
	return out
}

// TestInitInstall: init writes the server directory (keys 0600, a request
// the operator accepts, a configuration that check-config accepts once
// the returned certificates are installed), and refuses to run again
// without --force.
func TestInitInstall(t *testing.T) {
	ca, anchor := federation(t)
	dir := filepath.Join(t.TempDir(), "dgk")
	res, err := join.Init(dgk(dir, anchor))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{join.FileAuthKey, join.FileSignKey} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode())
		}
	}
	req, err := registration.ReadRequest(res.RequestFile)
	if err != nil {
		t.Fatal(err)
	}
	if req.Server.String() != "AZ/GOV/DGK/ss1" || req.Address != "127.0.0.1:5503" || req.MemberName != "Dövlət Gömrük Komitəsi" || len(req.Subsystems) != 1 || req.Subsystems[0].String() != "AZ/GOV/DGK/customs" {
		t.Errorf("request: %+v", req)
	}
	data, _ := os.ReadFile(res.RequestFile)
	if strings.Contains(string(data), "PRIVATE KEY") {
		t.Fatal("the request carries a private key")
	}
	if _, err := config.Load(res.Config); err == nil || !strings.Contains(err.Error(), "keys.auth.cert") {
		t.Errorf("before install the configuration must lack only its certificates: %v", err)
	}
	if _, err := join.Init(dgk(dir, anchor)); err == nil || !strings.Contains(err.Error(), "already holds a security server (") || !strings.Contains(err.Error(), "pass --force") {
		t.Errorf("init again without --force: %v", err)
	}

	bundle := writeJSON(t, filepath.Join(t.TempDir(), "response.json"), respond(t, ca, req))
	inst, err := join.Install(dir, bundle, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(inst.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := securityserver.Check(cfg); err != nil {
		t.Fatalf("check-config after install: %v", err)
	}
	if cfg.ClientProxy.Listen != "127.0.0.1:8084" || cfg.ServerProxy.Listen != config.DefaultServerListen || cfg.Admin.Listen != "127.0.0.1:9014" || cfg.DataDir != filepath.Join(dir, "data") {
		t.Errorf("configuration: client %s server %s admin %s data %s", cfg.ClientProxy.Listen, cfg.ServerProxy.Listen, cfg.Admin.Listen, cfg.DataDir)
	}
	if _, err := join.Install(dir, bundle, false); err == nil || !strings.Contains(err.Error(), "certificates are installed; pass --force") {
		t.Errorf("install twice: %v", err)
	}

	// --force: new keys, and the certificates of the old ones go.
	o := dgk(dir, anchor)
	o.Force = true
	again, err := join.Init(o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Request.AuthKeySHA256 == req.AuthKeySHA256 {
		t.Error("init --force kept the old authentication key")
	}
	if _, err := os.Stat(inst.AuthCert); !os.IsNotExist(err) {
		t.Errorf("init --force left the old key's certificate: %v", err)
	}
	if _, err := join.Install(dir, bundle, false); err == nil || !strings.Contains(err.Error(), "is for another key") {
		t.Errorf("installing the old keys' certificates: %v", err)
	}
}

// TestInitRefuses: each bad input is refused with one sentence saying what
// to fix, and nothing is written.
func TestInitRefuses(t *testing.T) {
	_, anchor := federation(t)
	other := filepath.Join(t.TempDir(), "anchor.json")
	data, _ := os.ReadFile(anchor)
	os.WriteFile(other, []byte(strings.Replace(string(data), `"AZ"`, `"EE"`, 1)), 0o644)
	for _, tc := range []struct {
		name string
		edit func(*join.InitOptions)
		want string
	}{
		{"no anchor", func(o *join.InitOptions) { o.Anchor = o.Anchor + ".missing" }, "--anchor: open "},
		{"not an anchor", func(o *join.InitOptions) { o.Anchor = filepath.Join(filepath.Dir(o.Dir), "not-anchor.json") }, "is not a configuration anchor"},
		{"anchor of another instance", func(o *join.InitOptions) { o.Anchor = other }, "anchor is of instance EE: correct --server"},
		{"no subsystem", func(o *join.InitOptions) { o.Subsystems = nil }, "--subsystem is required"},
		{"bad subsystem", func(o *join.InitOptions) { o.Subsystems = []string{"gömrük"} }, `--subsystem: invalid identifier: subsystem code "gömrük" contains`},
		{"no name", func(o *join.InitOptions) { o.MemberName = " " }, "--name is required"},
		{"bad address", func(o *join.InitOptions) { o.Address = "customs.gov.az" }, `--address "customs.gov.az" is not host:port`},
		{"no address for 0.0.0.0", func(o *join.InitOptions) { o.Address = ""; o.ServerListen = "0.0.0.0:5500" }, "--address is required"},
		{"bad listen", func(o *join.InitOptions) { o.ClientListen = "8084" }, `--client-listen "8084" is not host:port`},
		{"bad dns", func(o *join.InitOptions) { o.DNSNames = []string{"ss 1"} }, `--dns "ss 1" is not a host name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			os.WriteFile(filepath.Join(parent, "not-anchor.json"), []byte("{}"), 0o644)
			o := dgk(filepath.Join(parent, "dgk"), anchor)
			tc.edit(&o)
			before := listDir(t, parent)
			_, err := join.Init(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if after := listDir(t, parent); !slices.Equal(before, after) {
				t.Errorf("a refused init wrote %v", after)
			}
		})
	}
}

// TestInstallRefuses: a response for another server, with a broken chain,
// for other keys or malformed is refused and installs nothing.
func TestInstallRefuses(t *testing.T) {
	ca, anchor := federation(t)
	otherCA, _ := federation(t)
	dir := filepath.Join(t.TempDir(), "dgk")
	res, err := join.Init(dgk(dir, anchor))
	if err != nil {
		t.Fatal(err)
	}
	req := res.Request
	good := respond(t, ca, req)
	otherDir := filepath.Join(t.TempDir(), "dgk2")
	o := dgk(otherDir, anchor)
	o.Server.ServerCode = "ss2"
	other, err := join.Init(o)
	if err != nil {
		t.Fatal(err)
	}
	forOther := respond(t, ca, other.Request)
	otherKeys := *forOther
	otherKeys.Server = req.Server
	foreign := respond(t, otherCA, req)
	foreign.RootCA = good.RootCA // issued by another CA than the root it carries
	for _, tc := range []struct {
		name string
		resp any
		want string
	}{
		{"another server", forOther, "is the response for AZ/GOV/DGK/ss2, not for this server AZ/GOV/DGK/ss1"},
		{"other keys", &otherKeys, "the authentication certificate in"},
		{"broken chain", foreign, "does not chain to the root"},
		{"malformed", map[string]string{"format": registration.ResponseFormat, "server": "AZ/GOV/DGK/ss1", "authCert": "x", "rootCa": good.RootCA}, "authCert: no PEM CERTIFICATE block found"},
		{"not a response", []int{1}, "is not a registration response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := writeJSON(t, filepath.Join(t.TempDir(), "response.json"), tc.resp)
			before := listDir(t, dir)
			_, err := join.Install(dir, bundle, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if after := listDir(t, dir); !slices.Equal(before, after) {
				t.Errorf("a refused install changed the directory: %v", after)
			}
		})
	}
	if _, err := join.Install(t.TempDir(), "x.json", false); err == nil || !strings.Contains(err.Error(), "is not a server directory made by securityserver init") {
		t.Errorf("install into another directory: %v", err)
	}
}

// TestInitPKCS11: with a signing key named on a PKCS#11 token (SoftHSM),
// init generates it there when the token holds none (no sign.key is
// written), the installed configuration passes check-config with the
// token's key, and init --force uses the key already on the token.
func TestInitPKCS11(t *testing.T) {
	testtool.Require(t, "softhsm2-util")
	module := ""
	for _, p := range []string{os.Getenv("SOFTHSM2_MODULE"), "/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); p != "" && err == nil {
			module = p
			break
		}
	}
	if module == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("libsofthsm2.so not found: set SOFTHSM2_MODULE")
		}
		t.Skip("libsofthsm2.so not found")
	}
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(filepath.Dir(tokens), "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "dgk", "--pin", "4321", "--so-pin", "8765").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	pinFile := filepath.Join(filepath.Dir(tokens), "pin")
	if err := os.WriteFile(pinFile, []byte("4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	ca, anchor := federation(t)
	dir := filepath.Join(t.TempDir(), "dgk")
	o := dgk(dir, anchor)
	o.SignPKCS11 = &keys.PKCS11{Module: module, TokenLabel: "dgk", PINFile: pinFile, KeyLabel: "AZ-GOV-DGK-sign"}
	res, err := join.Init(o)
	if err != nil {
		t.Fatal(err)
	}
	if !res.SignGenerated {
		t.Fatal("init did not report generating the signing key on the token")
	}
	if _, err := os.Stat(filepath.Join(dir, join.FileSignKey)); !os.IsNotExist(err) {
		t.Fatalf("a sign.key file was written beside a token key: %v", err)
	}
	bundle := writeJSON(t, filepath.Join(t.TempDir(), "response.json"), respond(t, ca, res.Request))
	inst, err := join.Install(dir, bundle, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(inst.Config)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Keys.Sign[0].PKCS11 == nil {
		t.Fatal("the configuration does not name the token key")
	}
	if err := securityserver.Check(cfg); err != nil {
		t.Fatalf("check-config with the token key: %v", err)
	}

	o.Force = true
	again, err := join.Init(o)
	if err != nil {
		t.Fatal(err)
	}
	if again.SignGenerated || again.Request.SignKeySHA256 != res.Request.SignKeySHA256 {
		t.Fatalf("init --force did not use the key already on the token (generated %v, same key %v)", again.SignGenerated, again.Request.SignKeySHA256 == res.Request.SignKeySHA256)
	}
}
