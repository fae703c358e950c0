package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/der"
)

const (
	// DefaultValidity is used when Responder.Validity is zero.
	DefaultValidity = time.Hour
	// DefaultTimeout is used when Responder.Timeout is zero.
	DefaultTimeout = 5 * time.Second

	// maxRequestBytes caps POST bodies.
	maxRequestBytes = 10 << 10
	// maxGETPath caps the (unescaped) path of GET requests: the base64 of a
	// maximal request plus room for a mount-point prefix.
	maxGETPath = 16 << 10
	// maxGETAttempts caps how many path suffixes are fully decoded when
	// looking for the request in a GET path.
	maxGETAttempts = 8
)

// Responder is an OCSP responder for the certificates of one issuing CA. It
// is an http.Handler. Create it with NewResponder; do not modify it while it
// is serving.
type Responder struct {
	Issuer     *x509.Certificate // the CA whose certificates it answers for
	SignerCert *x509.Certificate // delegated responder cert (issued by Issuer, EKU OCSPSigning) or Issuer itself
	Signer     crypto.Signer     // ECDSA or RSA key of SignerCert
	Source     Source
	Validity   time.Duration    // nextUpdate = thisUpdate + Validity; DefaultValidity when zero
	Now        func() time.Time // nil = time.Now
	Timeout    time.Duration    // per-request deadline for Source; DefaultTimeout when zero
}

// NewResponder validates r and returns a copy with the defaults filled in.
// SignerCert must be Issuer itself, or a certificate issued (and signed) by
// Issuer with the id-kp-OCSPSigning extended key usage (and, if it has a key
// usage extension, digitalSignature); Signer must be the private key of
// SignerCert; Source must be set.
func NewResponder(r Responder) (*Responder, error) {
	switch {
	case r.Issuer == nil:
		return nil, errors.New("ocsp: responder needs an Issuer")
	case r.SignerCert == nil:
		return nil, errors.New("ocsp: responder needs a SignerCert")
	case r.Signer == nil:
		return nil, errors.New("ocsp: responder needs a Signer")
	case r.Source == nil:
		return nil, errors.New("ocsp: responder needs a Source")
	case r.Validity < 0:
		return nil, errors.New("ocsp: negative Validity")
	case r.Timeout < 0:
		return nil, errors.New("ocsp: negative Timeout")
	}
	if r.Validity == 0 {
		r.Validity = DefaultValidity
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultTimeout
	}
	if _, _, err := issuerHashes(r.Issuer, crypto.SHA1); err != nil {
		return nil, err
	}
	pub, ok := r.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(r.SignerCert.PublicKey) {
		return nil, errors.New("ocsp: Signer does not match SignerCert")
	}
	if _, err := signatureAlgorithm(r.Signer.Public()); err != nil {
		return nil, err
	}
	if !isIssuer(r.SignerCert, r.Issuer) {
		if err := checkDelegate(r.SignerCert, r.Issuer); err != nil {
			return nil, fmt.Errorf("ocsp: %w", err)
		}
	}
	return &r, nil
}

// isIssuer reports whether c is the issuer certificate itself (or one with
// the same subject and key).
func isIssuer(c, issuer *x509.Certificate) bool {
	return sameCert(c, issuer) ||
		(bytes.Equal(c.RawSubject, issuer.RawSubject) &&
			bytes.Equal(c.RawSubjectPublicKeyInfo, issuer.RawSubjectPublicKeyInfo))
}

// checkDelegate checks that c is a delegated OCSP responder certificate of
// issuer: issued and signed by it, with the OCSPSigning EKU.
func checkDelegate(c, issuer *x509.Certificate) error {
	if !bytes.Equal(c.RawIssuer, issuer.RawSubject) {
		return errors.New("responder certificate is not issued by the issuer")
	}
	if err := c.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("responder certificate is not signed by the issuer: %w", err)
	}
	hasEKU := false
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageOCSPSigning {
			hasEKU = true
		}
	}
	if !hasEKU {
		return errors.New("responder certificate lacks the OCSPSigning extended key usage")
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("responder certificate key usage lacks digitalSignature")
	}
	return nil
}

// Responses are signed with SHA-256 and these AlgorithmIdentifiers.
var (
	sigECDSAWithSHA256, _ = der.SignatureID(x509.ECDSAWithSHA256)
	sigSHA256WithRSA, _   = der.SignatureID(x509.SHA256WithRSA)
)

