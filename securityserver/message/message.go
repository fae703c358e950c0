package message

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"mime"
	"net/textproto"
	"strings"
	"sync"

	"github.com/sluz/sluz/internal/xmltok"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/spool"
)

// Namespaces (PR-MESS §2.1, §2.2, Annex B; PR-THIRDPARTY §2).
const (
	NamespaceSOAPEnv        = "http://schemas.xmlsoap.org/soap/envelope/"
	NamespaceSOAP12         = "http://www.w3.org/2003/05/soap-envelope" // refused: PR-MESS is SOAP 1.1
	NamespaceXRoad          = "http://x-road.eu/xsd/xroad.xsd"
	NamespaceRepresentation = "http://x-road.eu/xsd/representation.xsd"
)

// HashAlgorithmSHA512 is the requestHash algorithmId Şlüz writes (X-Road:
// SoapUtils.getHashAlgoId, the default digest SHA-512).
const HashAlgorithmSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"

// Defaults of ParseOptions.
const (
	DefaultMaxSize  = 10 << 20 // bytes
	DefaultMaxDepth = 512      // nested elements
)

// RepresentedParty is the repr:representedParty header (PR-THIRDPARTY §2.2):
// Class optional, Code mandatory.
type RepresentedParty struct {
	Class string
	Code  string
}

// RequestHash is the xrd:requestHash header of a response (PR-MESS §2.2).
// Value is the decoded digest; nil when the element's text is not valid
// base64 (a service-supplied value is replaced anyway; a client security
// server then rejects the response).
type RequestHash struct {
	Algorithm string // algorithmId, an XML-DSIG digest URI
	Value     []byte
}

// Header holds the X-Road header fields of a message (PR-MESS §2.2, Table 1,
// and the extensions of Annex H). All values are exactly as written, never
// trimmed; identifier parts cannot hold white space (PR-MESS §2.7).
type Header struct {
	Client           identifier.Client
	Service          identifier.ServiceID // zero when absent
	ID               string
	UserID           string
	Issue            string
	ProtocolVersion  string
	RepresentedParty *RepresentedParty
	SecurityServer   *identifier.ServerID
	RequestHash      *RequestHash
}

// HasService reports whether the service header was present.
func (h *Header) HasService() bool { return h.Service != identifier.ServiceID{} }

// Attachment is a MIME part after the SOAP part of a multipart/related
// message (PR-MESS §2.4). Parse's slices share Message.Raw's memory; a
// message read by ReadStream has no Raw, and Body or Spooled.
type Attachment struct {
	Header textproto.MIMEHeader // parsed part headers
	Raw    []byte               // the whole part as received: header lines, blank line, content
	Body   []byte               // the content octets as received (no transfer decoding)
	// Spooled holds the content instead of Body when it was spooled to a
	// file while it streamed in (ReadStream).
	Spooled *spool.Content
}

// Message is a parsed X-Road SOAP message. Nothing in it is a re-serialised
// copy: Raw is the input slice itself and SOAP is a sub-slice of it.
type Message struct {
	Raw         []byte // exactly the bytes received; never modified
	ContentType string // as received, e.g. "text/xml; charset=utf-8"
	// SOAP is the envelope's bytes, the input of requestHash (PR-MESS §2.2):
	// Raw itself, or the content of the first MIME part of a multipart message.
	SOAP []byte
	// SOAPType is the SOAP part's Content-Type: ContentType itself, or
	// the first MIME part's of a multipart message.
	SOAPType    string
	Attachments []Attachment // multipart/related messages only
	Header      Header
	// Body is the name of soap:Body's child element, the document/literal
	// wrapper (e.g. {ns, getPersonByFin}), or {NamespaceSOAPEnv, Fault}.
	Body    xml.Name
	IsFault bool
	Fault   *Fault // when IsFault

	soapDigest []byte // SHA-512 of soapOf, once SOAPDigest computed it
	soapOf     []byte // the SOAP slice soapDigest was computed from

	idEnd      int    // offset in Raw just after </xrd:id>; 0 if no id
	idPrefix   string // prefix the id element was written with
	hashPrefix string // prefix to write requestHash with ("": the default namespace)
	hashBound  bool   // hashPrefix is bound to NamespaceXRoad where requestHash goes; else declare it
	hashStart  int    // span of a requestHash element in Raw, if any
	hashEnd    int
}

