package globalconf

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/xmldsig"
	"github.com/sluz/sluz/registry/identifier"
)

// Namespace of the Şlüz global configuration elements. Identifiers use
// identifier.Namespace (prefix "id"), the signature the XML-DSig namespace
// (prefix "ds").
const Namespace = "urn:sluz:globalconf:1"

// Algorithm identifiers written and accepted.
const (
	dsigNS          = xmldsig.NS
	algC14N10       = xmldsig.C14N10
	algEnveloped    = xmldsig.Enveloped
	algSHA256       = xmldsig.SHA256
	algECDSASHA256  = xmldsig.ECDSASHA256
	algRSASHA256    = xmldsig.RSASHA256
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

// cursor walks the child elements of one element of the document in
// schema order: xmldsig.Cursor with this document's element rules.
type cursor struct{ *xmldsig.Cursor }

func children(el *etree.Element) cursor { return cursor{xmldsig.Children(el)} }

// text reads the next child, Namespace:tag, as a leaf element.
func (c cursor) text(tag string, attrs ...string) (string, error) {
	e, err := c.Must(Namespace, tag)
	if err != nil {
		return "", err
	}
	return leafText(e, attrs...)
}

// leafText returns the text of an element that has no child elements and
// only the listed attributes (namespace declarations aside).
func leafText(e *etree.Element, attrs ...string) (string, error) {
	if err := xmldsig.OnlyAttrs(e, attrs...); err != nil {
		return "", err
	}
	return xmldsig.Text(e)
}

// container reads the next child Namespace:tag, which holds elements only
// and has no attributes.
func (c cursor) container(tag string) (cursor, error) {
	e, err := c.Must(Namespace, tag)
	if err != nil {
		return cursor{}, err
	}
	if err := xmldsig.OnlyAttrs(e); err != nil {
		return cursor{}, err
	}
	return children(e), nil
}

// objectType is the identifiers' id:objectType attribute, by namespace.
const objectType = "{" + identifier.Namespace + "}objectType"

// idElement reads the next child as an identifier element: it must have
// only the id:objectType attribute; the identifier package checks the rest.
func (c cursor) idElement(tag string) (*etree.Element, error) {
	e, err := c.Must(Namespace, tag)
	if err != nil {
		return nil, err
	}
	if err := xmldsig.OnlyAttrs(e, objectType); err != nil {
		return nil, err
	}
	for _, f := range e.ChildElements() {
		if _, err := leafText(f); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (c cursor) client(tag string) (identifier.Client, error) {
	e, err := c.idElement(tag)
	if err != nil {
		return identifier.Client{}, err
	}
	id, err := identifier.ParseClientXML(e)
	if err != nil {
		return id, malformed("<%s>: %w", tag, err)
	}
	return id, nil
}

// parseConf reads the content of a verified document's root element; the
// signature is the last child and is not read here.
func parseConf(root *etree.Element) (*Conf, error) {
	if root.Tag != "conf" || root.NamespaceURI() != Namespace {
		return nil, malformed("the root element is <%s> in namespace %q, want <conf> in %q", root.FullTag(), root.NamespaceURI(), Namespace)
	}
	if err := xmldsig.OnlyAttrs(root); err != nil {
		return nil, err
	}
	c := &Conf{}
	top := children(root)
	var err error
	if c.Instance, err = top.text("instance"); err != nil {
		return nil, err
	}
	v, err := top.text("version")
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
		s, err := top.text(f.tag)
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
	for members.Peek(Namespace, "member") != nil {
		mc, err := members.container("member")
		if err != nil {
			return nil, err
		}
		var m Member
		if m.ID, err = mc.client("memberId"); err != nil {
			return nil, err
		}
		if m.Name, err = mc.text("name"); err != nil {
			return nil, err
		}
		for mc.Peek(Namespace, "subsystem") != nil {
			s, err := mc.text("subsystem")
			if err != nil {
				return nil, err
			}
			m.Subsystems = append(m.Subsystems, s)
		}
		if err := mc.End(); err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
	}
	if err := members.End(); err != nil {
		return nil, err
	}

	servers, err := top.container("securityServers")
	if err != nil {
		return nil, err
	}
	for servers.Peek(Namespace, "securityServer") != nil {
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
			return nil, malformed("<serverId>: %w", err)
		}
		if s.Address, err = sc.text("address"); err != nil {
			return nil, err
		}
		for sc.Peek(Namespace, "authCertHash") != nil {
			e, err := sc.Must(Namespace, "authCertHash")
			if err != nil {
				return nil, err
			}
			if err := xmldsig.OnlyAttrs(e, "algorithm"); err != nil {
				return nil, err
			}
			if alg, _ := xmldsig.Attr(e, "algorithm"); alg != algSHA256 {
				return nil, malformed("security server %s: <authCertHash> algorithm %q is not %s", s.ID, alg, algSHA256)
			}
			h, err := xmldsig.Base64(e)
			if err != nil {
				return nil, fmt.Errorf("security server %s: <authCertHash>: %w", s.ID, err)
			}
			if len(h) != sha256.Size {
				return nil, malformed("security server %s: <authCertHash> has %d bytes, not a SHA-256 digest's %d", s.ID, len(h), sha256.Size)
			}
			s.AuthCertHashes = append(s.AuthCertHashes, h)
		}
		for sc.Peek(Namespace, "client") != nil {
			cl, err := sc.client("client")
			if err != nil {
				return nil, err
			}
			s.Clients = append(s.Clients, cl)
		}
		if err := sc.End(); err != nil {
			return nil, err
		}
		c.Servers = append(c.Servers, s)
	}
	if err := servers.End(); err != nil {
		return nil, err
	}

	services, err := top.container("services")
	if err != nil {
		return nil, err
	}
	for services.Peek(Namespace, "service") != nil {
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
			return nil, malformed("<serviceId>: %w", err)
		}
		if s.Description, err = sc.text("description"); err != nil {
			return nil, err
		}
		if err := sc.End(); err != nil {
			return nil, err
		}
		c.Services = append(c.Services, s)
	}
	if err := services.End(); err != nil {
		return nil, err
	}

	groups, err := top.container("globalGroups")
	if err != nil {
		return nil, err
	}
	for groups.Peek(Namespace, "globalGroup") != nil {
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
			return nil, malformed("<groupId>: %w", err)
		}
		if g.Description, err = gc.text("description"); err != nil {
			return nil, err
		}
		for gc.Peek(Namespace, "member") != nil {
			m, err := gc.client("member")
			if err != nil {
				return nil, err
			}
			g.Members = append(g.Members, m)
		}
		if err := gc.End(); err != nil {
			return nil, err
		}
		c.Groups = append(c.Groups, g)
	}
	if err := groups.End(); err != nil {
		return nil, err
	}

	trust, err := top.container("trust")
	if err != nil {
		return nil, err
	}
	for trust.Peek(Namespace, "approvedCA") != nil {
		cc, err := trust.container("approvedCA")
		if err != nil {
			return nil, err
		}
		var ca ApprovedCA
		if ca.Name, err = cc.text("name"); err != nil {
			return nil, err
		}
		if ca.Cert, err = cc.cert("topCA"); err != nil {
			return nil, err
		}
		for cc.Peek(Namespace, "issuer") != nil {
			is, err := cc.cert("issuer")
			if err != nil {
				return nil, err
			}
			ca.Issuers = append(ca.Issuers, is)
		}
		for cc.Peek(Namespace, "ocspURL") != nil {
			u, err := cc.text("ocspURL")
			if err != nil {
				return nil, err
			}
			ca.OCSPURLs = append(ca.OCSPURLs, u)
		}
		if err := cc.End(); err != nil {
			return nil, err
		}
		c.Trust.ApprovedCAs = append(c.Trust.ApprovedCAs, ca)
	}
	for trust.Peek(Namespace, "tsa") != nil {
		tc, err := trust.container("tsa")
		if err != nil {
			return nil, err
		}
		var t TSA
		if t.Name, err = tc.text("name"); err != nil {
			return nil, err
		}
		if t.URL, err = tc.text("url"); err != nil {
			return nil, err
		}
		if t.Cert, err = tc.cert("cert"); err != nil {
			return nil, err
		}
		if err := tc.End(); err != nil {
			return nil, err
		}
		c.Trust.TSAs = append(c.Trust.TSAs, t)
	}
	f, err := trust.text("ocspFreshnessSeconds")
	if err != nil {
		return nil, err
	}
	secs, err := strconv.ParseInt(f, 10, 64)
	if err != nil || strconv.FormatInt(secs, 10) != f || secs <= 0 || secs > int64(100*365*24*time.Hour/time.Second) {
		return nil, malformed("<ocspFreshnessSeconds> %q is not a positive number of seconds", f)
	}
	c.Trust.OCSPFreshness = time.Duration(secs) * time.Second
	if err := trust.End(); err != nil {
		return nil, err
	}
	// The signature follows; the caller has checked it is the last child.
	if _, err := top.Must(dsigNS, "Signature"); err != nil {
		return nil, err
	}
	if err := top.End(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c cursor) cert(tag string) (*x509.Certificate, error) {
	e, err := c.Must(Namespace, tag)
	if err != nil {
		return nil, err
	}
	if err := xmldsig.OnlyAttrs(e); err != nil {
		return nil, err
	}
	der, err := xmldsig.Base64(e)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, malformed("<%s> is not a DER certificate: %w", tag, err)
	}
	return cert, nil
}
