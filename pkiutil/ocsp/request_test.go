package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/sluz/sluz/internal/der"
)

func TestCreateParseRequest(t *testing.T) {
	p := getPKI(t)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		nonce := []byte("a nonce of 20 bytes!")
		der, err := CreateRequest(p.leaf, p.issuing, h, nonce)
		if err != nil {
			t.Fatal(err)
		}
		req, err := ParseRequest(der)
		if err != nil {
			t.Fatal(err)
		}
		if len(req.Certs) != 1 || !bytes.Equal(req.Nonce, nonce) {
			t.Fatalf("%v: %+v", h, req)
		}
		id := req.Certs[0]
		nameHash, keyHash, _ := issuerHashes(p.issuing, h)
		if id.HashAlgorithm != h || id.SerialNumber.Cmp(p.leaf.SerialNumber) != 0 ||
			!bytes.Equal(id.IssuerNameHash, nameHash) || !bytes.Equal(id.IssuerKeyHash, keyHash) {
			t.Fatalf("%v: %+v", h, id)
		}
		// x/crypto/ocsp reads it the same way.
		x, err := xocsp.ParseRequest(der)
		if err != nil || x.HashAlgorithm != h || x.SerialNumber.Cmp(p.leaf.SerialNumber) != 0 ||
			!bytes.Equal(x.IssuerKeyHash, keyHash) || !bytes.Equal(x.IssuerNameHash, nameHash) {
			t.Fatalf("x/crypto/ocsp: %v %+v", err, x)
		}
	}
	// x/crypto/ocsp requests parse here.
	xder, err := xocsp.CreateRequest(p.leaf, p.issuing, &xocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseRequest(xder)
	if err != nil || req.Nonce != nil || req.Certs[0].HashAlgorithm != crypto.SHA256 {
		t.Fatalf("%v %+v", err, req)
	}

	// CreateRequest refuses what ParseRequest would refuse.
	for _, n := range [][]byte{{}, make([]byte, 33)} {
		if _, err := CreateRequest(p.leaf, p.issuing, crypto.SHA1, n); err == nil {
			t.Errorf("CreateRequest accepted a %d-byte nonce", len(n))
		}
	}
	if _, err := CreateRequest(p.leaf, p.issuing, crypto.MD5, nil); err == nil {
		t.Error("CreateRequest accepted MD5")
	}
}