// ParseOptions control Parse.
type ParseOptions struct {
	// MaxSize caps len(raw); DefaultMaxSize when 0.
	MaxSize int64
	// MaxDepth caps element nesting; DefaultMaxDepth when 0.
	MaxDepth int
	// Request: the message is a client's request, so service is mandatory
	// (PR-MESS §2.2), the body wrapper must be named like the service code
	// (§2.3), and a SOAP Fault in the body is an error.
	Request bool
	// FaultPrefix is put before the codes of the faults Parse returns;
	// ClientPrefix ("Client") when empty. A provider's server parsing its
	// service's answer might use Code(ServerProxy, ServiceFailed).
	FaultPrefix string
}

// Parse parses an X-Road message without copying or changing it. raw is
// the HTTP body, contentType its Content-Type ("" means text/xml, UTF-8).
// Every error is a *Fault whose code is opts.FaultPrefix + "." + one of
// the codes of this package.
//
// A message whose body is a SOAP Fault parses without error, unless
// opts.Request is set: IsFault is set and the X-Road headers, which a fault
// may carry (PR-MESS §2.5), are optional. A request that is a fault is
// refused with the fault's own code behind opts.FaultPrefix, as X-Road's
// client proxy does ("Client.Server.Foo" for a fault Server.Foo; see
// requestFault).
func Parse(raw []byte, contentType string, opts ParseOptions) (*Message, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.FaultPrefix == "" {
		opts.FaultPrefix = ClientPrefix
	}
	prefix := opts.FaultPrefix
	fail := func(code, format string, a ...any) *Fault {
		return Faultf(prefix+"."+code, format, a...)
	}
	if int64(len(raw)) > opts.MaxSize {
		return nil, fail(InvalidMessage, "message of %d bytes exceeds the limit of %d bytes", len(raw), opts.MaxSize)
	}
	m := &Message{Raw: raw, ContentType: contentType, SOAP: raw, SOAPType: contentType}
	soapStart := 0
	if contentType != "" {
		kind, params, f := mediaKind(contentType, fail)
		if f != nil {
			return nil, f
		}
		if kind == kindMultipart {
			start, end, soapType, atts, f := splitMultipart(raw, params.boundary, fail)
			if f != nil {
				return nil, f
			}
			m.SOAP, m.SOAPType, m.Attachments, soapStart = raw[start:end], soapType, atts, start
		} else if f := checkCharset(params.charset, raw, fail); f != nil {
			return nil, f
		}
	}
	p := getParser(m, opts, fail)
	defer putParser(p, len(raw))
	if err := p.run(soapStart); err != nil {
		return nil, err
	}
	return m, nil
}

// parsers keeps parsers, with their tokenizer's buffers, for reuse: a
// parser (its scanner's namespace and element stacks held inline) is too
// large to allocate for every message.
var parsers = sync.Pool{New: func() any { return new(parser) }}

func getParser(m *Message, opts ParseOptions, fail func(code, format string, a ...any) *Fault) *parser {
	p := parsers.Get().(*parser)
	tok, buf := p.s.t, p.buf[:0] // the tokenizer's buffers, the text buffer and the texts are reused
	*p = parser{m: m, opts: opts, fail: fail, buf: buf, texts: p.texts}
	p.s.t = tok
	return p
}

// putParser returns p to the pool, without the references to the message
// it read (of size bytes); after a large message its buffers, which may
// have grown with it, are dropped rather than kept.
func putParser(p *parser, size int) {
	const keep = 64 << 10
	buf := p.buf[:0]
	if size > keep || cap(buf) > keep {
		p.s.t, buf = xmltok.Tokenizer{}, nil
	}
	p.s.t.Reset(nil)
	tok := p.s.t
	*p = parser{buf: buf, texts: p.texts}
	p.s.t = tok
	parsers.Put(p)
}

