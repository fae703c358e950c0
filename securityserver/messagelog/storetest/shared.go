package storetest

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluz/sluz/securityserver/messagelog"
)

// SharedStore is what a store that keeps signature documents once
// (messagelog.EncodeShared) also offers.
type SharedStore interface {
	Store
	// SignatureDocs is how many shared documents the store holds.
	SignatureDocs() (n, size int, err error)
	Check() (*messagelog.CheckResult, error)
}

// SignatureDoc is a signature document the size of a real one (signer's
// certificate and OCSP response, DER in base64: about 4.7 KB that compress
// little); n makes it distinct.
func SignatureDoc(n int) []byte {
	der := make([]byte, 0, 3584)
	for block := sha512.Sum512(fmt.Appendf(nil, "signing batch %d", n)); len(der) < cap(der); block = sha512.Sum512(block[:]) {
		der = append(der, block[:]...)
	}
	return fmt.Appendf(nil, `<asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#"><ds:Signature Id="batch-%d"><xades:EncapsulatedX509Certificate>%s</xades:EncapsulatedX509Certificate></ds:Signature></asic:XAdESSignatures>`,
		n, base64.StdEncoding.EncodeToString(der))
}

// BatchRec is a record of a message of a real one's size (about 1 KB)
// signed in a batch whose document is doc (its own copy).
func BatchRec(i int, doc []byte) *messagelog.Record {
	body := fmt.Appendf(nil, "<SOAP-ENV:Envelope><SOAP-ENV:Header>%s</SOAP-ENV:Header><SOAP-ENV:Body>FİN 5ZJ8K2L, sorğu %d</SOAP-ENV:Body></SOAP-ENV:Envelope>",
		strings.Repeat("<xrd:client>AZ/GOV/EMDK/realestate</xrd:client>", 20), i)
	sum := sha512.Sum512(body)
	return &messagelog.Record{Side: messagelog.ClientSide, Kind: messagelog.Request, MessageID: fmt.Sprintf("id-%d", i), RequestID: "rq",
		Client: "SUBSYSTEM:AZ/GOV/EMDK/realestate", Service: "SERVICE:AZ/GOV/DIN/population/getPersonByFin/v1",
		Message: body, MessageDigest: sum[:], Signature: bytes.Clone(doc), ContentType: "text/xml; charset=UTF-8"}
}

// AppendSigningBatches appends at least total records (whole batches) as
// signing batches of n messages (BatchRec, one document each), one Append
// per batch or, apart, per record, and returns how many.
func AppendSigningBatches(tb testing.TB, s interface {
	Append(ctx context.Context, recs ...*messagelog.Record) error
}, n, total int, apart bool) int {
	recs := make([]*messagelog.Record, n)
	done := 0
	for batch := 1; done < total; batch++ {
		doc := SignatureDoc(batch)
		for j := range recs {
			recs[j] = BatchRec(done+j, doc)
		}
		var err error
		if !apart {
			err = s.Append(context.Background(), recs...)
		}
		for j := 0; apart && j < n && err == nil; j++ {
			err = s.Append(context.Background(), recs[j])
		}
		if err != nil {
			tb.Fatal(err)
		}
		done += n
	}
	return done
}

// RecShared is Rec(n, at) signed with sig (one signing batch's document).
func RecShared(n int, at time.Time, sig []byte) *messagelog.Record {
	r := Rec(n, at)
	r.Signature = bytes.Clone(sig) // each message carries its own copy, as the proxies log it
	return r
}

