package globalconf

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluz/sluz/internal/c14n"
	"github.com/sluz/sluz/internal/xmltok"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/registry/identifier"
)

// Namespace of the Şlüz global configuration elements. Identifiers use
// identifier.Namespace (prefix "id"), the signature the XML-DSig namespace
// (prefix "ds").
const Namespace = "urn:sluz:globalconf:1"

// Algorithm identifiers written and accepted.
const (
	dsigNS          = "http://www.w3.org/2000/09/xmldsig#"
	algC14N10       = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	algEnveloped    = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	algSHA256       = "http://www.w3.org/2001/04/xmlenc#sha256"
	algECDSASHA256  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	algRSASHA256    = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	maxDocumentSize = 64 << 20
)

var b64 = base64.StdEncoding

// buildTree writes the content of c (normalized and validated) as an etree
// document without the signature.
func (c *Conf) buildTree() *etree.Document {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	root := doc.CreateElement("conf")
	root.CreateAttr("xmlns", Namespace)
	root.CreateAttr("xmlns:"+identifier.Prefix, identifier.Namespace)
	leaf(root, "instance", c.Instance)
	leaf(root, "version", strconv.FormatUint(c.Version, 10))
	leaf(root, "created", fmtTime(c.Created))
	leaf(root, "expires", fmtTime(c.Expires))

	members := root.CreateElement("members")
	for _, m := range c.Members {
		e := members.CreateElement("member")
		identifier.AppendClient(e, "", "memberId", m.ID)
		leaf(e, "name", m.Name)
		for _, s := range m.Subsystems {
			leaf(e, "subsystem", s)
		}
	}
	servers := root.CreateElement("securityServers")
	for _, s := range c.Servers {
		e := servers.CreateElement("securityServer")
		identifier.AppendServer(e, "", "serverId", s.ID)
		leaf(e, "address", s.Address)
		for _, h := range s.AuthCertHashes {
			leaf(e, "authCertHash", b64.EncodeToString(h)).CreateAttr("algorithm", algSHA256)
		}
		for _, cl := range s.Clients {
			identifier.AppendClient(e, "", "client", cl)
		}
	}
	services := root.CreateElement("services")
	for _, s := range c.Services {
		e := services.CreateElement("service")
		identifier.AppendService(e, "", "serviceId", s.ID)
		leaf(e, "description", s.Description)
	}
	groups := root.CreateElement("globalGroups")
	for _, g := range c.Groups {
		e := groups.CreateElement("globalGroup")
		identifier.AppendGlobalGroup(e, "", "groupId", g.ID)
		leaf(e, "description", g.Description)
		for _, m := range g.Members {
			identifier.AppendClient(e, "", "member", m)
		}
	}
	trust := root.CreateElement("trust")
	for _, ca := range c.Trust.ApprovedCAs {
		e := trust.CreateElement("approvedCA")
		leaf(e, "name", ca.Name)
		leaf(e, "topCA", b64.EncodeToString(ca.Cert.Raw))
		for _, is := range ca.Issuers {
			leaf(e, "issuer", b64.EncodeToString(is.Raw))
		}
		for _, u := range ca.OCSPURLs {
			leaf(e, "ocspURL", u)
		}
	}
	for _, t := range c.Trust.TSAs {
		e := trust.CreateElement("tsa")
		leaf(e, "name", t.Name)
		leaf(e, "url", t.URL)
		leaf(e, "cert", b64.EncodeToString(t.Cert.Raw))
	}
	leaf(trust, "ocspFreshnessSeconds", strconv.FormatInt(int64(c.Trust.OCSPFreshness/time.Second), 10))
	return doc
}

func leaf(parent *etree.Element, tag, text string) *etree.Element {
	e := parent.CreateElement(tag)
	if text != "" {
		e.SetText(text)
	}
	return e
}

