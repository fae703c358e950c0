package sampleis

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// Namespaces of the X-Road message protocol 4.0 (SOAP 1.1 profile).
const (
	soapEnvNS     = "http://schemas.xmlsoap.org/soap/envelope/"
	xroadNS       = "http://x-road.eu/xsd/xroad.xsd"
	identifiersNS = "http://x-road.eu/xsd/identifiers"
)

// MaxRequestBytes caps a request body; a larger one is answered with HTTP 413
// and a SOAP Fault (faultcode Client).
const MaxRequestBytes = 1 << 20

const contentTypeXML = "text/xml; charset=utf-8"

// fault is a technical error, answered with a SOAP 1.1 Fault.
type fault struct {
	status int    // HTTP status: 500 (WS-I BP R1126), 413 or 415
	code   string // faultcode: "Client", "Server" or "VersionMismatch"
	detail string // machine-readable reason, sent as detail/faultDetail
	msg    string // faultstring
}

func (f *fault) Error() string { return f.code + ": " + f.msg }

func clientFault(detail, format string, args ...any) *fault {
	return &fault{status: http.StatusInternalServerError, code: "Client", detail: detail, msg: fmt.Sprintf(format, args...)}
}

// bodyError is a non-technical error ("not found", "duplicate"): a normal
// response whose wrapper holds <error><code/><message/></error>.
type bodyError struct{ code, msg string }

func (e *bodyError) Error() string { return e.code + ": " + e.msg }

func notFound(format string, args ...any) *bodyError {
	return &bodyError{code: "NOT_FOUND", msg: fmt.Sprintf(format, args...)}
}

// operation is one service code of a subsystem. fields lists the child
// elements the request wrapper may contain; run fills the response wrapper.
type operation struct {
	code    string
	version string
	fields  []string
	run     func(req map[string]string, resp *etree.Element) error
	// runAtt, when set, replaces run for an operation that takes SOAP
	// attachments (SwA); atts is empty for a plain text/xml request.
	runAtt func(req map[string]string, atts []attachment, resp *etree.Element) error
}

// service is one provider information system: a subsystem with its
// operations, serving SOAP on POST and its WSDL on GET ?wsdl.
type service struct {
	name   string // for messages: "DİN population"
	ns     string // target namespace of request/response wrappers
	prefix string // prefix used for the response wrapper
	wsdl   string // file name in the embedded wsdl directory
	ops    []operation
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			writeFault(w, &fault{status: http.StatusInternalServerError, code: "Server", detail: "internal_error",
				msg: fmt.Sprintf("%s: internal error", s.name)})
		}
	}()
	switch r.Method {
	case http.MethodPost:
		s.serveSOAP(w, r)
	case http.MethodGet, http.MethodHead:
		if wantsWSDL(r.URL) {
			serveFile(w, r, s.wsdl)
			return
		}
		if base := path.Base(r.URL.Path); base == "xroad.xsd" || base == "identifiers.xsd" {
			serveFile(w, r, base)
			return
		}
		methodNotAllowed(w, s.name)
	default:
		methodNotAllowed(w, s.name)
	}
}

func methodNotAllowed(w http.ResponseWriter, name string) {
	w.Header().Set("Allow", "POST")
	http.Error(w, fmt.Sprintf("%s: method not allowed; POST a SOAP 1.1 request (text/xml), or GET ?wsdl for the service description", name),
		http.StatusMethodNotAllowed)
}

func wantsWSDL(u *url.URL) bool {
	for k := range u.Query() {
		if strings.EqualFold(k, "wsdl") {
			return true
		}
	}
	return false
}

