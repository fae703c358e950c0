package xmldsig

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// One table per pitfall of DESIGN.md ("Library notes"), each guarded once
// in this package. The signed documents are made with goxmldsig's C14N
// (an independent implementation, on detached copies that carry the
// inherited declarations) and checked with this package's in-place one.

var testRules = Rules{
	C14N:             []string{C14N10, ExcC14N10},
	SignatureMethods: []string{ECDSASHA256, RSASHA256},
	DigestMethods:    []string{SHA256},
	Transforms:       []string{C14N10, ExcC14N10, Enveloped},
	IDs:              true,
	Objects:          true,
}

const (
	zeroDigest = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	zeroValue  = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
	// sigTemplate signs ds:Object Id="obj", which inherits r and u from
	// the root, as XAdES signs its SignedProperties.
	sigTemplate = `<r:root xmlns:r="urn:r" xmlns:ds="` + NS + `" xmlns:u="urn:unused">` +
		`<r:outside Id="out">x</r:outside>` +
		`<ds:Signature Id="sig"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="` + C14N10 + `"></ds:CanonicalizationMethod>` +
		`<ds:SignatureMethod Algorithm="` + ECDSASHA256 + `"></ds:SignatureMethod>` +
		`<ds:Reference URI="#obj"><ds:DigestMethod Algorithm="` + SHA256 + `"></ds:DigestMethod><ds:DigestValue>` + zeroDigest + `</ds:DigestValue></ds:Reference>` +
		`</ds:SignedInfo><ds:SignatureValue>` + zeroValue + `</ds:SignatureValue>` +
		`<ds:KeyInfo><ds:X509Data><ds:X509Certificate>Y2VydA==</ds:X509Certificate></ds:X509Data></ds:KeyInfo>` +
		`<ds:Object Id="obj"><r:data u:k="v">signed text</r:data></ds:Object></ds:Signature></r:root>`
)

// goxmldsigC14N is inclusive C14N 1.0 of el by goxmldsig; detached, el
// keeps the declarations it inherits unless bare is set.
func goxmldsigC14N(t testing.TB, el *etree.Element, bare bool) []byte {
	t.Helper()
	if !bare {
		ctx, err := etreeutils.NSBuildParentContext(el)
		if err != nil {
			t.Fatal(err)
		}
		if el, err = etreeutils.NSDetatch(ctx, el); err != nil {
			t.Fatal(err)
		}
	} else {
		el = el.Copy()
	}
	b, err := dsig.MakeC14N10RecCanonicalizer().Canonicalize(el)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signDoc fills in the digest of ds:Object and the ECDSA value of
// SignedInfo of doc (sigTemplate or a variant); bare canonicalises both
// as detached copies without their inherited namespaces (pitfall 1).
func signDoc(t testing.TB, key *ecdsa.PrivateKey, doc string, bare bool) []byte {
	t.Helper()
	tree := etree.NewDocument()
	if err := tree.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(goxmldsigC14N(t, tree.FindElement("//ds:Object"), bare))
	doc = strings.Replace(doc, zeroDigest, base64.StdEncoding.EncodeToString(d[:]), 1)
	tree = etree.NewDocument()
	if err := tree.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(goxmldsigC14N(t, tree.FindElement("//ds:SignedInfo"), bare))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 64)
	r.FillBytes(v[:32])
	s.FillBytes(v[32:])
	return []byte(strings.Replace(doc, zeroValue, base64.StdEncoding.EncodeToString(v), 1))
}

// check reads data and verifies its signature: the reference resolved in
// the document and digested, then the value.
func check(data []byte, pub any) error {
	doc, err := Read(data, testOptions)
	if err != nil {
		return err
	}
	var el *etree.Element
	for _, c := range doc.Root.ChildElements() {
		if Is(c, NS, "Signature") {
			el = c
		}
	}
	if el == nil {
		return errNoSignature
	}
	s, err := ReadSignature(el, &testRules)
	if err != nil {
		return err
	}
	var buf []byte
	for i := range s.References {
		target, err := s.Resolve(doc, &s.References[i])
		if err != nil {
			return err
		}
		if buf, err = s.CheckElement(buf, &s.References[i], target); err != nil {
			return err
		}
	}
	_, err = s.CheckValue(buf, pub)
	return err
}

