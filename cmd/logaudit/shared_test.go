package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// TestVerifySharedSignatureChanged: under concurrent load ƏMDK signs
// requests in batches, and its log keeps each batch's signature document
// once; verify passes, and after one byte of such a document changes in
// the file it names every record that refers to it.
func TestVerifySharedSignatureChanged(t *testing.T) {
	emdkLog, dinLog, cas := federationLogsAfter(t, func(f *localfed.Federation) {
		l := f.Agency("EMDK").Server.MessageLog()
		loadUntil(t, f, "no signature document shared by records", func() bool {
			n, _, err := l.SignatureDocs()
			return err != nil || n > 0
		})
	})
	code, out, errOut := runCLI(append([]string{"verify", "--log", emdkLog}, cas...)...)
	if code != cli.ExitOK || !strings.Contains(out, "OK") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}

	// The document most records refer to is changed: a document shared
	// with an earlier group's record, which keeps its copy inline, may be
	// referred to by one record only.
	var named []uint64 // the records that refer to the changed document
	edit(t, emdkLog, func(tx *bolt.Tx) {
		refs := map[string][]uint64{}
		tx.Bucket([]byte("records")).ForEach(func(k, v []byte) error {
			if r, _ := messagelog.SharedRef(v); r != nil {
				refs[string(r)] = append(refs[string(r)], binary.BigEndian.Uint64(k))
			}
			return nil
		})
		var ref []byte
		for r, seqs := range refs {
			if len(seqs) > len(named) {
				ref, named = []byte(r), seqs
			}
		}
		docs := tx.Bucket([]byte("sigdocs"))
		doc := bytes.Clone(docs.Get(ref))
		if doc == nil {
			t.Fatal("no shared signature document in the log file")
		}
		doc[len(doc)/2] ^= 0x01
		docs.Put(ref, doc)
	})
	if len(named) == 0 {
		t.Fatal("no record refers to a shared document")
	}
	code, out, _ = runCLI(append([]string{"verify", "--log", emdkLog}, cas...)...)
	if code != cli.ExitError || !strings.Contains(out, "does not match its digest") {
		t.Fatalf("verify after a shared document changed: exit %d\n%s", code, out)
	}
	for _, seq := range named {
		if !strings.Contains(out, fmt.Sprintf("FAIL record %d:", seq)) {
			t.Errorf("record %d, which refers to the changed document, is not named:\n%s", seq, out)
		}
	}
	requireBlobChangeNamed(t, dinLog, cas)
}

// requireBlobChangeNamed: after one byte of a certificate or OCSP response
// kept once (sigblobs) changes in the log file at path, verify names every
// record whose signature document carries it.
func requireBlobChangeNamed(t *testing.T, path string, cas []string) {
	t.Helper()
	var blob []byte
	edit(t, path, func(tx *bolt.Tx) {
		b := tx.Bucket([]byte("sigblobs"))
		if b == nil {
			t.Fatal("no certificate or OCSP response kept apart in the log file")
		}
		k, v := b.Cursor().Last()
		blob = bytes.Clone(v)
		v = bytes.Clone(v)
		v[len(v)/2] ^= 0x01
		b.Put(k, v)
	})
	// The records that carry it, read with the blob as it was.
	var named []uint64
	l, err := messagelog.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	err = l.Each(1, func(r *messagelog.Record, _ []byte) error {
		changed := bytes.Clone(blob)
		changed[len(changed)/2] ^= 0x01
		if bytes.Contains(r.Signature, changed) {
			named = append(named, r.Seq)
		}
		return nil
	})
	l.Close()
	if err != nil || len(named) == 0 {
		t.Fatalf("records carrying the changed blob: %v, %v", named, err)
	}
	code, out, _ := runCLI(append([]string{"verify", "--log", path}, cas...)...)
	if code != cli.ExitError || !strings.Contains(out, "is missing or does not match its digest") {
		t.Fatalf("verify after a certificate or OCSP response changed: exit %d\n%s", code, out)
	}
	for _, seq := range named {
		if !strings.Contains(out, fmt.Sprintf("FAIL record %d:", seq)) {
			t.Errorf("record %d, whose document carries the changed blob, is not named:\n%s", seq, out)
		}
	}
	t.Logf("%d records named", len(named))
}

// loadUntil runs rounds of 16 clients at once, 4 queries each, until done
// (on 2 cores the first round usually does it; the bound of 20 rounds only
// ends a broken run, failing with what was not seen).
func loadUntil(t *testing.T, f *localfed.Federation, what string, done func() bool) {
	t.Helper()
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 4 {
					if r := f.RunQuery(context.Background(), localfed.Queries[0]); !r.OK {
						t.Errorf("%s: %s", r.Query.Name, r.Outcome)
					}
				}
			})
		}
		wg.Wait()
		if done() {
			return
		}
	}
	t.Fatal(what + " after 20 rounds of 16 clients")
}