// signatureAlgorithm returns the DER AlgorithmIdentifier used to sign with
// a key of type pub.
func signatureAlgorithm(pub crypto.PublicKey) ([]byte, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return sigECDSAWithSHA256, nil
	case *rsa.PublicKey:
		return sigSHA256WithRSA, nil
	}
	return nil, fmt.Errorf("ocsp: unsupported responder key type %T", pub)
}

// answer is a produced OCSPResponse with what the HTTP layer needs to know.
type answer struct {
	der        []byte
	status     ResponseStatus
	thisUpdate time.Time
	nextUpdate time.Time
	nonce      bool
}

// errorResponse is an OCSPResponse carrying only a (non-successful) status.
func errorResponse(s ResponseStatus) answer {
	return answer{der: der.TLV(der.TagSequence, der.Enumerated(int64(s))), status: s}
}

// Respond answers req and returns the DER OCSPResponse: a signed
// BasicOCSPResponse with one SingleResponse per CertID, or an error
// response (malformedRequest, internalError, tryLater, unauthorized). It
// always returns a well-formed response.
func (r *Responder) Respond(ctx context.Context, req *Request) []byte {
	return r.respond(ctx, req).der
}

func (r *Responder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Responder) respond(ctx context.Context, req *Request) (a answer) {
	defer func() {
		if p := recover(); p != nil {
			a = errorResponse(InternalError)
		}
	}()
	if r.Issuer == nil || r.SignerCert == nil || r.Signer == nil || r.Source == nil {
		return errorResponse(InternalError)
	}
	if req == nil || len(req.Certs) == 0 || len(req.Certs) > MaxRequestCerts {
		return errorResponse(MalformedRequest)
	}
	if req.Nonce != nil && (len(req.Nonce) < minNonceLen || len(req.Nonce) > maxNonceLen) {
		return errorResponse(MalformedRequest)
	}
	// Every CertID must name our issuer, in its own hash algorithm.
	ids := make([][]byte, len(req.Certs))
	for i := range req.Certs {
		id := &req.Certs[i]
		if id.SerialNumber == nil {
			return errorResponse(MalformedRequest)
		}
		if _, ok := der.HashOID(id.HashAlgorithm); !ok {
			return errorResponse(MalformedRequest)
		}
		nameHash, keyHash, err := issuerHashes(r.Issuer, id.HashAlgorithm)
		if err != nil {
			return errorResponse(InternalError)
		}
		if !bytes.Equal(nameHash, id.IssuerNameHash) || !bytes.Equal(keyHash, id.IssuerKeyHash) {
			return errorResponse(Unauthorized)
		}
		if ids[i], err = id.marshal(); err != nil || !rawMatches(id) {
			return errorResponse(MalformedRequest)
		}
	}

	statuses, res := r.lookup(ctx, req.Certs)
	if res != Successful {
		return errorResponse(res)
	}

	now := r.now().UTC().Truncate(time.Second)
	validity := r.Validity
	if validity <= 0 {
		validity = DefaultValidity
	}
	next := now.Add(validity).Truncate(time.Second)
	thisDER, err1 := der.GeneralizedTime(now)
	nextDER, err2 := der.GeneralizedTime(next)
	if err1 != nil || err2 != nil {
		return errorResponse(InternalError)
	}
	singles := make([][]byte, len(ids))
	for i, st := range statuses {
		status, err := encodeCertStatus(st)
		if err != nil {
			return errorResponse(InternalError)
		}
		singles[i] = der.TLV(der.TagSequence, ids[i], status, thisDER, der.TLV(der.ContextCons(0), nextDER))
	}
	rid, err := keyID(r.SignerCert)
	if err != nil {
		return errorResponse(InternalError)
	}
	data := [][]byte{
		der.TLV(der.ContextCons(2), der.TLV(der.TagOctetString, rid)), // responderID byKey
		thisDER,                              // producedAt
		der.TLV(der.TagSequence, singles...), // responses
	}
	if req.Nonce != nil {
		value := req.nonceExt
		if value == nil || !bytes.Equal(decodeNonce(value), req.Nonce) {
			value = encodeNonce(req.Nonce)
		}
		data = append(data, der.TLV(der.ContextCons(1), nonceExtensions(value)))
	}
	tbs := der.TLV(der.TagSequence, data...)

	sigAlg, err := signatureAlgorithm(r.Signer.Public())
	if err != nil {
		return errorResponse(InternalError)
	}
	digest := sha256.Sum256(tbs)
	sig, err := r.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return errorResponse(InternalError)
	}
	basic := [][]byte{tbs, sigAlg, der.BitString(sig, 0)}
	if !isIssuer(r.SignerCert, r.Issuer) {
		basic = append(basic, der.TLV(der.ContextCons(0), der.TLV(der.TagSequence, r.SignerCert.Raw)))
	}
	resp := der.TLV(der.TagSequence,
		der.Enumerated(int64(Successful)),
		der.TLV(der.ContextCons(0), der.TLV(der.TagSequence,
			oidBasicResponseDER,
			der.TLV(der.TagOctetString, der.TLV(der.TagSequence, basic...)))))
	return answer{der: resp, status: Successful, thisUpdate: now, nextUpdate: next, nonce: req.Nonce != nil}
}

