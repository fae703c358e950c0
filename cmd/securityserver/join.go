package main

import (
	"fmt"
	"strings"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/join"
	"github.com/sluz/sluz/securityserver/keys"
)

const initExample = `securityserver init --dir dgk --anchor state/anchor.json --server AZ/GOV/DGK/ss1 \
    --name "Dövlət Gömrük Komitəsi" --subsystem customs --address 127.0.0.1:5503 \
    --client-listen 127.0.0.1:8084 --admin-listen 127.0.0.1:9014`

const initDetails = `Writes DIR/securityserver.yaml (complete, commented), DIR/anchor.json (a copy),
DIR/auth.key and DIR/sign.key (generated, mode 0600: they never leave this
machine), DIR/auth.csr and DIR/sign.csr, DIR/registration-request.json (the
one file to send to the central operator) and DIR/data/. It checks every
input before it writes anything and writes into a temporary directory that
it renames into place, so a refusal leaves nothing behind; it never replaces
existing keys without --force. With --pkcs11-module (and the other --pkcs11
flags) the signing key is the key pair on a PKCS#11 token with that label
(and ID), generated on the token when it holds none (the private key never
leaves it); the authentication key is always a file.`

func runInit(env *cli.Env, args []string) error {
	fs := env.Flags()
	var o join.InitOptions
	fs.StringVar(&o.Dir, "dir", "", "the new server's directory (created)")
	fs.StringVar(&o.Anchor, "anchor", "", "the configuration anchor file the central operator handed out")
	server := fs.String("server", "", "this server INSTANCE/CLASS/MEMBER/SERVERCODE, e.g. AZ/GOV/DGK/ss1")
	fs.StringVar(&o.MemberName, "name", "", `the owner member's display name, e.g. "Dövlət Gömrük Komitəsi"`)
	var subsystems, dns stringList
	fs.Var(&subsystems, "subsystem", "code of an owner's subsystem this server hosts, e.g. customs (repeatable)")
	fs.StringVar(&o.Address, "address", "", "host:port where other security servers reach this one (default: --server-listen unless it is 0.0.0.0)")
	fs.StringVar(&o.ClientListen, "client-listen", "", "client proxy listen address, for the agency's IS (default 127.0.0.1:8080)")
	fs.StringVar(&o.ServerListen, "server-listen", "", "service proxy listen address, for peer servers (default 0.0.0.0:5500)")
	fs.StringVar(&o.AdminListen, "admin-listen", "", "admin listener: metrics, health (default "+join.DefaultAdminListen+"; off for none)")
	fs.Var(&dns, "dns", "another DNS name for the authentication certificate (repeatable)")
	keyType := fs.String("key-type", string(pkiutil.KeyECDSAP256), "key algorithm: ecdsa-p256 or rsa2048")
	var p keys.PKCS11
	fs.StringVar(&p.Module, "pkcs11-module", "", "signing key on a PKCS#11 token: the token's library, e.g. /usr/lib/softhsm/libsofthsm2.so")
	fs.StringVar(&p.TokenLabel, "pkcs11-token", "", "the token's label")
	fs.StringVar(&p.PINFile, "pkcs11-pin-file", "", "file holding the token's user PIN (not readable by others)")
	fs.StringVar(&p.KeyLabel, "pkcs11-key-label", "", "the key pair's CKA_LABEL")
	fs.StringVar(&p.KeyID, "pkcs11-key-id", "", "the key pair's CKA_ID, hex")
	fs.BoolVar(&o.Force, "force", false, "replace the keys and requests of an existing server directory")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *server == "" {
		return cli.Usagef("--server is required: this server's identifier, e.g. AZ/GOV/DGK/ss1")
	}
	var err error
	if o.Server, err = identifier.ParseServer(*server); err != nil {
		return cli.UsageError{Err: fmt.Errorf("--server: %w", err)}
	}
	if o.KeyType, err = pkiutil.ParseKeyType(*keyType); err != nil {
		return cli.UsageError{Err: err}
	}
	o.Subsystems, o.DNSNames = subsystems, dns
	if p != (keys.PKCS11{}) {
		o.SignPKCS11 = &p
	}
	res, err := join.Init(o)
	if err != nil {
		return err
	}
	r := res.Request
	fmt.Fprintf(env.Out, "created security server %s in %s\n", r.Server, res.Dir)
	fmt.Fprintf(env.Out, "  keys (private, never send them): %s\n", strings.Join(keyFiles(o, res.SignGenerated), ", "))
	fmt.Fprintf(env.Out, "  configuration: %s\n\n", res.Config)
	fmt.Fprintf(env.Out, "Send this file to the central operator:\n  %s\n", res.RequestFile)
	fmt.Fprintf(env.Out, "and confirm these key fingerprints to them by another channel (phone, letter):\n  authentication SHA-256 %s\n  signing        SHA-256 %s\n\n", r.AuthKeySHA256, r.SignKeySHA256)
	fmt.Fprintf(env.Out, "The operator runs:\n  registry register %s --trust TRUST-DIR --out RESPONSE.json\n", res.RequestFile)
	fmt.Fprintf(env.Out, "When RESPONSE.json comes back:\n  securityserver install --dir %s --bundle RESPONSE.json\n  securityserver serve --config %s\n", res.Dir, res.Config)
	return nil
}

func keyFiles(o join.InitOptions, generated bool) []string {
	out := []string{o.Dir + "/" + join.FileAuthKey}
	switch {
	case o.SignPKCS11 == nil:
		out = append(out, o.Dir+"/"+join.FileSignKey)
	case generated:
		out = append(out, fmt.Sprintf("signing key %q generated on token %q", o.SignPKCS11.KeyLabel, o.SignPKCS11.TokenLabel))
	default:
		out = append(out, fmt.Sprintf("signing key %q on token %q", o.SignPKCS11.KeyLabel, o.SignPKCS11.TokenLabel))
	}
	return out
}

func runInstall(env *cli.Env, args []string) error {
	fs := env.Flags()
	dir := fs.String("dir", "", "the server directory securityserver init made")
	bundle := fs.String("bundle", "", "the response file from the central operator (registry register --out)")
	force := fs.Bool("force", false, "replace certificates already installed")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *bundle == "" {
		return cli.Usagef("--dir and --bundle are required")
	}
	res, err := join.Install(*dir, *bundle, *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "installed the certificates of %s: %s, %s\nconfiguration OK: %s\nNext:\n  securityserver serve --config %s\n",
		res.Server, res.AuthCert, res.SignCert, res.Config, res.Config)
	return nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
