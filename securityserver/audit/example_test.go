package audit_test

import (
	"fmt"
	"time"

	"github.com/sluz/sluz/securityserver/audit"
)

// An archive file is named for its server, the time of its first record
// (UTC) and the range of records it holds; the verifier orders archives by
// their manifests, not by these names.
func ExampleArchiveName() {
	m := &audit.Manifest{FirstSeq: 1, LastSeq: 4000, FirstTime: time.Date(2026, 11, 26, 4, 44, 0, 0, time.FixedZone("AZT", 4*3600))}
	fmt.Println(audit.ArchiveName("DIN-ss1", m))
	// Output: DIN-ss1-20261126T004400Z-1-4000.zip
}
