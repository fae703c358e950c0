package ocsp

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"
)

// seedRequests returns valid requests: SHA-1 and SHA-256, with and without
// nonce, several CertIDs, from x/crypto/ocsp.
func seedRequests(t testing.TB, p *testPKI) [][]byte {
	var seeds [][]byte
	add := func(b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	add(CreateRequest(p.leaf, p.issuing, crypto.SHA1, nil))
	add(CreateRequest(p.leaf, p.issuing, crypto.SHA256, []byte("0123456789abcdef")))
	add(CreateRequest(p.leaf2, p.issuing, crypto.SHA512, []byte{1}))
	add(CreateRequest(p.unknownLeaf, p.issuing, crypto.SHA384, bytes.Repeat([]byte{0xee}, 32)))
	a, _ := NewCertID(p.leaf, p.issuing, crypto.SHA1)
	b, _ := NewCertID(p.leaf2, p.issuing, crypto.SHA256)
	c, _ := NewCertID(p.otherResponder, p.otherRoot, crypto.SHA1)
	add((&Request{Certs: []CertID{a, b}, Nonce: []byte("nonce")}).Marshal())
	add((&Request{Certs: []CertID{c}}).Marshal())
	add(xocsp.CreateRequest(p.leaf, p.issuing, nil))
	return seeds
}

func FuzzParseRequest(f *testing.F) {
	p := getPKI(f)
	for _, s := range seedRequests(f, p) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		req, err := ParseRequest(der)
		if err != nil {
			return
		}
		if len(req.Certs) == 0 || len(req.Certs) > MaxRequestCerts {
			t.Fatalf("parsed %d CertIDs", len(req.Certs))
		}
		if req.Nonce != nil && (len(req.Nonce) < minNonceLen || len(req.Nonce) > maxNonceLen) {
			t.Fatalf("parsed a %d-byte nonce", len(req.Nonce))
		}
		// Re-create the request from its fields: it parses back equal.
		again := Request{Nonce: req.Nonce}
		for _, id := range req.Certs {
			if id.SerialNumber == nil || len(id.IssuerNameHash) != id.HashAlgorithm.Size() || len(id.IssuerKeyHash) != id.HashAlgorithm.Size() {
				t.Fatalf("inconsistent CertID %+v", id)
			}
			// Raw is the CertID as received and parses to the same fields.
			fromRaw, err := parseCertID(id.Raw)
			if err != nil || !sameCertID(fromRaw, id) {
				t.Fatalf("Raw of %+v parses as %+v, %v", id, fromRaw, err)
			}
			id.Raw = nil
			again.Certs = append(again.Certs, id)
		}
		der2, err := again.Marshal()
		if err != nil {
			t.Fatalf("cannot re-create %+v: %v", req, err)
		}
		req2, err := ParseRequest(der2)
		if err != nil {
			t.Fatalf("re-created request does not parse: %v", err)
		}
		if !bytes.Equal(req2.Nonce, req.Nonce) || (req2.Nonce == nil) != (req.Nonce == nil) || len(req2.Certs) != len(req.Certs) {
			t.Fatalf("round trip: %+v != %+v", req2, req)
		}
		for i := range req.Certs {
			if !sameCertID(req.Certs[i], req2.Certs[i]) {
				t.Fatalf("round trip CertID %d: %+v != %+v", i, req2.Certs[i], req.Certs[i])
			}
		}
		// Marshal is canonical: a second round gives the same bytes.
		der3, err := (&Request{Certs: req2.Certs, Nonce: req2.Nonce}).Marshal()
		if err != nil || !bytes.Equal(der3, der2) {
			t.Fatalf("Marshal not stable: %v", err)
		}
	})
}

func sameCertID(a, b CertID) bool {
	return a.HashAlgorithm == b.HashAlgorithm && bytes.Equal(a.IssuerNameHash, b.IssuerNameHash) &&
		bytes.Equal(a.IssuerKeyHash, b.IssuerKeyHash) && a.SerialNumber.Cmp(b.SerialNumber) == 0
}