// readDocument parses data strictly: UTF-8 only, an optional XML
// declaration, one root element, no DOCTYPE, comments or processing
// instructions, no mixed content, every prefix bound, no duplicate
// attributes, no attributes in the xml namespace.
func readDocument(data []byte) (*etree.Document, error) {
	if len(data) > maxDocumentSize {
		return nil, malformed("the document is larger than %d bytes", maxDocumentSize)
	}
	if !utf8.Valid(data) {
		return nil, malformed("the document is not valid UTF-8")
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{PreserveDuplicateAttrs: true, MaxDepth: 32}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, malformed("the document is not well-formed XML: %v", err)
	}
	var root *etree.Element
	for _, t := range doc.Child {
		if e, ok := t.(*etree.Element); ok {
			if root != nil {
				return nil, malformed("the document has more than one root element")
			}
			root = e
		}
	}
	if root == nil {
		return nil, malformed("the document has no root element: it is not an XML document")
	}
	for i, t := range doc.Child {
		switch t := t.(type) {
		case *etree.ProcInst:
			if t.Target != "xml" || i != 0 || !bytes.HasPrefix(data, []byte("<?xml")) {
				return nil, malformed("the document has a processing instruction <?%s?>", t.Target)
			}
			if err := checkDeclaration(t.Inst); err != nil {
				return nil, err
			}
		case *etree.CharData:
			if !xmltok.IsSpace(t.Data) {
				return nil, malformed("the document has text outside the root element")
			}
		case *etree.Directive:
			return nil, malformed("the document has a DOCTYPE or another <! directive; DTDs and entities are not accepted")
		case *etree.Comment:
			return nil, malformed("the document has a comment")
		}
	}
	if err := checkTree(root, map[string]string{}); err != nil {
		return nil, err
	}
	return doc, nil
}

// checkDeclaration accepts an XML declaration for version 1.0 in UTF-8.
func checkDeclaration(inst string) error {
	if err := c14n.CheckDeclaration(inst); err != nil {
		return malformed("%v", err)
	}
	return nil
}

func checkTree(el *etree.Element, parentNS map[string]string) error {
	ns := parentNS
	copied := false
	for _, a := range el.Attr {
		p, ok := nsDecl(a)
		if !ok {
			continue
		}
		if p == "xml" || p == "xmlns" {
			return malformed("<%s> declares the reserved prefix %s", el.FullTag(), p)
		}
		if p != "" && a.Value == "" {
			return malformed("<%s> undeclares prefix %s, which XML 1.0 does not allow", el.FullTag(), p)
		}
		if !copied {
			ns, copied = maps.Clone(parentNS), true
		}
		bind(ns, p, a.Value)
	}
	if el.Space == "xmlns" {
		return malformed("element <%s> uses the reserved prefix xmlns", el.FullTag())
	}
	if el.Space != "" {
		if _, ok := ns[el.Space]; !ok {
			return malformed("element <%s> uses the undeclared prefix %s", el.FullTag(), el.Space)
		}
	}
	seen := map[string]bool{}
	for _, a := range el.Attr {
		var key string
		if p, ok := nsDecl(a); ok {
			key = "xmlns " + p
		} else {
			uri := ""
			if a.Space != "" {
				if a.Space == "xml" {
					return malformed("<%s> has the attribute %s (the xml namespace is not used)", el.FullTag(), a.FullKey())
				}
				var bound bool
				if uri, bound = ns[a.Space]; !bound {
					return malformed("attribute %s of <%s> uses an undeclared prefix", a.FullKey(), el.FullTag())
				}
			}
			key = uri + " " + a.Key
		}
		if seen[key] {
			return malformed("<%s> repeats the attribute %s", el.FullTag(), a.FullKey())
		}
		seen[key] = true
		if err := checkText("attribute "+a.FullKey(), a.Value, false); err != nil {
			return malformed("<%s>: %v", el.FullTag(), err)
		}
	}
	return c14n.CheckContent(el, func(child *etree.Element) error { return checkTree(child, ns) },
		func(text string) error {
			if err := checkText("the text", text, true); err != nil {
				return malformed("<%s>: %v", el.FullTag(), err)
			}
			return nil
		},
		func(reason string) error { return malformed("%s", reason) })
}

// cursor walks the child elements of one element in schema order.
type cursor struct {
	parent *etree.Element
	els    []*etree.Element
	i      int
}

