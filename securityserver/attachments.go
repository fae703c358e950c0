package securityserver

import (
	"maps"
	"mime"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/spool"
	"github.com/sluz/sluz/securityserver/transport"
	"github.com/sluz/sluz/securityserver/verify"
)

// Attachments (SOAP with attachments, PR-MESS §2.4) travel between the
// servers as the transport's nested attachment part (PR-MESSTRANSP §2),
// signed through a hash chain over the SOAP part and each attachment in
// order, as X-Road's SignatureCtx signs a message with attachments. The
// information systems see multipart/related messages; the SOAP part alone
// is what requestHash covers.

// DirSpool, in the data directory, holds the attachments of the exchanges
// in flight that are too long to hold in memory (package spool): both
// proxies stream attachments through it, hashing them on the way, and
// remove them when the exchange ends.
const DirSpool = "spool"

// newSpool is the spool of one exchange; Close it when the exchange ends.
func (s *Server) newSpool() *spool.Set {
	return spool.NewSet(filepath.Join(s.cfg.DataDir, DirSpool))
}

// attachmentLimit is limits.maxAttachmentSize for one message's
// attachments together.
func (s *Server) attachmentLimit() int64 { return int64(s.cfg.Limits.MaxAttachmentSize) }

// limitAttachments names the limit in faults.
const limitAttachments = "limits.maxAttachmentSize"

// attached is what a message with attachments carries beside its SOAP
// part; nil for a message without.
type attached struct {
	atts   []transport.Attachment
	result []byte // /sig-hashchainresult.xml
	chain  []byte // /sig-hashchain.xml
}

// fromIS turns the attachments of an IS's multipart/related message into
// transport attachments: each part's content exactly as received, its
// Content-Type and its other header fields (sorted by name, as X-Road
// forwards them from a map).
func fromIS(atts []message.Attachment) []transport.Attachment {
	if len(atts) == 0 {
		return nil
	}
	out := make([]transport.Attachment, len(atts))
	for i, a := range atts {
		out[i] = transport.Attachment{ContentType: a.Header.Get("Content-Type"), Data: a.Body, Spooled: a.Spooled}
		for _, k := range slices.Sorted(maps.Keys(a.Header)) {
			if k == "Content-Type" {
				continue
			}
			for _, v := range a.Header[k] {
				out[i].Header = append(out[i].Header, [2]string{k, v})
			}
		}
	}
	return out
}

// signMessage signs the SOAP part (or REST header part) soap with its
// attachments through the server's Batcher: a message signed alone without
// attachments directly as /message.xml; with attachments, or when it shares
// a signature with other messages waiting for the same key
// (signing.batch), through a hash chain, whose documents then travel with
// it (even without attachments, as X-Road sends them).
func (s *Server) signMessage(signer *signature.Signer, soap []byte, atts []transport.Attachment, now time.Time) ([]byte, *attached, error) {
	return s.signDigested(signer, soap, nil, atts, now)
}

// signDigested is signMessage for a SOAP part whose SHA-512 is known
// already (digest; nil: computed here).
func (s *Server) signDigested(signer *signature.Signer, soap, digest []byte, atts []transport.Attachment, now time.Time) ([]byte, *attached, error) {
	b, err := s.batcher.SignDigested(signer, soap, digest, attachmentParts(atts), now)
	if err != nil {
		return nil, nil, err
	}
	if b.Result == nil {
		return b.Signature, nil, nil
	}
	return b.Signature, &attached{atts: atts, result: b.Result, chain: b.Chain}, nil
}

// newVerifier is the receiving side's verifier: its caches of verified
// chains and OCSP responses, and of verified batch signatures, hold size
// entries each (limits.verifyCacheSize).
func newVerifier(size int) *verify.Verifier {
	v := verify.New(size)
	v.Signatures = verify.NewSignatureCache(size)
	return v
}

func attachmentParts(atts []transport.Attachment) []signature.Part {
	if len(atts) == 0 {
		return nil
	}
	parts := make([]signature.Part, len(atts))
	for i, a := range atts {
		if a.Spooled != nil { // hashed as it streamed in
			parts[i] = signature.Part{Digest: a.Spooled.Digest()}
		} else {
			parts[i] = signature.Part{Data: a.Data}
		}
	}
	return parts
}

