package signature

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/securityserver/hashchain"
)

// gatedKey is a real signing key whose next Sign waits until the test
// opens the gate: it keeps the key busy for as long as the test needs to
// queue messages behind it, so that batching is tested without timing.
type gatedKey struct {
	crypto.Signer
	entered chan struct{} // receives when a Sign has started
	gate    chan struct{} // every Sign waits until it is closed
}

func (k *gatedKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	select {
	case k.entered <- struct{}{}:
	default:
	}
	<-k.gate
	return k.Signer.Sign(rand, digest, opts)
}

// queued is the number of messages waiting for signer s's key.
func (b *Batcher) queued(s *Signer) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.queues[sha256.Sum256(s.Cert.Raw)]; q != nil {
		return len(q.waiting)
	}
	return 0
}

// batchMessage is one message of a test batch: its SOAP part and
// attachments.
type batchMessage struct {
	soap []byte
	atts [][]byte
}

func testMessages(n int) []batchMessage {
	out := make([]batchMessage, n)
	for i := range out {
		out[i].soap = soapMessage(400 + 37*i)
		for j := range i % 3 { // 0, 1 or 2 attachments
			out[i].atts = append(out[i].atts, []byte(fmt.Sprintf("attachment %d of message %d: FİN 5ZK7Q2M\n", j+1, i)))
		}
	}
	return out
}

// signBusy signs first while the key is made to wait, queues msgs behind
// it, then lets the key go: first is signed alone and msgs together.
func signBusy(t *testing.T, b *Batcher, s *Signer, msgs []batchMessage) (first *Batched, batch []*Batched) {
	t.Helper()
	gk := &gatedKey{Signer: s.Key, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	gs := *s
	gs.Key = gk
	var wg sync.WaitGroup
	errs := make(chan error, len(msgs)+1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var err error
		first, err = b.Sign(&gs, soapMessage(300), nil, time.Now())
		errs <- err
	}()
	<-gk.entered // the key is busy
	batch = make([]*Batched, len(msgs))
	for i, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			batch[i], err = b.Sign(&gs, m.soap, attachmentsOf(m.atts...), time.Now())
			errs <- err
		}()
	}
	for b.queued(&gs) < len(msgs) {
		time.Sleep(time.Millisecond) // waiting for the goroutines to queue, not timing
	}
	close(gk.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return first, batch
}

