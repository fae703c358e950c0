package audit

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/durable"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// An archive file is a zip holding, for every record of one or more whole
// time-stamp batches, the record's ASiC-E container (as WriteContainer
// writes it, in X-Road's layout; digest-only records without message.xml)
// and beside it the record as the log stored it (NAME.record, which the
// record chain hashes), and last ArchiveManifest, which lists each
// container with its SHA-256, the batches, the record chain hashes at both
// ends, and the SHA-256 of the previous archive's manifest: archives form a
// chain, as records do, and the live log's anchor (messagelog.Anchor)
// names the last one. Archives of version 1 (legacy batches) have no
// .record entries: their containers' ts-proof.json carries the record.
const (
	ArchiveManifest = "manifest.json"
	ArchiveExt      = ".zip"
	// RetentionLedger lists the archives that retention removed, so that
	// the verifier can tell them from archives removed by someone else.
	RetentionLedger = "retention.json"
	manifestVersion = 2
	// RecordExt names the stored record beside its container.
	RecordExt = ".record"
)

// Manifest is an archive's manifest.json.
type Manifest struct {
	Version   int       `json:"version"`
	Server    string    `json:"server"`
	Created   time.Time `json:"created"`
	FirstSeq  uint64    `json:"firstSeq"`
	LastSeq   uint64    `json:"lastSeq"`
	FirstTime time.Time `json:"firstTime"` // the first record's time
	LastTime  time.Time `json:"lastTime"`  // the newest record's time (retention judges by it)
	// PrevRecordHash is the chain hash the first record follows (its
	// PrevHash: 32 zero bytes for record 1); LastRecordHash is the last
	// record's chain hash, which the next archive's first record follows.
	PrevRecordHash string `json:"prevRecordHash"`
	LastRecordHash string `json:"lastRecordHash"`
	// PrevManifest is the SHA-256 of the previous archive's manifest.json
	// (64 zeros for the first archive); PrevFile its name.
	PrevManifest string          `json:"prevManifest"`
	PrevFile     string          `json:"prevFile,omitempty"`
	Batches      []ManifestBatch `json:"batches"`
	Entries      []ManifestEntry `json:"entries"`
}

// ManifestBatch is one time-stamp batch in an archive.
type ManifestBatch struct {
	N        uint64 `json:"n"`
	FirstSeq uint64 `json:"firstSeq"`
	LastSeq  uint64 `json:"lastSeq"`
	Root     string `json:"root"` // hex: the time-stamp hash chain's top (SHA-512), or a legacy batch's Merkle root
	// Imprint is the hex SHA-512 of ts-hashchainresult.xml, which the token
	// stamps; empty for a legacy batch (the token stamps Root).
	Imprint string    `json:"imprint,omitempty"`
	Time    time.Time `json:"time"` // the token's genTime
	TSA     string    `json:"tsa"`
}

// ManifestEntry is one container in an archive.
type ManifestEntry struct {
	Name      string `json:"name"`
	Seq       uint64 `json:"seq"`
	Side      string `json:"side"`
	Kind      string `json:"kind"`
	MessageID string `json:"messageId"`
	SHA256    string `json:"sha256"` // of the container file
	// Record is the entry holding the stored record (version 2 on).
	Record string `json:"record,omitempty"`
}

var zeroHash = make([]byte, 32)

// ArchiveResult is what WriteArchive wrote.
type ArchiveResult struct {
	Path     string
	Manifest *Manifest
	Hash     []byte // SHA-256 of manifest.json
	Records  int
	// Files names the archived records' attachment files
	// (messagelog.Files), which the caller removes after pruning them.
	Files []string
}

// ArchiveSource is the message log as WriteArchive reads it: what a
// batch's time-stamp covers and the records themselves, in order.
type ArchiveSource interface {
	Leaves(first, last uint64) ([][]byte, error)
	SignatureDigests(first, last uint64) ([][]byte, error)
	Each(from uint64, fn func(r *messagelog.Record, stored []byte) error) error
}