func testKey(t *testing.T) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// wantKind checks that err is nil (want nil) or wraps want and only it.
func wantKind(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want success", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	for _, k := range []error{ErrMalformed, ErrDigest, ErrSignatureValue} {
		if k != want && errors.Is(err, k) {
			t.Fatalf("err = %v wraps %v too", err, k)
		}
	}
}

// Pitfall 1: inclusive C14N of SignedInfo (and of a signed element below
// the root) carries every declaration in scope, found in place.
func TestPitfallInheritedNamespaces(t *testing.T) {
	key := testKey(t)
	tests := []struct {
		name string
		doc  []byte
		want error
	}{
		{"signed with the inherited declarations", signDoc(t, key, sigTemplate, false), nil},
		{"signed over detached copies without them", signDoc(t, key, sigTemplate, true), ErrDigest},
		{"an unused root declaration removed after signing", []byte(strings.Replace(string(signDoc(t, key, sigTemplate, false)), ` xmlns:u="urn:unused"`, ``, 1)), ErrMalformed}, // u:k is then unbound
		{"a root declaration added after signing", []byte(strings.Replace(string(signDoc(t, key, sigTemplate, false)), `<r:root `, `<r:root xmlns:z="urn:z" `, 1)), ErrDigest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantKind(t, check(tc.doc, &key.PublicKey), tc.want) })
	}

	doc, err := Read(signDoc(t, key, sigTemplate, false), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	si := doc.Root.FindElement("//ds:SignedInfo")
	got := string(Canonicalize(nil, si, false, nil))
	const want = `<ds:SignedInfo xmlns:ds="` + NS + `" xmlns:r="urn:r" xmlns:u="urn:unused">`
	if !strings.HasPrefix(got, want) {
		t.Errorf("inclusive C14N of SignedInfo starts %.120s, want %s", got, want)
	}
	if got, want := string(Canonicalize(nil, si, true, nil)), `<ds:SignedInfo xmlns:ds="`+NS+`">`; !strings.HasPrefix(got, want) {
		t.Errorf("exclusive C14N of SignedInfo starts %.80s, want %s", got, want)
	}
}

// Pitfall 2: whitespace is signed, in SignedInfo and in what a reference
// covers; outside them it is not.
func TestPitfallWhitespaceIsSigned(t *testing.T) {
	key := testKey(t)
	good := string(signDoc(t, key, sigTemplate, false))
	tests := []struct {
		name, old, new string
		want           error
	}{
		{"untouched", "", "", nil},
		{"line break in SignedInfo", `<ds:SignatureMethod`, "\n<ds:SignatureMethod", ErrSignatureValue},
		{"space in the signed object", `<r:data `, ` <r:data `, ErrDigest},
		{"space in the signed text", `signed text`, `signed  text`, ErrDigest},
		{"line break in KeyInfo (not signed)", `<ds:X509Data>`, "\n<ds:X509Data>", nil},
		{"line breaks in base64 (not signed)", `</ds:SignatureValue>`, "\n</ds:SignatureValue>", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantKind(t, check([]byte(strings.Replace(good, tc.old, tc.new, 1)), &key.PublicKey), tc.want)
		})
	}
}

// Pitfall 3: an ECDSA value is raw r||s of exactly twice the curve size.
func TestPitfallECDSARawValue(t *testing.T) {
	key := testKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	signed := []byte("<ds:SignedInfo/>")
	h := sha256.Sum256(signed)
	der, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for {
		r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
		if err != nil {
			t.Fatal(err)
		}
		raw = make([]byte, 64)
		r.FillBytes(raw[:32])
		s.FillBytes(raw[32:])
		if raw[0] != 0 && raw[32] != 0 {
			break // both halves full, so the trimmed cases below are shorter
		}
	}
	m := Methods[ECDSASHA256]
	tests := []struct {
		name  string
		value []byte
		pub   any
		want  error
	}{
		{"64 bytes", raw, &key.PublicKey, nil},
		{"63 bytes", raw[1:], &key.PublicKey, ErrSignatureValue},
		{"65 bytes", append([]byte{0}, raw...), &key.PublicKey, ErrSignatureValue},
		{"DER", der, &key.PublicKey, ErrSignatureValue},
		{"one bit flipped", append(append([]byte{}, raw[:10]...), append([]byte{raw[10] ^ 1}, raw[11:]...)...), &key.PublicKey, ErrSignatureValue},
		{"an RSA key for an ECDSA method", raw, &rsaKey.PublicKey, ErrSignatureValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyValue(m, tc.pub, signed, tc.value)
			wantKind(t, err, tc.want)
			if tc.want != nil && len(tc.value) != 64 && tc.pub == &key.PublicKey && !strings.Contains(err.Error(), "exactly 64") {
				t.Errorf("error %q does not say 64 bytes are required", err)
			}
		})
	}
}

