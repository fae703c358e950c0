// Package transport is the body format security servers exchange (X-Road
// message transport protocol, PR-MESSTRANSP §2): a multipart/mixed document
// whose parts come in a fixed order — the OCSP responses for the sender's
// authentication certificate (requests only), the SOAP message, its
// attachments (one nested multipart/mixed part, as X-Road's
// ProxyMessageEncoder writes them), the hash-chain result and hash chain
// when the signature is over a hash chain, and the signature
// (signature/bdoc-1.0/ts) last; a provider that fails after starting its
// answer ends it with a text/xml SOAP fault instead. A REST message
// (PR-REST) has its header part where the SOAP message goes and its body,
// if any, in one part after it.
//
// Part bodies are read raw (no Content-Transfer-Encoding decoding): the
// digests cover the octets exactly as sent.
//
// # Streaming
//
// Decode holds a whole message in memory, bounded by the caller's size
// limit. DecodeStream holds only what is not an attachment (bounded the
// same way) and spools each attachment (package spool) as it streams past,
// hashing it on the way, within a limit of its own; Encode sends spooled
// attachments from their files. A proxy using them never holds a whole
// attachment in memory.
package transport

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"

	"github.com/sluz/sluz/securityserver/spool"
)

// Content types of the parts (PR-MESSTRANSP §2).
const (
	TypeOCSP      = "application/ocsp-response"
	TypeSOAP      = "text/xml"
	TypeXOP       = "application/xop+xml" // the SOAP part of an MTOM message (PR-MESS §2.4)
	TypeSignature = "signature/bdoc-1.0/ts"
	TypeMultipart = "multipart/mixed"
	// The hash-chain parts, before the signature of a message with
	// attachments (X-Road's MimeTypes.HASH_CHAIN_RESULT, HASH_CHAIN).
	TypeHashChainResult = "application/hash-chain-result"
	TypeHashChain       = "application/hash-chain"
	// A REST message (PR-REST) travels as its header part in place of the
	// SOAP part and its body, if any, as one part after it, unnested
	// (X-Road's ProxyMessageEncoder.restRequest, restResponse, restBody).
	TypeRESTRequest  = "application/x-road-rest-request"
	TypeRESTResponse = "application/x-road-rest-response"
	TypeRESTBody     = "application/x-road-rest-body"
)

// HTTP headers between security servers (PR-MESSTRANSP §2).
const (
	HeaderRequestID           = "X-Road-Request-Id"
	HeaderHashAlgorithm       = "X-Hash-Algorithm" // JCA name, e.g. SHA-512
	HeaderOriginalContentType = "X-Original-Content-Type"
	HeaderOriginalSOAPAction  = "X-Original-Soapaction"
	HeaderProxyVersion        = "X-Proxy-Version"
)

// HashAlgorithm is the only hash algorithm Şlüz sends and accepts.
const HashAlgorithm = "SHA-512"

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed transport message")

// malformed wraps ErrMalformed, and any cause format gives with %w.
func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

// Message is one request or response between security servers.
type Message struct {
	OCSP     [][]byte // DER OCSP responses for the sender's auth certificate chain (requests only)
	SOAPType string   // Content-Type of the SOAP part, e.g. "text/xml; charset=UTF-8", or TypeRESTRequest or TypeRESTResponse
	SOAP     []byte   // the SOAP message, exactly as the IS sent it, or a REST header part
	// RESTBody is a REST message's body (signed as /attachment1), held
	// (Data) or spooled like an attachment; nil when the message has none.
	// Only with a REST header part.
	RESTBody    *Attachment
	Attachments []Attachment // the SOAP message's attachments, in order (/attachment1, ...)
	// HashChainResult and HashChain are the documents a signature over a
	// hash chain needs (/sig-hashchainresult.xml and /sig-hashchain.xml);
	// both or neither.
	HashChainResult []byte
	HashChain       []byte
	Signature       []byte // signatures.xml
	Fault           []byte // a SOAP fault ending a response in place of the signature
	ContentType     string // of the whole body, set by Encode
}

