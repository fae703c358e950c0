package message

import (
	"errors"
	"io"
	"net/http"
)

// ReadRequest reads and parses a client information system's request to the
// client proxy: method POST, a SOAPAction header that is absent, empty, ""
// or a URI in double quotes (SOAP 1.1 §6.1.1), Content-Type text/xml (UTF-8,
// or no charset; a UTF-8 BOM is allowed) or multipart/related, at most
// maxSize bytes (DefaultMaxSize when ≤ 0), and a request, not a fault, in
// the body. The checks run in this order, as in X-Road, and the body is not
// read when one before it fails. The body is read once and kept as
// Message.Raw; a body over the limit is refused, never truncated, and at
// most maxSize+1 bytes of it are read. Errors are *Fault with "Client."
// codes.
func ReadRequest(r *http.Request, maxSize int64) (*Message, error) {
	if f := checkRequest(r); f != nil {
		return nil, f
	}
	return read(r.Body, r.ContentLength, r.Header.Get("Content-Type"), ParseOptions{MaxSize: maxSize, Request: true})
}

// checkRequest is ReadRequest's checks before the body is read.
func checkRequest(r *http.Request) *Fault {
	if r.Method != http.MethodPost {
		return Faultf(Code(ClientPrefix, InvalidHttpMethod), "must use POST request method instead of %s", r.Method)
	}
	action := r.Header.Get("SOAPAction")
	if err := checkSOAPAction(action); err != nil {
		return Faultf(Code(ClientPrefix, InvalidSoapAction), "malformed SOAPAction header value %s: %v; send \"\" or a URI in double quotes (SOAP 1.1 §6.1.1)", action, err)
	}
	if r.Header.Get("Content-Type") == "" {
		return Faultf(Code(ClientPrefix, InvalidContentType), "request has no Content-Type; X-Road SOAP requests are text/xml")
	}
	return nil
}

// Read reads a message of the given Content-Type from r (for example a
// service's response to the provider's security server) and parses it with
// opts. At most opts.MaxSize+1 bytes are read; a longer body is a fault.
func Read(r io.Reader, contentType string, opts ParseOptions) (*Message, error) {
	return read(r, -1, contentType, opts)
}

func read(r io.Reader, length int64, contentType string, opts ParseOptions) (*Message, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	prefix := opts.FaultPrefix
	if prefix == "" {
		prefix = ClientPrefix
	}
	fail := func(code, format string, a ...any) *Fault {
		return Faultf(prefix+"."+code, format, a...)
	}
	// Refuse a wrong Content-Type before reading the body.
	if contentType != "" {
		kind, params, f := mediaKind(contentType, fail)
		if f == nil && kind == kindXML {
			f = checkCharset(params.charset, nil, fail) // US-ASCII is checked on the bytes later
		}
		if f != nil {
			return nil, f
		}
	}
	if length > opts.MaxSize {
		return nil, fail(InvalidMessage, "message of %d bytes exceeds the limit of %d bytes", length, opts.MaxSize)
	}
	raw, err := readLimited(r, length, opts.MaxSize)
	if errors.Is(err, errTooLarge) {
		return nil, fail(InvalidMessage, "message exceeds the limit of %d bytes", opts.MaxSize)
	}
	if err != nil {
		return nil, fail(IOError, "reading the message: %w", err)
	}
	return Parse(raw, contentType, opts)
}

var errTooLarge = errors.New("message too large")

// readLimited reads all of r, but at most max+1 bytes: one byte more than
// allowed tells a body over the limit from one exactly at it.
func readLimited(r io.Reader, length, max int64) ([]byte, error) {
	size := int64(4096)
	if length >= 0 {
		// Trust an announced length only so far: a client must not make
		// the server allocate the limit by merely announcing it.
		size = min(length+1, 1<<18)
	}
	size = min(size, max+1)
	buf := make([]byte, 0, size)
	lr := io.LimitReader(r, max+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
