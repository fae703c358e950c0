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
	"sort"
	"strings"
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
// now and then with the records done and the total.
func VerifyLog(path string, trust Trust, progress func(done, total int)) (*Report, error) {
	if trust.OCSPFreshness == 0 {
		trust.OCSPFreshness = time.Hour
	}
	if trust.Intermediates == nil {
		trust.Intermediates = x509.NewCertPool()
	}
	chain, err := messagelog.CheckFile(path)
	if err != nil {
		return nil, err
	}
	rep := &Report{Records: chain.Records, Batches: chain.Batches}
	if a := chain.Archived; a != nil {
		rep.ArchivedThrough, rep.LastArchive = a.LastSeq, a.File
	}
	failed := map[uint64]bool{}
	for _, p := range chain.Problems {
		rep.Failures = append(rep.Failures, Failure{Seq: p.Seq, Reason: p.Reason})
		failed[p.Seq] = true
	}
	l, err := messagelog.OpenReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	batches, err := l.Batches()
	if err != nil {
		return nil, err
	}
	// Each batch's token, verified once.
	stampTime := map[uint64]time.Time{} // batch N -> genTime
	for _, b := range batches {
		if err := verifyToken(b, trust); err != nil {
			rep.Failures = append(rep.Failures, Failure{Seq: b.FirstSeq, Reason: fmt.Sprintf("time-stamp batch %d (records %d..%d): %v", b.N, b.FirstSeq, b.LastSeq, err)})
			for s := b.FirstSeq; s <= b.LastSeq; s++ {
				failed[s] = true
			}
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
	done := 0
	err = l.Each(0, func(r *messagelog.Record, _ []byte) error {
		done++
		if progress != nil && done%256 == 0 {
			progress(done, chain.Records)
		}
		if rep.First.IsZero() || r.Time.Before(rep.First) {
			rep.First = r.Time
		}
		if r.Time.After(rep.Last) {
			rep.Last = r.Time
		}
		b := batchOf(r.Seq)
		if b == nil {
			rep.Unstamped++
		} else if t, ok := stampTime[b.N]; ok && r.Time.After(t.Add(time.Second)) {
			reason := fmt.Sprintf("logged at %s, after its time-stamp of %s", r.Time.Format(time.RFC3339), t.Format(time.RFC3339))
			rep.Failures = append(rep.Failures, Failure{Seq: r.Seq, MessageID: r.MessageID, Reason: reason})
			failed[r.Seq] = true
		}
		if err := verifyRecord(r, trust); err != nil {
			rep.Failures = append(rep.Failures, Failure{Seq: r.Seq, MessageID: r.MessageID, Reason: err.Error()})
			failed[r.Seq] = true
		}
		if !failed[r.Seq] {
			rep.Verified++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(done, chain.Records)
	}
	sort.SliceStable(rep.Failures, func(i, j int) bool { return rep.Failures[i].Seq < rep.Failures[j].Seq })
	return rep, nil
}

// verifyRecord checks one record's signature, signer and OCSP status.
func verifyRecord(r *messagelog.Record, trust Trust) error {
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
			atts[i] = signature.Part{Data: a.Data, Digest: a.Digest}
		}
		v, err = signature.VerifyChained(r.Signature, part, atts, r.HashChainResult, r.HashChain)
	} else {
		v, err = signature.Verify(r.Signature, part)
	}
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	inter := trust.Intermediates.Clone()
	for _, c := range v.Extra {
		inter.AddCert(c)
	}
	chains, err := v.Cert.Verify(x509.VerifyOptions{Roots: trust.Roots, Intermediates: inter, CurrentTime: v.SigningTime,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
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
	issuer := chains[0][1]
	var errs []string
	for _, der := range v.OCSP {
		resp, err := ocsp.Verify(der, ocsp.VerifyOptions{Cert: v.Cert, Issuer: issuer, Now: v.SigningTime, MaxAge: trust.OCSPFreshness})
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