func TestBatcherAloneIsSignedAtOnce(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	var sizes []int
	b := &Batcher{Observe: func(n int) { sizes = append(sizes, n) }}
	for i, m := range testMessages(6) {
		out, err := b.Sign(p.signer, m.soap, attachmentsOf(m.atts...), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if out.Messages != 1 {
			t.Fatalf("message %d from a single client was signed in a batch of %d", i, out.Messages)
		}
		if len(m.atts) == 0 {
			if out.Result != nil || out.Chain != nil {
				t.Fatal("a lone message without attachments got a hash chain")
			}
			if _, err := Verify(out.Signature, Part{URI: MessageURI, Data: m.soap}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := VerifyChained(out.Signature, Part{Data: m.soap}, attachmentsOf(m.atts...), out.Result, out.Chain); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(sizes) != "[1 1 1 1 1 1]" {
		t.Fatalf("observed batch sizes %v, want six signatures of one message", sizes)
	}
}

// TestBatcherOff: with batching off, concurrent messages are each signed
// alone, byte for byte as Sign and SignChained sign them (RSA PKCS #1 v1.5
// is deterministic, so the documents can be compared whole).
func TestBatcherOff(t *testing.T) {
	p := getPKI(t, pkiutil.KeyRSA2048)
	b := &Batcher{Off: true}
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	msgs := testMessages(12)
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := b.Sign(p.signer, m.soap, attachmentsOf(m.atts...), now)
			if err != nil {
				t.Error(err)
				return
			}
			if got.Messages != 1 {
				t.Errorf("message %d: batch of %d with batching off", i, got.Messages)
			}
			var want Chained
			if len(m.atts) == 0 {
				want.Signature, err = p.signer.Sign(Part{URI: MessageURI, Data: m.soap, MimeType: "text/xml"}, now)
			} else {
				var c *Chained
				c, err = p.signer.SignChained(m.soap, attachmentsOf(m.atts...), now)
				if c != nil {
					want = *c
				}
			}
			if err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got.Signature, want.Signature) || !bytes.Equal(got.Result, want.Result) || !bytes.Equal(got.Chain, want.Chain) {
				t.Errorf("message %d: with batching off the documents differ from Sign/SignChained's", i)
			}
		}()
	}
	wg.Wait()
}

func TestBatcherBatchesWaitingMessages(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	var mu sync.Mutex
	var sizes []int
	b := &Batcher{Observe: func(n int) { mu.Lock(); sizes = append(sizes, n); mu.Unlock() }}
	msgs := testMessages(7)
	first, batch := signBusy(t, b, p.signer, msgs)
	if first.Messages != 1 || first.Chain != nil {
		t.Fatalf("the message that found the key idle was signed in a batch of %d", first.Messages)
	}
	if fmt.Sprint(sizes) != "[1 7]" {
		t.Fatalf("observed batch sizes %v, want [1 7]", sizes)
	}
	for i, out := range batch {
		if out.Messages != len(msgs) {
			t.Fatalf("message %d: batch of %d, want %d", i, out.Messages, len(msgs))
		}
		if !bytes.Equal(out.Signature, batch[0].Signature) || !bytes.Equal(out.Result, batch[0].Result) {
			t.Fatalf("message %d does not share the batch's signature and result", i)
		}
		if !bytes.Contains(out.Chain, []byte(`<ns2:HashValue>`)) {
			t.Fatalf("message %d's chain has no sibling digest:\n%s", i, out.Chain)
		}
		m := msgs[i]
		v, err := VerifyChained(out.Signature, Part{Data: m.soap}, attachmentsOf(m.atts...), out.Result, out.Chain)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !v.Cert.Equal(p.signer.Cert) {
			t.Fatalf("message %d verified as %s", i, v.Cert.Subject)
		}
		// Attachments that streamed past, by their digests.
		var ds []Part
		for _, a := range m.atts {
			d := sha512.Sum512(a)
			ds = append(ds, Part{Digest: d[:]})
		}
		if _, err := VerifyChained(out.Signature, Part{Data: m.soap}, ds, out.Result, out.Chain); err != nil {
			t.Fatalf("message %d with streamed digests: %v", i, err)
		}
	}
	// Max bounds a batch: the same seven behind a busy key, at most three
	// per signature.
	sizes = nil
	b.Max = 3
	_, batch = signBusy(t, b, p.signer, msgs)
	if fmt.Sprint(sizes) != "[1 3 3 1]" {
		t.Fatalf("with Max 3, observed batch sizes %v, want [1 3 3 1]", sizes)
	}
	for i, out := range batch {
		var err error
		if out.Chain == nil { // the last, alone and without attachments
			_, err = Verify(out.Signature, Part{URI: MessageURI, Data: msgs[i].soap})
		} else {
			_, err = VerifyChained(out.Signature, Part{Data: msgs[i].soap}, attachmentsOf(msgs[i].atts...), out.Result, out.Chain)
		}
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
}

// TestBatchRefusals: a batch's signature and result with another batch's
// chain, a chain of the batch with another member's message, and a
// tampered message of the batch are refused.
func TestBatchRefusals(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	b := &Batcher{}
	msgs := testMessages(5)
	_, one := signBusy(t, b, p.signer, msgs)
	others := testMessages(5)
	for i := range others {
		if i != 2 {
			others[i].soap = soapMessage(900 + 60*i) // another batch around the same message
		}
	}
	_, two := signBusy(t, b, p.signer, others)
	m := msgs[2] // two attachments
	tampered := bytes.Clone(m.soap)
	tampered[200] ^= 1
	tests := []struct {
		name       string
		soap       []byte
		atts       [][]byte
		res, chain []byte
		want       error
	}{
		{"a chain from another batch", m.soap, m.atts, one[2].Result, two[2].Chain, ErrChain},
		{"another batch's result", m.soap, m.atts, two[2].Result, two[2].Chain, ErrChain},
		{"another member's chain", m.soap, m.atts, one[2].Result, one[1].Chain, ErrAttachment},
		{"another member's message under this chain", msgs[3].soap, msgs[3].atts, one[2].Result, one[2].Chain, ErrChainInput},
		{"a tampered message", tampered, m.atts, one[2].Result, one[2].Chain, ErrDigest},
		{"a tampered attachment", m.soap, [][]byte{m.atts[0], []byte("changed")}, one[2].Result, one[2].Chain, ErrAttachment},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyChained(one[2].Signature, Part{Data: tt.soap}, attachmentsOf(tt.atts...), tt.res, tt.chain)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestBatchAuditorRecipe: each member of a batch, laid out as an auditor
// gets it (message.xml, attachmentN, sig-hashchainresult.xml,
// sig-hashchain.xml, META-INF/signatures.xml), passes xmlsec1 and
// scripts/verify-hashchain.py; with its message changed the script fails.
func TestBatchAuditorRecipe(t *testing.T) {
	xmlsec := testtool.Require(t, "xmlsec1")
	python := testtool.Require(t, "python3")
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "verify-hashchain.py"))
	if err != nil {
		t.Fatal(err)
	}
	p := getPKI(t, pkiutil.KeyECDSAP256)
	msgs := testMessages(3)
	_, batch := signBusy(t, &Batcher{}, p.signer, msgs)
	for i, out := range batch {
		dir := t.TempDir()
		write := func(name string, data []byte) {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("message.xml", msgs[i].soap)
		for j, a := range msgs[i].atts {
			write(fmt.Sprintf("attachment%d", j+1), a)
		}
		write("sig-hashchainresult.xml", out.Result)
		write("sig-hashchain.xml", out.Chain)
		write("META-INF/signatures.xml", out.Signature)
		write("signatures.xml", out.Signature)
		write("root.pem", pkiutil.EncodeCertificates(p.ca.Root))
		write("ca.pem", pkiutil.EncodeCertificates(p.ca.Cert))
		if got, err := xmlsecVerify(xmlsec, dir, hashchain.SigResultURI, "sig-hashchainresult.xml"); err != nil || !strings.Contains(got, "OK") {
			t.Fatalf("message %d: xmlsec1 refused the batch signature (%v):\n%s", i, err, got)
		}
		if err := os.Remove(filepath.Join(dir, "signatures.xml")); err != nil {
			t.Fatal(err)
		}
		run := func() (string, error) {
			b, err := exec.Command(python, script, dir).CombinedOutput()
			return string(b), err
		}
		if got, err := run(); err != nil || strings.Contains(got, "FAIL") || !strings.Contains(got, "computes the digest in sig-hashchainresult.xml") {
			t.Fatalf("message %d: verify-hashchain.py refused it (%v):\n%s", i, err, got)
		}
		changed := bytes.Clone(msgs[i].soap)
		changed[150] ^= 1
		write("message.xml", changed)
		if got, err := run(); err == nil || !strings.Contains(got, "FAIL") {
			t.Fatalf("message %d: verify-hashchain.py accepted a changed message:\n%s", i, got)
		}
	}
}

// BenchmarkBatchSign signs 1 KB messages from 16 concurrent callers with
// one key, batching off (each message its own signature, as today) and on,
// in the same run: ns/op is the time per message; msgs/sig is the mean
// number of messages a signature covered.
func BenchmarkBatchSign(b *testing.B) {
	for _, kt := range keyTypes {
		for _, off := range []bool{true, false} {
			name := string(kt) + "/batching-on"
			if off {
				name = string(kt) + "/batching-off"
			}
			b.Run(name, func(b *testing.B) {
				p := getPKI(b, kt)
				var sigs, msgs atomic.Int64
				bt := &Batcher{Off: off, Observe: func(n int) { sigs.Add(1); msgs.Add(int64(n)) }}
				soap := soapMessage(1024)
				b.SetParallelism(8) // 16 callers on 2 cores
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := bt.Sign(p.signer, soap, nil, time.Now()); err != nil {
							b.Error(err)
							return
						}
					}
				})
				if n := sigs.Load(); n > 0 {
					b.ReportMetric(float64(msgs.Load())/float64(n), "msgs/sig")
				}
			})
		}
	}
}

