package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	for _, c := range []struct {
		done, total int
		elapsed     time.Duration
		want        string
	}{
		{0, 200000, 0, "verified 0 of 200000 records"},
		{3000, 200000, 500 * time.Millisecond, "verified 3000 of 200000 records"},
		{50000, 200000, 10 * time.Second, "verified 50000 of 200000 records, 5000 records/s, 0:30 left"},
		{20000, 200000, 10 * time.Second, "verified 20000 of 200000 records, 2000 records/s, 1:30 left"},
		{200000, 200000, 40 * time.Second, "verified 200000 of 200000 records, 5000 records/s"},
	} {
		if got := progressLine(c.done, c.total, c.elapsed); got != c.want {
			t.Errorf("progressLine(%d, %d, %s) = %q, want %q", c.done, c.total, c.elapsed, got, c.want)
		}
	}
}

// TestProgressOnlyOnTerminals: no meter for a buffer, a regular file or
// --json; the meter rewrites one line at most four times a second and
// always shows the end.
func TestProgressOnlyOnTerminals(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if newProgress(&bytes.Buffer{}, false) != nil || newProgress(f, false) != nil {
		t.Fatal("a progress meter for output that is not a terminal")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		if newProgress(tty, true) != nil {
			t.Error("a progress meter with --json")
		}
		tty.Close()
	}
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	p := &progressMeter{w: &out, now: func() time.Time { return now }, start: now}
	for done := 64; done <= 4000; done += 64 {
		now = now.Add(10 * time.Millisecond)
		p.update(done, 4000)
	}
	p.update(4000, 4000)
	p.finish()
	lines := strings.Split(out.String(), "\r")
	if n := len(lines) - 1; n < 2 || n > 5 {
		t.Errorf("%d updates shown in 0.6 s, want 2 to 4 and the end:\n%q", n, out.String())
	}
	if !strings.HasSuffix(out.String(), "verified 4000 of 4000 records\x1b[K\n") {
		t.Errorf("the last line is not the end: %q", out.String())
	}
}
