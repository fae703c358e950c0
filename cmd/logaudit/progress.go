package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progressMeter shows a verification's progress on a terminal: records
// done, the rate and the time left, on one line rewritten at most four
// times a second.
type progressMeter struct {
	w     io.Writer
	now   func() time.Time
	start time.Time
	shown time.Time
	wrote bool
}

// newProgress returns the meter for w, or nil when w is not a terminal
// (a file, a pipe, a test's buffer) or the output is JSON: then nothing is
// shown.
func newProgress(w io.Writer, asJSON bool) *progressMeter {
	f, ok := w.(*os.File)
	if !ok || asJSON {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &progressMeter{w: w, now: time.Now, start: time.Now()}
}

// update is the callback audit.VerifyLog calls.
func (p *progressMeter) update(done, total int) {
	now := p.now()
	if done < total && now.Sub(p.shown) < 250*time.Millisecond {
		return
	}
	p.shown, p.wrote = now, true
	fmt.Fprintf(p.w, "\r%s\x1b[K", progressLine(done, total, now.Sub(p.start)))
}

// finish ends the line, if one was shown.
func (p *progressMeter) finish() {
	if p.wrote {
		fmt.Fprintln(p.w)
	}
}

// progressLine is "verified DONE of TOTAL records, RATE records/s, M:SS
// left" (the rate and time left once a second has passed).
func progressLine(done, total int, elapsed time.Duration) string {
	s := fmt.Sprintf("verified %d of %d records", done, total)
	if elapsed < time.Second || done == 0 {
		return s
	}
	rate := float64(done) / elapsed.Seconds()
	s += fmt.Sprintf(", %.0f records/s", rate)
	if left := total - done; left > 0 {
		d := time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second)
		s += fmt.Sprintf(", %d:%02d left", int(d.Minutes()), int(d.Seconds())%60)
	}
	return s
}
