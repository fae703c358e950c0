package audit

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/sluz/sluz/securityserver/audit/asic"
	"github.com/sluz/sluz/securityserver/hashchain"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// Container entry names: X-Road's (AsicContainerEntries), which package
// asic reads. EntryProof and EntryOCSP are only in the containers of
// records stamped before Şlüz used X-Road's time-stamp hash chain (legacy
// batches, see messagelog.Batch): it wrote them and still reads them.
const (
	MimeTypeASiCE       = "application/vnd.etsi.asic-e+zip"
	EntryMimeType       = asic.EntryMimeType
	EntryMessage        = asic.EntryMessage
	EntrySignature      = asic.EntrySignature
	EntrySigChainResult = asic.EntrySigChainResult // a message with attachments: the hash-chain result its signature covers
	EntrySigChain       = asic.EntrySigChain       // and the chain to the message and each attachment
	EntryTSChainResult  = asic.EntryTSChainResult  // the batch's time-stamp hash chain result, which the token stamps
	EntryTSChain        = asic.EntryTSChain        // and the chain from it to this record's signatures.xml
	EntryManifest       = asic.EntryManifest
	EntryASiCManifest   = asic.EntryASiCManifest
	EntryToken          = asic.EntryTimestamp // DER RFC 3161 TimeStampToken of the batch
	EntryAttachment     = "attachment"        // + its number from 1: each attachment whose bytes were logged
	// Legacy containers only.
	EntryProof = "META-INF/ts-proof.json"
	EntryOCSP  = "META-INF/ocsp-response.der" // the signer's OCSP response (DER), a copy of the one in signatures.xml
)

// Proof ties one record to its legacy batch's time-stamp: the record's
// chain hash is leaf Index of Size leaves (RFC 6962 tree, SHA-256) whose
// root the token covers. Only legacy containers (EntryProof) carry one.
type Proof struct {
	Seq       uint64   `json:"seq"`
	RecordHex string   `json:"record"` // the stored record, hex; its SHA-256 is the leaf
	Leaf      string   `json:"leaf"`   // hex SHA-256 of the stored record
	Index     int      `json:"index"`
	Size      int      `json:"size"`
	Path      []string `json:"path"` // hex audit path, leaf to root
	Root      string   `json:"root"` // hex; the token's message imprint (SHA-256)
	Batch     uint64   `json:"batch"`
}

// AttachmentFiles is a log whose attachments' bytes are kept in files
// beside it (messagelog.Files; the embedded log, and the server's log on
// PostgreSQL): WriteContainer and WriteArchive read attachmentN from there.
type AttachmentFiles interface {
	AttachmentFiles() messagelog.Files
}

// attachmentOpener opens the bytes of a logged attachment that its record
// keeps in a file (messagelog.Attachment.File); i counts from 0.
type attachmentOpener func(i int, a messagelog.Attachment) (io.ReadCloser, error)

// filesOf opens attachments from the files of log l, if it has any.
func filesOf(l any) attachmentOpener {
	fl, ok := l.(AttachmentFiles)
	if !ok {
		return nil
	}
	return fromFiles(fl.AttachmentFiles())
}

func fromFiles(files messagelog.Files) attachmentOpener {
	return func(_ int, a messagelog.Attachment) (io.ReadCloser, error) { return files.Open(a.File) }
}

// ContainerSource is what WriteContainer reads from a live log: its
// time-stamp batches and what a batch's hash chain (or a legacy batch's
// Merkle tree) is built from.
type ContainerSource interface {
	Batches() ([]*messagelog.Batch, error)
	Leaves(first, last uint64) ([][]byte, error)
	SignatureDigests(first, last uint64) ([][]byte, error)
}