// WriteArchive writes the records of batches (consecutive, oldest first,
// continuing the log's anchor prev, nil if nothing was archived before)
// into a new archive file in dir named
// PREFIX-FIRSTTIME-FIRSTSEQ-LASTSEQ.zip, durably: a temporary file, synced,
// renamed, and the directory synced. It does not remove anything from the
// log (messagelog.Log.Prune does, given the result).
func WriteArchive(l ArchiveSource, dir, prefix, server string, batches []*messagelog.Batch, prev *messagelog.Anchor, now time.Time) (*ArchiveResult, error) {
	if len(batches) == 0 {
		return nil, errors.New("archive: no batches to archive")
	}
	first, last := batches[0].FirstSeq, batches[len(batches)-1].LastSeq
	m := &Manifest{Version: manifestVersion, Server: server, Created: now.UTC(), FirstSeq: first, LastSeq: last,
		PrevManifest: hex.EncodeToString(zeroHash)}
	wantPrev := zeroHash
	if prev != nil {
		m.PrevManifest, m.PrevFile, wantPrev = hex.EncodeToString(prev.Manifest), prev.File, prev.RecordHash
		if first != prev.LastSeq+1 {
			return nil, fmt.Errorf("archive: batches start at record %d, but the last archive ended at %d", first, prev.LastSeq)
		}
	}
	leaves := map[uint64][][]byte{}
	for i, b := range batches {
		if i > 0 && b.FirstSeq != batches[i-1].LastSeq+1 {
			return nil, fmt.Errorf("archive: batch %d does not follow batch %d", b.N, batches[i-1].N)
		}
		lv, err := batchInputs(l, b)
		if err != nil {
			return nil, fmt.Errorf("archive: batch %d: %w", b.N, err)
		}
		leaves[b.N] = lv
		mb := ManifestBatch{N: b.N, FirstSeq: b.FirstSeq, LastSeq: b.LastSeq, Root: hex.EncodeToString(b.Root), Time: b.Time, TSA: b.TSA}
		if b.HashChain() {
			_, imprint := b.Imprint()
			mb.Imprint = hex.EncodeToString(imprint)
		}
		m.Batches = append(m.Batches, mb)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".archive-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	defer tmp.Close()
	zw := zip.NewWriter(tmp)
	bi := 0
	prevHash := wantPrev
	var files []string
	errStop := errors.New("stop")
	// Records are read in short read transactions, a chunk at a time, so
	// that a large archive does not hold one open for long (a long read
	// transaction would stall the log's writer when its file must grow).
	const chunk = 256
	for next := first; next <= last; {
		var stored [][]byte
		err := l.Each(next, func(r *messagelog.Record, v []byte) error {
			if r.Seq > last || len(stored) == chunk {
				return errStop
			}
			stored = append(stored, append([]byte(nil), v...))
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, fmt.Errorf("archive: %w", err)
		}
		if len(stored) == 0 {
			break
		}
		for _, v := range stored {
			r, err := messagelog.Decode(v)
			if err != nil {
				return nil, fmt.Errorf("archive: record %d: %w", next, err)
			}
			if r.Seq != next {
				return nil, fmt.Errorf("archive: record %d missing", next)
			}
			if !bytes.Equal(r.PrevHash, prevHash) {
				return nil, fmt.Errorf("archive: record %d does not chain to the record before it", r.Seq)
			}
			prevHash = messagelog.Hash(v)
			for r.Seq > batches[bi].LastSeq {
				bi++
			}
			if len(m.Entries) == 0 {
				m.FirstTime, m.PrevRecordHash = r.Time, hex.EncodeToString(r.PrevHash)
			}
			if r.Time.After(m.LastTime) {
				m.LastTime = r.Time
			}
			name := fmt.Sprintf("%010d-%s-%s.asice", r.Seq, safeName(r.MessageID), r.Kind)
			// Containers are zips already: stored as they are, written
			// straight in (attachments stream from their files).
			w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: r.Time})
			if err != nil {
				return nil, fmt.Errorf("archive: %w", err)
			}
			h := sha256.New()
			if err := writeContainer(io.MultiWriter(w, h), r, v, batches[bi], leaves[batches[bi].N], filesOf(l)); err != nil {
				return nil, fmt.Errorf("archive: record %d: %w", r.Seq, err)
			}
			for _, a := range r.Attachments {
				if a.File != "" {
					files = append(files, a.File)
				}
			}
			recName := strings.TrimSuffix(name, ".asice") + RecordExt
			w, err = zw.CreateHeader(&zip.FileHeader{Name: recName, Method: zip.Deflate, Modified: r.Time})
			if err != nil {
				return nil, fmt.Errorf("archive: %w", err)
			}
			if _, err := w.Write(v); err != nil {
				return nil, fmt.Errorf("archive: %w", err)
			}
			m.Entries = append(m.Entries, ManifestEntry{Name: name, Seq: r.Seq, Side: r.Side.String(), Kind: r.Kind.String(), MessageID: r.MessageID,
				SHA256: hex.EncodeToString(h.Sum(nil)), Record: recName})
			next++
		}
	}
	if got := uint64(len(m.Entries)); got != last-first+1 {
		return nil, fmt.Errorf("archive: record %d missing", first+got)
	}
	m.LastRecordHash = hex.EncodeToString(prevHash)
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	mw, err := zw.CreateHeader(&zip.FileHeader{Name: ArchiveManifest, Method: zip.Deflate, Modified: now})
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if _, err := mw.Write(mj); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	path := filepath.Join(dir, ArchiveName(prefix, m))
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("archive: %s already exists: refusing to overwrite it", path)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	h := sha256.Sum256(mj)
	return &ArchiveResult{Path: path, Manifest: m, Hash: h[:], Records: len(m.Entries), Files: files}, nil
}

