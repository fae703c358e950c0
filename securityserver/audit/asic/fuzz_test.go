package asic

import (
	"archive/zip"
	"bytes"
	"testing"
)

// seedZip writes entries (name, content pairs) as a ZIP archive, the
// mimetype stored and the rest deflated.
func seedZip(tb testing.TB, entries ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(entries); i += 2 {
		method := zip.Deflate
		if entries[i] == EntryMimeType {
			method = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: entries[i], Method: method})
		if err != nil {
			tb.Fatal(err)
		}
		w.Write([]byte(entries[i+1]))
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

const seedManifest = `<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:media-type="application/vnd.etsi.asic-e+zip" manifest:full-path="/"/>
<manifest:file-entry manifest:media-type="text/xml" manifest:full-path="message.xml"/>
<manifest:file-entry manifest:media-type="application/octet-stream" manifest:full-path="attachment1"/>
</manifest:manifest>`

const seedASiCManifest = `<asic:ASiCManifest xmlns:asic="http://uri.etsi.org/2918/v1.2.1#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
<asic:SigReference URI="META-INF/timestamp.tst" MimeType="vnd.etsi.timestamp-token"/>
<asic:DataObjectReference URI="ts-hashchainresult.xml" MimeType="text/xml">
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<ds:DigestValue>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</ds:DigestValue>
</asic:DataObjectReference>
</asic:ASiCManifest>`

// FuzzRead feeds the container reader arbitrary archives. It must not
// panic, must stay within its limits, and whatever it passes as well
// formatted must hold what the format check promises: the right mimetype,
// a message and a signature, only X-Road's entry names, each once,
// attachments numbered from 1, manifests that read.
func FuzzRead(f *testing.F) {
	f.Add(seedZip(f, EntryMimeType, MimeType, EntryMessage, "<m/>", EntrySignature, "<s/>", EntryManifest, seedManifest, "attachment1", "a"))
	f.Add(seedZip(f, EntryMimeType, MimeType, EntryMessage, "<m/>", EntrySignature, "<s/>", EntryTSChainResult, "<r/>", EntryTSChain, "<c/>",
		EntryTimestamp, "\x30\x00", EntryASiCManifest, seedASiCManifest))
	f.Add(seedZip(f, EntryMessage, "<m/>", "META-INF/", "", EntryMimeType, "application/zip", "attachment2", "x", "../evil", "x"))
	f.Add([]byte("PK\x03\x04"))
	lim := Limits{MaxEntries: 64, MaxEntryBytes: 1 << 16, MaxTotalBytes: 1 << 18}
	opts := Options{Limits: lim}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, strict := range []bool{false, true} {
			opts.StrictMimetype = strict
			c, chk := Read(data, opts)
			if chk.Status != OK && chk.Status != Failed || chk.Status == Failed && len(chk.Problems) == 0 {
				t.Fatalf("format check %+v", chk)
			}
			if c == nil {
				if chk.Status == OK {
					t.Fatal("no container, format ok")
				}
				continue
			}
			total := 0
			for _, b := range [][]byte{c.MimeType, c.Message, c.Signature, c.SigChainResult, c.SigChain, c.TSChainResult, c.TSChain, c.Timestamp, c.ASiCManifest, c.Manifest} {
				total += len(b)
			}
			for _, a := range c.Attachments {
				total += len(a)
			}
			if total > int(lim.MaxTotalBytes) || len(c.Names) > lim.MaxEntries {
				t.Fatalf("read %d bytes in %d entries, beyond %+v", total, len(c.Names), lim)
			}
			if chk.Status != OK {
				continue
			}
			if string(c.MimeType) != MimeType || len(c.Message) == 0 || len(c.Signature) == 0 {
				t.Fatalf("format ok without mimetype, message or signature: %q", c.Names)
			}
			seen := map[string]bool{}
			for _, n := range c.Names {
				if seen[n] || c.entry(n) == nil && attachmentNumber(n) == 0 && n != entryMetaInfDir {
					t.Fatalf("format ok with entry %q (names %q)", n, c.Names)
				}
				seen[n] = true
				if k := attachmentNumber(n); k > len(c.Attachments) {
					t.Fatalf("format ok with %q but %d attachments", n, len(c.Attachments))
				}
			}
			if c.Manifest != nil {
				if _, err := readManifest(c.Manifest); err != nil {
					t.Fatalf("format ok with a manifest that does not read: %v", err)
				}
			}
			if c.ASiCManifest != nil {
				if _, err := readASiCManifest(c.ASiCManifest); err != nil {
					t.Fatalf("format ok with an ASiC manifest that does not read: %v", err)
				}
			}
			if strict && c.Names[0] != EntryMimeType {
				t.Fatalf("strict format ok with %q first", c.Names[0])
			}
		}
	})
}

// FuzzManifest feeds the two manifest readers arbitrary documents: no
// panic, and what they accept has what they promise.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(seedManifest))
	f.Add([]byte(seedASiCManifest))
	f.Fuzz(func(t *testing.T, data []byte) {
		if entries, err := readManifest(data); err == nil {
			paths := map[string]bool{}
			for _, e := range entries {
				if e.FullPath == "" || paths[e.FullPath] {
					t.Fatalf("manifest accepted with path %q", e.FullPath)
				}
				paths[e.FullPath] = true
			}
		}
		if m, err := readASiCManifest(data); err == nil && (m.Digest.Hash == 0 || len(m.Digest.Value) != m.Digest.Hash.Size()) {
			t.Fatalf("ASiC manifest accepted with digest %+v", m.Digest)
		}
	})
}
