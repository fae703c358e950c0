package globalconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluz/sluz/internal/durable"
)

// ClientOptions configures a Client.
type ClientOptions struct {
	Anchor *Anchor
	// CachePath is the verified copy on disk, written atomically
	// (durable.WriteFile) after each successful verification of a new
	// version. Empty: no cache.
	CachePath  string
	HTTPClient *http.Client  // nil: a client with a 10 s timeout
	Interval   time.Duration // refresh period for Run; default 60 s
	Now        func() time.Time
	Logger     *slog.Logger // nil: discard
}

// Client keeps a security server's copy of the global configuration: it
// downloads, verifies and caches new versions and answers lookups from the
// last good one. Its methods are safe for concurrent use; lookups through
// Current never wait for a refresh.
type Client struct {
	o   ClientOptions
	log *slog.Logger
	cur atomic.Pointer[Snapshot]

	mu        sync.Mutex                // serialises Refresh
	etag      string                    // of the version in use, for If-None-Match; guarded by mu
	rechecked time.Time                 // the last fetch Recheck made, whatever its outcome; guarded by mu
	checked   atomic.Pointer[time.Time] // when the registry last confirmed the copy in use
}

// NewClient checks the options and loads the cache if there is one. A cache
// that does not verify against the anchor (corrupted, signed by another
// key, of another instance) is refused with an error saying to remove it; an
// expired cache is loaded, and Current reports the expiry until a Refresh
// brings a newer version.
func NewClient(o ClientOptions) (*Client, error) {
	if err := o.Anchor.check(); err != nil {
		return nil, fmt.Errorf("global configuration client: %w", err)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Interval <= 0 {
		o.Interval = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{o: o, log: o.Logger.With("url", o.Anchor.URL)}
	if o.CachePath == "" {
		return c, nil
	}
	data, err := os.ReadFile(o.CachePath)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("global configuration client: read cache: %w", err)
	}
	conf, digest, err := verify(data, o.Anchor, o.Now())
	if err != nil && !(errors.Is(err, ErrExpired) && conf != nil) {
		return nil, fmt.Errorf("global configuration client: the cache %s is refused (%w); remove it to download a fresh copy from %s", o.CachePath, err, o.Anchor.URL)
	}
	c.cur.Store(newVerifiedSnapshot(conf, data, digest))
	c.etag = etagFor(data, conf.Version)
	if err != nil {
		c.log.Warn("global configuration cache loaded, but it has expired", "path", o.CachePath, "version", conf.Version, "expires", conf.Expires)
	} else {
		c.log.Info("global configuration cache loaded", "path", o.CachePath, "version", conf.Version, "expires", conf.Expires)
	}
	return c, nil
}

func newVerifiedSnapshot(c *Conf, data, digest []byte) *Snapshot {
	s := NewSnapshot(c)
	s.data, s.digest = data, digest
	return s
}

// Current returns the configuration in use. Before any has been verified
// the error is ErrNoConfiguration; once past its expiry the snapshot is
// returned together with an error wrapping ErrExpired, so callers can
// report the version but must not trust it.
func (c *Client) Current() (*Snapshot, error) {
	s := c.cur.Load()
	if s == nil {
		return nil, fmt.Errorf("%w (from %s)", ErrNoConfiguration, c.o.Anchor.URL)
	}
	if now := c.o.Now(); s.Expired(now) {
		return s, fmt.Errorf("%w: version %d expired at %s and no newer one could be fetched from %s", ErrExpired, s.Version, fmtTime(s.Expires), c.o.Anchor.URL)
	}
	return s, nil
}

// Refresh fetches the configuration once: GET Anchor.URL with If-None-Match;
// on 304 the copy in use stays. A new document must verify (Verify) and must
// not be expired; an older version is refused with ErrRollback, and so is
// the same version with other content. A newer version is written to the
// cache and swapped in. If only the cache write fails, the new version is
// still used and the error says so.
func (c *Client) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refresh(ctx)
}

