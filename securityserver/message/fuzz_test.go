package message

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluz/sluz/securityserver/spool"
)

// FuzzParse: Parse never panics, fails only with a *Fault, leaves its input
// alone, and InsertRequestHash on anything it accepts yields a message that
// parses again and carries the hash.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		ct := "text/xml; charset=UTF-8"
		if filepath.Ext(name) == ".mime" {
			ct = `multipart/related; type="text/xml"; boundary="MIME_boundary"`
		}
		f.Add(b, ct, false)
		f.Add(b, ct, true)
	}
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "c">]><a>&b;</a>`), "", false)
	f.Add([]byte("--b\r\n\r\n<e/>\r\n--b--"), `multipart/related; boundary=b`, false)

	sum := RequestHashOf([]byte("fuzz"))
	f.Fuzz(func(t *testing.T, raw []byte, contentType string, request bool) {
		orig := bytes.Clone(raw)
		opts := ParseOptions{Request: request, MaxDepth: 64}
		m, err := Parse(raw, contentType, opts)
		if !bytes.Equal(raw, orig) {
			t.Fatal("Parse modified its input")
		}
		if err != nil {
			if _, ok := err.(*Fault); !ok {
				t.Fatalf("error %T %v is not a *Fault", err, err)
			}
			return
		}
		if len(raw) > 0 && &m.Raw[0] != &raw[0] {
			t.Fatal("Raw is a copy")
		}
		if m.IsFault {
			if m.Fault == nil {
				t.Fatal("IsFault without Fault")
			}
			return
		}
		out, err := m.InsertRequestHash(sum)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, orig) {
			t.Fatal("InsertRequestHash modified its input")
		}
		m2, err := Parse(out, contentType, ParseOptions{MaxSize: int64(len(out)), Request: request, MaxDepth: 64})
		if err != nil {
			t.Fatalf("the response with requestHash does not parse: %v\n%q", err, out)
		}
		if m2.Header.RequestHash == nil || !bytes.Equal(m2.Header.RequestHash.Value, sum) || m2.Header.ID != m.Header.ID || m2.Header.Client != m.Header.Client {
			t.Fatalf("requestHash %+v after insertion", m2.Header.RequestHash)
		}
	})
}

// FuzzReadStream: ReadStream never panics and fails only with a *Fault;
// where Parse (which splits the body it holds) also accepts the same
// multipart body, both give the same SOAP part, header and attachments,
// byte for byte, whether an attachment was held or spooled.
func FuzzReadStream(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.mime"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, `multipart/related; type="text/xml"; boundary="MIME_boundary"`, true)
	}
	f.Add([]byte("--b\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--b\r\n\r\nx\r\n--b--"), `multipart/related; boundary=b`, false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte, contentType string, request bool) {
		set := spool.NewSet(dir)
		defer set.Close()
		opts := ParseOptions{Request: request, MaxDepth: 64}
		m, err := ReadStream(bytes.NewReader(raw), contentType, opts, Streaming{MaxAttachments: 1 << 20, Spool: set})
		if err != nil {
			if _, ok := err.(*Fault); !ok {
				t.Fatalf("error %T %v is not a *Fault", err, err)
			}
			return
		}
		p, err := Parse(raw, contentType, opts)
		if err != nil {
			return // the splitters differ at the edges (line ends, malformed part headers)
		}
		if !bytes.Equal(m.SOAP, p.SOAP) || m.Header != p.Header || len(m.Attachments) != len(p.Attachments) {
			t.Fatalf("streamed %q with %d attachments, held %q with %d", m.SOAP, len(m.Attachments), p.SOAP, len(p.Attachments))
		}
		for i, a := range m.Attachments {
			got, err := a.ReadAll()
			if err != nil || !bytes.Equal(got, p.Attachments[i].Body) {
				t.Fatalf("attachment %d: streamed %q, held %q (%v)", i+1, got, p.Attachments[i].Body, err)
			}
		}
	})
}
