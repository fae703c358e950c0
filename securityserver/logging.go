package securityserver

import (
	"context"
	"crypto/sha512"
	"slices"
	"time"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// FileMessageLog is the message log in the data directory.
const FileMessageLog = "messagelog.db"

// logged is one signed message to log.
type logged struct {
	kind      messagelog.Kind
	soap      []byte
	signature []byte
	ctype     string
}

// record builds a log record; local is the subsystem on this server's side
// (the client on the client side, the provider on the service side), whose
// privacy setting decides whether the body or only its digest is kept.
func (s *Server) record(side messagelog.Side, req *message.Message, requestID string, local identifier.Client, m logged) *messagelog.Record {
	if s.opts.noLog {
		return nil
	}
	sum := sha512.Sum512(m.soap)
	r := &messagelog.Record{Side: side, Kind: m.kind, MessageID: req.Header.ID, RequestID: requestID,
		Client: req.Header.Client.String(), Service: req.Header.Service.String(),
		MessageDigest: sum[:], Signature: m.signature, ContentType: m.ctype}
	if s.logBodies(local) {
		r.Message = m.soap
	}
	return r
}

func (s *Server) logBodies(local identifier.Client) bool {
	c := s.cfg.MessageLog
	if c.DigestOnly != nil && slices.Contains(c.DigestOnly, local) {
		return false
	}
	return c.Bodies == nil || *c.Bodies
}

// appendLog makes records durable before an answer is released; a failure
// becomes the LoggingFailed fault, never a success.
func (s *Server) appendLog(ctx context.Context, prefix string, recs ...*messagelog.Record) *message.Fault {
	if s.opts.noLog {
		return nil
	}
	start := time.Now()
	err := s.mlog.Append(context.WithoutCancel(ctx), recs...)
	observeSince(s.metrics.logWrite[sideOf(prefix)], start)
	if err != nil {
		s.log.Error("message log write failed: answers are refused until it works again", "err", err)
		return message.Faultf(prefix+message.LoggingFailed, "the message could not be logged, so it is not answered: %v", err)
	}
	return nil
}

// MessageLog is the server's message log (read it with Each, check it with Check).
func (s *Server) MessageLog() *messagelog.Log { return s.mlog }
