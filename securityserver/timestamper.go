package securityserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// timestamper closes time-stamp batches in the background: one RFC 3161
// token from a TSA of the global configuration over X-Road's time-stamp
// hash chain (ts-hashchainresult.xml, SHA-512) of the signature documents
// of the records appended since the last batch. Exchanges never wait for it. If
// no TSA answers, messages keep flowing for the grace period; after that
// the proxies refuse new messages (X-Road's behaviour) until a batch
// succeeds.
type timestamper struct {
	log      stampLog
	conf     func() (*globalconf.Snapshot, error)
	interval time.Duration // a batch closes when its oldest record is this old
	maxBatch uint64        // or when it has this many records
	grace    time.Duration
	now      func() time.Time
	client   *http.Client
	slog     *slog.Logger

	mu      sync.Mutex
	oldest  time.Time // the oldest record without a token; zero when none
	lastErr error
}

func newTimestamper(l stampLog, conf func() (*globalconf.Snapshot, error), interval, grace time.Duration, maxBatch int, log *slog.Logger) *timestamper {
	return &timestamper{log: l, conf: conf, interval: interval, grace: grace, maxBatch: uint64(maxBatch), now: time.Now,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2}}, slog: log}
}

// stampLog is the message log as the time-stamper uses it: the records
// without a token, their signature digests, and the batch it records.
type stampLog interface {
	// Pending: the records without a token (all appended ones) and when
	// the oldest was logged; PendingStored: the same among those already
	// in the store, which Flush moves there.
	Pending() (first, last uint64, oldest time.Time, err error)
	PendingStored() (first, last uint64, oldest time.Time, err error)
	Flush() error
	// SignatureDigests are messagelog.SignatureDigest of records
	// first..last.
	SignatureDigests(first, last uint64) ([][]byte, error)
	AddBatch(b *messagelog.Batch) error
}

// run checks every tick whether a batch is due, until held is done; then,
// if the server is stopping (stopping is done), it stamps what is pending.
// held ends before stopping when this node loses the time-stamping lease:
// the node that took it stamps instead, and this one forgets its failures
// (they are no longer its to refuse messages for).
func (t *timestamper) run(held, stopping context.Context) {
	t.loop(held)
	if stopping.Err() != nil {
		t.flush()
		return
	}
	t.mu.Lock()
	t.lastErr, t.oldest = nil, time.Time{}
	t.mu.Unlock()
}

func (t *timestamper) loop(ctx context.Context) {
	tick := time.NewTicker(max(t.interval/4, 50*time.Millisecond))
	defer tick.Stop()
	defer t.client.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		first, last, oldest, err := t.log.PendingStored()
		if err != nil {
			t.fail(err)
			continue
		}
		t.mu.Lock()
		t.oldest = oldest
		t.mu.Unlock()
		if first > last || (last-first+1 < t.maxBatch && t.now().Sub(oldest) < t.interval) {
			continue
		}
		if err := t.stamp(ctx, first, last); err != nil {
			if ctx.Err() == nil {
				t.fail(err)
			}
			continue
		}
		t.mu.Lock()
		if t.lastErr != nil {
			t.slog.Info("time-stamping works again", "records", last)
		}
		t.lastErr = nil
		t.oldest = time.Time{}
		t.mu.Unlock()
	}
}

// flush stamps what is pending when the server stops, so that a stopped
// server's log is complete for the auditor; it gives up after a few
// seconds (the records are then stamped at the next start).
func (t *timestamper) flush() {
	if err := t.log.Flush(); err != nil {
		t.slog.Warn("records left without a time-stamp at shutdown; they are stamped at the next start", "err", err)
		return
	}
	first, last, _, err := t.log.Pending()
	if err != nil || first > last {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for first <= last {
		if err := t.stamp(ctx, first, last); err != nil {
			t.slog.Warn("records left without a time-stamp at shutdown; they are stamped at the next start", "from", first, "to", last, "err", err)
			return
		}
		if first, last, _, err = t.log.Pending(); err != nil {
			return
		}
	}
}

func (t *timestamper) fail(err error) {
	t.mu.Lock()
	first := t.lastErr == nil
	t.lastErr = err
	t.mu.Unlock()
	if first {
		t.slog.Error("time-stamping failed; messages keep flowing for the grace period", "grace", t.grace, "err", err)
	}
}

// stamp gets one token over records first..last and stores the batch.
func (t *timestamper) stamp(ctx context.Context, first, last uint64) error {
	if n := last - first + 1; n > t.maxBatch {
		last = first + t.maxBatch - 1
	}
	snap, err := t.conf()
	if err != nil {
		return err
	}
	tsas := snap.TSAs()
	if len(tsas) == 0 {
		return errors.New("the global configuration names no time-stamp authority")
	}
	sigs, err := t.log.SignatureDigests(first, last)
	if err != nil {
		return err
	}
	b, err := messagelog.NewBatch(first, last, sigs)
	if err != nil {
		return err
	}
	h, imprint := b.Imprint()
	var errs []error
	for _, a := range tsas {
		c := &tsa.Client{URL: a.URL, HTTPClient: t.client, Verify: tsa.VerifyOptions{Roots: snap.Roots(), Intermediates: snap.Intermediates(), MaxAge: time.Minute}}
		tok, err := c.Timestamp(ctx, h, imprint)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.URL, err))
			continue
		}
		b.Token, b.Time, b.TSA = tok.Raw, tok.GenTime, a.URL
		return t.log.AddBatch(b)
	}
	return fmt.Errorf("no time-stamp authority answered: %w", errors.Join(errs...))
}

// refusal is the fault for new messages once records have waited for a
// token longer than the grace period; nil while within it.
func (t *timestamper) refusal(sd side) *message.Fault {
	t.mu.Lock()
	oldest, err := t.oldest, t.lastErr
	t.mu.Unlock()
	if err == nil || oldest.IsZero() {
		return nil
	}
	if waited := t.now().Sub(oldest); waited > t.grace {
		// The TSAs' addresses and errors are in this server's log.
		return sd.fault(message.TimestampingFailed,
			"time-stamping has failed for %s, longer than the %s grace period, so new messages are refused until a time-stamp authority answers",
			waited.Round(time.Second), t.grace)
	}
	return nil
}

// lastError is why the last batch failed (nil after a success).
func (t *timestamper) lastError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastErr
}

// StampNow closes time-stamp batches over every pending record at once,
// instead of waiting until a batch is due (before ArchiveNow, and in
// tests). A batch the background time-stamper closes meanwhile counts.
func (s *Server) StampNow(ctx context.Context) error {
	for {
		first, last, _, err := s.mlog.Pending()
		if err != nil || first > last {
			return err
		}
		if err := s.ts.stamp(ctx, first, last); err != nil {
			if again, _, _, perr := s.mlog.Pending(); perr == nil && again > first {
				continue // the background time-stamper was quicker
			}
			return err
		}
	}
}
