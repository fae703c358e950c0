package message

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Fault code prefixes (PR-MESS §2.5 and Annex D; X-Road ≤ 7.7
// src/common/common-core/src/main/java/ee/ria/xroad/common/ErrorCodes.java).
// A fault code is a prefix, optionally [ServiceFailed], then a code, joined
// with dots: "Server.ClientProxy.NetworkError",
// "Server.ClientProxy.ServiceFailed.InconsistentResponse", "Client.InvalidSoap".
const (
	ClientPrefix = "Client"             // bad input from the client information system
	ClientProxy  = "Server.ClientProxy" // failure at the consumer's (client's) security server
	ServerProxy  = "Server.ServerProxy" // failure at the provider's security server
	SignerPrefix = "Signer"             // failure in the signer
	// ServiceFailed goes between a prefix and a code when the other side
	// (the peer server or the service) is at fault.
	ServiceFailed = "ServiceFailed"
)

// Fault codes in the ≤ 7.7 CamelCase form Şlüz sends; the names are those of
// X-Road 7.7's ErrorCodes.java (path above). X-Road ≥ 7.8 sends the same
// codes in lower snake_case (see [NormalizeCode]).
const (
	// Message format (client input).
	InvalidSoap             = "InvalidSoap"             // not XML, DTD, not a SOAP 1.1 envelope
	InvalidXml              = "InvalidXml"              // X-Road header structure: objectType, unknown or misplaced elements
	MissingHeader           = "MissingHeader"           // no soap:Header
	MissingHeaderField      = "MissingHeaderField"      // client, id, protocolVersion, or service (requests)
	DuplicateHeaderField    = "DuplicateHeaderField"    // an X-Road header field (or identifier part) twice
	MissingBody             = "MissingBody"             // no soap:Body
	InvalidBody             = "InvalidBody"             // body without exactly one child element
	InconsistentHeaders     = "InconsistentHeaders"     // body wrapper does not match the service code
	InvalidProtocolVersion  = "InvalidProtocolVersion"  // protocolVersion not 4.x
	InvalidClientIdentifier = "InvalidClientIdentifier" // identifier parts missing or with forbidden characters
	InvalidContentType      = "InvalidContentType"      // not text/xml (or multipart/related), or a charset other than UTF-8
	InvalidHttpMethod       = "InvalidHttpMethod"       // not POST
	InvalidSoapAction       = "InvalidSoapAction"       // SOAPAction header neither empty, "" nor a quoted URI
	InvalidMessage          = "InvalidMessage"          // message larger than the size limit
	MimeParsingFailed       = "MimeParsingFailed"       // malformed multipart/related body
	MissingSoap             = "MissingSoap"             // multipart without a SOAP part

	// Exchange.
	InconsistentResponse           = "InconsistentResponse"
	InternalError                  = "InternalError"
	NetworkError                   = "NetworkError"
	IOError                        = "IOError"
	SslAuthenticationFailed        = "SslAuthenticationFailed"
	InvalidSignatureValue          = "InvalidSignatureValue"
	MalformedSignature             = "MalformedSignature"
	MissingSignature               = "MissingSignature"
	InvalidHashChain               = "InvalidHashChain"
	AccessDenied                   = "AccessDenied"
	UnknownService                 = "UnknownService"
	UnknownMember                  = "UnknownMember"
	ServiceDisabled                = "ServiceDisabled"
	ServiceMissingUrl              = "ServiceMissingUrl"
	OutdatedGlobalConf             = "OutdatedGlobalConf"
	MaintenanceMode                = "MaintenanceMode"
	ClientProxyVersionNotSupported = "ClientProxyVersionNotSupported"
	InvalidSecurityServer          = "InvalidSecurityServer"
	CannotCreateSignature          = "CannotCreateSignature"
	CertValidation                 = "CertValidation"
	IncorrectCertificate           = "IncorrectCertificate"
	TimestampingFailed             = "TimestampingFailed"
	LoggingFailed                  = "LoggingFailed"
)

// Code joins a prefix and codes with dots: Code(ClientProxy, ServiceFailed,
// InconsistentResponse) is "Server.ClientProxy.ServiceFailed.InconsistentResponse".
func Code(parts ...string) string { return strings.Join(parts, ".") }

// Fault is a SOAP 1.1 fault as X-Road sends it (PR-MESS §2.5, Annex D.1).
// It is also the error type of this package.
type Fault struct {
	Code   string // e.g. "Client.MissingHeaderField"
	String string // human-readable message
	Actor  string // normally empty
	Detail string // faultDetail: a random UUID for log correlation

	cause error // what %w gave Faultf, for errors.Is and errors.As; never sent
}

// Error is "CODE: STRING".
func (f *Fault) Error() string { return f.Code + ": " + f.String }

// Unwrap returns the error the fault reports (a %w argument of Faultf), or
// nil.
func (f *Fault) Unwrap() error { return f.cause }

// Faultf returns a fault with the given code, a formatted message and a new
// random UUID (version 4) as its detail. A %w verb formats its error as %v
// does, and the fault wraps it.
func Faultf(code, format string, a ...any) *Fault {
	err := fmt.Errorf(format, a...)
	f := &Fault{Code: code, String: err.Error(), Detail: NewUUID()}
	switch err.(type) {
	case interface{ Unwrap() error }, interface{ Unwrap() []error }: // a %w
		f.cause = err
	}
	return f
}

// WithPrefix returns a copy of f whose code is prefix + "." + f.Code (X-Road's
// CodedException.withPrefix).
func (f *Fault) WithPrefix(prefix string) *Fault {
	g := *f
	g.Code = prefix + "." + f.Code
	return &g
}

// NewUUID returns a random (version 4) UUID in its canonical text form.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// Marshal returns the fault as a SOAP 1.1 envelope, UTF-8, in the compact
// form X-Road's security server writes (PR-MESS Annex D.1):
//
//	<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
//	<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>CODE</faultcode><faultstring>MESSAGE</faultstring>
//	<faultactor></faultactor><detail><faultDetail xmlns="">UUID</faultDetail></detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>
//
// (one line; wrapped here). detail is left out when Detail is empty. Text is
// XML-escaped; characters XML cannot carry become U+FFFD.
func (f *Fault) Marshal() []byte {
	var b bytes.Buffer
	b.Grow(330 + len(f.Code) + len(f.String) + len(f.Actor) + len(f.Detail))
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="` + NamespaceSOAPEnv + `"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>`)
	escape(&b, f.Code)
	b.WriteString(`</faultcode><faultstring>`)
	escape(&b, f.String)
	b.WriteString(`</faultstring><faultactor>`)
	escape(&b, f.Actor)
	b.WriteString(`</faultactor>`)
	if f.Detail != "" {
		b.WriteString(`<detail><faultDetail xmlns="">`)
		escape(&b, f.Detail)
		b.WriteString(`</faultDetail></detail>`)
	}
	b.WriteString(`</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`)
	return b.Bytes()
}

func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a bytes.Buffer never fails
}

// ContentTypeXML is the Content-Type of faults and of the SOAP messages Şlüz
// writes itself.
const ContentTypeXML = "text/xml; charset=UTF-8"

// WriteHTTP sends the fault as X-Road does (HandlerBase.sendErrorResponse in
// src/common/common-jetty): HTTP 200, Content-Type text/xml; charset=UTF-8,
// an empty SOAPAction header, and the Marshal bytes.
func (f *Fault) WriteHTTP(w http.ResponseWriter) {
	body := f.Marshal()
	h := w.Header()
	h.Set("Content-Type", ContentTypeXML)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h["SOAPAction"] = []string{""}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// ParseFault reports whether raw is a SOAP 1.1 envelope whose body is a
// Fault, and returns the fault. X-Road headers beside the fault are allowed
// (PR-MESS §2.5). Detail is the text of detail/faultDetail, or else the text
// directly inside detail.
func ParseFault(raw []byte) (*Fault, bool) {
	m, err := Parse(raw, "", ParseOptions{})
	if err != nil || !m.IsFault {
		return nil, false
	}
	return m.Fault, true
}

// HasCode reports whether err is (or wraps) a *Fault whose code equals code,
// comparing the ≤ 7.7 and ≥ 7.8 spellings alike (see NormalizeCode).
func HasCode(err error, code string) bool {
	var f *Fault
	return errors.As(err, &f) && NormalizeCode(f.Code) == NormalizeCode(code)
}

// snakeExceptions maps the ≥ 7.8 snake_case segments whose CamelCase form
// is not simply the capitalised words (compare ErrorCodes.java of 7.7.1 and
// of 7.8.0).
var snakeExceptions = map[string]string{
	"clientproxy":             "ClientProxy",
	"serverproxy":             "ServerProxy",
	"opmonitor":               "OpMonitor",
	"io_error":                "IOError",
	"global_conf_outdated":    "OutdatedGlobalConf",
	"hsm_non_operational":     "HSMNonOperational",
	"token_readonly":          "TokenReadOnly",
	"hashchain_unused_inputs": "HashChainUnusedInputs",
}

// NormalizeCode turns a fault code into the ≤ 7.7 CamelCase form, so codes
// from X-Road ≥ 7.8 peers ("server.clientproxy.ssl_authentication_failed")
// compare equal to Şlüz's ("Server.ClientProxy.SslAuthenticationFailed").
// Each dot-separated segment written in lower case, digits and underscores
// only is converted; other segments (already CamelCase, or foreign codes
// such as "SOAP-ENV:Server") are kept.
func NormalizeCode(code string) string {
	if !needsNormalizing(code) {
		return code
	}
	segs := strings.Split(code, ".")
	for i, s := range segs {
		if s == "" || !isSnake(s) {
			continue
		}
		if v, ok := snakeExceptions[s]; ok {
			segs[i] = v
			continue
		}
		var b strings.Builder
		for _, w := range strings.Split(s, "_") {
			if w == "" {
				continue
			}
			b.WriteString(strings.ToUpper(w[:1]))
			b.WriteString(w[1:])
		}
		segs[i] = b.String()
	}
	return strings.Join(segs, ".")
}

func needsNormalizing(code string) bool {
	start := 0
	for i := 0; i <= len(code); i++ {
		if i == len(code) || code[i] == '.' {
			if i > start && isSnake(code[start:i]) {
				return true
			}
			start = i + 1
		}
	}
	return false
}

// isSnake reports whether s has only a-z, 0-9 and '_' and starts with a letter.
func isSnake(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