// WriteContainer writes one logged message as X-Road's ASiC-E container
// (writeContainer says which entries). Records logged as digests only
// cannot be exported (there is no message to give). l is the log the
// record is in: the embedded log (*messagelog.Log) or the one on
// PostgreSQL.
func WriteContainer(w io.Writer, l ContainerSource, r *messagelog.Record, stored []byte) error {
	if r.Message == nil {
		return fmt.Errorf("record %d was logged as a digest only: no message to export", r.Seq)
	}
	batches, err := l.Batches()
	if err != nil {
		return err
	}
	var b *messagelog.Batch
	for _, x := range batches {
		if x.FirstSeq <= r.Seq && r.Seq <= x.LastSeq {
			b = x
		}
	}
	if b == nil {
		return fmt.Errorf("record %d is not time-stamped yet: export it after its batch closes", r.Seq)
	}
	inputs, err := batchInputs(l, b)
	if err != nil {
		return err
	}
	return writeContainer(w, r, stored, b, inputs, filesOf(l))
}

// batchInputs are what b's time-stamp covers: the records' signature
// digests, or a legacy batch's chain hashes.
func batchInputs(l interface {
	Leaves(first, last uint64) ([][]byte, error)
	SignatureDigests(first, last uint64) ([][]byte, error)
}, b *messagelog.Batch) ([][]byte, error) {
	if b.HashChain() {
		return l.SignatureDigests(b.FirstSeq, b.LastSeq)
	}
	return l.Leaves(b.FirstSeq, b.LastSeq)
}

// writeContainer writes the container of record r of batch b, whose
// records' signature digests (or, for a legacy batch, chain hashes) are
// inputs. The entries are X-Road's, in the order its AsicHelper.write
// writes them, each deflated as X-Road's ZipOutputStream does (the
// mimetype too), with the zip comment "mimetype=...": mimetype,
// message.xml, META-INF/signatures.xml, sig-hashchainresult.xml and
// sig-hashchain.xml (a message with attachments), ts-hashchainresult.xml
// and ts-hashchain.xml, META-INF/manifest.xml, META-INF/ASiCManifest.xml,
// META-INF/timestamp.tst, then attachment1, attachment2, ... (those whose
// bytes were logged; one kept in a file beside the log is streamed from it
// through open, checked against its logged digest on the way). A record
// logged as a digest only gets no message.xml (archives hold such records;
// export refuses them). A record of a legacy batch gets Şlüz's earlier
// layout (writeLegacyContainer).
func writeContainer(w io.Writer, r *messagelog.Record, stored []byte, b *messagelog.Batch, inputs [][]byte, open attachmentOpener) error {
	atts, err := attachmentEntries(r, open)
	if err != nil {
		return err
	}
	if !b.HashChain() {
		return writeLegacyContainer(w, r, stored, b, inputs, atts, open)
	}
	tsChain, err := b.TSChain(r.Seq, inputs)
	if err != nil {
		return err
	}
	if sum := messagelog.SignatureDigest(r); !bytes.Equal(sum, inputs[r.Seq-b.FirstSeq]) {
		return fmt.Errorf("record %d: its signature is not the one batch %d stamped", r.Seq, b.N)
	}
	var entries []zipEntry
	add := func(name string, data []byte) { entries = append(entries, zipEntry{name: name, data: data}) }
	add(EntryMimeType, []byte(MimeTypeASiCE))
	if r.Message != nil {
		add(EntryMessage, r.Message)
	}
	add(EntrySignature, r.Signature)
	if r.HashChainResult != nil {
		add(EntrySigChainResult, r.HashChainResult)
		add(EntrySigChain, r.HashChain)
	}
	add(EntryTSChainResult, b.Result)
	add(EntryTSChain, tsChain)
	var names []string
	for _, e := range atts {
		names = append(names, e.name)
	}
	add(EntryManifest, openDocumentManifest(r.Message != nil, r.HashChainResult != nil, names))
	add(EntryASiCManifest, asicManifest(b.Result))
	add(EntryToken, b.Token)
	entries = append(entries, atts...)
	zw := zip.NewWriter(w)
	if err := zw.SetComment("mimetype=" + MimeTypeASiCE); err != nil {
		return err
	}
	return writeEntries(zw, entries, r, open, func(name string) *zip.FileHeader {
		return &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: r.Time}
	})
}

