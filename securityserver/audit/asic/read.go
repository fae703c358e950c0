package asic

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
)

// The entry names X-Road's AsicContainerEntries writes, and the container's
// mimetype.
const (
	MimeType = "application/vnd.etsi.asic-e+zip"

	EntryMimeType        = "mimetype"
	EntryMessage         = "message.xml"
	EntrySignature       = "META-INF/signatures.xml"
	EntrySigChainResult  = "sig-hashchainresult.xml"
	EntrySigChain        = "sig-hashchain.xml"
	EntryTSChainResult   = "ts-hashchainresult.xml"
	EntryTSChain         = "ts-hashchain.xml"
	EntryTimestamp       = "META-INF/timestamp.tst"
	EntryASiCManifest    = "META-INF/ASiCManifest.xml"
	EntryManifest        = "META-INF/manifest.xml"
	entryAttachment      = "attachment"
	entryMetaInfDir      = "META-INF/"
	maxAttachmentNumber  = 1 << 20
	defaultMaxEntries    = 1024
	defaultMaxEntryBytes = 64 << 20
	defaultMaxTotalBytes = 256 << 20
)

// Limits bound what a container may hold; the zero value is the defaults.
// The sizes are of the uncompressed data, checked against the archive's
// headers before reading and while reading (a header may lie).
type Limits struct {
	// MaxEntries is the most entries a container may have; 0 means 1024.
	MaxEntries int
	// MaxEntryBytes is the largest an entry may be; 0 means 64 MiB.
	MaxEntryBytes int64
	// MaxTotalBytes is the most all entries may hold together; 0 means
	// 256 MiB.
	MaxTotalBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = defaultMaxEntries
	}
	if l.MaxEntryBytes <= 0 {
		l.MaxEntryBytes = defaultMaxEntryBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = defaultMaxTotalBytes
	}
	return l
}

// Container is what a container holds, entry by entry; an entry it does not
// have is nil.
type Container struct {
	// Names are the entry names in archive order.
	Names                  []string
	MimeType               []byte
	Message                []byte
	Signature              []byte
	SigChainResult         []byte
	SigChain               []byte
	TSChainResult          []byte
	TSChain                []byte
	Timestamp              []byte
	ASiCManifest, Manifest []byte
	// Attachments are attachment1, attachment2, ... in order.
	Attachments [][]byte
}

// entry returns a pointer to the field that holds the named entry, nil for
// names X-Road does not write (attachments are handled apart).
func (c *Container) entry(name string) *[]byte {
	switch name {
	case EntryMimeType:
		return &c.MimeType
	case EntryMessage:
		return &c.Message
	case EntrySignature:
		return &c.Signature
	case EntrySigChainResult:
		return &c.SigChainResult
	case EntrySigChain:
		return &c.SigChain
	case EntryTSChainResult:
		return &c.TSChainResult
	case EntryTSChain:
		return &c.TSChain
	case EntryTimestamp:
		return &c.Timestamp
	case EntryASiCManifest:
		return &c.ASiCManifest
	case EntryManifest:
		return &c.Manifest
	}
	return nil
}

