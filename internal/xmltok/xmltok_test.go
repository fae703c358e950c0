package xmltok

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// describe renders a token stream (or the error ending it) for comparison.
func ours(data []byte) (string, error) {
	var t Tokenizer
	t.Reset(data)
	var b strings.Builder
	for {
		tok, err := t.Next()
		if err != nil && strings.Contains(err.Error(), "directive") {
			return b.String() + "directive\n", nil // every caller refuses directives: the rest does not matter
		}
		if err != nil {
			return b.String(), err
		}
		switch tok.Kind {
		case EOF:
			return b.String(), nil
		case StartElement:
			fmt.Fprintf(&b, "start %q:%q", tok.Name.Space, tok.Name.Local)
			for _, a := range tok.Attr {
				fmt.Fprintf(&b, " %q:%q=%q", a.Name.Space, a.Name.Local, a.Value)
			}
		case EndElement:
			fmt.Fprintf(&b, "end %q:%q", tok.Name.Space, tok.Name.Local)
		case Text:
			fmt.Fprintf(&b, "text %q", tok.Text)
		case Comment:
			fmt.Fprintf(&b, "comment %q", tok.Text)
		case ProcInst:
			fmt.Fprintf(&b, "pi %q %q", tok.Name.Local, bytes.TrimSpace(tok.Text))
		case Directive:
			return b.String() + "directive\n", nil
		}
		fmt.Fprintf(&b, " @%d-%d\n", tok.Start, tok.End)
	}
}

func theirs(data []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) { return nil, errors.New("charset " + label) }
	var b strings.Builder
	for {
		off := d.InputOffset()
		tok, err := d.RawToken()
		if err == io.EOF {
			return b.String(), nil
		}
		if err != nil {
			return b.String(), err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			fmt.Fprintf(&b, "start %q:%q", t.Name.Space, t.Name.Local)
			for _, a := range t.Attr {
				fmt.Fprintf(&b, " %q:%q=%q", a.Name.Space, a.Name.Local, a.Value)
			}
		case xml.EndElement:
			fmt.Fprintf(&b, "end %q:%q", t.Name.Space, t.Name.Local)
		case xml.CharData:
			fmt.Fprintf(&b, "text %q", []byte(t))
		case xml.Comment:
			fmt.Fprintf(&b, "comment %q", []byte(t))
		case xml.ProcInst:
			fmt.Fprintf(&b, "pi %q %q", t.Target, bytes.TrimSpace(t.Inst))
		case xml.Directive:
			return b.String() + "directive\n", nil
		}
		fmt.Fprintf(&b, " @%d-%d\n", off, d.InputOffset())
	}
}

// stricter lists what this tokenizer refuses on purpose where encoding/xml
// (in its RawToken mode) lets it through.
var stricter = []string{"more than one colon", "]]>", "-- inside a comment", "not allowed in XML",
	"invalid UTF-8", "no space after its target", "must come first", "version=", "a name is expected",
	"is not one of XML's five", "has a colon", "not separated by whitespace", "not a valid XML character"}

func compare(t *testing.T, data []byte) {
	got, gerr := ours(data)
	want, werr := theirs(data)
	if i := strings.Index(got, "directive"); i >= 0 { // refused by every caller: compare up to it
		if !strings.HasPrefix(want, got[:i]) {
			t.Fatalf("%q:\nxmltok:\n%s\nencoding/xml:\n%s", data, got, want)
		}
		return
	}
	switch {
	case gerr == nil && werr == nil:
		if got != want {
			t.Fatalf("%q:\nxmltok:\n%s\nencoding/xml:\n%s", data, got, want)
		}
	case gerr == nil && werr != nil && strings.Contains(werr.Error(), "invalid XML name"):
		// encoding/xml applies XML 1.0 first edition's name characters;
		// names here follow the fifth edition (a superset).
	case gerr == nil && werr != nil:
		t.Fatalf("%q: xmltok accepts what encoding/xml refuses (%v):\n%s", data, werr, got)
	case gerr != nil && werr == nil:
		for _, s := range stricter {
			if strings.Contains(gerr.Error(), s) {
				return
			}
		}
		t.Fatalf("%q: xmltok refuses (%v) what encoding/xml accepts:\n%s", data, gerr, want)
	}
}

func TestAgainstEncodingXML(t *testing.T) {
	for _, s := range []string{
		`<a/>`, `<a></a>`, `<p:a xmlns:p="u" p:b='c' d = "e&amp;f&#x41;&#66;"/>`,
		"<a>x\r\ny\rz&lt;&gt;&apos;&quot;</a>", `<a><![CDATA[<b>]]]]><![CDATA[>]]></a>`,
		`<?xml version="1.0" encoding="UTF-8"?><a/>`, "<a><!-- c --></a>", `<a><?pi x?></a>`,
		`<!DOCTYPE a [<!ENTITY e "x">]><a/>`, `<a b="1" b="2"/>`, `<a></b>`, `<a`, `<a b></a>`,
		`<a b=c/>`, `<a>&e;</a>`, `<a>&#0;</a>`, "<a>\x01</a>", `<a:b:c/>`, `<1a/>`, `< a/>`,
		`<a>]]></a>`, `<a><!-- a -- b --></a>`, `<ə xmlns="ü">Əliyev Rəşad</ə>`, `<a b="<"/>`,
		`<a/ >`, `</a>`, "<a>\xff</a>", `<?xml version="1.1"?><a/>`, `<a/><?xml version="1.0"?>`,
	} {
		t.Run(s, func(t *testing.T) { compare(t, []byte(s)) })
	}
}

