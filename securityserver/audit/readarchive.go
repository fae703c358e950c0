package audit

import (
	"archive/zip"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// ArchivedRecord is one record as an archive holds it.
type ArchivedRecord struct {
	Archive string        // the archive file's name
	Entry   ManifestEntry // the manifest's line for it: seq, side, kind, message id, container name
	// Record is the logged record (from the container's time-stamp proof,
	// which carries it whole): time, client, service, the message (nil if
	// only its digest was logged), the signature.
	Record    *messagelog.Record
	Stored    []byte // the record's stored bytes
	Container []byte // the ASiC-E container file as archived, byte for byte
}

// ArchiveQuery selects records from archives; the zero value selects all.
type ArchiveQuery struct {
	MessageID string    // only the records of this message id
	From, To  time.Time // only records logged in [From, To]; zero: open
}

// ArchiveReader reads the archives of a directory in record order, for
// listing, showing and exporting what they hold. It does not verify them
// (VerifyArchives does): it only refuses files that are not archives.
type ArchiveReader struct {
	Dir   string
	files []archiveInfo
}

type archiveInfo struct {
	name                string
	firstSeq, lastSeq   uint64
	firstTime, lastTime time.Time
}

// OpenArchiveDir lists the archive files (*.zip) in dir and reads each
// one's manifest, ordering them by their first record. A *.zip file that
// is not a Şlüz message log archive, or archives of two servers, are an
// error that names the file.
func OpenArchiveDir(dir string) (*ArchiveReader, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return nil, fmt.Errorf("%s is a file, not a directory: give the directory that holds the archive files", dir)
	}
	names, err := ListArchives(dir)
	if err != nil {
		return nil, fmt.Errorf("archives: %w", err)
	}
	ar := &ArchiveReader{Dir: dir}
	server, serverFile := "", ""
	for _, name := range names {
		a, err := OpenArchive(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("%s is not a Şlüz message log archive (%w): remove it from %s, or run `logaudit verify --archives` if it should be one", name, err, dir)
		}
		m := a.Manifest
		a.Close()
		if server == "" {
			server, serverFile = m.Server, name
		} else if m.Server != server {
			return nil, fmt.Errorf("%s holds the archives of two servers: %s is %s's, %s is %s's; give one server's archive directory", dir, serverFile, server, name, m.Server)
		}
		ar.files = append(ar.files, archiveInfo{name: name, firstSeq: m.FirstSeq, lastSeq: m.LastSeq, firstTime: m.FirstTime, lastTime: m.LastTime})
	}
	sort.SliceStable(ar.files, func(i, j int) bool { return ar.files[i].firstSeq < ar.files[j].firstSeq })
	return ar, nil
}

// Files are the archive files' names, oldest first.
func (ar *ArchiveReader) Files() []string {
	var out []string
	for _, f := range ar.files {
		out = append(out, f.name)
	}
	return out
}

// LastSeq is the last record the archives hold (0 if none).
func (ar *ArchiveReader) LastSeq() uint64 {
	var last uint64
	for _, f := range ar.files {
		last = max(last, f.lastSeq)
	}
	return last
}

// Each calls fn for every record the query selects, in sequence order
// across the archives; a record that two archives hold (overlapping
// archives, which VerifyArchives reports) is given once, from the older.
// Only the containers of records the manifest lists for the message id are
// read when q.MessageID is set, and archives wholly before q.From are
// skipped.
func (ar *ArchiveReader) Each(q ArchiveQuery, fn func(*ArchivedRecord) error) error {
	var done uint64 // the last record given (or passed over)
	for _, f := range ar.files {
		if f.lastSeq <= done {
			continue
		}
		if !q.From.IsZero() && f.lastTime.Before(q.From) {
			done = f.lastSeq
			continue
		}
		if err := ar.eachIn(f.name, q, &done, fn); err != nil {
			return err
		}
	}
	return nil
}

func (ar *ArchiveReader) eachIn(name string, q ArchiveQuery, done *uint64, fn func(*ArchivedRecord) error) error {
	a, err := OpenArchive(filepath.Join(ar.Dir, name))
	if err != nil {
		return fmt.Errorf("archive %s: %w", name, err)
	}
	defer a.Close()
	for _, e := range a.Manifest.Entries {
		if e.Seq <= *done {
			continue
		}
		*done = e.Seq
		if q.MessageID != "" && e.MessageID != q.MessageID {
			continue
		}
		data, err := a.read(e.Name)
		if err != nil {
			return fmt.Errorf("archive %s: record %d: %w (logaudit verify --archives names what is wrong)", name, e.Seq, err)
		}
		r, stored, err := a.record(e, data)
		if err != nil {
			return fmt.Errorf("archive %s: record %d: container %s: %w (logaudit verify --archives names what is wrong)", name, e.Seq, e.Name, err)
		}
		if (!q.From.IsZero() && r.Time.Before(q.From)) || (!q.To.IsZero() && r.Time.After(q.To)) {
			continue
		}
		if err := fn(&ArchivedRecord{Archive: name, Entry: e, Record: r, Stored: stored, Container: data}); err != nil {
			return err
		}
	}
	return nil
}

// record reads the logged record of entry e, whose container is data:
// from the .record entry beside it, or from a legacy container's
// time-stamp proof, which carries the stored record whole.
func (a *ArchiveFile) record(e ManifestEntry, data []byte) (*messagelog.Record, []byte, error) {
	if e.Record == "" {
		return containerRecord(data)
	}
	stored, err := a.read(e.Record)
	if err != nil {
		return nil, nil, err
	}
	r, err := messagelog.Decode(stored)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", e.Record, err)
	}
	return r, stored, nil
}

// containerRecord reads the logged record out of a legacy container: its
// time-stamp proof carries the stored record whole.
func containerRecord(data []byte) (*messagelog.Record, []byte, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, nil, fmt.Errorf("not a readable zip: %w", err)
	}
	f, err := zr.Open(EntryProof)
	if err != nil {
		return nil, nil, err
	}
	pj, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", EntryProof, err)
	}
	var p Proof
	if err := json.Unmarshal(pj, &p); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", EntryProof, err)
	}
	stored, err := hex.DecodeString(p.RecordHex)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: record: %w", EntryProof, err)
	}
	r, err := messagelog.Decode(stored)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: record: %w", EntryProof, err)
	}
	return r, stored, nil
}
