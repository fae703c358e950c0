package message

import (
	"errors"
	"mime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/sluz/sluz/internal/xmltok"
	"github.com/sluz/sluz/registry/identifier"
)

// A fault that reports another package's error keeps it for errors.Is and
// errors.As; its code and string are what they were.
func TestFaultsKeepTheCause(t *testing.T) {
	broken := errors.New("connection reset")
	for _, tc := range []struct {
		name   string
		read   func() error
		code   string
		string string
		is     error
	}{
		{"body fails", func() error {
			_, err := Read(iotest.ErrReader(broken), "text/xml; charset=UTF-8", ParseOptions{})
			return err
		}, "Client.IOError", "reading the message: connection reset", broken},
		{"bad Content-Type", func() error {
			_, err := Read(strings.NewReader("<a/>"), "text/xml;;", ParseOptions{FaultPrefix: ServerProxy})
			return err
		}, "Server.ServerProxy.InvalidContentType", `invalid content type "text/xml;;": mime: invalid media parameter`, mime.ErrInvalidMediaParameter},
		{"bad identifier part", func() error {
			in := strings.Replace(string(load(t, "request.xml")), "<id:memberCode>EMDK</id:memberCode>", "<id:memberCode>EM DK</id:memberCode>", 1)
			_, err := Parse([]byte(in), "text/xml; charset=UTF-8", ParseOptions{Request: true})
			return err
		}, "Client.InvalidClientIdentifier", "", identifier.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read()
			var f *Fault
			if !errors.As(err, &f) || f.Code != tc.code || (tc.string != "" && f.String != tc.string) {
				t.Fatalf("error %v, want a fault %s: %q", err, tc.code, tc.string)
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if g := f.WithPrefix("Server.ClientProxy"); !errors.Is(g, tc.is) {
				t.Fatalf("WithPrefix lost the cause")
			}
		})
	}
	// Faults that report no error wrap none.
	if f := Faultf(Code(ClientPrefix, InvalidSoap), "no %s here", "envelope"); f.Unwrap() != nil || f.String != "no envelope here" {
		t.Fatalf("Faultf without %%w: %+v, unwraps %v", f, f.Unwrap())
	}
	// Malformed XML keeps the tokenizer's error, with its offset.
	_, err := Parse([]byte(`<a x=1/>`), "text/xml; charset=UTF-8", ParseOptions{})
	var se *xmltok.SyntaxError
	if f, ok := err.(*Fault); !ok || f.Code != "Client.InvalidSoap" || !errors.As(err, &se) || !strings.HasPrefix(f.String, "malformed XML: ") {
		t.Fatalf("malformed XML: %v, want a Client.InvalidSoap fault wrapping *xmltok.SyntaxError", err)
	}
}
