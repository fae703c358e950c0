// Package audit verifies a security server's message log and its archives
// offline, trusting only the federation's CA certificates: for every record the XAdES
// signature over the logged message (or its logged digest), the signer's
// chain to the federation CA at signing time, that the signer is the member
// it must be (the client for a request, the provider for a response), the
// OCSP response in the signature (good, and fresh at signing time), the
// record's place in the hash chain, and its batch's RFC 3161 token (TSA
// chain, imprint over the batch's X-Road time-stamp hash chain result, or a
// legacy batch's Merkle root; issued after the record).
//
// It also writes what auditors receive: one exchange side as an ASiC-E
// container in X-Road's layout (WriteContainer), and archive files of whole time-stamped
// batches (WriteArchive), chained by their manifests, which VerifyArchives
// checks as thoroughly as VerifyLog checks a log.
//
// # Caveats
//
// A log file that a running server holds cannot be opened; verify a copy
// (Log.Backup) or stop the server. Records written after the last batch
// are reported as not yet time-stamped, not as failures.
package audit

import (
	"crypto/sha512"
	"crypto/x509"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/signature"
)

// Trust is what the auditor trusts.
type Trust struct {
	Roots         *x509.CertPool // the federation root CA(s)
	Intermediates *x509.CertPool // issuing CAs (may also come from the signatures)
	// OCSPFreshness is the oldest an OCSP response may be at signing time;
	// default 1 h (the federation's usual limit).
	OCSPFreshness time.Duration

	cache *verifyCache // shared by the copies withDefaults makes
}

// Failure names one record that does not verify.
type Failure struct {
	Archive   string `json:"archive,omitempty"` // the archive file, for a record verified in an archive
	Seq       uint64 `json:"seq"`
	MessageID string `json:"messageId,omitempty"`
	Reason    string `json:"reason"`
}

// Report is the outcome of verifying a log.
type Report struct {
	Records   int `json:"records"`
	Verified  int `json:"verified"`           // records whose every check passed
	Batches   int `json:"batches"`            // time-stamp batches
	Unstamped int `json:"unstamped"`          // newest records not yet in a batch
	Archives  int `json:"archives,omitempty"` // archive files read
	Retired   int `json:"retired,omitempty"`  // records in archives that retention removed (per the ledger)
	// ArchivedThrough is the last record the live log moved to archives
	// (0 if none); LastArchive the archive file that holds it.
	ArchivedThrough uint64    `json:"archivedThrough,omitempty"`
	LastArchive     string    `json:"lastArchive,omitempty"`
	First           time.Time `json:"first"`
	Last            time.Time `json:"last"`
	Failures        []Failure `json:"failures"`
}

// OK reports whether everything verified.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// VerifyLog verifies the log file at path. progress, if not nil, is called
// now and then with the records done and the total (from one goroutine).
//
// The records' signatures, signers and OCSP responses are checked on every
// core (GOMAXPROCS workers) while messagelog's Check checks the chain of
// records and the batches, in order, at the same time. The report is the
// one a check of one record after the other gives.
func VerifyLog(path string, trust Trust, progress func(done, total int)) (*Report, error) {
	trust = withDefaults(trust)
	l, err := messagelog.OpenReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	check := func() (*messagelog.CheckResult, error) {
		res, err := l.Check()
		if err != nil {
			return nil, fmt.Errorf("message log %s: %w", path, err)
		}
		return res, nil
	}
	return verifyConcurrently(l, check, trust, fromFiles(messagelog.AttachmentsBeside(path)), progress)
}

// LogReader is a live log as the auditor reads it: the embedded log, or
// the log on PostgreSQL opened read-only (pglog.OpenReadOnly).
type LogReader interface {
	// Check checks the chain (messagelog.Log.Check).
	Check() (*messagelog.CheckResult, error)
	Batches() ([]*messagelog.Batch, error)
	Each(from uint64, fn func(r *messagelog.Record, stored []byte) error) error
}

