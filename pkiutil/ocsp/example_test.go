package ocsp_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"
	"math/big"
	"time"

	"github.com/sluz/sluz/pkiutil/ocsp"
)

func ExampleParseRequest() {
	// A throwaway issuing CA and a member certificate with serial 4096.
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Example Issuing CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		log.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4096),
		Subject:      pkix.Name{CommonName: "member.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		log.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)

	der, err := ocsp.CreateRequest(leaf, ca, crypto.SHA256, []byte("0123456789abcdef"))
	if err != nil {
		log.Fatal(err)
	}
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range req.Certs {
		fmt.Println("serial:", id.SerialNumber)
		fmt.Println("hash algorithm:", id.HashAlgorithm)
	}
	fmt.Printf("nonce: %q\n", req.Nonce)
	// Output:
	// serial: 4096
	// hash algorithm: SHA-256
	// nonce: "0123456789abcdef"
}
