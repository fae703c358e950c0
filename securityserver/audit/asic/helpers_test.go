package asic_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/securityserver/audit/asic"
	"github.com/sluz/sluz/securityserver/hashchain"
	"github.com/sluz/sluz/securityserver/signature"
)

// federation is a throwaway PKI: a CA with its OCSP responder and TSA, a
// member's signing key, and a rogue CA nobody trusts.
type federation struct {
	ca, rogue *pkiutil.CA
	services  *pkiutil.Services
	signer    *signature.Signer
	tsaCert   *x509.Certificate
}

var (
	fedOnce sync.Once
	fed     *federation
	fedErr  error
	fedDir  string
)

func getFederation(t testing.TB) *federation {
	t.Helper()
	fedOnce.Do(func() { fed, fedErr = newFederation(fedDir) })
	if fedErr != nil {
		t.Fatal(fedErr)
	}
	return fed
}

func newFederation(dir string) (*federation, error) {
	f := &federation{}
	var err error
	if f.ca, err = pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "ca")}); err != nil {
		return nil, err
	}
	if f.rogue, err = pkiutil.Init(pkiutil.InitOptions{Dir: filepath.Join(dir, "rogue")}); err != nil {
		return nil, err
	}
	if f.services, err = pkiutil.NewServices(f.ca, nil); err != nil {
		return nil, err
	}
	if f.tsaCert, err = pkiutil.ReadCertificate(filepath.Join(dir, "ca", pkiutil.FileTSACert)); err != nil {
		return nil, err
	}
	if f.signer, err = f.newSigner(); err != nil {
		return nil, err
	}
	return f, nil
}

// newSigner issues a signing certificate to AZ/GOV/DIN and staples its
// OCSP response.
func (f *federation) newSigner() (*signature.Signer, error) {
	key, err := pkiutil.GenerateKey(pkiutil.KeyECDSAP256)
	if err != nil {
		return nil, err
	}
	cert, err := f.ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: "AZ/GOV/DIN", PublicKey: key.Public()})
	if err != nil {
		return nil, err
	}
	s := &signature.Signer{Key: key, Cert: cert}
	s.OCSP, err = f.ocspFor(cert)
	return s, err
}

func (f *federation) ocspFor(cert *x509.Certificate) ([]byte, error) {
	reqDER, err := ocsp.CreateRequest(cert, f.ca.Cert, crypto.SHA256, nil)
	if err != nil {
		return nil, err
	}
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		return nil, err
	}
	return f.services.OCSP.Respond(context.Background(), req), nil
}

// anchors are what an auditor of this federation is given.
func (f *federation) anchors() asic.Options {
	return asic.Options{Anchors: []*x509.Certificate{f.ca.Root}, Intermediates: []*x509.Certificate{f.ca.Cert}}
}

// stamp returns a time-stamp token over data.
func (f *federation) stamp(t testing.TB, data []byte) []byte {
	t.Helper()
	d := sha512.Sum512(data)
	resp, err := f.services.TSA.Respond(&tsa.Request{HashAlgorithm: crypto.SHA512, HashedMessage: d[:], CertReq: true})
	if err != nil || resp.Token == nil {
		t.Fatalf("time-stamp: %v %+v", err, resp)
	}
	return resp.Token
}

// entry is one file of a container being built.
type entry struct {
	name   string
	data   []byte
	method uint16
}

// container is a container being built, entry by entry, so tests can
// change it before writing it.
type container []entry

func (c container) with(name string, data []byte) container {
	out := append(container(nil), c...)
	for i := range out {
		if out[i].name == name {
			out[i].data = data
			return out
		}
	}
	return append(out, entry{name: name, data: data, method: zip.Deflate})
}

func (c container) without(name string) container {
	var out container
	for _, e := range c {
		if e.name != name {
			out = append(out, e)
		}
	}
	return out
}

func (c container) get(name string) []byte {
	for _, e := range c {
		if e.name == name {
			return e.data
		}
	}
	return nil
}