// TestBatcherConcurrent: many callers at once, with and without
// attachments; every message gets documents that verify for it, and the
// signatures observed cover every message exactly once.
func TestBatcherConcurrent(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	var sigs, covered atomic.Int64
	b := &Batcher{Max: 8, Observe: func(n int) { sigs.Add(1); covered.Add(int64(n)) }}
	msgs := testMessages(60)
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := b.Sign(p.signer, m.soap, attachmentsOf(m.atts...), time.Now())
			if err != nil {
				t.Error(err)
				return
			}
			if out.Messages < 1 || out.Messages > 8 {
				t.Errorf("message %d: a batch of %d with Max 8", i, out.Messages)
			}
			if out.Chain == nil {
				_, err = Verify(out.Signature, Part{URI: MessageURI, Data: m.soap})
			} else {
				_, err = VerifyChained(out.Signature, Part{Data: m.soap}, attachmentsOf(m.atts...), out.Result, out.Chain)
			}
			if err != nil {
				t.Errorf("message %d (batch of %d): %v", i, out.Messages, err)
			}
		}()
	}
	wg.Wait()
	if covered.Load() != int64(len(msgs)) {
		t.Fatalf("%d signatures covered %d messages, want %d", sigs.Load(), covered.Load(), len(msgs))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queues) != 0 {
		t.Fatalf("%d keys still have state after every message was signed", len(b.queues))
	}
}

