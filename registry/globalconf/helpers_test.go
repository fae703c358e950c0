package globalconf

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/identifier"
)

// testPKI is a throwaway federation PKI.
type testPKI struct {
	dir     string
	ca      *pkiutil.CA
	cert    *x509.Certificate // configuration signing
	key     crypto.Signer
	ocsp    *x509.Certificate
	tsa     *x509.Certificate
	keyType pkiutil.KeyType
}

func newPKI(t testing.TB, kt pkiutil.KeyType) *testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: dir, KeyType: kt})
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: dir, ca: ca, keyType: kt}
	if p.cert, err = pkiutil.ReadCertificate(filepath.Join(dir, pkiutil.FileConfigSigningCert)); err != nil {
		t.Fatal(err)
	}
	if p.key, err = pkiutil.ReadPrivateKey(filepath.Join(dir, pkiutil.FileConfigSigningKey)); err != nil {
		t.Fatal(err)
	}
	if p.ocsp, err = pkiutil.ReadCertificate(filepath.Join(dir, pkiutil.FileOCSPCert)); err != nil {
		t.Fatal(err)
	}
	if p.tsa, err = pkiutil.ReadCertificate(filepath.Join(dir, pkiutil.FileTSACert)); err != nil {
		t.Fatal(err)
	}
	return p
}

// otherSigner issues a second config-signing certificate from the same CA.
func (p *testPKI) otherSigner(t testing.TB) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	cert, key, err := p.ca.IssueToFiles(pkiutil.IssueRequest{Profile: pkiutil.ProfileConfigSigning, CommonName: "Rogue Configuration Signing"},
		filepath.Join(p.dir, "other.pem"), filepath.Join(p.dir, "other.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (p *testPKI) anchor(url string) *Anchor {
	return &Anchor{Instance: "AZ", URL: url, Cert: p.cert}
}

func mustClient(t testing.TB, s string) identifier.Client {
	t.Helper()
	c, err := identifier.ParseClient(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustService(t testing.TB, s string) identifier.ServiceID {
	t.Helper()
	id, err := identifier.ParseService(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustServer(t testing.TB, s string) identifier.ServerID {
	t.Helper()
	id, err := identifier.ParseServer(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func authHash(name string) []byte {
	h := sha256.Sum256([]byte("auth certificate of " + name))
	return h[:]
}

var (
	testCreated = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	testNow     = testCreated.Add(time.Hour)
)

// sampleConf is the federation of DESIGN.md: DİN, ƏMDK and DSMF.
func sampleConf(t testing.TB, p *testPKI, version uint64) *Conf {
	t.Helper()
	return &Conf{
		Instance: "AZ",
		Version:  version,
		Created:  testCreated,
		Expires:  testCreated.Add(24 * time.Hour),
		Members: []Member{
			{ID: mustClient(t, "AZ/GOV/DSMF"), Name: "Dövlət Sosial Müdafiə Fondu", Subsystems: []string{"insurance"}},
			{ID: mustClient(t, "AZ/GOV/DIN"), Name: "Daxili İşlər Nazirliyi", Subsystems: []string{"population"}},
			{ID: mustClient(t, "AZ/GOV/EMDK"), Name: "Əmlak Məsələləri Dövlət Komitəsi", Subsystems: []string{"realestate"}},
		},
		Servers: []SecurityServer{
			{ID: mustServer(t, "AZ/GOV/DIN/ss1"), Address: "127.0.0.1:5500", AuthCertHashes: [][]byte{authHash("din")},
				Clients: []identifier.Client{mustClient(t, "AZ/GOV/DIN/population")}},
			{ID: mustServer(t, "AZ/GOV/EMDK/ss1"), Address: "127.0.0.1:5501", AuthCertHashes: [][]byte{authHash("emdk")},
				Clients: []identifier.Client{mustClient(t, "AZ/GOV/EMDK/realestate")}},
			{ID: mustServer(t, "AZ/GOV/DSMF/ss1"), Address: "127.0.0.1:5502", AuthCertHashes: [][]byte{authHash("dsmf")},
				Clients: []identifier.Client{mustClient(t, "AZ/GOV/DSMF/insurance")}},
		},
		Services: []Service{
			{ID: mustService(t, "AZ/GOV/DIN/population/getPersonByFin/v1"), Description: "Şəxsin FİN kodu üzrə məlumatları"},
			{ID: mustService(t, "AZ/GOV/DIN/population/getPassport/v1"), Description: "Pasport məlumatları"},
			{ID: mustService(t, "AZ/GOV/EMDK/realestate/getOwnershipByFin/v1"), Description: "Daşınmaz əmlak üzrə mülkiyyət"},
			{ID: mustService(t, "AZ/GOV/DSMF/insurance/getInsuredPerson/v1"), Description: "Sığortaolunan şəxs"},
		},
		Groups: []Group{
			{ID: identifier.GlobalGroupID{Instance: "AZ", GroupCode: "state-agencies"}, Description: "Dövlət qurumları",
				Members: []identifier.Client{mustClient(t, "AZ/GOV/EMDK/realestate"), mustClient(t, "AZ/GOV/DSMF/insurance")}},
		},
		Trust: Trust{
			ApprovedCAs: []ApprovedCA{{
				Name: "Şlüz AZ CA", Cert: p.ca.Root, Issuers: []*x509.Certificate{p.ca.Cert},
				OCSPURLs: []string{"http://127.0.0.1:8888/ocsp"},
			}},
			TSAs:          []TSA{{Name: "Şlüz AZ TSA", URL: "http://127.0.0.1:8889/tsa", Cert: p.tsa}},
			OCSPFreshness: 10 * time.Minute,
		},
	}
}

func build(t testing.TB, p *testPKI, c *Conf) []byte {
	t.Helper()
	data, err := Build(c, p.key, p.cert)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// xmlsec1 returns the path of xmlsec1, skipping the test without it (failing
// it when CI is set).
func xmlsec1(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("xmlsec1")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("xmlsec1 is required in CI: install the xmlsec1 package")
		}
		t.Skip("xmlsec1 not installed")
	}
	return path
}
