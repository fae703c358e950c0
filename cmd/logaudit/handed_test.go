package main

import (
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/localfed"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// TestVerifyHandedInSignatureDigests: under concurrent load ƏMDK signs
// requests and DİN answers in batches; the receiving side's verifier
// hashes such a (hash-chain) signature document for its cache and hands
// that digest to the message log as the record's time-stamp input. Both
// logs then verify in full (signatures, OCSP, time-stamp hash chains over
// the documents the auditor hashes itself).
func TestVerifyHandedInSignatureDigests(t *testing.T) {
	batched := func(l *messagelog.Log, side messagelog.Side, kind messagelog.Kind) bool {
		found := false
		l.Each(1, func(r *messagelog.Record, _ []byte) error {
			found = found || r.Side == side && r.Kind == kind && r.HashChainResult != nil && len(r.Attachments) == 0
			return nil
		})
		return found
	}
	emdkLog, dinLog, cas := federationLogsAfter(t, func(f *localfed.Federation) {
		emdk, din := f.Agency("EMDK").Server.MessageLog(), f.Agency("DIN").Server.MessageLog()
		// A batch-signed request received by DİN and a batch-signed
		// answer received by ƏMDK: their records took the verifier's
		// digest.
		loadUntil(t, f, "no batch-signed request and answer received", func() bool {
			return batched(din, messagelog.ServerSide, messagelog.Request) && batched(emdk, messagelog.ClientSide, messagelog.Response)
		})
	})
	for _, log := range []string{emdkLog, dinLog} {
		code, out, errOut := runCLI(append([]string{"verify", "--log", log}, cas...)...)
		if code != cli.ExitOK || !strings.Contains(out, "OK") {
			t.Fatalf("verify %s: exit %d\n%s%s", log, code, out, errOut)
		}
	}
}