// attachmentNumber returns n for "attachmentN" (N a decimal without a
// leading zero, from 1), else 0.
func attachmentNumber(name string) int {
	s, ok := strings.CutPrefix(name, entryAttachment)
	if !ok || s == "" || s[0] == '0' || len(s) > 7 {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxAttachmentNumber || strconv.Itoa(n) != s {
		return 0
	}
	return n
}

// Read reads a container strictly, within opts.Limits (and with
// opts.StrictMimetype). It returns what it could read and the format
// check: every problem with the archive and its entries. Only problems
// that make the archive unreadable return a nil Container.
func Read(data []byte, opts Options) (*Container, Check) {
	// The content's problems come first, in X-Road's order (mimetype,
	// message, signature, ...), then the archive's (unexpected entries,
	// ...): a container without its mimetype is named for that.
	var archive, content, chk Check
	c := read(data, opts.Limits.withDefaults(), opts.StrictMimetype, &archive)
	if c != nil {
		checkEntries(c, &content)
	}
	chk.merge(content)
	chk.merge(archive)
	chk.done()
	return c, chk
}

func read(data []byte, lim Limits, strictMimetype bool, chk *Check) *Container {
	if !bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		chk.fail("not_zip", "the file is not a ZIP archive (it does not start with a local file header), so it has no mimetype entry: it is not an ASiC-E container")
		return nil
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		chk.fail("not_zip", "the file is not a readable ZIP archive: %v", err)
		return nil
	}
	if len(zr.File) > lim.MaxEntries {
		chk.fail("too_large", "the archive has %d entries, more than the %d accepted", len(zr.File), lim.MaxEntries)
		return nil
	}
	var total uint64
	for _, f := range zr.File {
		total += f.UncompressedSize64
		if f.UncompressedSize64 > uint64(lim.MaxEntryBytes) || total > uint64(lim.MaxTotalBytes) {
			chk.fail("too_large", "entry %q says it holds %d bytes (%d in all so far); at most %d per entry and %d in all are accepted", f.Name, f.UncompressedSize64, total, lim.MaxEntryBytes, lim.MaxTotalBytes)
			return nil
		}
	}

	c := &Container{}
	seen := map[string]bool{}
	var attachments map[int][]byte
	var read int64
	for i, f := range zr.File {
		c.Names = append(c.Names, f.Name)
		if seen[f.Name] {
			chk.fail("duplicate_entry", "entry %q appears twice; a reader could take either", f.Name)
			continue
		}
		seen[f.Name] = true
		if f.Name == entryMetaInfDir {
			if f.UncompressedSize64 != 0 || !f.Mode().IsDir() {
				chk.fail("unexpected_entry", "entry %q is not an empty directory entry", f.Name)
			} else {
				chk.note("the archive has a directory entry %q, which X-Road does not write (zip tools do)", f.Name)
			}
			continue
		}
		slot := c.entry(f.Name)
		n := attachmentNumber(f.Name)
		if slot == nil && n == 0 {
			chk.fail("unexpected_entry", "entry %q is not one X-Road writes (mimetype, message.xml, attachmentN, META-INF/signatures.xml, the hash chains, META-INF/timestamp.tst and the two manifests)", f.Name)
			continue
		}
		if f.Flags&0x1 != 0 {
			chk.fail("unsupported_entry", "entry %q is encrypted", f.Name)
			continue
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			chk.fail("unsupported_entry", "entry %q uses compression method %d; only stored (0) and deflated (8) are accepted", f.Name, f.Method)
			continue
		}
		b, err := readEntry(f, min(lim.MaxEntryBytes, lim.MaxTotalBytes-read))
		if err != nil {
			chk.fail(problemCode(err), "entry %q: %v", f.Name, err)
			if errors.Is(err, errTooLarge) {
				return nil
			}
			continue
		}
		read += int64(len(b))
		if f.Name == EntryMimeType {
			if i != 0 {
				mimetypeRule(chk, strictMimetype, "the mimetype entry is entry %d, not the first", i+1)
			}
			if f.Method != zip.Store {
				mimetypeRule(chk, strictMimetype, "the mimetype entry is deflated, not stored")
			}
		}
		if slot != nil {
			*slot = b
			continue
		}
		if attachments == nil {
			attachments = map[int][]byte{}
		}
		attachments[n] = b
	}
	for n := 1; n <= len(attachments); n++ {
		b, ok := attachments[n]
		if !ok {
			chk.fail("attachment_gap", "the container has %d attachments but no %s%d: attachments are numbered from 1 without gaps", len(attachments), entryAttachment, n)
			break
		}
		c.Attachments = append(c.Attachments, b)
	}
	return c
}