func children(el *etree.Element) *cursor {
	return &cursor{parent: el, els: el.ChildElements()}
}

func (c *cursor) peek(space, tag string) *etree.Element {
	if c.i < len(c.els) {
		if e := c.els[c.i]; e.Tag == tag && e.NamespaceURI() == space {
			return e
		}
	}
	return nil
}

// optional returns the next child if it is space:tag, else nil.
func (c *cursor) optional(space, tag string) *etree.Element {
	e := c.peek(space, tag)
	if e != nil {
		c.i++
	}
	return e
}

// next requires the next child to be space:tag.
func (c *cursor) next(space, tag string) (*etree.Element, error) {
	if e := c.optional(space, tag); e != nil {
		return e, nil
	}
	if c.i < len(c.els) {
		e := c.els[c.i]
		return nil, malformed("<%s> has <%s> (namespace %q) where <%s> was expected", c.parent.Tag, e.FullTag(), e.NamespaceURI(), tag)
	}
	return nil, malformed("<%s> lacks <%s>", c.parent.Tag, tag)
}

// end requires that no child is left.
func (c *cursor) end() error {
	if c.i < len(c.els) {
		e := c.els[c.i]
		return malformed("<%s> has an unexpected <%s> (namespace %q)", c.parent.Tag, e.FullTag(), e.NamespaceURI())
	}
	return nil
}

// text reads the next child space:tag as a leaf element.
func (c *cursor) text(space, tag string, attrs ...string) (string, error) {
	e, err := c.next(space, tag)
	if err != nil {
		return "", err
	}
	return leafText(e, attrs...)
}

// leafText returns the text of an element that has no child elements and
// only the listed attributes (namespace declarations aside).
func leafText(e *etree.Element, attrs ...string) (string, error) {
	if err := onlyAttrs(e, attrs...); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, t := range e.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		case *etree.Element:
			return "", malformed("<%s> has a child element <%s>; it holds text only", e.Tag, t.FullTag())
		}
	}
	return b.String(), nil
}

// onlyAttrs rejects attributes other than namespace declarations and the
// unqualified names listed.
func onlyAttrs(e *etree.Element, allowed ...string) error {
	for _, a := range e.Attr {
		if _, ok := nsDecl(a); ok {
			continue
		}
		if a.Space == "" {
			if slices.Contains(allowed, a.Key) {
				continue
			}
		} else if a.Key == "objectType" && a.NamespaceURI() == identifier.Namespace && slices.Contains(allowed, "id:objectType") {
			continue
		}
		return malformed("<%s> has the unexpected attribute %s", e.Tag, a.FullKey())
	}
	return nil
}

// container reads the next child space:tag, which holds elements only and
// has no attributes.
func (c *cursor) container(tag string) (*cursor, error) {
	e, err := c.next(Namespace, tag)
	if err != nil {
		return nil, err
	}
	if err := onlyAttrs(e); err != nil {
		return nil, err
	}
	return children(e), nil
}

