package message

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"

	"github.com/sluz/sluz/securityserver/spool"
)

// Streaming says where ReadStream puts attachments and how much they may
// hold.
type Streaming struct {
	// MaxAttachments bounds the attachments' contents together; a message
	// over it is refused with InvalidMessage, naming the limit.
	MaxAttachments int64
	// LimitName, if set, names MaxAttachments in that fault (a
	// configuration setting).
	LimitName string
	// Spool receives each attachment longer than spool.InMemory.
	Spool *spool.Set
	// Length, if above 0, is the body's announced length (Content-Length,
	// which net/http holds the body to): ReadStream sizes its buffer by
	// it, and refuses a length over the limit without reading the body.
	Length int64
}

// ReadRequestStream is ReadRequest for a client proxy that must not hold
// attachments in memory: the SOAP part is read whole (at most maxSize
// bytes), the attachments are spooled as they stream in (ReadStream).
func ReadRequestStream(r *http.Request, maxSize int64, st Streaming) (*Message, error) {
	if f := checkRequest(r); f != nil {
		return nil, f
	}
	return readStream(r.Body, r.ContentLength, r.Header.Get("Content-Type"), ParseOptions{MaxSize: maxSize, Request: true}, st)
}

// ReadStream is Read holding only the SOAP part in memory (at most
// opts.MaxSize bytes): a multipart/related message's attachments are
// spooled as they stream in, each with its digest, and the message's Raw
// is its SOAP part alone (so the offsets InsertRequestHash uses are the
// SOAP part's). A text/xml message is read as Read reads it.
func ReadStream(r io.Reader, contentType string, opts ParseOptions, st Streaming) (*Message, error) {
	length := int64(-1)
	if st.Length > 0 {
		length = st.Length
	}
	return readStream(r, length, contentType, opts, st)
}

func readStream(r io.Reader, length int64, contentType string, opts ParseOptions, st Streaming) (*Message, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.FaultPrefix == "" {
		opts.FaultPrefix = ClientPrefix
	}
	fail := func(code, format string, a ...any) *Fault {
		return Faultf(opts.FaultPrefix+"."+code, format, a...)
	}
	kind, params, f := mediaKind(contentType, fail)
	if f != nil {
		return nil, f
	}
	if kind != kindMultipart {
		return read(r, length, contentType, opts)
	}
	boundary := params.boundary
	if boundary == "" || len(boundary) > 70 {
		return nil, fail(MimeParsingFailed, "multipart/related body without a valid boundary parameter")
	}
	// The whole body, framing and preamble included, is bounded too: the
	// SOAP part's limit and the attachments' together.
	lr := &limited{r: r, n: opts.MaxSize + st.MaxAttachments}
	tooLarge := func() *Fault {
		return fail(InvalidMessage, "the message exceeds the limit of %d bytes for its SOAP part and its attachments together", opts.MaxSize+st.MaxAttachments)
	}
	mr := multipart.NewReader(lr, boundary)
	p, err := mr.NextRawPart()
	if lr.over {
		return nil, tooLarge()
	}
	if err == io.EOF { // exactly: a body without a delimiter fails with an error wrapping EOF
		return nil, fail(MissingSoap, "multipart body has no parts; the first must be the SOAP message (PR-MESS §2.4)")
	}
	if err != nil {
		return nil, fail(MimeParsingFailed, "the multipart body cannot be read: %v", err)
	}
	soap, err := readLimited(p, -1, opts.MaxSize)
	if lr.over {
		return nil, tooLarge()
	}
	if errors.Is(err, errTooLarge) {
		return nil, fail(InvalidMessage, "the SOAP part exceeds the limit of %d bytes", opts.MaxSize)
	}
	if err != nil {
		return nil, fail(MimeParsingFailed, "reading the SOAP part: %v", err)
	}
	if f := checkSOAPPart(p.Header, soap, fail); f != nil {
		return nil, f
	}
	soapType := p.Header.Get("Content-Type")
	var atts []Attachment
	left := st.MaxAttachments
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if lr.over {
			return nil, tooLarge()
		}
		if err != nil {
			return nil, fail(MimeParsingFailed, "the multipart body cannot be read after %d parts: %v", len(atts)+1, err)
		}
		if len(atts)+1 == maxParts {
			return nil, fail(MimeParsingFailed, "multipart body has more than %d parts", maxParts)
		}
		c, err := st.Spool.Copy(p, left)
		if errors.Is(err, spool.ErrTooLarge) {
			name := ""
			if st.LimitName != "" {
				name = " (" + st.LimitName + ")"
			}
			return nil, fail(InvalidMessage, "the attachments exceed the limit of %d bytes together%s", st.MaxAttachments, name)
		}
		if lr.over {
			return nil, tooLarge()
		}
		if err != nil {
			return nil, fail(MimeParsingFailed, "reading attachment %d: %v", len(atts)+1, err)
		}
		left -= c.Size()
		a := Attachment{Header: p.Header}
		if a.Body = c.Memory(); a.Body == nil {
			a.Spooled = c
		}
		atts = append(atts, a)
	}
	m, err := Parse(soap, soapType, opts)
	if err != nil {
		return nil, err
	}
	m.ContentType, m.Attachments = contentType, atts
	return m, nil
}

// limited reads at most n bytes of r and notes an attempt to read more.
type limited struct {
	r    io.Reader
	n    int64
	over bool
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more tells a body over the limit from one exactly at it.
		var b [1]byte
		if _, err := io.ReadFull(l.r, b[:]); err != nil {
			return 0, err
		}
		l.over = true
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

// ReadAll is the attachment's content in one slice (read from its file if
// spooled): for short attachments only.
func (a *Attachment) ReadAll() ([]byte, error) {
	if a.Spooled == nil {
		return a.Body, nil
	}
	b, err := a.Spooled.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("message: reading a spooled attachment: %w", err)
	}
	return b, nil
}
