package transport

import (
	"errors"
	"io"
	"mime"
	"strings"
	"testing"
	"testing/iotest"
)

// A body that cannot be read, or a Content-Type that cannot be parsed, is
// malformed and keeps the cause for errors.Is (a timeout stays a timeout).
func TestDecodeKeepsTheCause(t *testing.T) {
	broken := errors.New("connection reset")
	for _, tc := range []struct {
		name string
		ct   string
		body io.Reader
		want string
		is   error
	}{
		{"body fails before the first part", "multipart/mixed; boundary=B", iotest.ErrReader(broken),
			"malformed transport message: reading parts: multipart: NextPart: connection reset", broken},
		{"body fails within a part", "multipart/mixed; boundary=B",
			io.MultiReader(strings.NewReader("--B\r\nContent-Type: text/xml\r\n\r\n<a/>"), iotest.ErrReader(broken)),
			"malformed transport message: reading a part: connection reset", broken},
		{"Content-Type", "garbage;;", strings.NewReader(""),
			`malformed transport message: Content-Type "garbage;;": mime: invalid media parameter`, mime.ErrInvalidMediaParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.body, tc.ct, 1<<20, true)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if !errors.Is(err, ErrMalformed) || !errors.Is(err, tc.is) {
				t.Fatalf("%v wraps ErrMalformed %v, %v %v", err, errors.Is(err, ErrMalformed), tc.is, errors.Is(err, tc.is))
			}
		})
	}
}