// VerifyStore verifies an open log as VerifyLog verifies a file, checking
// signatures on every core while the chain is checked. On a log that
// running nodes still append to, records appended after its chain check
// are verified as well, and counted as unstamped until a batch covers
// them. Attachments kept in files are read when l says where
// (AttachmentFiles).
func VerifyStore(l LogReader, trust Trust, progress func(done, total int)) (*Report, error) {
	return verifyConcurrently(l, l.Check, withDefaults(trust), filesOf(l), progress)
}

// verifyConcurrently runs check (the chain) while verifyRecords checks the
// records' signatures, and joins their findings.
func verifyConcurrently(l LogReader, check func() (*messagelog.CheckResult, error), trust Trust, open attachmentOpener, progress func(done, total int)) (*Report, error) {
	type checked struct {
		res *messagelog.CheckResult
		err error
	}
	chainDone := make(chan checked, 1)
	go func() {
		res, err := check()
		chainDone <- checked{res, err}
	}()
	rep, passed, err := verifyRecords(l, trust, open, progress)
	ch := <-chainDone
	if err != nil {
		return nil, err
	}
	if ch.err != nil {
		return nil, ch.err
	}
	chain := ch.res
	rep.Records, rep.Batches = chain.Records, chain.Batches
	if a := chain.Archived; a != nil {
		rep.ArchivedThrough, rep.LastArchive = a.LastSeq, a.File
	}
	// A record the chain check fails is not verified, whatever its
	// signature; its problems come first, as the chain is checked first.
	problems := make([]Failure, 0, len(chain.Problems)+len(rep.Failures))
	for _, p := range chain.Problems {
		problems = append(problems, Failure{Seq: p.Seq, Reason: p.Reason})
		if passed.take(p.Seq) {
			rep.Verified--
		}
	}
	rep.Failures = append(problems, rep.Failures...)
	sort.SliceStable(rep.Failures, func(i, j int) bool { return rep.Failures[i].Seq < rep.Failures[j].Seq })
	return rep, nil
}

// seqSet is a set of record numbers, mostly consecutive.
type seqSet struct {
	first uint64
	in    []bool // first, first+1, ...
	other map[uint64]bool
}

func (s *seqSet) add(seq uint64) {
	if len(s.in) == 0 && s.other == nil {
		s.first = seq
	}
	if seq >= s.first && seq-s.first <= uint64(len(s.in))+1024 {
		for uint64(len(s.in)) <= seq-s.first {
			s.in = append(s.in, false)
		}
		s.in[seq-s.first] = true
		return
	}
	if s.other == nil {
		s.other = map[uint64]bool{}
	}
	s.other[seq] = true
}

// take removes seq and reports whether it was there.
func (s *seqSet) take(seq uint64) bool {
	if i := seq - s.first; seq >= s.first && i < uint64(len(s.in)) && s.in[i] {
		s.in[i] = false
		return true
	}
	if s.other[seq] {
		delete(s.other, seq)
		return true
	}
	return false
}

