package adminapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sluz/sluz/pkiutil"
)

// Client calls the admin API as an operator.
type Client struct {
	BaseURL    string // e.g. https://127.0.0.1:4000
	HTTPClient *http.Client
}

// APIError is a refusal from the registry.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("registry refused (HTTP %d): %s", e.Status, e.Message)
}

// NewClient builds a client that presents the operator certificate
// certFile/keyFile (both optional: without them every call is refused) and
// trusts the registry's TLS certificate through the PEM roots in caFile.
func NewClient(baseURL, certFile, keyFile, caFile string) (*Client, error) {
	if baseURL == "" {
		return nil, errors.New("no registry URL: pass --registry or set SLUZ_REGISTRY_URL")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if caFile != "" {
		certs, err := pkiutil.ReadCertificates(caFile)
		if err != nil {
			return nil, fmt.Errorf("registry CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		for _, c := range certs {
			cfg.RootCAs.AddCert(c)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("give both the operator certificate and its key (--cert and --key)")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("operator certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &Client{
		BaseURL:    strings.TrimSuffix(baseURL, "/"),
		HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}},
	}, nil
}

// Do sends in (JSON-encoded, unless nil) to method path and decodes the
// answer into out (unless nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("adminapi: encoding the request to %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return fmt.Errorf("adminapi: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTPClient.Do(req)
	if err != nil {
		var uerr x509.UnknownAuthorityError
		if errors.As(err, &uerr) {
			return fmt.Errorf("cannot trust the registry's TLS certificate: pass the federation root CA with --ca: %w", err)
		}
		return fmt.Errorf("cannot reach the registry at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the registry's answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding the registry's answer to %s %s: %w", method, path, err)
	}
	return nil
}
