package signature

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"

	"github.com/sluz/sluz/internal/xmldsig"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Verify checks the signature document sigXML against the one part it
// signs (normally msg.URI "/message.xml" and the message bytes exactly as
// received). It is VerifyParts with one part.
func Verify(sigXML []byte, msg Part) (*Verified, error) {
	return VerifyParts(sigXML, []Part{msg})
}

// VerifyParts checks the signature document sigXML against the parts it
// signs, matched to its references by URI: every reference must name a
// given part and every part must be referenced. It returns what the
// signature carries for the caller to judge (see Verified).
//
// In this order it checks that the document is an X-Road signature document
// (asic:XAdESSignatures with exactly one ds:Signature — or a lone
// ds:Signature, as X-Road's verifier also accepts — strictly structured,
// elements matched by namespace, no duplicate Id, no DTD, comments or
// processing instructions, known algorithms only; else ErrMalformed), that
// each part's digest matches (else ErrDigest), that the canonical signed
// properties match their digest (else ErrDigest), that the signed
// SigningCertificate names the KeyInfo certificate by digest and serial
// number (else ErrCertificate), that the certificate has the
// nonRepudiation key usage (else ErrCertificate) and that the signature
// value verifies with its key — for ECDSA exactly two curve-size halves
// r||s (else ErrSignatureValue).
//
// It does not check the certificate chain, the OCSP responses, or who the
// signer is: the security server does that with the global configuration.
// Mistakes in the arguments themselves (no parts, a URI given twice) wrap
// none of the sentinel errors.
func VerifyParts(sigXML []byte, parts []Part) (*Verified, error) {
	return verifyParts(sigXML, parts, read)
}

// verifyParts is VerifyParts with the reader given (tests compare read
// with readStrict).
func verifyParts(sigXML []byte, parts []Part, read func([]byte) (*parsed, error)) (*Verified, error) {
	if len(parts) == 0 {
		return nil, errors.New("signature: no parts were given to verify the signature against")
	}
	for i := range parts {
		for j := range i {
			if parts[i].URI == parts[j].URI {
				return nil, fmt.Errorf("signature: part %s was given twice", parts[i].URI)
			}
		}
	}
	p, err := read(sigXML)
	if err != nil {
		return nil, sentinel(err)
	}
	v, err := p.verify(parts)
	if err != nil {
		return nil, sentinel(err)
	}
	return v, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// sentinel gives an error of internal/xmldsig this package's sentinel for
// its kind; the detail is kept.
func sentinel(err error) error {
	var kind error
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrDigest), errors.Is(err, ErrSignatureValue), errors.Is(err, ErrCertificate):
		return err
	case errors.Is(err, xmldsig.ErrDigest):
		kind = ErrDigest
	case errors.Is(err, xmldsig.ErrSignatureValue):
		kind = ErrSignatureValue
	default:
		kind = ErrMalformed
	}
	return fmt.Errorf("%w: %w", kind, err)
}

