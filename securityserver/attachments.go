package securityserver

import (
	"crypto/sha512"
	"maps"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/signature"
	"github.com/sluz/sluz/securityserver/transport"
	"github.com/sluz/sluz/securityserver/verify"
)

// Attachments (SOAP with attachments, PR-MESS §2.4) travel between the
// servers as the transport's nested attachment part (PR-MESSTRANSP §2),
// signed through a hash chain over the SOAP part and each attachment in
// order, as X-Road's SignatureCtx signs a message with attachments. The
// information systems see multipart/related messages; the SOAP part alone
// is what requestHash covers.

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
		out[i] = transport.Attachment{ContentType: a.Header.Get("Content-Type"), Data: a.Body}
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

// signMessage signs the SOAP part soap with its attachments: directly as
// /message.xml without any, through a hash chain with some.
func signMessage(signer *signature.Signer, soap []byte, atts []transport.Attachment, now time.Time) ([]byte, *attached, error) {
	if len(atts) == 0 {
		sig, err := signer.Sign(signature.Part{URI: signature.MessageURI, Data: soap, MimeType: "text/xml"}, now)
		return sig, nil, err
	}
	c, err := signer.SignChained(soap, attachmentParts(atts), now)
	if err != nil {
		return nil, nil, err
	}
	return c.Signature, &attached{atts: atts, result: c.Result, chain: c.Chain}, nil
}

func attachmentParts(atts []transport.Attachment) []signature.Part {
	parts := make([]signature.Part, len(atts))
	for i, a := range atts {
		parts[i] = signature.Part{Data: a.Data}
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
		m.Attachments = []signature.Part{{Data: tr.RESTBody}}
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
		return transport.Body{soap}, soapType
	}
	return a.toIS(soapType, soap)
}

func isXOP(ct string) bool {
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
		body = append(body, append(b, "\r\n"...))
	}
	head(true, "Content-Type", soapType)
	body = append(body, soap)
	var atts []transport.Attachment
	if a != nil {
		atts = a.atts
	}
	for _, at := range atts {
		head(false, at.Fields()...)
		body = append(body, at.Data)
	}
	body = append(body, []byte("\r\n--"+boundary+"--\r\n"))
	if isXOP(soapType) {
		return body, `multipart/related; type="application/xop+xml"; start-info="text/xml"; charset=UTF-8; boundary=` + boundary
	}
	return body, `multipart/related; type="text/xml"; charset=UTF-8; boundary=` + boundary
}

// logged is the attachments as the message log keeps them: their bytes
// where bodies are logged, else only their digests.
func (a *attached) logged(bodies bool) []messagelog.Attachment {
	out := make([]messagelog.Attachment, len(a.atts))
	for i, at := range a.atts {
		sum := sha512.Sum512(at.Data)
		out[i] = messagelog.Attachment{ContentType: at.ContentType, Digest: sum[:]}
		if bodies {
			out[i].Data = at.Data
		}
	}
	return out
}
