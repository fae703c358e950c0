package signature

import (
	"errors"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
)

// FuzzVerify: Verify never panics, every failure is one of the four
// sentinel errors, and the strict reader alone (no fastRead) gives the
// same answer. Seeds: a Şlüz signature and X-Road's samples, each with
// its message.
func FuzzVerify(f *testing.F) {
	p := getPKI(f, pkiutil.KeyECDSAP256)
	msg := soapMessage(400)
	f.Add(signTestMessage(f, p.signer, msg, time.Now()), msg)
	f.Add(readFixture(f, "sign-0/sign-0.xml"), readFixture(f, "sign-0/message-0.xml"))
	f.Add(readFixture(f, "non-batch-sig/signatures.xml"), readFixture(f, "non-batch-sig/message.xml"))
	f.Add(readFixture(f, "sign-0/batch-sig.xml"), readFixture(f, "sign-0/message-0.xml"))
	attachment := readFixture(f, "non-batch-sig/attachment1")
	f.Fuzz(func(t *testing.T, sig, msg []byte) {
		for _, parts := range [][]Part{
			{{URI: MessageURI, Data: msg}},
			{{URI: MessageURI, Data: msg}, {URI: "/attachment1", Data: attachment}},
		} {
			v, err := VerifyParts(sig, parts)
			if _, strictErr := verifyParts(sig, parts, readStrict); sentinelOf(err) != sentinelOf(strictErr) {
				t.Fatalf("Verify: %v; with the strict reader alone: %v", err, strictErr)
			}
			if err == nil {
				if v.Cert == nil || len(v.OCSP) == 0 {
					t.Fatalf("verified without a certificate or OCSP response: %+v", v)
				}
				continue
			}
			n := 0
			for _, s := range []error{ErrMalformed, ErrDigest, ErrSignatureValue, ErrCertificate} {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error wraps %d sentinels: %v", n, err)
			}
		}
	})
}
