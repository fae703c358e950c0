package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Requests with an attachment (SOAP with attachments, PR-MESS §2.4): the
// request's SOAP part followed by one application/octet-stream part of a
// given size, whose bytes repeat one random block (pattern), so that the
// AttachmentSink can check every byte that arrives without holding it.

// patternSize is the length of the block an attachment's bytes repeat.
const patternSize = 64 << 10

var pattern = func() []byte {
	b := make([]byte, patternSize)
	rand.Read(b)
	return b
}()

const attachmentBoundary = "loadtest-attachment-boundary"

// WithAttachment returns r carrying an attachment of n bytes: its
// requests become multipart/related.
func (r *Request) WithAttachment(n int64) *Request {
	out := *r
	out.attachment = n
	out.ContentType = `multipart/related; type="text/xml"; boundary="` + attachmentBoundary + `"`
	if n <= 16<<20 { // sent from memory, as an IS would send a small file
		out.attachmentBytes = patternBytes(n)
	}
	return &out
}

// Attachment is the size of the request's attachment (0: none).
func (r *Request) Attachment() int64 { return r.attachment }

func patternBytes(n int64) []byte {
	b := make([]byte, n)
	for i := int64(0); i < n; i += patternSize {
		copy(b[i:], pattern)
	}
	return b
}

// multipart framing around the SOAP part and the attachment
func (r *Request) head() []byte {
	return []byte("--" + attachmentBoundary + "\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n")
}

func (r *Request) middle() []byte {
	return []byte("\r\n--" + attachmentBoundary + "\r\nContent-Type: application/octet-stream\r\nContent-ID: <loadtest-attachment>\r\n\r\n")
}

func (r *Request) tail() []byte {
	return []byte("\r\n--" + attachmentBoundary + "--\r\n")
}

// Body is the request with xrd:id id as a stream of known length: an
// attachment of any size is generated as it is read, never held.
func (r *Request) Body(id []byte) (io.Reader, int64) {
	soap := r.soap(nil, id)
	if r.attachment == 0 {
		return bytes.NewReader(soap), int64(len(soap))
	}
	parts := [][]byte{r.head(), soap, r.middle()}
	var n int64
	readers := make([]io.Reader, 0, 5)
	for _, p := range parts {
		readers = append(readers, bytes.NewReader(p))
		n += int64(len(p))
	}
	readers = append(readers, &patternReader{left: r.attachment}, bytes.NewReader(r.tail()))
	return io.MultiReader(readers...), n + r.attachment + int64(len(r.tail()))
}

// patternReader gives left bytes of the repeated pattern.
type patternReader struct {
	left, off int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && p.left > 0 {
		k := copy(b[n:min(len(b), n+int(min(p.left, int64(len(b)-n))))], pattern[p.off%patternSize:])
		n += k
		p.off += int64(k)
		p.left -= int64(k)
	}
	return n, nil
}

// AttachmentSink is a provider IS in front of another (the sample DİN
// handler): it reads a request's attachments to their end, checking each
// byte against the pattern the load generator sends and counting them,
// and passes the SOAP part alone to the next IS as text/xml, whose answer
// it returns. A text/xml request passes unchanged. It holds no
// attachment.
type AttachmentSink struct {
	Next   string // the provider IS's URL
	Client *http.Client
	// Bytes counts the attachment bytes received, all checked.
	Bytes atomic.Int64
	// Reply, if positive, is the size of an attachment the sink adds to
	// each answer (multipart/related, the pattern's bytes, generated as
	// they are sent).
	Reply atomic.Int64
}

