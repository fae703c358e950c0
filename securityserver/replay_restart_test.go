package securityserver_test

import (
	"testing"

	"github.com/sluz/sluz/securityserver/message"
)

// TestReplayRefusedAfterRestart: the replay window survives a restart of the
// provider's server (it is seeded from the message log).
func TestReplayRefusedAfterRestart(t *testing.T) {
	e := e2eNew(t)
	m := e.members["EMDK"]
	soap := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
	body, ct := e2eTransport(t, m.authOCSP, soap, e.sign(t, m, nil, soap))
	if r := e.post(t, "DIN", m.auth, body, ct); r.status != 200 || len(e2eDecode(t, r).Signature) == 0 {
		t.Fatalf("first delivery failed: HTTP %d\n%.500s", r.status, r.body)
	}
	dir := e.f.Dir
	e.close()
	f, _ := e2eStart(t, dir) // the same state, new processes' worth of servers
	e.f = f
	e2eWantFault(t, e.post(t, "DIN", m.auth, body, ct), message.Code(message.ServerProxy, "DuplicateMessage"))
}
