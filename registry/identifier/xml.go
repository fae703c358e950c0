package identifier

import (
	"fmt"
	"strings"

	"github.com/beevik/etree"
)

// Prefix is the namespace prefix this package writes for Namespace.
const Prefix = "id"

// fieldOrder is the schema order of the identifier child elements (PR-MESS §2.1).
var fieldOrder = []string{"xRoadInstance", "memberClass", "memberCode", "subsystemCode", "groupCode", "serviceCode", "serviceVersion", "serverCode"}

// AppendClient writes c as a child element space:tag of parent, e.g.
// <xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>AZ</id:xRoadInstance>...
// It declares xmlns:id on the new element unless an ancestor already does.
func AppendClient(parent *etree.Element, space, tag string, c Client) *etree.Element {
	return appendID(parent, space, tag, c.ObjectType(), [][2]string{
		{"xRoadInstance", c.Instance}, {"memberClass", c.MemberClass}, {"memberCode", c.MemberCode}, {"subsystemCode", c.SubsystemCode}})
}

// AppendService writes s as a SERVICE identifier element.
func AppendService(parent *etree.Element, space, tag string, s ServiceID) *etree.Element {
	p := s.Provider
	return appendID(parent, space, tag, Service, [][2]string{
		{"xRoadInstance", p.Instance}, {"memberClass", p.MemberClass}, {"memberCode", p.MemberCode}, {"subsystemCode", p.SubsystemCode},
		{"serviceCode", s.ServiceCode}, {"serviceVersion", s.ServiceVersion}})
}

// AppendServer writes s as a SERVER identifier element.
func AppendServer(parent *etree.Element, space, tag string, s ServerID) *etree.Element {
	o := s.Owner
	return appendID(parent, space, tag, Server, [][2]string{
		{"xRoadInstance", o.Instance}, {"memberClass", o.MemberClass}, {"memberCode", o.MemberCode}, {"serverCode", s.ServerCode}})
}

// AppendGlobalGroup writes g as a GLOBALGROUP identifier element.
func AppendGlobalGroup(parent *etree.Element, space, tag string, g GlobalGroupID) *etree.Element {
	return appendID(parent, space, tag, GlobalGroup, [][2]string{{"xRoadInstance", g.Instance}, {"groupCode", g.GroupCode}})
}

func appendID(parent *etree.Element, space, tag string, t ObjectType, fields [][2]string) *etree.Element {
	el := parent.CreateElement(tag)
	el.Space = space
	if !declares(el, Prefix, Namespace) {
		el.CreateAttr("xmlns:"+Prefix, Namespace)
	}
	el.CreateAttr(Prefix+":objectType", string(t))
	for _, f := range fields {
		if f[1] == "" {
			continue
		}
		c := el.CreateElement(f[0])
		c.Space = Prefix
		c.SetText(f[1])
	}
	return el
}

// declares reports whether e or an ancestor binds prefix to uri.
func declares(e *etree.Element, prefix, uri string) bool {
	for ; e != nil; e = e.Parent() {
		if a := e.SelectAttr("xmlns:" + prefix); a != nil {
			return a.Value == uri
		}
	}
	return false
}

// ParseClientXML reads a MEMBER or SUBSYSTEM identifier element.
func ParseClientXML(el *etree.Element) (Client, error) {
	t, f, err := parseID(el)
	if err != nil {
		return Client{}, err
	}
	if t != Member && t != Subsystem {
		return Client{}, invalid("<%s> has objectType %s, want MEMBER or SUBSYSTEM", el.Tag, t)
	}
	c := Client{Instance: f["xRoadInstance"], MemberClass: f["memberClass"], MemberCode: f["memberCode"], SubsystemCode: f["subsystemCode"]}
	if err := onlyFields(el, f, "xRoadInstance", "memberClass", "memberCode", "subsystemCode"); err != nil {
		return Client{}, err
	}
	if (t == Subsystem) != c.IsSubsystem() {
		return Client{}, invalid("<%s> has objectType %s but %s subsystemCode", el.Tag, t, map[bool]string{true: "a", false: "no"}[c.IsSubsystem()])
	}
	if err := c.Validate(); err != nil {
		return Client{}, fmt.Errorf("<%s>: %w", el.Tag, err)
	}
	return c, nil
}

