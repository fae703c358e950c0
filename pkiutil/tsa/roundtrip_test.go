package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/der"
)

func TestClientRoundTrip(t *testing.T) {
	p := fixture(t)
	for _, kt := range []struct {
		name string
		tsa  testCA
	}{{"ECDSA-P256", p.ecTSA}, {"RSA-2048", p.rsaTSA}} {
		t.Run(kt.name, func(t *testing.T) {
			srv := startServer(t, newTestAuthority(t, p, kt.tsa, nil))
			c := &Client{URL: srv.URL, Verify: VerifyOptions{Roots: p.roots, MaxAge: time.Minute}}
			digest := digestOf("hello federation")
			before := time.Now().Add(-time.Second)
			tok, err := c.Timestamp(context.Background(), crypto.SHA256, digest)
			if err != nil {
				t.Fatalf("Timestamp: %v", err)
			}
			switch {
			case !bytes.Equal(tok.HashedMessage, digest) || tok.HashAlgorithm != crypto.SHA256:
				t.Errorf("imprint = %v %x", tok.HashAlgorithm, tok.HashedMessage)
			case tok.Nonce == nil:
				t.Error("no nonce in token")
			case !tok.Policy.Equal(testPolicy):
				t.Errorf("policy = %v", tok.Policy)
			case tok.Signer == nil || !tok.Signer.Equal(kt.tsa.cert):
				t.Error("signer certificate not found in token")
			case len(tok.Certificates) != 2:
				t.Errorf("token carries %d certificates, want 2", len(tok.Certificates))
			case tok.Accuracy != time.Second:
				t.Errorf("accuracy = %v", tok.Accuracy)
			case tok.GenTime.Before(before) || tok.GenTime.After(time.Now()):
				t.Errorf("genTime %v not within the request", tok.GenTime)
			case tok.SerialNumber.Sign() <= 0:
				t.Errorf("serial = %v", tok.SerialNumber)
			}

			base := VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest, Nonce: tok.Nonce, Policy: testPolicy}
			otherRoots := x509.NewCertPool()
			otherRoots.AddCert(newCA(t, "Other Root", nil).cert)
			for _, tc := range []struct {
				name   string
				mutate func(*VerifyOptions)
				want   error
			}{
				{"ok", func(*VerifyOptions) {}, nil},
				{"ok fresh", func(o *VerifyOptions) { o.MaxAge = time.Minute }, nil},
				{"other digest", func(o *VerifyOptions) { o.HashedMessage = digestOf("something else") }, ErrImprintMismatch},
				{"other hash algorithm", func(o *VerifyOptions) {
					d := sha512.Sum384([]byte("hello federation"))
					o.HashAlgorithm, o.HashedMessage = crypto.SHA384, d[:]
				}, ErrImprintMismatch},
				{"wrong nonce", func(o *VerifyOptions) { o.Nonce = new(big.Int).Add(tok.Nonce, big.NewInt(1)) }, ErrNonceMismatch},
				{"wrong policy", func(o *VerifyOptions) { o.Policy = asn1.ObjectIdentifier{1, 2, 3} }, ErrPolicyMismatch},
				{"stale", func(o *VerifyOptions) { o.Now, o.MaxAge = tok.GenTime.Add(2*time.Hour), time.Hour }, ErrStale},
				{"future", func(o *VerifyOptions) { o.Now, o.MaxAge = tok.GenTime.Add(-2*time.Minute), time.Hour }, ErrFuture},
				{"untrusted roots", func(o *VerifyOptions) { o.Roots = otherRoots }, ErrChain},
				{"chain checked after expiry", func(o *VerifyOptions) { o.CheckChainAt = time.Now().Add(72 * time.Hour) }, ErrChain},
				{"verified after expiry", func(o *VerifyOptions) { o.Now = time.Now().Add(72 * time.Hour) }, ErrChain},
				{"archived: chain at genTime", func(o *VerifyOptions) {
					o.Now, o.CheckChainAt = time.Now().Add(72*time.Hour), tok.GenTime
				}, nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					opts := base
					tc.mutate(&opts)
					err := tok.Verify(opts)
					t.Logf("Verify: %v", err)
					if tc.want == nil && err != nil {
						t.Fatalf("Verify: %v", err)
					}
					if tc.want != nil && !errors.Is(err, tc.want) {
						t.Fatalf("Verify error = %v, want %v", err, tc.want)
					}
				})
			}
		})
	}
}

