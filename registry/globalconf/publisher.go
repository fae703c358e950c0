package globalconf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// Publisher serves the current signed configuration over HTTP (GET and
// HEAD). It is safe to Publish while requests are served. The zero value is
// ready to use and answers 503 until something is published.
type Publisher struct {
	cur atomic.Pointer[published]
}

type published struct {
	data    []byte
	etag    string
	version uint64
}

// Publish makes data, the signed document of version, the one served. data
// is copied. Publish does not verify data: publish what Build returned.
func (p *Publisher) Publish(data []byte, version uint64) {
	p.cur.Store(&published{data: bytes.Clone(data), etag: etagFor(data, version), version: version})
}

// Version returns the published version, 0 when none.
func (p *Publisher) Version() uint64 {
	if cur := p.cur.Load(); cur != nil {
		return cur.version
	}
	return 0
}

// etagFor is the strong ETag "<version>-<first 16 hex digits of SHA-256>".
func etagFor(data []byte, version uint64) string {
	h := sha256.Sum256(data)
	return `"` + strconv.FormatUint(version, 10) + "-" + hex.EncodeToString(h[:8]) + `"`
}

// ServeHTTP answers GET and HEAD with the current document, 304 when the
// request's If-None-Match names its ETag, 503 when nothing is published yet
// and 405 for other methods.
func (p *Publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "The global configuration is read with GET or HEAD only.", http.StatusMethodNotAllowed)
		return
	}
	cur := p.cur.Load()
	if cur == nil {
		h.Set("Retry-After", "10")
		http.Error(w, "No global configuration has been published yet; try again later.", http.StatusServiceUnavailable)
		return
	}
	h.Set("ETag", cur.etag)
	h.Set("Cache-Control", "no-cache")
	if etagMatches(r.Header.Values("If-None-Match"), cur.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/xml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(cur.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(cur.data)
	}
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2).
func etagMatches(headers []string, etag string) bool {
	for _, hv := range headers {
		for _, t := range strings.Split(hv, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}
