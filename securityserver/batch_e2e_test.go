package securityserver_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// batchLoad sends clients × each requests ƏMDK -> DİN at once, clients
// at a time, and returns the first failure (an HTTP error, a fault or an
// answer that is not DİN's).
func batchLoad(f *localfed.Federation, clients, each int) error {
	client, _ := identifier.ParseClient(e2eEMDKClient)
	service, _ := identifier.ParseService(e2eDINService)
	url := f.Agency("EMDK").ClientURL
	hc := &http.Client{Timeout: e2eTimeout}
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				req := localfed.RequestXML(client, service, fmt.Sprintf("batch-%d-%d-%s", c, i, message.NewUUID()), "AZTEST0001", "<fin>5ZJ8K2L</fin>")
				resp, err := hc.Post(url, "text/xml; charset=UTF-8", bytes.NewReader(req))
				if err != nil {
					errs <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					errs <- err
					return
				}
				if fl, ok := message.ParseFault(body); ok {
					errs <- fmt.Errorf("fault %s: %s", fl.Code, fl.String)
					return
				}
				if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("5ZJ8K2L")) {
					errs <- fmt.Errorf("HTTP %d: %.500s", resp.StatusCode, body)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// batchFigures are one server's batch signing and signature cache metrics.
type batchFigures struct {
	signatures, messages float64 // sluz_signature_batch_size: count, sum
	hits, misses         float64
}

func scrapeBatch(t *testing.T, adminURL string) batchFigures {
	t.Helper()
	x := scrape(t, adminURL)
	n, sum := x.histogram(t, "sluz_signature_batch_size")
	return batchFigures{float64(n), sum, x.value("sluz_signature_cache_hits_total"), x.value("sluz_signature_cache_misses_total")}
}

// TestBatchSigning, over the local federation's sockets: one client alone
// is never batched (every signature covers one message, so nothing waited
// for a batch, and nothing travels with hash-chain parts: the receiving
// cache sees no chain); 16 clients at once make ƏMDK sign requests and DİN
// sign answers in batches of more than one, which the other side's
// signature cache verifies once (hits), every exchange answered; with
// signing.batch false the same load is signed message by message and
// travels as before batching (no message with a hash chain reaches either
// side).
func TestBatchSigning(t *testing.T) {
	f, _ := e2eStart(t, t.TempDir())
	emdk, din := serveAdmin(t, f.Agency("EMDK").Server), serveAdmin(t, f.Agency("DIN").Server)

	const alone = 6
	if err := batchLoad(f, 1, alone); err != nil {
		t.Fatal(err)
	}
	for name, url := range map[string]string{"ƏMDK": emdk, "DİN": din} {
		if got := scrapeBatch(t, url); got != (batchFigures{alone, alone, 0, 0}) {
			t.Errorf("%s after %d requests of one client: %+v, want %d signatures of one message each and no hash chain received", name, alone, got, alone)
		}
	}

	// Under load: rounds until both sides have signed a batch (on 2 cores
	// the first round does it; the bound only ends a broken run).
	var c, s batchFigures
	for round := 0; round < 20; round++ {
		if err := batchLoad(f, 16, 8); err != nil {
			t.Fatal(err)
		}
		c, s = scrapeBatch(t, emdk), scrapeBatch(t, din)
		if c.messages > c.signatures && s.messages > s.signatures {
			break
		}
	}
	t.Logf("ƏMDK %+v, DİN %+v", c, s)
	if !(c.messages > c.signatures && s.messages > s.signatures) {
		t.Fatalf("no batch formed under 16 clients: ƏMDK %+v, DİN %+v", c, s)
	}
	// A batch of requests is verified once at DİN, a batch of answers once
	// at ƏMDK: the second message of a batch hits.
	if s.hits == 0 || c.hits == 0 || s.misses == 0 || c.misses == 0 {
		t.Errorf("signature cache: DİN (requests) %v hits %v misses, ƏMDK (answers) %v hits %v misses", s.hits, s.misses, c.hits, c.misses)
	}

	// Each log keeps a batch's signature document once, and verifies.
	for _, code := range []string{"EMDK", "DIN"} {
		l := f.Agency(code).Server.MessageLog()
		records := 0
		if err := l.Each(1, func(*messagelog.Record, []byte) error { records++; return nil }); err != nil {
			t.Fatal(err)
		}
		docs, _, err := l.SignatureDocs()
		if err != nil || docs == 0 || docs >= records {
			t.Errorf("%s: %d signature documents kept apart for %d records (%v): a batch's is not stored once", code, docs, records, err)
		}
		if res, err := l.Check(); err != nil || !res.OK() {
			t.Errorf("%s: check: %v, %v", code, res, err)
		}
	}

	// Batching off: the same load, every message signed alone, no hash
	// chain on the wire.
	for _, code := range []string{"EMDK", "DIN"} {
		if err := f.RestartAgency(code, func(c *config.Config) { off := false; c.Signing.Batch = &off }); err != nil {
			t.Fatal(err)
		}
	}
	emdk, din = serveAdmin(t, f.Agency("EMDK").Server), serveAdmin(t, f.Agency("DIN").Server)
	if err := batchLoad(f, 16, 8); err != nil {
		t.Fatal(err)
	}
	for name, url := range map[string]string{"ƏMDK": emdk, "DİN": din} {
		if got := scrapeBatch(t, url); got != (batchFigures{16 * 8, 16 * 8, 0, 0}) {
			t.Errorf("%s with signing.batch false: %+v, want %d signatures of one message each and no hash chain received", name, got, 16*8)
		}
	}
}
