package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/sluz/sluz/internal/der"
)

func TestFetchGoodRevokedUnknown(t *testing.T) {
	p := getPKI(t)
	src := newMemSource(p)
	url := serve(t, newDelegated(t, p, src))
	ctx := context.Background()
	var c Client

	resp, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != Good || resp.Reason != -1 || !resp.RevokedAt.IsZero() {
		t.Fatalf("got %v reason %d revokedAt %v, want good", resp.Status, resp.Reason, resp.RevokedAt)
	}
	if resp.SerialNumber.Cmp(p.leaf.SerialNumber) != 0 {
		t.Fatalf("serial %v", resp.SerialNumber)
	}
	if d := resp.NextUpdate.Sub(resp.ThisUpdate); d != DefaultValidity {
		t.Fatalf("nextUpdate - thisUpdate = %v, want %v", d, DefaultValidity)
	}
	if !resp.ProducedAt.Equal(resp.ThisUpdate) || time.Since(resp.ThisUpdate) > time.Minute {
		t.Fatalf("producedAt %v thisUpdate %v", resp.ProducedAt, resp.ThisUpdate)
	}
	// An independent parser agrees, including on the delegated signature.
	x, err := xocsp.ParseResponseForCert(resp.Raw, p.leaf, p.issuing)
	if err != nil {
		t.Fatalf("x/crypto/ocsp rejects our response: %v", err)
	}
	if x.Status != xocsp.Good || x.Certificate == nil || !bytes.Equal(x.Certificate.Raw, p.responder.Raw) {
		t.Fatalf("x/crypto/ocsp: status %d, certificate %v", x.Status, x.Certificate)
	}

	revokedAt := time.Date(2025, 3, 4, 5, 6, 7, 890, time.UTC)
	src.set(p.leafSerial, Status{Status: Revoked, RevokedAt: revokedAt, Reason: 1})
	resp, err = c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != Revoked || resp.Reason != 1 || !resp.RevokedAt.Equal(revokedAt.Truncate(time.Second)) {
		t.Fatalf("got %v reason %d at %v, want revoked keyCompromise at %v", resp.Status, resp.Reason, resp.RevokedAt, revokedAt)
	}
	x, err = xocsp.ParseResponseForCert(resp.Raw, p.leaf, p.issuing)
	if err != nil || x.Status != xocsp.Revoked || x.RevocationReason != xocsp.KeyCompromise {
		t.Fatalf("x/crypto/ocsp: %v, %+v", err, x)
	}

	// Revoked without a reason: no reason in the response.
	src.set(p.leafSerial, Status{Status: Revoked, RevokedAt: revokedAt, Reason: -1})
	resp, err = c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
	if err != nil || resp.Status != Revoked || resp.Reason != -1 {
		t.Fatalf("revoked without reason: %v %+v", err, resp)
	}

	// The other leaf is still good.
	resp, err = c.Fetch(ctx, url, p.leaf2, p.issuing, VerifyOptions{})
	if err != nil || resp.Status != Good {
		t.Fatalf("leaf2: %v %+v", err, resp)
	}

	resp, err = c.Fetch(ctx, url, p.unknownLeaf, p.issuing, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != Unknown {
		t.Fatalf("unknown serial: got %v", resp.Status)
	}
}

func TestFetchHashAlgorithms(t *testing.T) {
	p := getPKI(t)
	url := serve(t, newDelegated(t, p, newMemSource(p)))
	for _, h := range []crypto.Hash{0, crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		c := Client{Hash: h}
		resp, err := c.Fetch(context.Background(), url, p.leaf, p.issuing, VerifyOptions{})
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		want := h
		if want == 0 {
			want = crypto.SHA1
		}
		x, err := xocsp.ParseResponseForCert(resp.Raw, p.leaf, p.issuing)
		if err != nil {
			t.Fatal(err)
		}
		if x.IssuerHash != want {
			t.Fatalf("asked with %v, response CertID in %v", want, x.IssuerHash)
		}
	}
}

// TestRespondEchoesCertIDs sends one request with several CertIDs in
// different hash algorithms and checks each is answered and echoed as is.
func TestRespondEchoesCertIDs(t *testing.T) {
	p := getPKI(t)
	src := newMemSource(p)
	src.set(p.leaf2Serial, Status{Status: Revoked, RevokedAt: time.Now().Add(-time.Hour), Reason: 4})
	r := newDelegated(t, p, src)
	var req Request
	for i, tc := range []struct {
		h    crypto.Hash
		cert int
	}{{crypto.SHA1, 0}, {crypto.SHA256, 1}, {crypto.SHA384, 2}, {crypto.SHA512, 0}} {
		cert := []*x509.Certificate{p.leaf, p.leaf2, p.unknownLeaf}[tc.cert]
		id, err := NewCertID(cert, p.issuing, tc.h)
		if err != nil {
			t.Fatal(i, err)
		}
		req.Certs = append(req.Certs, id)
	}
	der, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	out := r.Respond(context.Background(), parsed)
	st, b, err := parseResponse(out)
	if err != nil || st != Successful {
		t.Fatalf("status %v, err %v", st, err)
	}
	if len(b.singles) != len(req.Certs) {
		t.Fatalf("%d single responses for %d CertIDs", len(b.singles), len(req.Certs))
	}
	wantStatus := []CertStatus{Good, Revoked, Unknown, Good}
	for i, s := range b.singles {
		if !bytes.Equal(s.id.Raw, parsed.Certs[i].Raw) {
			t.Errorf("single %d: CertID not echoed verbatim", i)
		}
		if s.status != wantStatus[i] {
			t.Errorf("single %d: status %v, want %v", i, s.status, wantStatus[i])
		}
	}
	for i, cert := range []*x509.Certificate{p.leaf, p.leaf2, p.unknownLeaf} {
		resp, err := Verify(out, VerifyOptions{Cert: cert, Issuer: p.issuing})
		if err != nil {
			t.Fatal(i, err)
		}
		if resp.Status != wantStatus[i] {
			t.Errorf("Verify cert %d: %v, want %v", i, resp.Status, wantStatus[i])
		}
	}
}

func TestNonceEchoed(t *testing.T) {
	p := getPKI(t)
	url := serve(t, newDelegated(t, p, newMemSource(p)))
	nonce := []byte("0123456789abcdef")
	der, err := CreateRequest(p.leaf, p.issuing, crypto.SHA256, nonce)
	if err != nil {
		t.Fatal(err)
	}
	hresp := post(t, url, "application/ocsp-request", der)
	if cc := hresp.header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control with a nonce = %q, want no-cache", cc)
	}
	_, b, err := parseResponse(hresp.body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.nonce, encodeNonce(nonce)) {
		t.Fatalf("nonce extension value %x, want %x", b.nonce, encodeNonce(nonce))
	}
	if _, err := Verify(hresp.body, VerifyOptions{Cert: p.leaf, Issuer: p.issuing, Nonce: nonce}); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(hresp.body, VerifyOptions{Cert: p.leaf, Issuer: p.issuing, Nonce: []byte("another nonce...")})
	wantErr(t, err, ErrNonceMismatch)

	// A client that puts the bare nonce into extnValue gets it back as is.
	bare := []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04}
	req, err := ParseRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	req.Nonce, req.nonceExt = bare, bare
	out := newDelegated(t, p, newMemSource(p)).Respond(context.Background(), req)
	if _, b, err = parseResponse(out); err != nil || !bytes.Equal(b.nonce, bare) {
		t.Fatalf("bare nonce: %v, echoed %x", err, b.nonce)
	}
	if _, err := Verify(out, VerifyOptions{Cert: p.leaf, Issuer: p.issuing, Nonce: bare}); err != nil {
		t.Fatal(err)
	}

	// Without a nonce in the request there is none in the response, and a
	// client expecting one rejects it.
	der, _ = CreateRequest(p.leaf, p.issuing, crypto.SHA1, nil)
	hresp = post(t, url, "application/ocsp-request", der)
	if cc := hresp.header.Get("Cache-Control"); !strings.HasPrefix(cc, "max-age=3600") {
		t.Errorf("Cache-Control without a nonce = %q", cc)
	}
	_, err = Verify(hresp.body, VerifyOptions{Cert: p.leaf, Issuer: p.issuing, Nonce: nonce})
	wantErr(t, err, ErrNonceMismatch)
}

