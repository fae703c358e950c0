package asic

import (
	"archive/zip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// EntryLinkingInfo is the entry of an X-Road message-log archive that
// links its containers to each other and to the previous archive
// (X-Road's LinkingInfoBuilder; messagelog-archive-verifier).
const EntryLinkingInfo = "linkinginfo"

// maxArchiveEntries bounds the entries of an archive zip (X-Road's
// archiver closes an archive at archive-max-filesize, 100 MiB by default,
// far below this many containers).
const maxArchiveEntries = 1 << 20

// Source is the containers found at one path given to Open: a container
// file, the .asice files of a directory, or the .asice entries of a zip
// (an X-Road message-log archive, or a zip of containers as X-Road's /asic
// endpoint returns).
type Source struct {
	// Path is the file or directory the containers are in.
	Path string
	// Archive is true for a zip of containers.
	Archive bool
	// Files are the containers in order: a directory's by name, an
	// archive's in archive order (the order X-Road's linking info chains
	// them).
	Files []*File
	// Linking is the archive's linkinginfo; nil when it has none.
	Linking *LinkingInfo
	// Link is the linking check of an archive: its linkinginfo against
	// its containers (filled in by Each) and against the previous archive
	// (by LinkArchives). Not checked for a zip without linkinginfo; unused
	// for a container file or a directory.
	Link Check
	// LastDigest is the hex digest the archive's chain ends with, once
	// Each has read every container.
	LastDigest string

	zip *zip.ReadCloser
}

// File is one container of a Source.
type File struct {
	// Name is the file's name in its directory or archive.
	Name string
	// Size is its size as the file system or the archive's header says.
	Size int64
	open func() (io.ReadCloser, error)
}

// LinkingInfo is an X-Road message-log archive's linkinginfo: the
// previous archive's last digest and name, the digest algorithm, and for
// each container the chained digest
// H(previous chained digest in hex || hex(H(container))), in hex.
type LinkingInfo struct {
	PrevDigest  string // "" for the first archive ("-")
	PrevArchive string // "" for the first archive ("-")
	Algorithm   string // SHA-256, SHA-384 or SHA-512
	Files       []LinkedFile
}

// LinkedFile is one line of the linking info.
type LinkedFile struct{ Digest, Name string }

// ParseLinkingInfo parses a linkinginfo entry: a first line "PREV-DIGEST
// PREV-ARCHIVE ALGORITHM" ("-" for none), then "DIGEST NAME" per
// container.
func ParseLinkingInfo(b []byte) (*LinkingInfo, error) {
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n"), "\n")
	head := strings.Fields(lines[0])
	if len(head) != 3 {
		return nil, fmt.Errorf("first line %q is not \"PREV-DIGEST PREV-ARCHIVE ALGORITHM\"", snippet([]byte(lines[0])))
	}
	li := &LinkingInfo{PrevDigest: dash(head[0]), PrevArchive: dash(head[1]), Algorithm: head[2]}
	if newHash(li.Algorithm) == nil {
		return nil, fmt.Errorf("digest algorithm %q is not SHA-256, SHA-384 or SHA-512", li.Algorithm)
	}
	for i, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d %q is not \"DIGEST NAME\"", i+2, snippet([]byte(line)))
		}
		li.Files = append(li.Files, LinkedFile{Digest: f[0], Name: f[1]})
	}
	return li, nil
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

func newHash(alg string) func() hash.Hash {
	switch strings.ToUpper(strings.ReplaceAll(alg, "-", "")) {
	case "SHA256":
		return sha256.New
	case "SHA384":
		return sha512.New384
	case "SHA512":
		return sha512.New
	}
	return nil
}

// Open finds the containers at path: a container file (.asice), a
// directory (its .asice files as one Source, each of its .zip files as
// another) or a zip of containers. A zip is taken for an archive of
// containers when it holds an entry named linkinginfo or ending in .asice;
// any other file is a container, which Verify then judges. Close the
// sources when done.
func Open(p string) ([]*Source, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		s, err := openFile(p)
		if err != nil {
			return nil, err
		}
		return []*Source{s}, nil
	}
	names, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	dir := &Source{Path: p}
	var out []*Source
	for _, e := range names { // ReadDir sorts by name
		full := filepath.Join(p, e.Name())
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".asice":
			if e.Type().IsRegular() {
				dir.Files = append(dir.Files, fileOnDisk(full))
			}
		case ".zip":
			s, err := openFile(full)
			if err != nil {
				Close(out)
				return nil, err
			}
			out = append(out, s)
		}
	}
	if len(dir.Files) > 0 {
		out = append([]*Source{dir}, out...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no .asice or .zip files in %s: give X-Road containers, a directory of them or X-Road's message-log archives", p)
	}
	return out, nil
}

// Close closes the sources' archives.
func Close(srcs []*Source) {
	for _, s := range srcs {
		if s.zip != nil {
			s.zip.Close()
		}
	}
}

func fileOnDisk(p string) *File {
	f := &File{Name: filepath.Base(p), open: func() (io.ReadCloser, error) { return os.Open(p) }}
	if st, err := os.Stat(p); err == nil {
		f.Size = st.Size()
	}
	return f
}

