package messagelog

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluz/sluz/internal/durable"
)

// Files is the directory beside a message log that keeps its attachments'
// bytes (Attachment.File), out of the log's bbolt pages or PostgreSQL
// rows: one file per logged attachment, written and synced (with the
// directory) before the record that names it is appended, so before the
// answer it logs is released. The record keeps the file's name and the
// attachment's SHA-512, which its chain hash covers: a changed, swapped or
// missing file is found by the auditor (logaudit verify) like a changed
// record.
type Files struct {
	Dir string
}

// AttachmentsBeside is the Files of the log at logPath: the directory
// named like the log without its extension, plus ".attachments"
// (dataDir/messagelog.attachments for dataDir/messagelog.db).
func AttachmentsBeside(logPath string) Files {
	return Files{Dir: strings.TrimSuffix(logPath, filepath.Ext(logPath)) + ".attachments"}
}

// fileExt ends every attachment file's name; fileTemp a file being written.
const (
	fileExt  = ".att"
	fileTemp = ".tmp"
)

// Put stores the bytes r gives as a new file and returns its name, after
// the file and the directory were synced. link, if not "", is a file
// holding the same bytes, which Put links instead of copying when it can
// (a spool file on the same file system); r is read only if it cannot.
func (f Files) Put(r io.Reader, link string) (string, error) {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return "", fmt.Errorf("messagelog: attachment files: %w", err)
	}
	var b [16]byte
	rand.Read(b[:])
	name := hex.EncodeToString(b[:]) + fileExt
	path := filepath.Join(f.Dir, name)
	if err := f.write(path, r, link); err != nil {
		os.Remove(path + fileTemp)
		return "", fmt.Errorf("messagelog: attachment files: %w", err)
	}
	return name, nil
}

func (f Files) write(path string, r io.Reader, link string) error {
	tmp := path + fileTemp
	if link == "" || os.Link(link, tmp) != nil {
		w, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(w, onlyReader{r}, make([]byte, 256<<10))
		if err == nil {
			err = w.Sync()
		}
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return durable.SyncDir(f.Dir)
}

type onlyReader struct{ io.Reader }

func syncFile(path string) error {
	w, err := os.Open(path)
	if err != nil {
		return err
	}
	err = w.Sync()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrFileName is wrapped when a record names an attachment file that
// cannot be one of the log's.
var ErrFileName = errors.New("messagelog: not an attachment file name")

func checkFileName(name string) error {
	hexPart, ok := strings.CutSuffix(name, fileExt)
	if _, err := hex.DecodeString(hexPart); !ok || err != nil || len(hexPart) != 32 {
		return fmt.Errorf("%w: %q", ErrFileName, name)
	}
	return nil
}

// Open opens a logged attachment's file.
func (f Files) Open(name string) (*os.File, error) {
	if err := checkFileName(name); err != nil {
		return nil, err
	}
	return os.Open(filepath.Join(f.Dir, name))
}

// Check reads a logged attachment's file and compares its SHA-512 with the
// logged digest.
func (f Files) Check(a Attachment) error {
	r, err := f.Open(a.File)
	if err != nil {
		return fmt.Errorf("its file is missing or unreadable: %w", err)
	}
	defer r.Close()
	h := sha512.New()
	if _, err := io.CopyBuffer(h, onlyReader{r}, make([]byte, 256<<10)); err != nil {
		return fmt.Errorf("its file is unreadable: %w", err)
	}
	if string(h.Sum(nil)) != string(a.Digest) {
		return fmt.Errorf("its file %s does not match its digest (changed)", a.File)
	}
	return nil
}

// Remove removes the named files, of records that left the live log
// (archived with them, and pruned); a file already gone is not an error.
func (f Files) Remove(names ...string) error {
	var errs []error
	for _, name := range names {
		if err := checkFileName(name); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(filepath.Join(f.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// AttachmentFiles is the directory beside the log's file that keeps its
// attachments' bytes.
func (l *Log) AttachmentFiles() Files { return AttachmentsBeside(l.db.Path()) }