// TestGenTimeOutsideCertificate: a token whose genTime lies outside the
// TSA certificate's validity is refused even if the chain is valid now.
func TestGenTimeOutsideCertificate(t *testing.T) {
	p := fixture(t)
	a := newTestAuthority(t, p, p.ecTSA, nil)
	early := p.ecTSA.cert.NotBefore.Add(-time.Hour)
	// Make Respond believe the certificate is valid then (Raw is unchanged).
	c := *p.ecTSA.cert
	c.NotBefore = early.Add(-time.Hour)
	a.Cert = &c
	a.Now = func() time.Time { return early }
	digest := digestOf("early")
	tok := issue(t, a, &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, CertReq: true})
	err := tok.Verify(VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest})
	if !errors.Is(err, ErrChain) || !strings.Contains(err.Error(), "outside the signer certificate's validity") {
		t.Fatalf("Verify = %v, want ErrChain for genTime before NotBefore", err)
	}
}

func TestClientHashAlgorithms(t *testing.T) {
	p := fixture(t)
	srv := startServer(t, newTestAuthority(t, p, p.ecTSA, nil))
	c := &Client{URL: srv.URL, Verify: VerifyOptions{Roots: p.roots, Policy: testPolicy}}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := h.New()
		d.Write([]byte("data"))
		tok, err := c.Timestamp(context.Background(), h, d.Sum(nil))
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if tok.HashAlgorithm != h {
			t.Errorf("%v: token hash %v", h, tok.HashAlgorithm)
		}
	}
	// Client-side argument checks.
	if _, err := c.Timestamp(context.Background(), crypto.SHA1, make([]byte, 20)); err == nil {
		t.Error("SHA-1 digest accepted by the client")
	}
	if _, err := c.Timestamp(context.Background(), crypto.SHA256, make([]byte, 31)); err == nil {
		t.Error("short digest accepted by the client")
	}
}

func TestClientStatusError(t *testing.T) {
	p := fixture(t)
	srv := startServer(t, newTestAuthority(t, p, p.ecTSA, nil))
	c := &Client{URL: srv.URL, Verify: VerifyOptions{Roots: p.roots, Policy: asn1.ObjectIdentifier{1, 2, 3, 4}}}
	_, err := c.Timestamp(context.Background(), crypto.SHA256, digestOf("x"))
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *StatusError", err)
	}
	if se.Status != StatusRejection || se.FailInfo != FailUnacceptedPolicy || se.Text == "" {
		t.Errorf("StatusError = %+v", se)
	}
	if !strings.Contains(se.Error(), "unacceptedPolicy") {
		t.Errorf("message %q does not name the failure", se.Error())
	}

	// A cancelled context fails the call.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Timestamp(ctx, crypto.SHA256, digestOf("x")); err == nil {
		t.Error("Timestamp with a cancelled context succeeded")
	}
}

func TestUnrelatedCA(t *testing.T) {
	p := fixture(t)
	other, err := newTestPKI(t, "Unrelated")
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, newTestAuthority(t, other, other.ecTSA, nil))
	c := &Client{URL: srv.URL, Verify: VerifyOptions{Roots: p.roots}}
	if _, err := c.Timestamp(context.Background(), crypto.SHA256, digestOf("x")); !errors.Is(err, ErrChain) {
		t.Fatalf("token from an unrelated CA: err = %v, want ErrChain", err)
	}
	// Supplying the unrelated issuing CA as an intermediate does not help.
	c.Verify.Intermediates = x509.NewCertPool()
	c.Verify.Intermediates.AddCert(other.issuing.cert)
	if _, err := c.Timestamp(context.Background(), crypto.SHA256, digestOf("x")); !errors.Is(err, ErrChain) {
		t.Fatalf("token from an unrelated CA with intermediates: err = %v, want ErrChain", err)
	}
}