func signatureDocs(t *testing.T, s SharedStore) int {
	t.Helper()
	n, _, err := s.SignatureDocs()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func checkOK(t *testing.T, s SharedStore) {
	t.Helper()
	if p := Problems(t, s); len(p) > 0 {
		t.Fatalf("check: %v", p)
	}
}

// Problems are the problems Check finds in s but for the tokens Stamp
// adds, which are only bytes: the chain, the records' digests, the
// documents and the batches' hash chains are all checked.
func Problems(t *testing.T, s interface {
	Check() (*messagelog.CheckResult, error)
}) []messagelog.Problem {
	t.Helper()
	res, err := s.Check()
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	var out []messagelog.Problem
	for _, p := range res.Problems {
		if !strings.Contains(p.Reason, "the token is not over") {
			out = append(out, p)
		}
	}
	return out
}

// testSharedSignatures: the records of one signing batch store their
// signature document once; every reader gets each record's document back
// byte for byte and the chain as if it were inline; a document stays until
// the last record that refers to it is pruned.
func testSharedSignatures(t *testing.T, open Open) {
	s0 := opened(t, open)
	s, ok := s0.(SharedStore)
	if !ok {
		t.Skip("the store does not keep signature documents apart")
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	a, b := SignatureDoc(1), SignatureDoc(2)
	want := []*messagelog.Record{
		RecShared(0, at(1), a), RecShared(1, at(2), a), RecShared(2, at(3), a),
		RecShared(3, at(4), a), RecShared(4, at(5), a), RecShared(5, at(6), b),
		RecShared(6, at(7), b), Rec(7, at(8)), // a placeholder signature stays inline
	}
	appendRecs(t, s, want[0], want[1]) // one commit
	appendRecs(t, s, want[2])          // the next: the document is not stored again
	batch1 := Stamp(t, s)
	appendRecs(t, s, want[3], want[4], want[5])
	batch2 := Stamp(t, s)
	appendRecs(t, s, want[6])
	appendRecs(t, s, want[7])
	Stamp(t, s)
	if n := signatureDocs(t, s); n != 2 {
		t.Fatalf("8 records of 2 signing batches: %d signature documents stored, want 2", n)
	}
	recs := all(t, s, 0)
	checkChain(t, recs, 1, zeros()) // each record's stored bytes are its full encoding
	for i, r := range recs {
		if !bytes.Equal(r.rec.Signature, want[i].Signature) {
			t.Fatalf("record %d: the signature document read back differs from the one logged", i+1)
		}
	}
	var recent int
	err := s.Recent(t0, func(r *messagelog.Record) error {
		if !bytes.Equal(r.Signature, want[r.Seq-1].Signature) {
			return fmt.Errorf("Recent: record %d's signature document differs", r.Seq)
		}
		recent++
		return nil
	})
	if err != nil || recent != 8 {
		t.Fatalf("Recent: %d records, %v", recent, err)
	}
	sd, err := s.SignatureDigests(1, 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range sd {
		if sum := sha512.Sum512(want[i].Signature); !bytes.Equal(d, sum[:]) {
			t.Fatalf("SignatureDigests: record %d's is not the SHA-512 of its document", i+1)
		}
	}
	checkOK(t, s)

	prune := func(prev []byte, last uint64, batch uint64) []byte {
		t.Helper()
		h := messagelog.Hash(recs[last-1].bytes)
		if err := s.Prune(prev, messagelog.Anchor{LastSeq: last, RecordHash: h, Batch: batch, Manifest: zeros(), File: "x.zip"}); err != nil {
			t.Fatalf("prune to %d: %v", last, err)
		}
		checkOK(t, s)
		return h
	}
	h := prune(zeros(), batch1.LastSeq, 1) // records 1..3 of batch a go, 4 and 5 stay
	if n := signatureDocs(t, s); n != 2 {
		t.Fatalf("after pruning 3 of the 5 records of a document: %d documents, want 2", n)
	}
	live := all(t, s, 0)
	if !bytes.Equal(live[0].rec.Signature, a) {
		t.Fatal("record 4's signature document is gone with records 1..3")
	}
	prune(h, batch2.LastSeq, 2) // the last records of a go, and one of b
	if n := signatureDocs(t, s); n != 1 {
		t.Fatalf("after pruning every record of a document: %d documents, want 1", n)
	}
	// Reopened, and the first document logged again: stored again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = opened(t, open).(SharedStore)
	appendRecs(t, s, RecShared(8, at(9), a), RecShared(9, at(9), a))
	if n := signatureDocs(t, s); n != 2 {
		t.Fatalf("a pruned document logged again: %d documents, want 2", n)
	}
	live = all(t, s, 0)
	if len(live) != 4 || !bytes.Equal(live[0].rec.Signature, b) || !bytes.Equal(live[2].rec.Signature, a) || !bytes.Equal(live[3].rec.Signature, a) {
		t.Fatalf("after pruning and reopening: %d records, or their documents differ", len(live))
	}
	checkOK(t, s)
}
