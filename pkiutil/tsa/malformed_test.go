package tsa

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/der"
)

// Hand-built request pieces.
func imprintDER(alg asn1.ObjectIdentifier, params []byte, digest []byte) []byte {
	algID := der.TLV(der.TagSequence, der.MustOID(alg))
	if params != nil {
		algID = der.TLV(der.TagSequence, der.MustOID(alg), params)
	}
	return der.TLV(der.TagSequence, algID, der.TLV(der.TagOctetString, digest))
}

func extensionDER(oid asn1.ObjectIdentifier, critical bool) []byte {
	if critical {
		return der.TLV(der.TagSequence, der.MustOID(oid), der.Bool(true), der.TLV(der.TagOctetString, []byte{0x05, 0x00}))
	}
	return der.TLV(der.TagSequence, der.MustOID(oid), der.TLV(der.TagOctetString, []byte{0x05, 0x00}))
}

func pseudoRandom(n int) []byte {
	var out []byte
	seed := sha256.Sum256([]byte("random bytes"))
	for len(out) < n {
		out = append(out, seed[:]...)
		seed = sha256.Sum256(seed[:])
	}
	return out[:n]
}

func TestServeHTTPMalformed(t *testing.T) {
	p := fixture(t)
	var logBuf bytes.Buffer
	a := newTestAuthority(t, p, p.ecTSA, nil)
	a.ErrorLog = log.New(&logBuf, "", 0)
	srv := startServer(t, a)

	digest := digestOf("malformed")
	good := imprintDER(der.OIDSHA256, der.Null, digest)
	nonce := der.Integer(big.NewInt(99))
	valid := der.TLV(der.TagSequence, derIntegerOne, good, nonce, der.Bool(true))
	const none = -2 // no TimeStampResp expected

	for _, tc := range []struct {
		name        string
		method      string
		contentType string
		body        []byte
		wantHTTP    int
		wantStatus  int
		wantFail    int
	}{
		{"valid", "POST", ContentTypeQuery, valid, 200, StatusGranted, -1},
		{"content type parameters", "POST", ContentTypeQuery + "; foo=bar", valid, 200, StatusGranted, -1},
		{"empty body", "POST", ContentTypeQuery, nil, 200, StatusRejection, FailBadDataFormat},
		{"random bytes", "POST", ContentTypeQuery, pseudoRandom(300), 200, StatusRejection, FailBadDataFormat},
		{"truncated DER", "POST", ContentTypeQuery, valid[:len(valid)-4], 200, StatusRejection, FailBadDataFormat},
		{"truncated header", "POST", ContentTypeQuery, valid[:1], 200, StatusRejection, FailBadDataFormat},
		{"trailing garbage", "POST", ContentTypeQuery, append(bytes.Clone(valid), 0xde, 0xad), 200, StatusRejection, FailBadDataFormat},
		{"trailing element", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, good, nonce, der.Bool(true), derIntegerOne), 200, StatusRejection, FailBadDataFormat},
		{"fields out of order", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, good, der.Bool(true), nonce), 200, StatusRejection, FailBadDataFormat},
		{"indefinite length", "POST", ContentTypeQuery, append(append([]byte{0x30, 0x80}, derIntegerOne...), 0, 0), 200, StatusRejection, FailBadDataFormat},
		{"SET instead of SEQUENCE", "POST", ContentTypeQuery, der.TLV(der.TagSet, derIntegerOne, good), 200, StatusRejection, FailBadDataFormat},
		{"wrong version", "POST", ContentTypeQuery, der.TLV(der.TagSequence, der.Integer(big.NewInt(2)), good), 200, StatusRejection, FailBadDataFormat},
		{"SHA-1", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, imprintDER(der.OIDSHA1, der.Null, make([]byte, 20))), 200, StatusRejection, FailBadAlg},
		{"unknown hash OID", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, imprintDER(asn1.ObjectIdentifier{1, 2, 3, 4}, nil, digest)), 200, StatusRejection, FailBadAlg},
		{"hash with parameters", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, imprintDER(der.OIDSHA256, derIntegerOne, digest)), 200, StatusRejection, FailBadAlg},
		{"digest length mismatch", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, imprintDER(der.OIDSHA256, der.Null, digest[:20])), 200, StatusRejection, FailBadDataFormat},
		{"hash absent parameters", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, imprintDER(der.OIDSHA256, nil, digest)), 200, StatusGranted, -1},
		{"accepted policy", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, good, der.MustOID(testPolicy)), 200, StatusGranted, -1},
		{"unacceptable policy", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, good, der.MustOID(asn1.ObjectIdentifier{1, 2, 3, 4, 5})), 200, StatusRejection, FailUnacceptedPolicy},
		{"critical unknown extension", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, good, der.TLV(der.ContextCons(0), extensionDER(asn1.ObjectIdentifier{1, 2, 3, 9}, true))), 200, StatusRejection, FailUnacceptedExtension},
		{"non-critical unknown extension", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, good, der.TLV(der.ContextCons(0), extensionDER(asn1.ObjectIdentifier{1, 2, 3, 9}, false))), 200, StatusGranted, -1},
		{"empty extensions", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, good, der.TLV(der.ContextCons(0))), 200, StatusRejection, FailBadDataFormat},
		{"invalid BOOLEAN", "POST", ContentTypeQuery, der.TLV(der.TagSequence, derIntegerOne, good, []byte{0x01, 0x01, 0x01}), 200, StatusRejection, FailBadDataFormat},
		{"non-minimal INTEGER", "POST", ContentTypeQuery, der.TLV(der.TagSequence, []byte{0x02, 0x02, 0x00, 0x01}, good), 200, StatusRejection, FailBadDataFormat},
		{"body over the cap", "POST", ContentTypeQuery, make([]byte, MaxRequestSize+1), 413, StatusRejection, FailBadDataFormat},
		{"GET", "GET", "", nil, 405, none, 0},
		{"PUT", "PUT", ContentTypeQuery, valid, 405, none, 0},
		{"wrong content type", "POST", "application/octet-stream", valid, 415, none, 0},
		{"no content type", "POST", "", valid, 415, none, 0},
		{"valid afterwards", "POST", ContentTypeQuery, valid, 200, StatusGranted, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			hr, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer hr.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(hr.Body)
			if hr.StatusCode != tc.wantHTTP {
				t.Fatalf("HTTP status %d, want %d (%s)", hr.StatusCode, tc.wantHTTP, body.String())
			}
			if tc.wantHTTP == 405 && hr.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", hr.Header.Get("Allow"))
			}
			if tc.wantStatus == none {
				return
			}
			if ct := hr.Header.Get("Content-Type"); ct != ContentTypeReply {
				t.Fatalf("Content-Type %q", ct)
			}
			resp, err := ParseResponse(body.Bytes())
			if err != nil {
				t.Fatalf("ParseResponse: %v", err)
			}
			if resp.Status != tc.wantStatus || resp.FailInfo != tc.wantFail {
				t.Fatalf("status %d failInfo %d, want %d %d (%q)", resp.Status, resp.FailInfo, tc.wantStatus, tc.wantFail, resp.StatusText)
			}
			if resp.Status == StatusRejection && (len(resp.StatusText) == 0 || resp.StatusText[0] == "") {
				t.Error("rejection without statusString")
			}
			if resp.Status == StatusRejection {
				t.Logf("statusString: %q", resp.StatusText)
			}
		})
	}
	if logBuf.Len() != 0 {
		t.Errorf("client errors were logged as internal failures:\n%s", logBuf.String())
	}
}