func openFile(p string) (*Source, error) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		// Not a zip: a (damaged) container, for Verify to judge.
		return &Source{Path: p, Files: []*File{fileOnDisk(p)}}, nil
	}
	archive := false
	for _, f := range zr.File {
		if f.Name == EntryLinkingInfo || strings.HasSuffix(f.Name, ".asice") {
			archive = true
			break
		}
	}
	if !archive {
		zr.Close()
		return &Source{Path: p, Files: []*File{fileOnDisk(p)}}, nil
	}
	s := &Source{Path: p, Archive: true, zip: zr}
	if len(zr.File) > maxArchiveEntries {
		zr.Close()
		return nil, fmt.Errorf("%s: %d entries, more than the %d an archive may have", p, len(zr.File), maxArchiveEntries)
	}
	for _, f := range zr.File {
		switch {
		case f.Name == EntryLinkingInfo:
			b, err := readEntry(f, 1<<26)
			if err != nil {
				s.Link.fail("malformed_linking_info", "%s: %v", EntryLinkingInfo, err)
				continue
			}
			if s.Linking, err = ParseLinkingInfo(b); err != nil {
				s.Link.fail("malformed_linking_info", "%s: %v", EntryLinkingInfo, err)
			}
		case strings.HasSuffix(f.Name, ".asice"):
			s.Files = append(s.Files, &File{Name: f.Name, Size: int64(f.UncompressedSize64), open: f.Open})
		}
	}
	if s.Linking == nil && s.Link.Status == "" {
		s.Link.skip("no_linking_info", "the zip has no %s entry (not an X-Road message-log archive): its containers are checked one by one, not their order or completeness", EntryLinkingInfo)
	}
	return s, nil
}

// Each reads the source's containers in order, each within lim
// (MaxTotalBytes bounds a container file), and calls fn with its name and
// content; for an archive with linking info it also checks the chain
// (Link, LastDigest). An error reading a container is given to fn as
// data nil and err set; an error fn returns stops Each.
func (s *Source) Each(lim Limits, fn func(name string, data []byte, err error) error) error {
	lim = lim.withDefaults()
	var chain *linkChain
	if s.Linking != nil {
		chain = &linkChain{li: s.Linking, h: newHash(s.Linking.Algorithm), prev: s.Linking.PrevDigest, seen: map[string]bool{}}
	}
	for _, f := range s.Files {
		data, err := f.read(lim.MaxTotalBytes)
		if err == nil && chain != nil {
			chain.add(&s.Link, f.Name, data)
		}
		if err := fn(f.Name, data, err); err != nil {
			return err
		}
	}
	if chain != nil {
		chain.finish(&s.Link, len(s.Files))
		s.LastDigest = chain.prev
	}
	s.Link.done()
	return nil
}

func (f *File) read(max int64) ([]byte, error) {
	if f.Size > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a container may have", f.Name, f.Size, max)
	}
	rc, err := f.open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than the %d bytes a container may have", f.Name, max)
	}
	return b, nil
}

// linkChain recomputes an archive's chain as X-Road's
// ArchiveHashChainVerifier does: over the containers in archive order.
type linkChain struct {
	li   *LinkingInfo
	h    func() hash.Hash
	prev string
	seen map[string]bool
}

func (c *linkChain) hex(b []byte) string {
	h := c.h()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (c *linkChain) add(chk *Check, name string, data []byte) {
	c.prev = c.hex([]byte(c.prev + c.hex(data)))
	c.seen[name] = true
	for _, lf := range c.li.Files {
		if lf.Name == name {
			if !strings.EqualFold(lf.Digest, c.prev) {
				chk.fail("linking_digest_mismatch", "%s: the linking info's digest %s is not the chain's %s (the container, or one before it in the archive, was changed, removed or reordered)", name, snippet([]byte(lf.Digest)), c.prev)
			}
			return
		}
	}
	chk.fail("linking_files_differ", "%s is in the archive but not in its linking info", name)
}

func (c *linkChain) finish(chk *Check, n int) {
	if n == 0 {
		chk.fail("no_containers", "the archive holds no .asice containers (X-Road expects at least one)")
	}
	for _, lf := range c.li.Files {
		if !c.seen[lf.Name] {
			chk.fail("linking_files_differ", "%s is in the linking info but not in the archive (removed?)", lf.Name)
		}
	}
}

// LinkArchives checks, after Each, that each archive continues the one
// its linking info names when that archive is among srcs (the same file
// name, without X-Road's .gpg): its last digest must be the previous
// digest the linking info gives. An archive whose predecessor is not given
// gets a note saying which one to add.
func LinkArchives(srcs []*Source) {
	byName := map[string]*Source{}
	for _, s := range srcs {
		if s.Archive && s.Linking != nil {
			byName[path.Base(filepath.ToSlash(s.Path))] = s
		}
	}
	for _, s := range srcs {
		li := s.Linking
		if li == nil {
			continue
		}
		if li.PrevDigest == "" {
			s.Link.note("the first archive of its chain (no previous archive)")
			continue
		}
		prevName := strings.TrimSuffix(li.PrevArchive, ".gpg")
		prev := byName[prevName]
		switch {
		case prev == nil:
			s.Link.note("continues %s, which was not given: add it to check the link (its chain must end with %s)", li.PrevArchive, li.PrevDigest)
		case prev.LastDigest == "":
			s.Link.note("continues %s, whose chain could not be computed", prev.Path)
		case !strings.EqualFold(prev.LastDigest, li.PrevDigest):
			s.Link.fail("linking_prev_mismatch", "the linking info continues %s at digest %s, but that archive's chain ends with %s", li.PrevArchive, snippet([]byte(li.PrevDigest)), prev.LastDigest)
		default:
			s.Link.note("continues %s", prev.Path)
		}
	}
}
