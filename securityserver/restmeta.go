package securityserver

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/rest"
	"github.com/sluz/sluz/securityserver/spool"
)

// X-Road's meta services for REST (PR-MREST): listMethods, allowedMethods
// and getOpenAPI are REST services of every provider subsystem that the
// provider's security server answers itself, signed and logged like any
// exchange; listClients (PR-META §3) is answered by the client proxy from
// the global configuration.

// The meta service codes (PR-MREST §4, §5).
const (
	metaListMethods    = "listMethods"
	metaAllowedMethods = "allowedMethods"
	metaGetOpenAPI     = "getOpenAPI"
)

// isRESTMeta reports whether a REST request is for a meta service.
func isRESTMeta(code string) bool {
	return code == metaListMethods || code == metaAllowedMethods || code == metaGetOpenAPI
}

// restServiceJSON is one service of a listMethods or allowedMethods answer,
// in the field order of PR-MREST Annex B.1.
type restServiceJSON struct {
	MemberClass   string         `json:"member_class"`
	MemberCode    string         `json:"member_code"`
	ObjectType    string         `json:"object_type"`
	ServiceCode   string         `json:"service_code"`
	ServiceType   string         `json:"service_type"`
	SubsystemCode string         `json:"subsystem_code"`
	XRoadInstance string         `json:"xroad_instance"`
	EndpointList  []endpointJSON `json:"endpoint_list"`
}

type endpointJSON struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

// endpointLister is the access rights as allowedMethods reads them.
type endpointLister interface {
	Rights(service identifier.ServiceID, client identifier.Client, inGroup acl.GroupMembership) (whole bool, endpoints []rest.Endpoint, err error)
}

// answerRESTMeta answers a meta-service request for req.Service.Provider.
func (s *Server) answerRESTMeta(req *rest.Request, snap *globalconf.Snapshot, t *trace) (*providerAnswer, *message.Fault) {
	provider := req.Service.Provider
	if req.Service.ServiceCode == metaGetOpenAPI {
		return s.getOpenAPI(req, t)
	}
	if req.Method != http.MethodGet {
		return nil, serverSide.fault("InvalidRequest", "%s is called with GET, not %s", req.Service.ServiceCode, req.Method)
	}
	var list []restServiceJSON
	for _, svc := range s.cfg.Services {
		if svc.ID.Provider != provider || !svc.IsREST() {
			continue
		}
		all, err := serviceEndpoints(svc)
		if err != nil {
			return nil, t.internal(serverSide.fault(message.InternalError, "the OpenAPI description of %s cannot be read", svc.ID), err)
		}
		if req.Service.ServiceCode == metaAllowedMethods {
			all, err = s.allowedEndpoints(svc.ID, req.Client, snap, all)
			if err != nil {
				return nil, t.internal(serverSide.fault(message.InternalError, "the access rights cannot be read"), err)
			}
			if all == nil {
				continue
			}
		}
		typ := "REST"
		if svc.Type == config.ServiceOpenAPI {
			typ = "OPENAPI"
		}
		list = append(list, restServiceJSON{MemberClass: provider.MemberClass, MemberCode: provider.MemberCode, ObjectType: "SERVICE",
			ServiceCode: svc.ID.ServiceCode, ServiceType: typ, SubsystemCode: provider.SubsystemCode, XRoadInstance: provider.Instance, EndpointList: all})
	}
	if list == nil {
		list = []restServiceJSON{}
	}
	body, err := json.Marshal(map[string][]restServiceJSON{"service": list})
	if err != nil {
		return nil, t.internal(serverSide.fault(message.InternalError, "the answer could not be encoded"), err)
	}
	return metaAnswer("application/json;charset=utf-8", body), nil
}

func metaAnswer(contentType string, body []byte) *providerAnswer {
	return &providerAnswer{status: http.StatusOK, reason: "OK", fields: []rest.Field{{Name: "Content-Type", Value: contentType}}, body: restBody(spool.Bytes(body))}
}

// allowedEndpoints narrows a service's endpoints to those client may call:
// all of them with a right on the whole service, the granted ones with
// endpoint rights, nil with none.
func (s *Server) allowedEndpoints(id identifier.ServiceID, client identifier.Client, snap *globalconf.Snapshot, all []endpointJSON) ([]endpointJSON, error) {
	el, ok := s.acl.(endpointLister)
	if !ok {
		allowed, err := s.acl.Allowed(id, client, snap.InGroup)
		if err != nil || !allowed {
			return nil, err
		}
		return all, nil
	}
	whole, eps, err := el.Rights(id, client, snap.InGroup)
	if err != nil || whole {
		return all, err
	}
	var out []endpointJSON
	for _, e := range eps {
		out = append(out, endpointJSON{e.Method, e.Path})
	}
	return out, nil
}

