package audit

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// ChainEnd is where a directory of archives ends: the live log's anchor
// must name it.
type ChainEnd struct {
	LastSeq    uint64
	RecordHash []byte
	Manifest   []byte
	File       string
}

// VerifyArchives verifies every archive in dir: that the archives chain
// (each manifest names the previous one's hash and continues its records;
// the oldest starts at record 1 or where the retention ledger says removed
// archives ended), that every listed container is present and matches its
// SHA-256, and every record as VerifyLog verifies it (signature, signer,
// OCSP, chain to the record before it, time-stamp hash chain to its
// batch's result (a legacy batch's: Merkle proof to its root), the batch's
// RFC 3161 token). Failures name the archive and the record.
func VerifyArchives(dir string, trust Trust) (*Report, *ChainEnd, error) {
	trust = withDefaults(trust)
	names, err := ListArchives(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("archives: %w", err)
	}
	ledger, err := ReadRetentionLedger(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("archives: %w", err)
	}
	rep := &Report{}
	fail := func(archive string, seq uint64, id, format string, a ...any) {
		rep.Failures = append(rep.Failures, Failure{Archive: archive, Seq: seq, MessageID: id, Reason: fmt.Sprintf(format, a...)})
	}
	// The chain starts at record 1, or after the archives retention removed.
	end := &ChainEnd{RecordHash: zeroHash, Manifest: zeroHash}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	for i, r := range ledger {
		if present[r.File] {
			continue // noted, not yet removed (retention completes it)
		}
		if r.FirstSeq != end.LastSeq+1 || r.PrevManifest != hex.EncodeToString(end.Manifest) {
			fail(RetentionLedger, r.FirstSeq, "", "retention ledger entry %d (%s) does not continue the entry before it", i+1, r.File)
		}
		h, err1 := hex.DecodeString(r.LastRecordHash)
		m, err2 := hex.DecodeString(r.Manifest)
		if err1 != nil || err2 != nil {
			fail(RetentionLedger, r.FirstSeq, "", "retention ledger entry %d (%s) is damaged", i+1, r.File)
		}
		end = &ChainEnd{LastSeq: r.LastSeq, RecordHash: h, Manifest: m, File: r.File}
		rep.Retired += int(r.LastSeq - r.FirstSeq + 1)
	}
	tokens := map[[32]byte]error{}
	// Open every archive first and order them by their manifests' first
	// record (a renamed file does not reorder the chain).
	// (Each is opened twice so that a long history does not hold a file
	// descriptor per archive.)
	type listed struct {
		name string
		seq  uint64
	}
	var files []listed
	for _, name := range names {
		o := listed{name: name}
		if a, err := OpenArchive(filepath.Join(dir, name)); err == nil {
			o.seq = a.Manifest.FirstSeq
			a.Close()
		} else {
			o.seq, _ = nameRange(name)
		}
		files = append(files, o)
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].seq < files[j].seq })
	for _, o := range files {
		name := o.name
		a, err := OpenArchive(filepath.Join(dir, name))
		if err != nil {
			first, last := nameRange(name)
			fail(name, first, "", "the archive is unreadable (%v): records %d..%d cannot be verified", err, first, last)
			if last > end.LastSeq {
				// Continue the chain after it so that later archives are
				// still judged on their own.
				end = &ChainEnd{LastSeq: last, File: name}
			}
			continue
		}
		rep.Archives++
		m := a.Manifest
		switch {
		case m.FirstSeq > end.LastSeq+1:
			after := "the start of the log"
			if end.File != "" {
				after = end.File
			}
			fail(name, end.LastSeq+1, "", "records %d..%d are missing: the archive holding them (after %s, before %s) was removed", end.LastSeq+1, m.FirstSeq-1, after, name)
		case m.FirstSeq <= end.LastSeq:
			fail(name, m.FirstSeq, "", "the archive overlaps the one before it (%s ends at record %d)", end.File, end.LastSeq)
		case end.Manifest != nil && m.PrevManifest != hex.EncodeToString(end.Manifest):
			fail(name, m.FirstSeq, "", "the manifest does not link to the previous archive %s (it or this manifest was changed or replaced)", end.File)
		case end.RecordHash != nil && m.PrevRecordHash != hex.EncodeToString(end.RecordHash):
			fail(name, m.FirstSeq, "", "the first record does not follow the last record of %s", end.File)
		}
		verifyArchive(a, name, trust, tokens, rep, fail)
		a.Close()
		h, _ := hex.DecodeString(m.LastRecordHash)
		end = &ChainEnd{LastSeq: m.LastSeq, RecordHash: h, Manifest: a.Hash, File: name}
	}
	sort.SliceStable(rep.Failures, func(i, j int) bool { return rep.Failures[i].Seq < rep.Failures[j].Seq })
	return rep, end, nil
}

