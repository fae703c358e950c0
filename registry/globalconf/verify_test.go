package globalconf

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/pkiutil"
)

var keyTypes = []pkiutil.KeyType{pkiutil.KeyECDSAP256, pkiutil.KeyRSA2048}

// TestBuildVerifiesWithXMLSec1 checks the signature with an independent
// implementation: libxml2's C14N and xmlsec1's XML-DSig core, trusting the
// federation root and taking the issuing CA as untrusted intermediate.
func TestBuildVerifiesWithXMLSec1(t *testing.T) {
	bin := xmlsec1(t)
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			p := newPKI(t, kt)
			data := build(t, p, sampleConf(t, p, 1))
			dir := t.TempDir()
			write := func(name string, b []byte) string {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return path
			}
			good := write("conf.xml", data)
			root := write("root.pem", pkiutil.EncodeCertificates(p.ca.Root))
			issuing := write("issuing.pem", pkiutil.EncodeCertificates(p.ca.Cert))
			signing := write("signing.pem", pkiutil.EncodeCertificates(p.cert))
			if !bytes.Contains(data, []byte("Daxili İşlər Nazirliyi")) {
				t.Fatal("the Azerbaijani name is not in the document as UTF-8")
			}
			bad := write("tampered.xml", bytes.Replace(data, []byte("Daxili"), []byte("Eaxili"), 1))

			variants := map[string][]string{
				"chain":  {"--verify", "--trusted-pem", root, "--untrusted-pem", issuing},
				"pubkey": {"--verify", "--pubkey-cert-pem", signing, "--enabled-key-data", "x509"},
			}
			for name, args := range variants {
				out, err := exec.Command(bin, append(args, good)...).CombinedOutput()
				if err != nil {
					t.Errorf("%s: xmlsec1 rejects the built document: %v\n%s", name, err, out)
				}
				out, err = exec.Command(bin, append(args, bad)...).CombinedOutput()
				if err == nil {
					t.Errorf("%s: xmlsec1 accepts a document with one byte changed:\n%s", name, out)
				}
			}
		})
	}
}

var sigValueRE = regexp.MustCompile(`<ds:SignatureValue>[^<]*</ds:SignatureValue>`)

func withoutSignatureValue(b []byte) []byte {
	return sigValueRE.ReplaceAll(b, []byte("<ds:SignatureValue/>"))
}

