package asic

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is the outcome of one check.
type Status string

const (
	// OK: the check ran and everything it looks at holds.
	OK Status = "ok"
	// Failed: the check ran and found a problem; Code and Reason say which.
	Failed Status = "failed"
	// NotChecked: the check could not run; Code and Reason say why (for
	// trust with no certificates given, Code is CodeAnchorNotGiven).
	NotChecked Status = "not_checked"
)

// CodeAnchorNotGiven is the trust check's code, and the OCSP check's when
// the signer's CA is needed, when the caller gave no certificates.
const CodeAnchorNotGiven = "anchor_not_given"

// Problem is one thing a check found wrong, or why it could not run.
type Problem struct {
	// Code names the kind of problem, in snake_case (X-Road's error code
	// of the same meaning where there is one, without its prefix).
	Code string `json:"code"`
	// Reason says what was wrong and, where it helps, what to do.
	Reason string `json:"reason"`
}

func (p Problem) String() string { return p.Code + ": " + p.Reason }

// Check is the outcome of one of the report's checks.
type Check struct {
	Status Status `json:"status"`
	// Code and Reason are the first failure's, or if nothing failed the
	// first problem's (empty when OK).
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Problems are all the problems found, in the order found.
	Problems []Problem `json:"problems,omitempty"`
	// Notes say what the check tolerated or did not cover.
	Notes []string `json:"notes,omitempty"`
}

// Has reports whether the check found a problem with this code.
func (c *Check) Has(code string) bool {
	for _, p := range c.Problems {
		if p.Code == code {
			return true
		}
	}
	return false
}

func (c *Check) fail(code, format string, args ...any) {
	c.add(Failed, code, format, args...)
}

func (c *Check) skip(code, format string, args ...any) {
	c.add(NotChecked, code, format, args...)
}

func (c *Check) add(s Status, code, format string, args ...any) {
	p := Problem{Code: code, Reason: fmt.Sprintf(format, args...)}
	if len(c.Problems) == 0 || s == Failed && c.Status != Failed {
		c.Status, c.Code, c.Reason = s, p.Code, p.Reason
	}
	c.Problems = append(c.Problems, p)
}

// merge adds o's problems and notes to c's.
func (c *Check) merge(o Check) {
	for _, p := range o.Problems {
		c.add(o.statusOf(p), p.Code, "%s", p.Reason)
	}
	c.Notes = append(c.Notes, o.Notes...)
}

// statusOf is the status p was added with: only a check that failed has
// failures (format problems are all failures).
func (c *Check) statusOf(Problem) Status {
	if c.Status == Failed {
		return Failed
	}
	return NotChecked
}

func (c *Check) note(format string, args ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
}

// done sets the status of a check that found no problem.
func (c *Check) done() {
	if c.Status == "" {
		c.Status = OK
	}
}

func (c *Check) String() string {
	if c.Status == OK {
		return string(OK)
	}
	return fmt.Sprintf("%s (%s): %s", c.Status, c.Code, c.Reason)
}

// Certificate names a certificate the report refers to.
type Certificate struct {
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	Serial  string `json:"serial"` // decimal
}

// Report is what Verify found in one container.
type Report struct {
	// Entries are the container's entry names in archive order.
	Entries []string `json:"entries"`

	Format    Check `json:"format"`
	Signature Check `json:"signature"`
	Timestamp Check `json:"timestamp"`
	OCSP      Check `json:"ocsp"`
	Trust     Check `json:"trust"`

	// Batch is true for a batch signature (over sig-hashchainresult.xml),
	// BatchTimestamp for a batch time-stamp (ts-hashchainresult.xml).
	Batch          bool `json:"batchSignature"`
	BatchTimestamp bool `json:"batchTimestamp"`
	// Signer is the signing certificate, SigningTime the signed
	// xades:SigningTime (both known once the signature verified).
	Signer      *Certificate `json:"signer,omitempty"`
	SigningTime time.Time    `json:"signingTime,omitzero"`
	// TSA is the token's signer and TimestampTime its genTime (known once
	// the token's signature verified).
	TSA           *Certificate `json:"tsa,omitempty"`
	TimestampTime time.Time    `json:"timestampTime,omitzero"`
	// OCSPProducedAt is the producedAt of the OCSP response checked.
	OCSPProducedAt time.Time `json:"ocspProducedAt,omitzero"`
}

// Named pairs a check with its name, for callers that list them.
type Named struct {
	Name  string
	Check *Check
}

// Checks lists the checks in the order they are reported.
func (r *Report) Checks() []Named {
	return []Named{
		{"format", &r.Format}, {"signature", &r.Signature}, {"timestamp", &r.Timestamp},
		{"ocsp", &r.OCSP}, {"trust", &r.Trust},
	}
}

// Valid reports whether every check passed: nothing failed and nothing
// was left unchecked.
func (r *Report) Valid() bool {
	for _, n := range r.Checks() {
		if n.Check.Status != OK {
			return false
		}
	}
	return true
}

// Failed reports whether a check failed (a check that could not run, such
// as trust with no anchor given, is not a failure).
func (r *Report) Failed() bool {
	for _, n := range r.Checks() {
		if n.Check.Status == Failed {
			return true
		}
	}
	return false
}

// WriteText writes the report for a person: one line per check, then its
// further problems and notes indented.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, n := range r.Checks() {
		fmt.Fprintf(&b, "%-9s %s\n", n.Name+":", n.Check)
		shown := false
		for _, p := range n.Check.Problems {
			if !shown && p.Code == n.Check.Code && p.Reason == n.Check.Reason {
				shown = true
				continue
			}
			fmt.Fprintf(&b, "          also %s\n", p)
		}
		for _, s := range n.Check.Notes {
			fmt.Fprintf(&b, "          note: %s\n", s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
