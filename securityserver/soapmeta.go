package securityserver

import (
	"bytes"
	"net/http"
	"slices"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/opmon"
	"github.com/sluz/sluz/securityserver/transport"
)

// X-Road's SOAP meta services (PR-META §4): listMethods and allowedMethods
// of a provider subsystem, answered by its security server itself, signed
// and logged like any exchange (answerHere). getWsdl is not offered yet.

// isSOAPMeta reports whether a SOAP request is for a meta service this
// server answers: listMethods or allowedMethods (the service code, with no
// version) of a provider that has no configured service of that code.
func (s *Server) isSOAPMeta(h *message.Header) bool {
	code := h.Service.ServiceCode
	if code != metaListMethods && code != metaAllowedMethods {
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
	return s.answerHere(r, req, tm, t, func() ([]byte, *message.Fault) {
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
						return nil, t.internal(serverSide.fault(message.InternalError, "the access rights cannot be read"), err)
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
			return nil, t.internal(serverSide.fault(message.InternalError, "the answer could not be written"), err)
		}
		return body, nil
	})
}
