package globalconf_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
)

// The registry builds and signs a configuration; a security server verifies
// it against its anchor and looks peers up.
func Example() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Şlüz AZ Global Configuration Signing"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)

	din, _ := identifier.ParseMember("AZ/GOV/DIN")
	created := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	conf := &globalconf.Conf{
		Instance: "AZ", Version: 1, Created: created, Expires: created.Add(24 * time.Hour),
		Members: []globalconf.Member{{ID: din, Name: "Daxili İşlər Nazirliyi", Subsystems: []string{"population"}}},
		Servers: []globalconf.SecurityServer{{
			ID: identifier.ServerID{Owner: din, ServerCode: "ss1"}, Address: "127.0.0.1",
			AuthCertHashes: [][]byte{bytes.Repeat([]byte{7}, 32)}, Clients: []identifier.Client{din.Subsystem("population")},
		}},
		Trust: globalconf.Trust{OCSPFreshness: 10 * time.Minute},
	}
	signed, err := globalconf.Build(conf, key, cert)
	if err != nil {
		panic(err)
	}

	anchor := &globalconf.Anchor{Instance: "AZ", URL: "http://registry.example.az/globalconf", Cert: cert}
	verified, err := globalconf.Verify(signed, anchor, created.Add(time.Hour))
	if err != nil {
		panic(err)
	}
	snap := globalconf.NewSnapshot(verified)
	name, _ := snap.MemberName(din.Subsystem("population"))
	fmt.Println("version", verified.Version, "of", verified.Instance+":", name)
	for _, s := range snap.ServersFor(din.Subsystem("population")) {
		fmt.Println(s.ID, "at", s.HostPort())
	}

	tampered := bytes.Replace(signed, []byte("127.0.0.1"), []byte("127.0.0.2"), 1)
	_, err = globalconf.Verify(tampered, anchor, created.Add(time.Hour))
	fmt.Println(errors.Is(err, globalconf.ErrSignature), err)
	// Output:
	// version 1 of AZ: Daxili İşlər Nazirliyi
	// AZ/GOV/DIN/ss1 at 127.0.0.1:5500
	// true global configuration signature does not verify: the document's digest differs from the signed one (the content was changed)
}