// Attachment is one attachment of the SOAP message: a part of the nested
// multipart/mixed part.
type Attachment struct {
	// ContentType may be empty: X-Road forwards an attachment that had
	// none without the field.
	ContentType string
	// Header holds the part's other header fields (Content-ID,
	// Content-Transfer-Encoding, ...) as name and value, written in order
	// after Content-Type; Decode gives them sorted by name.
	Header [][2]string
	Data   []byte // exactly as sent, when held in memory
	// Spooled holds the bytes instead of Data for an attachment spooled to
	// a file (DecodeStream, or a proxy that read it from an IS).
	Spooled *spool.Content
}

// Size is the attachment's length in bytes.
func (a Attachment) Size() int64 {
	if a.Spooled != nil {
		return a.Spooled.Size()
	}
	return int64(len(a.Data))
}

// Reader returns a new reader of the attachment's bytes.
func (a Attachment) Reader() io.Reader {
	if a.Spooled != nil {
		return a.Spooled.Reader()
	}
	return bytes.NewReader(a.Data)
}

// Digest is the SHA-512 of the attachment's bytes (computed when held in
// memory, known when spooled).
func (a Attachment) Digest() []byte {
	if a.Spooled != nil {
		return a.Spooled.Digest()
	}
	sum := sha512.Sum512(a.Data)
	return sum[:]
}

// Segment is the attachment's bytes as a body segment.
func (a Attachment) Segment() Segment {
	if a.Spooled != nil {
		return Segment{Content: a.Spooled}
	}
	return Segment{Data: a.Data}
}

// Fields is the attachment's part header as X-Road's MultipartEncoder
// writes it: names and values in turn, Content-Type first (if any), then
// Header in order.
func (a Attachment) Fields() []string {
	fields := make([]string, 0, 2+2*len(a.Header))
	if a.ContentType != "" {
		fields = append(fields, "Content-Type", a.ContentType)
	}
	for _, f := range a.Header {
		fields = append(fields, f[0], f[1])
	}
	return fields
}

// NewBoundary returns a fresh top-level boundary ("xtop" + random hex, as X-Road names them).
func NewBoundary() string {
	return "xtop" + randomHex()
}

func randomHex() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// attachmentBoundary is the nested part's boundary for a top boundary:
// X-Road's ProxyMessageEncoder uses "xatt" and the same unique part.
func attachmentBoundary(top string) string {
	if rest, ok := strings.CutPrefix(top, "xtop"); ok && rest != "" {
		return "xatt" + rest
	}
	return "xatt" + randomHex()
}

// Encode frames m as a multipart/mixed body and returns it as the slices it
// is made of: the parts are not copied. m.ContentType is set to the body's
// Content-Type.
func (m *Message) Encode() (Body, error) {
	return m.encode(NewBoundary())
}