// into puts the attachments and the hash chain into a transport message.
func (a *attached) into(tm *transport.Message) {
	if a != nil {
		tm.Attachments, tm.HashChainResult, tm.HashChain = a.atts, a.result, a.chain
	}
}

// received is what a decoded transport message's signature covers.
func received(tr *transport.Message) verify.Signed {
	m := verify.Signed{SOAP: tr.SOAP, HashChainResult: tr.HashChainResult, HashChain: tr.HashChain}
	if len(tr.Attachments) > 0 {
		m.Attachments = attachmentParts(tr.Attachments)
	}
	if tr.RESTBody != nil { // a REST body is /attachment1 (PR-REST §4.4)
		m.Attachments = attachmentParts(restBodyPart(tr.RESTBody))
	}
	return m
}

// attachedOf is the attachments and chain of a decoded transport message.
func attachedOf(tr *transport.Message) *attached {
	if len(tr.Attachments) == 0 && tr.HashChainResult == nil {
		return nil
	}
	if tr.RESTBody != nil {
		return &attached{atts: restBodyPart(tr.RESTBody), result: tr.HashChainResult, chain: tr.HashChain}
	}
	return &attached{atts: tr.Attachments, result: tr.HashChainResult, chain: tr.HashChain}
}

// forIS is the body and Content-Type an information system receives for a
// SOAP part and its attachments: the SOAP part alone when it is text/xml
// without attachments, else multipart/related (an MTOM root,
// application/xop+xml, only travels inside one).
func (a *attached) forIS(soapType string, soap []byte) (transport.Body, string) {
	if (a == nil || len(a.atts) == 0) && !isXOP(soapType) {
		return transport.Bytes(soap), soapType
	}
	return a.toIS(soapType, soap)
}

func isXOP(ct string) bool {
	// mime.ParseMediaType's media type is the part before any ';',
	// trimmed and lower-cased: without that, it is not (and the common
	// text/xml costs no parse).
	if base, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(base), transport.TypeXOP) {
		return false
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == transport.TypeXOP
}

// toIS frames the SOAP part and the attachments as the multipart/related
// message an information system receives (X-Road's
// MultipartSoapMessageEncoder: each part's Content-Type first, then its
// other fields; type="text/xml", or for MTOM type="application/xop+xml"
// with start-info="text/xml" as PR-MESS Annex G shows). The parts are not
// copied. a may be nil (an MTOM message without attachments).
func (a *attached) toIS(soapType string, soap []byte) (transport.Body, string) {
	boundary := "xrel" + strings.TrimPrefix(transport.NewBoundary(), "xtop")
	var body transport.Body
	head := func(first bool, fields ...string) {
		var b []byte
		if !first {
			b = append(b, "\r\n"...)
		}
		b = append(b, "--"+boundary+"\r\n"...)
		for i := 0; i+1 < len(fields); i += 2 {
			b = append(b, fields[i]+": "+fields[i+1]+"\r\n"...)
		}
		body = append(body, transport.Segment{Data: append(b, "\r\n"...)})
	}
	head(true, "Content-Type", soapType)
	body = append(body, transport.Segment{Data: soap})
	var atts []transport.Attachment
	if a != nil {
		atts = a.atts
	}
	for _, at := range atts {
		head(false, at.Fields()...)
		body = append(body, at.Segment())
	}
	body = append(body, transport.Segment{Data: []byte("\r\n--" + boundary + "--\r\n")})
	if isXOP(soapType) {
		return body, `multipart/related; type="application/xop+xml"; start-info="text/xml"; charset=UTF-8; boundary=` + boundary
	}
	return body, `multipart/related; type="text/xml"; charset=UTF-8; boundary=` + boundary
}

// logged is the attachments as the message log keeps them: their bytes
// in files beside the log (messagelog.Files, each synced before the record
// naming it is appended) where bodies are logged, else only their digests.
func (a *attached) logged(files messagelog.Files, bodies bool) ([]messagelog.Attachment, error) {
	out := make([]messagelog.Attachment, len(a.atts))
	for i, at := range a.atts {
		out[i] = messagelog.Attachment{ContentType: at.ContentType, Digest: at.Digest()}
		if !bodies {
			continue
		}
		var link string
		if at.Spooled != nil {
			link = at.Spooled.Path()
		}
		name, err := files.Put(at.Reader(), link)
		if err != nil {
			return nil, err
		}
		out[i].File = name
	}
	return out, nil
}