func serveFile(w http.ResponseWriter, r *http.Request, name string) {
	b, err := wsdlFiles.ReadFile("wsdl/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentTypeXML)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}

func (s *service) serveSOAP(w http.ResponseWriter, r *http.Request) {
	related, f := checkContentType(r.Header.Get("Content-Type"))
	if f != nil {
		writeFault(w, f)
		return
	}
	tooLarge := &fault{status: http.StatusRequestEntityTooLarge, code: "Client", detail: "request_too_large",
		msg: fmt.Sprintf("request body exceeds the limit of %d bytes", MaxRequestBytes)}
	if r.ContentLength > MaxRequestBytes {
		writeFault(w, tooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeFault(w, tooLarge)
		} else {
			writeFault(w, clientFault("unreadable_request", "cannot read the request body: %v", err))
		}
		return
	}
	var atts []attachment
	if related != nil {
		if body, atts, err = parseRelated(body, related); err != nil {
			writeFault(w, err.(*fault))
			return
		}
	}
	out, err := s.handle(body, atts)
	if err != nil {
		var f *fault
		if !errors.As(err, &f) {
			f = &fault{status: http.StatusInternalServerError, code: "Server", detail: "internal_error",
				msg: fmt.Sprintf("%s: internal error: %v", s.name, err)}
		}
		writeFault(w, f)
		return
	}
	w.Header().Set("Content-Type", contentTypeXML)
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// checkContentType accepts text/xml with no charset or charset utf-8 (X-Road
// defaults to UTF-8), and multipart/related (SOAP with attachments, whose
// parameters it returns); anything else is a 415 with a Client fault.
func checkContentType(ct string) (related map[string]string, f *fault) {
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case ct == "":
		return nil, unsupported("missing Content-Type; send text/xml; charset=utf-8 (SOAP 1.1)")
	case err != nil:
		return nil, unsupported("malformed Content-Type %q: %v", ct, err)
	case mt == "application/soap+xml":
		return nil, unsupported("SOAP 1.2 (application/soap+xml) is not supported; X-Road uses SOAP 1.1 with text/xml")
	case mt == "multipart/related":
		if t := params["type"]; !strings.EqualFold(t, "text/xml") {
			return nil, unsupported("multipart/related with type %q is not supported; send SOAP with attachments: a text/xml root part (type=\"text/xml\")", t)
		}
		if params["boundary"] == "" {
			return nil, unsupported("multipart/related without a boundary parameter")
		}
		return params, nil
	case strings.HasPrefix(mt, "multipart/"):
		return nil, unsupported("Content-Type %s is not supported; send text/xml, or multipart/related for SOAP with attachments", mt)
	case mt != "text/xml":
		return nil, unsupported("Content-Type %s is not supported; send text/xml; charset=utf-8 (SOAP 1.1)", mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, unsupported("charset %q is not supported; send UTF-8", cs)
	}
	return nil, nil
}

func unsupported(format string, args ...any) *fault {
	return &fault{status: http.StatusUnsupportedMediaType, code: "Client", detail: "unsupported_content_type",
		msg: fmt.Sprintf(format, args...)}
}

// attachment is one MIME part after the SOAP part of a multipart/related
// request: its Content-ID (without the angle brackets), Content-Type and
// decoded body.
type attachment struct {
	contentID, contentType string
	data                   []byte
}

// parseRelated splits a SOAP-with-attachments body (multipart/related with
// the given Content-Type parameters) into its SOAP part, the one named by
// start or else the first, and its attachments. Parts may be binary, 8bit,
// 7bit or base64; every attachment needs a Content-ID.
func parseRelated(body []byte, params map[string]string) ([]byte, []attachment, error) {
	malformed := func(format string, args ...any) ([]byte, []attachment, error) {
		return nil, nil, clientFault("malformed_multipart", format, args...)
	}
	start := strings.TrimSpace(params["start"])
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var soap []byte
	var atts []attachment
	found := false
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return malformed("malformed multipart/related body: %v", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return malformed("malformed multipart/related body: %v", err)
		}
		switch cte := strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))); cte {
		case "", "binary", "8bit", "7bit":
		case "base64":
			dec := make([]byte, base64.StdEncoding.DecodedLen(len(data)))
			n, err := base64.StdEncoding.Decode(dec, bytes.Join(bytes.Fields(data), nil))
			if err != nil {
				return malformed("MIME part %s: invalid base64: %v", p.Header.Get("Content-ID"), err)
			}
			data = dec[:n]
		default:
			return malformed("MIME part %s: Content-Transfer-Encoding %q is not supported; use binary, 8bit or base64", p.Header.Get("Content-ID"), cte)
		}
		id := strings.TrimSpace(p.Header.Get("Content-ID"))
		if !found && (start == "" || id == start) {
			if mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt != "text/xml" {
				return nil, nil, unsupported("the SOAP part of a multipart/related request must be text/xml, not %q", p.Header.Get("Content-Type"))
			}
			soap, found = data, true
			continue
		}
		if id == "" {
			return malformed("attachment %d has no Content-ID; the SOAP part refers to attachments by cid:", len(atts)+1)
		}
		atts = append(atts, attachment{contentID: strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">"),
			contentType: p.Header.Get("Content-Type"), data: data})
	}
	if !found {
		if start != "" {
			return malformed("multipart/related body has no part with Content-ID %s (the start parameter)", start)
		}
		return malformed("multipart/related body has no parts")
	}
	return soap, atts, nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// handle parses one SOAP request and returns the response document: the
