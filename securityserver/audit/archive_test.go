package audit_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
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
	"github.com/sluz/sluz/securityserver/messagelog"
)

// TestDigestOnlyArchive: records logged as digests only (messageLog.bodies
// false) are archived too, in containers without message.xml, and verify:
// the signature covers the logged digest. The records are DİN's real
// signed records from a local federation, copied without their bodies into
// a new log and time-stamped by the federation's TSA. An entry added to an
// archive behind the manifest's back is named.
func TestDigestOnlyArchive(t *testing.T) {
	l, recs, trust, _ := dinCopy(t, func(r *messagelog.Record, _ messagelog.Files) {
		r.Message = nil // digest only
		for i := range r.Attachments {
			r.Attachments[i].Data, r.Attachments[i].File = nil, ""
		}
	})
	batches, err := l.Archivable(time.Now().Add(time.Second), 100)
	if err != nil || len(batches) != 1 {
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
	for _, e := range zr.File {
		if e.Name == audit.ArchiveManifest {
			continue
		}
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

// dinCopy runs the local federation's sample queries (DİN's quarterly
// report to DSMF carries an attachment), copies DİN's records, each changed
// by edit (given DİN's attachment files), into a new log in its own
// directory and time-stamps them in one batch by the federation's TSA. It
// returns the log, the records, the federation's trust and the log's path.
func dinCopy(t *testing.T, edit func(r *messagelog.Record, files messagelog.Files)) (*messagelog.Log, []*messagelog.Record, audit.Trust, string) {
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
	var recs []*messagelog.Record
	src.Each(0, func(_ *messagelog.Record, stored []byte) error {
		r, err := messagelog.Decode(append([]byte(nil), stored...)) // outlives the transaction
		if err != nil {
			return err
		}
		edit(r, files)
		r.Seq, r.PrevHash = 0, nil
		recs = append(recs, r)
		return nil
	})
	src.Close()
	path := filepath.Join(t.TempDir(), "messagelog.db")
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
	defer svc.Close()
	first, last, _, _ := l.Pending()
	leaves, _ := l.Leaves(first, last)
	root := messagelog.MerkleRoot(leaves)
	resp, err := svc.TSA.Respond(&tsa.Request{HashAlgorithm: crypto.SHA256, HashedMessage: root, CertReq: true})
	if err != nil || resp.Token == nil {
		t.Fatalf("TSA: %v", err)
	}
	if err := l.AddBatch(&messagelog.Batch{FirstSeq: first, LastSeq: last, Root: root, Token: resp.Token, Time: time.Now(), TSA: "federation"}); err != nil {
		t.Fatal(err)
	}
	trust := audit.Trust{Roots: x509.NewCertPool(), Intermediates: x509.NewCertPool()}
	trust.Roots.AddCert(ca.Root)
	trust.Intermediates.AddCert(ca.Cert)
	return l, recs, trust, path
}

// TestInlineAttachmentLog: a log written before attachment files, its
// attachments inside the records (version 2), still verifies and exports
// them from the records; its records stay version 2.
func TestInlineAttachmentLog(t *testing.T) {
	var inline []byte
	l, recs, trust, path := dinCopy(t, func(r *messagelog.Record, files messagelog.Files) {
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
	rep, err := audit.VerifyLog(path, trust, nil)
	if err != nil || !rep.OK() || rep.Verified != len(recs) {
		t.Fatalf("verify a version 2 log: %+v %v", rep, err)
	}
}
