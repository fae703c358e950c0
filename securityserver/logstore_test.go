package securityserver

import "github.com/sluz/sluz/securityserver/messagelog/storetest"

// The conformance suite's Store covers everything the server asks of its
// message log store: a store that passes it can stand behind messageLog.
var _ messageLog = storetest.Store(nil)