func TestParseRequestStrict(t *testing.T) {
	p := getPKI(t)
	id, _ := NewCertID(p.leaf, p.issuing, crypto.SHA1)
	list := der.TLV(der.TagSequence, der.TLV(der.TagSequence, id.Raw))
	wrap := func(tbs ...[]byte) []byte { return der.TLV(der.TagSequence, der.TLV(der.TagSequence, tbs...)) }
	certID := func(alg []byte, name, key []byte, serial int64) []byte {
		s := der.Integer(big.NewInt(serial))
		return der.TLV(der.TagSequence, alg, der.TLV(der.TagOctetString, name), der.TLV(der.TagOctetString, key), s)
	}
	sha1Alg := der.TLV(der.TagSequence, der.MustOID(der.OIDSHA1), der.Null)
	h20 := make([]byte, 20)
	ext := func(oid []byte, critical bool, value []byte) []byte {
		parts := [][]byte{oid}
		if critical {
			parts = append(parts, der.Bool(true))
		}
		parts = append(parts, der.TLV(der.TagOctetString, value))
		return der.TLV(der.TagSequence, parts...)
	}
	unknownOID := der.MustOID([]int{1, 2, 3, 4})
	md5Alg := der.TLV(der.TagSequence, der.MustOID([]int{1, 2, 840, 113549, 2, 5}), der.Null)

	good := map[string][]byte{
		"plain":                      wrap(list),
		"version v1 explicit":        wrap(der.TLV(der.ContextCons(0), der.Int(0)), list),
		"requestorName":              wrap(der.TLV(der.ContextCons(1), der.TLV(der.Context(1), []byte("a@b"))), list),
		"SHA-1 without NULL params":  wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, certID(der.TLV(der.TagSequence, der.MustOID(der.OIDSHA1)), h20, h20, 5)))),
		"unknown non-critical ext":   wrap(list, der.TLV(der.ContextCons(2), der.TLV(der.TagSequence, ext(unknownOID, false, []byte{5, 0})))),
		"single extension non-crit.": wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, id.Raw, der.TLV(der.ContextCons(0), der.TLV(der.TagSequence, ext(unknownOID, false, nil)))))),
		"bare nonce":                 wrap(list, der.TLV(der.ContextCons(2), der.TLV(der.TagSequence, ext(der.MustOID(oidNonce), false, []byte("0123456789abcdef"))))),
	}
	for name, der := range good {
		if _, err := ParseRequest(der); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"empty":                    nil,
		"trailing data":            append(wrap(list), 0),
		"not a sequence":           der.TLV(der.TagOctetString, wrap(list)),
		"empty requestList":        wrap(der.TLV(der.TagSequence)),
		"no requestList":           wrap(),
		"version v2":               wrap(der.TLV(der.ContextCons(0), der.Int(1)), list),
		"unknown hash algorithm":   wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, certID(md5Alg, make([]byte, 16), make([]byte, 16), 5)))),
		"short name hash":          wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, certID(sha1Alg, h20[:19], h20, 5)))),
		"long key hash":            wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, certID(sha1Alg, h20, append(h20, 0), 5)))),
		"SHA-256 with SHA-1 sizes": wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, certID(der.TLV(der.TagSequence, der.MustOID(der.OIDSHA256)), h20, h20, 5)))),
		"hash params not NULL":     wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, certID(der.TLV(der.TagSequence, der.MustOID(der.OIDSHA1), der.Int(0)), h20, h20, 5)))),
		"non-minimal serial":       wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, der.TLV(der.TagSequence, sha1Alg, der.TLV(der.TagOctetString, h20), der.TLV(der.TagOctetString, h20), []byte{0x02, 2, 0, 5})))),
		"extra CertID field":       wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, der.TLV(der.TagSequence, sha1Alg, der.TLV(der.TagOctetString, h20), der.TLV(der.TagOctetString, h20), der.Int(5), der.Null)))),
		"signed":                   der.TLV(der.TagSequence, der.TLV(der.TagSequence, list), der.TLV(der.ContextCons(0), der.TLV(der.TagSequence))),
		"unknown critical ext":     wrap(list, der.TLV(der.ContextCons(2), der.TLV(der.TagSequence, ext(unknownOID, true, nil)))),
		"critical single ext":      wrap(der.TLV(der.TagSequence, der.TLV(der.TagSequence, id.Raw, der.TLV(der.ContextCons(0), der.TLV(der.TagSequence, ext(unknownOID, true, nil)))))),
		"duplicate nonce":          wrap(list, der.TLV(der.ContextCons(2), der.TLV(der.TagSequence, ext(der.MustOID(oidNonce), false, encodeNonce([]byte{1})), ext(der.MustOID(oidNonce), false, encodeNonce([]byte{1}))))),
		"empty nonce":              wrap(list, der.TLV(der.ContextCons(2), der.TLV(der.TagSequence, ext(der.MustOID(oidNonce), false, encodeNonce(nil))))),
		"33-byte nonce":            wrap(list, der.TLV(der.ContextCons(2), der.TLV(der.TagSequence, ext(der.MustOID(oidNonce), false, encodeNonce(make([]byte, 33)))))),
		"empty extensions":         wrap(list, der.TLV(der.ContextCons(2), der.TLV(der.TagSequence))),
		"element after extensions": wrap(list, der.TLV(der.ContextCons(2), der.TLV(der.TagSequence, ext(unknownOID, false, nil))), der.Null),
		"indefinite length":        append([]byte{0x30, 0x80}, append(der.TLV(der.TagSequence, list), 0, 0)...),
		"non-minimal length":       append([]byte{0x30, 0x81, byte(len(der.TLV(der.TagSequence, list)))}, der.TLV(der.TagSequence, list)...),
	}
	for name, der := range bad {
		if r, err := ParseRequest(der); err == nil {
			t.Errorf("%s: accepted: %+v", name, r)
		}
	}
}

