package pkiutil

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
)

func newTestCA(t *testing.T, kt KeyType) *CA {
	t.Helper()
	ca, err := Init(InitOptions{Dir: t.TempDir(), KeyType: kt})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return ca
}

func TestInitLayoutAndKeyModes(t *testing.T) {
	ca := newTestCA(t, KeyECDSAP256)
	for _, f := range trustFiles {
		if f == FileTSASerials { // created by the first `pkiutil serve`
			continue
		}
		st, err := os.Stat(filepath.Join(ca.Dir, f))
		if err != nil {
			t.Errorf("%s missing after init: %v", f, err)
			continue
		}
		if strings.HasSuffix(f, ".key") && st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	// Keys are PKCS#8 and match their certificates.
	for _, pair := range [][2]string{{FileRootCert, FileRootKey}, {FileCACert, FileCAKey}, {FileOCSPCert, FileOCSPKey}, {FileTSACert, FileTSAKey}, {FileConfigSigningCert, FileConfigSigningKey}} {
		data, _ := os.ReadFile(filepath.Join(ca.Dir, pair[1]))
		if !strings.HasPrefix(string(data), "-----BEGIN PRIVATE KEY-----") {
			t.Errorf("%s is not a PKCS#8 PEM key", pair[1])
		}
		cert, err := ReadCertificate(filepath.Join(ca.Dir, pair[0]))
		if err != nil {
			t.Fatal(err)
		}
		key, err := ReadPrivateKey(filepath.Join(ca.Dir, pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !KeyMatches(cert, key) {
			t.Errorf("%s does not match %s", pair[1], pair[0])
		}
	}
	if ca.Root.Subject.Country[0] != "AZ" || !strings.Contains(ca.Root.Subject.CommonName, "Şlüz") {
		t.Errorf("root subject %q lacks the instance or the federation name", ca.Root.Subject)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	ca := newTestCA(t, KeyECDSAP256)
	before, _ := os.ReadFile(filepath.Join(ca.Dir, FileRootKey))
	_, err := Init(InitOptions{Dir: ca.Dir})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init: err = %v, want a refusal naming --force", err)
	}
	after, _ := os.ReadFile(filepath.Join(ca.Dir, FileRootKey))
	if string(before) != string(after) {
		t.Fatal("refused init still changed the root key")
	}
	ca2, err := Init(InitOptions{Dir: ca.Dir, Force: true})
	if err != nil {
		t.Fatalf("init --force: %v", err)
	}
	if ca2.Root.Equal(ca.Root) {
		t.Fatal("init --force kept the old root")
	}
}

// ekuCritical reports whether the certificate's EKU extension is critical.
func ekuCritical(c *x509.Certificate) (present, critical bool) {
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			return true, e.Critical
		}
	}
	return false, false
}

func hasExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(c.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oid) })
}

// The expected usages are written out here independently of the profile
// table, so a wrong edit of the table fails this test.
var profileExpectations = []struct {
	req         IssueRequest
	ku          x509.KeyUsage
	eku         []x509.ExtKeyUsage
	ekuCritical bool
	purposes    []string // openssl verify -purpose values that must pass
}{
	{IssueRequest{Profile: ProfileAuth, DNSNames: []string{"ss.din.gov.az"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, Member: "AZ/GOV/DIN"},
		x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, false, []string{"sslserver", "sslclient"}},
	{IssueRequest{Profile: ProfileSign, Member: "AZ/GOV/DIN"},
		x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, nil, false, []string{"any"}},
	{IssueRequest{Profile: ProfileTSA, CommonName: "TSA 2"},
		x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}, true, []string{"timestampsign"}},
	{IssueRequest{Profile: ProfileOCSP, CommonName: "OCSP 2"},
		x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}, false, []string{"ocsphelper"}},
	{IssueRequest{Profile: ProfileAdmin, CommonName: "Operator Əli Məmmədov"},
		x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false, []string{"sslclient"}},
	{IssueRequest{Profile: ProfileConfigSigning, CommonName: "Registry signing 2"},
		x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment, nil, false, []string{"any"}},
}

