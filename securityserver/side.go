package securityserver

import (
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// side is the proxy an exchange passes through on this server: the client
// proxy (this server's IS calls out) or the service proxy (a peer calls
// this server's provider IS). It is the one way this package says which:
// the log and metrics label, the fault-code prefix and the message log's
// side all come from it, and it indexes the pre-resolved metric children.
type side int

const (
	clientSide side = iota
	serverSide
	nSides
)

// String is the log field and metrics label value.
func (s side) String() string {
	if s == clientSide {
		return "client"
	}
	return "server"
}

// prefix is the side's fault-code prefix with its dot.
func (s side) prefix() string {
	if s == clientSide {
		return message.ClientProxy + "."
	}
	return message.ServerProxy + "."
}

// fault is a fault of this side's proxy: Server.ClientProxy.code or
// Server.ServerProxy.code.
func (s side) fault(code, format string, a ...any) *message.Fault {
	return message.Faultf(s.prefix()+code, format, a...)
}

// logSide is the side as the message log records it.
func (s side) logSide() messagelog.Side {
	if s == clientSide {
		return messagelog.ClientSide
	}
	return messagelog.ServerSide
}