func (s *AttachmentSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	body := io.Reader(r.Body)
	if mt, params, err := mime.ParseMediaType(ct); err == nil && mt == "multipart/related" {
		soap, soapType, err := drain(r.Body, params["boundary"], &s.Bytes)
		if err != nil {
			http.Error(w, "attachment sink: "+err.Error(), http.StatusBadRequest)
			return
		}
		body, ct = bytes.NewReader(soap), soapType
		io.Copy(io.Discard, r.Body) // the epilogue, if any: the connection stays reusable
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.Next, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("SOAPAction", r.Header.Get("SOAPAction"))
	resp, err := s.Client.Do(req)
	if err != nil {
		http.Error(w, "attachment sink: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	n := s.Reply.Load()
	if n <= 0 {
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		http.Error(w, "attachment sink: "+err.Error(), http.StatusBadGateway)
		return
	}
	r0 := &Request{attachment: n}
	w.Header().Set("Content-Type", `multipart/related; type="text/xml"; boundary="`+attachmentBoundary+`"`)
	w.WriteHeader(resp.StatusCode)
	for _, p := range [][]byte{r0.head(), answer, r0.middle()} {
		w.Write(p)
	}
	io.Copy(w, &patternReader{left: n})
	w.Write(r0.tail())
}

// drain reads a multipart/related body: the first part whole (the SOAP
// part), the others checked against the pattern and counted in count.
func drain(r io.Reader, boundary string, count *atomic.Int64) ([]byte, string, error) {
	mr := multipart.NewReader(r, boundary)
	p, err := mr.NextRawPart()
	if err != nil {
		return nil, "", fmt.Errorf("no SOAP part: %w", err)
	}
	soap, err := io.ReadAll(io.LimitReader(p, 16<<20))
	if err != nil {
		return nil, "", err
	}
	soapType := p.Header.Get("Content-Type")
	buf := make([]byte, patternSize)
	for n := 1; ; n++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return soap, soapType, nil
		}
		if err != nil {
			return nil, "", fmt.Errorf("attachment %d: %w", n, err)
		}
		var off int64
		br := bufio.NewReaderSize(p, patternSize)
		for {
			k, err := io.ReadFull(br, buf[:patternSize-off%patternSize])
			if k > 0 {
				if !bytes.Equal(buf[:k], pattern[off%patternSize:off%patternSize+int64(k)]) {
					return nil, "", fmt.Errorf("attachment %d differs from what was sent near byte %d", n, off)
				}
				off += int64(k)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				return nil, "", fmt.Errorf("attachment %d: %w", n, err)
			}
		}
		count.Add(off)
	}
}

// TransferResult is one request with a large attachment through a target.
type TransferResult struct {
	Target string `json:"target"`
	Bytes  int64  `json:"attachment_bytes"`
	// ReplyBytes is the answer's attachment bytes, each checked.
	ReplyBytes int64         `json:"reply_attachment_bytes,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
	// RSSGrowth is how far this process's resident set grew above what
	// it was before the transfer (sampled every 5 ms; Linux), servers,
	// generator and provider IS together: each server's growth is at
	// most this. -1 if unknown.
	RSSGrowth int64 `json:"rss_growth_bytes"`
}

// Transfer sends t's request with xrd:id id and an attachment of size
// bytes, generated as it is sent (t must end at an AttachmentSink), checks
// the answer and measures the time and this process's resident set's
// growth. The servers' memory is returned to the system first, so that
// the growth is the transfer's.
func Transfer(ctx context.Context, t *Target, size int64, id string) (*TransferResult, error) {
	if size <= 0 {
		return nil, errors.New("loadtest: a transfer needs an attachment")
	}
	r := t.Request.WithAttachment(size)
	debug.FreeOSMemory()
	client := t.Client
	if client == nil {
		client = NewClient(1)
		defer client.CloseIdleConnections()
	}
	body, n := r.Body([]byte(id))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", r.ContentType)
	base := rss()
	peak := base
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				peak = max(peak, rss())
			}
		}
	}()
	start := time.Now()
	resp, err := client.Do(req)
	var answer []byte
	var replied atomic.Int64
	if err == nil {
		// An answer with attachments (AttachmentSink.Reply) is checked as
		// it streams in, its SOAP part kept.
		if mt, params, perr := mime.ParseMediaType(resp.Header.Get("Content-Type")); perr == nil && mt == "multipart/related" {
			answer, _, err = drain(resp.Body, params["boundary"], &replied)
		} else {
			answer, err = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		}
		resp.Body.Close()
	}
	took := time.Since(start)
	close(done)
	<-sampled
	if err != nil {
		return nil, fmt.Errorf("loadtest: %s: %w", t.Name, err)
	}
	if err := t.Check.Answer(resp.StatusCode, answer, []byte(id)); err != nil {
		return nil, fmt.Errorf("loadtest: %s: %w", t.Name, err)
	}
	res := &TransferResult{Target: t.Name, Bytes: size, ReplyBytes: replied.Load(), Duration: took, RSSGrowth: -1}
	if base > 0 {
		res.RSSGrowth = peak - base
	}
	return res, nil
}

// rss is this process's resident set size in bytes (Linux); 0 if unknown.
func rss() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
