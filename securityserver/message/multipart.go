package message

import (
	"bufio"
	"bytes"
	"mime"
	"net/textproto"
	"strings"
)

const maxParts = 1000

// splitMultipart locates the parts of a multipart/related body (RFC 2046
// §5.1.1; SOAP with Attachments; PR-MESS §2.4) without copying anything. The
// first part is the SOAP message; [start, end) is its content in raw. The
// other parts become attachments whose slices point into raw.
func splitMultipart(raw []byte, boundary string, fail func(string, string, ...any) *Fault) (start, end int, soapType string, atts []Attachment, f *Fault) {
	if boundary == "" || len(boundary) > 70 {
		return 0, 0, "", nil, fail(MimeParsingFailed, "multipart/related body without a valid boundary parameter")
	}
	dash := []byte("--" + boundary)
	pos := nextDelimiter(raw, 0, dash)
	if pos < 0 {
		return 0, 0, "", nil, fail(MimeParsingFailed, "multipart body has no boundary line --%s", boundary)
	}
	start = -1
	for n := 0; ; n++ {
		after := pos + len(dash)
		if bytes.HasPrefix(raw[after:], []byte("--")) {
			break // close delimiter; the epilogue is ignored
		}
		if n == maxParts {
			return 0, 0, "", nil, fail(MimeParsingFailed, "multipart body has more than %d parts", maxParts)
		}
		partStart := lineEnd(raw, after)
		next := nextDelimiter(raw, partStart, dash)
		if partStart < 0 || next < 0 {
			return 0, 0, "", nil, fail(MimeParsingFailed, "multipart body ends without its closing boundary --%s--", boundary)
		}
		partEnd := next - 1 // the line break before a delimiter belongs to it
		if partEnd > partStart && raw[partEnd-1] == '\r' {
			partEnd--
		}
		part := raw[partStart:partEnd]
		hdr, bodyOff, ok := splitPartHeader(part)
		if !ok {
			return 0, 0, "", nil, fail(MimeParsingFailed, "MIME part %d has no blank line after its headers", n+1)
		}
		if n == 0 {
			if f := checkSOAPPart(hdr, part[bodyOff:], fail); f != nil {
				return 0, 0, "", nil, f
			}
			start, end, soapType = partStart+bodyOff, partEnd, hdr.Get("Content-Type")
		} else {
			atts = append(atts, Attachment{Header: hdr, Raw: part, Body: part[bodyOff:]})
		}
		pos = next
	}
	if start < 0 {
		return 0, 0, "", nil, fail(MissingSoap, "multipart body has no parts; the first must be the SOAP message (PR-MESS §2.4)")
	}
	return start, end, soapType, atts, nil
}

// nextDelimiter returns the offset of the next boundary delimiter line at or
// after from: "--boundary" at the start of a line, followed by "--", or by
// optional blanks and a line break. Except at offset 0, the line break
// before it must lie at or after from.
func nextDelimiter(raw []byte, from int, dash []byte) int {
	if from < 0 {
		return -1
	}
	for i := from; i <= len(raw)-len(dash); {
		j := bytes.Index(raw[i:], dash)
		if j < 0 {
			return -1
		}
		q := i + j
		if q == 0 || raw[q-1] == '\n' && q-1 >= from {
			rest := raw[q+len(dash):]
			if bytes.HasPrefix(rest, []byte("--")) || lineEnd(rest, 0) >= 0 {
				return q
			}
		}
		i = q + 1
	}
	return -1
}

// lineEnd skips blanks from i and then one line break, returning the offset
// after it, or -1.
func lineEnd(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	switch {
	case bytes.HasPrefix(b[i:], []byte("\r\n")):
		return i + 2
	case i < len(b) && b[i] == '\n':
		return i + 1
	}
	return -1
}

// splitPartHeader parses a part's header block and returns the offset of
// its content.
func splitPartHeader(part []byte) (textproto.MIMEHeader, int, bool) {
	var end int
	switch {
	case bytes.HasPrefix(part, []byte("\r\n")):
		return textproto.MIMEHeader{}, 2, true
	case bytes.HasPrefix(part, []byte("\n")):
		return textproto.MIMEHeader{}, 1, true
	}
	crlf, lf := bytes.Index(part, []byte("\r\n\r\n")), bytes.Index(part, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		end = crlf + 4
	case lf >= 0:
		end = lf + 2
	default:
		return nil, 0, false
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(part[:end]))).ReadMIMEHeader()
	if err != nil {
		return nil, 0, false
	}
	return h, end, true
}

// checkSOAPPart checks the first part: text/xml or application/xop+xml
// (MTOM), UTF-8, and not transfer-encoded (PR-MESS §2.4: "8bit").
func checkSOAPPart(h textproto.MIMEHeader, body []byte, fail func(string, string, ...any) *Fault) *Fault {
	ct := h.Get("Content-Type")
	if ct == "" {
		return fail(InvalidContentType, "the SOAP part of the multipart message has no Content-Type")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fail(InvalidContentType, "invalid content type %q of the SOAP part: %w", ct, err)
	}
	if mt != "text/xml" && mt != "application/xop+xml" {
		return fail(InvalidContentType, "invalid content type %s of the first MIME part; it must be the SOAP message, text/xml or application/xop+xml (PR-MESS §2.4)", mt)
	}
	if f := checkCharset(params["charset"], body, fail); f != nil {
		return f
	}
	switch cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))); cte {
	case "", "8bit", "7bit", "binary":
	default:
		return fail(MimeParsingFailed, "the SOAP part has Content-Transfer-Encoding %s; it must be 8bit (PR-MESS §2.4)", cte)
	}
	return nil
}