func TestTamperedToken(t *testing.T) {
	p := fixture(t)
	a := newTestAuthority(t, p, p.ecTSA, nil)
	digest := digestOf("tamper")
	tok := issue(t, a, &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, CertReq: true})
	opts := VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest}
	if err := tok.Verify(opts); err != nil {
		t.Fatal(err)
	}
	_, st, err := parseToken(tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	flipAt := func(needle []byte, delta int) []byte {
		i := bytes.Index(tok.Raw, needle)
		if i < 0 {
			t.Fatal("needle not found in token")
		}
		b := bytes.Clone(tok.Raw)
		b[i+delta] ^= 0x01
		return b
	}
	serial := der.Integer(tok.SerialNumber)
	for _, tc := range []struct {
		name string
		raw  []byte
		want error
	}{
		{"hashedMessage in TSTInfo", flipAt(digest, 5), ErrSignature},
		{"serialNumber in TSTInfo", flipAt(append(serial, byte(der.TagGeneralizedTime)), len(serial)-1), ErrSignature},
		{"genTime in TSTInfo", flipAt([]byte(tok.GenTime.Format("20060102150405")), 13), ErrSignature},
		{"signature", flipAt(st.signature, len(st.signature)-1), ErrSignature},
		{"messageDigest attribute", flipAt(st.messageDigest, 0), ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tampered, err := ParseToken(tc.raw)
			if err != nil {
				t.Fatalf("tampered token no longer parses (test needs a structure-preserving change): %v", err)
			}
			err = tampered.Verify(opts)
			t.Logf("Verify: %v", err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	// Changing the parsed fields does not fool Verify: it works on Raw.
	forged := *tok
	forged.HashedMessage = digestOf("forged")
	if err := forged.Verify(VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: forged.HashedMessage}); !errors.Is(err, ErrImprintMismatch) {
		t.Fatalf("forged field: %v", err)
	}
}

func TestTokenWithoutCertificates(t *testing.T) {
	p := fixture(t)
	a := newTestAuthority(t, p, p.rsaTSA, nil)
	digest := digestOf("no certs")
	tok := issue(t, a, &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest})
	if len(tok.Certificates) != 0 || tok.Signer != nil {
		t.Fatalf("token without certReq carries %d certificates", len(tok.Certificates))
	}
	opts := VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest}
	if err := tok.Verify(opts); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("no certificate: %v, want ErrNoSigner", err)
	}
	opts.TSACert = p.ecTSA.cert
	if err := tok.Verify(opts); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("wrong TSACert: %v, want ErrNoSigner", err)
	}
	opts.TSACert = p.rsaTSA.cert
	if err := tok.Verify(opts); !errors.Is(err, ErrChain) {
		t.Fatalf("missing intermediate: %v, want ErrChain", err)
	}
	opts.Intermediates = x509.NewCertPool()
	opts.Intermediates.AddCert(p.issuing.cert)
	if err := tok.Verify(opts); err != nil {
		t.Fatalf("with TSACert and intermediates: %v", err)
	}
}

// twin returns a certificate with the same issuer, serial number and key as
// c but otherwise built from tmpl.
func twin(t *testing.T, p *testPKI, c testCA, style ekuStyle) *x509.Certificate {
	tmpl := tsaTemplate(t, style)
	tmpl.SerialNumber = c.cert.SerialNumber
	tmpl.NotAfter = c.cert.NotAfter.Add(time.Hour)
	return createCert(t, tmpl, p.issuing.cert, c.key.Public(), p.issuing.key)
}