// rawMatches reports whether id.Raw, when set, encodes id's fields (it is
// echoed in the response, the fields were checked).
func rawMatches(id *CertID) bool {
	if len(id.Raw) == 0 {
		return true
	}
	got, err := parseCertID(id.Raw)
	return err == nil && got.HashAlgorithm == id.HashAlgorithm &&
		bytes.Equal(got.IssuerNameHash, id.IssuerNameHash) &&
		bytes.Equal(got.IssuerKeyHash, id.IssuerKeyHash) &&
		got.SerialNumber.Cmp(id.SerialNumber) == 0
}

// lookup asks the Source about every serial within Timeout. A Source that
// errs, times out or ignores the deadline gives tryLater; one that panics
// gives internalError.
func (r *Responder) lookup(ctx context.Context, ids []CertID) ([]Status, ResponseStatus) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		st    []Status
		err   error
		panic bool
	}
	ch := make(chan result, 1) // buffered: an abandoned lookup does not block
	src := r.Source
	serials := make([]*big.Int, len(ids))
	for i := range ids {
		serials[i] = new(big.Int).Set(ids[i].SerialNumber)
	}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{panic: true}
			}
		}()
		st := make([]Status, len(serials))
		for i, serial := range serials {
			s, err := src.Status(ctx, serial)
			if err != nil {
				ch <- result{err: err}
				return
			}
			st[i] = s
		}
		ch <- result{st: st}
	}()
	select {
	case res := <-ch:
		switch {
		case res.panic:
			return nil, InternalError
		case res.err != nil:
			return nil, TryLater
		}
		return res.st, Successful
	case <-ctx.Done():
		return nil, TryLater
	}
}

// encodeCertStatus encodes the CertStatus CHOICE for st.
func encodeCertStatus(st Status) ([]byte, error) {
	switch st.Status {
	case Good:
		return der.TLV(der.Context(0)), nil
	case Unknown:
		return der.TLV(der.Context(2)), nil
	case Revoked:
		if st.RevokedAt.IsZero() {
			return nil, errors.New("ocsp: revoked status without revocation time")
		}
		t, err := der.GeneralizedTime(st.RevokedAt.Truncate(time.Second))
		if err != nil {
			return nil, err
		}
		parts := [][]byte{t}
		if st.Reason >= 0 {
			if st.Reason > 10 || st.Reason == 7 {
				return nil, fmt.Errorf("ocsp: invalid CRLReason %d", st.Reason)
			}
			parts = append(parts, der.TLV(der.ContextCons(0), der.Enumerated(int64(st.Reason))))
		}
		return der.TLV(der.ContextCons(1), parts...), nil
	}
	return nil, fmt.Errorf("ocsp: invalid certificate status %d", st.Status)
}

