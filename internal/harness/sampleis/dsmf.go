package sampleis

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
)

// DSMFNamespace is the target namespace of the DSMF insurance services.
const DSMFNamespace = "http://dsmf.gov.az/xroad/insurance/v1"

var voenPattern = regexp.MustCompile(`^[0-9]{10}$`)

// DSMF returns the Dövlət Sosial Müdafiə Fondu insurance register, X-Road
// subsystem AZ/GOV/DSMF/insurance, services getInsuredPerson (v1) and
// submitQuarterlyReport (v1). Each call returns a handler with its own empty,
// in-memory store of accepted quarterly reports (lost on restart).
// submitQuarterlyReport may carry the report document itself as a SOAP
// attachment (SwA), referred to by <reportFile>cid:…</reportFile>.
func DSMF() http.Handler {
	st := &reportStore{byKey: map[reportKey]storedReport{}}
	return &service{
		name:   "DSMF insurance",
		ns:     DSMFNamespace,
		prefix: "dsmf",
		wsdl:   "dsmf-insurance.wsdl",
		ops: []operation{
			{code: "getInsuredPerson", version: "v1", fields: []string{"fin"}, run: getInsuredPerson},
			{code: "submitQuarterlyReport", version: "v1",
				fields: []string{"voen", "year", "quarter", "form", "insuredCount", "totalContributions", "reportFile"},
				runAtt: st.submit},
		},
	}
}

func getInsuredPerson(req map[string]string, resp *etree.Element) error {
	fin, err := requireFIN(req, "fin")
	if err != nil {
		return err
	}
	ip, ok := insuredByFIN(fin)
	person, known := personByFIN(fin)
	if !ok || !known {
		return notFound("FİN %s üzrə sığortaolunan şəxs tapılmadı", fin)
	}
	e := resp.CreateElement("insuredPerson")
	addText(e, "insuranceNumber", ip.InsuranceNumber)
	addText(e, "fin", fin)
	addText(e, "surname", person.Surname)
	addText(e, "name", person.Name)
	addText(e, "patronymic", person.Patronymic)
	addText(e, "birthDate", person.BirthDate)
	for _, p := range ip.Periods {
		if p.End != "" {
			continue
		}
		emp, _ := employerByVOEN(p.InsurerVOEN)
		ee := e.CreateElement("employer")
		addText(ee, "voen", emp.VOEN)
		addText(ee, "name", emp.Name)
		addOpt(ee, "position", p.Position)
		addText(ee, "since", p.Start)
	}
	for _, p := range ip.Periods {
		emp, _ := employerByVOEN(p.InsurerVOEN)
		pe := e.CreateElement("insurancePeriod")
		addText(pe, "startDate", p.Start)
		addOpt(pe, "endDate", p.End)
		addText(pe, "insurerVoen", emp.VOEN)
		addText(pe, "insurerName", emp.Name)
		addText(pe, "insuredAs", p.InsuredAs)
	}
	years, months := insuranceRecord(ip.Periods)
	r := e.CreateElement("insuranceRecord")
	addText(r, "years", strconv.Itoa(years))
	addText(r, "months", strconv.Itoa(months))
	addText(e, "lastContributionMonth", ip.LastMonth)
	pe := e.CreateElement("pension")
	addText(pe, "status", ip.Pension.Status)
	addOpt(pe, "pensionType", ip.Pension.Type)
	addOpt(pe, "grantedDate", ip.Pension.GrantedDate)
	addOpt(pe, "monthlyAmount", ip.Pension.MonthlyAmount)
	return nil
}

type reportKey struct {
	voen    string
	year    int
	quarter int
	form    string
}

// quarterlyReport is what a report declares: the SOAP request's fields, or
// those of an attached XML report.
type quarterlyReport struct {
	reportKey
	insured int
	cents   int64
}

func (r quarterlyReport) String() string {
	return fmt.Sprintf("VÖEN %s, %d-Q%d, form %s, %d insured, %s manat", r.voen, r.year, r.quarter, r.form, r.insured, formatCenti(r.cents))
}

// storedReport is an accepted report: what it declared, its registration
// number, when it was received and the SHA-256 of its attached file (""
// for an inline report).
type storedReport struct {
	report   quarterlyReport
	reg      string
	received time.Time
	digest   string
}