// verifyArchive checks one archive's entries and records.
func verifyArchive(a *ArchiveFile, name string, trust Trust, tokens map[[32]byte]error, rep *Report, fail func(string, uint64, string, string, ...any)) {
	m := a.Manifest
	listed := map[string]bool{ArchiveManifest: true}
	for _, e := range m.Entries {
		listed[e.Name] = true
		if e.Record != "" {
			listed[e.Record] = true
		}
	}
	for _, f := range a.zr.File {
		if !listed[f.Name] {
			fail(name, m.FirstSeq, "", "entry %s is not listed in the manifest (added)", f.Name)
		}
	}
	batches := map[uint64]ManifestBatch{}
	for _, b := range m.Batches {
		batches[b.N] = b
	}
	prevHash, _ := hex.DecodeString(m.PrevRecordHash)
	next := m.FirstSeq
	for _, e := range m.Entries {
		rep.Records++
		if e.Seq != next {
			fail(name, next, "", "record %d is missing from the manifest (it jumps to %d)", next, e.Seq)
		}
		next = e.Seq + 1
		data, err := a.read(e.Name)
		if err != nil {
			fail(name, e.Seq, e.MessageID, "the container is missing or damaged: %v", err)
			prevHash = nil
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != e.SHA256 {
			fail(name, e.Seq, e.MessageID, "container %s does not match its SHA-256 in the manifest (changed)", e.Name)
		}
		var stored []byte
		if e.Record != "" {
			if stored, err = a.read(e.Record); err != nil {
				fail(name, e.Seq, e.MessageID, "the stored record is missing or damaged: %v", err)
				prevHash = nil
				continue
			}
		} else if m.Version != 1 {
			fail(name, e.Seq, e.MessageID, "the manifest names no stored record for container %s", e.Name)
			prevHash = nil
			continue
		}
		r, stored, failed := verifyContainer(data, stored, trust, tokens, batches)
		if r != nil {
			if r.Seq != e.Seq {
				failed = append(failed, fmt.Sprintf("the container holds record %d, the manifest says %d (moved)", r.Seq, e.Seq))
			}
			if prevHash != nil && !bytes.Equal(r.PrevHash, prevHash) {
				failed = append(failed, "does not chain to the record before it (changed, removed or reordered records)")
			}
			if rep.First.IsZero() || r.Time.Before(rep.First) {
				rep.First = r.Time
			}
			if r.Time.After(rep.Last) {
				rep.Last = r.Time
			}
			prevHash = messagelog.Hash(stored)
		} else {
			prevHash = nil
		}
		for _, reason := range failed {
			fail(name, e.Seq, e.MessageID, "%s", reason)
		}
		if len(failed) == 0 {
			rep.Verified++
		}
	}
	if next != m.LastSeq+1 {
		fail(name, next, "", "records %d..%d are missing from the archive", next, m.LastSeq)
	}
	if prevHash != nil && hex.EncodeToString(prevHash) != m.LastRecordHash {
		fail(name, m.LastSeq, "", "the last record's chain hash is not the manifest's lastRecordHash")
	}
	rep.Batches += len(m.Batches)
}

// VerifyContainer checks one container written by WriteContainer (as
// /asic hands them out) on its own, given the record as the log or an
// archive stored it (stored; nil for a legacy container, whose proof
// carries it): the record's signature, signer and OCSP response against
// trust, that the container's entries are the record's, the time-stamp
// hash chain from the batch's ts-hashchainresult.xml to the record's
// signatures.xml (or a legacy container's Merkle proof), and the batch's
// token against trust. It returns the record (nil if unreadable) and the
// reasons it fails (none: valid).
func VerifyContainer(data, stored []byte, trust Trust) (*messagelog.Record, []string) {
	r, _, failed := verifyContainer(data, stored, withDefaults(trust), map[[32]byte]error{}, nil)
	return r, failed
}

// verifyContainer checks one container (batches nil: without a manifest); it returns the record (nil if
// unreadable), its stored bytes and the reasons it fails.
func verifyContainer(data, stored []byte, trust Trust, tokens map[[32]byte]error, batches map[uint64]ManifestBatch) (*messagelog.Record, []byte, []string) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, nil, []string{"the container is not a readable zip: " + err.Error()}
	}
	read := func(name string) ([]byte, error) {
		f, err := zr.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	// An attachment the record keeps in a file (beside the live log) is
	// the container's entry: verifyRecord checks it against its digest.
	fromEntries := func(i int, _ messagelog.Attachment) (io.ReadCloser, error) {
		return zr.Open(EntryAttachment + strconv.Itoa(i+1))
	}
	if _, err := zr.Open(EntryProof); err == nil {
		return verifyLegacyContainer(read, fromEntries, trust, tokens, batches)
	}
	if stored == nil {
		return nil, nil, []string{"the container has no " + EntryProof + " (it is in X-Road's layout): give the record it holds, as the log or its archive stored it"}
	}
	r, err := messagelog.Decode(stored)
	if err != nil {
		return nil, nil, []string{"the stored record: " + err.Error()}
	}
	failed := sameEntries(read, r)
	if err := verifyRecord(r, trust, fromEntries); err != nil {
		failed = append(failed, err.Error())
	}
	p, err := checkTSChain(read)
	if err != nil {
		return r, stored, append(failed, err.Error())
	}
	which := "its batch"
	if batches != nil {
		var b *ManifestBatch
		for _, x := range batches {
			if x.FirstSeq <= r.Seq && r.Seq <= x.LastSeq {
				b = &x
			}
		}
		if b != nil {
			which = fmt.Sprintf("batch %d", b.N)
		}
		if b == nil || b.Root != p.Root || b.Imprint != p.Imprint {
			failed = append(failed, "the time-stamp hash chain is not the one of the record's batch in the manifest")
		}
	}
	tok, err := read(EntryToken)
	if err != nil {
		return r, stored, append(failed, "the container has no time-stamp token")
	}
	res, _ := read(EntryTSChainResult)
	return r, stored, append(failed, checkContainerToken(r, which, tok, &messagelog.Batch{Token: tok, Result: res}, trust, tokens)...)
}

