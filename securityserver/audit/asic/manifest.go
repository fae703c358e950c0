package asic

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/beevik/etree"
	"github.com/sluz/sluz/internal/xmldsig"
)

// The manifests' namespaces and the values X-Road writes in them
// (OpenDocumentManifestBuilder, AsicManifestBuilder).
const (
	nsManifest     = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
	nsASiCManifest = "http://uri.etsi.org/2918/v1.2.1#"
	timestampMime  = "vnd.etsi.timestamp-token"
)

// manifestOptions bound the two manifests, which list a few entries.
var manifestOptions = xmldsig.Options{MaxBytes: 1 << 20, MaxDepth: 8, MaxElements: 10000}

// nsAttr returns the value of the attribute local in namespace ns
// (matched by URI, never by prefix).
func nsAttr(el *etree.Element, ns, local string) (string, bool) {
	for i := range el.Attr {
		a := &el.Attr[i]
		if a.Key == local && a.Space != "" && a.Space != "xmlns" && a.NamespaceURI() == ns {
			return a.Value, true
		}
	}
	return "", false
}

// manifestEntry is one manifest:file-entry.
type manifestEntry struct {
	FullPath, MediaType string
}

// readManifest reads META-INF/manifest.xml strictly: a manifest:manifest
// of version 1.2 holding only manifest:file-entry elements, each with a
// full-path and a media-type, no path twice.
func readManifest(data []byte) ([]manifestEntry, error) {
	doc, err := xmldsig.Read(data, manifestOptions)
	if err != nil {
		return nil, err
	}
	root := doc.Root
	if !xmldsig.Is(root, nsManifest, "manifest") {
		return nil, fmt.Errorf("the root is <%s> (namespace %q), want <manifest> in %q", root.FullTag(), root.NamespaceURI(), nsManifest)
	}
	if err := xmldsig.OnlyAttrs(root, "{"+nsManifest+"}version"); err != nil {
		return nil, err
	}
	if v, ok := nsAttr(root, nsManifest, "version"); ok && v != "1.2" {
		return nil, fmt.Errorf("the manifest's version is %q, want \"1.2\"", v)
	}
	var entries []manifestEntry
	err = xmldsig.Each(root, nsManifest, "file-entry", []string{"{" + nsManifest + "}full-path", "{" + nsManifest + "}media-type"}, func(el *etree.Element) error {
		if err := xmldsig.Empty(el); err != nil {
			return err
		}
		path, ok1 := nsAttr(el, nsManifest, "full-path")
		media, ok2 := nsAttr(el, nsManifest, "media-type")
		if !ok1 || !ok2 || path == "" {
			return fmt.Errorf("a file-entry lacks its full-path or media-type")
		}
		if slices.ContainsFunc(entries, func(e manifestEntry) bool { return e.FullPath == path }) {
			return fmt.Errorf("the manifest lists %q twice", path)
		}
		entries = append(entries, manifestEntry{FullPath: path, MediaType: media})
		return nil
	})
	return entries, err
}

// checkManifest checks the OpenDocument manifest against the container:
// "/" is the ASiC-E mimetype, every path listed is an entry the container
// has, outside META-INF. Entries it does not list are noted (X-Road's own
// test containers list only some).
func checkManifest(c *Container, chk *Check) {
	entries, err := readManifest(c.Manifest)
	if err != nil {
		chk.fail("invalid_manifest", "%s: %v", EntryManifest, err)
		return
	}
	if !bytes.Contains(c.Manifest, []byte(":version=")) {
		chk.note("%s has no manifest:version (X-Road writes 1.2; its 2014 test container has none)", EntryManifest)
	}
	listed := map[string]bool{}
	for _, e := range entries {
		listed[e.FullPath] = true
		if e.FullPath == "/" {
			if e.MediaType != MimeType {
				chk.fail("invalid_manifest", "%s gives the container the media type %q, want %q", EntryManifest, e.MediaType, MimeType)
			}
			continue
		}
		if e.FullPath == EntryMimeType || strings.HasPrefix(e.FullPath, "META-INF/") || !slices.Contains(c.Names, e.FullPath) {
			chk.fail("invalid_manifest", "%s lists %q, which is not a data entry of the container", EntryManifest, e.FullPath)
		}
	}
	for _, name := range c.Names {
		if c.entry(name) != nil && name != EntryMimeType && !strings.HasPrefix(name, "META-INF/") || attachmentNumber(name) > 0 {
			if !listed[name] {
				chk.note("%s does not list %q", EntryManifest, name)
			}
		}
	}
}

