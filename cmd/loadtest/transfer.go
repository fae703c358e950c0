package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sluz/sluz/internal/harness/loadtest"
)

// transfer streams one request with an o.transfer-byte attachment through
// the plain pair and then the Şlüz pair, o.rounds times, into rep.
func transfer(ctx context.Context, b *loadtest.Bench, o options, rep *report, progress io.Writer) error {
	size := int64(o.transfer)
	for round := 1; round <= o.rounds; round++ {
		var tr transfers
		for _, t := range []*loadtest.Target{b.PlainT, b.Sluz} {
			loadtest.Quiesce(15 * time.Second)
			fmt.Fprintf(progress, "loadtest: %-10s one %s attachment ", t.Name, sizeFlag(size))
			before := b.Sink.Bytes.Load()
			res, err := loadtest.Transfer(ctx, t, size, loadtest.NewIDPrefix()+"transfer")
			if err != nil {
				fmt.Fprintln(progress)
				return err
			}
			if got := b.Sink.Bytes.Load() - before; got != size {
				return fmt.Errorf("%s: the provider IS received %d attachment bytes of %d", t.Name, got, size)
			}
			fmt.Fprintf(progress, "%8.2fs  RSS +%d MiB\n", res.Duration.Seconds(), res.RSSGrowth>>20)
			if t == b.PlainT {
				tr.Plain = res
			} else {
				tr.Sluz = res
			}
		}
		tr.TimeRatio = tr.Sluz.Duration.Seconds() / tr.Plain.Duration.Seconds()
		tr.GrowthMet = tr.Sluz.RSSGrowth >= 0 && tr.Sluz.RSSGrowth <= maxTransferGrowth
		rep.Transfers = append(rep.Transfers, tr)
		if !tr.GrowthMet {
			rep.TotalErrors++ // the run fails: the target is not met
		}
	}
	return nil
}

func (r *report) printTransfers(w io.Writer) {
	fmt.Fprintf(w, "transfer: one request with a %s attachment (SOAP with attachments) per pair, ƏMDK -> DİN, checked byte by byte at a sink before DİN's IS\n", sizeFlag(r.Transfers[0].Sluz.Bytes))
	fmt.Fprintf(w, "          RSS: this process's resident set (servers, generator, sink together) above its level before the transfer, sampled every 5 ms\n\n")
	for i, tr := range r.Transfers {
		fmt.Fprintf(w, "  #%d  plain pair %7.2fs (%4.0f MiB/s, RSS +%d MiB)   Şlüz pair %7.2fs (%4.0f MiB/s, RSS +%d MiB)   Şlüz / plain time %.2f   RSS growth <= 64 MiB: %s\n",
			i+1, tr.Plain.Duration.Seconds(), mibps(tr.Plain), tr.Plain.RSSGrowth>>20, tr.Sluz.Duration.Seconds(), mibps(tr.Sluz), tr.Sluz.RSSGrowth>>20, tr.TimeRatio, met(tr.GrowthMet))
	}
	if r.TotalErrors > 0 {
		fmt.Fprintf(w, "\n!!! THE ŞLÜZ PAIR GREW THE RESIDENT SET BY MORE THAN 64 MiB\n")
	}
}

func mibps(r *loadtest.TransferResult) float64 {
	return float64(r.Bytes) / (1 << 20) / r.Duration.Seconds()
}

// sizeFlag is a byte count given as a number with an optional KiB, MiB or
// GiB suffix.
type sizeFlag int64

func (s sizeFlag) String() string {
	switch {
	case s == 0:
		return "0"
	case s%(1<<30) == 0:
		return strconv.FormatInt(int64(s)>>30, 10) + "GiB"
	case s%(1<<20) == 0:
		return strconv.FormatInt(int64(s)>>20, 10) + "MiB"
	case s%(1<<10) == 0:
		return strconv.FormatInt(int64(s)>>10, 10) + "KiB"
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

func (s *sizeFlag) Set(v string) error {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if num, ok := strings.CutSuffix(v, suffix); ok {
			v, mult = num, m
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return errors.New("want a positive size such as 1048576, 1MiB or 1GiB")
	}
	*s = sizeFlag(n * mult)
	return nil
}