func TestIssuerSignedResponses(t *testing.T) {
	p := getPKI(t)
	r, err := NewResponder(Responder{Issuer: p.issuing, SignerCert: p.issuing, Signer: p.issuingKey, Source: newMemSource(p), Validity: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, r)
	resp, err := (&Client{Hash: crypto.SHA256}).Fetch(context.Background(), url, p.leaf, p.issuing, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != Good || resp.NextUpdate.Sub(resp.ThisUpdate) != 10*time.Minute {
		t.Fatalf("%+v", resp)
	}
	_, b, _ := parseResponse(resp.Raw)
	if len(b.certs) != 0 {
		t.Fatalf("issuer-signed response carries %d certificates", len(b.certs))
	}
	if x, err := xocsp.ParseResponseForCert(resp.Raw, p.leaf, p.issuing); err != nil || x.Status != xocsp.Good {
		t.Fatalf("x/crypto/ocsp: %v", err)
	}
}

func TestRSAResponder(t *testing.T) {
	p := getPKI(t)
	r, err := NewResponder(Responder{Issuer: p.issuing, SignerCert: p.rsaResponder, Signer: p.rsaResponderKey, Source: newMemSource(p)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := new(Client).Fetch(context.Background(), serve(t, r), p.leaf, p.issuing, VerifyOptions{})
	if err != nil || resp.Status != Good {
		t.Fatalf("%v %+v", err, resp)
	}
	if _, b, _ := parseResponse(resp.Raw); !b.sigAlg.OID.Equal(der.OIDSHA256WithRSA) {
		t.Fatalf("signature algorithm %v", b.sigAlg)
	}
}

func TestVerifyRejects(t *testing.T) {
	p := getPKI(t)
	src := newMemSource(p)
	ctx := context.Background()
	var c Client
	goodURL := serve(t, newDelegated(t, p, src))

	t.Run("signer without OCSPSigning EKU", func(t *testing.T) {
		// NewResponder would refuse this configuration; a literal is used as is.
		url := serve(t, &Responder{Issuer: p.issuing, SignerCert: p.noEKU, Signer: p.noEKUKey, Source: src})
		_, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
		wantErr(t, err, ErrResponder)
	})
	t.Run("unrelated CA's responder", func(t *testing.T) {
		url := serve(t, &Responder{Issuer: p.issuing, SignerCert: p.otherResponder, Signer: p.otherResponderKey, Source: src})
		_, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
		wantErr(t, err, ErrResponder)
	})
	t.Run("unrelated CA itself", func(t *testing.T) {
		url := serve(t, &Responder{Issuer: p.issuing, SignerCert: p.otherRoot, Signer: p.otherRootKey, Source: src})
		_, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
		wantErr(t, err, ErrResponder)
	})
	t.Run("delegated responder not valid at Now", func(t *testing.T) {
		_, err := c.Fetch(ctx, goodURL, p.leaf, p.issuing, VerifyOptions{Now: p.responder.NotAfter.Add(time.Minute)})
		wantErr(t, err, ErrResponder)
	})
	t.Run("tampered response data", func(t *testing.T) {
		url := serve(t, tamper(goodURL, func(b []byte) {
			// Change the seconds of producedAt (the first encoded time).
			_, resp, err := parseResponse(b)
			if err != nil {
				panic(err)
			}
			at, _ := der.GeneralizedTime(resp.producedAt)
			i := bytes.Index(b, at)
			b[i+len(at)-2] ^= 1 // last seconds digit, stays a digit
		}))
		_, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
		wantErr(t, err, ErrSignature)
	})
	t.Run("tampered signature", func(t *testing.T) {
		url := serve(t, tamper(goodURL, func(b []byte) {
			// The signature BIT STRING precedes the [0] certs; flip a
			// byte in its middle (the r INTEGER of the ECDSA signature).
			i := bytes.Index(b, der.MustOID(der.OIDECDSAWithSHA256))
			b[i+len(der.MustOID(der.OIDECDSAWithSHA256))+10] ^= 0x40
		}))
		_, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
		wantErr(t, err, ErrSignature)
	})
	t.Run("stale", func(t *testing.T) {
		_, err := c.Fetch(ctx, goodURL, p.leaf, p.issuing, VerifyOptions{Now: time.Now().Add(10 * time.Minute), MaxAge: 5 * time.Minute})
		wantErr(t, err, ErrStale)
		// Within MaxAge it is accepted.
		if _, err := c.Fetch(ctx, goodURL, p.leaf, p.issuing, VerifyOptions{Now: time.Now().Add(10 * time.Minute), MaxAge: 15 * time.Minute}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		_, err := c.Fetch(ctx, goodURL, p.leaf, p.issuing, VerifyOptions{Now: time.Now().Add(2 * time.Hour)})
		wantErr(t, err, ErrExpired)
	})
	t.Run("from the future", func(t *testing.T) {
		_, err := c.Fetch(ctx, goodURL, p.leaf, p.issuing, VerifyOptions{Now: time.Now().Add(-5 * time.Minute)})
		wantErr(t, err, ErrNotYetValid)
	})
	t.Run("nonce mismatch (replay)", func(t *testing.T) {
		var recorded []byte
		url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if recorded == nil {
				rec := post(t, goodURL, "application/ocsp-request", mustRead(r.Body))
				recorded = rec.body
			}
			w.Header().Set("Content-Type", "application/ocsp-response")
			w.Write(recorded)
		}))
		if _, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{}); err != nil {
			t.Fatal("first (recorded) exchange:", err)
		}
		_, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
		wantErr(t, err, ErrNonceMismatch)
	})
	t.Run("CertID mismatch", func(t *testing.T) {
		resp, err := c.Fetch(ctx, goodURL, p.leaf, p.issuing, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Verify(resp.Raw, VerifyOptions{Cert: p.leaf2, Issuer: p.issuing})
		wantErr(t, err, ErrCertIDMismatch)
		// Same serial, another issuer: the responder's signature is
		// not from that issuer either.
		_, err = Verify(resp.Raw, VerifyOptions{Cert: p.leaf, Issuer: p.otherRoot})
		wantErr(t, err, ErrResponder)
	})
	t.Run("error status", func(t *testing.T) {
		failing := SourceFunc(func(context.Context, *big.Int) (Status, error) { return Status{}, errors.New("database down") })
		url := serve(t, newDelegated(t, p, failing))
		_, err := c.Fetch(ctx, url, p.leaf, p.issuing, VerifyOptions{})
		var re *ResponseError
		if !errors.As(err, &re) || re.Status != TryLater {
			t.Fatalf("got %v, want a tryLater ResponseError", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		_, err := Verify([]byte("not an OCSP response"), VerifyOptions{Cert: p.leaf, Issuer: p.issuing})
		wantErr(t, err, ErrMalformedResponse)
	})
}

func TestNewResponderValidates(t *testing.T) {
	p := getPKI(t)
	src := newMemSource(p)
	for _, tc := range []struct {
		name string
		r    Responder
		ok   bool
	}{
		{"delegated", Responder{Issuer: p.issuing, SignerCert: p.responder, Signer: p.responderKey, Source: src}, true},
		{"issuer itself", Responder{Issuer: p.issuing, SignerCert: p.issuing, Signer: p.issuingKey, Source: src}, true},
		{"RSA delegated", Responder{Issuer: p.issuing, SignerCert: p.rsaResponder, Signer: p.rsaResponderKey, Source: src}, true},
		{"no OCSPSigning EKU", Responder{Issuer: p.issuing, SignerCert: p.noEKU, Signer: p.noEKUKey, Source: src}, false},
		{"unrelated responder", Responder{Issuer: p.issuing, SignerCert: p.otherResponder, Signer: p.otherResponderKey, Source: src}, false},
		{"leaf as signer", Responder{Issuer: p.issuing, SignerCert: p.leaf, Signer: p.responderKey, Source: src}, false},
		{"key mismatch", Responder{Issuer: p.issuing, SignerCert: p.responder, Signer: p.issuingKey, Source: src}, false},
		{"no source", Responder{Issuer: p.issuing, SignerCert: p.responder, Signer: p.responderKey}, false},
		{"no issuer", Responder{SignerCert: p.responder, Signer: p.responderKey, Source: src}, false},
		{"negative timeout", Responder{Issuer: p.issuing, SignerCert: p.responder, Signer: p.responderKey, Source: src, Timeout: -1}, false},
	} {
		r, err := NewResponder(tc.r)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if tc.ok && (r.Validity != DefaultValidity || r.Timeout != DefaultTimeout) {
			t.Errorf("%s: defaults not filled: %v %v", tc.name, r.Validity, r.Timeout)
		}
	}
}

// --- helpers -------------------------------------------------------------

type httpResult struct {
	code   int
	header http.Header
	body   []byte
}

func post(t testing.TB, url, contentType string, body []byte) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) httpResult {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{resp.StatusCode, resp.Header, b}
}

func mustRead(r io.Reader) []byte {
	b, err := io.ReadAll(r)
	if err != nil {
		panic(err)
	}
	return b
}

// tamper is a proxy to upstream that lets f modify each response.
func tamper(upstream string, f func([]byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Post(upstream, r.Header.Get("Content-Type"), r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b := mustRead(resp.Body)
		f(b)
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(b)
	})
}

// TestRespondRequestLiterals covers Requests built in Go rather than parsed.
func TestRespondRequestLiterals(t *testing.T) {
	p := getPKI(t)
	r := newDelegated(t, p, newMemSource(p))
	ctx := context.Background()
	id, _ := NewCertID(p.leaf, p.issuing, crypto.SHA256)
	noRaw := id
	noRaw.Raw = nil
	out := r.Respond(ctx, &Request{Certs: []CertID{noRaw}, Nonce: []byte{42}})
	resp, err := Verify(out, VerifyOptions{Cert: p.leaf, Issuer: p.issuing, Nonce: []byte{42}})
	if err != nil || resp.Status != Good {
		t.Fatalf("%v %+v", err, resp)
	}
	// Raw disagreeing with the fields would be echoed unchecked: refused.
	lying := id
	lying.SerialNumber = big.NewInt(1002)
	for _, req := range []*Request{
		nil,
		{},
		{Certs: []CertID{lying}},
		{Certs: []CertID{{HashAlgorithm: crypto.MD5, SerialNumber: big.NewInt(1)}}},
		{Certs: []CertID{{HashAlgorithm: crypto.SHA1}}},
		{Certs: []CertID{id}, Nonce: []byte{}},
	} {
		if st, _, err := parseResponse(r.Respond(ctx, req)); err != nil || st != MalformedRequest {
			t.Errorf("%+v: status %v, err %v", req, st, err)
		}
	}
}

// TestValidAtAgreesWithVerify: for a response Verify accepted, ValidAt at
// another time gives the error Verify gives at that time (none, stale, not
// yet valid, responder expired), and Signer is the delegated responder.
func TestValidAtAgreesWithVerify(t *testing.T) {
	p := getPKI(t)
	var c Client
	url := serve(t, newDelegated(t, p, newMemSource(p)))
	resp, err := c.Fetch(context.Background(), url, p.leaf, p.issuing, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Signer == nil || !resp.Signer.Equal(p.responder) {
		t.Fatalf("Signer = %v, want the delegated responder", resp.Signer)
	}
	const maxAge = time.Hour
	for _, now := range []time.Time{resp.ThisUpdate, resp.ThisUpdate.Add(30 * time.Minute), resp.ThisUpdate.Add(2 * time.Hour),
		resp.ThisUpdate.Add(-2 * time.Minute), p.responder.NotAfter.Add(time.Minute)} {
		_, want := Verify(resp.Raw, VerifyOptions{Cert: p.leaf, Issuer: p.issuing, Now: now, MaxAge: maxAge})
		got := resp.ValidAt(now, maxAge)
		if (got == nil) != (want == nil) || (want != nil && !errors.Is(got, errorKind(want))) {
			t.Errorf("at %v: ValidAt %v, Verify %v", now, got, want)
		}
	}
}

// errorKind is the package error err wraps.
func errorKind(err error) error {
	for _, k := range []error{ErrStale, ErrNotYetValid, ErrExpired, ErrResponder} {
		if errors.Is(err, k) {
			return k
		}
	}
	return err
}
