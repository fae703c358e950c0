package tsa_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/sluz/sluz/pkiutil/tsa"
)

// exampleCert issues a certificate for key, signed by parent (self-signed
// if parent is nil).
func exampleCert(name string, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, tsaCert bool) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if tsaCert {
		// RFC 3161: extended key usage timeStamping, marked critical.
		eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	} else {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	return cert
}

func Example() {
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tsaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	root := exampleCert("Example Root", rootKey, nil, nil, false)
	tsaCert := exampleCert("Example TSA", tsaKey, root, rootKey, true)

	dir, err := os.MkdirTemp("", "tsa-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	serials, err := tsa.OpenBoltSerials(filepath.Join(dir, "serials.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer serials.Close()

	authority, err := tsa.NewAuthority(tsa.Authority{
		Signer:   tsaKey,
		Cert:     tsaCert,
		Chain:    []*x509.Certificate{root},
		Policy:   asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1},
		Accuracy: time.Second,
		Serials:  serials,
	})
	if err != nil {
		log.Fatal(err)
	}

	// What an HTTP client would POST.
	digest := sha256.Sum256([]byte("document to time-stamp"))
	query, _ := (&tsa.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Nonce: big.NewInt(42), CertReq: true}).Marshal()

	req, err := tsa.ParseRequest(query)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := authority.Respond(req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status granted:", resp.Status == tsa.StatusGranted)

	token, err := tsa.ParseToken(resp.Token)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	opts := tsa.VerifyOptions{Roots: roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Nonce: big.NewInt(42), MaxAge: time.Minute}
	fmt.Println("imprint matched:", token.Verify(opts) == nil)
	fmt.Println("serial:", token.SerialNumber)

	other := sha256.Sum256([]byte("another document"))
	opts.HashedMessage = other[:]
	err = token.Verify(opts)
	fmt.Println("other document:", errors.Is(err, tsa.ErrImprintMismatch), err)

	// Output:
	// status granted: true
	// imprint matched: true
	// serial: 1
	// other document: true tsa: message imprint mismatch
}