func TestVerify(t *testing.T) {
	for _, kt := range keyTypes {
		t.Run(string(kt), func(t *testing.T) {
			p := newPKI(t, kt)
			conf := sampleConf(t, p, 7)
			data := build(t, p, conf)
			anchor := p.anchor("http://127.0.0.1/globalconf")

			got, err := Verify(data, anchor, testNow)
			if err != nil {
				t.Fatalf("Verify(good) = %v", err)
			}
			if got.Version != 7 || got.Instance != "AZ" || !got.Created.Equal(conf.Created) || !got.Expires.Equal(conf.Expires) {
				t.Errorf("header = %d %s %s %s", got.Version, got.Instance, got.Created, got.Expires)
			}
			names := map[string]string{}
			for _, m := range got.Members {
				names[m.ID.String()] = m.Name
			}
			for _, m := range conf.Members {
				if names[m.ID.String()] != m.Name {
					t.Errorf("name of %s = %q, want %q (bytes %x)", m.ID, names[m.ID.String()], m.Name, names[m.ID.String()])
				}
			}
			// Round trip: the parsed Conf builds the same document.
			again := build(t, p, got)
			if !bytes.Equal(withoutSignatureValue(again), withoutSignatureValue(data)) {
				t.Error("the verified Conf does not build the same document again")
			}

			otherCert, otherKey := p.otherSigner(t)
			byOther, err := Build(conf, otherKey, otherCert)
			if err != nil {
				t.Fatal(err)
			}
			sigStart, sigEnd := bytes.Index(data, []byte("<ds:Signature")), bytes.Index(data, []byte("</ds:Signature>"))+len("</ds:Signature>")
			eeConf := sampleConf(t, p, 7)
			eeConf.Instance = "EE"
			for i := range eeConf.Members {
				eeConf.Members[i].ID.Instance = "EE"
			}
			for i := range eeConf.Servers {
				eeConf.Servers[i].ID.Owner.Instance = "EE"
				for j := range eeConf.Servers[i].Clients {
					eeConf.Servers[i].Clients[j].Instance = "EE"
				}
			}
			for i := range eeConf.Services {
				eeConf.Services[i].ID.Provider.Instance = "EE"
			}
			for i := range eeConf.Groups {
				eeConf.Groups[i].ID.Instance = "EE"
				for j := range eeConf.Groups[i].Members {
					eeConf.Groups[i].Members[j].Instance = "EE"
				}
			}

			cases := []struct {
				name string
				data []byte
				now  time.Time
				want error
			}{
				{"one byte of a member name changed", bytes.Replace(data, []byte("Daxili"), []byte("Eaxili"), 1), testNow, ErrSignature},
				{"one byte of an address changed", bytes.Replace(data, []byte("127.0.0.1:5500"), []byte("127.0.0.9:5500"), 1), testNow, ErrSignature},
				{"indentation changed", bytes.Replace(data, []byte("\n <members>"), []byte("\n  <members>"), 1), testNow, ErrSignature},
				{"digest changed", bytes.Replace(data, []byte("<ds:DigestValue>"), []byte("<ds:DigestValue>AAAA"), 1), testNow, ErrMalformed},
				{"signed by another config-signing key of the same CA", byOther, testNow, ErrSigner},
				{"signature removed", append(slicesClone(data[:sigStart]), data[sigEnd:]...), testNow, ErrMalformed},
				{"other instance", build(t, p, eeConf), testNow, ErrInstance},
				{"expired", data, conf.Expires.Add(time.Second), ErrExpired},
				{"not XML", []byte("this is not XML"), testNow, ErrMalformed},
				{"empty", nil, testNow, ErrMalformed},
				{"byte order mark", append([]byte("\xEF\xBB\xBF"), data...), testNow, ErrMalformed},
				{"carriage return as a reference in a name", bytes.Replace(data, []byte("Daxili"), []byte("Daxili&#13;"), 1), testNow, ErrMalformed},
				{"DOCTYPE", bytes.Replace(data, []byte("<conf "), []byte("<!DOCTYPE conf [<!ENTITY n \"x\">]>\n<conf "), 1), testNow, ErrMalformed},
				{"comment inside a value (C14N drops it)", bytes.Replace(data, []byte("127.0.0.1:5500"), []byte("127.0.0.1<!---->:5500"), 1), testNow, ErrMalformed},
				{"processing instruction", bytes.Replace(data, []byte("<members>"), []byte("<members><?x y?>"), 1), testNow, ErrMalformed},
				{"ISO-8859-1 declared", bytes.Replace(data, []byte(`encoding="UTF-8"`), []byte(`encoding="ISO-8859-1"`), 1), testNow, ErrMalformed},
				{"reference to an Id", bytes.Replace(data, []byte(`URI=""`), []byte(`URI="#conf"`), 1), testNow, ErrMalformed},
				{"SHA-1 digest", bytes.Replace(data, []byte("xmlenc#sha256\"/>\n    <ds:DigestValue>"), []byte("xmldsig#sha1\"/>\n    <ds:DigestValue>"), 1), testNow, ErrMalformed},
				{"duplicate attribute", bytes.Replace(data, []byte(`<ds:Reference URI=""`), []byte(`<ds:Reference URI="" URI=""`), 1), testNow, ErrMalformed},
				{"second signature", bytes.Replace(data, []byte("</conf>"), append(slicesClone(data[sigStart:sigEnd]), "</conf>"...), 1), testNow, ErrMalformed},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c, err := Verify(tc.data, anchor, tc.now)
					if !errors.Is(err, tc.want) {
						t.Fatalf("err = %v, want %v", err, tc.want)
					}
					if tc.want == ErrExpired {
						if c == nil || c.Version != 7 {
							t.Fatalf("an expired configuration must come back with the error, got %v", c)
						}
					} else if c != nil {
						t.Fatalf("a rejected document returned a Conf")
					}
					t.Logf("%v", err)
					if strings.Count(err.Error(), ": ") > 4 || strings.Contains(err.Error(), "\n") {
						t.Errorf("error is not one clear sentence: %v", err)
					}
				})
			}
		})
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// TestWrappingAttacks moves a genuinely signed document around inside
// another: every arrangement must be refused.
func TestWrappingAttacks(t *testing.T) {
	p := newPKI(t, "")
	anchor := p.anchor("http://127.0.0.1/globalconf")
	genuine := build(t, p, sampleConf(t, p, 3))
	evilConf := sampleConf(t, p, 4)
	evilConf.Servers[0].Address = "203.0.113.66:5500"
	evil := build(t, p, evilConf) // stands for content the attacker wants in
	body := func(b []byte) []byte { return b[bytes.Index(b, []byte("<conf ")):] }
	sig := func(b []byte) []byte {
		return b[bytes.Index(b, []byte("<ds:Signature")) : bytes.Index(b, []byte("</ds:Signature>"))+len("</ds:Signature>")]
	}
	unsigned := func(b []byte) []byte {
		out := slicesClone(b[:bytes.Index(b, []byte("<ds:Signature"))])
		return append(out, b[bytes.Index(b, []byte("</ds:Signature>"))+len("</ds:Signature>"):]...)
	}
	evilWithGenuineSig := bytes.Replace(unsigned(evil), []byte("</conf>"), append(slicesClone(sig(genuine)), "</conf>"...), 1)
	attacks := map[string][]byte{
		"genuine document wrapped in another root": append([]byte(`<wrapper xmlns="urn:sluz:globalconf:1">`), append(body(genuine), "</wrapper>"...)...),
		"genuine signature on other content":       evilWithGenuineSig,
		"genuine document inside ds:Object": bytes.Replace(evilWithGenuineSig, []byte("</ds:Signature>"),
			append(append([]byte("<ds:Object>"), body(genuine)...), "</ds:Object></ds:Signature>"...), 1),
		"second root after the genuine one": append(slicesClone(genuine), body(unsigned(evil))...),
		"evil content after the signature": bytes.Replace(genuine, []byte("</ds:Signature>\n</conf>"),
			[]byte("</ds:Signature>\n<securityServers/></conf>"), 1),
		"genuine signature moved into a member": bytes.Replace(unsigned(genuine), []byte("</member>"), append(slicesClone(sig(genuine)), "</member>"...), 1),
		"Id attribute on the root":              bytes.Replace(genuine, []byte("<conf "), []byte(`<conf Id="conf" `), 1),
	}
	for name, data := range attacks {
		c, err := Verify(data, anchor, testNow)
		if err == nil || c != nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) {
			t.Errorf("%s: err = %v, want ErrMalformed or ErrSignature", name, err)
		}
	}
}