// idElement reads the next child as an identifier element: it must have
// only the id:objectType attribute; the identifier package checks the rest.
func (c *cursor) idElement(tag string) (*etree.Element, error) {
	e, err := c.next(Namespace, tag)
	if err != nil {
		return nil, err
	}
	if err := onlyAttrs(e, "id:objectType"); err != nil {
		return nil, err
	}
	for _, f := range e.ChildElements() {
		if err := onlyAttrs(f); err != nil {
			return nil, err
		}
		if _, err := leafText(f); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (c *cursor) client(tag string) (identifier.Client, error) {
	e, err := c.idElement(tag)
	if err != nil {
		return identifier.Client{}, err
	}
	id, err := identifier.ParseClientXML(e)
	if err != nil {
		return id, malformed("<%s>: %v", tag, err)
	}
	return id, nil
}

// parseConf reads the content of a verified document's root element; the
// signature is the last child and is not read here.
func parseConf(root *etree.Element) (*Conf, error) {
	if root.Tag != "conf" || root.NamespaceURI() != Namespace {
		return nil, malformed("the root element is <%s> in namespace %q, want <conf> in %q", root.FullTag(), root.NamespaceURI(), Namespace)
	}
	if err := onlyAttrs(root); err != nil {
		return nil, err
	}
	c := &Conf{}
	top := children(root)
	var err error
	if c.Instance, err = top.text(Namespace, "instance"); err != nil {
		return nil, err
	}
	v, err := top.text(Namespace, "version")
	if err != nil {
		return nil, err
	}
	if c.Version, err = strconv.ParseUint(v, 10, 64); err != nil || strconv.FormatUint(c.Version, 10) != v {
		return nil, malformed("<version> %q is not a decimal number", v)
	}
	for _, f := range []struct {
		tag string
		t   *time.Time
	}{{"created", &c.Created}, {"expires", &c.Expires}} {
		s, err := top.text(Namespace, f.tag)
		if err != nil {
			return nil, err
		}
		if *f.t, err = time.Parse(timeLayout, s); err != nil || fmtTime(*f.t) != s {
			return nil, malformed("<%s> %q is not an RFC 3339 UTC time with milliseconds like 2025-01-02T15:04:05.000Z", f.tag, s)
		}
	}

	members, err := top.container("members")
	if err != nil {
		return nil, err
	}
	for members.peek(Namespace, "member") != nil {
		mc, err := members.container("member")
		if err != nil {
			return nil, err
		}
		var m Member
		if m.ID, err = mc.client("memberId"); err != nil {
			return nil, err
		}
		if m.Name, err = mc.text(Namespace, "name"); err != nil {
			return nil, err
		}
		for mc.peek(Namespace, "subsystem") != nil {
			s, err := mc.text(Namespace, "subsystem")
			if err != nil {
				return nil, err
			}
			m.Subsystems = append(m.Subsystems, s)
		}
		if err := mc.end(); err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
	}
	if err := members.end(); err != nil {
		return nil, err
	}

	servers, err := top.container("securityServers")
	if err != nil {
		return nil, err
	}
	for servers.peek(Namespace, "securityServer") != nil {
		sc, err := servers.container("securityServer")
		if err != nil {
			return nil, err
		}
		var s SecurityServer
		e, err := sc.idElement("serverId")
		if err != nil {
			return nil, err
		}
		if s.ID, err = identifier.ParseServerXML(e); err != nil {
			return nil, malformed("<serverId>: %v", err)
		}
		if s.Address, err = sc.text(Namespace, "address"); err != nil {
			return nil, err
		}
		for sc.peek(Namespace, "authCertHash") != nil {
			e, err := sc.next(Namespace, "authCertHash")
			if err != nil {
				return nil, err
			}
			t, err := leafText(e, "algorithm")
			if err != nil {
				return nil, err
			}
			if alg := e.SelectAttrValue("algorithm", ""); alg != algSHA256 {
				return nil, malformed("security server %s: <authCertHash> algorithm %q is not %s", s.ID, alg, algSHA256)
			}
			h, err := decodeB64(t)
			if err != nil || len(h) != sha256.Size {
				return nil, malformed("security server %s: <authCertHash> is not a base64 SHA-256 digest", s.ID)
			}
			s.AuthCertHashes = append(s.AuthCertHashes, h)
		}
		for sc.peek(Namespace, "client") != nil {
			cl, err := sc.client("client")
			if err != nil {
				return nil, err
			}
			s.Clients = append(s.Clients, cl)
		}
		if err := sc.end(); err != nil {
			return nil, err
		}
		c.Servers = append(c.Servers, s)
	}
	if err := servers.end(); err != nil {
		return nil, err
	}

	services, err := top.container("services")
	if err != nil {
		return nil, err
	}
	for services.peek(Namespace, "service") != nil {
		sc, err := services.container("service")
		if err != nil {
			return nil, err
		}
		var s Service
		e, err := sc.idElement("serviceId")
		if err != nil {
			return nil, err
		}
		if s.ID, err = identifier.ParseServiceXML(e); err != nil {
			return nil, malformed("<serviceId>: %v", err)
		}
		if s.Description, err = sc.text(Namespace, "description"); err != nil {
			return nil, err
		}
		if err := sc.end(); err != nil {
			return nil, err
		}
		c.Services = append(c.Services, s)
	}
	if err := services.end(); err != nil {
		return nil, err
	}

	groups, err := top.container("globalGroups")
	if err != nil {
		return nil, err
	}
	for groups.peek(Namespace, "globalGroup") != nil {
		gc, err := groups.container("globalGroup")
		if err != nil {
			return nil, err
		}
		var g Group
		e, err := gc.idElement("groupId")
		if err != nil {
			return nil, err
		}
		if g.ID, err = identifier.ParseGlobalGroupXML(e); err != nil {
			return nil, malformed("<groupId>: %v", err)
		}
		if g.Description, err = gc.text(Namespace, "description"); err != nil {
			return nil, err
		}
		for gc.peek(Namespace, "member") != nil {
			m, err := gc.client("member")
			if err != nil {
				return nil, err
			}
			g.Members = append(g.Members, m)
		}
		if err := gc.end(); err != nil {
			return nil, err
		}
		c.Groups = append(c.Groups, g)
	}
	if err := groups.end(); err != nil {
		return nil, err
	}

	trust, err := top.container("trust")
	if err != nil {
		return nil, err
	}
	for trust.peek(Namespace, "approvedCA") != nil {
		cc, err := trust.container("approvedCA")
		if err != nil {
			return nil, err
		}
		var ca ApprovedCA
		if ca.Name, err = cc.text(Namespace, "name"); err != nil {
			return nil, err
		}
		if ca.Cert, err = cc.cert("topCA"); err != nil {
			return nil, err
		}
		for cc.peek(Namespace, "issuer") != nil {
			is, err := cc.cert("issuer")
			if err != nil {
				return nil, err
			}
			ca.Issuers = append(ca.Issuers, is)
		}
		for cc.peek(Namespace, "ocspURL") != nil {
			u, err := cc.text(Namespace, "ocspURL")
			if err != nil {
				return nil, err
			}
			ca.OCSPURLs = append(ca.OCSPURLs, u)
		}
		if err := cc.end(); err != nil {
			return nil, err
		}
		c.Trust.ApprovedCAs = append(c.Trust.ApprovedCAs, ca)
	}
	for trust.peek(Namespace, "tsa") != nil {
		tc, err := trust.container("tsa")
		if err != nil {
			return nil, err
		}
		var t TSA
		if t.Name, err = tc.text(Namespace, "name"); err != nil {
			return nil, err
		}
		if t.URL, err = tc.text(Namespace, "url"); err != nil {
			return nil, err
		}
		if t.Cert, err = tc.cert("cert"); err != nil {
			return nil, err
		}
		if err := tc.end(); err != nil {
			return nil, err
		}
		c.Trust.TSAs = append(c.Trust.TSAs, t)
	}
	f, err := trust.text(Namespace, "ocspFreshnessSeconds")
	if err != nil {
		return nil, err
	}
	secs, err := strconv.ParseInt(f, 10, 64)
	if err != nil || strconv.FormatInt(secs, 10) != f || secs <= 0 || secs > int64(100*365*24*time.Hour/time.Second) {
		return nil, malformed("<ocspFreshnessSeconds> %q is not a positive number of seconds", f)
	}
	c.Trust.OCSPFreshness = time.Duration(secs) * time.Second
	if err := trust.end(); err != nil {
		return nil, err
	}
	// The signature follows; the caller has checked it is the last child.
	if _, err := top.next(dsigNS, "Signature"); err != nil {
		return nil, err
	}
	if err := top.end(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *cursor) cert(tag string) (*x509.Certificate, error) {
	t, err := c.text(Namespace, tag)
	if err != nil {
		return nil, err
	}
	der, err := decodeB64(t)
	if err != nil {
		return nil, malformed("<%s> is not base64: %v", tag, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, malformed("<%s> is not a DER certificate: %v", tag, err)
	}
	return cert, nil
}

// decodeB64 decodes base64Binary, which may contain XML whitespace.
func decodeB64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.Strict().DecodeString(s)
}
