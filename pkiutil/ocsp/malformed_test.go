package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/sluz/sluz/internal/der"
)

// wantStatus checks that res is an HTTP response with the given code whose
// body is a well-formed OCSP error response with status want, according to
// both this package and x/crypto/ocsp.
func wantStatus(t *testing.T, res httpResult, code int, want ResponseStatus) {
	t.Helper()
	if res.code != code {
		t.Errorf("HTTP status %d, want %d", res.code, code)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/ocsp-response" {
		t.Errorf("Content-Type %q", ct)
	}
	st, _, err := parseResponse(res.body)
	if err != nil || st != want {
		t.Fatalf("response status %v (err %v), want %v; body %x", st, err, want, res.body)
	}
	_, err = xocsp.ParseResponse(res.body, nil)
	var re xocsp.ResponseError
	if !errors.As(err, &re) || int(re.Status) != int(want) {
		t.Fatalf("x/crypto/ocsp: %v, want status %v", err, want)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("error response Cache-Control %q", cc)
	}
}

func TestMalformedInput(t *testing.T) {
	p := getPKI(t)
	src := newMemSource(p)
	url := serve(t, newDelegated(t, p, src))
	valid, err := CreateRequest(p.leaf, p.issuing, crypto.SHA256, []byte("sixteen byte non"))
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 200)
	rand.Read(random)
	const ct = "application/ocsp-request"

	otherIssuer, err := CreateRequest(p.otherResponder, p.otherRoot, crypto.SHA1, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A request whose first CertID is ours and second another issuer's.
	ours, _ := NewCertID(p.leaf, p.issuing, crypto.SHA1)
	theirs, _ := NewCertID(p.otherResponder, p.otherRoot, crypto.SHA1)
	mixed, err := (&Request{Certs: []CertID{ours, theirs}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var many Request
	for range MaxRequestCerts + 1 {
		many.Certs = append(many.Certs, ours)
	}
	tooMany := tooManyRequest(t, many)
	signed := append([]byte(nil), valid...)
	signed = signedRequest(t, signed)
	longNonce := requestWithNonceValue(t, ours, encodeNonce(bytes.Repeat([]byte{7}, 33)))

	for _, tc := range []struct {
		name string
		ct   string
		body []byte
		code int
		want ResponseStatus
	}{
		{"empty POST", ct, nil, 200, MalformedRequest},
		{"random bytes", ct, random, 200, MalformedRequest},
		{"truncated DER", ct, valid[:len(valid)-5], 200, MalformedRequest},
		{"trailing garbage", ct, append(append([]byte(nil), valid...), 0, 0), 200, MalformedRequest},
		{"signed request", ct, signed, 200, MalformedRequest},
		{"too many CertIDs", ct, tooMany, 200, MalformedRequest},
		{"nonce over 32 bytes", ct, longNonce, 200, MalformedRequest},
		{"wrong content type", "text/plain", valid, http.StatusUnsupportedMediaType, MalformedRequest},
		{"form content type", "application/x-www-form-urlencoded", valid, http.StatusUnsupportedMediaType, MalformedRequest},
		{"body over the cap", ct, bytes.Repeat([]byte{0x30}, maxRequestBytes+1), http.StatusRequestEntityTooLarge, MalformedRequest},
		{"another issuer", ct, otherIssuer, 200, Unauthorized},
		{"mixed issuers", ct, mixed, 200, Unauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, post(t, url, tc.ct, tc.body), tc.code, tc.want)
		})
	}

	t.Run("content type with parameters and absent", func(t *testing.T) {
		for _, c := range []string{"application/ocsp-request; charset=binary", ""} {
			res := post(t, url, c, valid)
			if st, _, err := parseResponse(res.body); res.code != 200 || err != nil || st != Successful {
				t.Fatalf("%q: HTTP %d status %v err %v", c, res.code, st, err)
			}
		}
	})

	for _, path := range []string{"/", "/!!!not-base64***", "/%2F%2F%2F", "/" + strings.Repeat("A", 100), "/ocsp/" + base64.StdEncoding.EncodeToString(random)} {
		t.Run("GET "+path[:min(len(path), 20)], func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, url+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, do(t, req), 200, MalformedRequest)
		})
	}
	t.Run("GET path over the cap", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, url+"/"+strings.Repeat("A", maxGETPath), nil)
		wantStatus(t, do(t, req), http.StatusRequestURITooLong, MalformedRequest)
	})

	for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodHead} {
		t.Run(m, func(t *testing.T) {
			req, _ := http.NewRequest(m, url, bytes.NewReader(valid))
			res := do(t, req)
			if res.code != http.StatusMethodNotAllowed || res.header.Get("Allow") != "GET, POST" {
				t.Fatalf("%s: HTTP %d, Allow %q", m, res.code, res.header.Get("Allow"))
			}
		})
	}

	// After all this the server still answers properly.
	resp, err := new(Client).Fetch(context.Background(), url, p.leaf, p.issuing, VerifyOptions{})
	if err != nil || resp.Status != Good {
		t.Fatalf("server no longer serving: %v", err)
	}
}