// request's own envelope and header, unchanged (so every X-Road header field
// is echoed in the same order, with the same values and namespaces), with the
// body replaced by the response wrapper.
func (s *service) handle(body []byte, atts []attachment) ([]byte, error) {
	doc, err := parseXML(body, "request")
	if err != nil {
		return nil, err
	}
	env := doc.Root()
	if env == nil || len(doc.ChildElements()) != 1 {
		return nil, clientFault("malformed_xml", "request must have exactly one root element, a SOAP envelope")
	}
	if env.Tag != "Envelope" {
		return nil, clientFault("not_soap", "root element is <%s>, not a SOAP 1.1 Envelope", env.FullTag())
	}
	if ns := env.NamespaceURI(); ns != soapEnvNS {
		return nil, &fault{status: http.StatusInternalServerError, code: "VersionMismatch", detail: "version_mismatch",
			msg: fmt.Sprintf("Envelope namespace %q is not SOAP 1.1 (%s)", ns, soapEnvNS)}
	}
	var header, soapBody *etree.Element
	for _, c := range env.ChildElements() {
		switch {
		case c.NamespaceURI() == soapEnvNS && c.Tag == "Header" && header == nil && soapBody == nil:
			header = c
		case c.NamespaceURI() == soapEnvNS && c.Tag == "Body" && soapBody == nil:
			soapBody = c
		default:
			return nil, clientFault("malformed_soap", "unexpected element <%s> in the SOAP Envelope", c.FullTag())
		}
	}
	if soapBody == nil {
		return nil, clientFault("missing_body", "SOAP Body is missing")
	}
	wrapper, err := singleChild(soapBody)
	if err != nil {
		return nil, err
	}
	op := s.operation(wrapper.Tag)
	if op == nil {
		return nil, clientFault("unknown_operation", "operation %q (namespace %q) is not provided at this endpoint; %s offers %s in namespace %q",
			wrapper.Tag, wrapper.NamespaceURI(), s.name, strings.Join(s.codes(), ", "), s.ns)
	}
	if ns := wrapper.NamespaceURI(); ns != s.ns {
		return nil, clientFault("wrong_namespace", "request wrapper <%s> is in namespace %q; %s expects %q",
			wrapper.Tag, ns, s.name, s.ns)
	}
	if err := checkXRoadHeader(header, op); err != nil {
		return nil, err
	}
	fields, err := readFields(wrapper, s.ns, op.fields)
	if err != nil {
		return nil, err
	}
	if len(atts) > 0 && op.runAtt == nil {
		return nil, clientFault("attachments_not_accepted", "%s takes no attachments; send it as text/xml", op.code)
	}

	resp := etree.NewElement(s.prefix + ":" + op.code + "Response")
	resp.CreateAttr("xmlns:"+s.prefix, s.ns)
	run := op.run
	if op.runAtt != nil {
		run = func(req map[string]string, resp *etree.Element) error { return op.runAtt(req, atts, resp) }
	}
	if err := run(fields, resp); err != nil {
		var be *bodyError
		if !errors.As(err, &be) {
			return nil, err
		}
		for _, c := range slices.Clone(resp.Child) {
			resp.RemoveChild(c)
		}
		e := resp.CreateElement("error")
		addText(e, "code", be.code)
		addText(e, "message", be.msg)
	}
	for _, c := range slices.Clone(soapBody.Child) {
		soapBody.RemoveChild(c)
	}
	// The response's fields are unqualified; undeclare a default namespace
	// the request may have put in scope (e.g. xmlns="…soap/envelope/").
	if defaultNamespace(soapBody) != "" {
		resp.CreateAttr("xmlns", "")
	}
	soapBody.AddChild(resp)
	if !hasXMLDecl(doc) {
		doc.InsertChildAt(0, etree.NewProcInst("xml", `version="1.0" encoding="UTF-8"`))
	}
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	return doc.WriteToBytes()
}