func (m *Message) encode(boundary string) (Body, error) {
	var last []byte
	var lastType string
	switch {
	case m.Signature != nil:
		last, lastType = m.Signature, TypeSignature
	case m.Fault != nil:
		last, lastType = m.Fault, "text/xml; charset=UTF-8"
	default:
		return nil, errors.New("transport: message has neither a signature nor a fault")
	}
	if (m.HashChainResult == nil) != (m.HashChain == nil) {
		return nil, errors.New("transport: a hash-chain result goes with its hash chain; the message has only one of them")
	}
	soapType := m.SOAPType
	if soapType == "" {
		soapType = "text/xml; charset=UTF-8"
	}
	rest := IsREST(soapType)
	if m.RESTBody != nil && (!rest || len(m.Attachments) > 0) {
		return nil, errors.New("transport: a REST body goes with a REST header part and no attachments")
	}
	types := []string{soapType, lastType}
	for i, a := range m.Attachments {
		types = append(types, a.ContentType)
		for _, f := range a.Header {
			if strings.EqualFold(f[0], "Content-Type") || f[0] == "" || strings.ContainsAny(f[0], ": \t\r\n") {
				return nil, fmt.Errorf("transport: attachment %d has a header field named %q", i+1, f[0])
			}
			types = append(types, f[1])
		}
	}
	for _, t := range types {
		if strings.ContainsAny(t, "\r\n") {
			return nil, fmt.Errorf("transport: header value %q spans lines", t)
		}
	}
	// The framing as mime/multipart.Writer (and X-Road's MultipartEncoder)
	// writes it: a delimiter, the part's header fields, an empty line, the
	// part; the attachments nested the same way (ProxyMessageEncoder).
	nparts := len(m.OCSP) + len(m.Attachments) + 4
	frames := make([]byte, 0, nparts*(len(boundary)+96)+len(soapType)+len(lastType))
	ends := make([]int, 0, nparts+1)
	delim := func(boundary string, fields ...string) {
		if len(frames) > 0 {
			frames = append(frames, "\r\n"...)
		}
		frames = append(frames, "--"...)
		frames = append(frames, boundary...)
		frames = append(frames, "\r\n"...)
		for i := 0; i+1 < len(fields); i += 2 {
			frames = append(frames, fields[i]...)
			frames = append(frames, ": "...)
			frames = append(frames, fields[i+1]...)
			frames = append(frames, "\r\n"...)
		}
		frames = append(frames, "\r\n"...)
		ends = append(ends, len(frames))
	}
	parts := make([]Segment, 0, nparts)
	for _, o := range m.OCSP {
		delim(boundary, "Content-Type", TypeOCSP)
		parts = append(parts, Segment{Data: o})
	}
	if rest {
		delim(boundary, "Content-Type", soapType)
	} else {
		delim(boundary, "Content-Transfer-Encoding", "8bit", "Content-Type", soapType)
	}
	parts = append(parts, Segment{Data: m.SOAP})
	if m.RESTBody != nil {
		delim(boundary, "Content-Type", TypeRESTBody)
		parts = append(parts, m.RESTBody.Segment())
	}
	if len(m.Attachments) > 0 {
		att := attachmentBoundary(boundary)
		// The nested part's header, then straight on to its first delimiter.
		delim(boundary, "Content-Type", TypeMultipart+"; charset=UTF-8; boundary="+att)
		ends = ends[:len(ends)-1]
		for _, a := range m.Attachments {
			delim(att, a.Fields()...)
			parts = append(parts, a.Segment())
		}
		frames = append(frames, "\r\n--"...)
		frames = append(frames, att...)
		frames = append(frames, "--\r\n"...)
	}
	if m.HashChainResult != nil {
		delim(boundary, "Content-Type", TypeHashChainResult)
		parts = append(parts, Segment{Data: m.HashChainResult})
		delim(boundary, "Content-Type", TypeHashChain)
		parts = append(parts, Segment{Data: m.HashChain})
	}
	delim(boundary, "Content-Type", lastType)
	parts = append(parts, Segment{Data: last})
	frames = append(frames, "\r\n--"...)
	frames = append(frames, boundary...)
	frames = append(frames, "--\r\n"...)
	ends = append(ends, len(frames))

	body := make(Body, 0, 2*len(parts)+1)
	from := 0
	for i, p := range parts {
		body = append(body, Segment{Data: frames[from:ends[i]:ends[i]]}, p)
		from = ends[i]
	}
	body = append(body, Segment{Data: frames[from:]})
	m.ContentType = TypeMultipart + "; charset=UTF-8; boundary=" + boundary
	return body, nil
}

// Body is an encoded message: segments to be sent one after the other,
// each bytes in memory or a spooled content.
type Body []Segment

// Segment is one run of a body: Data, or Content when that is set.
type Segment struct {
	Data    []byte
	Content *spool.Content
}