// TestSampleMessages: every XML file under testdata tokenizes exactly as
// encoding/xml reads it.
func TestSampleMessages(t *testing.T) {
	var n int
	filepath.WalkDir("../../testdata", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".xml") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n++
		compare(t, data)
		return nil
	})
	if n == 0 {
		t.Fatal("no sample XML found under testdata")
	}
}

func FuzzAgainstEncodingXML(f *testing.F) {
	for _, s := range []string{`<a b="c">d&amp;e<![CDATA[f]]><!--g--><h/></a>`, `<?xml version="1.0"?><x:y xmlns:x="z"/>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { compare(t, data) })
}

func BenchmarkTokenize(b *testing.B) {
	data, err := os.ReadFile("../../testdata/xroad/message.xml")
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var t Tokenizer
	for b.Loop() {
		t.Reset(data)
		for {
			tok, err := t.Next()
			if err != nil {
				b.Fatal(err)
			}
			if tok.Kind == EOF {
				break
			}
		}
	}
}

// TestIntern: every known name and namespace is found in the table (none
// lost to a collision), and other strings come back equal.
func TestIntern(t *testing.T) {
	for s := range known {
		if got := intern([]byte(s)); got != s {
			t.Fatalf("intern(%q) = %q", s, got)
		}
	}
	for _, s := range []string{"x", "Envelopes", "Əliyev", "http://x-road.eu/xsd/xroad.xsdx", ""} {
		if got := intern([]byte(s)); got != s {
			t.Fatalf("intern(%q) = %q", s, got)
		}
	}
	if 4*len(known) > knownSize {
		t.Fatalf("%d known strings fill more than a quarter of the %d-slot table", len(known), knownSize)
	}
}

// TestCheckChars: the eight-byte fast path accepts and refuses exactly what
// the byte-by-byte rules do, wherever in a run the byte stands.
func TestCheckChars(t *testing.T) {
	for _, bad := range []string{"\x00", "\x01", "\x1f", "\x7f\xff", "\xef\xbf\xbe", "\xed\xa0\x80"} {
		for pos := 0; pos < 17; pos++ {
			b := []byte(strings.Repeat("A", pos) + bad + strings.Repeat("z", 17-pos))
			if err := CheckChars(b); err == nil {
				t.Errorf("%q at %d accepted", bad, pos)
			}
		}
	}
	for _, good := range []string{"\t", "\n", "\r", " ", "~", "\x7f", "Ə", "\U00010000"} {
		for pos := 0; pos < 17; pos++ {
			b := []byte(strings.Repeat("A", pos) + good + strings.Repeat("z", 17-pos))
			if err := CheckChars(b); err != nil {
				t.Errorf("%q at %d refused: %v", good, pos, err)
			}
		}
	}
}

// TestNameCache: a reused Tokenizer reads a service's own names and
// namespace declarations without allocating them again, returns them
// equal, and keeps its cache bounded whatever names it reads.
func TestNameCache(t *testing.T) {
	doc := []byte(`<p:getPersonByFin xmlns:p="http://din.gov.az/xroad/population/v1"><p:fin>5ZD8K2Q</p:fin></p:getPersonByFin>`)
	var tok Tokenizer
	got := make([]Token, 0, 8)
	read := func(d []byte) []Token {
		tok.Reset(d)
		got = got[:0]
		for {
			tk, err := tok.Next()
			if err != nil {
				t.Fatal(err)
			}
			if tk.Kind == EOF {
				return got
			}
			got = append(got, tk)
		}
	}
	first := read(doc)
	if first[0].Name.Local != "getPersonByFin" || first[0].Attr[0].Value != "http://din.gov.az/xroad/population/v1" {
		t.Fatalf("first read: %+v", first[0])
	}
	if n := testing.AllocsPerRun(20, func() { read(doc) }); n != 0 {
		t.Errorf("a second read of the same names allocates %.0f times", n)
	}
	for i := range 3 * maxNames {
		d := []byte(fmt.Sprintf(`<n%d xmlns="urn:x:%d"/>`, i, i))
		if got := read(d); got[0].Name.Local != fmt.Sprintf("n%d", i) || got[0].Attr[0].Value != fmt.Sprintf("urn:x:%d", i) {
			t.Fatalf("read %s: %+v", d, got[0])
		}
		if len(tok.names) > maxNames {
			t.Fatalf("the name cache holds %d names, more than %d", len(tok.names), maxNames)
		}
	}
}
