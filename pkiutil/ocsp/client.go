package ocsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxResponseBytes caps the size of a fetched response.
const maxResponseBytes = 1 << 20

var defaultHTTPClient = &http.Client{Timeout: 10 * time.Second}

// Client fetches and verifies OCSP responses. The zero value is ready to
// use.
type Client struct {
	// HTTPClient sends the requests; nil means a client with a 10 s
	// timeout.
	HTTPClient *http.Client
	// Hash is the CertID hash algorithm of requests: crypto.SHA1 (the
	// default when zero), SHA256, SHA384 or SHA512.
	Hash crypto.Hash
}

// Fetch POSTs an OCSP request about cert, issued by issuer, with a fresh
// 16-byte random nonce to url, and returns the response verified by Verify.
// opts.Cert, opts.Issuer and opts.Nonce are overwritten with cert, issuer
// and the nonce sent; Now and MaxAge are used as given.
func (c *Client) Fetch(ctx context.Context, url string, cert, issuer *x509.Certificate, opts VerifyOptions) (*Response, error) {
	hc := defaultHTTPClient
	h := crypto.SHA1
	if c != nil {
		if c.HTTPClient != nil {
			hc = c.HTTPClient
		}
		if c.Hash != 0 {
			h = c.Hash
		}
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	body, err := CreateRequest(cert, issuer, h, nonce)
	if err != nil {
		return nil, err
	}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("ocsp: %w", err)
	}
	httpReq.Header.Set("Content-Type", "application/ocsp-request")
	httpReq.Header.Set("Accept", "application/ocsp-response")
	httpResp, err := hc.Do(httpReq)
	if err != nil {
		return nil, fmt.Errorf("ocsp: %w", err)
	}
	defer httpResp.Body.Close()
	der, err := io.ReadAll(io.LimitReader(httpResp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("ocsp: reading response from %s: %w", url, err)
	}
	if len(der) > maxResponseBytes {
		return nil, fmt.Errorf("ocsp: response from %s larger than %d bytes", url, maxResponseBytes)
	}
	if httpResp.StatusCode != http.StatusOK {
		err := fmt.Errorf("ocsp: HTTP status %q from %s", httpResp.Status, url)
		if st, _, perr := parseResponse(der); perr == nil && st != Successful {
			err = fmt.Errorf("%w: %w", err, &ResponseError{Status: st})
		}
		return nil, err
	}
	opts.Cert, opts.Issuer, opts.Nonce = cert, issuer, nonce
	resp, err := Verify(der, opts)
	if err != nil {
		return nil, fmt.Errorf("%w (response from %s)", err, url)
	}
	return resp, nil
}