// panicKey is a signing key whose module fails by panicking.
type panicKey struct{ crypto.Signer }

func (panicKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	panic("token removed")
}

// TestBatcherKeyPanics: a signing that panics fails its message, and the
// key is handed over: the next message is signed (it would wait for ever if
// the key stayed busy).
func TestBatcherKeyPanics(t *testing.T) {
	p := getPKI(t, pkiutil.KeyECDSAP256)
	bad := *p.signer
	bad.Key = panicKey{p.signer.Key}
	b := &Batcher{}
	m := testMessages(1)[0]
	if _, err := b.Sign(&bad, m.soap, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "token removed") {
		t.Fatalf("a panicking key: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Sign(p.signer, m.soap, nil, time.Now())
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the next message for the key waits for ever: the key stayed busy after the panic")
	}
}

// TestSignDigested: a message signed with the SHA-512 its caller computed
// gets byte for byte the documents it gets when the signer hashes it (RSA
// PKCS #1 v1.5 is deterministic), alone and in a batch; a digest that is
// not the message's makes a signature Verify refuses, and one that is not
// a SHA-512 is refused.
func TestSignDigested(t *testing.T) {
	p := getPKI(t, pkiutil.KeyRSA2048)
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	msgs := testMessages(6)
	b := &Batcher{Off: true}
	plain, digested := make([]Message, len(msgs)), make([]Message, len(msgs))
	for i, m := range msgs {
		sum := sha512.Sum512(m.soap)
		want, err := b.Sign(p.signer, m.soap, attachmentsOf(m.atts...), now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.SignDigested(p.signer, m.soap, sum[:], attachmentsOf(m.atts...), now)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Signature, want.Signature) || !bytes.Equal(got.Result, want.Result) || !bytes.Equal(got.Chain, want.Chain) {
			t.Errorf("message %d: signed with its digest given, the documents differ", i)
		}
		plain[i] = Message{SOAP: m.soap, Attachments: attachmentsOf(m.atts...)}
		digested[i] = Message{SOAP: m.soap, SOAPDigest: sum[:], Attachments: attachmentsOf(m.atts...)}
	}
	want, err := p.signer.SignBatch(plain, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.signer.SignBatch(digested, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !bytes.Equal(got[i].Signature, want[i].Signature) || !bytes.Equal(got[i].Result, want[i].Result) || !bytes.Equal(got[i].Chain, want[i].Chain) {
			t.Errorf("batch message %d: signed with its digest given, the documents differ", i)
		}
		if _, err := VerifyChained(got[i].Signature, Part{Data: msgs[i].soap}, attachmentsOf(msgs[i].atts...), got[i].Result, got[i].Chain); err != nil {
			t.Errorf("batch message %d: %v", i, err)
		}
	}

	soap := soapMessage(2000)
	other := sha512.Sum512(soapMessage(3000))
	wrong, err := b.SignDigested(p.signer, soap, other[:], nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(wrong.Signature, Part{URI: MessageURI, Data: soap}); err == nil {
		t.Error("a signature made with another message's digest verifies")
	}
	if _, err := b.SignDigested(p.signer, soap, other[:32], nil, now); err == nil {
		t.Error("a 32-byte digest was taken for a SHA-512")
	}
	// SignBatch refuses it as SignDigested does, in a batch as alone.
	for _, batch := range [][]Message{digested[:1], digested} {
		short := slices.Clone(batch)
		short[0].SOAPDigest = short[0].SOAPDigest[:32]
		if _, err := p.signer.SignBatch(short, now); err == nil || !strings.Contains(err.Error(), "32 bytes is not a SHA-512") {
			t.Errorf("SignBatch of %d messages, the first with a 32-byte digest: %v", len(short), err)
		}
	}
}
