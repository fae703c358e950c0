package signature_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/securityserver/signature"
)

// A member signs a message with its signing certificate and that
// certificate's OCSP response; the receiver verifies the signature over the
// exact bytes it received and gets back what it must still judge: the
// certificate (whose subject names the member), the signing time and the
// OCSP response. One changed byte is a digest mismatch.
func ExampleVerify() {
	dir, err := os.MkdirTemp("", "signature-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A throwaway federation, DİN's signing certificate, and its OCSP
	// response from the federation's responder.
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	cert, key, err := ca.IssueToFiles(pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: "AZ/GOV/DIN"},
		filepath.Join(dir, "sign.pem"), filepath.Join(dir, "sign.key"), false)
	if err != nil {
		log.Fatal(err)
	}
	services, err := pkiutil.NewServices(ca, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer services.Close()
	reqDER, err := ocsp.CreateRequest(cert, ca.Cert, crypto.SHA256, nil)
	if err != nil {
		log.Fatal(err)
	}
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		log.Fatal(err)
	}
	signer := &signature.Signer{Key: key, Cert: cert, OCSP: services.OCSP.Respond(context.Background(), req)}

	msg := []byte(`<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>…</SOAP-ENV:Body></SOAP-ENV:Envelope>`)
	signedAt := time.Date(2026, 3, 1, 13, 15, 11, 580_000_000, time.FixedZone("AZT", 4*3600))
	sigXML, err := signer.Sign(signature.Part{URI: signature.MessageURI, Data: msg, MimeType: "text/xml"}, signedAt)
	if err != nil {
		log.Fatal(err)
	}

	v, err := signature.Verify(sigXML, signature.Part{URI: signature.MessageURI, Data: msg})
	if err != nil {
		log.Fatal(err)
	}
	member, err := pkiutil.MemberFromSubject(v.Cert.Subject)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed by", member, "at", v.SigningTime.Format(time.RFC3339Nano))
	fmt.Println("OCSP responses to check:", len(v.OCSP))

	msg[len(msg)-20] ^= 0x20
	_, err = signature.Verify(sigXML, signature.Part{URI: signature.MessageURI, Data: msg})
	fmt.Println(errors.Is(err, signature.ErrDigest))
	fmt.Println(err)
	// Output:
	// signed by AZ/GOV/DIN at 2026-03-01T09:15:11.58Z
	// OCSP responses to check: 1
	// true
	// signature: digest mismatch: /message.xml does not match its signed digest: it was changed after signing
}