// serviceEndpoints are a REST service's endpoints: those of its OpenAPI
// description, in its order, with each {parameter} segment as '*' (as
// X-Road lists them); for a service without one, any method and path.
func serviceEndpoints(svc config.Service) ([]endpointJSON, error) {
	if svc.Type != config.ServiceOpenAPI {
		return []endpointJSON{{"*", "**"}}, nil
	}
	data, err := os.ReadFile(svc.OpenAPI)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var out []endpointJSON
	paths := mapValue(&doc, "paths")
	if paths == nil {
		return out, nil
	}
	for i := 0; i+1 < len(paths.Content); i += 2 {
		path := paths.Content[i].Value
		segs := strings.Split(path, "/")
		for j, seg := range segs {
			if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
				segs[j] = "*"
			}
		}
		ops := paths.Content[i+1]
		for k := 0; k+1 < len(ops.Content); k += 2 {
			if m := strings.ToUpper(ops.Content[k].Value); slices.Contains(rest.Methods, m) {
				out = append(out, endpointJSON{m, strings.Join(segs, "/")})
			}
		}
	}
	return out, nil
}

// mapValue is the value of key in a YAML document's top mapping, or nil.
func mapValue(doc *yaml.Node, key string) *yaml.Node {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.MappingNode {
			return n.Content[i+1]
		}
	}
	return nil
}

// getOpenAPI answers the OpenAPI description of the service named by the
// query's serviceCode (PR-MREST §5).
func (s *Server) getOpenAPI(req *rest.Request, t *trace) (*providerAnswer, *message.Fault) {
	q, err := url.ParseQuery(req.Query)
	code := q.Get("serviceCode")
	if err != nil || code == "" {
		return nil, serverSide.fault("InvalidRequest", "getOpenAPI needs the query parameter serviceCode: ?serviceCode=CODE")
	}
	id := req.Service
	id.ServiceCode = code
	svc, ok := s.cfg.ServiceFor(id)
	if !ok || !svc.IsREST() {
		return nil, serverSide.fault(message.UnknownService, "service %s is not a REST service this security server provides", id)
	}
	if svc.Type != config.ServiceOpenAPI {
		return nil, serverSide.fault(message.UnknownService, "service %s has no OpenAPI description", id)
	}
	data, err := os.ReadFile(svc.OpenAPI)
	if err != nil {
		return nil, t.internal(serverSide.fault(message.InternalError, "the OpenAPI description of %s cannot be read", id), err)
	}
	ct := "text/yaml;charset=utf-8"
	if strings.EqualFold(filepath.Ext(svc.OpenAPI), ".json") {
		ct = "application/json;charset=utf-8"
	}
	return metaAnswer(ct, data), nil
}

// serveListClients answers GET /listClients[?xRoadInstance=AZ] (PR-META
// §3): the members and subsystems of the global configuration, as JSON
// when Accept asks for application/json, else as xrd:clientList XML.
func (s *Server) serveListClients(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot()
	if err != nil {
		clientSide.fault(message.OutdatedGlobalConf, "this security server has no valid global configuration").WriteHTTP(w)
		return
	}
	instance := r.URL.Query().Get("xRoadInstance")
	type idJSON struct {
		MemberClass   string `json:"member_class"`
		MemberCode    string `json:"member_code"`
		ObjectType    string `json:"object_type"`
		SubsystemCode string `json:"subsystem_code,omitempty"`
		XRoadInstance string `json:"xroad_instance"`
	}
	type memberJSON struct {
		ID            idJSON `json:"id"`
		Name          string `json:"name"`
		SubsystemName string `json:"subsystem_name,omitempty"`
	}
	var members []memberJSON
	if instance == "" || instance == snap.Instance {
		for _, m := range snap.Members {
			ids := append([]identifier.Client{m.ID}, snap.Subsystems(m.ID)...)
			for _, c := range ids {
				members = append(members, memberJSON{ID: idJSON{c.MemberClass, c.MemberCode, string(c.ObjectType()), c.SubsystemCode, c.Instance}, Name: m.Name})
			}
		}
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		if members == nil {
			members = []memberJSON{}
		}
		body, _ := json.Marshal(map[string][]memberJSON{"member": members})
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.Write(body)
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	b.WriteString(`<xrd:clientList xmlns:id="http://x-road.eu/xsd/identifiers" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd">`)
	esc := func(v string) string {
		var e strings.Builder
		xml.EscapeText(&e, []byte(v))
		return e.String()
	}
	for _, m := range members {
		b.WriteString(`<xrd:member><xrd:id id:objectType="` + m.ID.ObjectType + `"><id:xRoadInstance>` + esc(m.ID.XRoadInstance) +
			`</id:xRoadInstance><id:memberClass>` + esc(m.ID.MemberClass) + `</id:memberClass><id:memberCode>` + esc(m.ID.MemberCode) + `</id:memberCode>`)
		if m.ID.SubsystemCode != "" {
			b.WriteString(`<id:subsystemCode>` + esc(m.ID.SubsystemCode) + `</id:subsystemCode>`)
		}
		b.WriteString(`</xrd:id><xrd:name>` + esc(m.Name) + `</xrd:name></xrd:member>`)
	}
	b.WriteString("</xrd:clientList>\n")
	w.Header().Set("Content-Type", "text/xml;charset=utf-8")
	w.Write([]byte(b.String()))
}