// verify checks the parsed signature against the parts.
func (p *parsed) verify(parts []Part) (*Verified, error) {
	if err := p.checkCertificateRefs(); err != nil {
		return nil, err
	}
	for _, ref := range p.data {
		found := false
		for _, part := range parts {
			if part.URI == ref.URI {
				found = true
				break
			}
		}
		if !found {
			if ref.URI == hashChainResultURI {
				return nil, malformed("this signature is over %s (a hash chain): verify it with VerifyChained", ref.URI)
			}
			return nil, malformed("the signature references %s, which was not given to verify", ref.URI)
		}
	}
	for _, part := range parts {
		var ref *xmldsig.Reference
		for _, r := range p.data {
			if r.URI == part.URI {
				ref = r
			}
		}
		if ref == nil {
			return nil, malformed("part %s is not signed by this signature", part.URI)
		}
		if part.Data == nil && part.Digest != nil {
			if ref.Digest.Hash != crypto.SHA512 || !bytes.Equal(ref.Digest.Value, part.Digest) {
				return nil, fmt.Errorf("%w: %s does not match its signed digest: it was changed after signing", ErrDigest, part.URI)
			}
			continue
		}
		if part.Data != nil && part.DataDigest != nil && ref.Digest.Hash == crypto.SHA512 {
			if !bytes.Equal(ref.Digest.Value, part.DataDigest) {
				return nil, fmt.Errorf("%w: %s does not match its signed digest: it was changed after signing", ErrDigest, part.URI)
			}
			continue
		}
		if err := ref.CheckBytes(part.Data); err != nil {
			return nil, err
		}
	}

	var buf []byte
	if p.canonSignedProperties != nil {
		if !p.properties.Digest.Matches(p.canonSignedProperties) {
			return nil, fmt.Errorf("%w: the digest of <xades:SignedProperties> (%s) differs from the signed one (it was changed after signing)", ErrDigest, p.properties.URI)
		}
	} else {
		var err error
		if buf, err = p.sig.CheckElement(make([]byte, 0, 4096), p.properties, p.signedProperties); err != nil {
			return nil, err
		}
	}

	if !p.certCached.matches(p.certDigest) {
		return nil, fmt.Errorf("%w: the KeyInfo certificate %s is not the one the signed SigningCertificate names", ErrCertificate, p.cert.Subject)
	}
	if p.certSerial != nil && p.certSerial.Cmp(p.cert.SerialNumber) != 0 {
		return nil, fmt.Errorf("%w: the signed IssuerSerial names serial %s, the certificate has %s", ErrCertificate, p.certSerial, p.cert.SerialNumber)
	}
	if p.issuerSerialV2 != nil {
		if err := checkIssuerSerialV2(p.issuerSerialV2, p.cert); err != nil {
			return nil, err
		}
	}
	if p.cert.KeyUsage&x509.KeyUsageContentCommitment == 0 {
		return nil, fmt.Errorf("%w: certificate %s has no nonRepudiation key usage, so it is not a signing certificate", ErrCertificate, p.cert.Subject)
	}

	if p.canonSignedInfo != nil {
		if err := xmldsig.VerifyValue(p.sig.Method, p.cert.PublicKey, p.canonSignedInfo, p.sig.Value); err != nil {
			return nil, err
		}
	} else if _, err := p.sig.CheckValue(buf, p.cert.PublicKey); err != nil {
		return nil, err
	}
	return &Verified{Cert: p.cert, SigningTime: p.signingTime, OCSP: p.ocsp, Extra: p.extra}, nil
}

// checkCertificateRefs checks that each CompleteCertificateRefs entry
// names an embedded certificate (by Id, within CertificateValues) with
// the right digest, as X-Road's verifier does.
func (p *parsed) checkCertificateRefs() error {
	for _, r := range p.certRefs {
		found := false
		for i, id := range p.extraIDs {
			if id != "" && "#"+id == r.uri {
				if !p.extraCached[i].matches(r.digest) {
					return malformed("the digest of the embedded certificate %s does not match its reference", r.uri)
				}
				found = true
				break
			}
		}
		if !found {
			return malformed("CompleteCertificateRefs names %q, which CertificateValues does not hold", r.uri)
		}
	}
	return nil
}

// checkIssuerSerialV2 checks the DER IssuerSerial of SigningCertificateV2
// (RFC 5035): one directoryName equal to the certificate's issuer, and its
// serial number.
func checkIssuerSerialV2(der []byte, c *x509.Certificate) error {
	in := cryptobyte.String(der)
	var seq, names, name, dn cryptobyte.String
	serial := new(big.Int)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&names, cbasn1.SEQUENCE) || !seq.ReadASN1Integer(serial) ||
		!names.ReadASN1(&name, cbasn1.Tag(4).ContextSpecific().Constructed()) || !names.Empty() ||
		!name.ReadASN1Element(&dn, cbasn1.SEQUENCE) || !name.Empty() {
		return malformed("IssuerSerialV2 is not a DER IssuerSerial with one directory name")
	}
	if !bytes.Equal(dn, c.RawIssuer) || serial.Cmp(c.SerialNumber) != 0 {
		return fmt.Errorf("%w: the signed IssuerSerialV2 does not name certificate %s", ErrCertificate, c.Subject)
	}
	return nil
}
