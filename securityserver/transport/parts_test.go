package transport

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"reflect"
	"testing"
	"testing/iotest"
)

// splitSeeds are bodies in and out of splitParts' shape: what Encode
// writes, and the variations mime/multipart reads differently or refuses.
func splitSeeds(t testing.TB) (bodies [][]byte, boundary string) {
	m := &Message{OCSP: [][]byte{[]byte("ocsp")}, SOAP: []byte("<Envelope>\r\n--xtopfuzzy\r\n</Envelope>"), Signature: []byte("<s/>"),
		HashChainResult: []byte("<r/>"), HashChain: []byte("<c/>"),
		Attachments: []Attachment{{ContentType: "application/pdf", Header: [][2]string{{"Content-Id", "<a>"}}, Data: []byte("%PDF\r\n--xtopfuzz-x")}, {Data: []byte{}}}}
	body, err := m.encode("xtopfuzz")
	if err != nil {
		t.Fatal(err)
	}
	enc := body.Bytes()
	bodies = append(bodies, enc,
		[]byte("--xtopfuzz\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--xtopfuzz\r\ncontent-type:signature/bdoc-1.0/ts \r\n\r\n<s/>\r\n--xtopfuzz--"),
		[]byte("--xtopfuzz\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--xtopfuzzz\r\n--xtopfuzz--\r\n"),
		[]byte("preamble\r\n--xtopfuzz\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--xtopfuzz--\r\n"),
		[]byte("--xtopfuzz \r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--xtopfuzz--\r\n"),
		[]byte("--xtopfuzz\r\nContent-Type: text/xml\r\n folded\r\n\r\n<e/>\r\n--xtopfuzz--\r\n"),
		[]byte("--xtopfuzz\r\nContent-Type: text/xml\r\n\r\n--xtopfuzz--\r\n"),
		[]byte("--xtopfuzz\r\nContent-Type: text/xml\r\n\r\n\r\n--xtopfuzz--junk"),
		[]byte("--xtopfuzz\r\nContent Type: text/xml\r\n\r\n<e/>\r\n--xtopfuzz--\r\n"),
		bytes.ReplaceAll(enc, []byte("\r\n"), []byte("\n")),
		enc[:len(enc)-20])
	return bodies, "xtopfuzz"
}

// FuzzSplitParts: whatever splitParts reads, mime/multipart's NextRawPart
// reads the same: the same parts, the same first Content-Type of each,
// each body byte for byte, and then the end.
func FuzzSplitParts(f *testing.F) {
	bodies, boundary := splitSeeds(f)
	for _, b := range bodies {
		f.Add(b, boundary)
	}
	f.Fuzz(func(t *testing.T, data []byte, boundary string) {
		parts, ok := splitParts(data, boundary, nil)
		if !ok {
			return
		}
		mr := multipart.NewReader(bytes.NewReader(data), boundary)
		for i, want := range parts {
			p, err := mr.NextRawPart()
			if err != nil {
				t.Fatalf("part %d: splitParts reads %+v, mime/multipart fails: %v", i+1, want, err)
			}
			body, err := io.ReadAll(p)
			if err != nil {
				t.Fatalf("part %d: mime/multipart fails: %v", i+1, err)
			}
			if got := (rawPart{ctype: p.Header.Get("Content-Type"), body: body}); got.ctype != want.ctype || !bytes.Equal(got.body, want.body) {
				t.Fatalf("part %d: splitParts reads %q, mime/multipart %q", i+1, want, got)
			}
			if cap(want.body) != len(want.body) {
				t.Fatalf("part %d: capacity %d past its end", i+1, cap(want.body))
			}
		}
		if p, err := mr.NextRawPart(); !errors.Is(err, io.EOF) {
			t.Fatalf("after %d parts mime/multipart reads %v, %v; splitParts ends", len(parts), p, err)
		}
	})
}