// Pitfall 4: text a serialiser writes raw (CR, tab, line feed in
// attributes) would come back changed; PlainText documents refuse it, and
// otherwise it is read as XML says and canonicalised escaped.
func TestPitfallCRAndTabInSignedText(t *testing.T) {
	tests := []struct {
		name, doc string
		plainErr  bool   // refused with PlainText
		canonical string // without PlainText
	}{
		{"tab and line feed in text", "<a>x\ty\nz</a>", false, "<a>x\ty\nz</a>"},
		{"CR written as a reference", "<a>x&#13;y</a>", true, "<a>x&#xD;y</a>"},
		{"CR LF in text (normalised by every parser)", "<a>x\r\ny</a>", false, "<a>x\ny</a>"},
		{"literal tab in an attribute", "<a b=\"x\ty\"/>", true, `<a b="x y"></a>`},
		{"tab written as a reference in an attribute", `<a b="x&#9;y"/>`, true, `<a b="x&#x9;y"></a>`},
		{"line feed in an attribute", "<a b=\"x\ny\"/>", true, `<a b="x y"></a>`},
		{"control character as a reference", "<a>&#x7F;</a>", true, "<a>\x7f</a>"},
		{"plain text", `<a b="x y">Daxili İşlər</a>`, false, `<a b="x y">Daxili İşlər</a>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read([]byte(tc.doc), Options{PlainText: true})
			if tc.plainErr {
				wantKind(t, err, ErrMalformed)
			} else if err != nil {
				t.Fatalf("PlainText refuses it: %v", err)
			}
			doc, err := Read([]byte(tc.doc), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := string(Canonicalize(nil, doc.Root, false, nil)); got != tc.canonical {
				t.Errorf("canonical form %q, want %q", got, tc.canonical)
			}
		})
	}
	for _, tc := range []struct {
		s         string
		multiline bool
		ok        bool
	}{
		{"a\tb\nc", true, true}, {"a\tb", false, false}, {"a\nb", false, false},
		{"a\rb", true, false}, {"a\x00b", true, false}, {"\uFFFE", true, false}, {"\xff", true, false},
	} {
		if err := CheckPlainText("t", tc.s, tc.multiline); (err == nil) != tc.ok {
			t.Errorf("CheckPlainText(%q, %v) = %v, want ok=%v", tc.s, tc.multiline, err, tc.ok)
		}
	}
}

// Pitfall 5: elements by namespace URI, not prefix; Id is the unprefixed
// Id only; references resolve within this signature; an Id twice is
// refused.
func TestPitfallNamespacesIdsAndWrapping(t *testing.T) {
	key := testKey(t)
	good := string(signDoc(t, key, sigTemplate, false))
	tests := []struct {
		name string
		doc  string
		want error
	}{
		{"untouched", good, nil},
		{"ds prefix bound to another namespace", strings.Replace(good, `xmlns:ds="`+NS+`"`, `xmlns:ds="urn:not-dsig"`, 1), errNoSignature},
		{"another prefix for the XML-DSig namespace",
			strings.NewReplacer(`xmlns:ds=`, `xmlns:s=`, `<ds:`, `<s:`, `</ds:`, `</s:`).Replace(good), ErrDigest}, // found by URI (the digest is reached); the new prefix is in the signed bytes
		{"SignedInfo in another namespace", strings.Replace(strings.Replace(good, `<ds:SignedInfo>`, `<x:SignedInfo xmlns:x="urn:x">`, 1), `</ds:SignedInfo>`, `</x:SignedInfo>`, 1), ErrMalformed},
		{"reference to an element outside this signature", strings.Replace(good, `URI="#obj"`, `URI="#out"`, 1), ErrMalformed},
		{"reference to no element", strings.Replace(good, `URI="#obj"`, `URI="#nothing"`, 1), ErrMalformed},
		{"x:Id instead of Id", strings.Replace(good, `<ds:Object Id="obj">`, `<ds:Object xmlns:x="urn:x" x:Id="obj">`, 1), ErrMalformed},
		{"ID instead of Id", strings.Replace(good, `<ds:Object Id="obj">`, `<ds:Object ID="obj">`, 1), ErrMalformed},
		{"the Id twice (wrapping)", strings.Replace(good, `<r:outside Id="out">`, `<r:outside Id="obj">`, 1), ErrMalformed},
		{"the Id twice, once as x:Id", strings.Replace(good, `<r:outside Id="out">`, `<r:outside xmlns:x="urn:x" x:Id="obj">`, 1), ErrMalformed},
		{"the Id twice, once as id", strings.Replace(good, `<r:outside Id="out">`, `<r:outside id="obj">`, 1), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := check([]byte(tc.doc), &key.PublicKey)
			if tc.want == errNoSignature {
				if !errors.Is(err, errNoSignature) {
					t.Fatalf("err = %v, want the signature not found", err)
				}
				return
			}
			wantKind(t, err, tc.want)
		})
	}

	doc, err := Read([]byte(`<r xmlns:x="urn:x"><a Id="a"/><b x:Id="b"/><c ID="c"/><d id="d"/></r>`), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	for id, found := range map[string]bool{"a": true, "b": false, "c": false, "d": false} {
		if el, ok := doc.ByID(id); ok != found || (ok && el.Tag != id) {
			t.Errorf("ByID(%q) = %v, %v; want found=%v", id, el, ok, found)
		}
	}
	b := doc.Root.FindElement("b")
	if _, ok := Attr(b, "Id"); ok {
		t.Error("Attr(Id) matched x:Id")
	}
	if err := OnlyAttrs(b, "Id"); err == nil {
		t.Error("OnlyAttrs(Id) allowed x:Id")
	}
	if err := OnlyAttrs(b, "{urn:x}Id"); err != nil {
		t.Errorf("OnlyAttrs({urn:x}Id) refused x:Id: %v", err)
	}
}

var errNoSignature = errors.New("no signature")

// FuzzSignature: reading and checking a signature never panics, and every
// failure wraps exactly one kind.
func FuzzSignature(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signDoc(f, key, sigTemplate, false))
	f.Add(signDoc(f, key, strings.Replace(sigTemplate, `URI="#obj"`, `URI=""`, 1), false))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := check(data, &key.PublicKey)
		if err == nil || errors.Is(err, errNoSignature) {
			return
		}
		n := 0
		for _, k := range []error{ErrMalformed, ErrDigest, ErrSignatureValue} {
			if errors.Is(err, k) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error wraps %d kinds: %v", n, err)
		}
	})
}

// Rules naming an algorithm this package does not know refuse it instead
// of using a zero hash.
func TestUnknownAlgorithmInRules(t *testing.T) {
	good := string(signDoc(t, testKey(t), sigTemplate, false))
	tests := []struct {
		name, old, new string
		rules          Rules
	}{
		{"signature method", `#ecdsa-sha256"`, `#ecdsa-sha256x"`,
			Rules{C14N: []string{C14N10}, SignatureMethods: []string{ECDSASHA256 + "x"}, DigestMethods: []string{SHA256}, IDs: true, Objects: true}},
		{"digest method", `#sha256"`, `#sha256x"`,
			Rules{C14N: []string{C14N10}, SignatureMethods: []string{ECDSASHA256}, DigestMethods: []string{SHA256 + "x"}, IDs: true, Objects: true}},
	}
	for _, tc := range tests {
		doc, err := Read([]byte(strings.ReplaceAll(good, tc.old, tc.new)), testOptions)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ReadSignature(doc.Root.FindElement("ds:Signature"), &tc.rules)
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "knows") {
			t.Errorf("%s: err = %v, want it refused as unknown", tc.name, err)
		}
	}
}