// Recheck is the on-demand Refresh of a server that meets a peer, client or
// service its copy does not know: it fetches at once unless Recheck
// fetched within minAge (whatever the outcome, so that unknown peers cannot
// make it ask the registry on every message; the periodic refresh does not
// count, so a peer registered just after it is still served at once).
// Concurrent callers share one fetch. It reports whether the copy in use
// changed.
func (c *Client) Recheck(ctx context.Context, minAge time.Duration) (bool, error) {
	before := c.cur.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.rechecked.IsZero() && c.o.Now().Sub(c.rechecked) < minAge {
		return c.cur.Load() != before, nil
	}
	c.rechecked = c.o.Now()
	err := c.refresh(ctx)
	return c.cur.Load() != before, err
}

// CheckedAt is when the registry last confirmed the copy in use (a new
// version fetched, or the same one answered again); zero before that, e.g.
// while only the cache is loaded.
func (c *Client) CheckedAt() time.Time {
	if t := c.checked.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

func (c *Client) confirmed() {
	now := c.o.Now()
	c.checked.Store(&now)
}

func (c *Client) refresh(ctx context.Context) error {
	url := c.o.Anchor.URL
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("fetch global configuration: %w", err)
	}
	req.Header.Set("Accept", "application/xml")
	cur := c.cur.Load()
	if cur != nil && c.etag != "" {
		req.Header.Set("If-None-Match", c.etag)
	}
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch global configuration: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && cur != nil:
		c.confirmed()
		return nil
	case resp.StatusCode != http.StatusOK:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		msg := strings.Join(strings.Fields(string(body)), " ")
		return fmt.Errorf("fetch global configuration from %s: the registry answered %s: %q", url, resp.Status, msg)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return fmt.Errorf("fetch global configuration from %s: %w", url, err)
	}
	if len(data) > maxDocumentSize {
		return fmt.Errorf("%w: %s serves more than %d bytes", ErrMalformed, url, maxDocumentSize)
	}
	conf, digest, err := verify(data, c.o.Anchor, c.o.Now())
	if err != nil {
		return fmt.Errorf("global configuration from %s: %w", url, err)
	}
	if cur != nil {
		switch {
		case conf.Version < cur.Version:
			return fmt.Errorf("%w: %s serves version %d, older than version %d in use", ErrRollback, url, conf.Version, cur.Version)
		case conf.Version == cur.Version && !bytes.Equal(digest, cur.digest):
			return fmt.Errorf("%w: %s serves version %d with content other than the version %d in use", ErrRollback, url, conf.Version, cur.Version)
		case conf.Version == cur.Version:
			c.etag = resp.Header.Get("ETag") // same content, perhaps signed anew
			c.confirmed()
			return nil
		}
	}
	var storeErr error
	if c.o.CachePath != "" {
		storeErr = durable.WriteFile(c.o.CachePath, data, 0o644, true)
	}
	c.cur.Store(newVerifiedSnapshot(conf, data, digest))
	c.etag = resp.Header.Get("ETag")
	c.confirmed()
	var from uint64
	if cur != nil {
		from = cur.Version
	}
	c.log.Info("global configuration updated", "from", from, "version", conf.Version, "expires", conf.Expires)
	if storeErr != nil {
		return fmt.Errorf("global configuration version %d is in use but could not be cached: %w", conf.Version, storeErr)
	}
	return nil
}

// Run refreshes at once and then every Interval until ctx is done. Failures
// are logged and the last good copy stays in use.
func (c *Client) Run(ctx context.Context) {
	t := time.NewTicker(c.o.Interval)
	defer t.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			level := slog.LevelWarn
			if errors.Is(err, ErrRollback) || errors.Is(err, ErrSigner) || errors.Is(err, ErrSignature) {
				level = slog.LevelError // possible attack: worth an alert
			}
			c.log.Log(ctx, level, "global configuration refresh failed; keeping the copy in use", "err", err)
		}
		if s, err := c.Current(); s != nil && err != nil {
			c.log.Warn("global configuration in use has expired", "version", s.Version, "expires", s.Expires)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