// Bytes is a body of the given byte slices.
func Bytes(parts ...[]byte) Body {
	b := make(Body, len(parts))
	for i, p := range parts {
		b[i].Data = p
	}
	return b
}

func (s Segment) size() int64 {
	if s.Content != nil {
		return s.Content.Size()
	}
	return int64(len(s.Data))
}

// Len is the body's length in bytes.
func (b Body) Len() int64 {
	var n int64
	for _, s := range b {
		n += s.size()
	}
	return n
}

// Bytes is the body in one slice (a copy; spooled contents read in).
func (b Body) Bytes() []byte {
	buf := bytes.NewBuffer(make([]byte, 0, b.Len()))
	b.WriteTo(buf)
	return buf.Bytes()
}

// Flat is the body as one slice (a copy, Bytes) when it is all in memory
// and at most max bytes long, else b itself. net/http sends a flat body
// (Reader) with its header in one write, through the connection's buffer.
func (b Body) Flat(max int64) Body {
	if len(b) <= 1 || b.Len() > max {
		return b
	}
	for _, s := range b {
		if s.Content != nil {
			return b
		}
	}
	return Bytes(b.Bytes())
}

// WriteTo writes the body to w.
func (b Body) WriteTo(w io.Writer) (int64, error) {
	return b.Reader().(io.WriterTo).WriteTo(w)
}

// Reader returns a new reader of the body; the body can be read again.
// A body of one slice in memory gives a *bytes.Reader, which net/http
// knows to be in memory: it sends the request's header and such a body in
// one write, where it flushes the header first for any other reader and
// then copies the body through a buffer allocated for it.
func (b Body) Reader() io.Reader {
	if len(b) == 1 && b[0].Content == nil {
		return bytes.NewReader(b[0].Data)
	}
	return &bodyReader{body: b}
}

type bodyReader struct {
	body Body
	off  int       // into body[0].Data
	cur  io.Reader // body[0].Content's reader, once started
}

func (r *bodyReader) Read(p []byte) (int, error) {
	for len(r.body) > 0 {
		if c := r.body[0].Content; c != nil {
			if r.cur == nil {
				r.cur = c.Reader()
			}
			n, err := r.cur.Read(p)
			if err == io.EOF {
				r.body, r.cur = r.body[1:], nil
				if n == 0 {
					continue
				}
				err = nil
			}
			return n, err
		}
		seg := r.body[0].Data[r.off:]
		if len(seg) == 0 {
			r.body, r.off = r.body[1:], 0
			continue
		}
		n := copy(p, seg)
		r.off += n
		return n, nil
	}
	return 0, io.EOF
}

// WriteTo lets io.Copy hand each slice to the writer whole (and a spooled
// content through a buffer of its own).
func (r *bodyReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for len(r.body) > 0 {
		if c := r.body[0].Content; c != nil {
			if r.cur == nil {
				r.cur = c.Reader()
			}
			k, err := io.CopyBuffer(w, onlyReader{r.cur}, make([]byte, 64<<10))
			n += k
			if err != nil {
				return n, err
			}
			r.body, r.cur = r.body[1:], nil
			continue
		}
		k, err := w.Write(r.body[0].Data[r.off:])
		n += int64(k)
		if err != nil {
			r.off += k
			return n, err
		}
		r.body, r.off = r.body[1:], 0
	}
	return n, nil
}

// onlyReader hides a reader's WriterTo, so that io.CopyBuffer uses the
// buffer given (an io.SectionReader has none, a bytes.Reader has).
type onlyReader struct{ io.Reader }

// readPart appends what r holds to arena and returns it as a slice of its
// own (capacity capped, so that later parts cannot overwrite it), and the
// arena to read the next part into. When the arena is full it moves to a
// larger one; the parts already read keep the old one.
func readPart(r io.Reader, arena []byte) (part, rest []byte, err error) {
	start := len(arena)
	for {
		if len(arena) == cap(arena) {
			grown := make([]byte, len(arena)-start, max(2*(len(arena)-start), 4<<10))
			copy(grown, arena[start:])
			arena, start = grown, 0
		}
		n, err := r.Read(arena[len(arena):cap(arena)])
		arena = arena[:len(arena)+n]
		if err == io.EOF {
			return arena[start:len(arena):len(arena)], arena, nil
		}
		if err != nil {
			return nil, arena, err
		}
	}
}

