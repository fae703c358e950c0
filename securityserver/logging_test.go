package securityserver_test

import (
	"crypto/sha512"
	"net/http"
	"testing"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/messagelog"
	"github.com/sluz/sluz/securityserver/signature"
)

// TestExchangesAreLogged: after an exchange both servers hold the signed
// request and response, chained, and each logged signature verifies over
// the logged message (what an auditor will check).
func TestExchangesAreLogged(t *testing.T) {
	e := e2eNew(t)
	id := e.newID(t)
	req := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", id, "<fin>5ZJ8K2L</fin>")
	e2eWantAnswer(t, e.call(t, "EMDK", req), req)
	// A refused call is not logged as an exchange at the provider.
	refused := e2eRequest(t, "AZ/GOV/DSMF/insurance", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
	e.call(t, "DSMF", refused)

	for _, tc := range []struct {
		agency string
		side   messagelog.Side
	}{{"EMDK", messagelog.ClientSide}, {"DIN", messagelog.ServerSide}} {
		log := e.agency(tc.agency).Server.MessageLog()
		var got []*messagelog.Record
		err := log.Each(0, func(r *messagelog.Record, _ []byte) error {
			if r.MessageID == id {
				got = append(got, r)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Kind != messagelog.Request || got[1].Kind != messagelog.Response || got[0].Side != tc.side {
			t.Fatalf("%s log holds %d records for %s: %+v", tc.agency, len(got), id, got)
		}
		if string(got[0].Message) != string(req) {
			t.Errorf("%s logged request differs from the bytes the IS sent", tc.agency)
		}
		for _, r := range got {
			sum := sha512.Sum512(r.Message)
			if string(sum[:]) != string(r.MessageDigest) {
				t.Errorf("%s %s: digest mismatch", tc.agency, r.Kind)
			}
			if _, err := signature.Verify(r.Signature, signature.Part{URI: "/message.xml", Data: r.Message, MimeType: "text/xml"}); err != nil {
				t.Errorf("%s %s: the logged signature does not verify: %v", tc.agency, r.Kind, err)
			}
		}
		if res, err := log.Check(); err != nil || !res.OK() {
			t.Fatalf("%s chain: %+v %v", tc.agency, res, err)
		}
	}
	var dinRefused int
	e.agency("DIN").Server.MessageLog().Each(0, func(r *messagelog.Record, _ []byte) error {
		if r.Client == "AZ/GOV/DSMF/insurance" {
			dinRefused++
		}
		return nil
	})
	if dinRefused != 0 {
		t.Errorf("DİN logged %d records of a call it refused", dinRefused)
	}
}

// TestDigestOnlyLogging: a subsystem marked digestOnly has its messages
// logged without bodies, and the logged signature still verifies against
// the digest alone.
func TestDigestOnlyLogging(t *testing.T) {
	e := e2eNew(t)
	var extra *securityserver.Server
	addr := startExtraServer(t, e, func(c *config.Config) {
		client, _ := identifier.ParseClient("AZ/GOV/EMDK/realestate")
		c.MessageLog.DigestOnly = []identifier.Client{client}
	}, &extra)
	id := e.newID(t)
	req := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", id, "<fin>5ZJ8K2L</fin>")
	e2eWantAnswer(t, e2eDo(t, http.MethodPost, "http://"+addr+"/", "text/xml; charset=UTF-8", req), req)
	n := 0
	extra.MessageLog().Each(0, func(r *messagelog.Record, _ []byte) error {
		n++
		if r.Message != nil {
			t.Errorf("%s body logged despite digestOnly", r.Kind)
		}
		if r.Kind == messagelog.Request {
			if sum := sha512.Sum512(req); string(sum[:]) != string(r.MessageDigest) {
				t.Error("request digest is not SHA-512 of the request")
			}
		}
		return nil
	})
	if n != 2 {
		t.Fatalf("%d records, want 2", n)
	}
}

// TestLoggingFailureIsNotSuccess: when the log cannot be written, the IS gets
// the LoggingFailed fault, never the answer.
func TestLoggingFailureIsNotSuccess(t *testing.T) {
	e := e2eNew(t)
	e.agency("EMDK").Server.MessageLog().Close() // as if the disk had gone away
	req := e2eRequest(t, "AZ/GOV/EMDK/realestate", "AZ/GOV/DIN/population/getPersonByFin/v1", e.newID(t), "<fin>5ZJ8K2L</fin>")
	f := e2eWantFault(t, e.call(t, "EMDK", req), message.Code(message.ClientProxy, message.LoggingFailed))
	e2eContains(t, f, "could not be logged")
}
