package signature

import (
	"bytes"
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/pkiutil"
)

// sentinelOf is the sentinel error err wraps (nil for nil; err itself
// when it wraps none).
func sentinelOf(err error) error {
	for _, s := range []error{ErrMalformed, ErrDigest, ErrSignatureValue, ErrCertificate} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

// sameAsStrict checks, for a document fastRead takes, that readStrict
// accepts it too and reads the same signature: the same values and the
// same canonical forms. It reports whether fastRead took it.
func sameAsStrict(t testing.TB, doc []byte) bool {
	t.Helper()
	p, ok := fastRead(doc)
	if !ok {
		return false
	}
	q, err := readStrict(doc)
	if err != nil {
		t.Fatalf("fastRead took a document readStrict refuses (%v):\n%q", err, doc)
	}
	fail := func(what string, got, want any) {
		t.Helper()
		t.Fatalf("%s: fastRead read %v, readStrict %v, from\n%q", what, got, want, doc)
	}
	if q.sig.Exclusive || len(q.properties.Transforms) > 0 {
		fail("canonicalisation", "inclusive C14N", "Exclusive C14N or a transform")
	}
	if si := xmldsig.Canonicalize(nil, q.sig.SignedInfo, false, nil); !bytes.Equal(si, p.canonSignedInfo) {
		fail("canonical SignedInfo", string(p.canonSignedInfo), string(si))
	}
	if sp := xmldsig.Canonicalize(nil, q.signedProperties, false, nil); !bytes.Equal(sp, p.canonSignedProperties) {
		fail("canonical SignedProperties", string(p.canonSignedProperties), string(sp))
	}
	if p.sig.ID != q.sig.ID || p.sig.Method != q.sig.Method || !bytes.Equal(p.sig.Value, q.sig.Value) ||
		!bytes.Equal(p.sig.Certificate, q.sig.Certificate) {
		fail("signature", p.sig, q.sig)
	}
	sameRef := func(a, b *xmldsig.Reference) bool {
		return a.URI == b.URI && a.HasURI == b.HasURI && a.Type == b.Type && a.HasType == b.HasType &&
			slices.Equal(a.Transforms, b.Transforms) && sameDigest(a.Digest, b.Digest)
	}
	if !slices.EqualFunc(p.sig.References, q.sig.References, func(a, b xmldsig.Reference) bool { return sameRef(&a, &b) }) {
		fail("references", p.sig.References, q.sig.References)
	}
	if !slices.EqualFunc(p.data, q.data, sameRef) || !sameRef(p.properties, q.properties) {
		fail("parts", p.data, q.data)
	}
	if !p.cert.Equal(q.cert) || !sameDigest(p.certDigest, q.certDigest) || p.certSerial.Cmp(q.certSerial) != 0 ||
		q.issuerSerialV2 != nil || !p.signingTime.Equal(q.signingTime) {
		fail("signing certificate", p, q)
	}
	if !slices.EqualFunc(p.ocsp, q.ocsp, bytes.Equal) {
		fail("OCSP", p.ocsp, q.ocsp)
	}
	if !slices.EqualFunc(p.extra, q.extra, (*x509.Certificate).Equal) || !slices.Equal(p.extraIDs, q.extraIDs) ||
		!slices.EqualFunc(p.certRefs, q.certRefs, func(a, b certRef) bool { return a.uri == b.uri && sameDigest(a.digest, b.digest) }) {
		fail("certificate values", p.extraIDs, q.extraIDs)
	}
	return true
}

func sameDigest(a, b xmldsig.Digest) bool {
	return a.Method == b.Method && a.Hash == b.Hash && bytes.Equal(a.Value, b.Value)
}

// fastReadSamples are documents Şlüz writes: as the proxies sign (with
// the issuing CA as an intermediate), alone, through a hash chain, and
// with two intermediates and their OCSP responses.
func fastReadSamples(t testing.TB, kt pkiutil.KeyType) map[string][]byte {
	p := getPKI(t, kt)
	msg := soapMessage(300)
	now := time.Now()
	docs := map[string][]byte{"alone": signTestMessage(t, p.signer, msg, now)}
	proxy := *p.signer
	proxy.Extra = []*x509.Certificate{p.ca.Cert}
	docs["as the proxies sign"] = signTestMessage(t, &proxy, msg, now)
	two := proxy
	two.Extra = []*x509.Certificate{p.ca.Cert, p.ca.Root}
	two.ExtraOCSP = [][]byte{p.signer.OCSP, p.signer.OCSP}
	docs["two intermediates"] = signTestMessage(t, &two, msg, now)
	c, err := proxy.SignChained(msg, attachmentsOf([]byte("attachment")), now)
	if err != nil {
		t.Fatal(err)
	}
	docs["hash chain"] = c.Signature
	return docs
}

// TestFastReadTakesSignOutput: every document Sign writes is read by
// fastRead, as readStrict reads it, and verifies.
func TestFastReadTakesSignOutput(t *testing.T) {
	for _, kt := range keyTypes {
		for name, doc := range fastReadSamples(t, kt) {
			if !sameAsStrict(t, doc) {
				t.Errorf("%s %s: fastRead does not take Sign's document", kt, name)
			}
		}
	}
	// A MIME type with markup is escaped: the strict reader reads that.
	p := getPKI(t, pkiutil.KeyECDSAP256)
	msg := soapMessage(300)
	sig, err := p.signer.Sign(Part{URI: MessageURI, Data: msg, MimeType: `text/xml; x="a&b"`}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fastRead(sig); ok {
		t.Error("fastRead took text with an entity reference")
	}
	if _, err := Verify(sig, Part{URI: MessageURI, Data: msg}); err != nil {
		t.Fatal(err)
	}
}

// TestFastReadMutations changes, inserts or deletes one byte at every
// position of Şlüz's documents: whatever fastRead still takes, readStrict
// reads the same, and Verify answers as with readStrict alone.
func TestFastReadMutations(t *testing.T) {
	replacements := []byte{'<', '&', '"', ' ', '\r', '\n', '\t', 'A', 0x80}
	for _, kt := range []pkiutil.KeyType{pkiutil.KeyECDSAP256} {
		for name, doc := range fastReadSamples(t, kt) {
			if name != "as the proxies sign" {
				continue // the same segments
			}
			taken, total := 0, 0
			try := func(d []byte) {
				total++
				if !sameAsStrict(t, d) {
					return
				}
				taken++
				parts := []Part{{URI: MessageURI, Data: soapMessage(300)}}
				_, err := verifyParts(d, parts, read)
				_, strictErr := verifyParts(d, parts, readStrict)
				if sentinelOf(err) != sentinelOf(strictErr) {
					t.Fatalf("%s: Verify: %v; with readStrict alone: %v; document\n%q", name, err, strictErr, d)
				}
			}
			for i := range doc {
				for _, c := range replacements {
					if doc[i] != c {
						d := bytes.Clone(doc)
						d[i] = c
						try(d)
					}
				}
				try(slices.Delete(bytes.Clone(doc), i, i+1))
				try(slices.Insert(bytes.Clone(doc), i, ' '))
			}
			t.Logf("%s %s: fastRead took %d of %d mutations", kt, name, taken, total)
		}
	}
}

// FuzzFastRead: whatever fastRead takes, readStrict reads the same.
// Seeds: Şlüz's documents and X-Road's samples (which fastRead leaves to
// readStrict).
func FuzzFastRead(f *testing.F) {
	for _, doc := range fastReadSamples(f, pkiutil.KeyECDSAP256) {
		f.Add(doc)
	}
	for _, name := range []string{"sign-0/sign-0.xml", "non-batch-sig/signatures.xml", "sign-0/batch-sig.xml"} {
		doc := readFixture(f, name)
		if _, ok := fastRead(doc); ok {
			f.Fatalf("fastRead takes X-Road's %s; it reads only the shape Şlüz writes", name)
		}
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		sameAsStrict(t, doc)
	})
}
