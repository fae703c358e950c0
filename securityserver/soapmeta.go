package securityserver

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strings"

	"github.com/beevik/etree"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/transport"
)

// X-Road's SOAP meta services (PR-META §4, §5): listMethods,
// allowedMethods and getWsdl of a provider subsystem, answered by its
// security server itself, signed and logged like any exchange
// (answerHere).

// metaGetWsdl is PR-META's getWsdl.
const metaGetWsdl = "getWsdl"

// isSOAPMeta reports whether a SOAP request is for a meta service this
// server answers: listMethods, allowedMethods or getWsdl of a provider that
// has no configured service of that code.
func (s *Server) isSOAPMeta(h *message.Header) bool {
	code := h.Service.ServiceCode
	if code != metaListMethods && code != metaAllowedMethods && code != metaGetWsdl {
		return false
	}
	_, configured := s.cfg.ServiceFor(h.Service)
	return !configured
}

// serveSOAPMeta answers listMethods or allowedMethods: the provider's SOAP
// services (those of its configured services the global configuration
// registers, with their versions; REST services are listed by the REST
// meta services), for allowedMethods only those the client holds a right
// to.
func (s *Server) serveSOAPMeta(r *http.Request, snap *globalconf.Snapshot, req *message.Message, tm *transport.Message, t *trace) (*answer, *message.Fault) {
	h := &req.Header
	if h.Service.ServiceCode == metaGetWsdl {
		return s.answerHere(r, req, tm, t, func() ([]byte, []message.Attachment, *message.Fault) { return s.getWsdl(r, req, t) })
	}
	return s.answerHere(r, req, tm, t, func() ([]byte, []message.Attachment, *message.Fault) {
		provider := h.Service.Provider
		var list []identifier.ServiceID
		for _, svc := range s.cfg.Services {
			if svc.ID.Provider != provider || svc.IsREST() {
				continue
			}
			ids := []identifier.ServiceID{svc.ID}
			if svc.ID.ServiceVersion == "" { // every version: those registered
				var registered []identifier.ServiceID
				for _, g := range snap.ServicesOf(provider) {
					if g.ID.WithoutVersion() == svc.ID {
						registered = append(registered, g.ID)
					}
				}
				if registered != nil {
					ids = registered
				}
			}
			for _, id := range ids {
				if h.Service.ServiceCode == metaAllowedMethods {
					ok, err := s.acl.Allowed(id, h.Client, snap.InGroup)
					if err != nil {
						return nil, nil, t.internal(serverSide.fault(message.InternalError, "the access rights cannot be read"), err)
					}
					if !ok {
						continue
					}
				}
				if !slices.Contains(list, id) {
					list = append(list, id)
				}
			}
		}
		body, err := opmon.Envelope(req, "", func(b *bytes.Buffer) error {
			b.WriteString("<xrd:" + h.Service.ServiceCode + "Response>\n")
			for _, id := range list {
				opmon.WriteService(b, "xrd:service", id)
			}
			b.WriteString("</xrd:" + h.Service.ServiceCode + "Response>\n")
			return nil
		})
		if err != nil {
			return nil, nil, t.internal(serverSide.fault(message.InternalError, "the answer could not be written"), err)
		}
		return body, nil, nil
	})
}

// wsdlEndpoint replaces every soap:address location in a WSDL getWsdl
// returns, as X-Road does (PR-META §5): the provider's own address stays
// private.
const wsdlEndpoint = "http://example.org/xroad-endpoint"

var soapAddress = regexp.MustCompile(`(<[A-Za-z_][\w.-]*:address\b[^>]*?\blocation\s*=\s*)("[^"]*"|'[^']*')`)

// getWsdl answers getWsdl: the WSDL of the service the request body names
// (serviceCode, serviceVersion), fetched from the provider IS at its URL
// with ?wsdl, with its soap:address locations rewritten, as an attachment
// of a getWsdlResponse echoing the two.
func (s *Server) getWsdl(r *http.Request, req *message.Message, t *trace) ([]byte, []message.Attachment, *message.Fault) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(req.SOAP); err != nil {
		return nil, nil, message.Faultf(message.Code(message.ClientPrefix, message.InvalidBody), "getWsdl: %v", err)
	}
	text := func(name string) string {
		if e := doc.FindElement("//Body/getWsdl/" + name); e != nil {
			return strings.TrimSpace(e.Text())
		}
		return ""
	}
	id := req.Header.Service
	id.ServiceCode, id.ServiceVersion = text("serviceCode"), text("serviceVersion")
	if id.ServiceCode == "" {
		return nil, nil, message.Faultf(message.Code(message.ClientPrefix, message.InvalidBody), "getWsdl needs <xrd:serviceCode> (and optionally <xrd:serviceVersion>) in its body")
	}
	svc, ok := s.cfg.ServiceFor(id)
	if !ok || svc.IsREST() {
		return nil, nil, serverSide.fault(message.UnknownService, "service %s is not a SOAP service this security server provides", id)
	}
	ctx, cancel := context.WithTimeout(r.Context(), svc.Timeout.D())
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, svc.URL+"?wsdl", nil)
	if err != nil {
		return nil, nil, t.internal(serverSide.fault(message.InternalError, "the provider information system's address is not usable"), err)
	}
	resp, wsdl, f := s.askProvider(ctx, s.provider, hreq, svc.Timeout.D(), t)
	if f != nil {
		return nil, nil, f
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, serverSide.fault(message.ServiceFailed, "the provider information system answered HTTP %d for the WSDL of %s", resp.StatusCode, id)
	}
	wsdl = soapAddress.ReplaceAll(wsdl, []byte(`${1}"`+wsdlEndpoint+`"`))
	body, err := opmon.Envelope(req, "", func(b *bytes.Buffer) error {
		b.WriteString("<xrd:getWsdlResponse><xrd:serviceCode>")
		xml.EscapeText(b, []byte(id.ServiceCode))
		b.WriteString("</xrd:serviceCode>")
		if id.ServiceVersion != "" {
			b.WriteString("<xrd:serviceVersion>")
			xml.EscapeText(b, []byte(id.ServiceVersion))
			b.WriteString("</xrd:serviceVersion>")
		}
		b.WriteString("</xrd:getWsdlResponse>\n")
		return nil
	})
	if err != nil {
		return nil, nil, t.internal(serverSide.fault(message.InternalError, "the answer could not be written"), err)
	}
	att := message.Attachment{Header: textproto.MIMEHeader{"Content-Type": {"text/xml; charset=UTF-8"}, "Content-Id": {"<wsdl>"}}, Body: wsdl}
	return body, []message.Attachment{att}, nil
}
