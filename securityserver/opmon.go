package securityserver

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/opmon/pgopmon"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
	"github.com/sluz/sluz/securityserver/verify"
)

// FileOpmon is the operational monitoring store in the data directory.
const FileOpmon = "opmon.db"

// openOpmon opens the operational monitoring store when it is on:
// dataDir/opmon.db, or the tables in pool's database (the log's on
// PostgreSQL), where every node of the server adds its records and reads
// all.
func (s *Server) openOpmon(pool *pgxpool.Pool, now func() time.Time) error {
	if !s.cfg.Opmon.On() {
		return nil
	}
	opts := opmon.Options{Retention: s.cfg.Opmon.Retention.D(), Now: now, Complete: s.completeRecord, Log: s.log.With("component", "opmon")}
	if pool != nil {
		b, err := pgopmon.New(context.Background(), pool)
		if err != nil {
			return err
		}
		s.opmon = opmon.OpenBackend(b, opts)
		return nil
	}
	st, err := opmon.Open(filepath.Join(s.cfg.DataDir, FileOpmon), opts)
	if err != nil {
		return err
	}
	s.opmon = st
	return nil
}

// monitor queues the operational monitoring record of one exchange; it
// never blocks and allocates nothing beyond the record's queue slot (the
// strings it holds are the parsed header's own; identifiers are turned into
// strings by completeRecord, in the background writer). The header strings
// are copies today (message.Parse); should the parser ever return views
// into the raw message, clone them here, or a queued record pins a whole
// message buffer until the writer commits it.
func (s *Server) monitor(sd side, req *message.Message, resp *answer, f *message.Fault, start time.Time, t *trace) {
	if s.opmon == nil {
		return
	}
	rec := s.traced(sd, start, t)
	if req != nil {
		h := &req.Header
		rec.SetClient(h.Client)
		rec.SetService(h.Service)
		rec.MessageID, rec.MessageUserID, rec.MessageIssue, rec.MessageProtocolVersion = h.ID, h.UserID, h.Issue, h.ProtocolVersion
		if rp := h.RepresentedParty; rp != nil {
			rec.RepresentedPartyClass, rec.RepresentedPartyCode = rp.Class, rp.Code
		}
		rec.RequestSize = int64(len(req.SOAP))
	}
	var respSize int64
	if resp != nil {
		respSize = int64(len(resp.soap))
	}
	s.finish(rec, f, t, respSize)
}

// traced is an operational monitoring record with what t and the side
// say of an exchange that started at start.
func (s *Server) traced(sd side, start time.Time, t *trace) *opmon.Record {
	rec := &opmon.Record{SecurityServerType: opmon.Producer, RequestInTs: start.UnixMilli(), ResponseOutTs: time.Now().UnixMilli()}
	if sd == clientSide {
		rec.SecurityServerType = opmon.Client
	}
	if t != nil {
		if !t.out.IsZero() {
			rec.RequestOutTs = t.out.UnixMilli()
		}
		if !t.in.IsZero() {
			rec.ResponseInTs = t.in.UnixMilli()
		}
		rec.XRequestID = t.requestID
		rec.Peer = opmon.Peer{ID: t.peer, Cert: t.peerCert}
		if sd == clientSide {
			rec.ServiceSecurityServerAddress = t.peerAddr
		} else {
			rec.ClientSecurityServerAddress = t.peerAddr
		}
	}
	return rec
}

// finish sets the outcome of rec (the security server's fault f, the
// provider's fault in t, or success with a response of respSize bytes)
// and queues it.
func (s *Server) finish(rec *opmon.Record, f *message.Fault, t *trace, respSize int64) {
	if f == nil && t != nil && t.providerFault != nil {
		rec.FaultCode, rec.FaultString = t.providerFault.Code, t.providerFault.String
		rec.ResponseSize = respSize
	} else if f != nil {
		rec.FaultCode, rec.FaultString = f.Code, f.String
	} else {
		rec.Succeeded = true
		rec.ResponseSize = respSize
	}
	s.opmon.Add(rec)
}

// completeRecord names the servers of a record; the opmon writer calls it
// off the exchange's path.
func (s *Server) completeRecord(r *opmon.Record) {
	self := s.cfg.Server.String()
	r.SecurityServerID = self
	if r.SecurityServerType == opmon.Client {
		r.ClientSecurityServer = self
		if r.Peer.ID != (identifier.ServerID{}) {
			r.ServiceSecurityServer = r.Peer.ID.String()
		}
	} else {
		r.ServiceSecurityServer = self
		if host, _, err := net.SplitHostPort(r.ClientSecurityServerAddress); err == nil {
			r.ClientSecurityServerAddress = host // the TLS peer's address, without its ephemeral port
		}
		if r.Peer.Cert != nil {
			if snap, err := s.snapshot(); err == nil {
				if srv, ok := snap.ServerByAuthCert(globalconf.AuthCertHash(r.Peer.Cert)); ok {
					r.ClientSecurityServer = srv.ID.String()
				}
			}
		}
	}
	r.Peer = opmon.Peer{}
}

// Opmon is the server's operational monitoring store (nil when disabled).
func (s *Server) Opmon() *opmon.Store { return s.opmon }

