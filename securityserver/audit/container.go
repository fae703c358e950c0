package audit

import (
	"archive/zip"
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// Container entry names (ASiC-E, as X-Road's archives name them; the
// time-stamp proof is Şlüz's own).
const (
	MimeTypeASiCE  = "application/vnd.etsi.asic-e+zip"
	EntryMimeType  = "mimetype"
	EntryMessage   = "message.xml"
	EntrySignature = "META-INF/signatures.xml"
	EntryManifest  = "META-INF/manifest.xml"
	EntryToken     = "META-INF/timestamp.tst" // DER RFC 3161 TimeStampToken over the batch root
	EntryProof     = "META-INF/ts-proof.json"
	EntryOCSP      = "META-INF/ocsp-response.der" // the signer's OCSP response (DER), a copy of the one in signatures.xml
	// A message with attachments: the hash-chain result its signature
	// covers, the chain, and each attachment whose bytes were logged
	// (attachment1, attachment2, ...), as X-Road names them.
	EntrySigChainResult = "sig-hashchainresult.xml"
	EntrySigChain       = "sig-hashchain.xml"
	EntryAttachment     = "attachment" // + its number from 1
)

// Proof ties one record to its batch's time-stamp: the record's chain hash
// is leaf Index of Size leaves (RFC 6962 tree, SHA-256) whose root the
// token covers.
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
// time-stamp batches and the chain hashes of a batch's records.
type ContainerSource interface {
	Batches() ([]*messagelog.Batch, error)
	Leaves(first, last uint64) ([][]byte, error)
}

// WriteContainer writes one logged message as an ASiC-E container: the
// message, its signature document, the batch token and the proof that the
// token covers this record. Records logged as digests only cannot be
// exported (there is no message to give). l is the log the record is in:
// the embedded log (*messagelog.Log) or the one on PostgreSQL.
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
	leaves, err := l.Leaves(b.FirstSeq, b.LastSeq)
	if err != nil {
		return err
	}
	return writeContainer(w, r, stored, b, leaves, filesOf(l))
}

// writeContainer writes the container of record r of batch b, whose
// records' chain hashes are leaves. A record logged as a digest only gets
// no message.xml (its proof's record still carries the digest the
// signature covers).
func writeContainer(w io.Writer, r *messagelog.Record, stored []byte, b *messagelog.Batch, leaves [][]byte, open attachmentOpener) error {
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
	type entry struct {
		name string
		data []byte
		att  int // for an attachment kept in a file: its index + 1
	}
	var entries []entry
	if r.Message != nil {
		entries = append(entries, entry{name: EntryMessage, data: r.Message})
	}
	if r.HashChainResult != nil {
		entries = append(entries, entry{name: EntrySigChainResult, data: r.HashChainResult}, entry{name: EntrySigChain, data: r.HashChain})
	}
	for i, a := range r.Attachments {
		switch {
		case a.File != "":
			if open == nil {
				return fmt.Errorf("record %d keeps attachment %d in a file, and this log has none", r.Seq, i+1)
			}
			entries = append(entries, entry{name: EntryAttachment + strconv.Itoa(i+1), att: i + 1})
		case a.Data != nil:
			entries = append(entries, entry{name: EntryAttachment + strconv.Itoa(i+1), data: a.Data})
		}
	}
	entries = append(entries, entry{name: EntrySignature, data: r.Signature})
	if der := signatureOCSP(r.Signature); der != nil {
		entries = append(entries, entry{name: EntryOCSP, data: der})
	}
	entries = append(entries, entry{name: EntryToken, data: b.Token}, entry{name: EntryProof, data: proofJSON}, entry{name: EntryManifest, data: manifest(r.Message != nil)})
	for _, e := range entries {
		fw, err := zw.Create(e.name)
		if err != nil {
			return err
		}
		if e.att > 0 { // streamed from its file, checked against its digest on the way
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

func manifest(withMessage bool) []byte {
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

// CheckContainerProof reads a container's proof and checks it: the
// record's SHA-256 is the leaf, the leaf with the path gives the root, and
// the record holds the container's message and signature. It returns the
// root (hex) the token must cover. Its errors name the container.
func CheckContainerProof(path string) (string, error) {
	root, err := checkContainerProof(path)
	if err != nil {
		return "", fmt.Errorf("container %s: %w", path, err)
	}
	return root, nil
}

func checkContainerProof(path string) (string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return "", err
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
