package sampleis

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
)

// EMDKNamespace is the target namespace of the ƏMDK real-estate services.
const EMDKNamespace = "http://emdk.gov.az/xroad/realestate/v1"

// baku is Azerbaijan time (UTC+4, no daylight saving since 2016).
var baku = time.FixedZone("AZT", 4*60*60)

var registerNumberPattern = regexp.MustCompile(`^[0-9]{10}$`)

// EMDK returns the Əmlak Məsələləri Dövlət Komitəsi real-estate register,
// X-Road subsystem AZ/GOV/EMDK/realestate, services getRealEstateExtract (v1)
// and getLandOwnershipByFin (v1). Extract numbers count per handler.
func EMDK() http.Handler {
	var extracts atomic.Int64
	return &service{
		name:   "ƏMDK realestate",
		ns:     EMDKNamespace,
		prefix: "emdk",
		wsdl:   "emdk-realestate.wsdl",
		ops: []operation{
			{code: "getRealEstateExtract", version: "v1", fields: []string{"fin", "registerNumber"},
				run: func(req map[string]string, resp *etree.Element) error {
					return getRealEstateExtract(req, resp, extracts.Add(1))
				}},
			{code: "getLandOwnershipByFin", version: "v1", fields: []string{"fin"}, run: getLandOwnershipByFin},
		},
	}
}

// getRealEstateExtract answers by FİN (every property the person has a share
// in; none is an extract with propertyCount 0) or by register number.
func getRealEstateExtract(req map[string]string, resp *etree.Element, seq int64) error {
	_, byFIN := req["fin"]
	_, byNumber := req["registerNumber"]
	var found []realEstate
	switch {
	case byFIN && byNumber:
		return clientFault("ambiguous_request", "give either <fin> or <registerNumber> in getRealEstateExtract, not both")
	case byFIN:
		fin, err := requireFIN(req, "fin")
		if err != nil {
			return err
		}
		if _, ok := personByFIN(fin); !ok {
			return notFound("FİN %s üzrə şəxs tapılmadı", fin)
		}
		for _, r := range realEstates {
			for _, o := range r.Owners {
				if o.FIN == fin {
					found = append(found, r)
					break
				}
			}
		}
	case byNumber:
		n := req["registerNumber"]
		if !registerNumberPattern.MatchString(n) {
			return clientFault("invalid_register_number", "invalid register number %q: a register number is 10 digits (e.g. 1100452317)", n)
		}
		for _, r := range realEstates {
			if r.RegisterNumber == n {
				found = append(found, r)
			}
		}
		if len(found) == 0 {
			return notFound("%s reyestr nömrəli daşınmaz əmlak tapılmadı", n)
		}
	default:
		return clientFault("missing_field", "getRealEstateExtract needs <fin> or <registerNumber>")
	}

	now := time.Now().In(baku)
	x := resp.CreateElement("extract")
	addText(x, "extractNumber", fmt.Sprintf("ÇX-%s-%06d", now.Format("20060102"), seq))
	addText(x, "extractDate", now.Format(time.DateOnly))
	addText(x, "propertyCount", strconv.Itoa(len(found)))
	for _, r := range found {
		p := x.CreateElement("property")
		addText(p, "registerNumber", r.RegisterNumber)
		addText(p, "propertyType", r.PropertyType)
		addText(p, "address", r.Address)
		addText(p, "areaSqm", r.AreaSqm)
		addText(p, "cadastralCode", r.CadastralCode)
		addText(p, "registrationDate", r.RegistrationDate)
		for _, o := range r.Owners {
			oe := p.CreateElement("owner")
			addText(oe, "fin", o.FIN)
			if person, ok := personByFIN(o.FIN); ok {
				addText(oe, "fullName", person.FullName())
			}
			addText(oe, "share", o.Share)
			addText(oe, "basis", o.Basis)
		}
		for _, en := range r.Encumbrances {
			ee := p.CreateElement("encumbrance")
			addText(ee, "type", en.Type)
			addText(ee, "holder", en.Holder)
			addText(ee, "registrationDate", en.RegistrationDate)
			addText(ee, "document", en.Document)
			addOpt(ee, "validUntil", en.ValidUntil)
		}
	}
	return nil
}

// getLandOwnershipByFin lists the agricultural parcels a person owns (a share
// of); a known person without land gets parcelCount 0.
func getLandOwnershipByFin(req map[string]string, resp *etree.Element) error {
	fin, err := requireFIN(req, "fin")
	if err != nil {
		return err
	}
	person, ok := personByFIN(fin)
	if !ok {
		return notFound("FİN %s üzrə şəxs tapılmadı", fin)
	}
	var parcels []landParcel
	var totalCentiHa int64
	for _, lp := range landParcels {
		if lp.OwnerFIN == fin {
			parcels = append(parcels, lp)
			totalCentiHa += centi(lp.AreaHa)
		}
	}
	l := resp.CreateElement("landOwnership")
	addText(l, "fin", fin)
	addText(l, "fullName", person.FullName())
	addText(l, "parcelCount", strconv.Itoa(len(parcels)))
	addText(l, "totalAreaHa", formatCenti(totalCentiHa))
	for _, lp := range parcels {
		p := l.CreateElement("parcel")
		addText(p, "cadastralCode", lp.CadastralCode)
		addText(p, "district", lp.District)
		addText(p, "locality", lp.Locality)
		addText(p, "areaHa", lp.AreaHa)
		addText(p, "landCategory", landCategoryAgri)
		addText(p, "landUse", lp.LandUse)
		addText(p, "share", lp.Share)
		addText(p, "basis", lp.Basis)
		addText(p, "registrationDate", lp.RegistrationDate)
	}
	return nil
}

var decimalPattern = regexp.MustCompile(`^([0-9]{1,12})(?:\.([0-9]{1,2}))?$`)

// centi parses a non-negative decimal with at most two fraction digits into
// hundredths; -1 if it is not one.
func centi(s string) int64 {
	m := decimalPattern.FindStringSubmatch(s)
	if m == nil {
		return -1
	}
	whole, _ := strconv.ParseInt(m[1], 10, 64)
	frac := int64(0)
	if m[2] != "" {
		f := m[2]
		if len(f) == 1 {
			f += "0"
		}
		frac, _ = strconv.ParseInt(f, 10, 64)
	}
	return whole*100 + frac
}

func formatCenti(v int64) string { return fmt.Sprintf("%d.%02d", v/100, v%100) }