func TestGET(t *testing.T) {
	p := getPKI(t)
	r := newDelegated(t, p, newMemSource(p))
	mux := http.NewServeMux()
	mux.Handle("/", r)
	mux.Handle("/ocsp/", r)
	mux.Handle("/federation/ee/ocsp/", r)
	base := serve(t, mux)

	// Find a request whose base64 contains '/' and '+' and ends in
	// padding, the awkward cases of appendix A.1 — but no "//" and no
	// leading '/': unescaped, those become a path that HTTP muxes clean
	// (Go's redirects "a//b" to "a/b"), which no responder behind one can
	// read back; RFC 5019 clients URL-encode the request.
	// The nonce varies the tail; the CertID's hash algorithm varies the
	// rest (and its length, the alignment), so that a "//" in the fixed
	// part of one CertID does not keep the search going forever.
	var der []byte
	var b64 string
search:
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		for i := range 1 << 16 {
			der, _ = CreateRequest(p.leaf, p.issuing, h, []byte{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8})
			b64 = base64.StdEncoding.EncodeToString(der)
			if strings.Contains(b64, "/") && strings.Contains(b64, "+") && strings.HasSuffix(b64, "=") &&
				!strings.Contains(b64, "//") && !strings.HasPrefix(b64, "/") {
				break search
			}
			b64 = ""
		}
	}
	if b64 == "" {
		t.Fatal("no request of this PKI's certificate encodes with '/', '+' and padding but no \"//\"")
	}
	nonce := func() []byte { req, _ := ParseRequest(der); return req.Nonce }()
	plain, _ := CreateRequest(p.leaf2, p.issuing, crypto.SHA256, nil)
	plain64 := base64.StdEncoding.EncodeToString(plain)

	for _, tc := range []struct {
		name, path string
		cert       int
	}{
		{"escaped at root", "/" + url.PathEscape(b64), 1},
		{"escaped under prefix", "/ocsp/" + url.PathEscape(b64), 1},
		{"unescaped slashes under prefix", "/federation/ee/ocsp/" + b64, 1},
		{"unescaped at root", "/" + b64, 1},
		{"no padding", "/ocsp/" + strings.TrimRight(b64, "="), 1},
		{"all escaped", "/ocsp/" + url.QueryEscape(b64), 1},
		{"url-safe alphabet", "/ocsp/" + base64.RawURLEncoding.EncodeToString(der), 1},
		{"no nonce", "/ocsp/" + url.PathEscape(plain64), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, mustGET(t, base+tc.path))
			cert, wantNonce := p.leaf, nonce
			if tc.cert == 2 {
				cert, wantNonce = p.leaf2, nil
			}
			if res.code != 200 {
				t.Fatalf("HTTP %d", res.code)
			}
			resp, err := Verify(res.body, VerifyOptions{Cert: cert, Issuer: p.issuing, Nonce: wantNonce})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != Good {
				t.Fatalf("status %v", resp.Status)
			}
			cc := res.header.Get("Cache-Control")
			if wantNonce == nil && cc != "max-age=3600, public, no-transform, must-revalidate" {
				t.Errorf("Cache-Control %q", cc)
			}
			if wantNonce != nil && cc != "no-cache" {
				t.Errorf("Cache-Control %q", cc)
			}
			if wantNonce == nil && (res.header.Get("Expires") == "" || res.header.Get("Last-Modified") == "") {
				t.Errorf("missing Expires/Last-Modified: %v", res.header)
			}
		})
	}
	// Straight through Respond too.
	req, _ := ParseRequest(plain)
	if _, err := Verify(r.Respond(context.Background(), req), VerifyOptions{Cert: p.leaf2, Issuer: p.issuing}); err != nil {
		t.Fatal(err)
	}
}

func mustGET(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