// readWhole reads a body of length bytes from r whole; when r holds
// exactly that, whole is the body (and rest nil), else (shorter, longer, an error) rest
// reads what r gave (its bytes, then its error) and then r, for
// mime/multipart to read (and fail on) as it would have read r.
func readWhole(r io.Reader, length int64) (whole []byte, rest io.Reader) {
	buf := make([]byte, length, length+1)
	n, err := readFull(r, buf)
	if n == len(buf) && err == io.EOF { // the end with the last bytes, as net/http's bodies tell it
		return buf, nil
	}
	if err == nil {
		if n, err = readFull(r, buf[n:n+1]); n == 0 && err == io.EOF {
			return buf, nil
		}
		n += len(buf)
	}
	return nil, &replay{read: buf[:n], err: err, r: r}
}

// readFull is io.ReadFull returning r's own error (io.EOF, not
// io.ErrUnexpectedEOF, after a part of b).
func readFull(r io.Reader, b []byte) (n int, err error) {
	for n < len(b) && err == nil {
		var k int
		k, err = r.Read(b[n:])
		n += k
	}
	return n, err
}

// replay reads read, then err if not nil, then r.
type replay struct {
	read []byte
	err  error
	r    io.Reader
}

func (p *replay) Read(b []byte) (int, error) {
	if len(p.read) > 0 {
		n := copy(b, p.read)
		p.read = p.read[n:]
		return n, nil
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.r.Read(b)
}

// partReader reads a part: p, or its body read already.
func partReader(p *multipart.Part, body []byte) io.Reader {
	if p != nil {
		return p
	}
	return bytes.NewReader(body)
}

// Decode reads a body of Content-Type contentType. request says whether
// OCSP parts are expected first (requests) or refused (responses). The whole
// body may be at most maxSize bytes; r is read at most maxSize+1 bytes.
func Decode(r io.Reader, contentType string, maxSize int64, request bool) (*Message, error) {
	return DecodeLength(r, -1, contentType, maxSize, request)
}

// DecodeLength is Decode for a body of known length (Content-Length; -1
// when unknown): the parts are read into one buffer of that size instead
// of growing one per part.
func DecodeLength(r io.Reader, length int64, contentType string, maxSize int64, request bool) (*Message, error) {
	return decode(r, length, contentType, maxSize, request, nil)
}

// Streaming bounds what DecodeStream holds and says where attachments go.
type Streaming struct {
	// MaxSize bounds the message without its attachments' contents: the
	// part held in memory.
	MaxSize int64
	// MaxAttachments bounds the attachments' contents together.
	MaxAttachments int64
	// Spool receives each attachment longer than spool.InMemory.
	Spool *spool.Set
}

// ErrAttachmentsTooLarge is wrapped when a message's attachments together
// are over their limit (Streaming.MaxAttachments).
var ErrAttachmentsTooLarge = errors.New("attachments too large")

// DecodeStream is DecodeLength holding only the message without its
// attachments in memory: each attachment (and a REST body, which counts
// as one) is spooled as it is read, and its digest computed on the way
// (Attachment.Spooled, or Data for a short one).
// A body over a limit fails with ErrTooLarge or ErrAttachmentsTooLarge.
func DecodeStream(r io.Reader, length int64, contentType string, lim Streaming, request bool) (*Message, error) {
	return decode(r, length, contentType, lim.MaxSize, request, &lim)
}

func decode(r io.Reader, length int64, contentType string, maxSize int64, request bool, stream *Streaming) (*Message, error) {
	mt, boundary, err := parseType(contentType)
	if err != nil {
		return nil, malformed("Content-Type %q: %w", contentType, err)
	}
	if mt != TypeMultipart {
		return nil, malformed("Content-Type %s, want %s", mt, TypeMultipart)
	}
	if boundary == "" {
		return nil, malformed("Content-Type has no boundary")
	}
	lr := &limitedReader{r: r, n: maxSize}
	var (
		mr    *multipart.Reader
		split []rawPart // the parts, when the body was read whole and splitParts read it
		arena []byte    // the parts' bodies, one after another (mime/multipart)
	)
	if length > 0 && length <= maxSize {
		whole, rest := readWhole(lr, length)
		var ok bool
		if whole != nil {
			split, ok = splitParts(whole, boundary, make([]rawPart, 0, 8))
		}
		if !ok {
			if rest == nil {
				rest = &replay{read: whole, err: io.EOF}
			}
			split, mr, arena = nil, multipart.NewReader(rest, boundary), make([]byte, 0, length)
		}
	} else {
		mr = multipart.NewReader(lr, boundary)
	}
	m := &Message{ContentType: contentType}
	// The parts' order is a state machine (PR-MESSTRANSP §2; X-Road's
	// ProxyMessageDecoder): OCSP* -> SOAP -> [attachments] (or REST
	// header part -> [REST body]) ->
	// [hash-chain result -> hash chain] -> signature | fault, then the end.
	const (
		wantOCSPOrSOAP = iota
		wantAttachments
		wantChainOrSignature
		wantChain
		wantSignature
		wantEnd
	)
	state := wantOCSPOrSOAP
	for i := 0; ; i++ {
		var (
			p     *multipart.Part
			ctype string
			body  []byte
		)
		if split != nil {
			if i == len(split) {
				break
			}
			ctype, body = split[i].ctype, split[i].body
		} else {
			var err error
			if p, err = mr.NextRawPart(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				if lr.over {
					return nil, errTooLarge(maxSize)
				}
				return nil, malformed("reading parts: %w", err)
			}
			ctype = p.Header.Get("Content-Type")
		}
		var err error
		if stream != nil && state == wantAttachments && mediaType(ctype) == TypeMultipart {
			// The attachments stream past: their contents count against
			// their own limit, not the message's.
			lr.n += stream.MaxAttachments
			if m.Attachments, err = streamAttachments(partReader(p, body), ctype, stream); err != nil {
				if lr.over {
					return nil, errTooLarge(maxSize)
				}
				return nil, err
			}
			var total int64
			for _, a := range m.Attachments {
				total += a.Size()
			}
			if lr.n -= stream.MaxAttachments - total; lr.n < 0 {
				return nil, errTooLarge(maxSize)
			}
			state = wantChainOrSignature
			continue
		}
		if stream != nil && state == wantAttachments && IsREST(m.SOAPType) && mediaType(ctype) == TypeRESTBody {
			// A REST body streams past as an attachment does.
			lr.n += stream.MaxAttachments
			c, err := stream.Spool.Copy(partReader(p, body), stream.MaxAttachments)
			switch {
			case lr.over:
				return nil, errTooLarge(maxSize)
			case errors.Is(err, spool.ErrTooLarge):
				return nil, fmt.Errorf("%w: the REST body is over the %d-byte limit", ErrAttachmentsTooLarge, stream.MaxAttachments)
			case err != nil:
				return nil, malformed("reading the REST body: %w", err)
			}
			if lr.n -= stream.MaxAttachments - c.Size(); lr.n < 0 {
				return nil, errTooLarge(maxSize)
			}
			a := FromSpool(c)
			a.ContentType = TypeRESTBody
			m.RESTBody, state = &a, wantChainOrSignature
			continue
		}
		if p != nil {
			if body, arena, err = readPart(p, arena); err != nil {
				if lr.over {
					return nil, errTooLarge(maxSize)
				}
				return nil, malformed("reading a part: %w", err)
			}
		}
		pt := mediaType(ctype)
		if pt == "" {
			return nil, malformed("a part has no Content-Type")
		}
		afterSOAP := state == wantAttachments || state == wantChainOrSignature
		switch {
		case state == wantOCSPOrSOAP && pt == TypeOCSP:
			if !request {
				return nil, malformed("a response carries no OCSP parts")
			}
			m.OCSP = append(m.OCSP, body)
		case state == wantOCSPOrSOAP && (pt == TypeSOAP || pt == TypeXOP):
			if request && len(m.OCSP) == 0 {
				return nil, malformed("the request carries no OCSP response for the sender's authentication certificate")
			}
			m.SOAPType, m.SOAP, state = ctype, body, wantAttachments
		case state == wantOCSPOrSOAP && pt == restPart(request):
			if request && len(m.OCSP) == 0 {
				return nil, malformed("the request carries no OCSP response for the sender's authentication certificate")
			}
			m.SOAPType, m.SOAP, state = ctype, body, wantAttachments
		case state == wantAttachments && pt == TypeRESTBody && IsREST(m.SOAPType):
			if body == nil {
				body = []byte{}
			}
			m.RESTBody, state = &Attachment{ContentType: TypeRESTBody, Data: body}, wantChainOrSignature
		case state == wantAttachments && pt == TypeMultipart && !IsREST(m.SOAPType):
			if m.Attachments, err = attachments(body, ctype); err != nil {
				return nil, err
			}
			state = wantChainOrSignature
		case afterSOAP && pt == TypeHashChainResult:
			m.HashChainResult, state = body, wantChain
		case state == wantChain && pt == TypeHashChain:
			m.HashChain, state = body, wantSignature
		case (afterSOAP || state == wantSignature) && pt == TypeSignature:
			m.Signature, state = body, wantEnd
		case (afterSOAP || state == wantSignature) && pt == TypeSOAP && !request:
			m.Fault, state = body, wantEnd
		default:
			return nil, malformed("unexpected part %s at this position", pt)
		}
	}
	if lr.over {
		return nil, errTooLarge(maxSize)
	}
	if state != wantEnd {
		return nil, malformed("the message ends before its signature")
	}
	return m, nil
}

// IsREST reports whether a part's Content-Type is a REST header part's.
func IsREST(ctype string) bool {
	pt := mediaType(ctype)
	return pt == TypeRESTRequest || pt == TypeRESTResponse
}

// restPart is the header part's type in a request or a response.
func restPart(request bool) string {
	if request {
		return TypeRESTRequest
	}
	return TypeRESTResponse
}

// attachments reads the nested multipart/mixed part of the attachments,
// each attachment's bytes exactly as sent (nothing decoded).
func attachments(body []byte, ctype string) ([]Attachment, error) {
	return readAttachments(bytes.NewReader(body), ctype, func(p io.Reader) (a Attachment, err error) {
		a.Data, err = io.ReadAll(p)
		return a, err
	})
}

// streamAttachments reads the nested multipart/mixed part of the
// attachments from r, spooling each attachment.
func streamAttachments(r io.Reader, ctype string, lim *Streaming) ([]Attachment, error) {
	left := lim.MaxAttachments
	return readAttachments(r, ctype, func(p io.Reader) (a Attachment, err error) {
		c, err := lim.Spool.Copy(p, left)
		if errors.Is(err, spool.ErrTooLarge) {
			return a, fmt.Errorf("%w: over the %d-byte limit", ErrAttachmentsTooLarge, lim.MaxAttachments)
		}
		if err != nil {
			return a, err
		}
		left -= c.Size()
		return FromSpool(c), nil
	})
}

// FromSpool is an attachment of spooled content: its bytes held (Data,
// never nil) when they stayed in memory, else Spooled.
func FromSpool(c *spool.Content) (a Attachment) {
	if a.Data = c.Memory(); a.Data == nil {
		a.Spooled = c
	} else if len(a.Data) == 0 {
		a.Data = []byte{}
	}
	return a
}

// readAttachments reads the parts of the attachments' part from r, each
// part's content by content, its header fields as Decode gives them.
func readAttachments(r io.Reader, ctype string, content func(io.Reader) (Attachment, error)) ([]Attachment, error) {
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil || params["boundary"] == "" {
		return nil, malformed("the attachments' part has Content-Type %q, without a boundary", ctype)
	}
	mr := multipart.NewReader(r, params["boundary"])
	var out []Attachment
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, malformed("reading attachment %d: %w", len(out)+1, err)
		}
		a, err := content(p)
		if errors.Is(err, ErrAttachmentsTooLarge) {
			return nil, err
		}
		if err != nil {
			return nil, malformed("reading attachment %d: %w", len(out)+1, err)
		}
		a.ContentType = p.Header.Get("Content-Type")
		for _, k := range slices.Sorted(maps.Keys(p.Header)) {
			if k == "Content-Type" {
				continue
			}
			for _, v := range p.Header[k] {
				a.Header = append(a.Header, [2]string{k, v})
			}
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, malformed("the attachments' part holds no attachment")
	}
	return out, nil
}

