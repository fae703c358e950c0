package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strings"
	"time"
)

// maxResponseSize caps the response body the client reads.
const maxResponseSize = 1 << 20

var defaultHTTPClient = &http.Client{Timeout: 10 * time.Second}

// Client requests and verifies time-stamp tokens.
type Client struct {
	// URL is the authority's endpoint.
	URL string
	// HTTPClient sends the requests; nil means a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// Verify holds the verification options (Roots etc.). HashAlgorithm,
	// HashedMessage and Nonce are filled per call; a non-nil Policy is also
	// sent as the request's reqPolicy.
	Verify VerifyOptions
}

// Timestamp asks for a token over digest, already hashed with h. The
// request carries a fresh random 64-bit nonce and certReq. A response that
// is not granted yields a *StatusError; otherwise the token is verified
// against c.Verify, the digest and the nonce before it is returned.
func (c *Client) Timestamp(ctx context.Context, h crypto.Hash, digest []byte) (*Token, error) {
	if !strongHash(h) {
		return nil, fmt.Errorf("tsa: unsupported hash algorithm %v", h)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("tsa: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	var nb [8]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return nil, fmt.Errorf("tsa: nonce: %w", err)
	}
	nonce := new(big.Int).SetBytes(nb[:])
	req := &Request{
		HashAlgorithm: h,
		HashedMessage: digest,
		Policy:        c.Verify.Policy,
		Nonce:         nonce,
		CertReq:       true,
	}
	der, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(der))
	if err != nil {
		return nil, fmt.Errorf("tsa: %w", err)
	}
	hreq.Header.Set("Content-Type", ContentTypeQuery)
	hreq.Header.Set("Accept", ContentTypeReply)
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	hresp, err := hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("tsa: %w", err)
	}
	defer hresp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("tsa: reading response: %w", err)
	}
	if len(body) > maxResponseSize {
		return nil, fmt.Errorf("tsa: response exceeds %d bytes", maxResponseSize)
	}
	mt, _, _ := mime.ParseMediaType(hresp.Header.Get("Content-Type"))
	if mt != ContentTypeReply {
		if hresp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("tsa: HTTP status %s: %s", hresp.Status, snippet(body))
		}
		return nil, fmt.Errorf("tsa: unexpected response Content-Type %q", hresp.Header.Get("Content-Type"))
	}
	resp, err := ParseResponse(body)
	if err != nil {
		if hresp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("tsa: HTTP status %s", hresp.Status)
		}
		return nil, err
	}
	if !granted(resp.Status) {
		return nil, &StatusError{Status: resp.Status, FailInfo: resp.FailInfo, Text: strings.Join(resp.StatusText, "; ")}
	}
	if hresp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tsa: HTTP status %s with a granted response", hresp.Status)
	}
	tok, err := ParseToken(resp.Token)
	if err != nil {
		return nil, err
	}
	opts := c.Verify
	opts.HashAlgorithm = h
	opts.HashedMessage = digest
	opts.Nonce = nonce
	if err := tok.Verify(opts); err != nil {
		return nil, err
	}
	return tok, nil
}

// snippet returns the start of a (text) error body for error messages.
func snippet(b []byte) string {
	const limit = 200
	s := strings.TrimSpace(string(b))
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	if !isPrintable(s) {
		return fmt.Sprintf("%d bytes", len(b))
	}
	return s
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}
