package verify_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/verify"
)

// batchOf signs n messages (every other one with an attachment) under one
// signature with DİN's signing key and its current OCSP response.
func batchOf(t testing.TB, f *federation, n int, tag string) ([]verify.Signed, [][]byte) {
	t.Helper()
	s := &signature.Signer{Key: f.signKey, Cert: f.sign, OCSP: f.ocspFor(t, f.sign)}
	msgs := make([]signature.Message, n)
	for i := range msgs {
		msgs[i].SOAP = []byte(fmt.Sprintf(`<x>%s: DİN message %d, FİN 5ZK7Q2M</x>`, tag, i))
		if i%2 == 1 {
			msgs[i].Attachments = []signature.Part{{Data: []byte(fmt.Sprintf("%s: attachment of %d", tag, i))}}
		}
	}
	out, err := s.SignBatch(msgs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signed := make([]verify.Signed, n)
	sigs := make([][]byte, n)
	for i, c := range out {
		signed[i] = verify.Signed{SOAP: msgs[i].SOAP, Attachments: msgs[i].Attachments, HashChainResult: c.Result, HashChain: c.Chain}
		sigs[i] = c.Signature
	}
	return signed, sigs
}

func TestSignatureCacheHits(t *testing.T) {
	f := getFederation(t)
	din := member(t, "AZ/GOV/DIN")
	msgs, sigs := batchOf(t, f, 5, "one")
	v := verify.New(0)
	v.Signatures = verify.NewSignatureCache(0)
	for i := range msgs {
		if err := v.SignatureOf(f.trust, sigs[i], msgs[i], din); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if st := v.Signatures.Stats(); st.Hits != 4 || st.Misses != 1 || st.Entries != 1 {
		t.Fatalf("stats %+v, want 1 miss (the first message) and 4 hits", st)
	}
	// A hit still checks who signed: each message names its own signer.
	err := v.SignatureOf(f.trust, sigs[1], msgs[1], member(t, "AZ/GOV/EMDK"))
	wantRefusal(t, err, message.IncorrectCertificate, "AZ/GOV/EMDK", "AZ/GOV/DIN")
	if st := v.Signatures.Stats(); st.Hits != 5 {
		t.Fatalf("stats %+v: the identity was not checked on a hit", st)
	}
	// Another configuration is judged afresh.
	other := &trust{ca: f.ca, freshness: f.trust.freshness}
	if err := v.SignatureOf(other, sigs[2], msgs[2], din); err != nil {
		t.Fatal(err)
	}
	if st := v.Signatures.Stats(); st.Misses != 2 {
		t.Fatalf("stats %+v: a new Trust hit the old configuration's entry", st)
	}
}

// TestSignatureCacheRefuses: with the batch's signature in the cache, a
// message that is not one of its batch is refused exactly as without the
// cache, and refusals are never remembered.
func TestSignatureCacheRefuses(t *testing.T) {
	f := getFederation(t)
	din := member(t, "AZ/GOV/DIN")
	one, sigs := batchOf(t, f, 4, "one")
	two, _ := batchOf(t, f, 4, "two")
	tampered := one[2]
	tampered.SOAP = bytes.Replace(tampered.SOAP, []byte("DİN"), []byte("DIN"), 1)
	tamperedAtt := one[3]
	tamperedAtt.Attachments = []signature.Part{{Data: []byte("another attachment")}}
	chainOfTwo := one[1]
	chainOfTwo.HashChain = two[1].HashChain
	resultOfTwo := two[1] // its message, result and chain under one's signature
	swapped := one[1]
	swapped.HashChain = one[0].HashChain
	for _, tc := range []struct {
		name string
		m    verify.Signed
		want error
	}{
		{"another batch's message, result and chain under this signature", resultOfTwo, signature.ErrChain},
		{"a chain from another batch", chainOfTwo, signature.ErrDigest}, // its DataRef names the other batch's message
		{"another member's chain", swapped, signature.ErrDigest},
		{"a tampered message inside the batch", tampered, signature.ErrDigest},
		{"a tampered attachment inside the batch", tamperedAtt, signature.ErrAttachment},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cached := range []bool{false, true} {
				v := verify.New(0)
				v.Signatures = verify.NewSignatureCache(0)
				if cached { // the batch's signature verified once already
					if err := v.SignatureOf(f.trust, sigs[0], one[0], din); err != nil {
						t.Fatal(err)
					}
				}
				err := v.SignatureOf(f.trust, sigs[0], tc.m, din)
				var r *verify.Refusal
				if !errors.As(err, &r) || r.Code != message.InvalidSignatureValue || !errors.Is(err, tc.want) {
					t.Fatalf("cached %v: got %v, want an %s refusal wrapping %v", cached, err, message.InvalidSignatureValue, tc.want)
				}
				st := v.Signatures.Stats()
				if want := map[bool]int{false: 0, true: 1}[cached]; st.Entries != want {
					t.Fatalf("cached %v: %d entries after a refusal, want %d", cached, st.Entries, want)
				}
				if cached && st.Hits != 1 {
					t.Fatalf("the refusal was not judged through the cached entry: %+v", st)
				}
			}
		})
	}
	// A first message that is refused leaves nothing behind: the batch's
	// good message is then verified in full.
	v := verify.New(0)
	v.Signatures = verify.NewSignatureCache(0)
	if err := v.SignatureOf(f.trust, sigs[2], tampered, din); err == nil {
		t.Fatal("a tampered message was accepted")
	}
	if err := v.SignatureOf(f.trust, sigs[2], one[2], din); err != nil {
		t.Fatal(err)
	}
	if st := v.Signatures.Stats(); st.Hits != 0 || st.Misses != 2 || st.Entries != 1 {
		t.Fatalf("stats %+v: a refusal was remembered", st)
	}
}

