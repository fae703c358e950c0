package loadtest

import (
	"os"
	"strconv"
	"strings"
)

// HostCPU is the machine-wide CPU accounting over a window, from
// /proc/stat (Linux; zero elsewhere). On a shared VM, Steal is the share
// the hypervisor gave to other guests: a noisy neighbour.
type HostCPU struct {
	Busy  float64 `json:"busy"`  // fraction of all CPUs' time not idle (includes steal)
	Steal float64 `json:"steal"` // fraction of all CPUs' time stolen
	// TCPOpens is the number of TCP connections the machine opened
	// (/proc/net/snmp ActiveOpens): keep-alive at work shows as few.
	TCPOpens uint64 `json:"tcp_opens"`
}

type hostSample struct {
	total, idle, steal uint64
	opens              uint64
}

func readHostCPU() hostSample {
	var s hostSample
	s.opens = tcpActiveOpens()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 { // guest, guest_nice are already in user, nice
			break
		}
		s.total += n
		switch i {
		case 3, 4: // idle, iowait
			s.idle += n
		case 7:
			s.steal = n
		}
	}
	return s
}

func (s hostSample) since(prev hostSample) HostCPU {
	var h HostCPU
	if s.opens >= prev.opens {
		h.TCPOpens = s.opens - prev.opens
	}
	if prev.total == 0 || s.total <= prev.total {
		return h
	}
	d := float64(s.total - prev.total)
	h.Busy, h.Steal = 1-float64(s.idle-prev.idle)/d, float64(s.steal-prev.steal)/d
	return h
}

// tcpActiveOpens reads the Tcp ActiveOpens counter of /proc/net/snmp.
func tcpActiveOpens() uint64 {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "ActiveOpens" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}