func TestSigningCertificateAttribute(t *testing.T) {
	p := fixture(t)
	a := newTestAuthority(t, p, p.ecTSA, nil)
	digest := digestOf("ess")
	tok := issue(t, a, &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest})
	opts := VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest, TSACert: twin(t, p, p.ecTSA, tsaEKUCritical)}
	opts.Intermediates = x509.NewCertPool()
	opts.Intermediates.AddCert(p.issuing.cert)
	if err := tok.Verify(opts); !errors.Is(err, ErrSigningCertificate) {
		t.Fatalf("twin certificate: %v, want ErrSigningCertificate", err)
	}
}

func TestVerifyRequiresTimeStampingEKU(t *testing.T) {
	p := fixture(t)
	for _, style := range []ekuStyle{tsaEKUNonCritical, tsaEKUNone, tsaEKUExtra} {
		bad := twin(t, p, p.ecTSA, style)
		// Bypass NewAuthority's check to produce such a token.
		a := *newTestAuthority(t, p, p.ecTSA, nil)
		a.Cert = bad
		var err error
		if a.p, err = prepare(&a); err != nil {
			t.Fatal(err)
		}
		digest := digestOf("eku")
		tok := issue(t, &a, &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, CertReq: true})
		err = tok.Verify(VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest})
		if !errors.Is(err, ErrEKU) {
			t.Errorf("style %d: Verify = %v, want ErrEKU", style, err)
		}
	}
}