func FuzzRespond(f *testing.F) {
	p := getPKI(f)
	src := newMemSource(p)
	src.set(p.leaf2Serial, Status{Status: Revoked, RevokedAt: time.Now().Add(-time.Hour), Reason: 1})
	r := newDelegated(f, p, src)
	for _, s := range seedRequests(f, p) {
		f.Add(s, false)
		f.Add([]byte(base64.StdEncoding.EncodeToString(s)), true)
		f.Add([]byte("ocsp/"+url.PathEscape(base64.RawStdEncoding.EncodeToString(s))), true)
	}
	f.Add([]byte{}, false)
	f.Add([]byte{0x30, 0x80}, false)
	f.Fuzz(func(t *testing.T, data []byte, get bool) {
		var req *http.Request
		if get {
			u, err := url.Parse("/" + string(data))
			if err != nil {
				u = &url.URL{Path: "/" + string(data)}
			}
			req = httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL = u
		} else {
			req = httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(data))
			req.Header.Set("Content-Type", "application/ocsp-request")
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusOK && w.Code != http.StatusRequestURITooLong && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("HTTP %d", w.Code)
		}
		body := w.Body.Bytes()
		st, b, err := parseResponse(body)
		if err != nil {
			t.Fatalf("unparseable response %x: %v", body, err)
		}
		if st != Successful {
			if _, err := xocsp.ParseResponse(body, nil); err == nil {
				t.Fatal("x/crypto/ocsp parses an error response as success")
			}
			return
		}
		// A successful response answers a request that parses, CertID for
		// CertID, and is properly signed by the delegated responder.
		if err := p.responder.CheckSignature(x509.ECDSAWithSHA256, b.tbs, b.signature); err != nil {
			t.Fatalf("bad signature: %v", err)
		}
		if !get {
			parsed, err := ParseRequest(data)
			if err != nil {
				t.Fatalf("successful response to a request ParseRequest refuses: %v", err)
			}
			if len(parsed.Certs) != len(b.singles) {
				t.Fatalf("%d answers to %d CertIDs", len(b.singles), len(parsed.Certs))
			}
			for i := range b.singles {
				if !bytes.Equal(b.singles[i].id.Raw, parsed.Certs[i].Raw) {
					t.Fatalf("CertID %d not echoed", i)
				}
			}
			if (parsed.Nonce != nil) != (b.nonce != nil) {
				t.Fatal("nonce not echoed")
			}
		}
		if len(b.singles) == 1 {
			if _, err := xocsp.ParseResponse(body, p.issuing); err != nil {
				t.Fatalf("x/crypto/ocsp rejects a successful response: %v", err)
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	p := getPKI(f)
	src := newMemSource(p)
	delegated := newDelegated(f, p, src)
	self, err := NewResponder(Responder{Issuer: p.issuing, SignerCert: p.issuing, Signer: p.issuingKey, Source: src})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seedRequests(f, p) {
		req, err := ParseRequest(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(delegated.Respond(f.Context(), req))
		f.Add(self.Respond(f.Context(), req))
	}
	src.set(p.leafSerial, Status{Status: Revoked, RevokedAt: time.Now().Add(-time.Hour), Reason: 3})
	req, _ := ParseRequest(seedRequests(f, p)[0])
	f.Add(delegated.Respond(f.Context(), req))
	f.Add(errorResponse(TryLater).der)
	f.Fuzz(func(t *testing.T, der []byte) {
		resp, err := Verify(der, VerifyOptions{Cert: p.leaf, Issuer: p.issuing})
		if err != nil {
			return
		}
		if resp.Status != Good && resp.Status != Revoked && resp.Status != Unknown {
			t.Fatalf("status %v", resp.Status)
		}
		if resp.SerialNumber.Cmp(p.leaf.SerialNumber) != 0 || !bytes.Equal(resp.Raw, der) {
			t.Fatal("accepted a response about something else")
		}
		if (resp.Status == Revoked) == resp.RevokedAt.IsZero() {
			t.Fatalf("status %v with revocation time %v", resp.Status, resp.RevokedAt)
		}
	})
}