func TestProfilesKeyUsageAndOpensslVerify(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	for _, kt := range []KeyType{KeyECDSAP256, KeyRSA2048} {
		ca := newTestCA(t, kt)
		for _, tc := range profileExpectations {
			t.Run(string(kt)+"/"+tc.req.Profile, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), tc.req.Profile)
				cert, _, err := ca.IssueToFiles(tc.req, out+".pem", out+".key", false)
				if err != nil {
					t.Fatalf("issue: %v", err)
				}
				if cert.KeyUsage != tc.ku {
					t.Errorf("key usage = %b, want %b", cert.KeyUsage, tc.ku)
				}
				if !slices.Equal(cert.ExtKeyUsage, tc.eku) {
					t.Errorf("extended key usage = %v, want %v", cert.ExtKeyUsage, tc.eku)
				}
				present, critical := ekuCritical(cert)
				if present != (len(tc.eku) > 0) || critical != tc.ekuCritical {
					t.Errorf("EKU extension present=%v critical=%v, want present=%v critical=%v", present, critical, len(tc.eku) > 0, tc.ekuCritical)
				}
				if cert.IsCA {
					t.Error("end-entity certificate is a CA")
				}
				if got := hasExtension(cert, oidOCSPNoCheck); got != (tc.req.Profile == ProfileOCSP) {
					t.Errorf("ocsp-nocheck present = %v", got)
				}
				if _, err := os.Stat(out + ".key"); err != nil {
					t.Fatal(err)
				}
				// The certificate file carries the chain below the root, for TLS peers.
				if chain, err := ReadCertificates(out + ".pem"); err != nil || len(chain) != 2 || !chain[0].Equal(cert) || !chain[1].Equal(ca.Cert) {
					t.Errorf("%s.pem should hold the certificate then the issuing CA", out)
				}
				for _, purpose := range tc.purposes {
					cmd := exec.Command(openssl, "verify", "-CAfile", filepath.Join(ca.Dir, FileRootCert),
						"-untrusted", filepath.Join(ca.Dir, FileCACert), "-purpose", purpose, out+".pem")
					b, err := cmd.CombinedOutput()
					if err != nil || !strings.Contains(string(b), ": OK") {
						t.Errorf("openssl verify -purpose %s: %v\n%s", purpose, err, b)
					}
				}
			})
		}
	}
}

func TestOpensslRejectsForeignChain(t *testing.T) {
	openssl := testtool.Require(t, "openssl")
	ca, other := newTestCA(t, KeyECDSAP256), newTestCA(t, KeyECDSAP256)
	out := filepath.Join(t.TempDir(), "sign")
	if _, _, err := ca.IssueToFiles(IssueRequest{Profile: ProfileSign, Member: "AZ/GOV/EMDK"}, out+".pem", out+".key", false); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(other.Dir, FileRootCert),
		"-untrusted", filepath.Join(other.Dir, FileCACert), out+".pem").CombinedOutput()
	if err == nil {
		t.Fatalf("openssl verify accepted a certificate against another federation's CA:\n%s", b)
	}
}