// verifyRecords checks every record's batch token and time, signature,
// signer and OCSP response (not the chain). passed holds the records that
// passed, which rep.Verified counts. Attachments kept in files are read
// through open.
func verifyRecords(l LogReader, trust Trust, open attachmentOpener, progress func(done, total int)) (rep *Report, passed *seqSet, err error) {
	batches, err := l.Batches()
	if err != nil {
		return nil, nil, err
	}
	total := recordCount(l)
	rep, passed = &Report{}, &seqSet{}
	// Each batch's token, verified once.
	stampTime := map[uint64]time.Time{} // batch N -> genTime
	var badBatches []*messagelog.Batch
	for _, b := range batches {
		if err := verifyToken(b, trust); err != nil {
			rep.Failures = append(rep.Failures, Failure{Seq: b.FirstSeq, Reason: fmt.Sprintf("time-stamp batch %d (records %d..%d): %v", b.N, b.FirstSeq, b.LastSeq, err)})
			badBatches = append(badBatches, b)
			continue
		}
		stampTime[b.N] = b.Time
	}
	batchOf := func(seq uint64) *messagelog.Batch {
		i := sort.Search(len(batches), func(i int) bool { return batches[i].LastSeq >= seq })
		if i < len(batches) && batches[i].FirstSeq <= seq {
			return batches[i]
		}
		return nil
	}
	// This goroutine reads the records and hands them out in chunks; the
	// workers check them; the collector takes the chunks back in order.
	const chunkSize = 64
	type chunk struct {
		recs []*messagelog.Record
		late []string // a record logged after its batch's time-stamp: why
		errs []error
		done chan struct{}
	}
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *chunk, 2*workers)
	inOrder := make(chan *chunk, 4*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				c.errs = make([]error, len(c.recs))
				for i, r := range c.recs {
					c.errs[i] = verifyRecord(r, trust, open)
				}
				close(c.done)
			}
		}()
	}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		done := 0
		for c := range inOrder {
			<-c.done
			for i, r := range c.recs {
				done++
				pass := true
				if c.late[i] != "" {
					rep.Failures = append(rep.Failures, Failure{Seq: r.Seq, MessageID: r.MessageID, Reason: c.late[i]})
					pass = false
				}
				if c.errs[i] != nil {
					rep.Failures = append(rep.Failures, Failure{Seq: r.Seq, MessageID: r.MessageID, Reason: c.errs[i].Error()})
					pass = false
				}
				for _, b := range badBatches {
					if b.FirstSeq <= r.Seq && r.Seq <= b.LastSeq {
						pass = false
					}
				}
				if pass {
					passed.add(r.Seq)
					rep.Verified++
				}
			}
			if progress != nil {
				progress(done, total)
			}
		}
	}()
	var cur *chunk
	flush := func() {
		if cur != nil {
			inOrder <- cur
			work <- cur
			cur = nil
		}
	}
	err = l.Each(0, func(_ *messagelog.Record, stored []byte) error {
		// The record outlives the read transaction: decode a copy.
		r, err := messagelog.Decode(append([]byte(nil), stored...))
		if err != nil {
			return err
		}
		if rep.First.IsZero() || r.Time.Before(rep.First) {
			rep.First = r.Time
		}
		if r.Time.After(rep.Last) {
			rep.Last = r.Time
		}
		late := ""
		b := batchOf(r.Seq)
		if b == nil {
			rep.Unstamped++
		} else if t, ok := stampTime[b.N]; ok && r.Time.After(t.Add(time.Second)) {
			late = fmt.Sprintf("logged at %s, after its time-stamp of %s", r.Time.Format(time.RFC3339), t.Format(time.RFC3339))
		}
		if cur == nil {
			cur = &chunk{done: make(chan struct{})}
		}
		cur.recs = append(cur.recs, r)
		cur.late = append(cur.late, late)
		if len(cur.recs) == chunkSize {
			flush()
		}
		return nil
	})
	flush()
	close(work)
	close(inOrder)
	wg.Wait()
	<-collected
	if err != nil {
		return nil, nil, err
	}
	return rep, passed, nil
}