// sameEntries compares the container's message, signature, signature hash
// chain and attachments with the logged record's (those logged in the
// record: one kept in a file is checked by digest, in verifyRecord).
func sameEntries(read func(string) ([]byte, error), r *messagelog.Record) []string {
	var failed []string
	msg, err := read(EntryMessage)
	switch {
	case err != nil && r.Message != nil:
		failed = append(failed, "the container has no "+EntryMessage+" but the record logged the message")
	case err == nil && !bytes.Equal(msg, r.Message):
		failed = append(failed, "the container's "+EntryMessage+" is not the logged message (changed)")
	}
	if sig, err := read(EntrySignature); err != nil || !bytes.Equal(sig, r.Signature) {
		failed = append(failed, "the container's "+EntrySignature+" is missing or not the logged signature (changed)")
	}
	res, err1 := read(EntrySigChainResult)
	chain, err2 := read(EntrySigChain)
	if (err1 == nil) != (r.HashChainResult != nil) || !bytes.Equal(res, r.HashChainResult) || (err2 == nil) != (r.HashChain != nil) || !bytes.Equal(chain, r.HashChain) {
		failed = append(failed, "the container's signature hash chain is not the logged one (changed)")
	}
	for i, a := range r.Attachments {
		if a.Data == nil {
			continue
		}
		name := EntryAttachment + strconv.Itoa(i+1)
		if data, err := read(name); err != nil || !bytes.Equal(data, a.Data) {
			failed = append(failed, "the container's "+name+" is missing or not the logged attachment (changed)")
		}
	}
	return failed
}

