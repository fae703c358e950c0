package securityserver

import "github.com/sluz/sluz/securityserver/message"

// Fault code prefixes with their dot (message.Code joins without one).
const (
	clientProxy = message.ClientProxy + "."
	serverProxy = message.ServerProxy + "."

	// codeDuplicateMessage refuses a replayed message id. X-Road has no such
	// check (it relies on TLS and its log); the name follows its style.
	codeDuplicateMessage = "DuplicateMessage"
)
