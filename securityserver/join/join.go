// Package join is the agency's side of joining the federation: Init makes
// a new security server's directory (keys, certificate requests, the
// registration request for the central operator, a complete commented
// configuration) and Install puts the certificates the operator sent back
// next to the keys.
//
// It promises:
//
//   - Init checks every input (identifiers, addresses, the anchor, the
//     PKCS#11 key when one is named) before it writes anything, then writes
//     into a temporary directory beside the target and renames it into
//     place: a refusal or a failure leaves no half-written directory. It
//     never replaces an existing key unless Force is set.
//   - Private keys are written 0600 and never into the request: only the
//     certificate requests and the keys' SHA-256 fingerprints leave.
//   - Install accepts a response only for this server, only if each
//     certificate chains to the root it carries and holds the key Init
//     generated (by the fingerprint in the request, and against the key
//     file itself when there is one), and only if the configuration then
//     passes the checks `securityserver check-config` makes; otherwise it
//     leaves the directory as it was.
//
// # Caveats
//
// The authentication key is always a PEM file (the TLS stack loads it from
// disk); only the signing key can live on a PKCS#11 token: Init opens the
// key pair SignPKCS11 names, or generates it on the token (the private key
// never leaves it) when the token holds none with that label and ID.
package join

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluz/sluz/internal/durable"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/registry/registration"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/keys"
)

// Files of a server directory Init makes (Install adds the certificates).
const (
	FileConfig   = "securityserver.yaml"
	FileAnchor   = "anchor.json"
	FileRequest  = "registration-request.json"
	FileAuthKey  = "auth.key"
	FileSignKey  = "sign.key"
	FileAuthCSR  = "auth.csr"
	FileSignCSR  = "sign.csr"
	FileAuthCert = "auth.pem"
	FileSignCert = "sign.pem"
	DirData      = "data"
)

// DefaultAdminListen is where Init puts the admin listener (metrics,
// health) unless told otherwise: loopback only.
const DefaultAdminListen = "127.0.0.1:9010"

// InitOptions says what Init makes.
type InitOptions struct {
	Dir        string              // the server's directory; created
	Anchor     string              // the configuration anchor file, copied into Dir
	Server     identifier.ServerID // INSTANCE/CLASS/MEMBER/SERVERCODE
	MemberName string              // the owner's display name (UTF-8)
	Subsystems []string            // codes of the owner's subsystems to host
	// Address is where peers reach the service proxy (host:port). Empty
	// means ServerListen, unless that listens on every interface.
	Address      string
	ClientListen string   // empty: config.DefaultClientListen
	ServerListen string   // empty: config.DefaultServerListen
	AdminListen  string   // empty: DefaultAdminListen; "off": none
	DNSNames     []string // more names for the authentication certificate
	KeyType      pkiutil.KeyType
	// SignPKCS11 names a key pair on a token to sign with, instead of a
	// generated sign.key; Init generates it on the token when absent.
	SignPKCS11 *keys.PKCS11
	Force      bool // replace the keys and requests of an existing directory
}

// Initialized is what Init made.
type Initialized struct {
	Dir, Config string
	RequestFile string // what to send to the central operator
	Request     *registration.Request
	// SignGenerated: the signing key was generated on the PKCS#11 token
	// (false: an existing one was used, or it is a file).
	SignGenerated bool
}

// managed are the files Init writes or, with Force, replaces; the
// certificates of replaced keys are removed with them.
var managed = []string{FileConfig, FileAnchor, FileRequest, FileAuthKey, FileSignKey, FileAuthCSR, FileSignCSR, FileAuthCert, FileSignCert}