// checkContainerToken checks b's token (once per token and imprint) and
// that r was logged before it.
func checkContainerToken(r *messagelog.Record, which string, tok []byte, b *messagelog.Batch, trust Trust, tokens map[[32]byte]error) []string {
	_, imprint := b.Imprint()
	key := sha256.Sum256(append(append([]byte(nil), tok...), imprint...))
	terr, seen := tokens[key]
	if !seen {
		terr = verifyToken(b, trust)
		tokens[key] = terr
	}
	if terr != nil {
		return []string{fmt.Sprintf("time-stamp token of %s: %v", which, terr)}
	}
	if t, err := tsa.ParseToken(tok); err == nil && r.Time.After(t.GenTime.Add(time.Second)) {
		return []string{fmt.Sprintf("logged at %s, after its time-stamp of %s", r.Time.Format(time.RFC3339), t.GenTime.Format(time.RFC3339))}
	}
	return nil
}

// verifyLegacyContainer checks a container of a legacy (Merkle) batch,
// which carries its record in its proof.
func verifyLegacyContainer(read func(string) ([]byte, error), fromEntries attachmentOpener, trust Trust, tokens map[[32]byte]error, batches map[uint64]ManifestBatch) (*messagelog.Record, []byte, []string) {
	pj, err := read(EntryProof)
	if err != nil {
		return nil, nil, []string{EntryProof + ": " + err.Error()}
	}
	var p Proof
	if err := json.Unmarshal(pj, &p); err != nil {
		return nil, nil, []string{EntryProof + ": " + err.Error()}
	}
	stored, err := hex.DecodeString(p.RecordHex)
	if err != nil {
		return nil, nil, []string{EntryProof + ": record: " + err.Error()}
	}
	r, err := messagelog.Decode(stored)
	if err != nil {
		return nil, nil, []string{err.Error()}
	}
	failed := sameEntries(read, r)
	if der, err := read(EntryOCSP); err == nil && !bytes.Equal(der, signatureOCSP(r.Signature)) {
		failed = append(failed, "the container's "+EntryOCSP+" is not the OCSP response in the signature (changed)")
	}
	if err := verifyRecord(r, trust, fromEntries); err != nil {
		failed = append(failed, err.Error())
	}
	// The Merkle proof, from this record to the root its batch's token covers.
	leaf := messagelog.Hash(stored)
	var path [][]byte
	for _, h := range p.Path {
		b, _ := hex.DecodeString(h)
		path = append(path, b)
	}
	root, _ := hex.DecodeString(p.Root)
	b, ok := batches[p.Batch]
	switch {
	case batches == nil: // a container on its own: no manifest to place it in
	case !ok || b.Root != p.Root || r.Seq < b.FirstSeq || r.Seq > b.LastSeq || p.Index != int(r.Seq-b.FirstSeq) || p.Size != int(b.LastSeq-b.FirstSeq+1):
		failed = append(failed, fmt.Sprintf("the time-stamp proof does not place the record in batch %d of the manifest", p.Batch))
	case !messagelog.VerifyMerkleProof(leaf, p.Index, p.Size, path, root):
		failed = append(failed, "the time-stamp proof does not lead from the record to its batch's root (record or proof changed)")
	}
	tok, err := read(EntryToken)
	if err != nil {
		return r, stored, append(failed, "the container has no time-stamp token")
	}
	return r, stored, append(failed, checkContainerToken(r, fmt.Sprintf("batch %d", p.Batch), tok, &messagelog.Batch{Token: tok, Root: root}, trust, tokens)...)
}