// reportStore keeps the accepted quarterly reports by VÖEN + year + quarter
// + form.
type reportStore struct {
	mu    sync.Mutex
	seq   int
	byKey map[reportKey]storedReport
}

var quarterNames = [...]string{"", "I", "II", "III", "IV"}

// MaxReportFileBytes caps an attached report file (PDF or XML).
const MaxReportFileBytes = 512 << 10

// reportFields are the fields of a quarterly report, in the SOAP request and
// in an attached XML report (<quarterlyReport> in DSMFNamespace).
var reportFields = []string{"voen", "year", "quarter", "form", "insuredCount", "totalContributions"}

// parseReport validates a report's fields.
func parseReport(req map[string]string) (quarterlyReport, error) {
	var r quarterlyReport
	voen, err := requireField(req, "voen")
	if err != nil {
		return r, err
	}
	if !voenPattern.MatchString(voen) {
		return r, clientFault("invalid_voen", "invalid VÖEN %q: a VÖEN is 10 digits", voen)
	}
	r.voen = voen
	if r.year, err = intField(req, "year", 2000, 2100); err != nil {
		return r, err
	}
	if r.quarter, err = intField(req, "quarter", 1, 4); err != nil {
		return r, err
	}
	if r.form, err = requireField(req, "form"); err != nil {
		return r, err
	}
	if r.form != "B1" && r.form != "B2" && r.form != "B3" {
		return r, clientFault("invalid_form", "invalid report form %q: use B1, B2 or B3", r.form)
	}
	if r.insured, err = intField(req, "insuredCount", 0, 10_000_000); err != nil {
		return r, err
	}
	total, err := requireField(req, "totalContributions")
	if err != nil {
		return r, err
	}
	if r.cents = centi(total); r.cents < 0 {
		return r, clientFault("invalid_field", "invalid totalContributions %q: a non-negative amount in manat with at most 2 decimals (e.g. 18650.40)", total)
	}
	return r, nil
}

// reportFile is a report document attached to the request.
type reportFile struct {
	attachment
	mediaType string
	digest    string // SHA-256, hex
}

// attachedReport finds the attachment ref (cid:…) names, the only one the
// request may carry, and checks it: a PDF (starting %PDF-) or an XML
// <quarterlyReport> whose fields equal the declared ones, at most
// MaxReportFileBytes.
func attachedReport(ref string, atts []attachment, declared quarterlyReport) (*reportFile, error) {
	id, ok := strings.CutPrefix(ref, "cid:")
	if ok {
		id, _ = url.PathUnescape(id)
	}
	if !ok || id == "" {
		return nil, clientFault("invalid_field", "invalid <reportFile> %q: refer to the attachment by its Content-ID as cid:…", ref)
	}
	var f *reportFile
	for _, a := range atts {
		if a.contentID != id {
			return nil, clientFault("unreferenced_attachment", "attachment <%s> is not referred to by <reportFile>; send only the report file", a.contentID)
		}
		f = &reportFile{attachment: a}
	}
	if f == nil {
		return nil, clientFault("missing_attachment", "<reportFile> refers to %s, but the request has no attachment with Content-ID <%s>", ref, id)
	}
	if len(f.data) == 0 {
		return nil, clientFault("invalid_report_file", "the attached report file <%s> is empty", id)
	}
	if len(f.data) > MaxReportFileBytes {
		return nil, clientFault("report_file_too_large", "the attached report file is %d bytes; the limit is %d", len(f.data), MaxReportFileBytes)
	}
	f.mediaType, _, _ = mime.ParseMediaType(f.contentType)
	switch f.mediaType {
	case "application/pdf":
		if !bytes.HasPrefix(f.data, []byte("%PDF-")) {
			return nil, clientFault("invalid_report_file", "the attached report file is declared application/pdf but does not start with %%PDF-")
		}
	case "application/xml", "text/xml":
		doc, err := parseXML(f.data, "the attached report file")
		if err != nil {
			return nil, err
		}
		root := doc.Root()
		if root == nil || root.Tag != "quarterlyReport" || root.NamespaceURI() != DSMFNamespace {
			return nil, clientFault("invalid_report_file", "the attached XML report must be a <quarterlyReport> in namespace %q", DSMFNamespace)
		}
		fields, err := readFields(root, DSMFNamespace, reportFields)
		if err != nil {
			return nil, err
		}
		r, err := parseReport(fields)
		if f, ok := err.(*fault); ok {
			f.msg = "the attached XML report: " + f.msg
			return nil, f
		}
		if r != declared {
			return nil, clientFault("report_mismatch", "the attached report (%s) differs from the request (%s)", r, declared)
		}
	default:
		return nil, clientFault("unsupported_report_file", "the attached report file is %q; send application/pdf or application/xml", f.contentType)
	}
	sum := sha256.Sum256(f.data)
	f.digest = hex.EncodeToString(sum[:])
	return f, nil
}