// Init makes the server directory; see the package comment.
func Init(o InitOptions) (*Initialized, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	anchorData, err := os.ReadFile(o.Anchor)
	if err != nil {
		return nil, fmt.Errorf("--anchor: %w", err)
	}
	anchor, err := globalconf.ParseAnchor(anchorData)
	if err != nil {
		return nil, fmt.Errorf("--anchor %s is not a configuration anchor (registry anchor --out writes one): %w", o.Anchor, err)
	}
	if anchor.Instance != o.Server.Owner.Instance {
		return nil, fmt.Errorf("server %s is of instance %s but the anchor is of instance %s: correct --server or use the federation's anchor", o.Server, o.Server.Owner.Instance, anchor.Instance)
	}
	existing, err := existingFiles(o.Dir)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 && !o.Force {
		return nil, fmt.Errorf("%s already holds a security server (%s): choose another --dir, or pass --force to replace its keys and requests", o.Dir, strings.Join(existing, ", "))
	}
	var signKey crypto.Signer
	generated := false
	if o.SignPKCS11 != nil {
		k, closer, err := keys.Open(keys.Spec{PKCS11: o.SignPKCS11}, nil)
		if errors.Is(err, keys.ErrKeyNotFound) && o.SignPKCS11.KeyLabel != "" {
			k, closer, err = keys.GeneratePKCS11(o.SignPKCS11, o.KeyType == pkiutil.KeyRSA2048)
			generated = err == nil
		}
		if err != nil {
			return nil, fmt.Errorf("signing key: %w", err)
		}
		defer closer.Close()
		signKey = k
	} else if signKey, err = pkiutil.GenerateKey(o.KeyType); err != nil {
		return nil, err
	}
	authKey, err := pkiutil.GenerateKey(o.KeyType)
	if err != nil {
		return nil, err
	}

	owner := o.Server.Owner
	req := &registration.Request{Format: registration.RequestFormat, Server: o.Server, Address: o.Address, MemberName: o.MemberName, Subsystems: []identifier.Client{}}
	for _, s := range o.Subsystems {
		req.Subsystems = append(req.Subsystems, owner.Subsystem(s))
	}
	host := registration.Host(o.Address)
	authTmpl := &x509.CertificateRequest{Subject: pkix.Name{Country: []string{owner.Instance}, Organization: []string{owner.MemberClass},
		OrganizationalUnit: []string{owner.MemberCode}, CommonName: host}}
	for _, n := range append([]string{host}, o.DNSNames...) {
		if ip := net.ParseIP(n); ip != nil {
			authTmpl.IPAddresses = append(authTmpl.IPAddresses, ip)
		} else {
			authTmpl.DNSNames = append(authTmpl.DNSNames, n)
		}
	}
	signTmpl := &x509.CertificateRequest{Subject: pkix.Name{Country: []string{owner.Instance}, Organization: []string{owner.MemberClass}, CommonName: owner.MemberCode}}
	files := map[string][]byte{FileAnchor: anchorData}
	for _, c := range []struct {
		tmpl     *x509.CertificateRequest
		key      crypto.Signer
		csr, sha *string
		file     string
	}{{authTmpl, authKey, &req.AuthCSR, &req.AuthKeySHA256, FileAuthCSR}, {signTmpl, signKey, &req.SignCSR, &req.SignKeySHA256, FileSignCSR}} {
		der, err := x509.CreateCertificateRequest(rand.Reader, c.tmpl, c.key)
		if err != nil {
			return nil, fmt.Errorf("certificate request: %w", err)
		}
		*c.csr = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		if *c.sha, err = registration.KeySHA256(c.key.Public()); err != nil {
			return nil, err
		}
		files[c.file] = []byte(*c.csr)
	}
	if err := req.Check(); err != nil { // what the operator will check: fail here, not there
		return nil, err
	}
	reqJSON, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return nil, err
	}
	files[FileRequest] = append(reqJSON, '\n')
	files[FileConfig] = []byte(configText(o))
	secret := map[string]crypto.Signer{FileAuthKey: authKey}
	if o.SignPKCS11 == nil {
		secret[FileSignKey] = signKey
	}

	if err := writeDir(o.Dir, existing, files, secret); err != nil {
		return nil, err
	}
	return &Initialized{Dir: o.Dir, Config: filepath.Join(o.Dir, FileConfig), RequestFile: filepath.Join(o.Dir, FileRequest), Request: req, SignGenerated: generated}, nil
}

