package audit_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/audit/asic"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// TestDigestOnlyArchive: records logged as digests only (messageLog.bodies
// false) are archived too, in containers without message.xml, and verify:
// the signature covers the logged digest. The records are DİN's real
// signed records from a local federation, copied without their bodies into
// a new log and time-stamped by the federation's TSA. An entry added to an
// archive behind the manifest's back is named.
func TestDigestOnlyArchive(t *testing.T) {
	d := dinCopy(t, func(r *messagelog.Record, _ messagelog.Files) {
		r.Message = nil // digest only
		for i := range r.Attachments {
			r.Attachments[i].Data, r.Attachments[i].File = nil, ""
		}
	})
	l, recs, trust, svc := d.log, d.recs, d.trust, d.svc
	// The first half as Şlüz stamped records before X-Road's time-stamp
	// hash chain (a Merkle root), the rest as it stamps them now: an
	// archive of both verifies.
	first, last, _, _ := l.Pending()
	mid := first + (last-first)/2
	stampLegacy(t, l, svc, first, mid)
	stamp(t, l, svc, mid+1, last)
	batches, err := l.Archivable(time.Now().Add(time.Second), 100)
	if err != nil || len(batches) != 2 {
		t.Fatalf("archivable: %v %v", batches, err)
	}
	archives := t.TempDir()
	// An archive must continue the last one.
	if _, err := audit.WriteArchive(l, archives, "DIN-ss1", "AZ/GOV/DIN/ss1", batches, &messagelog.Anchor{LastSeq: 7}, time.Now()); err == nil ||
		!strings.Contains(err.Error(), "the last archive ended at 7") {
		t.Fatalf("archive not continuing the anchor: %v", err)
	}
	res, err := audit.WriteArchive(l, archives, "DIN-ss1", "AZ/GOV/DIN/ss1", batches, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != len(recs) || res.Manifest.FirstSeq != 1 || res.Manifest.LastSeq != uint64(len(recs)) {
		t.Fatalf("archive: %+v", res.Manifest)
	}
	zr, err := zip.OpenReader(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	containers := 0
	for _, e := range zr.File {
		if !strings.HasSuffix(e.Name, ".asice") {
			continue
		}
		containers++
		rc, _ := e.Open()
		data, _ := io.ReadAll(rc)
		rc.Close()
		c, _ := zip.NewReader(strings.NewReader(string(data)), int64(len(data)))
		for _, ce := range c.File {
			if ce.Name == audit.EntryMessage {
				t.Fatalf("%s: a digest-only record's container has %s", e.Name, audit.EntryMessage)
			}
		}
	}
	zr.Close()
	if containers != len(recs) || len(zr.File) != 2*len(recs)+1 {
		t.Fatalf("the archive holds %d containers and %d entries, want %d containers, a stored record beside each, and the manifest", containers, len(zr.File), len(recs))
	}

	rep, _, err := audit.VerifyArchives(archives, trust)
	if err != nil || !rep.OK() || rep.Verified != len(recs) || rep.Archives != 1 {
		t.Fatalf("verify digest-only archive: %+v %v", rep, err)
	}

	// An entry added to the archive (and not to its manifest) is named.
	data, _ := os.ReadFile(res.Path)
	zr2, _ := zip.NewReader(strings.NewReader(string(data)), int64(len(data)))
	out, _ := os.Create(res.Path)
	zw := zip.NewWriter(out)
	for _, e := range zr2.File {
		w, _ := zw.CreateRaw(&e.FileHeader)
		r, _ := e.OpenRaw()
		io.Copy(w, r)
	}
	w, _ := zw.Create("0000000099-forged-request.asice")
	w.Write([]byte("PK"))
	zw.Close()
	out.Close()
	rep, _, err = audit.VerifyArchives(archives, trust)
	if err != nil || rep.OK() || !strings.Contains(rep.Failures[0].Reason, "0000000099-forged-request.asice is not listed in the manifest") {
		t.Fatalf("added entry: %+v %v", rep, err)
	}
}

// stamp adds the batch of records first..last, stamped by the
// federation's TSA, as the time-stamper does.
func stamp(t *testing.T, l *messagelog.Log, svc *pkiutil.Services, first, last uint64) {
	t.Helper()
	sigs, err := l.SignatureDigests(first, last)
	if err != nil {
		t.Fatal(err)
	}
	b, err := messagelog.NewBatch(first, last, sigs)
	if err != nil {
		t.Fatal(err)
	}
	h, imprint := b.Imprint()
	resp, err := svc.TSA.Respond(&tsa.Request{HashAlgorithm: h, HashedMessage: imprint, CertReq: true})
	if err != nil || resp.Token == nil {
		t.Fatalf("TSA: %v", err)
	}
	b.Token, b.Time, b.TSA = resp.Token, time.Now(), "federation"
	if err := l.AddBatch(b); err != nil {
		t.Fatal(err)
	}
}

// stampLegacy adds the batch of records first..last as Şlüz stamped them
// before X-Road's time-stamp hash chain: the token over their Merkle root.
func stampLegacy(t *testing.T, l *messagelog.Log, svc *pkiutil.Services, first, last uint64) {
	t.Helper()
	leaves, err := l.Leaves(first, last)
	if err != nil {
		t.Fatal(err)
	}
	root := messagelog.MerkleRoot(leaves)
	resp, err := svc.TSA.Respond(&tsa.Request{HashAlgorithm: crypto.SHA256, HashedMessage: root, CertReq: true})
	if err != nil || resp.Token == nil {
		t.Fatalf("TSA: %v", err)
	}
	if err := l.AddBatch(&messagelog.Batch{FirstSeq: first, LastSeq: last, Root: root, Token: resp.Token, Time: time.Now(), TSA: "federation"}); err != nil {
		t.Fatal(err)
	}
}

// TestOneRecordBatchContainer: a batch of one record (the time-stamper
// stamps what is pending, one record too) gets a one-step time-stamp hash
// chain, and its exported container passes every one of X-Road's checks
// (package asic) with the federation's certificates, as a container of a
// larger batch does, also those of records whose attachments (SOAP
// attachments, REST bodies) are kept in files beside the log; VerifyLog
// accepts the log.
func TestOneRecordBatchContainer(t *testing.T) {
	d := dinCopy(t, func(*messagelog.Record, messagelog.Files) {})
	l, last := d.log, uint64(len(d.recs))
	stamp(t, l, d.svc, 1, 1)
	stamp(t, l, d.svc, 2, 3)
	stamp(t, l, d.svc, 4, last)
	opts := asic.Options{Anchors: []*x509.Certificate{d.ca.Root}, Intermediates: []*x509.Certificate{d.ca.Cert}}
	inFiles := 0
	for seq := uint64(1); seq <= last; seq++ {
		var buf bytes.Buffer
		err := l.Each(seq, func(r *messagelog.Record, stored []byte) error {
			if r.Seq != seq {
				return nil
			}
			for _, a := range r.Attachments {
				if a.File != "" {
					inFiles++
				}
			}
			return audit.WriteContainer(&buf, l, r, stored)
		})
		if err != nil {
			t.Fatalf("record %d: %v", seq, err)
		}
		if rep := asic.Verify(buf.Bytes(), opts); !rep.Valid() || !rep.BatchTimestamp {
			var sb strings.Builder
			rep.WriteText(&sb)
			t.Errorf("record %d: asic.Verify:\n%s", seq, sb.String())
		}
	}
	if inFiles == 0 {
		t.Fatal("no attachment kept in a file among DİN's records")
	}
	l.Close()
	rep, err := audit.VerifyLog(d.path, d.trust, nil)
	if err != nil || !rep.OK() || rep.Verified != len(d.recs) || rep.Batches != 3 {
		t.Fatalf("VerifyLog: %+v %v", rep, err)
	}
}

// dinLog is a copy of DİN's message log (dinCopy), not time-stamped yet.
type dinLog struct {
	log   *messagelog.Log
	path  string
	recs  []*messagelog.Record
	ca    *pkiutil.CA
	svc   *pkiutil.Services // the federation's services: its TSA
	trust audit.Trust
}

// dinCopy runs the local federation's sample queries (DİN's quarterly
// report to DSMF carries an attachment, its REST queries bodies), copies
// DİN's records, each changed by edit (given DİN's attachment files), into
// a new log in its own directory, with a copy of each attachment file a
// record still names beside it.
func dinCopy(t *testing.T, edit func(r *messagelog.Record, files messagelog.Files)) *dinLog {
	t.Helper()
	dir := t.TempDir()
	f, err := localfed.Start(localfed.Options{Dir: dir, AnyPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range localfed.Queries {
		if r := f.RunQuery(context.Background(), q); !r.OK {
			f.Close()
			t.Fatalf("%s: %s", q.Name, r.Outcome)
		}
	}
	var din *localfed.Agency
	for _, a := range f.Agencies {
		if a.Code == "DIN" {
			din = a
		}
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	f.Close()

	src, err := messagelog.OpenReadOnly(filepath.Join(din.Config.DataDir, securityserver.FileMessageLog))
	if err != nil {
		t.Fatal(err)
	}
	files := src.AttachmentFiles()
	path := filepath.Join(t.TempDir(), "messagelog.db")
	copies := messagelog.AttachmentsBeside(path)
	var recs []*messagelog.Record
	err = src.Each(0, func(_ *messagelog.Record, stored []byte) error {
		r, err := messagelog.Decode(append([]byte(nil), stored...)) // outlives the transaction
		if err != nil {
			return err
		}
		edit(r, files)
		for i, a := range r.Attachments {
			if a.File == "" {
				continue
			}
			f, err := files.Open(a.File)
			if err != nil {
				return err
			}
			r.Attachments[i].File, err = copies.Put(f, "")
			f.Close()
			if err != nil {
				return err
			}
		}
		r.Seq, r.PrevHash = 0, nil
		recs = append(recs, r)
		return nil
	})
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	l, err := messagelog.Open(path, messagelog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Append(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	ca, err := pkiutil.Open(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := pkiutil.NewServices(ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	trust.Roots.AddCert(ca.Root)
	trust.Intermediates.AddCert(ca.Cert)
	return &dinLog{log: l, path: path, recs: recs, ca: ca, svc: svc, trust: trust}
}

// TestInlineAttachmentLog: a log written before attachment files, its
// attachments inside the records (version 2), still verifies and exports
// them from the records; its records stay version 2.
func TestInlineAttachmentLog(t *testing.T) {
	var inline []byte
	d := dinCopy(t, func(r *messagelog.Record, files messagelog.Files) {
		for i, a := range r.Attachments {
			if a.File == "" {
				continue
			}
			f, err := files.Open(a.File)
			if err != nil {
				t.Fatal(err)
			}
			r.Attachments[i].Data, _ = io.ReadAll(f)
			r.Attachments[i].File = ""
			f.Close()
			if inline == nil { // the first record with attachments (SOAP or REST), checked below
				inline = r.Attachments[i].Data
			}
		}
	})
	if inline == nil {
		t.Fatal("no attachment among DİN's records")
	}
	l := d.log
	stampLegacy(t, l, d.svc, 1, uint64(len(d.recs)))
	var chained *messagelog.Record
	var stored []byte
	l.Each(0, func(r *messagelog.Record, v []byte) error {
		if len(r.Attachments) > 0 && chained == nil {
			chained, stored = r, append([]byte(nil), v...)
		}
		return nil
	})
	if chained == nil || stored[0] != 2 {
		t.Fatalf("the copied record with attachments is not version 2")
	}
	var out bytes.Buffer
	if err := audit.WriteContainer(&out, l, chained, stored); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.Open(audit.EntryAttachment + "1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if len(chained.Attachments) != 1 || !bytes.Equal(got, inline) {
		t.Fatalf("attachment1 of the exported container: %q", got)
	}
	l.Close()
	rep, err := audit.VerifyLog(d.path, d.trust, nil)
	if err != nil || !rep.OK() || rep.Verified != len(d.recs) {
		t.Fatalf("verify a version 2 log: %+v %v", rep, err)
	}
}

// TestFileAttachmentsAcrossBatchKinds: a log written between attachment
// files and X-Road's time-stamp hash chain (version 3 records naming
// files, Merkle batches) goes on with hash-chain batches after an upgrade.
// Records of both kinds of batch export with their attachments streamed
// from the files: a legacy container (ts-proof.json) whose proof holds and
// which verifies on its own, X-Road's layout after; the log verifies, and
// so does one archive of both, after which the files can go.
func TestFileAttachmentsAcrossBatchKinds(t *testing.T) {
	d := dinCopy(t, func(*messagelog.Record, messagelog.Files) {})
	l := d.log
	withFile := func(r *messagelog.Record) bool {
		for _, a := range r.Attachments {
			if a.File != "" {
				return true
			}
		}
		return false
	}
	var seqs []uint64 // the records with an attachment in a file
	for i, r := range d.recs {
		if withFile(r) {
			seqs = append(seqs, uint64(i+1))
		}
	}
	last := uint64(len(d.recs))
	if len(seqs) < 2 || seqs[0] == last {
		t.Fatalf("DİN's records with attachment files: %v of %d, want two, one before the last record", seqs, last)
	}
	split := seqs[0] // the legacy batch ends with the first of them
	stampLegacy(t, l, d.svc, 1, split)
	stamp(t, l, d.svc, split+1, last)
	later := seqs[len(seqs)-1]
	if later <= split {
		t.Fatalf("no record with an attachment file after record %d: %v", split, seqs)
	}

	dir := t.TempDir()
	for _, c := range []struct {
		seq    uint64
		legacy bool
	}{{split, true}, {later, false}} {
		var buf bytes.Buffer
		var stored []byte
		var rec *messagelog.Record
		err := l.Each(c.seq, func(r *messagelog.Record, v []byte) error {
			if r.Seq == c.seq {
				rec, stored = r, bytes.Clone(v)
				return audit.WriteContainer(&buf, l, r, stored)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("record %d: %v", c.seq, err)
		}
		zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = zr.Open(audit.EntryProof)
		if (err == nil) != c.legacy {
			t.Errorf("record %d: %s present %v, want %v", c.seq, audit.EntryProof, err == nil, c.legacy)
		}
		f, err := l.AttachmentFiles().Open(rec.Attachments[0].File)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(f)
		f.Close()
		rc, err := zr.Open(audit.EntryAttachment + "1")
		if err != nil {
			t.Fatalf("record %d: %v", c.seq, err)
		}
		got, _ := io.ReadAll(rc)
		if len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("record %d: attachment1 has %d bytes, the file %d", c.seq, len(got), len(want))
		}
		path := filepath.Join(dir, fmt.Sprintf("%d.asice", c.seq))
		os.WriteFile(path, buf.Bytes(), 0o600)
		if p, err := audit.CheckContainerProof(path); err != nil || p.Legacy != c.legacy {
			t.Errorf("record %d: proof %+v %v", c.seq, p, err)
		}
		if c.legacy {
			stored = nil // the legacy container carries its record
		}
		if r, failed := audit.VerifyContainer(buf.Bytes(), stored, d.trust); r == nil || len(failed) > 0 {
			t.Errorf("record %d: VerifyContainer: %v", c.seq, failed)
		}
	}

	batches, err := l.Archivable(time.Now().Add(time.Second), 100)
	if err != nil || len(batches) != 2 {
		t.Fatalf("archivable: %v %v", batches, err)
	}
	archives := t.TempDir()
	res, err := audit.WriteArchive(l, archives, "DIN-ss1", "AZ/GOV/DIN/ss1", batches, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < len(seqs) {
		t.Errorf("the archive result names %d attachment files, want at least %d", len(res.Files), len(seqs))
	}
	l.Close()
	rep, err := audit.VerifyLog(d.path, d.trust, nil)
	if err != nil || !rep.OK() || rep.Verified != len(d.recs) || rep.Batches != 2 {
		t.Fatalf("VerifyLog: %+v %v", rep, err)
	}
	// The archive holds the attachments: it verifies without the files.
	if err := os.RemoveAll(messagelog.AttachmentsBeside(d.path).Dir); err != nil {
		t.Fatal(err)
	}
	rep, _, err = audit.VerifyArchives(archives, d.trust)
	if err != nil || !rep.OK() || rep.Verified != len(d.recs) {
		t.Fatalf("VerifyArchives: %+v %v", rep, err)
	}
}
