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
	list := tlv(tagSequence, tlv(tagSequence, id.Raw))
	wrap := func(tbs ...[]byte) []byte { return tlv(tagSequence, tlv(tagSequence, tbs...)) }
	certID := func(alg []byte, name, key []byte, serial int64) []byte {
		s, _ := derInteger(big.NewInt(serial))
		return tlv(tagSequence, alg, tlv(tagOctetString, name), tlv(tagOctetString, key), s)
	}
	sha1Alg := tlv(tagSequence, derOID(hashOIDs[0].oid), derNull)
	h20 := make([]byte, 20)
	ext := func(oid []byte, critical bool, value []byte) []byte {
		parts := [][]byte{oid}
		if critical {
			parts = append(parts, []byte{tagBoolean, 1, 0xff})
		}
		parts = append(parts, tlv(tagOctetString, value))
		return tlv(tagSequence, parts...)
	}
	unknownOID := derOID([]int{1, 2, 3, 4})
	md5Alg := tlv(tagSequence, derOID([]int{1, 2, 840, 113549, 2, 5}), derNull)

	good := map[string][]byte{
		"plain":                      wrap(list),
		"version v1 explicit":        wrap(tlv(ctxTag(0, true), []byte{tagInteger, 1, 0}), list),
		"requestorName":              wrap(tlv(ctxTag(1, true), tlv(ctxTag(1, false), []byte("a@b"))), list),
		"SHA-1 without NULL params":  wrap(tlv(tagSequence, tlv(tagSequence, certID(tlv(tagSequence, derOID(hashOIDs[0].oid)), h20, h20, 5)))),
		"unknown non-critical ext":   wrap(list, tlv(ctxTag(2, true), tlv(tagSequence, ext(unknownOID, false, []byte{5, 0})))),
		"single extension non-crit.": wrap(tlv(tagSequence, tlv(tagSequence, id.Raw, tlv(ctxTag(0, true), tlv(tagSequence, ext(unknownOID, false, nil)))))),
		"bare nonce":                 wrap(list, tlv(ctxTag(2, true), tlv(tagSequence, ext(derOID(oidNonce), false, []byte("0123456789abcdef"))))),
	}
	for name, der := range good {
		if _, err := ParseRequest(der); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"empty":                    nil,
		"trailing data":            append(wrap(list), 0),
		"not a sequence":           tlv(tagOctetString, wrap(list)),
		"empty requestList":        wrap(tlv(tagSequence)),
		"no requestList":           wrap(),
		"version v2":               wrap(tlv(ctxTag(0, true), []byte{tagInteger, 1, 1}), list),
		"unknown hash algorithm":   wrap(tlv(tagSequence, tlv(tagSequence, certID(md5Alg, make([]byte, 16), make([]byte, 16), 5)))),
		"short name hash":          wrap(tlv(tagSequence, tlv(tagSequence, certID(sha1Alg, h20[:19], h20, 5)))),
		"long key hash":            wrap(tlv(tagSequence, tlv(tagSequence, certID(sha1Alg, h20, append(h20, 0), 5)))),
		"SHA-256 with SHA-1 sizes": wrap(tlv(tagSequence, tlv(tagSequence, certID(tlv(tagSequence, derOID(hashOIDs[1].oid)), h20, h20, 5)))),
		"hash params not NULL":     wrap(tlv(tagSequence, tlv(tagSequence, certID(tlv(tagSequence, derOID(hashOIDs[0].oid), []byte{tagInteger, 1, 0}), h20, h20, 5)))),
		"non-minimal serial":       wrap(tlv(tagSequence, tlv(tagSequence, tlv(tagSequence, sha1Alg, tlv(tagOctetString, h20), tlv(tagOctetString, h20), []byte{tagInteger, 2, 0, 5})))),
		"extra CertID field":       wrap(tlv(tagSequence, tlv(tagSequence, tlv(tagSequence, sha1Alg, tlv(tagOctetString, h20), tlv(tagOctetString, h20), []byte{tagInteger, 1, 5}, derNull)))),
		"signed":                   tlv(tagSequence, tlv(tagSequence, list), tlv(ctxTag(0, true), tlv(tagSequence))),
		"unknown critical ext":     wrap(list, tlv(ctxTag(2, true), tlv(tagSequence, ext(unknownOID, true, nil)))),
		"critical single ext":      wrap(tlv(tagSequence, tlv(tagSequence, id.Raw, tlv(ctxTag(0, true), tlv(tagSequence, ext(unknownOID, true, nil)))))),
		"duplicate nonce":          wrap(list, tlv(ctxTag(2, true), tlv(tagSequence, ext(derOID(oidNonce), false, encodeNonce([]byte{1})), ext(derOID(oidNonce), false, encodeNonce([]byte{1}))))),
		"empty nonce":              wrap(list, tlv(ctxTag(2, true), tlv(tagSequence, ext(derOID(oidNonce), false, encodeNonce(nil))))),
		"33-byte nonce":            wrap(list, tlv(ctxTag(2, true), tlv(tagSequence, ext(derOID(oidNonce), false, encodeNonce(make([]byte, 33)))))),
		"empty extensions":         wrap(list, tlv(ctxTag(2, true), tlv(tagSequence))),
		"element after extensions": wrap(list, tlv(ctxTag(2, true), tlv(tagSequence, ext(unknownOID, false, nil))), derNull),
		"indefinite length":        append([]byte{0x30, 0x80}, append(tlv(tagSequence, list), 0, 0)...),
		"non-minimal length":       append([]byte{0x30, 0x81, byte(len(tlv(tagSequence, list)))}, tlv(tagSequence, list)...),
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
	var der []byte
	var b64 string
	for i := 0; ; i++ {
		der, _ = CreateRequest(p.leaf, p.issuing, crypto.SHA1, []byte{byte(i), byte(i >> 8), 3, 4, 5, 6, 7, 8})
		b64 = base64.StdEncoding.EncodeToString(der)
		if strings.Contains(b64, "/") && strings.Contains(b64, "+") && strings.HasSuffix(b64, "=") &&
			!strings.Contains(b64, "//") && !strings.HasPrefix(b64, "/") {
			break
		}
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