func (c container) zip(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range c {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.SetComment("mimetype=" + asic.MimeType); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const soapMessage = `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>getPersonByFin %d</SOAP-ENV:Body></SOAP-ENV:Envelope>`

// build makes a container as X-Road's message log writes one: the
// message (batch-signed through a hash chain when it has attachments),
// its signature, and a batch time-stamp over it and another record.
func (f *federation) build(t testing.TB, attachments ...string) container {
	t.Helper()
	now := time.Now()
	msg := fmt.Appendf(nil, soapMessage, 1)
	c := container{{name: asic.EntryMimeType, data: []byte(asic.MimeType), method: zip.Store}, {name: asic.EntryMessage, data: msg, method: zip.Deflate}}
	var sig []byte
	var err error
	if len(attachments) == 0 {
		sig, err = f.signer.Sign(signature.Part{URI: signature.MessageURI, Data: msg, MimeType: "text/xml"}, now)
	} else {
		parts := []hashchain.Part{hashchain.Bytes(msg)}
		for _, a := range attachments {
			parts = append(parts, hashchain.Bytes([]byte(a)))
		}
		other := []hashchain.Part{hashchain.Bytes(fmt.Appendf(nil, soapMessage, 2))}
		batch, err := hashchain.Builder{}.Build(parts, other)
		if err != nil {
			t.Fatal(err)
		}
		sig, err = f.signer.Sign(signature.Part{URI: hashchain.SigResultURI, Data: batch.Result, MimeType: "application/hash-chain-result"}, now)
		if err != nil {
			t.Fatal(err)
		}
		c = c.with(asic.EntrySigChainResult, batch.Result).with(asic.EntrySigChain, batch.Chains[0])
	}
	if err != nil {
		t.Fatal(err)
	}
	c = c.with(asic.EntrySignature, sig)
	ts, err := hashchain.Builder{ChainURI: hashchain.TSChainURI, DataURI: hashchain.SignaturesURI}.Build(
		[]hashchain.Part{hashchain.Bytes(sig)}, []hashchain.Part{hashchain.Bytes([]byte("another record's signatures.xml"))})
	if err != nil {
		t.Fatal(err)
	}
	c = c.with(asic.EntryTSChainResult, ts.Result).with(asic.EntryTSChain, ts.Chains[0]).
		with(asic.EntryTimestamp, f.stamp(t, ts.Result)).
		with(asic.EntryASiCManifest, asicManifest(ts.Result))
	for i, a := range attachments {
		c = c.with(fmt.Sprintf("attachment%d", i+1), []byte(a))
	}
	return c.with(asic.EntryManifest, manifest(c))
}

// asicManifest is X-Road's META-INF/ASiCManifest.xml for a batch
// time-stamp over tsResult.
func asicManifest(tsResult []byte) []byte {
	d := sha512.Sum512(tsResult)
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>
<asic:ASiCManifest xmlns:asic="http://uri.etsi.org/2918/v1.2.1#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
<asic:SigReference URI="META-INF/timestamp.tst" MimeType="vnd.etsi.timestamp-token"/>
<asic:DataObjectReference URI="ts-hashchainresult.xml" MimeType="text/xml">
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512"/>
<ds:DigestValue>%s</ds:DigestValue>
</asic:DataObjectReference>
</asic:ASiCManifest>`, base64.StdEncoding.EncodeToString(d[:]))
}

// manifest is the OpenDocument manifest listing c's data entries.
func manifest(c container) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
    <manifest:file-entry manifest:media-type="application/vnd.etsi.asic-e+zip" manifest:full-path="/"/>
`)
	for _, e := range c {
		mime := "text/xml"
		if strings.HasPrefix(e.name, "attachment") {
			mime = "application/octet-stream"
		}
		if e.name != asic.EntryMimeType && !strings.HasPrefix(e.name, "META-INF/") {
			fmt.Fprintf(&b, "    <manifest:file-entry manifest:media-type=%q manifest:full-path=%q/>\n", mime, e.name)
		}
	}
	b.WriteString("</manifest:manifest>\n")
	return []byte(b.String())
}

// wantChecks asserts each check's status and code ("" for OK); a name
// with "+" appended names a further problem the check must have found.
func wantChecks(t *testing.T, rep *asic.Report, want map[string]string) {
	t.Helper()
	for _, n := range rep.Checks() {
		if also, ok := want[n.Name+"+"]; ok && !n.Check.Has(also) {
			t.Errorf("%s: no problem %q among %+v", n.Name, also, n.Check.Problems)
		}
		code, ok := want[n.Name]
		if !ok {
			continue
		}
		got := n.Check.Code
		if n.Check.Status == asic.OK {
			got = ""
		}
		if got != code || (code == "" && n.Check.Status != asic.OK) {
			var b strings.Builder
			rep.WriteText(&b)
			t.Errorf("%s: got %s %q, want code %q\n%s", n.Name, n.Check.Status, got, code, b.String())
		}
	}
}

func base64Encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func base64Decode(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.NewReplacer("\n", "", "\r", "", "&#13;", "").Replace(s))
}