// ParseServiceXML reads a SERVICE identifier element.
func ParseServiceXML(el *etree.Element) (ServiceID, error) {
	t, f, err := parseID(el)
	if err != nil {
		return ServiceID{}, err
	}
	if t != Service {
		return ServiceID{}, invalid("<%s> has objectType %s, want SERVICE", el.Tag, t)
	}
	if err := onlyFields(el, f, "xRoadInstance", "memberClass", "memberCode", "subsystemCode", "serviceCode", "serviceVersion"); err != nil {
		return ServiceID{}, err
	}
	s := ServiceID{
		Provider:    Client{Instance: f["xRoadInstance"], MemberClass: f["memberClass"], MemberCode: f["memberCode"], SubsystemCode: f["subsystemCode"]},
		ServiceCode: f["serviceCode"], ServiceVersion: f["serviceVersion"],
	}
	if err := s.Validate(); err != nil {
		return ServiceID{}, fmt.Errorf("<%s>: %w", el.Tag, err)
	}
	return s, nil
}

// ParseServerXML reads a SERVER identifier element.
func ParseServerXML(el *etree.Element) (ServerID, error) {
	t, f, err := parseID(el)
	if err != nil {
		return ServerID{}, err
	}
	if t != Server {
		return ServerID{}, invalid("<%s> has objectType %s, want SERVER", el.Tag, t)
	}
	if err := onlyFields(el, f, "xRoadInstance", "memberClass", "memberCode", "serverCode"); err != nil {
		return ServerID{}, err
	}
	s := ServerID{Owner: Client{Instance: f["xRoadInstance"], MemberClass: f["memberClass"], MemberCode: f["memberCode"]}, ServerCode: f["serverCode"]}
	if err := s.Validate(); err != nil {
		return ServerID{}, fmt.Errorf("<%s>: %w", el.Tag, err)
	}
	return s, nil
}

// ParseGlobalGroupXML reads a GLOBALGROUP identifier element.
func ParseGlobalGroupXML(el *etree.Element) (GlobalGroupID, error) {
	t, f, err := parseID(el)
	if err != nil {
		return GlobalGroupID{}, err
	}
	if t != GlobalGroup {
		return GlobalGroupID{}, invalid("<%s> has objectType %s, want GLOBALGROUP", el.Tag, t)
	}
	if err := onlyFields(el, f, "xRoadInstance", "groupCode"); err != nil {
		return GlobalGroupID{}, err
	}
	g := GlobalGroupID{Instance: f["xRoadInstance"], GroupCode: f["groupCode"]}
	if err := g.Validate(); err != nil {
		return GlobalGroupID{}, fmt.Errorf("<%s>: %w", el.Tag, err)
	}
	return g, nil
}

// parseID reads the objectType attribute and the child fields, enforcing the
// identifiers namespace, schema order and no duplicates.
func parseID(el *etree.Element) (ObjectType, map[string]string, error) {
	var t ObjectType
	for _, a := range el.Attr {
		if a.Key == "objectType" && a.NamespaceURI() == Namespace {
			t = ObjectType(a.Value)
		}
	}
	if t == "" {
		return "", nil, invalid("<%s> lacks the id:objectType attribute (namespace %s)", el.Tag, Namespace)
	}
	fields := map[string]string{}
	last := -1
	for _, c := range el.ChildElements() {
		if c.NamespaceURI() != Namespace {
			return "", nil, invalid("<%s> child <%s> is not in the identifiers namespace %s", el.Tag, c.Tag, Namespace)
		}
		pos := indexOf(fieldOrder, c.Tag)
		if pos < 0 {
			return "", nil, invalid("<%s> has unknown child <%s>", el.Tag, c.Tag)
		}
		if _, dup := fields[c.Tag]; dup {
			return "", nil, invalid("<%s> repeats <%s>", el.Tag, c.Tag)
		}
		if pos < last {
			return "", nil, invalid("<%s> child <%s> is out of schema order", el.Tag, c.Tag)
		}
		last = pos
		fields[c.Tag] = strings.TrimSpace(c.Text())
	}
	return t, fields, nil
}

func onlyFields(el *etree.Element, f map[string]string, allowed ...string) error {
	for k := range f {
		if indexOf(allowed, k) < 0 {
			return invalid("<%s> must not have <%s>", el.Tag, k)
		}
	}
	return nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