// verifyRecord checks one record's signature, signer and OCSP status.
// An attachment kept in a file is read through open and must match its
// logged digest.
func verifyRecord(r *messagelog.Record, trust Trust, open attachmentOpener) error {
	part := signature.Part{URI: signature.MessageURI, Data: r.Message, Digest: r.MessageDigest, MimeType: "text/xml"}
	if r.Message != nil {
		if sum := sha512.Sum512(r.Message); string(sum[:]) != string(r.MessageDigest) {
			return fmt.Errorf("the logged message does not match its digest")
		}
	}
	var v *signature.Verified
	var err error
	if r.HashChainResult != nil || len(r.Attachments) > 0 {
		// A message with attachments: the signature covers the hash-chain
		// result, the chain binds the message and each attachment (by its
		// logged bytes, else its logged digest).
		atts := make([]signature.Part, len(r.Attachments))
		for i, a := range r.Attachments {
			if a.Data != nil {
				if sum := sha512.Sum512(a.Data); string(sum[:]) != string(a.Digest) {
					return fmt.Errorf("logged attachment %d does not match its digest", i+1)
				}
			}
			if a.File != "" {
				if open == nil {
					return fmt.Errorf("logged attachment %d is kept in file %s, which is not at hand", i+1, a.File)
				}
				if err := copyAttachment(io.Discard, open, i, a); err != nil {
					return fmt.Errorf("logged attachment %d: %w", i+1, err)
				}
			}
			atts[i] = signature.Part{Data: a.Data, Digest: a.Digest}
		}
		v, err = signature.VerifyChained(r.Signature, part, atts, r.HashChainResult, r.HashChain)
	} else {
		v, err = signature.Verify(r.Signature, part)
	}
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	cache := trust.cache
	if cache == nil {
		cache = &verifyCache{}
	}
	chain, err := cache.chain(v.Cert, v.Extra, trust, v.SigningTime)
	if err != nil {
		return fmt.Errorf("signer certificate %q does not chain to the federation CA at signing time %s: %w", v.Cert.Subject.CommonName, v.SigningTime.Format(time.RFC3339), err)
	}
	want, err := expectedSigner(r)
	if err != nil {
		return err
	}
	if got, _ := pkiutil.MemberFromSubject(v.Cert.Subject); got != want {
		return fmt.Errorf("signed by %q, but a %s of this exchange must be signed by %s", got, r.Kind, want)
	}
	issuer := chain[1]
	var errs []string
	for _, der := range v.OCSP {
		resp, err := cache.ocspResponse(der, v.Cert, issuer, v.SigningTime, trust.OCSPFreshness)
		switch {
		case err != nil:
			errs = append(errs, err.Error())
		case resp.Status != ocsp.Good:
			errs = append(errs, "the OCSP response says "+resp.Status.String())
		default:
			return nil
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("the signature carries no OCSP response")
	}
	return fmt.Errorf("OCSP at signing time: %v", errs)
}

// expectedSigner is the member that must have signed r.
func expectedSigner(r *messagelog.Record) (string, error) {
	if r.Kind == messagelog.Request {
		c, err := identifier.ParseClient(r.Client)
		if err != nil {
			return "", fmt.Errorf("logged client %q: %w", r.Client, err)
		}
		return c.MemberID().String(), nil
	}
	// The provider's member is the first three parts, whether the service
	// is a subsystem's (INSTANCE/CLASS/CODE/SUBSYSTEM/SERVICE[/VERSION]) or
	// a member's (INSTANCE/CLASS/CODE/SERVICE[/VERSION], e.g. PR-OPMON's
	// getSecurityServerOperationalData), which ParseService does not read.
	parts := strings.SplitN(r.Service, "/", 4)
	if len(parts) < 4 {
		return "", fmt.Errorf("logged service %q has no INSTANCE/CLASS/CODE/… form", r.Service)
	}
	m, err := identifier.ParseMember(strings.Join(parts[:3], "/"))
	if err != nil {
		return "", fmt.Errorf("logged service %q: %w", r.Service, err)
	}
	return m.String(), nil
}

// verifyToken checks a batch's token: TSA chain to the federation CA,
// critical timeStamping EKU, imprint equal to SHA-512 of the batch's
// ts-hashchainresult.xml (a legacy batch's: its Merkle root, SHA-256).
func verifyToken(b *messagelog.Batch, trust Trust) error {
	tok, err := tsa.ParseToken(b.Token)
	if err != nil {
		return err
	}
	h, imprint := b.Imprint()
	return tok.Verify(tsa.VerifyOptions{Roots: trust.Roots, Intermediates: trust.Intermediates,
		HashAlgorithm: h, HashedMessage: imprint, Now: tok.GenTime, CheckChainAt: tok.GenTime})
}

// recordCount is about how many records l holds, for progress (0 if it
// cannot say): the embedded log's oldest to newest, or pglog's Span.
func recordCount(l LogReader) int {
	switch l := l.(type) {
	case interface {
		Oldest() (uint64, []byte, bool, error)
		Head() (uint64, []byte)
	}:
		if first, _, found, err := l.Oldest(); err == nil && found {
			last, _ := l.Head()
			return int(last - first + 1)
		}
	case interface {
		Span() (first, last uint64, ok bool, err error)
	}:
		if first, last, ok, err := l.Span(); err == nil && ok {
			return int(last - first + 1)
		}
	}
	return 0
}