func TestIssueValidation(t *testing.T) {
	ca := newTestCA(t, KeyECDSAP256)
	key, _ := GenerateKey(KeyECDSAP256)
	pub := key.Public()
	cases := []struct {
		name string
		req  IssueRequest
		want string
	}{
		{"unknown profile", IssueRequest{Profile: "server", PublicKey: pub}, "unknown certificate profile"},
		{"CA profile", IssueRequest{Profile: ProfileRootCA, PublicKey: pub}, "only init creates"},
		{"sign without member", IssueRequest{Profile: ProfileSign, PublicKey: pub}, "--member"},
		{"sign with subsystem", IssueRequest{Profile: ProfileSign, Member: "AZ/GOV/DIN/population", PublicKey: pub}, "INSTANCE/CLASS/CODE"},
		{"bad member characters", IssueRequest{Profile: ProfileSign, Member: "AZ/GOV/DİN", PublicKey: pub}, "allow only"},
		{"sign with other CN", IssueRequest{Profile: ProfileSign, Member: "AZ/GOV/DIN", CommonName: "EMDK", PublicKey: pub}, "must be the member code"},
		{"auth without address", IssueRequest{Profile: ProfileAuth, CommonName: "ss1", PublicKey: pub}, "DNS name or IP"},
		{"bad DNS name", IssueRequest{Profile: ProfileAuth, DNSNames: []string{"a b"}, PublicKey: pub}, "not a host name"},
		{"no key", IssueRequest{Profile: ProfileAdmin, CommonName: "op"}, "no public key"},
		{"validity too long", IssueRequest{Profile: ProfileAdmin, CommonName: "op", PublicKey: pub, Validity: 10 * year}, "outside"},
	}
	before, _ := ca.Store.List()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ca.Issue(tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	after, _ := ca.Store.List()
	if len(after) != len(before) {
		t.Fatalf("refused requests changed the store: %d records, had %d", len(after), len(before))
	}
}

func TestSignSubjectRoundTrip(t *testing.T) {
	ca := newTestCA(t, KeyECDSAP256)
	key, _ := GenerateKey(KeyECDSAP256)
	cert, err := ca.Issue(IssueRequest{Profile: ProfileSign, Member: "AZ/GOV/DSMF", PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := MemberFromSubject(cert.Subject)
	if err != nil || got != "AZ/GOV/DSMF" {
		t.Fatalf("MemberFromSubject = %q, %v", got, err)
	}
	if _, err := MemberFromSubject(ca.Root.Subject); err == nil {
		t.Fatal("the root CA's subject was read as a member")
	}
	// The validity never exceeds the issuer's.
	if cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Fatal("certificate outlives its issuer")
	}
}

func TestRevokeAndStatus(t *testing.T) {
	ca := newTestCA(t, KeyECDSAP256)
	key, _ := GenerateKey(KeyECDSAP256)
	cert, err := ca.Issue(IssueRequest{Profile: ProfileSign, Member: "AZ/GOV/DIN", PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Revoke(big.NewInt(12345), 1); !errors.Is(err, ErrNotIssued) {
		t.Fatalf("revoke unknown serial: %v, want ErrNotIssued", err)
	}
	if _, err := ca.Revoke(cert.SerialNumber, 7); err == nil {
		t.Fatal("reason 7 (unused in RFC 5280) accepted")
	}
	rec, err := ca.Revoke(cert.SerialNumber, RevocationReasons["keyCompromise"])
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Revoked || rec.Reason != 1 || time.Since(rec.RevokedAt) > time.Minute {
		t.Fatalf("record after revoke: %+v", rec)
	}
	got, err := ca.Store.Get(cert.SerialNumber)
	if err != nil || !got.Revoked {
		t.Fatalf("store after revoke: %+v, %v", got, err)
	}
	if _, err := ca.Revoke(cert.SerialNumber, 0); !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("second revoke: %v, want ErrAlreadyRevoked", err)
	}
	// A reopened CA sees the same status (durable, not in memory).
	ca2, err := Open(ca.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := ca2.Store.Get(cert.SerialNumber); err != nil || !rec.Revoked {
		t.Fatalf("reopened store: %+v, %v", rec, err)
	}
}

func TestConcurrentIssueDistinctSerials(t *testing.T) {
	ca := newTestCA(t, KeyECDSAP256)
	ca2, err := Open(ca.Dir) // a second opener contends for the same file, as a second process would
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey(KeyECDSAP256)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ca
			if i%2 == 1 {
				c = ca2
			}
			cert, err := c.Issue(IssueRequest{Profile: ProfileAdmin, CommonName: "op", PublicKey: key.Public()})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seen[cert.SerialNumber.String()] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	recs, err := ca.Store.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 20 || len(recs) != 20+4 { // 20 + issuing CA, config-signing, OCSP, TSA
		t.Fatalf("distinct serials %d, records %d", len(seen), len(recs))
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "pkiutil init") {
		t.Fatalf("Open of empty dir: %v", err)
	}
	ca := newTestCA(t, KeyECDSAP256)
	other := newTestCA(t, KeyECDSAP256)
	// A key that belongs to another CA is caught.
	data, _ := os.ReadFile(filepath.Join(other.Dir, FileCAKey))
	os.WriteFile(filepath.Join(ca.Dir, FileCAKey), data, 0o600)
	if _, err := Open(ca.Dir); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("Open with swapped key: %v", err)
	}
}

func TestParseSerialAndReasons(t *testing.T) {
	for in, want := range map[string]string{"0x1F": "1F", "1f": "1F", "01:AB": "1AB"} {
		n, err := ParseSerial(in)
		if err != nil || SerialHex(n) != want {
			t.Errorf("ParseSerial(%q) = %v, %v", in, n, err)
		}
	}
	for _, bad := range []string{"", "xyz", "0", "-5"} {
		if _, err := ParseSerial(bad); err == nil {
			t.Errorf("ParseSerial(%q) accepted", bad)
		}
	}
	if c, err := ParseReason("KEYCOMPROMISE"); err != nil || c != 1 {
		t.Errorf("ParseReason = %d, %v", c, err)
	}
	if _, err := ParseReason("lost"); err == nil || !strings.Contains(err.Error(), "keyCompromise") {
		t.Errorf("ParseReason(lost) = %v", err)
	}
}
