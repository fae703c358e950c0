package securityserver

import (
	"context"
	"crypto/sha512"
	"io"
	"slices"
	"time"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/messagelog/pglog"
)

// FileMessageLog is the message log in the data directory.
const FileMessageLog = "messagelog.db"

// logAppender is the message log as the proxies use it: Append returns
// once the records are durable (or failed), so that no answer is released
// before its proof is kept.
type logAppender interface {
	Append(ctx context.Context, recs ...*messagelog.Record) error
}

// messageLog is everything the server asks of its message log store: the
// proxies' appends, the time-stamper's and the archiver's views, and the
// operator's (status, queue, backup). *messagelog.Log implements it on
// bbolt; another store implements the same and nothing else changes.
type messageLog interface {
	logAppender
	stampLog
	archiveLog
	// Recent calls fn for the records logged since, newest first (the
	// replay guard's seed at start).
	Recent(since time.Time, fn func(r *messagelog.Record) error) error
	Closed() bool
	LastError() error
	QueueLen() int
	Backup(w io.Writer) (int64, error)
	Close() error
}

// pgWithFiles is the log on PostgreSQL with this server's attachment
// files, which stay on its own disk (dataDir/messagelog.attachments).
type pgWithFiles struct {
	*pglog.Log
	files messagelog.Files
}

func (l pgWithFiles) AttachmentFiles() messagelog.Files { return l.files }

// logged is one signed message to log.
type logged struct {
	kind      messagelog.Kind
	soap      []byte
	signature []byte
	ctype     string
	att       *attached // nil for a message without attachments
}

// record builds a log record; local is the subsystem on this server's side
// (the client on the client side, the provider on the service side), whose
// privacy setting decides whether the body or only its digest is kept.
//
// An attachment file that cannot be written leaves t.logFailure set, which
// appendLog turns into its fault.
func (s *Server) record(sd side, t *trace, req *message.Message, requestID string, local identifier.Client, m logged) *messagelog.Record {
	// The digests of the request and of the answer this server signed are
	// computed once per exchange.
	var digest []byte
	switch {
	case sameBytes(m.soap, req.SOAP):
		digest = req.SOAPDigest()
	case sameBytes(m.soap, t.signed.soap):
		digest = t.signed.digest
	case sameBytes(m.soap, t.received.soap):
		digest = t.received.digest
	}
	return s.digestedRecord(sd, t, req.Header.ID, req.Header.Client, req.Header.Service, requestID, local, m, digest)
}

// newRecord is record for a message with these identifiers (a REST
// message's, or a SOAP message's header).
func (s *Server) newRecord(sd side, t *trace, messageID string, client identifier.Client, service identifier.ServiceID, requestID string, local identifier.Client, m logged) *messagelog.Record {
	return s.digestedRecord(sd, t, messageID, client, service, requestID, local, m, nil)
}

// digestedRecord is newRecord for a message whose SHA-512 digest is known
// already (nil: not known).
func (s *Server) digestedRecord(sd side, t *trace, messageID string, client identifier.Client, service identifier.ServiceID, requestID string, local identifier.Client, m logged, digest []byte) *messagelog.Record {
	if s.opts.noLog {
		return nil
	}
	if digest == nil {
		sum := sha512.Sum512(m.soap)
		digest = sum[:]
	}
	r := &messagelog.Record{Side: sd.logSide(), Kind: m.kind, MessageID: messageID, RequestID: requestID,
		Client: client.String(), Service: service.String(),
		MessageDigest: digest, Signature: m.signature, ContentType: m.ctype}
	if sameBytes(m.signature, t.received.sig) {
		r.SignatureDigest = t.received.sigDigest // the verifier's, of these bytes
	}
	bodies := s.logBodies(local)
	if bodies {
		r.Message = m.soap
	}
	if m.att != nil {
		var err error
		r.HashChainResult, r.HashChain = m.att.result, m.att.chain
		if r.Attachments, err = m.att.logged(s.files, bodies); err != nil && t.logFailure == nil {
			t.logFailure = err
		}
	}
	return r
}

// sameBytes reports whether a and b are the same bytes in memory (not
// merely equal ones).
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
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
func (s *Server) appendLog(ctx context.Context, sd side, t *trace, recs ...*messagelog.Record) *message.Fault {
	return s.startLog(ctx, sd, t, recs...).wait(t)
}

// pendingLog is an append under way (startLog).
type pendingLog struct {
	s     *Server
	sd    side
	done  chan struct{} // closed when the append returned; nil when there was nothing to wait for
	err   error
	fault *message.Fault // wait's answer once err was seen
}

// startLog starts making records durable and returns at once, so that the
// exchange's next step (the provider call) overlaps the group commit; its
// wait must return before anything of the exchange is released. An
// attachment file that could not be written (t.logFailure) is not
// appended: wait fails at once, and the caller checks it before any further
// step (failed). The append's own time to durable goes to the logWrite
// histogram, as before it ran in the background.
func (s *Server) startLog(ctx context.Context, sd side, t *trace, recs ...*messagelog.Record) *pendingLog {
	p := &pendingLog{s: s, sd: sd}
	if s.opts.noLog {
		return p
	}
	if p.err = t.logFailure; p.err != nil {
		return p
	}
	p.done = make(chan struct{})
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(p.done)
		start := time.Now()
		p.err = s.appender.Append(ctx, recs...)
		observeSince(s.metrics.logWrite[sd], start)
	}()
	return p
}

// logFailing reports whether the message log is known not to take records
// now: closed, or its last commit failed.
func (s *Server) logFailing() bool {
	return !s.opts.noLog && (s.mlog.Closed() || s.mlog.LastError() != nil)
}

// failed reports whether the append has already failed without being
// started (an attachment file could not be written): the exchange stops
// there, before the provider sees the request.
func (p *pendingLog) failed() bool { return p.done == nil && p.err != nil }

// wait returns once the append is over: nil when its records are durable,
// else the LoggingFailed fault (its cause noted in t, and logged, once
// however often wait is called).
func (p *pendingLog) wait(t *trace) *message.Fault {
	if p.done != nil {
		<-p.done
	}
	if p.err == nil || p.fault != nil {
		return p.fault
	}
	p.s.log.Error("message log write failed: answers are refused until it works again", "err", p.err)
	// The cause (paths, OS errors) is this server's business: the peer
	// learns only that the message was not logged.
	p.fault = t.internal(p.sd.fault(message.LoggingFailed, "the message could not be logged, so it is not answered"), p.err)
	return p.fault
}

// then waits for the append and returns its fault if it failed, else f
// (the outcome of the steps it overlapped): an exchange whose records are
// not durable is never answered as a success, whatever came after.
func (p *pendingLog) then(t *trace, f *message.Fault) *message.Fault {
	if lf := p.wait(t); lf != nil {
		return lf
	}
	return f
}

// MessageLog is the server's embedded (bbolt) message log: read it with
// Each, check it with Check. It is nil when the log is on PostgreSQL
// (messageLog.storage: postgres).
func (s *Server) MessageLog() *messagelog.Log { return s.blog }