func TestNewAuthority(t *testing.T) {
	p := fixture(t)
	good := Authority{
		Signer:  p.ecTSA.key,
		Cert:    p.ecTSA.cert,
		Chain:   []*x509.Certificate{p.issuing.cert, p.root.cert},
		Policy:  testPolicy,
		Serials: new(memSerials),
	}
	if _, err := NewAuthority(good); err != nil {
		t.Fatalf("valid authority refused: %v", err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	noEKU := newTSA(t, &p.issuing, p.ecTSA.key, tsaEKUNone)
	nonCritical := newTSA(t, &p.issuing, p.ecTSA.key, tsaEKUNonCritical)
	extra := newTSA(t, &p.issuing, p.ecTSA.key, tsaEKUExtra)
	badKU := tsaTemplate(t, tsaEKUCritical)
	badKU.KeyUsage = x509.KeyUsageKeyEncipherment
	wrongKU := createCert(t, badKU, p.issuing.cert, p.ecTSA.key.Public(), p.issuing.key)

	for _, tc := range []struct {
		name   string
		mutate func(*Authority)
		want   string
		is     error
	}{
		{"no EKU", func(a *Authority) { a.Cert = noEKU.cert }, "tsa: certificate lacks critical timeStamping extended key usage", ErrEKU},
		{"non-critical EKU", func(a *Authority) { a.Cert = nonCritical.cert }, "not critical", ErrEKU},
		{"extra EKU", func(a *Authority) { a.Cert = extra.cert }, "only timeStamping", ErrEKU},
		{"key encipherment", func(a *Authority) { a.Cert = wrongKU }, "key usage", ErrEKU},
		{"nil signer", func(a *Authority) { a.Signer = nil }, "Signer is required", nil},
		{"nil cert", func(a *Authority) { a.Cert = nil }, "Cert is required", nil},
		{"nil serials", func(a *Authority) { a.Serials = nil }, "Serials is required", nil},
		{"no policy", func(a *Authority) { a.Policy = nil }, "Policy is required", nil},
		{"invalid policy", func(a *Authority) { a.Policy = asn1.ObjectIdentifier{7} }, "Policy", nil},
		{"negative accuracy", func(a *Authority) { a.Accuracy = -time.Second }, "Accuracy", nil},
		{"key mismatch", func(a *Authority) { a.Signer = p.rsaTSA.key }, "does not match", nil},
		{"expired", func(a *Authority) { a.Now = func() time.Time { return time.Now().Add(100 * time.Hour) } }, "not valid", nil},
		{"wrong chain", func(a *Authority) { a.Chain = []*x509.Certificate{p.root.cert} }, "Chain[0]", nil},
		{"nil chain entry", func(a *Authority) { a.Chain = []*x509.Certificate{nil} }, "Chain[0]", nil},
		{"P-224", func(a *Authority) {
			c := newTSA(t, &p.issuing, p224, tsaEKUCritical)
			a.Signer, a.Cert = c.key, c.cert
		}, "curve", nil},
		{"RSA-1024", func(a *Authority) {
			c := newTSA(t, &p.issuing, rsa1024, tsaEKUCritical)
			a.Signer, a.Cert = c.key, c.cert
		}, "too small", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			tc.mutate(&a)
			_, err := NewAuthority(a)
			t.Logf("NewAuthority: %v", err)
			if err == nil {
				t.Fatal("NewAuthority accepted an invalid configuration")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}

	// P-384 keys are supported and sign with SHA-384.
	c := newTSA(t, &p.issuing, p384, tsaEKUCritical)
	a := newTestAuthority(t, p, c, nil)
	digest := digestOf("p384")
	tok := issue(t, a, &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, CertReq: true})
	if err := tok.Verify(VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest}); err != nil {
		t.Fatalf("P-384 token: %v", err)
	}
	// An Authority not made by NewAuthority refuses to work.
	if _, err := new(Authority).Respond(&Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest}); err == nil {
		t.Error("zero Authority responded")
	}
}

func TestAccuracyAndGenTimePrecision(t *testing.T) {
	p := fixture(t)
	for _, tc := range []struct {
		accuracy time.Duration
		wantAcc  time.Duration
		prec     time.Duration
	}{
		{0, 0, time.Second},
		{time.Minute, time.Minute, time.Second},
		{1500 * time.Millisecond, 1500 * time.Millisecond, time.Millisecond},
		{2*time.Second + 3*time.Millisecond + 4*time.Microsecond, 2*time.Second + 3*time.Millisecond + 4*time.Microsecond, time.Millisecond},
		{500 * time.Nanosecond, time.Microsecond, time.Microsecond},
	} {
		fixed := time.Now().Truncate(time.Second).Add(123456789 * time.Nanosecond)
		a, err := NewAuthority(Authority{
			Signer: p.ecTSA.key, Cert: p.ecTSA.cert, Policy: testPolicy, Serials: new(memSerials),
			Accuracy: tc.accuracy, Now: func() time.Time { return fixed },
		})
		if err != nil {
			t.Fatal(err)
		}
		tok := issue(t, a, &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digestOf("acc")})
		if tok.Accuracy != tc.wantAcc {
			t.Errorf("accuracy %v: token says %v", tc.accuracy, tok.Accuracy)
		}
		if want := fixed.UTC().Truncate(tc.prec); !tok.GenTime.Equal(want) {
			t.Errorf("accuracy %v: genTime %v, want %v", tc.accuracy, tok.GenTime, want)
		}
	}
}

func TestRequestRoundTrip(t *testing.T) {
	for _, req := range []*Request{
		{HashAlgorithm: crypto.SHA256, HashedMessage: digestOf("a")},
		{HashAlgorithm: crypto.SHA256, HashedMessage: digestOf("b"), Policy: testPolicy, Nonce: big.NewInt(0), CertReq: true},
		{HashAlgorithm: crypto.SHA384, HashedMessage: make([]byte, 48), Nonce: new(big.Int).Lsh(big.NewInt(1), 100)},
		{HashAlgorithm: crypto.SHA512, HashedMessage: make([]byte, 64), Nonce: big.NewInt(-5)},
		{HashAlgorithm: crypto.SHA1, HashedMessage: make([]byte, 20)},
	} {
		der, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRequest(der)
		if err != nil {
			t.Fatalf("ParseRequest(%x): %v", der, err)
		}
		if !sameRequest(req, got) {
			t.Errorf("round trip changed %+v into %+v", req, got)
		}
	}
	for _, bad := range []*Request{
		{HashAlgorithm: crypto.MD5, HashedMessage: make([]byte, 16)},
		{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 20)},
		{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 32), Policy: asn1.ObjectIdentifier{5, 1}},
	} {
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("Marshal accepted %+v", bad)
		}
	}
}

