package securityserver

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// archiver moves old records out of the live message log: whole
// time-stamped batches whose newest record is older than the configured
// age go, oldest first, into a dated archive file (audit.WriteArchive:
// one ASiC-E container per message and a manifest chained to the previous
// archive), which is written durably before the records are removed from
// the log in one transaction that also stores the log's new anchor.
//
// A crash between the two steps leaves an archive the anchor does not name
// yet: the next pass finds it (it starts right after the anchor), checks
// that it continues the live log and completes the pruning, so a range is
// never archived twice and never lost. Retention then deletes the oldest
// archive files, noting each in the directory's retention ledger first.
type archiver struct {
	log    archiveLog
	cfg    config.Archive
	prefix string // file name prefix: MEMBERCODE-SERVERCODE
	server string
	now    func() time.Time
	slog   *slog.Logger

	mu sync.Mutex // one pass at a time
}

func newArchiver(l archiveLog, cfg *config.Config, log *slog.Logger) *archiver {
	return &archiver{log: l, cfg: cfg.MessageLog.Archive, prefix: cfg.Server.Owner.MemberCode + "-" + cfg.Server.ServerCode,
		server: cfg.Server.String(), now: time.Now, slog: log}
}

// archiveLog is the message log as the archiver uses it: time-stamped
// batches old enough to go, the records they hold (audit.ArchiveSource),
// and the anchor that pruning moves.
type archiveLog interface {
	audit.ArchiveSource
	Archivable(cutoff time.Time, maxRecords int) ([]*messagelog.Batch, error)
	Archived() (*messagelog.Anchor, error)
	Batches() ([]*messagelog.Batch, error)
	Prune(prevHash []byte, a messagelog.Anchor) error
}