// serveOperationalData answers getSecurityServerOperationalData (PR-OPMON)
// in the service proxy itself: the request arrived signed and verified like
// any other, so its client's member is proven. The owner member reads every
// record; any other member only those of exchanges it took part in, as
// client or as provider (opmon.Record.Involves). That filter is the access
// control: access rights (acl) do not apply. Request and answer are logged
// in the message log like any exchange.
func (s *Server) serveOperationalData(r *http.Request, req *message.Message, tm *transport.Message, t *trace) (*answer, *message.Fault) {
	h := &req.Header
	if s.opmon == nil {
		return nil, serverSide.fault(message.UnknownService, "operational monitoring is disabled on this security server (%s)", s.cfg.Server)
	}
	if h.SecurityServer != nil && *h.SecurityServer != s.cfg.Server {
		return nil, serverSide.fault(message.UnknownService, "the request asks security server %s, but this is %s", *h.SecurityServer, s.cfg.Server)
	}
	crit, err := opmon.ParseCriteria(req.SOAP, time.Now())
	if err != nil {
		return nil, message.Faultf(message.Code(message.ClientPrefix, message.InvalidBody), "%s: %v", opmon.ServiceCode, err)
	}
	return s.answerHere(r, req, tm, t, func() ([]byte, []message.Attachment, *message.Fault) {
		if err := s.opmon.Flush(); err != nil {
			return nil, nil, t.internal(serverSide.fault(message.InternalError, "operational monitoring records cannot be read"), err)
		}
		caller, owner := h.Client.MemberID(), h.Client.MemberID() == s.cfg.Server.Owner
		// The answer must fit in a message, with room for the signature.
		budget := int(s.cfg.Limits.MaxMessageSize) / 8 * 7
		body, err := s.opmon.QueryFit(opmon.Query{
			From:  time.Unix(crit.From, 0),
			To:    time.UnixMilli(crit.To*1000 + 999),
			Limit: max(min(opmon.MaxRecordsInPayload, budget/1024), 1), // an XML record is about 1.3 KiB
			Match: func(rec *opmon.Record) bool { return (owner || rec.Involves(caller)) && crit.Match(rec) },
		}, budget, func(res opmon.Result) ([]byte, error) { return opmon.Response(req, res) })
		if err != nil {
			return nil, nil, t.internal(serverSide.fault(message.InternalError, "operational monitoring records cannot be read"), err)
		}
		return body, nil, nil
	})
}

// answerHere is the flow of a request this security server answers itself
// (getSecurityServerOperationalData, the SOAP meta services): the replay
// check, the provider member's signer, the request logged, build's answer
// signed as the provider member (with its attachments, if any, through a
// hash chain) and logged. Access rights do not apply.
func (s *Server) answerHere(r *http.Request, req *message.Message, tm *transport.Message, t *trace, build func() ([]byte, []message.Attachment, *message.Fault)) (*answer, *message.Fault) {
	h := &req.Header
	if err := verify.Replay(s.replay, h.Client, h.ID, time.Now()); err != nil {
		return nil, t.refused(serverSide, err)
	}
	signer, f := s.responseSigner(r.Context(), h.Service.Provider, t)
	if f != nil {
		return nil, f
	}
	requestID := r.Header.Get(transport.HeaderRequestID)
	t.requestID = requestID
	provider := h.Service.Provider
	// The request's record is made durable while the answer is built
	// (startRequestLog); the answer waits for it.
	logReq, f := s.startRequestLog(r.Context(), t, config.Service{}, s.record(serverSide, t, req, requestID, provider,
		logged{messagelog.Request, tm.SOAP, tm.Signature, tm.SOAPType, nil}))
	if f != nil {
		return nil, f
	}
	resp, f := s.buildHere(r, req, t, signer, requestID, logReq, build)
	if f := logReq.then(t, f); f != nil {
		return nil, f
	}
	return resp, nil
}

// buildHere is answerHere's answer: built, signed and logged (durable when
// it returns) once the request's record is (logReq).
func (s *Server) buildHere(r *http.Request, req *message.Message, t *trace, signer *signature.Signer, requestID string, logReq *pendingLog, build func() ([]byte, []message.Attachment, *message.Fault)) (*answer, *message.Fault) {
	t.out = time.Now()
	body, atts, f := build()
	if f != nil {
		return nil, f
	}
	t.in = time.Now()
	resp, f := s.signResponse(signer, &message.Message{Raw: body, SOAP: body, ContentType: message.ContentTypeXML, SOAPType: message.ContentTypeXML, Attachments: atts}, s.metrics.sign[serverSide], t)
	if f != nil {
		return nil, f
	}
	if f := logReq.wait(t); f != nil {
		return nil, f
	}
	if f := s.appendLog(r.Context(), serverSide, t, s.record(serverSide, t, req, requestID, req.Header.Service.Provider,
		logged{messagelog.Response, resp.soap, resp.signature, message.ContentTypeXML, resp.att})); f != nil {
		return nil, f
	}
	return resp, nil
}

// opmonCollectors are the operational monitoring store's metrics.
func opmonCollectors(st *opmon.Store) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluz_opmon_records_stored_total",
			Help: "Operational monitoring records committed to opmon.db.",
		}, func() float64 { return float64(st.Stored()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sluz_opmon_records_dropped_total",
			Help: "Operational monitoring records dropped because the writer's queue was full (exchanges are never held up for them).",
		}, func() float64 { return float64(st.Dropped()) }),
	}
}
