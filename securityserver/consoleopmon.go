package securityserver

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/sluz/sluz/internal/webui"
	"github.com/sluz/sluz/securityserver/opmon"
)

// Operational monitoring in the console: exchanges and latency over time
// as SVG drawn by the server (no script), top services, faults.

// opmonPeriods are the periods the page offers: how far back, and the
// width of one bar.
var opmonPeriods = []struct {
	Name   string
	Back   time.Duration
	Bucket time.Duration
}{
	{"1h", time.Hour, 5 * time.Minute},
	{"24h", 24 * time.Hour, time.Hour},
	{"7d", 7 * 24 * time.Hour, 6 * time.Hour},
}

// Chart geometry (SVG user units).
const (
	chartW, chartH, chartPad = 720.0, 160.0, 24.0
)

type bar struct {
	X, W, OKY, OKH, FaultY, FaultH, TextY float64
	Label, Title                          string
	Tick                                  bool // the label is shown
}

type point struct{ X, Y float64 }

type chart struct {
	Bars      []bar
	Line      string // polyline points of the mean latency
	MaxCount  int
	MaxMillis int64
	W, H      float64
}

type countRow struct {
	Name          string
	Count, Faults int
	MeanMillis    int64
}

type opmonData struct {
	Period, Side string
	Periods      []string
	Chart        chart
	Total, Fault int
	Services     []countRow
	Faults       []countRow
	Disabled     bool
}

func (c *ssConsole) opmonPage(w http.ResponseWriter, r *http.Request, sess *webui.Session) {
	q := r.URL.Query()
	d := opmonData{Period: cmp.Or(q.Get("period"), "24h")}
	for _, p := range opmonPeriods {
		d.Periods = append(d.Periods, p.Name)
	}
	i := slices.IndexFunc(opmonPeriods, func(p struct {
		Name   string
		Back   time.Duration
		Bucket time.Duration
	}) bool {
		return p.Name == d.Period
	})
	if i < 0 {
		c.kit.Fail(w, r, sess, http.StatusBadRequest, fmt.Errorf("period %q: %s", d.Period, c.kit.Text(r, "opmon.badperiod")))
		return
	}
	if c.s.opmon == nil {
		d.Disabled = true
		c.kit.Render(w, r, sess, http.StatusOK, "opmon", "nav.opmon", d)
		return
	}
	p := opmonPeriods[i]
	now := time.Now()
	end := now.Truncate(p.Bucket).Add(p.Bucket)
	start := end.Add(-p.Back)
	c.s.opmon.Flush()
	res, err := c.s.opmon.Query(opmon.Query{From: start})
	if err != nil {
		c.kit.Fail(w, r, sess, http.StatusInternalServerError, err)
		return
	}
	d.Chart, d.Services, d.Faults, d.Total, d.Fault = summarise(res.Records, start, p.Bucket, int(p.Back/p.Bucket))
	c.kit.Render(w, r, sess, http.StatusOK, "opmon", "nav.opmon", d)
}

// summarise buckets the records from start into n bars of width bucket.
func summarise(recs []opmon.Record, start time.Time, bucket time.Duration, n int) (chart, []countRow, []countRow, int, int) {
	type acc struct {
		ok, fault int
		millis    int64
	}
	buckets := make([]acc, n)
	services, faults := map[string]*countRow{}, map[string]*countRow{}
	var total, faulted int
	for i := range recs {
		r := &recs[i]
		b := int(time.UnixMilli(r.RequestInTs).Sub(start) / bucket)
		if b < 0 || b >= n {
			continue
		}
		total++
		lat := max(r.ResponseOutTs-r.RequestInTs, 0)
		buckets[b].millis += lat
		svc := r.ServiceID().String()
		sr := services[svc]
		if sr == nil {
			sr = &countRow{Name: svc}
			services[svc] = sr
		}
		sr.Count++
		sr.MeanMillis += lat
		if r.Succeeded {
			buckets[b].ok++
			continue
		}
		buckets[b].fault++
		faulted++
		sr.Faults++
		fr := faults[r.FaultCode]
		if fr == nil {
			fr = &countRow{Name: r.FaultCode}
			faults[r.FaultCode] = fr
		}
		fr.Count++
	}
	ch := chart{W: chartW, H: chartH + chartPad}
	var means []int64
	for _, b := range buckets {
		ch.MaxCount = max(ch.MaxCount, b.ok+b.fault)
		var mean int64
		if b.ok+b.fault > 0 {
			mean = b.millis / int64(b.ok+b.fault)
		}
		means = append(means, mean)
		ch.MaxMillis = max(ch.MaxMillis, mean)
	}
	bw := chartW / float64(n)
	scale := func(v, maxV float64) float64 {
		if maxV == 0 {
			return 0
		}
		return v / maxV * chartH
	}
	var line []point
	for i, b := range buckets {
		okH, fH := scale(float64(b.ok), float64(ch.MaxCount)), scale(float64(b.fault), float64(ch.MaxCount))
		x := float64(i) * bw
		at := start.Add(time.Duration(i) * bucket).UTC()
		ch.Bars = append(ch.Bars, bar{X: x + 1, W: bw - 2, OKY: chartH - okH, OKH: okH, FaultY: chartH - okH - fH, FaultH: fH,
			TextY: chartH + chartPad - 6, Tick: i%max(n/6, 1) == 0, Label: at.Format("01-02 15:04"), Title: fmt.Sprintf("%s: %d ok, %d faults, %d ms", at.Format("2006-01-02 15:04Z"), b.ok, b.fault, means[i])})
		if b.ok+b.fault > 0 {
			line = append(line, point{x + bw/2, chartH - scale(float64(means[i]), float64(ch.MaxMillis))})
		}
	}
	for _, p := range line {
		ch.Line += fmt.Sprintf("%.1f,%.1f ", p.X, p.Y)
	}
	rows := func(m map[string]*countRow) []countRow {
		var out []countRow
		for _, r := range m {
			if r.Count > 0 && r.MeanMillis > 0 {
				r.MeanMillis /= int64(r.Count)
			}
			out = append(out, *r)
		}
		slices.SortFunc(out, func(a, b countRow) int { return cmp.Or(b.Count-a.Count, cmp.Compare(a.Name, b.Name)) })
		return out[:min(len(out), 10)]
	}
	return ch, rows(services), rows(faults), total, faulted
}