// ArchiveName is the file name of an archive: PREFIX-FIRSTTIME-FIRSTSEQ-LASTSEQ.zip.
func ArchiveName(prefix string, m *Manifest) string {
	return fmt.Sprintf("%s-%s-%d-%d%s", prefix, m.FirstTime.UTC().Format("20060102T150405Z"), m.FirstSeq, m.LastSeq, ArchiveExt)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// ArchiveFile is an archive file opened for reading.
type ArchiveFile struct {
	Path     string
	Manifest *Manifest
	Hash     []byte // SHA-256 of manifest.json
	zr       *zip.ReadCloser
}

// OpenArchive opens an archive file and reads its manifest.
func OpenArchive(path string) (*ArchiveFile, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("not a readable zip: %w", err)
	}
	a := &ArchiveFile{Path: path, zr: zr}
	mj, err := a.read(ArchiveManifest)
	if err != nil {
		zr.Close()
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(mj, &m); err != nil {
		zr.Close()
		return nil, fmt.Errorf("%s: %w", ArchiveManifest, err)
	}
	if m.Version != 1 && m.Version != manifestVersion {
		zr.Close()
		return nil, fmt.Errorf("%s: unknown version %d", ArchiveManifest, m.Version)
	}
	h := sha256.Sum256(mj)
	a.Manifest, a.Hash = &m, h[:]
	return a, nil
}

// Close closes the file.
func (a *ArchiveFile) Close() error { return a.zr.Close() }

func (a *ArchiveFile) read(name string) ([]byte, error) {
	f, err := a.zr.Open(name)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("entry %s: %w", name, err)
	}
	return data, nil
}