func (s *service) operation(code string) *operation {
	for i := range s.ops {
		if s.ops[i].code == code {
			return &s.ops[i]
		}
	}
	return nil
}

func (s *service) codes() []string {
	var out []string
	for _, op := range s.ops {
		out = append(out, op.code)
	}
	return out
}

// parseXML reads a UTF-8 XML document (what names it in messages: "request")
// with no DTD and at most 64 levels deep; anything else is a Client fault.
func parseXML(b []byte, what string) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		CharsetReader: func(charset string, _ io.Reader) (io.Reader, error) {
			return nil, fmt.Errorf("encoding %q is not supported; use UTF-8", charset)
		},
		MaxDepth: 64,
	}
	if err := doc.ReadFromBytes(bytes.TrimPrefix(b, utf8BOM)); err != nil {
		return nil, clientFault("malformed_xml", "%s is not well-formed XML: %v", what, err)
	}
	if err := checkTokens(&doc.Element); err != nil {
		return nil, err
	}
	return doc, nil
}

// checkTokens refuses DTDs (no entity tricks in a government back end).
func checkTokens(e *etree.Element) error {
	for _, c := range e.Child {
		switch t := c.(type) {
		case *etree.Directive:
			return clientFault("malformed_xml", "DTDs and other XML directives are not allowed")
		case *etree.Element:
			if err := checkTokens(t); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasXMLDecl(doc *etree.Document) bool {
	for _, c := range doc.Child {
		if p, ok := c.(*etree.ProcInst); ok && p.Target == "xml" {
			return true
		}
	}
	return false
}

// defaultNamespace is the default namespace in scope at e.
func defaultNamespace(e *etree.Element) string {
	for ; e != nil; e = e.Parent() {
		for _, a := range e.Attr {
			if a.Space == "" && a.Key == "xmlns" {
				return a.Value
			}
		}
	}
	return ""
}

// singleChild returns the only element child of the SOAP Body.
func singleChild(body *etree.Element) (*etree.Element, error) {
	var found *etree.Element
	for _, c := range body.Child {
		switch t := c.(type) {
		case *etree.Element:
			if found != nil {
				return nil, clientFault("malformed_soap", "SOAP Body must hold exactly one request wrapper element, found <%s> and <%s>",
					found.FullTag(), t.FullTag())
			}
			found = t
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, clientFault("malformed_soap", "unexpected text in the SOAP Body")
			}
		}
	}
	if found == nil {
		return nil, clientFault("missing_body", "SOAP Body is empty; expected a request wrapper element")
	}
	return found, nil
}

// checkXRoadHeader checks the X-Road header fields the provider relies on:
// client, service, id and protocolVersion present and not repeated;
// service/serviceCode equal to the wrapper name; serviceVersion (if given)
// the operation's version; protocolVersion 4.x. Other header elements are
// ignored (and echoed).
func checkXRoadHeader(header *etree.Element, op *operation) error {
	if header == nil {
		return clientFault("missing_header", "SOAP Header with the X-Road header fields (client, service, id, protocolVersion) is missing")
	}
	seen := map[string]*etree.Element{}
	for _, c := range header.ChildElements() {
		if c.NamespaceURI() != xroadNS {
			continue
		}
		if seen[c.Tag] != nil {
			return clientFault("duplicate_header_field", "X-Road header field %s appears more than once", c.Tag)
		}
		seen[c.Tag] = c
	}
	for _, name := range []string{"client", "service", "id", "protocolVersion"} {
		if seen[name] == nil {
			return clientFault("missing_header_field", "X-Road header field %s is missing", name)
		}
	}
	if v := strings.TrimSpace(seen["protocolVersion"].Text()); !strings.HasPrefix(v, "4.") {
		return clientFault("invalid_protocol_version", "X-Road protocolVersion %q is not supported; use 4.0", v)
	}
	if strings.TrimSpace(seen["id"].Text()) == "" {
		return clientFault("missing_header_field", "X-Road header field id is empty")
	}
	var code, version *etree.Element
	for _, c := range seen["service"].ChildElements() {
		if c.NamespaceURI() != identifiersNS {
			continue
		}
		switch c.Tag {
		case "serviceCode":
			code = c
		case "serviceVersion":
			version = c
		}
	}
	if code == nil {
		return clientFault("missing_header_field", "X-Road header field service has no serviceCode")
	}
	if v := strings.TrimSpace(code.Text()); v != op.code {
		return clientFault("service_code_mismatch", "serviceCode %q in the X-Road header does not match the request wrapper %q", v, op.code)
	}
	if version != nil {
		if v := strings.TrimSpace(version.Text()); v != op.version {
			return clientFault("unsupported_service_version", "%s version %q is not provided; this endpoint serves %s", op.code, v, op.version)
		}
	}
	return nil
}

// readFields reads the request wrapper's simple child elements (unqualified,
// or qualified in the service namespace). Unknown, repeated or structured
// children are Client faults; values are trimmed.
func readFields(wrapper *etree.Element, ns string, allowed []string) (map[string]string, error) {
	out := map[string]string{}
	for _, c := range wrapper.Child {
		switch t := c.(type) {
		case *etree.Element:
			if u := t.NamespaceURI(); (u != "" && u != ns) || !slices.Contains(allowed, t.Tag) {
				return nil, clientFault("unexpected_element", "unexpected element <%s> in <%s>; allowed: %s",
					t.FullTag(), wrapper.Tag, strings.Join(allowed, ", "))
			}
			if _, dup := out[t.Tag]; dup {
				return nil, clientFault("unexpected_element", "element <%s> appears more than once in <%s>", t.Tag, wrapper.Tag)
			}
			if len(t.ChildElements()) > 0 {
				return nil, clientFault("unexpected_element", "element <%s> must hold text, not elements", t.Tag)
			}
			var sb strings.Builder
			for _, cc := range t.Child {
				if cd, ok := cc.(*etree.CharData); ok {
					sb.WriteString(cd.Data)
				}
			}
			out[t.Tag] = strings.TrimSpace(sb.String())
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, clientFault("unexpected_text", "unexpected text in <%s>", wrapper.Tag)
			}
		}
	}
	return out, nil
}

var finPattern = regexp.MustCompile(`^[0-9A-Z]{7}$`)

// requireFIN returns the validated FİN from field name.
func requireFIN(req map[string]string, name string) (string, error) {
	v, ok := req[name]
	if !ok || v == "" {
		return "", clientFault("missing_field", "required element <%s> (FİN) is missing or empty", name)
	}
	if !finPattern.MatchString(v) {
		return "", clientFault("invalid_fin", "invalid FİN %q: a FİN is 7 characters, digits and uppercase Latin letters (e.g. 5ZJ8K2L)", v)
	}
	return v, nil
}

func requireField(req map[string]string, name string) (string, error) {
	v, ok := req[name]
	if !ok || v == "" {
		return "", clientFault("missing_field", "required element <%s> is missing or empty", name)
	}
	return v, nil
}

// addText appends <name>value</name> (unqualified) to parent.
func addText(parent *etree.Element, name, value string) *etree.Element {
	e := parent.CreateElement(name)
	e.SetText(value)
	return e
}

// addOpt is addText that leaves out empty values (minOccurs="0" fields).
func addOpt(parent *etree.Element, name, value string) {
	if value != "" {
		addText(parent, name, value)
	}
}

// writeFault sends a SOAP 1.1 Fault. faultcode is the bare "Client"/"Server"
// as X-Road writes it; detail/faultDetail carries a machine-readable reason.
func writeFault(w http.ResponseWriter, f *fault) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	env := doc.CreateElement("SOAP-ENV:Envelope")
	env.CreateAttr("xmlns:SOAP-ENV", soapEnvNS)
	fe := env.CreateElement("SOAP-ENV:Body").CreateElement("SOAP-ENV:Fault")
	addText(fe, "faultcode", f.code)
	addText(fe, "faultstring", f.msg)
	d := fe.CreateElement("detail").CreateElement("faultDetail")
	d.CreateAttr("xmlns", "")
	d.SetText(f.detail)
	doc.WriteSettings = etree.WriteSettings{CanonicalText: true, CanonicalAttrVal: true}
	b, _ := doc.WriteToBytes()
	h := w.Header()
	h.Set("Content-Type", contentTypeXML)
	h.Del("Content-Length")
	w.WriteHeader(f.status)
	w.Write(b)
}