func TestBuildDeterministic(t *testing.T) {
	p := newPKI(t, "")
	a := sampleConf(t, p, 1)
	b := sampleConf(t, p, 1)
	// Same content in another order, with sub-millisecond noise in times.
	b.Members[0], b.Members[2] = b.Members[2], b.Members[0]
	b.Services[0], b.Services[3] = b.Services[3], b.Services[0]
	b.Groups[0].Members[0], b.Groups[0].Members[1] = b.Groups[0].Members[1], b.Groups[0].Members[0]
	b.Created = b.Created.Add(300 * time.Microsecond)
	before := b.Members[0].ID
	da, db := build(t, p, a), build(t, p, b)
	if !bytes.Equal(withoutSignatureValue(da), withoutSignatureValue(db)) {
		t.Error("the same Conf in another order builds other bytes")
	}
	if b.Members[0].ID != before {
		t.Error("Build modified its argument")
	}
}

func TestBuildValidation(t *testing.T) {
	p := newPKI(t, "")
	cases := []struct {
		name   string
		mutate func(c *Conf)
		want   string
	}{
		{"no instance", func(c *Conf) { c.Instance = "" }, "instance is empty"},
		{"version 0", func(c *Conf) { c.Version = 0 }, "version must be greater than 0"},
		{"expires before created", func(c *Conf) { c.Expires = c.Created.Add(-time.Hour) }, "must be after created"},
		{"duplicate member", func(c *Conf) { c.Members = append(c.Members, c.Members[0]) }, "member AZ/GOV/DSMF is listed twice"},
		{"member of another instance", func(c *Conf) { c.Members[0].ID.Instance = "EE" }, `member EE/GOV/DSMF belongs to instance "EE"`},
		{"member without name", func(c *Conf) { c.Members[1].Name = " " }, "member AZ/GOV/DIN has no name"},
		{"control character in a name", func(c *Conf) { c.Members[1].Name = "Daxili\rİşlər" }, "member AZ/GOV/DIN name contains the control character U+000D"},
		{"invalid UTF-8", func(c *Conf) { c.Members[1].Name = "Daxili \xff" }, "not valid UTF-8"},
		{"bad subsystem code", func(c *Conf) { c.Members[1].Subsystems = []string{"əhali"} }, "member AZ/GOV/DIN: invalid identifier: subsystemCode"},
		{"duplicate server", func(c *Conf) {
			c.Servers = append(c.Servers, c.Servers[0])
			c.Servers[3].AuthCertHashes = [][]byte{authHash("x")}
		}, "security server AZ/GOV/DIN/ss1 is listed twice"},
		{"server of an unknown owner", func(c *Conf) { c.Servers[0].ID.Owner.MemberCode = "XYZ" }, "security server AZ/GOV/XYZ/ss1: owner AZ/GOV/XYZ is not a listed member"},
		{"server hosting an unknown subsystem", func(c *Conf) { c.Servers[0].Clients[0].SubsystemCode = "passport" },
			"security server AZ/GOV/DIN/ss1: client AZ/GOV/DIN/passport is not a listed member or subsystem"},
		{"short auth hash", func(c *Conf) { c.Servers[0].AuthCertHashes = [][]byte{{1, 2}} }, "not a SHA-256 digest"},
		{"auth hash shared", func(c *Conf) { c.Servers[1].AuthCertHashes = c.Servers[0].AuthCertHashes }, "is also listed for AZ/GOV/DIN/ss1"},
		{"bad address", func(c *Conf) { c.Servers[0].Address = "127.0.0.1:99999" }, "security server AZ/GOV/DIN/ss1: address"},
		{"service of an unknown subsystem", func(c *Conf) { c.Services[0].ID.Provider.SubsystemCode = "passport" },
			"service AZ/GOV/DIN/passport/getPersonByFin/v1: provider AZ/GOV/DIN/passport is not a listed member or subsystem"},
		{"duplicate service", func(c *Conf) { c.Services = append(c.Services, c.Services[0]) }, "service AZ/GOV/DIN/population/getPersonByFin/v1 is listed twice"},
		{"group member unknown", func(c *Conf) { c.Groups[0].Members[0].MemberCode = "NOPE" }, "global group AZ/state-agencies: member AZ/GOV/NOPE/realestate is not a listed"},
		{"duplicate group", func(c *Conf) { c.Groups = append(c.Groups, c.Groups[0]) }, "global group AZ/state-agencies is listed twice"},
		{"CA without certificate", func(c *Conf) { c.Trust.ApprovedCAs[0].Cert = nil }, `approved CA "Şlüz AZ CA" has no certificate`},
		{"leaf as CA", func(c *Conf) { c.Trust.ApprovedCAs[0].Cert = p.cert }, "is not a CA certificate"},
		{"bad OCSP URL", func(c *Conf) { c.Trust.ApprovedCAs[0].OCSPURLs = []string{"ocsp.example"} }, "OCSP responder: URL"},
		{"TSA without URL", func(c *Conf) { c.Trust.TSAs[0].URL = "" }, `TSA "Şlüz AZ TSA": URL`},
		{"no OCSP freshness", func(c *Conf) { c.Trust.OCSPFreshness = 0 }, "OCSP freshness 0s must be positive"},
		{"fractional OCSP freshness", func(c *Conf) { c.Trust.OCSPFreshness = 1500 * time.Millisecond }, "whole number of seconds"},
	}
	for _, tc := range cases {
		c := sampleConf(t, p, 1)
		tc.mutate(c)
		_, err := Build(c, p.key, p.cert)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
	otherCert, _ := p.otherSigner(t)
	if _, err := Build(sampleConf(t, p, 1), p.key, otherCert); err == nil || !strings.Contains(err.Error(), "does not belong to certificate") {
		t.Errorf("key and certificate mismatch: err = %v", err)
	}
}

// TestCanonicalizationMatchesGoxmldsig cross-checks the canonicaliser with
// goxmldsig's C14N 1.0 on the parsed document and on SignedInfo in place.
func TestCanonicalizationMatchesGoxmldsig(t *testing.T) {
	p := newPKI(t, "")
	data := build(t, p, sampleConf(t, p, 1))
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	sig := root.FindElement("Signature")
	si := sig.FindElement("SignedInfo")
	ref := dsig.MakeC14N10RecCanonicalizer()
	wantSI, err := ref.Canonicalize(si)
	if err != nil {
		t.Fatal(err)
	}
	if got := xmldsig.Canonicalize(nil, si, false, nil); !bytes.Equal(got, wantSI) {
		t.Errorf("SignedInfo:\n got %s\nwant %s", got, wantSI)
	}
	cp := root.Copy()
	cp.RemoveChild(cp.FindElement("Signature"))
	wantDoc, err := ref.Canonicalize(cp)
	if err != nil {
		t.Fatal(err)
	}
	if got := xmldsig.Canonicalize(nil, root, false, sig); !bytes.Equal(got, wantDoc) {
		t.Errorf("document differs from goxmldsig's C14N")
	}
}

// TestCanonicalizationNamespaces covers namespace cases the built document
// does not have.
func TestCanonicalizationNamespaces(t *testing.T) {
	cases := []struct{ in, apex, want string }{
		{`<a xmlns="urn:a" xmlns:p="urn:p"><b xmlns="urn:a" p:x="1" y="&#9;&quot;&lt;&gt;"/></a>`, "",
			`<a xmlns="urn:a" xmlns:p="urn:p"><b y="&#x9;&quot;&lt;>" p:x="1"></b></a>`},
		{`<a xmlns="urn:a"><b xmlns=""><c/></b></a>`, "", `<a xmlns="urn:a"><b xmlns=""><c></c></b></a>`},
		{`<a xmlns:z="urn:z" xmlns:b="urn:b"><s:c xmlns:s="urn:s" z:k="1" b:k="2"/></a>`, "c",
			`<s:c xmlns:b="urn:b" xmlns:s="urn:s" xmlns:z="urn:z" b:k="2" z:k="1"></s:c>`},
		{"<a>x&#13;y &amp; z</a>", "", "<a>x&#xD;y &amp; z</a>"},
	}
	for _, tc := range cases {
		doc := etree.NewDocument()
		if err := doc.ReadFromString(tc.in); err != nil {
			t.Fatal(err)
		}
		apex := doc.Root()
		if tc.apex != "" {
			apex = apex.FindElement("//" + tc.apex)
		}
		if got := string(xmldsig.Canonicalize(nil, apex, false, nil)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if ref, err := dsig.MakeC14N10RecCanonicalizer().Canonicalize(apex); err != nil || string(ref) != tc.want {
			t.Errorf("goxmldsig differs on %s: %s (%v)", tc.in, ref, err)
		}
	}
}

func TestSignatureAsRoot(t *testing.T) {
	_, err := Verify([]byte(`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>`), &Anchor{Cert: newPKI(t, "").cert}, testNow)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}