// withDefaults fills Trust's defaults.
func withDefaults(trust Trust) Trust {
	if trust.OCSPFreshness == 0 {
		trust.OCSPFreshness = time.Hour
	}
	if trust.Intermediates == nil {
		trust.Intermediates = x509.NewCertPool()
	}
	if trust.cache == nil {
		trust.cache = &verifyCache{}
	}
	return trust
}

// VerifyArchivesAndLog verifies the archives in dir and the live log at
// logPath (see VerifyArchives and VerifyLog), and that the log continues
// the archives: its anchor names the last archive's manifest and last
// record, so that a removed newest archive, or a log pruned without its
// archive, is named too.
func VerifyArchivesAndLog(dir, logPath string, trust Trust, progress func(done, total int)) (*Report, error) {
	rep, end, err := VerifyArchives(dir, trust)
	if err != nil {
		return nil, err
	}
	live, err := VerifyLog(logPath, trust, progress)
	if err != nil {
		return nil, err
	}
	l, err := messagelog.OpenReadOnly(logPath)
	if err != nil {
		return nil, err
	}
	anchor, err := l.Archived()
	l.Close()
	if err != nil {
		return nil, err
	}
	return joinLive(rep, end, live, anchor, dir, filepath.Base(logPath)), nil
}

// ArchivedLogReader is a live log with its archive anchor.
type ArchivedLogReader interface {
	LogReader
	Archived() (*messagelog.Anchor, error)
}

// VerifyArchivesAndStore is VerifyArchivesAndLog for an open log (the log
// on PostgreSQL), named name in failures.
func VerifyArchivesAndStore(dir, name string, l ArchivedLogReader, trust Trust, progress func(done, total int)) (*Report, error) {
	rep, end, err := VerifyArchives(dir, trust)
	if err != nil {
		return nil, err
	}
	live, err := VerifyStore(l, trust, progress)
	if err != nil {
		return nil, err
	}
	anchor, err := l.Archived()
	if err != nil {
		return nil, err
	}
	return joinLive(rep, end, live, anchor, dir, name), nil
}

// joinLive adds the live log's report to the archives' and checks that the
// log's anchor continues the last archive (end).
func joinLive(rep *Report, end *ChainEnd, live *Report, anchor *messagelog.Anchor, dir, base string) *Report {
	fail := func(archive string, seq uint64, format string, a ...any) {
		rep.Failures = append(rep.Failures, Failure{Archive: archive, Seq: seq, Reason: fmt.Sprintf(format, a...)})
	}
	switch {
	case anchor == nil && end.LastSeq > 0:
		fail(end.File, 1, "records 1..%d are in an archive and still in the live log %s, which names no archive: archiving was interrupted before pruning (the security server completes it on its next archive run), or the archives are another server's", end.LastSeq, base)
	case anchor == nil:
	case anchor.LastSeq > end.LastSeq:
		fail(anchor.File, end.LastSeq+1, "records %d..%d are missing: the live log says they were archived (last in %s), but that archive is not in %s", end.LastSeq+1, anchor.LastSeq, anchor.File, dir)
	case anchor.LastSeq < end.LastSeq:
		fail(end.File, anchor.LastSeq+1, "records %d..%d are in an archive and still in the live log: archiving was interrupted before pruning (the security server completes it on its next archive run)", anchor.LastSeq+1, end.LastSeq)
	case !bytes.Equal(anchor.Manifest, end.Manifest) || !bytes.Equal(anchor.RecordHash, end.RecordHash):
		fail(end.File, end.LastSeq, "the live log's anchor names another archive (%s) than the last one in %s: the archive was changed or replaced", anchor.File, dir)
	}
	rep.Records += live.Records
	rep.Verified += live.Verified
	rep.Batches += live.Batches
	rep.Unstamped += live.Unstamped
	if !live.First.IsZero() && (rep.First.IsZero() || live.First.Before(rep.First)) {
		rep.First = live.First
	}
	if live.Last.After(rep.Last) {
		rep.Last = live.Last
	}
	rep.Failures = append(rep.Failures, live.Failures...)
	sort.SliceStable(rep.Failures, func(i, j int) bool { return rep.Failures[i].Seq < rep.Failures[j].Seq })
	return rep
}
