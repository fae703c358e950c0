package securityserver

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/spool"
	"github.com/sluz/sluz/securityserver/transport"
	"github.com/sluz/sluz/securityserver/verify"
)

// What both proxies share: the answer they return, the trace they fill in
// as an exchange goes, and reply, which ends every exchange.

// answer is what goes back to the caller.
type answer struct {
	body        transport.Body
	contentType string
	origType    string // service proxy: the provider IS's Content-Type (x-original-content-type)
	soap        []byte // the signed SOAP message and its signature, for the message log
	signature   []byte
	soapType    string    // the SOAP part's Content-Type, for the message log
	att         *attached // the attachments and hash chain, if any
}

// trace is what operational monitoring and the local log record of an
// exchange beyond its request and answer; the proxies fill it in as the
// exchange goes. It lives on the handler's stack.
type trace struct {
	out, in   time.Time           // the request left for the next hop (peer server or provider IS); its answer came back
	peer      identifier.ServerID // client side: the provider's server that answered
	peerAddr  string              // client side: that server's address; service side: the TLS peer's
	peerCert  *x509.Certificate   // service side: the client's server's TLS certificate
	requestID string              // x-request-id
	files     *spool.Set          // the exchange's spooled attachments, removed when it ends
	// logFailure: an attachment file of the message log could not be
	// written (record), so the exchange cannot be logged.
	logFailure error
	// providerFault is the provider IS's SOAP fault, which travels back
	// signed like any answer but is not a success (PR-OPMON succeeded).
	providerFault *message.Fault
	// cause is the local detail of a fault whose text stays general (file
	// paths, OS errors, internal addresses): it goes to this server's log
	// only, never to the peer.
	cause error
	// signed is the SOAP part this server signed in the exchange and its
	// SHA-512, which the signature used: its log record reuses it.
	signed struct{ soap, digest []byte }
	// received is the peer's signed SOAP part (the client proxy's answer)
	// and its SHA-512, and the peer's signature document (request or
	// answer) and its SHA-512 when the verifier computed it: computed once
	// for its verification and its log record.
	received struct{ soap, digest, sig, sigDigest []byte }
}

// internal is a fault whose reason goes out while its cause (paths, OS
// errors, internal addresses) stays in this server's log.
func (t *trace) internal(f *message.Fault, cause error) *message.Fault {
	t.cause = cause
	return f
}

// refused turns a verification rule's refusal into this side's fault; the
// cause of an internal failure stays in the local log.
func (t *trace) refused(sd side, err error) *message.Fault {
	var r *verify.Refusal
	if !errors.As(err, &r) {
		return t.internal(sd.fault(message.InternalError, "the request could not be checked"), err)
	}
	f := sd.fault(r.Code, "%s", r.Error())
	if r.Code == message.InternalError {
		t.cause = r.Err
	}
	return f
}

// refusedBy is t.refused for a rule judged by the global configuration:
// the fault names the version that said no.
func (s *Server) refusedBy(t *trace, sd side, err error, snap *globalconf.Snapshot) *message.Fault {
	f := t.refused(sd, err)
	f.String += " (" + s.confNote(snap) + ")"
	return f
}

// resultProviderFault is the metrics result of an exchange answered with
// the provider information system's SOAP fault.
const resultProviderFault = "provider_fault"

// reply writes the answer or the fault and logs one line per exchange. Its
// operational monitoring record is queued before the answer is released, so
// that a query made after the answer arrived finds it.
func (s *Server) reply(w http.ResponseWriter, sd side, req *message.Message, resp *answer, f *message.Fault, start time.Time, t *trace) {
	d := time.Since(start)
	var h *message.Header
	if req != nil {
		h = &req.Header
	}
	result := "ok"
	switch {
	case f != nil:
		result = f.Code
	case t != nil && t.providerFault != nil:
		// The provider IS's own SOAP fault, signed and delivered: failed as
		// PR-OPMON counts it, under one label (its codes are the IS's own).
		result = resultProviderFault
	}
	if h != nil {
		s.metrics.observe(sd, h.Client, h.Service, result, d)
	} else {
		s.metrics.observe(sd, identifier.Client{}, identifier.ServiceID{}, result, d)
	}
	s.monitor(sd, req, resp, f, start, t)
	if f != nil {
		f.WriteHTTP(w)
		attrs := append(exchangeAttrs(sd, h, t, d), slog.String("fault", f.Code), slog.String("reason", f.String), slog.String("detail", f.Detail))
		if t != nil && t.cause != nil {
			attrs = append(attrs, slog.Any("cause", t.cause))
		}
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "exchange failed", attrs...)
		return
	}
	// A known length lets the peer read to the end and reuse the connection.
	n := resp.body.Len()
	setHeaders(w.Header(), "Content-Type", resp.contentType, "Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	resp.body.WriteTo(w)
	if s.log.Enabled(context.Background(), slog.LevelInfo) { // the fields cost allocations
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "exchange", append(exchangeAttrs(sd, h, t, d), slog.String("result", result), slog.Int64("bytes", n))...)
	}
}

// exchangeAttrs are the log fields of an exchange of the request with
// header h (nil when it was not read) that took d.
// (slog.Attr values, unlike fields passed as ...any, are not boxed.)
func exchangeAttrs(sd side, h *message.Header, t *trace, d time.Duration) []slog.Attr {
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs, slog.String("side", sd.String()), slog.Duration("duration", d.Round(time.Microsecond)))
	if h != nil {
		attrs = append(attrs, slog.String("id", h.ID), slog.String("client", h.Client.String()), slog.String("service", h.Service.String()))
	}
	if t != nil && t.providerFault != nil {
		attrs = append(attrs, slog.String("provider_fault", t.providerFault.Code))
	}
	return attrs
}

// setHeaders sets h's fields as Header.Set does, to kv's values (name,
// value, name, value...), their values in one allocation rather than one
// each.
func setHeaders(h http.Header, kv ...string) {
	vals := make([]string, len(kv)/2)
	for i := range vals {
		vals[i] = kv[2*i+1]
		h[textproto.CanonicalMIMEHeaderKey(kv[2*i])] = vals[i : i+1 : i+1] // an Add copies rather than overwrite the next
	}
}

// asFault is err as a fault: itself when it is one, else code with err's
// text (parser errors, which describe the message, not this server).
func asFault(err error, code string) *message.Fault {
	var f *message.Fault
	if errors.As(err, &f) {
		return f
	}
	return message.Faultf(code, "%v", err)
}

// checkSignature applies the signature rules (verify.Verifier.Signature)
// to a signed message of the peer: signer is the member that must have
// signed it. The document's SHA-512, when the verifier computed it, goes
// to t for the message's log record.
func (s *Server) checkSignature(sd side, t *trace, snap *globalconf.Snapshot, sigXML []byte, m verify.Signed, signer identifier.Client) error {
	defer observeSince(s.metrics.verify[sd], time.Now())
	digest, err := s.verifier.SignatureOfDigest(snap, sigXML, m, signer)
	if err == nil && digest != nil {
		t.received.sig, t.received.sigDigest = sigXML, digest
	}
	return err
}