func sameRequest(a, b *Request) bool {
	return a.HashAlgorithm == b.HashAlgorithm &&
		bytes.Equal(a.HashedMessage, b.HashedMessage) &&
		a.Policy.Equal(b.Policy) &&
		(a.Nonce == nil) == (b.Nonce == nil) &&
		(a.Nonce == nil || a.Nonce.Cmp(b.Nonce) == 0) &&
		a.CertReq == b.CertReq
}

func TestResponseRoundTrip(t *testing.T) {
	p := fixture(t)
	tok := issue(t, newTestAuthority(t, p, p.ecTSA, nil), &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digestOf("r")})
	for _, r := range []*Response{
		{Status: StatusGranted, FailInfo: -1, Token: tok.Raw},
		{Status: StatusGrantedWithMods, FailInfo: -1, StatusText: []string{"ok", "çok iyi"}, Token: tok.Raw},
		{Status: StatusRejection, FailInfo: FailBadAlg, StatusText: []string{"no"}},
		{Status: StatusRejection, FailInfo: FailSystemFailure},
		{Status: StatusWaiting, FailInfo: -1},
	} {
		der, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseResponse(der)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != r.Status || got.FailInfo != r.FailInfo || !bytes.Equal(got.Token, r.Token) || strings.Join(got.StatusText, "|") != strings.Join(r.StatusText, "|") {
			t.Errorf("round trip changed %+v into %+v", r, got)
		}
	}
	for _, bad := range []*Response{
		{Status: StatusGranted, FailInfo: -1},
		{Status: StatusRejection, FailInfo: 5, Token: tok.Raw},
		{Status: 9, FailInfo: -1},
		{Status: StatusRejection, FailInfo: 5, StatusText: []string{"\xff"}},
	} {
		if _, err := bad.Marshal(); err == nil {
			t.Errorf("Marshal accepted %+v", bad)
		}
	}
	got, err := ParseResponse(systemFailureDER)
	if err != nil || got.Status != StatusRejection || got.FailInfo != FailSystemFailure {
		t.Errorf("systemFailureDER = %+v, %v", got, err)
	}
}

// TestVerifyMutatedTokens changes every byte of a token in turn: Verify
// must never panic and must reject every change, in the signed TSTInfo and
// attributes as well as in the unsigned CMS wrapping (versions, algorithm
// identifiers, certificates).
func TestVerifyMutatedTokens(t *testing.T) {
	p := fixture(t)
	digest := digestOf("mutate")
	nonce := big.NewInt(77)
	for _, tc := range []struct {
		name    string
		tsa     testCA
		certReq bool
	}{{"ECDSA with certificates", p.ecTSA, true}, {"RSA without certificates", p.rsaTSA, false}} {
		t.Run(tc.name, func(t *testing.T) {
			tok := issue(t, newTestAuthority(t, p, tc.tsa, nil), &Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Nonce: nonce, CertReq: tc.certReq})
			opts := VerifyOptions{Roots: p.roots, HashAlgorithm: crypto.SHA256, HashedMessage: digest, Nonce: nonce}
			if !tc.certReq {
				opts.TSACert, opts.Intermediates = tc.tsa.cert, p.issuingPool()
			}
			if err := tok.Verify(opts); err != nil {
				t.Fatal(err)
			}
			parsed := 0
			for i := range tok.Raw {
				raw := bytes.Clone(tok.Raw)
				raw[i] ^= 0x5a
				mutated, err := ParseToken(raw)
				if err != nil {
					continue
				}
				parsed++
				if err := mutated.Verify(opts); err == nil {
					t.Errorf("token with byte %d changed still verifies", i)
				}
			}
			t.Logf("%d of %d changed tokens parse; all fail Verify", parsed, len(tok.Raw))
		})
	}
}