// TestSignatureCacheOCSPFreshness: an entry holds while the OCSP response
// it was judged with is fresh and not a moment longer: then the signature
// is judged afresh, and refused as stale.
func TestSignatureCacheOCSPFreshness(t *testing.T) {
	f := getFederation(t)
	din := member(t, "AZ/GOV/DIN")
	msgs, sigs := batchOf(t, f, 3, "fresh")
	sv, err := verify.SignedValue(sigs[0], msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.Verify(sv.OCSP[0], ocsp.VerifyOptions{Cert: f.sign, Issuer: f.ca.Cert})
	if err != nil {
		t.Fatal(err)
	}
	stale := resp.ThisUpdate.Add(f.trust.freshness)
	if !resp.NextUpdate.IsZero() && resp.NextUpdate.Before(stale) {
		stale = resp.NextUpdate
	}
	now := resp.ThisUpdate
	v := verify.New(0)
	v.Now = func() time.Time { return now }
	v.Signatures = verify.NewSignatureCache(0)
	if err := v.SignatureOf(f.trust, sigs[0], msgs[0], din); err != nil {
		t.Fatal(err)
	}
	now = stale.Add(-time.Millisecond) // the last moment the response is fresh
	if err := v.SignatureOf(f.trust, sigs[1], msgs[1], din); err != nil {
		t.Fatal(err)
	}
	if st := v.Signatures.Stats(); st.Hits != 1 {
		t.Fatalf("stats %+v: no hit while the OCSP response is fresh", st)
	}
	now = stale.Add(time.Second)
	err = v.SignatureOf(f.trust, sigs[2], msgs[2], din)
	r := wantRefusal(t, err, message.CertValidation, "good OCSP response", "old")
	if !errors.Is(r, ocsp.ErrStale) && !errors.Is(r, ocsp.ErrExpired) {
		t.Fatalf("refused, but not for the stale status: %v", r)
	}
	if st := v.Signatures.Stats(); st.Hits != 1 || st.Misses != 2 || st.Entries != 0 {
		t.Fatalf("stats %+v: the entry outlived its OCSP response's freshness", st)
	}
}

// TestSignatureCacheBound: the cache keeps at most its size, forgetting the
// least recently used batch.
func TestSignatureCacheBound(t *testing.T) {
	f := getFederation(t)
	din := member(t, "AZ/GOV/DIN")
	v := verify.New(0)
	v.Signatures = verify.NewSignatureCache(2)
	type batch struct {
		msgs []verify.Signed
		sigs [][]byte
	}
	var bs []batch
	for _, tag := range []string{"a", "b", "c"} {
		m, s := batchOf(t, f, 2, tag)
		bs = append(bs, batch{m, s})
	}
	check := func(b batch, i int) {
		t.Helper()
		if err := v.SignatureOf(f.trust, b.sigs[i], b.msgs[i], din); err != nil {
			t.Fatal(err)
		}
	}
	check(bs[0], 0)
	check(bs[1], 0)
	check(bs[0], 1) // hit: a is now the most recently used
	check(bs[2], 0) // evicts b
	if st := v.Signatures.Stats(); st.Entries != 2 || st.Hits != 1 || st.Misses != 3 {
		t.Fatalf("stats %+v", st)
	}
	check(bs[1], 1) // b was forgotten: a miss
	check(bs[2], 1) // c is still there: a hit
	if st := v.Signatures.Stats(); st.Entries != 2 || st.Hits != 2 || st.Misses != 4 {
		t.Fatalf("stats %+v: not least-recently-used", st)
	}
}

// BenchmarkBatchVerify verifies the 16 messages of a batch signature
// without the cache (16 full verifications, as today) and with it (one,
// then 15 hash chains), in the same run: ns/op is the time per message.
func BenchmarkBatchVerify(b *testing.B) {
	f := getFederation(b)
	din := member(b, "AZ/GOV/DIN")
	const n = 16
	msgs, sigs := batchOf(b, f, n, "bench")
	for _, cached := range []bool{false, true} {
		name := "no-cache"
		if cached {
			name = "cache"
		}
		b.Run(name, func(b *testing.B) {
			v := verify.New(0)
			b.ReportAllocs()
			i := 0
			var hits, misses uint64
			count := func() {
				if v.Signatures != nil {
					st := v.Signatures.Stats()
					hits, misses = hits+st.Hits, misses+st.Misses
				}
			}
			for b.Loop() {
				if i%n == 0 && cached { // a new batch: its first message is verified in full
					count()
					v.Signatures = verify.NewSignatureCache(0)
				}
				if err := v.SignatureOf(f.trust, sigs[i%n], msgs[i%n], din); err != nil {
					b.Fatal(err)
				}
				i++
			}
			if cached {
				count()
				b.ReportMetric(float64(hits)/float64(hits+misses), "hit-ratio")
			}
		})
	}
}

// TestSignatureCacheConcurrent: the messages of several batches verified
// from many goroutines at once, through one small cache.
func TestSignatureCacheConcurrent(t *testing.T) {
	f := getFederation(t)
	din := member(t, "AZ/GOV/DIN")
	v := verify.New(0)
	v.Signatures = verify.NewSignatureCache(3)
	var wg sync.WaitGroup
	total := 0
	for _, tag := range []string{"a", "b", "c", "d", "e"} {
		msgs, sigs := batchOf(t, f, 8, tag)
		total += len(msgs)
		for i := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := v.SignatureOf(f.trust, sigs[i], msgs[i], din); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	st := v.Signatures.Stats()
	if st.Hits+st.Misses != uint64(total) || st.Entries > 3 {
		t.Fatalf("stats %+v after %d messages through a cache of 3", st, total)
	}
}