func (st *reportStore) submit(req map[string]string, atts []attachment, resp *etree.Element) error {
	r, err := parseReport(req)
	if err != nil {
		return err
	}
	var file *reportFile
	if ref, ok := req["reportFile"]; ok {
		if file, err = attachedReport(ref, atts, r); err != nil {
			return err
		}
	} else if len(atts) > 0 {
		return clientFault("unreferenced_attachment", "the request carries %d attachment(s) but no <reportFile> referring to one", len(atts))
	}
	emp, ok := employerByVOEN(r.voen)
	if !ok {
		return &bodyError{code: "INSURER_NOT_FOUND", msg: fmt.Sprintf("VÖEN %s üzrə sığortaedən qeydiyyatda deyil", r.voen)}
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	k := r.reportKey
	stored, dup := st.byKey[k]
	// The same file again (an insurer's retry) gets its original receipt.
	if dup && (file == nil || stored.digest != file.digest || stored.report != r) {
		return &bodyError{code: "DUPLICATE_REPORT", msg: fmt.Sprintf(
			"VÖEN %s üzrə %s il %s rüb üçün %s forması artıq qəbul edilib (qeydiyyat nömrəsi %s)",
			r.voen, azOrdinal(k.year), quarterNames[k.quarter], k.form, stored.reg)}
	}
	if !dup {
		st.seq++
		stored = storedReport{reg: fmt.Sprintf("DSMF-%d-R%d-%s-%06d", k.year, k.quarter, k.form, st.seq), received: time.Now(), report: r}
		if file != nil {
			stored.digest = file.digest
		}
		st.byKey[k] = stored
	}

	rc := resp.CreateElement("receipt")
	addText(rc, "registrationNumber", stored.reg)
	addText(rc, "status", "qəbul edildi")
	addText(rc, "voen", r.voen)
	addText(rc, "insurerName", emp.Name)
	addText(rc, "year", strconv.Itoa(k.year))
	addText(rc, "quarter", strconv.Itoa(k.quarter))
	addText(rc, "form", k.form)
	addText(rc, "insuredCount", strconv.Itoa(r.insured))
	addText(rc, "totalContributions", formatCenti(r.cents))
	addText(rc, "receivedAt", stored.received.In(baku).Format(time.RFC3339))
	if file != nil {
		fe := rc.CreateElement("reportFile")
		addText(fe, "contentId", file.contentID)
		addText(fe, "contentType", file.mediaType)
		addText(fe, "size", strconv.Itoa(len(file.data)))
		addText(fe, "sha256", file.digest)
	}
	return nil
}

func intField(req map[string]string, name string, lo, hi int) (int, error) {
	v, err := requireField(req, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, clientFault("invalid_field", "invalid <%s> %q: an integer from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

// azOrdinal writes n as an Azerbaijani ordinal numeral: 2025-ci, 2024-cü,
// 2026-cı, 2029-cu (the suffix follows the vowel of the last spoken word).
func azOrdinal(n int) string {
	ones := [...]string{"", "ci", "ci", "cü", "cü", "ci", "cı", "ci", "ci", "cu"} // bir iki üç dörd beş altı yeddi səkkiz doqquz
	tens := [...]string{"", "cu", "ci", "cu", "cı", "ci", "cı", "ci", "ci", "cı"} // on iyirmi otuz qırx əlli altmış yetmiş səksən doxsan
	var suffix string
	switch {
	case n%10 != 0:
		suffix = ones[n%10]
	case n%100 != 0:
		suffix = tens[n/10%10]
	case n%1000 != 0:
		suffix = "cü" // yüz
	default:
		suffix = "ci" // min
	}
	return strconv.Itoa(n) + "-" + suffix
}