// ServeHTTP answers OCSP requests sent with POST (body of type
// application/ocsp-request, at most 10 KiB) or GET (the URL-escaped base64
// of the DER request as the last path segment(s), under any prefix).
// Protocol-level failures are OCSP error responses with HTTP status 200;
// an oversized body gets 413, a wrong Content-Type 415 and an overlong GET
// path 414 (each with a malformedRequest body); other methods get 405.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	wrote := false
	defer func() {
		if p := recover(); p != nil && !wrote {
			writeAnswer(w, http.StatusOK, errorResponse(InternalError))
		}
	}()
	var (
		parsed *Request
		err    error
	)
	switch req.Method {
	case http.MethodGet:
		if req.URL == nil || len(req.URL.Path) > maxGETPath {
			wrote = true
			writeAnswer(w, http.StatusRequestURITooLong, errorResponse(MalformedRequest))
			return
		}
		parsed, err = parseGETPath(req.URL.Path)
	case http.MethodPost:
		if ct := req.Header.Get("Content-Type"); ct != "" {
			mt, _, perr := mime.ParseMediaType(ct)
			if perr != nil || mt != "application/ocsp-request" {
				wrote = true
				writeAnswer(w, http.StatusUnsupportedMediaType, errorResponse(MalformedRequest))
				return
			}
		}
		var body []byte
		body, err = io.ReadAll(http.MaxBytesReader(w, req.Body, maxRequestBytes))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			wrote = true
			writeAnswer(w, http.StatusRequestEntityTooLarge, errorResponse(MalformedRequest))
			return
		}
		if err == nil {
			parsed, err = ParseRequest(body)
		}
	default:
		wrote = true
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a := errorResponse(MalformedRequest)
	if err == nil {
		a = r.respond(req.Context(), parsed)
	}
	wrote = true
	writeAnswer(w, http.StatusOK, a)
}

// writeAnswer writes an OCSP response with its caching headers.
func writeAnswer(w http.ResponseWriter, code int, a answer) {
	h := w.Header()
	h.Set("Content-Type", "application/ocsp-response")
	h.Set("Content-Length", strconv.Itoa(len(a.der)))
	switch {
	case a.status != Successful:
		h.Set("Cache-Control", "no-store")
	case a.nonce:
		h.Set("Cache-Control", "no-cache")
	default:
		maxAge := int64(a.nextUpdate.Sub(a.thisUpdate) / time.Second)
		if maxAge < 0 {
			maxAge = 0
		}
		h.Set("Cache-Control", "max-age="+strconv.FormatInt(maxAge, 10)+", public, no-transform, must-revalidate")
		h.Set("Last-Modified", a.thisUpdate.Format(http.TimeFormat))
		h.Set("Expires", a.nextUpdate.Format(http.TimeFormat))
	}
	w.WriteHeader(code)
	w.Write(a.der)
}

// parseGETPath finds the base64 request in a GET path (RFC 6960 appendix
// A.1). The handler may be mounted under any prefix and standard base64
// contains '/', so every suffix starting after a '/' is a candidate,
// longest first; the first that decodes to a valid request wins. Missing
// padding, the URL-safe alphabet and '+' turned into ' ' are tolerated.
func parseGETPath(p string) (*Request, error) {
	p = strings.NewReplacer(" ", "+", "-", "+", "_", "/").Replace(p)
	end := len(strings.TrimRight(p, "="))
	attempts := 0
	lastErr := errors.New("ocsp: no base64 request in GET path")
	for start := 0; start < end; {
		s := p[start:end]
		if want, ok := base64DERLength(s); ok && want == len(s) {
			der, err := base64.RawStdEncoding.DecodeString(s)
			if err == nil {
				var req *Request
				if req, err = ParseRequest(der); err == nil {
					return req, nil
				}
			}
			lastErr = err
			if attempts++; attempts >= maxGETAttempts {
				break
			}
		}
		i := strings.IndexByte(s, '/')
		if i < 0 {
			break
		}
		start += i + 1
	}
	return nil, lastErr
}

// base64DERLength decodes just the DER header at the start of the
// unpadded base64 string s and returns how many base64 characters the whole
// SEQUENCE it announces takes.
func base64DERLength(s string) (int, bool) {
	k := min(len(s), 8)
	if k%4 == 1 {
		k--
	}
	hdr, err := base64.RawStdEncoding.DecodeString(s[:k])
	if err != nil || len(hdr) < 2 || der.Tag(hdr[0]) != der.TagSequence {
		return 0, false
	}
	total := 0
	switch n := int(hdr[1]); {
	case n < 0x80:
		total = 2 + n
	case n >= 0x81 && n <= 0x83 && len(hdr) >= 2+n-0x80:
		l := 0
		for _, b := range hdr[2 : 2+n-0x80] {
			l = l<<8 | int(b)
		}
		total = 2 + n - 0x80 + l
	default:
		return 0, false
	}
	return (total*4 + 2) / 3, true
}