// mimetypeRule reports a departure from ETSI EN 319 162-1 §A.1 that X-Road
// makes itself: a failure if strict, else a note.
func mimetypeRule(chk *Check, strict bool, format string, args ...any) {
	if strict {
		chk.fail("mimetype_not_first_stored", format+"; ETSI EN 319 162-1 requires it first and stored", args...)
		return
	}
	chk.note(format+" (ETSI EN 319 162-1 wants it first and stored; X-Road writes it deflated and does not check)", args...)
}

var errTooLarge = errors.New("it holds more than its header says or more than the limit")

func problemCode(err error) string {
	if errors.Is(err, errTooLarge) {
		return "too_large"
	}
	return "unreadable_entry"
}

// readEntry reads at most max bytes of f; a longer entry is errTooLarge
// (zip bombs whose headers lie end there). archive/zip checks the CRC and
// the declared size at the end.
func readEntry(f *zip.File, max int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if max < 0 {
		max = 0
	}
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}

// checkEntries checks what the entries say: the mimetype, the entries every
// container needs and the pairs that go together, as X-Road's
// AsicHelper.verify* do, in their order; then the manifests.
func checkEntries(c *Container, chk *Check) {
	switch {
	case c.MimeType == nil || len(bytes.TrimSpace(c.MimeType)) == 0:
		chk.fail("mimetype_not_found", "the container has no mimetype entry (or it is empty)")
	case string(c.MimeType) != MimeType:
		chk.fail("invalid_mimetype", "the mimetype entry says %q, want %q", snippet(c.MimeType), MimeType)
	}
	if len(bytes.TrimSpace(c.Message)) == 0 {
		chk.fail("message_not_found", "the container has no %s (or it is empty)", EntryMessage)
	}
	if len(bytes.TrimSpace(c.Signature)) == 0 {
		chk.fail("signature_not_found", "the container has no %s (or it is empty)", EntrySignature)
	}
	pair(chk, "hashchain", EntrySigChainResult, c.SigChainResult, EntrySigChain, c.SigChain)
	pair(chk, "hashchain", EntryTSChainResult, c.TSChainResult, EntryTSChain, c.TSChain)
	present := func(b []byte) bool { return b != nil }
	if present(c.TSChainResult) != present(c.Timestamp) {
		if present(c.Timestamp) {
			chk.fail("timestamp_without_hashchain", "the container has %s but no %s: a batch time-stamp token comes with its time-stamp hash chain", EntryTimestamp, EntryTSChainResult)
		} else {
			chk.fail("timestamp_not_found", "the container has a time-stamp hash chain but no %s", EntryTimestamp)
		}
	}
	if c.Timestamp != nil && len(c.Timestamp) == 0 {
		chk.fail("timestamp_not_found", "%s is empty", EntryTimestamp)
	}
	if c.Manifest != nil {
		checkManifest(c, chk)
	}
	if c.ASiCManifest != nil {
		checkASiCManifest(c, chk)
	} else if c.Timestamp != nil {
		chk.note("the container has a batch time-stamp but no %s (X-Road writes one; its verifier does not need it)", EntryASiCManifest)
	}
}

func pair(chk *Check, code, resultName string, result []byte, chainName string, chain []byte) {
	switch {
	case len(bytes.TrimSpace(result)) == 0 && len(bytes.TrimSpace(chain)) == 0:
		if result != nil || chain != nil {
			chk.fail(code+"_not_found", "%s and %s are empty", resultName, chainName)
		}
	case len(bytes.TrimSpace(result)) == 0:
		chk.fail(code+"_result_not_found", "the container has %s but no %s (or it is empty)", chainName, resultName)
	case len(bytes.TrimSpace(chain)) == 0:
		chk.fail(code+"_not_found", "the container has %s but no %s (or it is empty)", resultName, chainName)
	}
}

// snippet quotes at most 64 bytes of b.
func snippet(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}
