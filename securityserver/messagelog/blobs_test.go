package messagelog

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/securityserver/signature"
)

// realSigner is a signer as the proxies configure theirs (CA certificate
// embedded, a real OCSP response of the federation's responder).
func realSigner(t *testing.T) *signature.Signer {
	t.Helper()
	dir := t.TempDir()
	ca, err := pkiutil.Init(pkiutil.InitOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	services, err := pkiutil.NewServices(ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pkiutil.GenerateKey(pkiutil.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: "AZ/GOV/DIN", PublicKey: key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	reqDER, err := ocsp.CreateRequest(cert, ca.Cert, crypto.SHA256, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		t.Fatal(err)
	}
	return &signature.Signer{Key: key, Cert: cert, OCSP: services.OCSP.Respond(context.Background(), req), Extra: []*x509.Certificate{ca.Cert}}
}

// signedRecord is sample(i) with a real signature document over its
// message.
func signedRecord(t *testing.T, s *signature.Signer, i int) *Record {
	t.Helper()
	r := sample(i)
	doc, err := s.Sign(signature.Part{URI: signature.MessageURI, Data: r.Message, MimeType: "text/xml"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.Signature = doc
	return r
}

// blobLog logs 6 messages signed alone (documents inline) and a signing
// batch of 4 (one shared document), all with real signature documents,
// and returns them as appended.
func blobLog(t *testing.T, l *Log, s *signature.Signer) []*Record {
	t.Helper()
	var recs []*Record
	for i := range 6 {
		r := signedRecord(t, s, i)
		appendGroup(t, l, r)
		recs = append(recs, r)
	}
	shared := signedRecord(t, s, 6)
	batch := []*Record{shared}
	for i := 7; i < 10; i++ {
		r := sample(i)
		r.Signature = bytes.Clone(shared.Signature)
		batch = append(batch, r)
	}
	appendGroup(t, l, batch...)
	return append(recs, batch...)
}

// requireSame: every reader gets recs back byte-identical.
func requireSame(t *testing.T, l *Log, recs []*Record) {
	t.Helper()
	i := 0
	err := l.Each(1, func(r *Record, stored []byte) error {
		want := recs[i]
		want.Seq, want.PrevHash = r.Seq, r.PrevHash
		if !bytes.Equal(r.Signature, want.Signature) || !bytes.Equal(stored, want.Encode()) || !bytes.Equal(r.Encode(), stored) {
			return fmt.Errorf("record %d: not read back as logged", r.Seq)
		}
		i++
		return nil
	})
	if err != nil || i != len(recs) {
		t.Fatalf("%d of %d records, %v", i, len(recs), err)
	}
	n := 0
	if err := l.Recent(time.Time{}, func(r *Record) error {
		if !bytes.Equal(r.Signature, recs[r.Seq-1].Signature) {
			return fmt.Errorf("Recent: record %d: another document", r.Seq)
		}
		n++
		return nil
	}); err != nil || n != len(recs) {
		t.Fatalf("Recent: %d records, %v", n, err)
	}
	sd, err := l.SignatureDigests(1, uint64(len(recs)))
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range sd {
		if s := sha512.Sum512(recs[i].Signature); !bytes.Equal(d, s[:]) {
			t.Fatalf("record %d: signature digest is not the document's", i+1)
		}
	}
}

// TestBlobsApart: real signature documents are stored with their
// certificates and OCSP response once, read back byte-identical by every
// reader, and the stored records shrink.
func TestBlobsApart(t *testing.T) {
	s := realSigner(t)
	path := filepath.Join(t.TempDir(), "messagelog.db")
	l, err := Open(path, Options{IngestInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	recs := blobLog(t, l, s)
	docLen := len(recs[0].Signature)
	var cert []byte
	for _, c := range []*x509.Certificate{s.Cert, s.Extra[0]} {
		cert = base64.StdEncoding.AppendEncode(cert[:0], c.Raw)
		if !bytes.Contains(recs[0].Signature, cert) {
			t.Fatalf("the document does not carry certificate %s as expected", c.Subject)
		}
	}
	if !bytes.Contains(recs[0].Signature, []byte(base64.StdEncoding.EncodeToString(s.OCSP))) {
		t.Fatal("the document does not carry the OCSP response")
	}
	requireSame(t, l, recs)
	// Three blobs (signer's and CA's certificates, OCSP response), once.
	n, size, err := l.SignatureBlobs()
	if err != nil || n != 3 {
		t.Fatalf("%d blobs of %d bytes, %v; want 3", n, size, err)
	}
	blobBytes := size
	var inline, shared int
	err = l.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
			switch {
			case v[0]&storedShared != 0:
				shared++
			case v[0]&storedBlobs == 0 || len(v) > len(recs[0].Encode())-blobBytes+3*(64+8):
				return fmt.Errorf("record %x stored in %d bytes with its blobs (document %d bytes)", k, len(v), docLen)
			default:
				inline++
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketSigDocs).ForEach(func(k, v []byte) error {
			if !bytes.HasPrefix(v, blobMagic) || len(v) > docLen-blobBytes+3*(64+8)+len(blobMagic) {
				return fmt.Errorf("shared document stored in %d bytes (full %d)", len(v), docLen)
			}
			return nil
		})
	})
	if err != nil || inline != 6 || shared != 4 {
		t.Fatalf("%d inline, %d shared records, %v", inline, shared, err)
	}
	t.Logf("document %d bytes; blobs %d bytes; record %d bytes full, stored %d", docLen, blobBytes, len(recs[0].Encode()), len(recs[0].Encode())-blobBytes+3*64)
	res, err := l.Check()
	requireChecks(t, res, err, len(recs))
	// The time-stamper's batch over them, then archive and prune: the
	// blobs stay (kept for ever), new records still read.
	pruneTo(t, l, stampAll(t, l))
	more := blobLog(t, l, s)
	if n, _, _ := l.SignatureBlobs(); n != 3 {
		t.Fatalf("%d blobs after pruning and logging again, want 3", n)
	}
	i := 0
	if err := l.Each(11, func(r *Record, _ []byte) error {
		if !bytes.Equal(r.Signature, more[i].Signature) {
			return fmt.Errorf("record %d: another document", r.Seq)
		}
		i++
		return nil
	}); err != nil || i != len(more) {
		t.Fatalf("%d records, %v", i, err)
	}
	l.Close()
	res, err = CheckFile(path)
	requireChecks(t, res, err, len(more))
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	n = 0
	if err := ro.Each(11, func(r *Record, _ []byte) error { n++; return nil }); err != nil || n != len(more) {
		t.Fatalf("read-only: %d records, %v", n, err)
	}
}

// TestBlobsTamper: a changed or removed blob is reported at every record
// whose document carries it, inline or shared.
func TestBlobsTamper(t *testing.T) {
	s := realSigner(t)
	sum := sha512.Sum512([]byte(base64.StdEncoding.EncodeToString(s.OCSP)))
	for _, c := range []struct {
		name string
		edit func(b *bolt.Bucket)
	}{
		{"changed", func(b *bolt.Bucket) {
			v := bytes.Clone(b.Get(sum[:]))
			v[10] ^= 1
			b.Put(sum[:], v)
		}},
		{"removed", func(b *bolt.Bucket) { b.Delete(sum[:]) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "messagelog.db")
			l := openLog(t, path)
			recs := blobLog(t, l, s)
			l.Close()
			named := tamperNamed(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketSigBlobs)
				if b.Get(sum[:]) == nil {
					return fmt.Errorf("no OCSP response blob")
				}
				c.edit(b)
				return nil
			}, fmt.Sprintf("SHA-512 %x…) is missing or does not match", sum[:8]))
			if len(named) != len(recs) {
				t.Fatalf("records named %v; want every record 1..%d", named, len(recs))
			}
			// Readers refuse what they cannot rebuild (a changed blob they
			// pass on: the chain hash covers it, and Check names it).
			ro, err := OpenReadOnly(path)
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			err = ro.Each(1, func(*Record, []byte) error { return nil })
			if (c.name == "removed") != (err != nil) {
				t.Fatalf("reading the records: %v", err)
			}
		})
	}
}

// TestBlobsRecovery: records still in the write-ahead file when the server
// was killed are recovered with their documents whole, even when the
// store has lost its blobs meanwhile (the file carries full records).
func TestBlobsRecovery(t *testing.T) {
	s := realSigner(t)
	path := filepath.Join(t.TempDir(), "messagelog.db")
	opts := Options{IngestInterval: time.Hour}
	l, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	recs := blobLog(t, l, s)
	abandon(t, l) // nothing ingested: all in the write-ahead file
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSigBlobs) != nil {
			return tx.DeleteBucket(bucketSigBlobs)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if l, err = Open(path, opts); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	requireSame(t, l, recs)
	res, err := l.Check()
	requireChecks(t, res, err, len(recs))
	if n, _, _ := l.SignatureBlobs(); n != 3 {
		t.Fatalf("%d blobs after recovery, want 3", n)
	}
}

// TestCompactDocShapes: documents without the expected shape are stored as
// they are; one that starts like a compact document round-trips.
func TestCompactDocShapes(t *testing.T) {
	b64 := strings.Repeat("QUJD", 100)
	for _, doc := range []string{
		"<a>" + b64 + "</a>", // another element
		"<ds:X509Certificate>" + b64[:200] + "</ds:X509Certificate>", // too short
		"<ds:X509Certificate>" + b64 + "!</ds:X509Certificate>",      // not base64
		b64 + "</ds:X509Certificate>",                                // no start tag
	} {
		if c := compactDoc([]byte(doc), &blobBatch{}); c != nil {
			t.Errorf("%.40q… compacted", doc)
		}
	}
	for _, doc := range []string{
		string(blobMagic) + "<ds:X509Certificate>x</ds:X509Certificate>",
		"<x:X509Certificate>" + b64 + "</x:X509Certificate><y:EncapsulatedOCSPValue Id=\"o\">\r\n" + b64 + "AA==</y:EncapsulatedOCSPValue>tail",
	} {
		bb := &blobBatch{}
		c := compactDoc([]byte(doc), bb)
		blobs := bb.put
		if c == nil {
			t.Fatalf("%.40q… not compacted", doc)
		}
		got, bad, err := expandDoc(c, func(ref []byte) []byte { return blobs[string(ref)] }, true)
		if err != nil || len(bad) != 0 || string(got) != doc {
			t.Fatalf("%.40q…: round trip %v %v %.40q", doc, bad, err, got)
		}
	}
}
