package pkiutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/sluz/sluz/internal/durable"
)

// KeyType names a key algorithm a federation certificate can use.
type KeyType string

const (
	// KeyECDSAP256 is the default: small keys, fast signatures (DESIGN.md, "Library notes").
	KeyECDSAP256 KeyType = "ecdsa-p256"
	// KeyRSA2048 is offered for peers and HSMs that only do RSA.
	KeyRSA2048 KeyType = "rsa2048"
)

// ParseKeyType accepts the names used on the command line.
func ParseKeyType(s string) (KeyType, error) {
	switch KeyType(s) {
	case KeyECDSAP256, "":
		return KeyECDSAP256, nil
	case KeyRSA2048:
		return KeyRSA2048, nil
	}
	return "", fmt.Errorf("unknown key type %q: use %q or %q", s, KeyECDSAP256, KeyRSA2048)
}

// GenerateKey creates a new private key of type t.
func GenerateKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case KeyECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyRSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unknown key type %q", t)
}

// KeyTypeOf reports the KeyType of a public key, or an error for keys the
// federation does not use.
func KeyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return KeyECDSAP256, nil
		}
		return "", fmt.Errorf("ECDSA curve %s is not accepted: use P-256", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("RSA key of %d bits is too short: use at least 2048", k.N.BitLen())
		}
		return KeyRSA2048, nil
	}
	return "", fmt.Errorf("public key type %T is not accepted: use ECDSA P-256 or RSA", pub)
}

// MarshalPrivateKey encodes key as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WritePrivateKey writes key to path as PKCS#8 PEM with mode 0600. It refuses
// to replace an existing file unless overwrite is set.
func WritePrivateKey(path string, key crypto.Signer, overwrite bool) error {
	data, err := MarshalPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode private key for %s: %w", path, err)
	}
	return durable.WriteFile(path, data, 0o600, overwrite)
}

// WriteCertificates writes certs to path as concatenated PEM blocks (mode 0644).
func WriteCertificates(path string, overwrite bool, certs ...*x509.Certificate) error {
	return durable.WriteFile(path, EncodeCertificates(certs...), 0o644, overwrite)
}

// EncodeCertificates returns certs as concatenated "CERTIFICATE" PEM blocks.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// ReadPrivateKey reads a PEM private key (PKCS#8, or the older PKCS#1 RSA and
// SEC 1 EC forms) that can sign.
func ReadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	key, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("read private key %s: %w", path, err)
	}
	return key, nil
}

// ParsePrivateKey decodes the first PEM private key block in data.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no PEM private key block found")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported: decrypt it with openssl pkcs8 first")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key of type %T cannot sign", key)
		}
		return signer, nil
	}
}

// ReadCertificates reads every CERTIFICATE PEM block of a file, in order.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("read certificate %s: %w", path, err)
	}
	return certs, nil
}

// ReadCertificate reads the first certificate of a PEM file.
func ReadCertificate(path string) (*x509.Certificate, error) {
	certs, err := ReadCertificates(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// ParseCertificates decodes PEM CERTIFICATE blocks; it accepts a single DER
// certificate too. It fails if there is none.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		if c, err := x509.ParseCertificate(data); err == nil {
			return []*x509.Certificate{c}, nil
		}
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// KeyMatches reports whether key is the private half of cert's public key.
func KeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	return ok && pub.Equal(cert.PublicKey)
}