// mediaType is the lower-cased type/subtype of a Content-Type value. Not
// mime.ParseMediaType: X-Road's signature part type, signature/bdoc-1.0/ts,
// is not an RFC 2045 media type.
func mediaType(ctype string) string {
	t, _, _ := strings.Cut(ctype, ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// ErrTooLarge is wrapped when a body exceeds the size limit.
var ErrTooLarge = errors.New("message too large")

func errTooLarge(max int64) error {
	return fmt.Errorf("%w: over the %d-byte limit", ErrTooLarge, max)
}

type limitedReader struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		l.over = true
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		l.over = true
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// IsMultipart reports whether an HTTP response carries a transport
// message (rather than a bare SOAP fault, which a provider sends when it
// fails before answering).
func IsMultipart(h http.Header) bool {
	mt, _, err := parseType(h.Get("Content-Type"))
	return err == nil && strings.EqualFold(mt, TypeMultipart)
}

// parseType is mime.ParseMediaType's media type and boundary parameter.
// The Content-Type security servers send (multipart/mixed;
// charset=UTF-8; boundary=xtop…: plain tokens) is read without
// allocating; anything else goes to mime.ParseMediaType.
func parseType(ct string) (mt, boundary string, err error) {
	if mt, boundary, ok := plainType(ct); ok {
		return mt, boundary, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	return mt, params["boundary"], err
}

// plainType reads ct when it is type/subtype followed by parameters
// "; name=value", each name given once, with no other white space and
// only letters, digits and . _ + - in the names and values (which
// mime.ParseMediaType reads alike); ok is false for anything else.
func plainType(ct string) (mt, boundary string, ok bool) {
	base, rest, _ := strings.Cut(ct, ";")
	typ, sub, found := strings.Cut(base, "/")
	if !found || !plainToken(typ) || !plainToken(sub) {
		return "", "", false
	}
	var names [4]string
	n := 0
	for rest != "" {
		var param string
		param, rest, _ = strings.Cut(rest, ";")
		param = strings.TrimPrefix(param, " ")
		name, value, found := strings.Cut(param, "=")
		if !found || !plainToken(name) || !plainToken(value) || n == len(names) {
			return "", "", false
		}
		for _, seen := range names[:n] {
			if strings.EqualFold(seen, name) {
				return "", "", false
			}
		}
		names[n] = name
		n++
		if strings.EqualFold(name, "boundary") {
			boundary = value
		}
	}
	if strings.HasSuffix(ct, ";") {
		return "", "", false
	}
	if isLower(base) {
		return base, boundary, true
	}
	return strings.ToLower(base), boundary, true
}

func plainToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

func isLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return false
		}
	}
	return true
}
