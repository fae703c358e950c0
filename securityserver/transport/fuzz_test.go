package transport

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluz/sluz/securityserver/spool"
)

// FuzzDecodeStream: DecodeStream never panics, fails only with a
// malformed or too-large error, and agrees with Decode, which holds the
// whole body: the same parts, each attachment byte for byte, held or
// spooled.
func FuzzDecodeStream(f *testing.F) {
	m := &Message{OCSP: [][]byte{[]byte("ocsp")}, SOAP: []byte("<Envelope/>"), Signature: []byte("<s/>"),
		HashChainResult: []byte("<r/>"), HashChain: []byte("<c/>"),
		Attachments: []Attachment{{ContentType: "application/pdf", Header: [][2]string{{"Content-Id", "<a>"}}, Data: bytes.Repeat([]byte("%PDF\r\n"), 20000)}, {Data: []byte{}}}}
	body, err := m.encode("xtopfuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body.Bytes(), m.ContentType, true)
	f.Add([]byte("--b\r\nContent-Type: text/xml\r\n\r\n<e/>\r\n--b\r\nContent-Type: signature/bdoc-1.0/ts\r\n\r\n<s/>\r\n--b--\r\n"), "multipart/mixed; boundary=b", false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte, contentType string, request bool) {
		set := spool.NewSet(dir)
		defer set.Close()
		lim := Streaming{MaxSize: 1 << 20, MaxAttachments: 1 << 20, Spool: set}
		got, err := DecodeStream(bytes.NewReader(raw), int64(len(raw)), contentType, lim, request)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrAttachmentsTooLarge) {
				t.Fatalf("error %v is neither malformed nor too large", err)
			}
			return
		}
		want, err := Decode(bytes.NewReader(raw), contentType, 2<<20, request)
		if err != nil {
			t.Fatalf("DecodeStream accepts what Decode refuses: %v", err)
		}
		if !bytes.Equal(got.SOAP, want.SOAP) || !bytes.Equal(got.Signature, want.Signature) || !bytes.Equal(got.Fault, want.Fault) ||
			!bytes.Equal(got.HashChain, want.HashChain) || len(got.OCSP) != len(want.OCSP) || len(got.Attachments) != len(want.Attachments) {
			t.Fatalf("streamed %+v, held %+v", got, want)
		}
		for i, a := range got.Attachments {
			var b bytes.Buffer
			b.ReadFrom(a.Reader())
			if !bytes.Equal(b.Bytes(), want.Attachments[i].Data) || a.ContentType != want.Attachments[i].ContentType {
				t.Fatalf("attachment %d differs", i+1)
			}
		}
	})
}
