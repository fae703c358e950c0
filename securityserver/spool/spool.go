// Package spool keeps content that may be too large for memory — a SOAP
// message's attachments, a REST body — while it streams past: Copy reads a
// stream once, computing its SHA-512 and length on the way, keeps the first
// bytes in memory and spills the rest to a temporary file, and the content
// can then be read again as often as needed (to send it on, to log it).
//
// # Basics
//
// A Set owns the spooled contents of one exchange: each Copy adds one, and
// Set.Close removes their files when the exchange is over. A proxy holds at
// most InMemory bytes of each content, whatever its size.
//
// # Caveats
//
// A content's file lives in the Set's directory until Close; a process
// that dies leaves it there (Clean removes what an earlier run left).
package spool

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// InMemory is how many bytes of a content stay in memory: a content this
// short is never written to a file.
const InMemory = 64 << 10

// filePrefix names the spool files, so that Clean removes only them.
const filePrefix = "spool-"

// ErrTooLarge is wrapped when a stream is longer than Copy's limit.
var ErrTooLarge = errors.New("spool: content over the size limit")

// Content is spooled content: its bytes in memory (short) or in a file.
type Content struct {
	mem    []byte
	file   *os.File
	size   int64
	digest []byte
}

// Bytes is content already in memory.
func Bytes(data []byte) *Content {
	sum := sha512.Sum512(data)
	return &Content{mem: data, size: int64(len(data)), digest: sum[:]}
}

// Size is the content's length in bytes.
func (c *Content) Size() int64 { return c.size }

// Digest is the content's SHA-512.
func (c *Content) Digest() []byte { return c.digest }

// InFile reports whether the content spilled to a file.
func (c *Content) InFile() bool { return c.file != nil }

// Path is the content's file, "" when it is held in memory. The file
// must not be changed; it is removed when its Set closes (a hard link to
// it keeps the bytes).
func (c *Content) Path() string {
	if c.file == nil {
		return ""
	}
	return c.file.Name()
}

// Memory is the content when it is held in memory, else nil.
func (c *Content) Memory() []byte {
	if c.file != nil {
		return nil
	}
	return c.mem
}

// Reader returns a new reader of the whole content; readers do not
// disturb each other.
func (c *Content) Reader() io.Reader {
	if c.file == nil {
		return bytes.NewReader(c.mem)
	}
	return io.NewSectionReader(c.file, 0, c.size)
}

// ReadAll returns the content in one slice (a copy for a file): only for
// a caller that needs it whole and knows it is short.
func (c *Content) ReadAll() ([]byte, error) {
	if c.file == nil {
		return c.mem, nil
	}
	return io.ReadAll(c.Reader())
}

// Set is the spooled contents of one exchange, in dir.
type Set struct {
	dir   string
	mu    sync.Mutex
	files []*os.File
}

// NewSet returns an empty set spooling into dir (created if missing; the
// system's temporary directory when "").
func NewSet(dir string) *Set { return &Set{dir: dir} }

// Copy reads r to its end, keeping at most limit bytes (a longer stream
// fails with ErrTooLarge, after reading limit+1 bytes), and returns the
// content with its SHA-512. limit < 0 means none.
func (s *Set) Copy(r io.Reader, limit int64) (*Content, error) {
	h := sha512.New()
	if limit >= 0 {
		r = io.LimitReader(r, limit+1)
	}
	mem := make([]byte, 0, 4<<10)
	for len(mem) < InMemory+1 {
		if len(mem) == cap(mem) {
			mem = append(mem, 0)[:len(mem)]
		}
		n, err := r.Read(mem[len(mem):min(cap(mem), InMemory+1)])
		mem = mem[:len(mem)+n]
		if err == io.EOF {
			if limit >= 0 && int64(len(mem)) > limit {
				return nil, tooLarge(limit)
			}
			h.Write(mem)
			return &Content{mem: mem, size: int64(len(mem)), digest: h.Sum(nil)}, nil
		}
		if err != nil {
			return nil, err
		}
	}
	// Longer than InMemory: to a file, the bytes read so far first.
	f, err := s.create()
	if err != nil {
		return nil, err
	}
	w := io.MultiWriter(f, h)
	n, err := w.Write(mem)
	size := int64(n)
	if err == nil {
		var k int64
		k, err = io.CopyBuffer(w, r, make([]byte, 256<<10))
		size += k
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if limit >= 0 && size > limit {
		return nil, tooLarge(limit)
	}
	return &Content{file: f, size: size, digest: sumOf(h)}, nil
}

func sumOf(h hash.Hash) []byte { return h.Sum(nil) }

func tooLarge(limit int64) error {
	return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
}

func (s *Set) create() (*os.File, error) {
	dir := s.dir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	f, err := os.CreateTemp(dir, filePrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.mu.Lock()
	s.files = append(s.files, f)
	s.mu.Unlock()
	return f, nil
}

// Close removes the set's files; its contents must not be read after.
func (s *Set) Close() error {
	s.mu.Lock()
	files := s.files
	s.files = nil
	s.mu.Unlock()
	var errs []error
	for _, f := range files {
		errs = append(errs, f.Close(), os.Remove(f.Name()))
	}
	return errors.Join(errs...)
}

// Clean removes the spool files an earlier process left in dir.
func Clean(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filePrefix) && e.Type().IsRegular() {
			errs = append(errs, os.Remove(filepath.Join(dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