// zipEntry is one entry of a container: its bytes, or (att > 0) attachment
// att-1 of the record, kept in a file beside the log.
type zipEntry struct {
	name string
	data []byte
	att  int
}

// attachmentEntries are the entries attachment1, attachment2, ... of the
// record's attachments whose bytes were logged, in the record or in a file
// (which open must then be able to open).
func attachmentEntries(r *messagelog.Record, open attachmentOpener) ([]zipEntry, error) {
	var entries []zipEntry
	for i, a := range r.Attachments {
		name := EntryAttachment + strconv.Itoa(i+1)
		switch {
		case a.File != "":
			if open == nil {
				return nil, fmt.Errorf("record %d keeps attachment %d in a file, and this log has none", r.Seq, i+1)
			}
			entries = append(entries, zipEntry{name: name, att: i + 1})
		case a.Data != nil:
			entries = append(entries, zipEntry{name: name, data: a.Data})
		}
	}
	return entries, nil
}

// writeEntries writes entries to zw, each with the header header gives it;
// an attachment kept in a file is streamed from it and checked against its
// logged digest on the way.
func writeEntries(zw *zip.Writer, entries []zipEntry, r *messagelog.Record, open attachmentOpener, header func(name string) *zip.FileHeader) error {
	for _, e := range entries {
		fw, err := zw.CreateHeader(header(e.name))
		if err != nil {
			return err
		}
		if e.att > 0 {
			if err := copyAttachment(fw, open, e.att-1, r.Attachments[e.att-1]); err != nil {
				return fmt.Errorf("record %d, attachment %d: %w", r.Seq, e.att, err)
			}
			continue
		}
		if _, err := fw.Write(e.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// copyAttachment copies a logged attachment's file to w, and fails if its
// bytes are not the logged digest's.
func copyAttachment(w io.Writer, open attachmentOpener, i int, a messagelog.Attachment) error {
	rc, err := open(i, a)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha512.New()
	if _, err := io.CopyBuffer(io.MultiWriter(w, h), struct{ io.Reader }{rc}, make([]byte, 256<<10)); err != nil {
		return err
	}
	if !bytes.Equal(h.Sum(nil), a.Digest) {
		return fmt.Errorf("its file %s does not match its logged digest (changed)", a.File)
	}
	return nil
}

// openDocumentManifest is META-INF/manifest.xml as X-Road's
// OpenDocumentManifestBuilder writes it: "/" first, then every entry
// outside META-INF as text/xml in the order X-Road's HashMap of entries
// iterates them (sig-hashchain.xml, message.xml, ts-hashchainresult.xml,
// sig-hashchainresult.xml, ts-hashchain.xml: their buckets by Java's
// String.hashCode), then the attachments as application/octet-stream.
func openDocumentManifest(message, sigChain bool, attachments []string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">` + "\n")
	entry := func(name, mime string) {
		b.WriteString(`    <manifest:file-entry manifest:media-type="` + mime + `" manifest:full-path="` + name + `"/>` + "\n")
	}
	entry("/", MimeTypeASiCE)
	if sigChain {
		entry(EntrySigChain, "text/xml")
	}
	if message {
		entry(EntryMessage, "text/xml")
	}
	entry(EntryTSChainResult, "text/xml")
	if sigChain {
		entry(EntrySigChainResult, "text/xml")
	}
	entry(EntryTSChain, "text/xml")
	for _, a := range attachments {
		entry(a, "application/octet-stream")
	}
	b.WriteString("</manifest:manifest>\n")
	return []byte(b.String())
}

// asicManifest is META-INF/ASiCManifest.xml as X-Road's AsicManifestBuilder
// writes it: the token (SigReference) over ts-hashchainresult.xml, whose
// SHA-512 it gives.
func asicManifest(tsResult []byte) []byte {
	sum := sha512.Sum512(tsResult)
	return []byte(`<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<asic:ASiCManifest xmlns:asic="http://uri.etsi.org/2918/v1.2.1#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">` + "\n" +
		`<asic:SigReference URI="` + EntryToken + `" MimeType="vnd.etsi.timestamp-token"/>` + "\n" +
		`<asic:DataObjectReference URI="` + EntryTSChainResult + `" MimeType="text/xml">` + "\n" +
		`<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha512" />` + "\n" +
		`<ds:DigestValue>` + base64.StdEncoding.EncodeToString(sum[:]) + `</ds:DigestValue>` + "\n" +
		`</asic:DataObjectReference>` + "\n" +
		`</asic:ASiCManifest>`)
}

// writeLegacyContainer writes the container of record r of a legacy
// (Merkle) batch b, whose records' chain hashes are leaves, as Şlüz wrote
// them before: no time-stamp hash chain, a ts-proof.json instead; atts are
// its attachment entries.
func writeLegacyContainer(w io.Writer, r *messagelog.Record, stored []byte, b *messagelog.Batch, leaves [][]byte, atts []zipEntry, open attachmentOpener) error {
	idx := int(r.Seq - b.FirstSeq)
	if r.Seq < b.FirstSeq || idx >= len(leaves) {
		return fmt.Errorf("record %d is not in batch %d (%d..%d)", r.Seq, b.N, b.FirstSeq, b.LastSeq)
	}
	proof := Proof{Seq: r.Seq, RecordHex: hex.EncodeToString(stored), Leaf: hex.EncodeToString(leaves[idx]), Index: idx, Size: len(leaves),
		Root: hex.EncodeToString(b.Root), Batch: b.N}
	for _, p := range messagelog.MerkleProof(leaves, idx) {
		proof.Path = append(proof.Path, hex.EncodeToString(p))
	}
	proofJSON, err := json.MarshalIndent(proof, "", "  ")
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	// The mimetype entry comes first and stored, as ASiC requires.
	mw, err := zw.CreateHeader(&zip.FileHeader{Name: EntryMimeType, Method: zip.Store})
	if err != nil {
		return err
	}
	io.WriteString(mw, MimeTypeASiCE)
	var entries []zipEntry
	if r.Message != nil {
		entries = append(entries, zipEntry{name: EntryMessage, data: r.Message})
	}
	if r.HashChainResult != nil {
		entries = append(entries, zipEntry{name: EntrySigChainResult, data: r.HashChainResult}, zipEntry{name: EntrySigChain, data: r.HashChain})
	}
	entries = append(entries, atts...)
	entries = append(entries, zipEntry{name: EntrySignature, data: r.Signature})
	if der := signatureOCSP(r.Signature); der != nil {
		entries = append(entries, zipEntry{name: EntryOCSP, data: der})
	}
	entries = append(entries, zipEntry{name: EntryToken, data: b.Token}, zipEntry{name: EntryProof, data: proofJSON}, zipEntry{name: EntryManifest, data: legacyManifest(r.Message != nil)})
	return writeEntries(zw, entries, r, open, func(name string) *zip.FileHeader {
		return &zip.FileHeader{Name: name, Method: zip.Deflate} // as zw.Create
	})
}

// signatureOCSP is the first OCSP response in a signature document's
// RevocationValues (the signer's), DER; nil if there is none.
func signatureOCSP(sig []byte) []byte {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(sig); err != nil {
		return nil
	}
	for _, el := range doc.FindElements("//EncapsulatedOCSPValue") {
		der, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, el.Text()))
		if err == nil {
			return der
		}
	}
	return nil
}

func legacyManifest(withMessage bool) []byte {
	msg := ""
	if withMessage {
		msg = ` <manifest:file-entry manifest:full-path="` + EntryMessage + `" manifest:media-type="text/xml"/>
`
	}
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="` + MimeTypeASiCE + `"/>
` + msg + `</manifest:manifest>
`)
}

// ContainerProof is what CheckContainerProof found: what the container's
// time-stamp token must stamp.
type ContainerProof struct {
	// Legacy is true for a container of a legacy (Merkle) batch: the token
	// stamps Root with SHA-256. Otherwise it stamps ts-hashchainresult.xml
	// with SHA-512, and Root is the hash chain's top.
	Legacy  bool
	Root    string // hex
	Imprint string // hex: the token's message imprint
	Hash    crypto.Hash
}

// CheckContainerProof checks how a container ties its record to its
// time-stamp token: the signature hash chain from message.xml and the
// attachments to sig-hashchainresult.xml (if the message has one, see
// checkSigChain) and the time-stamp hash chain from ts-hashchainresult.xml
// to META-INF/signatures.xml (X-Road's layout), or a legacy container's
// Merkle proof (the record's SHA-256 is the leaf, the leaf with the path
// gives the root, and the record holds the container's message and
// signature). It does not check the token itself (openssl ts does, or
// VerifyContainer). Its errors name the container.
func CheckContainerProof(path string) (*ContainerProof, error) {
	p, err := checkContainerProof(path)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", path, err)
	}
	return p, nil
}

func checkContainerProof(path string) (*ContainerProof, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	read := func(name string) ([]byte, error) {
		f, err := zr.Open(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer f.Close()
		data, err := io.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return data, nil
	}
	if _, err := zr.Open(EntryProof); err != nil {
		if err := checkSigChain(read, zr.Open); err != nil {
			return nil, err
		}
		return checkTSChain(read)
	}
	root, err := checkLegacyProof(read)
	if err != nil {
		return nil, err
	}
	return &ContainerProof{Legacy: true, Root: root, Imprint: root, Hash: crypto.SHA256}, nil
}

// checkSigChain checks a container's signature hash chain, if it has one
// (a message with attachments, a REST message with a body): from
// message.xml and each attachmentN to sig-hashchainresult.xml, which
// signatures.xml signs (the signature itself is for xmlsec1 or logaudit
// verify to check). An attachment the container lacks (not logged), or a
// message logged as a digest only, is taken on the chain's word.
// Attachments are hashed as they are read, with SHA-512 (what Şlüz's and
// X-Road's chains use).
func checkSigChain(read func(string) ([]byte, error), open func(string) (fs.File, error)) error {
	res, err := read(EntrySigChainResult)
	if err != nil {
		return nil // signatures.xml signs message.xml itself
	}
	chain, err := read(EntrySigChain)
	if err != nil {
		return err
	}
	refs, err := hashchain.DataRefs(chain)
	if err != nil {
		return fmt.Errorf("%s: %w", EntrySigChain, err)
	}
	parts := map[string]hashchain.Part{}
	for uri := range refs {
		name := strings.TrimPrefix(uri, "/")
		switch {
		case uri == hashchain.MessageURI:
			parts[uri] = hashchain.Absent()
			if msg, err := read(EntryMessage); err == nil {
				parts[uri] = hashchain.Bytes(msg)
			}
		case strings.HasPrefix(name, EntryAttachment):
			f, err := open(name)
			if err != nil {
				parts[uri] = hashchain.Absent()
				continue
			}
			h := sha512.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			parts[uri] = hashchain.Digested(hashchain.DefaultMethod, h.Sum(nil))
		}
	}
	if err := hashchain.Verify(res, map[string][]byte{hashchain.SigChainURI: chain}, parts); err != nil {
		return fmt.Errorf("the signature hash chain (%s, %s): %w", EntrySigChainResult, EntrySigChain, err)
	}
	return nil
}

// checkTSChain checks a container's time-stamp hash chain.
func checkTSChain(read func(string) ([]byte, error)) (*ContainerProof, error) {
	res, err := read(EntryTSChainResult)
	if err != nil {
		return nil, fmt.Errorf("no time-stamp hash chain (%w): the container is not time-stamped in a batch", err)
	}
	chain, err := read(EntryTSChain)
	if err != nil {
		return nil, err
	}
	sig, err := read(EntrySignature)
	if err != nil {
		return nil, err
	}
	err = hashchain.Verify(res, map[string][]byte{hashchain.TSChainURI: chain}, map[string]hashchain.Part{hashchain.SignaturesURI: hashchain.Bytes(sig)})
	if err != nil {
		return nil, fmt.Errorf("the time-stamp hash chain: %w", err)
	}
	top, err := hashchain.ResultDigest(res)
	if err != nil {
		return nil, err
	}
	sum := sha512.Sum512(res)
	return &ContainerProof{Root: hex.EncodeToString(top), Imprint: hex.EncodeToString(sum[:]), Hash: crypto.SHA512}, nil
}

// checkLegacyProof checks a legacy container's Merkle proof; it returns the root (hex).
func checkLegacyProof(read func(string) ([]byte, error)) (string, error) {
	pj, err := read(EntryProof)
	if err != nil {
		return "", err
	}
	var p Proof
	if err := json.Unmarshal(pj, &p); err != nil {
		return "", fmt.Errorf("%s: %w", EntryProof, err)
	}
	stored, err := hex.DecodeString(p.RecordHex)
	if err != nil {
		return "", fmt.Errorf("%s: record: %w", EntryProof, err)
	}
	r, err := messagelog.Decode(stored)
	if err != nil {
		return "", fmt.Errorf("%s: record: %w", EntryProof, err)
	}
	msg, err := read(EntryMessage)
	if err != nil {
		return "", err
	}
	sig, err := read(EntrySignature)
	if err != nil {
		return "", err
	}
	if string(msg) != string(r.Message) || string(sig) != string(r.Signature) {
		return "", fmt.Errorf("the container's message or signature is not the one in its logged record")
	}
	if r.HashChainResult != nil {
		res, err := read(EntrySigChainResult)
		if err != nil {
			return "", err
		}
		chain, err := read(EntrySigChain)
		if err != nil {
			return "", err
		}
		if string(res) != string(r.HashChainResult) || string(chain) != string(r.HashChain) {
			return "", fmt.Errorf("the container's hash chain is not the one in its logged record")
		}
	}
	for i, a := range r.Attachments {
		if a.Data == nil && a.File == "" {
			continue
		}
		data, err := read(EntryAttachment + strconv.Itoa(i+1))
		if err != nil {
			return "", err
		}
		sum := sha512.Sum512(data)
		if a.File == "" && string(data) != string(a.Data) || a.File != "" && !bytes.Equal(sum[:], a.Digest) {
			return "", fmt.Errorf("the container's attachment %d is not the one in its logged record", i+1)
		}
	}
	leaf := messagelog.Hash(stored)
	if hex.EncodeToString(leaf) != p.Leaf {
		return "", fmt.Errorf("the record does not hash to the proof's leaf")
	}
	var auditPath [][]byte
	for _, h := range p.Path {
		b, err := hex.DecodeString(h)
		if err != nil {
			return "", fmt.Errorf("%s: path: %w", EntryProof, err)
		}
		auditPath = append(auditPath, b)
	}
	root, err := hex.DecodeString(p.Root)
	if err != nil {
		return "", fmt.Errorf("%s: root: %w", EntryProof, err)
	}
	if !messagelog.VerifyMerkleProof(leaf, p.Index, p.Size, auditPath, root) {
		return "", fmt.Errorf("the proof does not lead from the record to the root")
	}
	return p.Root, nil
}
