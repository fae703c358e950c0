package asic_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sluz/sluz/securityserver/audit/asic"
)

// A container that lost its signature, checked with no anchor given.
// Notice that each check reports on its own: the format check names the
// missing entry, the checks that need it say they could not run, and
// trust says the anchor was not given instead of failing or hiding the
// format error.
func ExampleVerify() {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range [][2]string{{"mimetype", asic.MimeType}, {"message.xml", "<Envelope/>"}} {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: e[0], Method: zip.Store})
		io.WriteString(w, e[1])
	}
	zw.Close()

	rep := asic.Verify(buf.Bytes(), asic.Options{})
	for _, n := range rep.Checks() {
		fmt.Printf("%-9s %-11s %s\n", n.Name, n.Check.Status, n.Check.Code)
	}
	fmt.Println("failed:", rep.Failed())
	format, _ := json.Marshal(rep.Format)
	fmt.Println(string(format))
	// Output:
	// format    failed      signature_not_found
	// signature not_checked input_missing
	// timestamp not_checked input_missing
	// ocsp      not_checked signature_not_verified
	// trust     not_checked anchor_not_given
	// failed: true
	// {"status":"failed","code":"signature_not_found","reason":"the container has no META-INF/signatures.xml (or it is empty)","problems":[{"code":"signature_not_found","reason":"the container has no META-INF/signatures.xml (or it is empty)"}]}
}