// TestSplitParts: Encode's framing is split without mime/multipart, the
// bodies that stray from it are left to mime/multipart, and decoding with a
// known length (split) and without (mime/multipart) gives the same message.
func TestSplitParts(t *testing.T) {
	bodies, boundary := splitSeeds(t)
	if parts, ok := splitParts(bodies[0], boundary, nil); !ok || len(parts) != 6 || string(parts[1].body) != "<Envelope>\r\n--xtopfuzzy\r\n</Envelope>" {
		t.Fatalf("Encode's body: ok %v, %d parts %q", ok, len(parts), parts)
	}
	if _, ok := splitParts(bodies[1], boundary, nil); !ok {
		t.Fatal("a body without a final line break is not split")
	}
	if parts, ok := splitParts(bodies[2], boundary, nil); !ok || len(parts) != 1 || string(parts[0].body) != "<e/>\r\n--xtopfuzzz" {
		t.Fatalf("a boundary followed by more of a name is not a delimiter: ok %v, %q", ok, parts)
	}
	for i, b := range bodies[3:] {
		if parts, ok := splitParts(b, boundary, nil); ok {
			t.Errorf("seed %d %q is split: %q", i+4, b, parts)
		}
	}
	ct := "multipart/mixed; charset=UTF-8; boundary=" + boundary
	for i, b := range bodies {
		for _, request := range []bool{true, false} {
			got, gerr := DecodeLength(bytes.NewReader(b), int64(len(b)), ct, 1<<20, request)
			want, werr := Decode(bytes.NewReader(b), ct, 1<<20, request)
			if (gerr == nil) != (werr == nil) {
				t.Fatalf("seed %d: split: %v; mime/multipart: %v", i+1, gerr, werr)
			}
			if gerr == nil {
				got.ContentType, want.ContentType = "", ""
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d: split %+v, mime/multipart %+v", i+1, got, want)
				}
			}
		}
	}
	// A body longer or shorter than its Content-Length is read as before.
	for _, n := range []int{len(bodies[0]) - 1, len(bodies[0]) + 1} {
		_, gerr := DecodeLength(bytes.NewReader(bodies[0]), int64(n), ct, 1<<20, true)
		_, werr := Decode(bytes.NewReader(bodies[0]), ct, 1<<20, true)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("length %d of %d: %v; mime/multipart: %v", n, len(bodies[0]), gerr, werr)
		}
	}
}

// BenchmarkDecodeSplit: decoding a transport message of known length.
func BenchmarkDecodeSplit(b *testing.B) {
	m := &Message{OCSP: [][]byte{bytes.Repeat([]byte("o"), 1500)}, SOAP: bytes.Repeat([]byte("s"), 1300), Signature: bytes.Repeat([]byte("g"), 5000)}
	body, err := m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	raw := body.Bytes()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeLength(bytes.NewReader(raw), int64(len(raw)), m.ContentType, 1<<20, true); err != nil {
			b.Fatal(err)
		}
	}
}

// eofReader returns io.EOF with the last bytes, as net/http's bodies do.
type eofReader struct{ r *bytes.Reader }

func (e eofReader) Read(b []byte) (int, error) {
	n, err := e.r.Read(b)
	if err == nil && e.r.Len() == 0 {
		err = io.EOF
	}
	return n, err
}

// TestReadWhole: a body is read whole whether its reader tells the end with
// its last bytes or after them, and is read again from the start when it is
// shorter or longer than its length, or its reader fails.
func TestReadWhole(t *testing.T) {
	body := []byte("--b\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--b--\r\n")
	for _, r := range []io.Reader{bytes.NewReader(body), eofReader{bytes.NewReader(body)}, io.MultiReader(bytes.NewReader(body[:7]), bytes.NewReader(body[7:]))} {
		if whole, rest := readWhole(r, int64(len(body))); !bytes.Equal(whole, body) || rest != nil {
			t.Fatalf("%T: whole %q, rest %v", r, whole, rest)
		}
	}
	fail := errors.New("connection reset")
	for _, c := range []struct {
		r    io.Reader
		n    int
		want string
	}{
		{bytes.NewReader(body), len(body) + 3, string(body)},
		{bytes.NewReader(body), len(body) - 3, string(body)},
		{io.MultiReader(bytes.NewReader(body[:9]), iotest.ErrReader(fail)), len(body), string(body[:9])},
	} {
		whole, rest := readWhole(c.r, int64(c.n))
		if whole != nil {
			t.Fatalf("length %d of %d: read whole", c.n, len(body))
		}
		got, err := io.ReadAll(rest)
		if string(got) != c.want || err != nil && !errors.Is(err, fail) {
			t.Fatalf("length %d of %d: rest reads %q, %v", c.n, len(body), got, err)
		}
	}
}
