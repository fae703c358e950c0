package message

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func mustParse(t *testing.T, raw []byte, ct string, request bool) *Message {
	t.Helper()
	m, err := Parse(raw, ct, ParseOptions{Request: request})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInsertRequestHash(t *testing.T) {
	req := mustParse(t, load(t, "request.xml"), "text/xml; charset=UTF-8", true)
	sum := RequestHashOf(req.SOAP)
	b64 := base64.StdEncoding.EncodeToString(sum)
	el := func(prefix, decl string) string {
		q := "requestHash"
		if prefix != "" {
			q = prefix + ":requestHash"
		}
		return "<" + q + decl + ` algorithmId="http://www.w3.org/2001/04/xmlenc#sha512">` + b64 + "</" + q + ">"
	}
	resp := string(load(t, "response.xml"))
	svc := string(load(t, "response-service-hash.xml"))
	oldHash := svc[strings.Index(svc, "<xroad:requestHash") : strings.Index(svc, "</xroad:requestHash>")+len("</xroad:requestHash>")]
	const xr = `="http://x-road.eu/xsd/xroad.xsd"`

	tests := []struct {
		name string
		in   string
		// the response as expected: before is everything up to and
		// including the id end tag, after is the rest, as in the input.
		before, inserted, after string
	}{
		{name: "xrd prefix", in: resp, before: resp[:strings.Index(resp, "</xrd:id>")+9], inserted: el("xrd", ""), after: resp[strings.Index(resp, "</xrd:id>")+9:]},
		{name: "xroad prefix, service-supplied requestHash replaced", in: svc,
			before:   svc[:strings.Index(svc, "</xroad:id>")+11],
			inserted: el("xroad", ""),
			after:    strings.Replace(svc[strings.Index(svc, "</xroad:id>")+11:], oldHash, "", 1)},
		{name: "prefix declared on id only", in: strings.Replace(resp, "<xrd:id>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</xrd:id>", `<x:id xmlns:x`+xr+`>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</x:id>`, 1),
			inserted: el("xrd", "")}, // xrd is bound on the envelope: reused
		{name: "default namespace declared on id only", in: strings.Replace(resp, "<xrd:id>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</xrd:id>", `<id xmlns`+xr+`>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</id>`, 1),
			inserted: el("xrd", "")},
		{name: "no binding in scope: declared on the element", in: "", inserted: el("p", ` xmlns:p`+xr)},
		{name: "no binding in scope, default namespace", in: "", inserted: el("", ` xmlns`+xr)},
	}
	// Build the last two inputs: every X-Road element declares its own namespace.
	local := func(prefix string) string {
		s := strings.Replace(resp, ` xmlns:xrd`+xr, "", 1)
		for _, f := range []string{"client", "service", "userId", "issue", "protocolVersion"} {
			s = strings.Replace(s, "<xrd:"+f+" ", "<xrd:"+f+` xmlns:xrd`+xr+" ", 1)
			s = strings.Replace(s, "<xrd:"+f+">", "<xrd:"+f+` xmlns:xrd`+xr+">", 1)
		}
		if prefix == "" {
			return strings.Replace(s, "<xrd:id>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</xrd:id>", `<id xmlns`+xr+`>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</id>`, 1)
		}
		return strings.Replace(s, "<xrd:id>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</xrd:id>", `<p:id xmlns:p`+xr+`>6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</p:id>`, 1)
	}
	tests[4].in, tests[5].in = local("p"), local("")
	for i := 2; i < len(tests); i++ {
		in := tests[i].in
		end := strings.Index(in, "6f1c2a9e-3b7d-4e52-9a0c-8d4e1f2b3c5a</") + 36
		end += strings.Index(in[end:], ">") + 1
		tests[i].before, tests[i].after = in[:end], in[end:]
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			orig := bytes.Clone(in)
			m := mustParse(t, in, "text/xml; charset=utf-8", false)
			out, err := m.InsertRequestHash(sum)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, orig) {
				t.Fatal("InsertRequestHash changed the input")
			}
			if want := tc.before + tc.inserted + tc.after; string(out) != want {
				t.Fatalf("got\n%s\nwant\n%s", out, want)
			}
			got := mustParse(t, out, "text/xml; charset=utf-8", false)
			if got.Header.RequestHash == nil || got.Header.RequestHash.Algorithm != HashAlgorithmSHA512 || !bytes.Equal(got.Header.RequestHash.Value, sum) {
				t.Fatalf("requestHash %+v", got.Header.RequestHash)
			}
			if err := CheckResponse(req, got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestInsertRequestHashMultipart(t *testing.T) {
	resp := load(t, "response.xml")
	const ct = `multipart/related; type="text/xml"; boundary="b1"`
	body := append(append([]byte("--b1\r\nContent-Type: text/xml; charset=UTF-8\r\n\r\n"), resp...), "\r\n--b1\r\nContent-Type: text/plain\r\n\r\nƏlavə\r\n--b1--\r\n"...)
	m := mustParse(t, body, ct, false)
	sum := RequestHashOf([]byte("request"))
	out, err := m.InsertRequestHash(sum)
	if err != nil {
		t.Fatal(err)
	}
	got := mustParse(t, out, ct, false)
	if !bytes.Equal(got.Header.RequestHash.Value, sum) || len(got.Attachments) != 1 || string(got.Attachments[0].Body) != "Əlavə" {
		t.Fatalf("%+v %d attachments", got.Header.RequestHash, len(got.Attachments))
	}
	if len(out) <= len(body) || !bytes.HasPrefix(out, body[:bytes.Index(body, []byte("</xrd:id>"))]) {
		t.Fatal("multipart framing changed")
	}
}

func TestInsertRequestHashErrors(t *testing.T) {
	m := mustParse(t, load(t, "response.xml"), "", false)
	if _, err := m.InsertRequestHash(make([]byte, 32)); err == nil {
		t.Error("accepted a 32-byte digest")
	}
	f := mustParse(t, load(t, "fault.xml"), "", false)
	if _, err := f.InsertRequestHash(make([]byte, 64)); err == nil {
		t.Error("inserted into a fault without id")
	}
}

func TestCheckResponse(t *testing.T) {
	reqRaw := load(t, "request.xml")
	req := mustParse(t, reqRaw, "", true)
	resp := string(load(t, "response.xml"))
	withHash := func(t *testing.T, s string, sum []byte) *Message {
		m := mustParse(t, []byte(s), "", false)
		out, err := m.InsertRequestHash(sum)
		if err != nil {
			t.Fatal(err)
		}
		return mustParse(t, out, "", false)
	}
	good := RequestHashOf(reqRaw)
	const inconsistent = "Server.ClientProxy.ServiceFailed.InconsistentResponse"
	tests := []struct {
		name, resp string
		sum        []byte
		code       string // "" = accepted
	}{
		{name: "consistent", resp: resp, sum: good},
		{name: "changed id", resp: strings.Replace(resp, "6f1c2a9e-", "7f1c2a9e-", 1), sum: good, code: inconsistent},
		{name: "changed userId", resp: strings.Replace(resp, "AZ1234567", "AZ7654321", 1), sum: good, code: inconsistent},
		{name: "removed userId", resp: string(cutElement([]byte(resp), "xrd:userId")), sum: good, code: inconsistent},
		{name: "changed issue", resp: strings.Replace(resp, "ƏMDK-2026-001", "ƏMDK-2026-002", 1), sum: good, code: inconsistent},
		{name: "changed client", resp: strings.Replace(resp, "<id:memberCode>EMDK<", "<id:memberCode>DSMF<", 1), sum: good, code: inconsistent},
		{name: "changed service version", resp: strings.Replace(resp, "<id:serviceVersion>v1<", "<id:serviceVersion>v2<", 1), sum: good, code: inconsistent},
		{name: "added representedParty", resp: strings.Replace(resp, "<xrd:protocolVersion>", `<repr:representedParty xmlns:repr="http://x-road.eu/xsd/representation.xsd"><repr:partyCode>1400057421</repr:partyCode></repr:representedParty><xrd:protocolVersion>`, 1), sum: good, code: inconsistent},
		{name: "wrong hash", resp: resp, sum: RequestHashOf(append(reqRaw, ' ')), code: "Server.ClientProxy.InconsistentResponse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckResponse(req, withHash(t, tc.resp, tc.sum))
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if f, ok := err.(*Fault); !ok || f.Code != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}

	t.Run("missing hash", func(t *testing.T) {
		err := CheckResponse(req, mustParse(t, []byte(resp), "", false))
		if f, ok := err.(*Fault); !ok || f.Code != "Server.ClientProxy.InconsistentResponse" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("undecodable hash", func(t *testing.T) {
		s := strings.Replace(resp, "<xrd:protocolVersion>", `<xrd:requestHash algorithmId="`+HashAlgorithmSHA512+`">*not base64*</xrd:requestHash><xrd:protocolVersion>`, 1)
		if err := CheckResponse(req, mustParse(t, []byte(s), "", false)); !HasCode(err, "Server.ClientProxy.InconsistentResponse") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("line-wrapped base64 with another algorithm", func(t *testing.T) {
		s := strings.Replace(resp, "<xrd:protocolVersion>", `<xrd:requestHash algorithmId="http://www.w3.org/2001/04/xmlenc#sha256">
            `+base64.StdEncoding.EncodeToString(mustSHA256(reqRaw))[:20]+"\n            "+base64.StdEncoding.EncodeToString(mustSHA256(reqRaw))[20:]+`
        </xrd:requestHash><xrd:protocolVersion>`, 1)
		if err := CheckResponse(req, mustParse(t, []byte(s), "", false)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fault", func(t *testing.T) {
		f := mustParse(t, load(t, "fault.xml"), "", false)
		if err := CheckResponse(req, f); err != error(f.Fault) {
			t.Fatalf("got %v", err)
		}
	})
}

func mustSHA256(b []byte) []byte {
	s, _ := hashFor("http://www.w3.org/2001/04/xmlenc#sha256", b)
	return s
}

// SOAPDigest follows m.SOAP when it is set to other bytes after a first
// call, as a proxy that rewrote a message before signing it would.
func TestSOAPDigestFollowsSOAP(t *testing.T) {
	req := mustParse(t, load(t, "request.xml"), "text/xml; charset=UTF-8", true)
	if got := req.SOAPDigest(); !bytes.Equal(got, RequestHashOf(req.SOAP)) {
		t.Fatal("the digest is not the SOAP part's")
	}
	for _, soap := range [][]byte{
		bytes.Replace(req.SOAP, []byte("<"), []byte("< "), 1), // other bytes, another length
		bytes.Clone(req.SOAP[:len(req.SOAP)-1]),               // a prefix
		nil,
	} {
		req.SOAP = soap
		if got := req.SOAPDigest(); !bytes.Equal(got, RequestHashOf(soap)) {
			t.Fatalf("after SOAP was set to %d other bytes the digest is still the old one's", len(soap))
		}
	}
}