// run makes a pass at start and every interval until ctx is done.
func (a *archiver) run(ctx context.Context) {
	tick := time.NewTicker(a.cfg.Interval.D())
	defer tick.Stop()
	for {
		now := a.now()
		if _, err := a.pass(ctx, now.Add(-a.cfg.After.D())); err != nil && ctx.Err() == nil {
			a.slog.Error("archiving failed; the records stay in the live log and the next pass retries", "dir", a.cfg.Dir, "err", err)
		}
		if a.cfg.Retention > 0 {
			a.retire(now.Add(-a.cfg.Retention.D()))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pass completes an interrupted archive, then archives every batch whose
// newest record was logged before cutoff, one archive file after another
// until none is left or ctx is done. It returns the files written.
func (a *archiver) pass(ctx context.Context, cutoff time.Time) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.recover(); err != nil {
		return nil, err
	}
	var written []string
	for ctx.Err() == nil {
		batches, err := a.log.Archivable(cutoff, a.cfg.MaxRecords)
		if err != nil || len(batches) == 0 {
			return written, err
		}
		anchor, err := a.log.Archived()
		if err != nil {
			return written, err
		}
		res, err := audit.WriteArchive(a.log, a.cfg.Dir, a.prefix, a.server, batches, anchor, a.now())
		if err != nil {
			return written, err
		}
		if err := a.prune(res.Manifest, res.Hash, filepath.Base(res.Path), batches[len(batches)-1].N); err != nil {
			return written, fmt.Errorf("archive %s written, but pruning the live log failed (the next pass completes it): %w", res.Path, err)
		}
		written = append(written, res.Path)
		if fl, ok := a.log.(audit.AttachmentFiles); ok {
			// Archived with their records: the live copies go too.
			if err := fl.AttachmentFiles().Remove(res.Files...); err != nil {
				a.slog.Warn("archived attachment files could not be removed", "err", err)
			}
		}
		m := res.Manifest
		a.slog.Info("archived message log records", "file", res.Path, "records", res.Records, "from", m.FirstSeq, "to", m.LastSeq,
			"logged_from", m.FirstTime.Format(time.RFC3339), "logged_to", m.LastTime.Format(time.RFC3339), "batches", len(m.Batches))
	}
	return written, ctx.Err()
}

// prune removes an archive's records from the live log.
func (a *archiver) prune(m *audit.Manifest, manifestHash []byte, file string, lastBatch uint64) error {
	prev, err1 := hex.DecodeString(m.PrevRecordHash)
	last, err2 := hex.DecodeString(m.LastRecordHash)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("manifest of %s: %w", file, err)
	}
	return a.log.Prune(prev, messagelog.Anchor{LastSeq: m.LastSeq, RecordHash: last, Batch: lastBatch, Manifest: manifestHash, File: file,
		Time: a.now().UTC().Format(time.RFC3339)})
}

// recover removes unfinished temporary files and completes the pruning of
// an archive written before a crash.
func (a *archiver) recover() error {
	ents, err := os.ReadDir(a.cfg.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".archive-") && strings.HasSuffix(e.Name(), ".tmp") {
			// Never renamed: an archive that was not finished.
			if err := os.Remove(filepath.Join(a.cfg.Dir, e.Name())); err != nil {
				return err
			}
		}
	}
	anchor, err := a.log.Archived()
	if err != nil {
		return err
	}
	start, prevHash, prevManifest := uint64(1), make([]byte, 32), make([]byte, 32)
	if anchor != nil {
		start, prevHash, prevManifest = anchor.LastSeq+1, anchor.RecordHash, anchor.Manifest
	}
	names, err := audit.ListArchives(a.cfg.Dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if !strings.Contains(name, fmt.Sprintf("-%d-", start)) {
			continue
		}
		f, err := audit.OpenArchive(filepath.Join(a.cfg.Dir, name))
		if err != nil {
			return fmt.Errorf("archive %s: %w", name, err)
		}
		m, hash := f.Manifest, f.Hash
		if m.FirstSeq != start {
			f.Close()
			continue
		}
		err = f.CheckEntries()
		f.Close()
		if err == nil && (m.PrevRecordHash != hex.EncodeToString(prevHash) || m.PrevManifest != hex.EncodeToString(prevManifest)) {
			err = errors.New("it does not continue the live log's last archive")
		}
		if err != nil {
			return fmt.Errorf("archive %s holds records from %d, the live log's oldest, but cannot complete their archiving (%v): check it, move it out of %s, and archiving resumes", name, start, err, a.cfg.Dir)
		}
		batches, err := a.log.Batches()
		if err != nil {
			return err
		}
		var lastBatch uint64
		for _, b := range batches {
			if b.LastSeq == m.LastSeq {
				lastBatch = b.N
			}
		}
		if err := a.prune(m, hash, name, lastBatch); err != nil {
			return fmt.Errorf("completing the archive %s written before a restart: %w", name, err)
		}
		a.slog.Warn("completed an archive interrupted before the live log was pruned", "file", name, "from", m.FirstSeq, "to", m.LastSeq)
		return nil
	}
	return nil
}

// retire deletes archive files whose newest record is older than cutoff.
func (a *archiver) retire(cutoff time.Time) {
	removed, err := audit.RetireOldest(a.cfg.Dir, cutoff, a.now())
	for _, r := range removed {
		a.slog.Info("retention removed an archive", "file", r.File, "from", r.FirstSeq, "to", r.LastSeq, "logged_to", r.LastTime.Format(time.RFC3339),
			"ledger", filepath.Join(a.cfg.Dir, audit.RetentionLedger))
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		a.slog.Error("retention failed; the archives stay", "dir", a.cfg.Dir, "err", err)
	}
}

// ArchiveNow archives, at once, every time-stamped batch whose newest
// record was logged before cutoff (as the background archiver does with
// now minus messageLog.archive.after), after completing an interrupted
// archive, and returns the files written. Operators' tools and tests use it.
func (s *Server) ArchiveNow(cutoff time.Time) ([]string, error) {
	return s.archiver.pass(context.Background(), cutoff)
}