const (
	kindXML = iota
	kindMultipart
)

// mediaParams are the parameters of a message's Content-Type that matter.
type mediaParams struct{ charset, boundary string }

// mediaKind checks a message's Content-Type: text/xml (or a bare
// application/xop+xml, which X-Road also accepts) or multipart/related.
func mediaKind(contentType string, fail func(string, string, ...any) *Fault) (int, mediaParams, *Fault) {
	if cs, ok := plainXMLType(contentType); ok {
		return kindXML, mediaParams{charset: cs}, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, mediaParams{}, fail(InvalidContentType, "invalid content type %q: %w", contentType, err)
	}
	mp := mediaParams{charset: params["charset"], boundary: params["boundary"]}
	switch mt {
	case "text/xml", "application/xop+xml":
		return kindXML, mp, nil
	case "multipart/related":
		return kindMultipart, mp, nil
	case "application/soap+xml":
		return 0, mediaParams{}, fail(InvalidContentType, "invalid content type %s: SOAP 1.2 is not supported; X-Road messages are SOAP 1.1 text/xml (PR-MESS §2)", mt)
	}
	return 0, mediaParams{}, fail(InvalidContentType, "invalid content type %s; X-Road SOAP messages are text/xml, or multipart/related with attachments (PR-MESS §2.4)", mt)
}

// plainXMLType reads, without allocating, the Content-Type nearly every
// SOAP message has: "text/xml" alone or with one charset parameter whose
// value is a plain token ("text/xml; charset=UTF-8", any case). It returns
// the charset as mime.ParseMediaType would; ok is false for anything else,
// which mime.ParseMediaType then reads.
func plainXMLType(ct string) (charset string, ok bool) {
	const mt, param = "text/xml", "charset="
	if len(ct) < len(mt) || !strings.EqualFold(ct[:len(mt)], mt) {
		return "", false
	}
	rest := ct[len(mt):]
	if rest == "" {
		return "", true
	}
	if rest[0] != ';' {
		return "", false
	}
	rest = strings.TrimLeft(rest[1:], " ")
	if len(rest) <= len(param) || !strings.EqualFold(rest[:len(param)], param) {
		return "", false
	}
	v := rest[len(param):]
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", false
		}
	}
	return v, true
}

// checkCharset accepts UTF-8 (also when no charset is named, PR-MESS §2.6)
// and US-ASCII when the bytes are ASCII.
func checkCharset(cs string, data []byte, fail func(string, string, ...any) *Fault) *Fault {
	if cs == "" || equalFold(cs, "utf-8") || equalFold(cs, "utf8") || isASCIILabel(cs) && isASCII(data) {
		return nil
	}
	return fail(InvalidContentType, "charset %q is not supported; send UTF-8 (PR-MESS §2.6)", cs)
}

// Header field bits, for duplicate and presence checks.
const (
	fClient = 1 << iota
	fService
	fID
	fUserID
	fIssue
	fProtocolVersion
	fRequestHash
	fRepresentedParty
	fSecurityServer
)

type parser struct {
	m    *Message
	opts ParseOptions
	fail func(code, format string, a ...any) *Fault
	s    scanner
	buf  []byte
	// texts holds header values read before (sharedText), kept with the
	// pooled parser.
	texts map[string]string

	headerSeen, bodySeen bool
	fields               int
	bodyChildren         int
	lastEnd              int // end offset of the last element text read
}

