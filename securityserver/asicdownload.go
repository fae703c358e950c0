package securityserver

import (
	"archive/zip"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/audit"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// X-Road's signed document download service (the proxy's /asic and
// /verificationconf, described in X-Road's "Signed Document Download and
// Verification Manual"), served on the admin listener.

// asicQuery is one /asic request: the exchange's query id (xrd:id), the
// client it was logged for (the record's client, as X-Road's
// LogRecordManager matches it) and which side of the exchange.
type asicQuery struct {
	queryID string
	client  string
	kind    messagelog.Kind // 0: requests and responses
	unique  bool
}

// asicError is an answer with a status and a plain-text body.
type asicError struct {
	status int
	msg    string
}

func (e *asicError) Error() string { return e.msg }

// parseAsicQuery reads X-Road's parameters. The flags requestOnly,
// responseOnly and unique count when present, whatever their value.
func parseAsicQuery(r *http.Request) (*asicQuery, error) {
	v := r.URL.Query()
	param := func(name string) (string, error) {
		s := v.Get(name)
		if s == "" {
			return "", &asicError{http.StatusBadRequest, fmt.Sprintf("Parameter %q must be specified.", name)}
		}
		return s, nil
	}
	q := &asicQuery{}
	var c identifier.Client
	var err error
	for _, p := range []struct {
		name string
		dst  *string
	}{{"queryId", &q.queryID}, {"xRoadInstance", &c.Instance}, {"memberClass", &c.MemberClass}, {"memberCode", &c.MemberCode}} {
		if *p.dst, err = param(p.name); err != nil {
			return nil, err
		}
	}
	c.SubsystemCode = v.Get("subsystemCode")
	q.client = c.String()
	requestOnly, responseOnly := v.Has("requestOnly"), v.Has("responseOnly")
	q.unique = v.Has("unique")
	switch {
	case requestOnly && responseOnly:
		return nil, &asicError{http.StatusBadRequest, `Parameters "requestOnly" and "responseOnly" cannot be used at the same time.`}
	case requestOnly:
		q.kind = messagelog.Request
	case responseOnly:
		q.kind = messagelog.Response
	case q.unique:
		return nil, &asicError{http.StatusBadRequest, `Parameter "unique" not applicable without "requestOnly" or "responseOnly".`}
	}
	return q, nil
}

func (q *asicQuery) matches(r *messagelog.Record) bool {
	return r.MessageID == q.queryID && r.Client == q.client && (q.kind == 0 || r.Kind == q.kind)
}

// errStop ends a scan of the log early.
var errStop = errors.New("stop")

// handleAsic serves GET /asic: the ASiC-E containers of the exchange's
// records still in the live log (archived ones are in the archive files),
// as a zip of QUERYID-request-SEQ.asice and QUERYID-response-SEQ.asice, or
// with unique the one container itself. It reads the log twice: once to
// find the records (so that a miss is a 404, not a broken zip), once to
// stream their containers.
func (s *Server) handleAsic(w http.ResponseWriter, r *http.Request) {
	q, err := parseAsicQuery(r)
	if err != nil {
		asicFail(w, err)
		return
	}
	if s.mlog == nil || s.mlog.Closed() {
		http.Error(w, "the message log is closed", http.StatusServiceUnavailable)
		return
	}
	var seqs []uint64
	err = s.mlog.Each(1, func(rec *messagelog.Record, _ []byte) error {
		if q.matches(rec) {
			seqs = append(seqs, rec.Seq)
			if q.unique {
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		s.log.Error("asic: reading the message log", "err", err)
		http.Error(w, "reading the message log failed", http.StatusInternalServerError)
		return
	}
	if len(seqs) == 0 {
		http.Error(w, "No signed documents found", http.StatusNotFound)
		return
	}
	batches, err := s.mlog.Batches()
	if err != nil {
		s.log.Error("asic: reading the message log", "err", err)
		http.Error(w, "reading the message log failed", http.StatusInternalServerError)
		return
	}
	for _, seq := range seqs {
		if !stamped(batches, seq) {
			// X-Road answers 500 with this text while a record waits for its
			// time-stamp (its `force` stamps it at once; here the batch
			// closes within timestamping.interval).
			http.Error(w, "Message signature has not been timestamped yet!", http.StatusInternalServerError)
			return
		}
	}
	want := make(map[uint64]bool, len(seqs))
	for _, seq := range seqs {
		want[seq] = true
	}
	last := seqs[len(seqs)-1]
	name := asicEscape(q.queryID)
	if q.unique {
		w.Header().Set("Content-Type", "application/vnd.etsi.asic-e+zip")
		w.Header().Set("Content-Disposition", `attachment; filename="`+asicEntryName(q.queryID, q.kind, seqs[0])+`"`)
		err = s.mlog.Each(seqs[0], func(rec *messagelog.Record, stored []byte) error {
			if rec.Seq != seqs[0] {
				return fmt.Errorf("record %d: the log gave record %d", seqs[0], rec.Seq)
			}
			if err := audit.WriteContainer(w, s.mlog, rec, stored); err != nil {
				return err
			}
			return errStop
		})
	} else {
		switch q.kind {
		case messagelog.Request:
			name += "-request"
		case messagelog.Response:
			name += "-response"
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.zip"`)
		zw := zip.NewWriter(w)
		err = s.mlog.Each(seqs[0], func(rec *messagelog.Record, stored []byte) error {
			if want[rec.Seq] {
				// Stored: the containers are zips already.
				f, err := zw.CreateHeader(&zip.FileHeader{Name: asicEntryName(q.queryID, rec.Kind, rec.Seq), Method: zip.Store, Modified: rec.Time})
				if err != nil {
					return err
				}
				if err := audit.WriteContainer(f, s.mlog, rec, stored); err != nil {
					return err
				}
			}
			if rec.Seq >= last {
				return errStop
			}
			return nil
		})
		if err == nil || errors.Is(err, errStop) {
			err = zw.Close()
		}
	}
	if err != nil && !errors.Is(err, errStop) {
		// The status is sent: the client sees a truncated download.
		s.log.Error("asic: writing containers", "query_id", q.queryID, "err", err)
	}
}

func asicFail(w http.ResponseWriter, err error) {
	var ae *asicError
	if errors.As(err, &ae) {
		http.Error(w, ae.msg, ae.status)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func stamped(batches []*messagelog.Batch, seq uint64) bool {
	for _, b := range batches {
		if b.FirstSeq <= seq && seq <= b.LastSeq {
			return true
		}
	}
	return false
}

// asicEntryName is X-Road's container name: the escaped query id (at most
// 226 characters), the kind and the record's number in base 32.
func asicEntryName(queryID string, kind messagelog.Kind, seq uint64) string {
	id := asicEscape(queryID)
	if len(id) > 226 {
		id = id[:226]
	}
	k := "request"
	if kind == messagelog.Response {
		k = "response"
	}
	return id + "-" + k + "-" + strconv.FormatUint(seq, 32) + ".asice"
}

// asicEscape is X-Road's file-name escaping of a query id: form URL
// encoding (letters, digits and . - * _ kept, space as +, the rest %XX).
func asicEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '*', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// verificationREADME goes into verificationconf.zip.
const verificationREADME = `Verification configuration of an X-Road/Şlüz federation
=========================================================

Taken from the global configuration this security server holds:

  ca/*.pem      the federation's approved CA certificates (the trust anchors)
                and their intermediate (issuing) CA certificates
  tsa/*.pem     the approved time-stamping authorities' certificates
  ocsp/*.pem    the OCSP responder certificates that signed this server's
                own current OCSP responses (a CA's delegated responders;
                the responses in signatures carry them too), for checking
                OCSP responses offline:
                openssl ocsp -respin ocsp.der -CAfile ca/NAME.pem \
                    -verify_other ca/NAME-issuer-1.pem -verify_other ocsp/NAME.pem
  anchor.xml    the configuration anchor this server was set up with (it
                names the registry and the key the global configuration
                is signed with)

With the message log (a copy from /messagelog/backup) and its archives:

  logaudit verify --log copy.db --archives archive/ --ca ca/NAME.pem [--ca ca/NAME-issuer-1.pem ...]

Give every ca/*.pem with --ca: records verify only if signed by certificates
of approved CAs (with the OCSP responses the signatures carry) and their
batches' time-stamp tokens come from TSAs whose certificates chain to them.

Containers downloaded from /asic (unzip the download first) are in X-Road's
layout: their signature, signature and time-stamp hash chains, batch
time-stamp and OCSP response check with

  logaudit verify --xroad QUERYID-request-1.asice --ca ca/NAME.pem [--ca ...] --tsa-ca tsa/NAME.pem

or with independent tools (unzip the container first):

  python3 verify-hashchain.py .     (Şlüz's scripts/verify-hashchain.py)
  openssl ts -verify -token_in -in META-INF/timestamp.tst -data ts-hashchainresult.xml -CAfile ca/NAME.pem -untrusted ca/NAME-issuer-1.pem

A record time-stamped before Şlüz used X-Road's time-stamp hash chain comes
in Şlüz's earlier layout (META-INF/ts-proof.json): "logaudit proof" prints
the Merkle root its token covers and the openssl command.
`

// handleVerificationConf serves GET /verificationconf: what an offline
// auditor trusts, from the current global configuration, as a zip, with
// the OCSP responder certificates that signed this server's own status
// responses.
func (s *Server) handleVerificationConf(w http.ResponseWriter, _ *http.Request) {
	snap, err := s.snapshot()
	if err != nil {
		http.Error(w, "no valid global configuration: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	anchor, err := os.ReadFile(s.cfg.Anchor)
	if err != nil {
		s.log.Error("verificationconf: reading the configuration anchor", "err", err)
		http.Error(w, "reading the configuration anchor failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="verificationconf.zip"`)
	zw := zip.NewWriter(w)
	put := func(name string, data []byte) error {
		f, err := zw.Create("verificationconf/" + name)
		if err == nil {
			_, err = f.Write(data)
		}
		return err
	}
	pemOf := func(certs ...*x509.Certificate) []byte {
		var b []byte
		for _, c := range certs {
			b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		return b
	}
	err = put("README.txt", []byte(verificationREADME))
	if err == nil {
		err = put("anchor.xml", anchor)
	}
	for i, ca := range snap.Trust.ApprovedCAs {
		if err == nil {
			err = put(fmt.Sprintf("ca/%s.pem", pemName(ca.Name, i)), pemOf(ca.Cert))
		}
		for j, c := range ca.Issuers {
			if err == nil {
				err = put(fmt.Sprintf("ca/%s-issuer-%d.pem", pemName(ca.Name, i), j+1), pemOf(c))
			}
		}
	}
	for i, t := range snap.Trust.TSAs {
		if err == nil {
			err = put(fmt.Sprintf("tsa/%s.pem", pemName(t.Name, i)), pemOf(t.Cert))
		}
	}
	// The global configuration names responders by URL only; their
	// certificates are known from the responses they signed.
	names := map[string]bool{}
	for i, c := range s.status.responders() {
		name := pemName(c.Subject.CommonName, i)
		for names[name] {
			name += "-" + strconv.Itoa(i+1)
		}
		names[name] = true
		if err == nil {
			err = put(fmt.Sprintf("ocsp/%s.pem", name), pemOf(c))
		}
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		s.log.Error("verificationconf: writing the zip", "err", err)
	}
}

// pemName is a file name for a certificate named name (the i-th of its
// list when the name has nothing usable).
func pemName(name string, i int) string {
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
	if strings.Trim(n, "_.") == "" {
		n = "cert-" + strconv.Itoa(i+1)
	}
	return n
}
