package xmldsig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/beevik/etree"
)

var testOptions = Options{MaxBytes: 1 << 20, MaxDepth: 32, MaxElements: 1000}

func TestRead(t *testing.T) {
	good := []struct{ name, doc, want string }{
		{"declaration, BOM and whitespace", "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<a/>\n", "<a></a>"},
		{"references", `<a b="&lt;&amp;&#65;&#x42;&quot;&apos;">&gt;&#13;&#x10000;</a>`, `<a b="&lt;&amp;AB&quot;'">&gt;&#xD;` + "\U00010000" + `</a>`},
		{"line ends in text", "<a>x\r\ny\rz\n</a>", "<a>x\ny\nz\n</a>"},
		{"attribute normalisation", "<a b=\"x\ty\r\nz&#10;&#9;\"/>", `<a b="x y z&#xA;&#x9;"></a>`},
		{"CDATA", "<a><![CDATA[<&>\r\n]]]]></a>", "<a>&lt;&amp;&gt;\n]]</a>"},
		{"single quotes and spaces", "<a  b = 'x\"' ></a >", `<a b="x&quot;"></a>`},
		{"same local name in two namespaces", `<a xmlns:p="urn:p" xmlns:q="urn:q" p:b="1" q:b="2" b="3"/>`, `<a xmlns:p="urn:p" xmlns:q="urn:q" b="3" p:b="1" q:b="2"></a>`},
		{"default namespace undeclared", `<a xmlns="urn:a"><b xmlns=""/></a>`, `<a xmlns="urn:a"><b xmlns=""></b></a>`},
		{"non-ASCII names", `<ş:ü xmlns:ş="urn:s" ş:ə="1"/>`, `<ş:ü xmlns:ş="urn:s" ş:ə="1"></ş:ü>`},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Read([]byte(tc.doc), testOptions)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(Canonicalize(nil, doc.Root, false, nil)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	bad := map[string]string{
		"empty":                    "",
		"only whitespace":          " \n",
		"text before":              "x<a/>",
		"text after":               "<a/>x",
		"two roots":                "<a/><b/>",
		"comment":                  "<a><!-- c --></a>",
		"comment outside":          "<a/><!-- c -->",
		"processing instruction":   "<a><?pi x?></a>",
		"late declaration":         " <?xml version=\"1.0\"?><a/>",
		"declaration w/o version":  "<?xml encoding=\"UTF-8\"?><a/>",
		"Latin-1 declaration":      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>",
		"DOCTYPE":                  "<!DOCTYPE a><a/>",
		"unclosed":                 "<a>",
		"unclosed start tag":       "<a b='1'",
		"mismatched end":           "<a></b>",
		"mismatched prefix":        "<p:a xmlns:p='u'></q:a>",
		"unknown entity":           "<a>&nbsp;</a>",
		"bare ampersand":           "<a>a & b</a>",
		"invalid char reference":   "<a>&#0;</a>",
		"surrogate reference":      "<a>&#xD800;</a>",
		"upper-case X reference":   "<a>&#X41;</a>",
		"control character":        "<a>\x01</a>",
		"non-character":            "<a>\uFFFE</a>",
		"]]> in text":              "<a>]]></a>",
		"< in attribute":           "<a b='<'/>",
		"unquoted attribute":       "<a b=1/>",
		"attribute without value":  "<a b/>",
		"attributes run together":  "<a b='1'c='2'/>",
		"name starting with digit": "<1a/>",
		"two colons":               "<a:b:c/>",
		"empty prefix":             "<:a/>",
		"unclosed CDATA":           "<a><![CDATA[x</a>",
		"stray slash":              "<a / >",
		"text beside an element":   "<a>x<b/></a>",
		"text after an element":    "<a><b/>x</a>",
		"undeclared prefix":        "<p:a/>",
		"undeclared attr prefix":   "<a p:b='1'/>",
		"xmlns prefix on element":  "<xmlns:a/>",
		"xml prefix declared":      "<a xmlns:xml='urn:x'/>",
		"xmlns prefix declared":    "<a xmlns:xmlns='urn:x'/>",
		"prefix undeclared":        "<a xmlns:p='urn:p'><b xmlns:p=''/></a>",
		"prefix declared twice":    "<a xmlns:p='urn:p' xmlns:p='urn:q'/>",
		"xml:* attribute":          "<a xml:lang='az'/>",
		"attribute twice":          "<a b='1' b='2'/>",
		"attribute twice by URI":   "<a xmlns:p='urn:p' xmlns:q='urn:p' p:b='1' q:b='2'/>",
		"Id twice":                 "<a Id='x'><b Id='x'/></a>",
		"too big":                  "<a>" + strings.Repeat(" ", testOptions.MaxBytes) + "</a>",
		"too many elements":        "<a>" + strings.Repeat("<b/>", testOptions.MaxElements) + "</a>",
		"too deep":                 strings.Repeat("<a>", testOptions.MaxDepth+1) + strings.Repeat("</a>", testOptions.MaxDepth+1),
	}
	for name, doc := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := Read([]byte(doc), testOptions); !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzRead compares Read with encoding/xml (through etree): Read must not
// panic, and what it accepts, encoding/xml must accept too and read as the
// same tree (attribute values compared with whitespace as spaces, since
// encoding/xml does not normalise them). Read with PlainText must accept
// a subset of what it accepts without.
func FuzzRead(f *testing.F) {
	for _, name := range []string{"sign-0/sign-0.xml", "non-batch-sig/signatures.xml"} {
		b, err := os.ReadFile(filepath.Join("../../testdata/xroad", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<conf xmlns="urn:sluz:globalconf:1" xmlns:id="http://x-road.eu/xsd/identifiers"><a id:objectType="MEMBER">x</a></conf>`))
	f.Add([]byte("<a b=\"x\ty&#10;\">t&amp;<![CDATA[c]]><c/>\r\n</a>"))
	f.Add([]byte(`<?xml version="1.0"?><p:a xmlns:p="u" p:b='1'><p:c>&#x20AC;</p:c></p:a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return
		}
		plain, plainErr := Read(data, Options{PlainText: true})
		ours, err := Read(data, Options{})
		if plainErr == nil && err != nil {
			t.Fatalf("accepted as plain text, refused otherwise (%v): %q", err, data)
		}
		if plainErr != nil && !errors.Is(plainErr, ErrMalformed) {
			t.Fatalf("error without ErrMalformed: %v", plainErr)
		}
		if plainErr == nil {
			Canonicalize(nil, plain.Root, false, nil)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		theirs := etree.NewDocument()
		theirs.ReadSettings.PreserveDuplicateAttrs = true
		if err := theirs.ReadFromBytes(data); err != nil {
			t.Fatalf("Read accepted what encoding/xml refuses (%v): %q", err, data)
		}
		if a, b := treeString(ours.Root), treeString(theirs.Root()); a != b {
			t.Fatalf("trees differ for %q:\nours   %s\ntheirs %s", data, a, b)
		}
	})
}

// treeString writes el's names, attributes and text unambiguously.
func treeString(el *etree.Element) string {
	var b strings.Builder
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		b.WriteString("<" + e.Space + "|" + e.Tag)
		for _, a := range e.Attr {
			v := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(a.Value)
			b.WriteString(" " + a.Space + "|" + a.Key + "=" + v)
		}
		b.WriteString(">")
		var text strings.Builder
		for _, c := range e.Child {
			switch c := c.(type) {
			case *etree.CharData:
				text.WriteString(c.Data)
			case *etree.Element:
				b.WriteString(text.String())
				text.Reset()
				walk(c)
			}
		}
		b.WriteString(text.String() + "</>")
	}
	walk(el)
	return b.String()
}