// asicManifest is what META-INF/ASiCManifest.xml says: the token and the
// one data object it covers, with its digest.
type asicManifest struct {
	SigReference string
	DataObject   string
	Digest       xmldsig.Digest
}

// readASiCManifest reads META-INF/ASiCManifest.xml strictly, in X-Road's
// shape: one SigReference (URI, MimeType) then one DataObjectReference
// (URI, MimeType) holding ds:DigestMethod and ds:DigestValue.
func readASiCManifest(data []byte) (*asicManifest, error) {
	doc, err := xmldsig.Read(data, manifestOptions)
	if err != nil {
		return nil, err
	}
	root := doc.Root
	if !xmldsig.Is(root, nsASiCManifest, "ASiCManifest") {
		return nil, fmt.Errorf("the root is <%s> (namespace %q), want <ASiCManifest> in %q", root.FullTag(), root.NamespaceURI(), nsASiCManifest)
	}
	if err := xmldsig.OnlyAttrs(root); err != nil {
		return nil, err
	}
	k := xmldsig.Children(root)
	sig, err := k.Must(nsASiCManifest, "SigReference")
	if err != nil {
		return nil, err
	}
	obj, err := k.Must(nsASiCManifest, "DataObjectReference")
	if err != nil {
		return nil, err
	}
	if err := k.End(); err != nil {
		return nil, err
	}
	m := &asicManifest{}
	for _, el := range []*etree.Element{sig, obj} {
		if err := xmldsig.OnlyAttrs(el, "URI", "MimeType"); err != nil {
			return nil, err
		}
	}
	if err := xmldsig.Empty(sig); err != nil {
		return nil, err
	}
	var mime string
	m.SigReference, _ = xmldsig.Attr(sig, "URI")
	mime, _ = xmldsig.Attr(sig, "MimeType")
	if mime != timestampMime {
		return nil, fmt.Errorf("SigReference has MimeType %q, want %q", mime, timestampMime)
	}
	m.DataObject, _ = xmldsig.Attr(obj, "URI")
	k = xmldsig.Children(obj)
	if m.Digest, err = xmldsig.ReadDigest(k, []string{xmldsig.SHA256, xmldsig.SHA384, xmldsig.SHA512}); err != nil {
		return nil, err
	}
	return m, k.End()
}

// checkASiCManifest checks that the ASiC manifest names the batch
// time-stamp token and the time-stamp hash chain result, which the
// container must have. (The digest is the timestamp check's business.)
func checkASiCManifest(c *Container, chk *Check) {
	m, err := readASiCManifest(c.ASiCManifest)
	switch {
	case err != nil:
		chk.fail("invalid_manifest", "%s: %v", EntryASiCManifest, err)
	case m.SigReference != EntryTimestamp || m.DataObject != EntryTSChainResult:
		chk.fail("invalid_manifest", "%s references %q and %q, want %q and %q", EntryASiCManifest, m.SigReference, m.DataObject, EntryTimestamp, EntryTSChainResult)
	case c.Timestamp == nil || c.TSChainResult == nil:
		chk.fail("invalid_manifest", "%s names %s and %s, which the container lacks", EntryASiCManifest, EntryTimestamp, EntryTSChainResult)
	}
}