type failingSerials struct{}

func (failingSerials) Next() (*big.Int, error) { return nil, errors.New("disk on fire") }

type panickingSerials struct{}

func (panickingSerials) Next() (*big.Int, error) { panic("boom") }

func TestServeHTTPSystemFailure(t *testing.T) {
	p := fixture(t)
	digest := digestOf("system failure")
	der := der.TLV(der.TagSequence, derIntegerOne, imprintDER(der.OIDSHA256, der.Null, digest))
	for _, tc := range []struct {
		name    string
		a       *Authority
		wantLog string
	}{
		{"serial source error", newTestAuthority(t, p, p.ecTSA, failingSerials{}), "disk on fire"},
		{"serial source panic", newTestAuthority(t, p, p.ecTSA, panickingSerials{}), "boom"},
		{"zero Authority", &Authority{}, "NewAuthority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			tc.a.ErrorLog = log.New(&logBuf, "", 0)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/", bytes.NewReader(der))
			req.Header.Set("Content-Type", ContentTypeQuery)
			tc.a.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("HTTP %d", rec.Code)
			}
			resp, err := ParseResponse(rec.Body.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != StatusRejection || resp.FailInfo != FailSystemFailure {
				t.Fatalf("status %d failInfo %d", resp.Status, resp.FailInfo)
			}
			if strings.Contains(strings.Join(resp.StatusText, " "), tc.wantLog) {
				t.Errorf("internal detail leaked to the client: %q", resp.StatusText)
			}
			if !strings.Contains(logBuf.String(), tc.wantLog) {
				t.Errorf("log %q does not mention %q", logBuf.String(), tc.wantLog)
			}
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	digest := digestOf("x")
	for _, tc := range []struct {
		name string
		der  []byte
		fail int
	}{
		{"empty", nil, FailBadDataFormat},
		{"version 0", der.TLV(der.TagSequence, der.Integer(big.NewInt(0)), imprintDER(der.OIDSHA256, nil, digest)), FailBadDataFormat},
		{"MD5", der.TLV(der.TagSequence, derIntegerOne, imprintDER(asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}, der.Null, make([]byte, 16))), FailBadAlg},
		{"critical extension", der.TLV(der.TagSequence, derIntegerOne, imprintDER(der.OIDSHA256, nil, digest), der.TLV(der.ContextCons(0), extensionDER(oidExtKeyUsage, true))), FailUnacceptedExtension},
		{"missing imprint", der.TLV(der.TagSequence, derIntegerOne), FailBadDataFormat},
		{"constructed OCTET STRING", der.TLV(der.TagSequence, derIntegerOne, der.TLV(der.TagSequence, der.TLV(der.TagSequence, der.MustOID(der.OIDSHA256)), der.TLV(0x24, der.TLV(der.TagOctetString, digest)))), FailBadDataFormat},
	} {
		_, err := ParseRequest(tc.der)
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v is not a *RequestError", tc.name, err)
			continue
		}
		if re.FailInfo != tc.fail {
			t.Errorf("%s: failInfo %d, want %d (%v)", tc.name, re.FailInfo, tc.fail, err)
		}
	}
}