func TestSourceFailures(t *testing.T) {
	p := getPKI(t)
	req, _ := CreateRequest(p.leaf, p.issuing, crypto.SHA1, nil)
	const ct = "application/ocsp-request"

	t.Run("source errs", func(t *testing.T) {
		src := SourceFunc(func(context.Context, *big.Int) (Status, error) { return Status{}, errors.New("database down") })
		wantStatus(t, post(t, serve(t, newDelegated(t, p, src)), ct, req), 200, TryLater)
	})

	t.Run("source blocks past Timeout", func(t *testing.T) {
		release := make(chan struct{})
		var once sync.Once
		t.Cleanup(func() { once.Do(func() { close(release) }) })
		// This source ignores its context entirely.
		src := SourceFunc(func(context.Context, *big.Int) (Status, error) {
			<-release
			return Status{Status: Good}, nil
		})
		r, err := NewResponder(Responder{Issuer: p.issuing, SignerCert: p.responder, Signer: p.responderKey, Source: src, Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		url := serve(t, r)
		start := time.Now()
		wantStatus(t, post(t, url, ct, req), 200, TryLater)
		if d := time.Since(start); d > 10*time.Second { // generous: this machine is shared; a hang would be forever
			t.Fatalf("tryLater took %v with a 100ms timeout", d)
		}
		// The handler is still responsive while the source hangs.
		start = time.Now()
		wantStatus(t, post(t, url, ct, req), 200, TryLater)
		if d := time.Since(start); d > 10*time.Second { // generous: this machine is shared; a hang would be forever
			t.Fatalf("second tryLater took %v", d)
		}
		once.Do(func() { close(release) })
	})

	t.Run("source honouring ctx", func(t *testing.T) {
		src := SourceFunc(func(ctx context.Context, _ *big.Int) (Status, error) {
			<-ctx.Done()
			return Status{}, ctx.Err()
		})
		r, _ := NewResponder(Responder{Issuer: p.issuing, SignerCert: p.responder, Signer: p.responderKey, Source: src, Timeout: 50 * time.Millisecond})
		wantStatus(t, post(t, serve(t, r), ct, req), 200, TryLater)
	})

	t.Run("source panics", func(t *testing.T) {
		src := SourceFunc(func(context.Context, *big.Int) (Status, error) { panic("boom") })
		wantStatus(t, post(t, serve(t, newDelegated(t, p, src)), ct, req), 200, InternalError)
	})

	t.Run("source returns nonsense", func(t *testing.T) {
		for _, st := range []Status{
			{Status: Revoked, Reason: 1},                                                           // no revocation time
			{Status: Revoked, RevokedAt: time.Now(), Reason: 7},                                    // unused reason code
			{Status: Revoked, RevokedAt: time.Now(), Reason: 11},                                   // out of range
			{Status: CertStatus(9)},                                                                // no such status
			{Status: Revoked, RevokedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Reason: -1}, // not encodable
		} {
			src := SourceFunc(func(context.Context, *big.Int) (Status, error) { return st, nil })
			wantStatus(t, post(t, serve(t, newDelegated(t, p, src)), ct, req), 200, InternalError)
		}
	})

	t.Run("unconfigured responder", func(t *testing.T) {
		wantStatus(t, post(t, serve(t, &Responder{}), ct, req), 200, InternalError)
	})
}

// tooManyRequest encodes a request with more CertIDs than ParseRequest
// accepts (Marshal refuses to).
func tooManyRequest(t *testing.T, r Request) []byte {
	t.Helper()
	var list [][]byte
	for _, id := range r.Certs {
		list = append(list, der.TLV(der.TagSequence, id.Raw))
	}
	return der.TLV(der.TagSequence, der.TLV(der.TagSequence, der.TLV(der.TagSequence, list...)))
}

// signedRequest adds an (unverifiable) optionalSignature to a request.
func signedRequest(t *testing.T, req []byte) []byte {
	t.Helper()
	r := der.NewReader(req, "request")
	v, err := r.Read(der.TagSequence, "OCSPRequest")
	if err != nil {
		t.Fatal(err)
	}
	sig := der.TLV(der.ContextCons(0), der.TLV(der.TagSequence,
		der.TLV(der.TagSequence, der.MustOID(der.OIDECDSAWithSHA256)),
		der.TLV(der.TagBitString, []byte{0, 1, 2, 3})))
	return der.TLV(der.TagSequence, v.Content, sig)
}

// requestWithNonceValue encodes a request for id with the given nonce
// extension value.
func requestWithNonceValue(t *testing.T, id CertID, value []byte) []byte {
	t.Helper()
	ext := der.TLV(der.TagSequence, der.MustOID(oidNonce), der.TLV(der.TagOctetString, value))
	return der.TLV(der.TagSequence, der.TLV(der.TagSequence,
		der.TLV(der.TagSequence, der.TLV(der.TagSequence, id.Raw)),
		der.TLV(der.ContextCons(2), der.TLV(der.TagSequence, ext))))
}
