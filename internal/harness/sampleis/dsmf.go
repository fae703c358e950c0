package sampleis

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
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
func DSMF() http.Handler {
	st := &reportStore{byKey: map[reportKey]string{}}
	return &service{
		name:   "DSMF insurance",
		ns:     DSMFNamespace,
		prefix: "dsmf",
		wsdl:   "dsmf-insurance.wsdl",
		ops: []operation{
			{code: "getInsuredPerson", version: "v1", fields: []string{"fin"}, run: getInsuredPerson},
			{code: "submitQuarterlyReport", version: "v1",
				fields: []string{"voen", "year", "quarter", "form", "insuredCount", "totalContributions"},
				run:    st.submit},
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

// reportStore keeps the accepted quarterly reports: registration number by
// VÖEN + year + quarter + form.
type reportStore struct {
	mu    sync.Mutex
	seq   int
	byKey map[reportKey]string
}

var quarterNames = [...]string{"", "I", "II", "III", "IV"}

func (st *reportStore) submit(req map[string]string, resp *etree.Element) error {
	voen, err := requireField(req, "voen")
	if err != nil {
		return err
	}
	if !voenPattern.MatchString(voen) {
		return clientFault("invalid_voen", "invalid VÖEN %q: a VÖEN is 10 digits", voen)
	}
	k := reportKey{voen: voen}
	if k.year, err = intField(req, "year", 2000, 2100); err != nil {
		return err
	}
	if k.quarter, err = intField(req, "quarter", 1, 4); err != nil {
		return err
	}
	if k.form, err = requireField(req, "form"); err != nil {
		return err
	}
	if k.form != "B1" && k.form != "B2" && k.form != "B3" {
		return clientFault("invalid_form", "invalid report form %q: use B1, B2 or B3", k.form)
	}
	insured, err := intField(req, "insuredCount", 0, 10_000_000)
	if err != nil {
		return err
	}
	total, err := requireField(req, "totalContributions")
	if err != nil {
		return err
	}
	cents := centi(total)
	if cents < 0 {
		return clientFault("invalid_field", "invalid totalContributions %q: a non-negative amount in manat with at most 2 decimals (e.g. 18650.40)", total)
	}
	emp, ok := employerByVOEN(voen)
	if !ok {
		return &bodyError{code: "INSURER_NOT_FOUND", msg: fmt.Sprintf("VÖEN %s üzrə sığortaedən qeydiyyatda deyil", voen)}
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if reg, dup := st.byKey[k]; dup {
		return &bodyError{code: "DUPLICATE_REPORT", msg: fmt.Sprintf(
			"VÖEN %s üzrə %s il %s rüb üçün %s forması artıq qəbul edilib (qeydiyyat nömrəsi %s)",
			voen, azOrdinal(k.year), quarterNames[k.quarter], k.form, reg)}
	}
	st.seq++
	reg := fmt.Sprintf("DSMF-%d-R%d-%s-%06d", k.year, k.quarter, k.form, st.seq)
	st.byKey[k] = reg

	r := resp.CreateElement("receipt")
	addText(r, "registrationNumber", reg)
	addText(r, "status", "qəbul edildi")
	addText(r, "voen", voen)
	addText(r, "insurerName", emp.Name)
	addText(r, "year", strconv.Itoa(k.year))
	addText(r, "quarter", strconv.Itoa(k.quarter))
	addText(r, "form", k.form)
	addText(r, "insuredCount", strconv.Itoa(insured))
	addText(r, "totalContributions", formatCenti(cents))
	addText(r, "receivedAt", time.Now().In(baku).Format(time.RFC3339))
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
