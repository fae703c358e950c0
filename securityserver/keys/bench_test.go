//go:build !nopkcs11

package keys

import (
	"crypto"
	"crypto/rand"
	"crypto/sha512"
	"path/filepath"
	"testing"

	"github.com/sluz/sluz/pkiutil"
)

// The cost of one ECDSA P-256 signature over a SHA-512 digest (what an
// X-Road signature asks of the key), from SoftHSM through crypto11 and
// from a PEM file in process.

func BenchmarkSignPKCS11(b *testing.B) {
	h := newHSM(b)
	cert := h.certify(b, h.generateECDSA(b, testKeyLabel, []byte{1}))
	key, _ := mustOpen(b, h.spec(testKeyLabel), cert)
	benchSign(b, key)
}

func BenchmarkSignFile(b *testing.B) {
	dir := b.TempDir()
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "pki")})
	if err != nil {
		b.Fatal(err)
	}
	keyPath := filepath.Join(dir, "sign.key")
	cert, _, err := ca.IssueToFiles(pkiutil.IssueRequest{Profile: "sign", Member: testMember}, filepath.Join(dir, "sign.pem"), keyPath, false)
	if err != nil {
		b.Fatal(err)
	}
	key, _ := mustOpen(b, Spec{File: keyPath}, cert)
	benchSign(b, key)
}

func benchSign(b *testing.B, key crypto.Signer) {
	d := sha512.Sum512([]byte("<message/>"))
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := key.Sign(rand.Reader, d[:], crypto.SHA512); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := key.Sign(rand.Reader, d[:], crypto.SHA512); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
