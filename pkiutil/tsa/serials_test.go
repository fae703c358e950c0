package tsa

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// takeSerials draws n serial numbers from s and checks they strictly
// increase.
func takeSerials(t *testing.T, s SerialSource, n int) []*big.Int {
	t.Helper()
	var out []*big.Int
	for i := 0; i < n; i++ {
		v, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > 0 && v.Cmp(out[len(out)-1]) <= 0 {
			t.Fatalf("serial %v after %v", v, out[len(out)-1])
		}
		out = append(out, v)
	}
	return out
}

func TestBoltSerialsRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serials.db")
	s, err := OpenBoltSerials(path)
	if err != nil {
		t.Fatal(err)
	}
	first := takeSerials(t, s, 1500) // crosses a block boundary
	if first[0].Cmp(big.NewInt(1)) != 0 {
		t.Errorf("first serial = %v, want 1", first[0])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); err == nil {
		t.Error("Next after Close succeeded")
	}
	last := first[len(first)-1]

	// Clean reopen: continues right after the last number.
	s, err = OpenBoltSerials(path)
	if err != nil {
		t.Fatal(err)
	}
	second := takeSerials(t, s, 10)
	if want := new(big.Int).Add(last, big.NewInt(1)); second[0].Cmp(want) != 0 {
		t.Errorf("after clean reopen got %v, want %v", second[0], want)
	}
	last = second[len(second)-1]

	// Crash: the file is closed without recording the exact mark.
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenBoltSerials(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	third := takeSerials(t, s, 10)
	if third[0].Cmp(last) <= 0 {
		t.Fatalf("after crash got %v, not above %v", third[0], last)
	}
	t.Logf("crash skipped %v numbers", new(big.Int).Sub(third[0], last))
}

func TestBoltSerialsConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serials.db")
	s, err := OpenBoltSerials(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const workers, each = 16, 300
	results := make([][]*big.Int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				v, err := s.Next()
				if err != nil {
					t.Error(err)
					return
				}
				results[w] = append(results[w], v)
			}
		}()
	}
	wg.Wait()
	seen := make(map[string]bool)
	for w, r := range results {
		for i, v := range r {
			if i > 0 && v.Cmp(r[i-1]) <= 0 {
				t.Fatalf("worker %d: serial %v after %v", w, v, r[i-1])
			}
			if seen[v.String()] {
				t.Fatalf("serial %v handed out twice", v)
			}
			seen[v.String()] = true
		}
	}
	if len(seen) != workers*each {
		t.Fatalf("got %d serials, want %d", len(seen), workers*each)
	}
}

// TestSerialsOverHTTP issues many tokens concurrently through the server
// and checks the serial numbers are unique, increase per client, and keep
// increasing after the store is reopened.
func TestSerialsOverHTTP(t *testing.T) {
	p := fixture(t)
	path := filepath.Join(t.TempDir(), "serials.db")
	run := func(floor *big.Int) *big.Int {
		s, err := OpenBoltSerials(path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		}()
		srv := startServer(t, newTestAuthority(t, p, p.ecTSA, s))
		defer srv.Close()
		der, err := (&Request{HashAlgorithm: crypto.SHA256, HashedMessage: digestOf("serial")}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		const clients, each = 10, 20
		var (
			mu   sync.Mutex
			all  = make(map[string]bool)
			hi   = new(big.Int)
			wg   sync.WaitGroup
			errc = make(chan error, clients)
		)
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prev := floor
				for i := 0; i < each; i++ {
					hr, err := http.Post(srv.URL, ContentTypeQuery, bytes.NewReader(der))
					if err != nil {
						errc <- err
						return
					}
					body, err := io.ReadAll(hr.Body)
					hr.Body.Close()
					if err != nil || hr.StatusCode != http.StatusOK {
						errc <- fmt.Errorf("HTTP %d, %v", hr.StatusCode, err)
						return
					}
					resp, err := ParseResponse(body)
					if err != nil {
						errc <- err
						return
					}
					tok, err := ParseToken(resp.Token)
					if err != nil {
						errc <- err
						return
					}
					if tok.SerialNumber.Cmp(prev) <= 0 {
						errc <- fmt.Errorf("serial %v not above %v", tok.SerialNumber, prev)
						return
					}
					prev = tok.SerialNumber
					mu.Lock()
					if all[prev.String()] {
						errc <- fmt.Errorf("serial %v issued twice", prev)
					}
					all[prev.String()] = true
					if prev.Cmp(hi) > 0 {
						hi = prev
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if len(all) != clients*each {
			t.Fatalf("%d distinct serials, want %d", len(all), clients*each)
		}
		return hi
	}
	hi := run(big.NewInt(0))
	hi2 := run(hi) // every serial after reopening is above the old maximum
	if hi2.Cmp(hi) <= 0 {
		t.Fatalf("maximum after reopen %v <= %v", hi2, hi)
	}
}

// TestBoltSerialsInUse: a second authority on the same trust directory is
// told another process holds the serial numbers, not a bare "timeout".
func TestBoltSerialsInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serials.db")
	s, err := OpenBoltSerials(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = OpenBoltSerials(path)
	if err == nil || !strings.Contains(err.Error(), "serial number store "+path+" is in use by another process") || !errors.Is(err, bolt.ErrTimeout) {
		t.Fatalf("second open: %v", err)
	}
}