// CheckEntries reads every container the manifest lists and compares its
// SHA-256; it returns the first mismatch (a quick check of a file just
// written; VerifyArchives checks everything).
func (a *ArchiveFile) CheckEntries() error {
	for _, e := range a.Manifest.Entries {
		data, err := a.read(e.Name)
		if err != nil {
			return fmt.Errorf("record %d: %w", e.Seq, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != e.SHA256 {
			return fmt.Errorf("record %d: entry %s does not match its SHA-256 in the manifest", e.Seq, e.Name)
		}
	}
	return nil
}

// ListArchives returns the archive files in dir (by name, not opened),
// oldest first by their first record.
func ListArchives(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ArchiveExt) && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := nameRange(out[i])
		b, _ := nameRange(out[j])
		return a < b
	})
	return out, nil
}

// nameRange reads FIRSTSEQ and LASTSEQ from an archive file name.
func nameRange(name string) (first, last uint64) {
	parts := strings.Split(strings.TrimSuffix(name, ArchiveExt), "-")
	if len(parts) < 3 {
		return 0, 0
	}
	fmt.Sscan(parts[len(parts)-2], &first)
	fmt.Sscan(parts[len(parts)-1], &last)
	return first, last
}

// Retired is one archive that retention removed.
type Retired struct {
	File           string    `json:"file"`
	FirstSeq       uint64    `json:"firstSeq"`
	LastSeq        uint64    `json:"lastSeq"`
	LastTime       time.Time `json:"lastTime"`
	LastRecordHash string    `json:"lastRecordHash"`
	Manifest       string    `json:"manifest"` // hex SHA-256 of its manifest.json
	PrevManifest   string    `json:"prevManifest"`
	Removed        time.Time `json:"removed"`
}

// ReadRetentionLedger reads dir's retention ledger; none is an empty list.
func ReadRetentionLedger(dir string) ([]Retired, error) {
	data, err := os.ReadFile(filepath.Join(dir, RetentionLedger))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Retired
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", RetentionLedger, err)
	}
	return out, nil
}

// RetireOldest removes the oldest archives of dir whose newest record is
// older than cutoff, oldest first and never past one that is not, after
// noting each in the retention ledger (written durably first, so a crash
// leaves no archive gone unnoted). It returns the files removed.
func RetireOldest(dir string, cutoff, now time.Time) ([]Retired, error) {
	names, err := ListArchives(dir)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	ledger, err := ReadRetentionLedger(dir)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	noted := map[string]bool{}
	for _, r := range ledger {
		noted[r.File] = true
	}
	var removed []Retired
	for _, name := range names {
		path := filepath.Join(dir, name)
		if noted[name] { // noted before a crash: finish removing it
			if err := os.Remove(path); err != nil {
				return removed, fmt.Errorf("retention: %w", err)
			}
			continue
		}
		a, err := OpenArchive(path)
		if err != nil {
			return removed, fmt.Errorf("retention: %s: %w", name, err)
		}
		m := a.Manifest
		a.Close()
		if !m.LastTime.Before(cutoff) {
			break
		}
		r := Retired{File: name, FirstSeq: m.FirstSeq, LastSeq: m.LastSeq, LastTime: m.LastTime, LastRecordHash: m.LastRecordHash,
			Manifest: hex.EncodeToString(a.Hash), PrevManifest: m.PrevManifest, Removed: now.UTC()}
		ledger = append(ledger, r)
		data, err := json.MarshalIndent(ledger, "", "  ")
		if err != nil {
			return removed, fmt.Errorf("retention: %w", err)
		}
		if err := durable.WriteFile(filepath.Join(dir, RetentionLedger), data, 0o600, true); err != nil {
			return removed, fmt.Errorf("retention: %w", err)
		}
		if err := os.Remove(path); err != nil {
			return removed, fmt.Errorf("retention: %w", err)
		}
		removed = append(removed, r)
	}
	if len(removed) > 0 {
		if err := durable.SyncDir(dir); err != nil {
			return removed, fmt.Errorf("retention: %w", err)
		}
	}
	return removed, nil
}
