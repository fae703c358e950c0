package sampleis

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The REST services of the sample federation (PR-REST: the provider IS
// sees METHOD <base URL><path>?query). Errors are JSON
// {"code","message"} with a 4xx status, successes JSON with 200 or 201.

// EMDKRest returns ƏMDK's real-estate register as a REST service (X-Road
// service AZ/GOV/EMDK/realestate/realEstateRegistry, described by
// configs/openapi/emdk-realestate.yaml): GET /extract/{fin} is the
// extract of every property the person has a share in. Mount it with its
// base path stripped (http.StripPrefix).
func EMDKRest() http.Handler {
	var extracts atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /extract/{fin}", func(w http.ResponseWriter, r *http.Request) {
		fin := r.PathValue("fin")
		if !finPattern.MatchString(fin) {
			writeJSONError(w, http.StatusBadRequest, "invalid_fin", fmt.Sprintf("invalid FİN %q: a FİN is 7 characters, digits and uppercase Latin letters (e.g. 5ZJ8K2L)", fin))
			return
		}
		if _, ok := personByFIN(fin); !ok {
			writeJSONError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("FİN %s üzrə şəxs tapılmadı", fin))
			return
		}
		now := time.Now().In(baku)
		x := restExtract{
			ExtractNumber: fmt.Sprintf("ÇX-%s-%06d", now.Format("20060102"), extracts.Add(1)),
			ExtractDate:   now.Format(time.DateOnly),
			FIN:           fin,
			Properties:    []restProperty{},
		}
		for _, re := range realEstates {
			p := restProperty{RegisterNumber: re.RegisterNumber, PropertyType: re.PropertyType, Address: re.Address,
				AreaSqm: re.AreaSqm, CadastralCode: re.CadastralCode, RegistrationDate: re.RegistrationDate}
			mine := false
			for _, o := range re.Owners {
				name := ""
				if person, ok := personByFIN(o.FIN); ok {
					name = person.FullName()
				}
				p.Owners = append(p.Owners, restOwner{FIN: o.FIN, FullName: name, Share: o.Share, Basis: o.Basis})
				mine = mine || o.FIN == fin
			}
			for _, e := range re.Encumbrances {
				p.Encumbrances = append(p.Encumbrances, restEncumbrance(e))
			}
			if mine {
				x.Properties = append(x.Properties, p)
			}
		}
		x.PropertyCount = len(x.Properties)
		writeJSON(w, http.StatusOK, x)
	})
	return mux
}

type restExtract struct {
	ExtractNumber string         `json:"extractNumber"`
	ExtractDate   string         `json:"extractDate"`
	FIN           string         `json:"fin"`
	PropertyCount int            `json:"propertyCount"`
	Properties    []restProperty `json:"properties"`
}

type restProperty struct {
	RegisterNumber   string            `json:"registerNumber"`
	PropertyType     string            `json:"propertyType"`
	Address          string            `json:"address"`
	AreaSqm          string            `json:"areaSqm"`
	CadastralCode    string            `json:"cadastralCode"`
	RegistrationDate string            `json:"registrationDate"`
	Owners           []restOwner       `json:"owners"`
	Encumbrances     []restEncumbrance `json:"encumbrances,omitempty"`
}

type restOwner struct {
	FIN      string `json:"fin"`
	FullName string `json:"fullName,omitempty"`
	Share    string `json:"share"`
	Basis    string `json:"basis"`
}

type restEncumbrance struct {
	Type             string `json:"type"`
	Holder           string `json:"holder"`
	RegistrationDate string `json:"registrationDate"`
	Document         string `json:"document"`
	ValidUntil       string `json:"validUntil,omitempty"`
}

// DSMFRest returns DSMF's quarterly reports as a REST service (X-Road
// service AZ/GOV/DSMF/insurance/insurerReports): POST /quarterly-reports
// with a JSON report {voen, year, quarter, form, insuredCount,
// totalContributions} files it and answers 201 with the receipt; the same
// report again gets its receipt again (200), a different one for the same
// VÖEN, quarter and form 409. Reports are kept in memory. Mount it with
// its base path stripped.
func DSMFRest() http.Handler {
	var mu sync.Mutex
	type stored struct {
		report quarterlyReport
		reg    string
		at     time.Time
	}
	byKey := map[reportKey]stored{}
	seq := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /quarterly-reports", func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			writeJSONError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the report as application/json")
			return
		}
		var in map[string]any
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.UseNumber()
		if err := dec.Decode(&in); err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid_json", "the report is not a JSON object: "+err.Error())
			return
		}
		fields := map[string]string{}
		for _, k := range reportFields {
			switch v := in[k].(type) {
			case string:
				fields[k] = v
			case json.Number:
				fields[k] = v.String()
			}
		}
		rep, err := parseReport(fields)
		if err != nil {
			var f *fault
			if errors.As(err, &f) {
				writeJSONError(w, http.StatusBadRequest, f.detail, f.msg)
				return
			}
			writeJSONError(w, http.StatusBadRequest, "invalid_report", err.Error())
			return
		}
		emp, ok := employerByVOEN(rep.voen)
		if !ok {
			writeJSONError(w, http.StatusNotFound, "INSURER_NOT_FOUND", fmt.Sprintf("VÖEN %s üzrə sığortaedən qeydiyyatda deyil", rep.voen))
			return
		}
		mu.Lock()
		st, dup := byKey[rep.reportKey]
		status := http.StatusOK
		switch {
		case dup && st.report != rep:
			mu.Unlock()
			writeJSONError(w, http.StatusConflict, "DUPLICATE_REPORT", fmt.Sprintf("VÖEN %s üzrə %s il %s rüb üçün %s forması artıq qəbul edilib (qeydiyyat nömrəsi %s)",
				rep.voen, azOrdinal(rep.year), quarterNames[rep.quarter], rep.form, st.reg))
			return
		case !dup:
			seq++
			st = stored{report: rep, reg: fmt.Sprintf("DSMF-%d-R%d-%s-%06d", rep.year, rep.quarter, rep.form, seq), at: time.Now()}
			byKey[rep.reportKey] = st
			status = http.StatusCreated
		}
		mu.Unlock()
		w.Header().Set("Location", "quarterly-reports/"+st.reg)
		writeJSON(w, status, map[string]any{
			"registrationNumber": st.reg, "status": "qəbul edildi", "voen": rep.voen, "insurerName": emp.Name,
			"year": rep.year, "quarter": rep.quarter, "form": rep.form, "insuredCount": rep.insured,
			"totalContributions": formatCenti(rep.cents), "receivedAt": st.at.In(baku).Format(time.RFC3339),
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}
