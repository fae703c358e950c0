package sampleis

import (
	"net/http"

	"github.com/beevik/etree"
)

// DINNamespace is the target namespace of the DİN population service.
const DINNamespace = "http://din.gov.az/xroad/population/v1"

// DIN returns the Daxili İşlər Nazirliyi population register, X-Road
// subsystem AZ/GOV/DIN/population, service getPersonByFin (v1).
func DIN() http.Handler {
	return &service{
		name:   "DİN population",
		ns:     DINNamespace,
		prefix: "din",
		wsdl:   "din-population.wsdl",
		ops: []operation{
			{code: "getPersonByFin", version: "v1", fields: []string{"fin"}, run: getPersonByFin},
		},
	}
}

func getPersonByFin(req map[string]string, resp *etree.Element) error {
	fin, err := requireFIN(req, "fin")
	if err != nil {
		return err
	}
	p, ok := personByFIN(fin)
	if !ok {
		return notFound("FİN %s üzrə şəxs tapılmadı", fin)
	}
	e := resp.CreateElement("person")
	addText(e, "fin", p.FIN)
	addText(e, "surname", p.Surname)
	addText(e, "name", p.Name)
	addText(e, "patronymic", p.Patronymic)
	addText(e, "birthDate", p.BirthDate)
	addText(e, "birthPlace", p.BirthPlace)
	addText(e, "sex", p.Sex)
	addText(e, "citizenship", p.Citizenship)
	a := e.CreateElement("registeredAddress")
	addText(a, "region", p.Address.Region)
	addOpt(a, "district", p.Address.District)
	addOpt(a, "settlement", p.Address.Settlement)
	addOpt(a, "street", p.Address.Street)
	addOpt(a, "house", p.Address.House)
	addOpt(a, "apartment", p.Address.Apartment)
	addText(a, "fullAddress", p.Address.String())
	addDocument(e.CreateElement("identityCard"), p.IDCard)
	if p.Passport != nil {
		addDocument(e.CreateElement("passport"), *p.Passport)
	}
	return nil
}

func addDocument(e *etree.Element, d IdentityDocument) {
	addText(e, "series", d.Series)
	addText(e, "number", d.Number)
	addText(e, "issueDate", d.IssueDate)
	addText(e, "expiryDate", d.ExpiryDate)
	addText(e, "issuingAuthority", d.IssuingAuthority)
}