func (p *parser) run(start int) error {
	data := p.m.Raw[start : start+len(p.m.SOAP)]
	if len(data) >= 2 && (data[0] == 0xFE && data[1] == 0xFF || data[0] == 0xFF && data[1] == 0xFE) {
		return p.fail(InvalidContentType, "message is UTF-16; only UTF-8 is supported (PR-MESS §2.6)")
	}
	if bytes.HasPrefix(data, utf8BOM) { // PR-MESS §2.6: a BOM MAY be present
		data, start = data[len(utf8BOM):], start+len(utf8BOM)
	}
	p.s.init(data, start, p.opts.MaxDepth, p.fail)
	t, err := p.s.next()
	if err != nil {
		return err
	}
	if t.kind != tStart { // next returns no text before the root element
		return p.fail(InvalidSoap, "malformed SOAP message: envelope missing")
	}
	if t.name.Local == "Envelope" && t.name.Space == NamespaceSOAP12 {
		return p.fail(InvalidSoap, "SOAP 1.2 envelope (namespace %s) not supported: X-Road messages are SOAP 1.1 (PR-MESS §2)", NamespaceSOAP12)
	}
	if t.name != (xml.Name{Space: NamespaceSOAPEnv, Local: "Envelope"}) {
		return p.fail(InvalidSoap, "malformed SOAP message: envelope missing (root element is <%s> in namespace %q)", t.name.Local, t.name.Space)
	}
	if err := p.envelope(); err != nil {
		return err
	}
	if t, err = p.s.next(); err != nil {
		return err
	}
	if t.kind != tEOF {
		return p.fail(InvalidSoap, "malformed XML: content after the envelope")
	}
	return p.validate()
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// child returns the next child element of the element being read, or done
// at its end tag. Text between the children must be whitespace; other text
// is refused with code, naming the parent (where).
func (p *parser) child(code, where string) (t *token, done bool, err error) {
	for {
		if t, err = p.s.next(); err != nil {
			return t, false, err
		}
		switch t.kind {
		case tEnd:
			return t, true, nil
		case tText:
			if !xmltok.IsSpace(t.text) {
				return t, false, p.fail(code, "malformed SOAP message: text directly inside %s", where)
			}
		default:
			return t, false, nil
		}
	}
}

// envelope reads soap:Envelope's children: Header (optional, first), then
// Body; SOAP 1.1 §4.1.1 lets further elements follow the Body.
func (p *parser) envelope() error {
	for {
		t, done, err := p.child(InvalidSoap, "the envelope")
		if err != nil || done {
			return err
		}
		isEnv := t.name.Space == NamespaceSOAPEnv
		switch {
		case isEnv && t.name.Local == "Header":
			if p.headerSeen || p.bodySeen {
				return p.fail(InvalidSoap, "malformed SOAP message: soap:Header must come once, before soap:Body")
			}
			p.headerSeen = true
			if err := p.header(); err != nil {
				return err
			}
		case isEnv && t.name.Local == "Body":
			if p.bodySeen {
				return p.fail(InvalidSoap, "malformed SOAP message: two soap:Body elements")
			}
			p.bodySeen = true
			if err := p.body(); err != nil {
				return err
			}
		case p.bodySeen:
			if _, err := p.s.skip(); err != nil {
				return err
			}
		default:
			return p.fail(InvalidSoap, "malformed SOAP message: unexpected element <%s> before soap:Body", t.name.Local)
		}
	}
}

// header reads the X-Road fields of soap:Header (PR-MESS §2.2). Other
// header elements, and unknown elements in the X-Road namespace (later minor
// versions, §2.2 last paragraph), are skipped untouched.
func (p *parser) header() error {
	h := &p.m.Header
	for {
		tp, done, err := p.child(InvalidSoap, "soap:Header")
		if err != nil || done {
			return err
		}
		t := *tp // kept while the field's content is read
		bit, field := 0, t.name.Local
		switch t.name.Space {
		case NamespaceXRoad:
			switch field {
			case "client":
				bit = fClient
			case "service":
				bit = fService
			case "id":
				bit = fID
			case "userId":
				bit = fUserID
			case "issue":
				bit = fIssue
			case "protocolVersion":
				bit = fProtocolVersion
			case "requestHash":
				bit = fRequestHash
			case "securityServer":
				bit = fSecurityServer
			}
		case NamespaceRepresentation:
			if field == "representedParty" {
				bit = fRepresentedParty
			}
		}
		if bit == 0 {
			if _, err := p.s.skip(); err != nil {
				return err
			}
			continue
		}
		if p.fields&bit != 0 {
			return p.fail(DuplicateHeaderField, "SOAP header contains duplicate field '%s'", field)
		}
		p.fields |= bit
		switch bit {
		case fClient:
			v, err := p.identifier(t, "client")
			if err != nil {
				return err
			}
			h.Client = identifier.Client{Instance: v[iInstance], MemberClass: v[iClass], MemberCode: v[iCode], SubsystemCode: v[iSubsystem]}
		case fService:
			v, err := p.identifier(t, "service")
			if err != nil {
				return err
			}
			h.Service = identifier.ServiceID{
				Provider:    identifier.Client{Instance: v[iInstance], MemberClass: v[iClass], MemberCode: v[iCode], SubsystemCode: v[iSubsystem]},
				ServiceCode: v[iServiceCode], ServiceVersion: v[iServiceVersion],
			}
		case fSecurityServer:
			v, err := p.identifier(t, "securityServer")
			if err != nil {
				return err
			}
			h.SecurityServer = &identifier.ServerID{
				Owner:      identifier.Client{Instance: v[iInstance], MemberClass: v[iClass], MemberCode: v[iCode]},
				ServerCode: v[iServerCode],
			}
		case fID:
			if h.ID, err = p.text(&t); err != nil {
				return err
			}
			p.m.idEnd = p.lastEnd
			p.m.idPrefix = t.prefix
			p.hashPrefixAt(t)
		case fUserID:
			h.UserID, err = p.sharedText(&t)
		case fIssue:
			h.Issue, err = p.text(&t)
		case fProtocolVersion:
			h.ProtocolVersion, err = p.sharedText(&t)
		case fRequestHash:
			rh := &RequestHash{}
			for _, a := range t.attr {
				if a.Name.Space == "" && a.Name.Local == "algorithmId" {
					rh.Algorithm = a.Value
				}
			}
			var s string
			if s, err = p.text(&t); err == nil {
				rh.Value, _ = base64.StdEncoding.DecodeString(stripSpace(s))
				h.RequestHash = rh
				p.m.hashStart, p.m.hashEnd = t.start, p.lastEnd
			}
		case fRepresentedParty:
			err = p.representedParty(t)
		}
		if err != nil {
			return err
		}
	}
}

// hashPrefixAt records how a requestHash element can be written as a
// sibling of the id element t: with a prefix bound to the X-Road namespace
// at the parent, or else with its own declaration.
func (p *parser) hashPrefixAt(t token) {
	if uri, ok := p.s.lookup(t.prefix, t.mark); ok && uri == NamespaceXRoad {
		p.m.hashPrefix, p.m.hashBound = t.prefix, true
		return
	}
	for i := t.mark - 1; i >= 0; i-- {
		b := p.s.ns[i]
		if b.uri != NamespaceXRoad || b.prefix == "" {
			continue
		}
		if uri, _ := p.s.lookup(b.prefix, t.mark); uri == NamespaceXRoad {
			p.m.hashPrefix, p.m.hashBound = b.prefix, true
			return
		}
	}
	p.m.hashPrefix, p.m.hashBound = t.prefix, false
}

// Identifier parts, in schema order (PR-MESS §2.1, Annex A).
const (
	iInstance = iota
	iClass
	iCode
	iSubsystem
	iGroupCode
	iServiceCode
	iServiceVersion
	iServerCode
	nParts
)

var partNames = [nParts]string{"xRoadInstance", "memberClass", "memberCode", "subsystemCode", "groupCode", "serviceCode", "serviceVersion", "serverCode"}

func partIndex(local string) int {
	for i, n := range partNames {
		if n == local {
			return i
		}
	}
	return -1
}

// identifier reads an identifier element (PR-MESS §2.1): the id:objectType
// attribute, then parts in the identifiers namespace, in schema order, each
// at most once, with the characters §2.7 allows (identifier.CheckPart).
func (p *parser) identifier(t token, field string) ([nParts]string, error) {
	var v [nParts]string
	objectType := ""
	found := false
	for _, a := range t.attr {
		if a.Name.Local == "objectType" && a.Name.Space != "" && a.Name.Space != "xmlns" && p.s.attrNS(a) == identifier.Namespace {
			objectType, found = a.Value, true
		}
	}
	if !found {
		return v, p.fail(InvalidXml, "header field '%s' lacks the objectType attribute (namespace %s)", field, identifier.Namespace)
	}
	var allowed []int
	switch field {
	case "client":
		if objectType != string(identifier.Member) && objectType != string(identifier.Subsystem) {
			return v, p.fail(InvalidXml, "header field 'client' has objectType %q; want MEMBER or SUBSYSTEM", objectType)
		}
		allowed = []int{iInstance, iClass, iCode, iSubsystem}
	case "service":
		if objectType != string(identifier.Service) {
			return v, p.fail(InvalidXml, "header field 'service' has objectType %q; want SERVICE", objectType)
		}
		allowed = []int{iInstance, iClass, iCode, iSubsystem, iServiceCode, iServiceVersion}
	case "securityServer":
		if objectType != string(identifier.Server) {
			return v, p.fail(InvalidXml, "header field 'securityServer' has objectType %q; want SERVER", objectType)
		}
		allowed = []int{iInstance, iClass, iCode, iServerCode}
	}
	var have [nParts]bool
	last := -1
	for {
		c, err := p.s.next()
		if err != nil {
			return v, err
		}
		if c.kind == tEnd {
			break
		}
		if c.kind == tText {
			if !xmltok.IsSpace(c.text) {
				return v, p.fail(InvalidXml, "header field '%s' has text outside its parts", field)
			}
			continue
		}
		i := partIndex(c.name.Local)
		if c.name.Space != identifier.Namespace || i < 0 {
			return v, p.fail(InvalidXml, "header field '%s' has unknown child <%s> (namespace %q)", field, c.name.Local, c.name.Space)
		}
		if have[i] {
			return v, p.fail(DuplicateHeaderField, "header field '%s' repeats <%s>", field, c.name.Local)
		}
		if !containsInt(allowed, i) {
			return v, p.fail(InvalidXml, "header field '%s' (objectType %s) must not have <%s>", field, objectType, c.name.Local)
		}
		if i < last {
			return v, p.fail(InvalidXml, "header field '%s': <%s> is out of schema order", field, c.name.Local)
		}
		last, have[i] = i, true
		s, err := p.sharedText(c)
		if err != nil {
			return v, err
		}
		v[i] = s // not trimmed: X-Road keeps " DIN " as it is, and §2.7 refuses it
	}
	// Required parts and their characters.
	required := allowed[:3]
	switch field {
	case "service":
		required = []int{iInstance, iClass, iCode, iServiceCode}
	case "securityServer":
		required = allowed
	case "client":
		if (objectType == string(identifier.Subsystem)) != have[iSubsystem] {
			if have[iSubsystem] {
				return v, p.fail(InvalidClientIdentifier, "header field 'client' has objectType MEMBER but a subsystemCode (redundant subsystem code)")
			}
			return v, p.fail(InvalidClientIdentifier, "header field 'client' has objectType SUBSYSTEM but no subsystemCode (missing required subsystem code)")
		}
	}
	for _, i := range allowed {
		if !have[i] && !containsInt(required, i) {
			continue
		}
		if err := identifier.CheckPart(partNames[i], v[i]); err != nil {
			return v, p.fail(InvalidClientIdentifier, "header field '%s': %w", field, err)
		}
	}
	return v, nil
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// representedParty reads repr:representedParty: partyClass (optional),
// then partyCode (mandatory), PR-THIRDPARTY §2.2.
func (p *parser) representedParty(t token) error {
	rp := &RepresentedParty{}
	haveClass, haveCode := false, false
	for {
		c, err := p.s.next()
		if err != nil {
			return err
		}
		if c.kind == tEnd {
			break
		}
		if c.kind == tText {
			if !xmltok.IsSpace(c.text) {
				return p.fail(InvalidXml, "header field 'representedParty' has text outside its parts")
			}
			continue
		}
		if c.name.Space != NamespaceRepresentation || c.name.Local != "partyClass" && c.name.Local != "partyCode" {
			return p.fail(InvalidXml, "header field 'representedParty' has unknown child <%s> (namespace %q)", c.name.Local, c.name.Space)
		}
		if c.name.Local == "partyClass" {
			if haveClass || haveCode {
				return p.fail(InvalidXml, "header field 'representedParty': partyClass must come once, before partyCode")
			}
			haveClass = true
			if rp.Class, err = p.sharedText(c); err != nil {
				return err
			}
			continue
		}
		if haveCode {
			return p.fail(DuplicateHeaderField, "header field 'representedParty' repeats <partyCode>")
		}
		haveCode = true
		if rp.Code, err = p.sharedText(c); err != nil {
			return err
		}
	}
	if !haveCode {
		return p.fail(MissingHeaderField, "header field 'representedParty' lacks its partyCode")
	}
	p.m.Header.RepresentedParty = rp
	return nil
}

// text reads the text content of the element t just started; child
// elements are refused. It sets p.lastEnd to the end offset of the end tag.
func (p *parser) text(t *token) (string, error) {
	b, err := p.textBytes(t)
	return string(b), err
}

// Bounds of a parser's texts.
const (
	maxTexts   = 256
	maxTextLen = 128
)

// sharedText is text for a header value that repeats from message to
// message (identifier parts, protocol version, user): the string read
// before when there is one, so that a pooled parser allocates it once.
func (p *parser) sharedText(t *token) (string, error) {
	b, err := p.textBytes(t)
	if err != nil || len(b) > maxTextLen {
		return string(b), err
	}
	if s, ok := p.texts[string(b)]; ok {
		return s, nil
	}
	if p.texts == nil || len(p.texts) >= maxTexts {
		p.texts = make(map[string]string, 32) // full: start again, bounded whatever the input
	}
	s := string(b)
	p.texts[s] = s
	return s, nil
}

// textBytes is text in p.buf, valid until the next text.
func (p *parser) textBytes(t *token) ([]byte, error) {
	local := t.name.Local // t may be the scanner's token, which next overwrites
	p.buf = p.buf[:0]
	for {
		c, err := p.s.next()
		if err != nil {
			return nil, err
		}
		switch c.kind {
		case tText:
			p.buf = append(p.buf, c.text...)
		case tStart:
			return nil, p.fail(InvalidXml, "<%s> must contain text only, not <%s>", local, c.name.Local)
		case tEnd:
			p.lastEnd = c.end
			return p.buf, nil
		}
	}
}

// body reads soap:Body: exactly one child element, the document/literal
// wrapper or a soap:Fault (PR-MESS §2.3, §2.5).
func (p *parser) body() error {
	for {
		t, done, err := p.child(InvalidBody, "soap:Body")
		if err != nil || done {
			return err
		}
		p.bodyChildren++
		if p.bodyChildren > 1 {
			return p.fail(InvalidBody, "malformed SOAP message: body must have exactly one child element")
		}
		p.m.Body = t.name
		if t.name == (xml.Name{Space: NamespaceSOAPEnv, Local: "Fault"}) {
			p.m.IsFault = true
			if err := p.fault(); err != nil {
				return err
			}
			continue
		}
		if _, err := p.s.skip(); err != nil {
			return err
		}
	}
}

// fault reads soap:Fault's faultcode, faultstring, faultactor and
// detail/faultDetail, matched by local name like X-Road does; anything else
// is skipped.
func (p *parser) fault() error {
	f := &Fault{}
	p.m.Fault = f
	for {
		t, err := p.s.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tEnd:
			return nil
		case tText:
			continue
		}
		switch t.name.Local {
		case "faultcode":
			var s string
			s, err = p.looseText()
			f.Code = strings.TrimSpace(s)
		case "faultstring":
			f.String, err = p.looseText()
		case "faultactor":
			f.Actor, err = p.looseText()
		case "detail":
			err = p.faultDetail(f)
		default:
			_, err = p.s.skip()
		}
		if err != nil {
			return err
		}
	}
}

func (p *parser) faultDetail(f *Fault) error {
	var direct []byte
	found := false
	for {
		t, err := p.s.next()
		if err != nil {
			return err
		}
		switch t.kind {
		case tEnd:
			if !found {
				f.Detail = strings.TrimSpace(string(direct))
			}
			return nil
		case tText:
			direct = append(direct, t.text...)
		case tStart:
			if t.name.Local == "faultDetail" && !found {
				s, err := p.looseText()
				if err != nil {
					return err
				}
				f.Detail, found = strings.TrimSpace(s), true
				continue
			}
			if _, err := p.s.skip(); err != nil {
				return err
			}
		}
	}
}

// looseText is the direct text of the element just started; child
// elements are skipped (faults come from any service).
func (p *parser) looseText() (string, error) {
	p.buf = p.buf[:0]
	for {
		c, err := p.s.next()
		if err != nil {
			return "", err
		}
		switch c.kind {
		case tText:
			p.buf = append(p.buf, c.text...)
		case tStart:
			if _, err := p.s.skip(); err != nil {
				return "", err
			}
		case tEnd:
			return string(p.buf), nil
		}
	}
}

// validate applies the checks that need the whole envelope, in the order
// X-Road's SaxSoapParserImpl does: header, then body.
func (p *parser) validate() error {
	if p.m.IsFault {
		if p.opts.Request {
			return p.requestFault()
		}
		return nil
	}
	h := &p.m.Header
	if !p.headerSeen {
		return p.fail(MissingHeader, "malformed SOAP message: header missing")
	}
	for _, f := range []struct {
		bit  int
		name string
	}{{fProtocolVersion, "protocolVersion"}, {fClient, "client"}, {fID, "id"}} {
		if p.fields&f.bit == 0 {
			return p.fail(MissingHeaderField, "required field '%s' is missing", f.name)
		}
	}
	if p.opts.Request && p.fields&fService == 0 {
		return p.fail(MissingHeaderField, "required field 'service' is missing: a request must name the service (PR-MESS §2.2)")
	}
	if strings.Trim(h.ID, " \t\r\n") == "" {
		return p.fail(MissingHeaderField, "required field 'id' is empty")
	}
	// PR-MESS §2.2 says "MUST be 4.0"; X-Road accepts any 4.x (ProtocolVersion.java).
	if !strings.HasPrefix(h.ProtocolVersion, "4.") {
		return p.fail(InvalidProtocolVersion, "invalid protocol version (supported: 4.x, provided: %q)", h.ProtocolVersion)
	}
	if !p.bodySeen {
		return p.fail(MissingBody, "malformed SOAP message: body missing")
	}
	if p.bodyChildren == 0 {
		return p.fail(InvalidBody, "malformed SOAP message: body must have exactly one child element")
	}
	if h.HasService() {
		code, wrapper := h.Service.ServiceCode, p.m.Body.Local
		// PR-MESS §2.3 names the request wrapper like serviceCode and the
		// response wrapper serviceCode + "Response"; X-Road checks only
		// that the name starts with the code, in requests and responses
		// alike (SoapUtils.validateServiceName), which also admits
		// "getPersonByFinRequest", a common WSDL style.
		if !strings.HasPrefix(wrapper, code) {
			return p.fail(InconsistentHeaders, "malformed SOAP message: body element <%s> does not start with the service code %q (PR-MESS §2.3)", wrapper, code)
		}
	}
	return nil
}

// requestFault is the error for a request whose body is a SOAP Fault: X-Road's
// client proxy turns the fault into its own error (ClientMessageProcessor's
// SoapMessageHandler.fault) and prefixes its code with "Client" unless the
// code already starts with it (ClientException, CodedException.withPrefix).
// The fault string says what happened; faultDetail is a new UUID, Şlüz's
// log correlation id, not the client's. A fault without a faultcode is not
// SOAP 1.1 (§4.4): InvalidSoap.
func (p *parser) requestFault() error {
	f := p.m.Fault
	if f.Code == "" {
		return p.fail(InvalidSoap, "malformed SOAP message: the request's body is a SOAP Fault without a faultcode; send the service's request element instead")
	}
	code := f.Code
	if !strings.HasPrefix(code, p.opts.FaultPrefix) {
		code = p.opts.FaultPrefix + "." + code
	}
	return Faultf(code, "the request's body is a SOAP Fault (faultcode %q, faultstring %q), not a service request (PR-MESS §2.3); send the service's request element instead", f.Code, f.String)
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}