// check validates and completes the options that need no file.
func (o *InitOptions) check() error {
	if o.Dir == "" {
		return errors.New("--dir is required: the new server's directory")
	}
	if o.Anchor == "" {
		return errors.New("--anchor is required: the configuration anchor file the central operator handed out")
	}
	if err := o.Server.Validate(); err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	if strings.TrimSpace(o.MemberName) == "" {
		return errors.New(`--name is required: the owner member's display name, e.g. "Dövlət Gömrük Komitəsi"`)
	}
	if len(o.Subsystems) == 0 {
		return errors.New("--subsystem is required: the code of a subsystem of the owner this server hosts, e.g. customs")
	}
	for _, s := range o.Subsystems {
		if err := identifier.CheckPart("subsystem code", s); err != nil {
			return fmt.Errorf("--subsystem: %w", err)
		}
	}
	if o.ClientListen == "" {
		o.ClientListen = config.DefaultClientListen
	}
	if o.ServerListen == "" {
		o.ServerListen = config.DefaultServerListen
	}
	if o.AdminListen == "" {
		o.AdminListen = DefaultAdminListen
	}
	addrs := [][2]string{{"--client-listen", o.ClientListen}, {"--server-listen", o.ServerListen}}
	if o.AdminListen != "off" {
		addrs = append(addrs, [2]string{"--admin-listen", o.AdminListen})
	}
	if o.Address == "" {
		host, _, _ := net.SplitHostPort(o.ServerListen)
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("--address is required: the host:port where other security servers reach this one (the service proxy listens on %s)", o.ServerListen)
		}
		o.Address = o.ServerListen
	}
	addrs = append(addrs, [2]string{"--address", o.Address})
	for _, a := range addrs {
		if host, port, err := net.SplitHostPort(a[1]); err != nil || port == "" || a[0] == "--address" && host == "" {
			return fmt.Errorf("%s %q is not host:port", a[0], a[1])
		}
	}
	for _, n := range o.DNSNames {
		if n == "" || strings.ContainsAny(n, " /\\@:") {
			return fmt.Errorf("--dns %q is not a host name", n)
		}
	}
	if _, err := pkiutil.ParseKeyType(string(o.KeyType)); err != nil {
		return fmt.Errorf("--key-type: %w", err)
	}
	if o.SignPKCS11 != nil {
		if err := (keys.Spec{PKCS11: o.SignPKCS11}).Validate(); err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
		if !keys.PKCS11Supported {
			return errors.New("this securityserver is the static build, which cannot use PKCS#11 tokens: leave out the --pkcs11 flags or run the PKCS#11 build")
		}
	}
	return nil
}

// existingFiles names the files of managed already in dir.
func existingFiles(dir string) ([]string, error) {
	var out []string
	for _, f := range managed {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			out = append(out, f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return out, nil
}

// writeDir writes files and keys (0600) into a temporary directory beside
// dir, then renames it to dir, or, when dir exists, moves each file in
// (removing the existing files that were not rewritten: certificates of
// replaced keys).
func writeDir(dir string, existing []string, files map[string][]byte, secret map[string]crypto.Signer) (err error) {
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".init-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o700); err != nil {
		return err
	}
	for name, data := range files {
		if err := durable.WriteFile(filepath.Join(tmp, name), data, 0o644, false); err != nil {
			return err
		}
	}
	for name, key := range secret {
		if err := pkiutil.WritePrivateKey(filepath.Join(tmp, name), key, false); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(tmp, DirData), 0o700); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err == nil { // dir did not exist, or was empty
		return nil
	}
	// dir exists with content: replace what Init manages, file by file.
	for _, name := range existing {
		if _, ok := files[name]; !ok && secret[name] == nil {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == DirData {
			continue
		}
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, DirData), 0o700); err != nil {
		return err
	}
	return os.RemoveAll(tmp)
}
