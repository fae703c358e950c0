package sampleis

import (
	"strings"
	"time"
)

// Person is one resident as the DİN population register knows them. The same
// people (by FİN) appear in the ƏMDK real-estate and land registers and in the
// DSMF insurance register; see the package documentation for who has what.
// Dates are ISO 8601 calendar dates (YYYY-MM-DD).
type Person struct {
	FIN         string // personal identification code: 7 digits/uppercase Latin letters
	Surname     string
	Name        string
	Patronymic  string // father's name + "oğlu"/"qızı"
	BirthDate   string
	BirthPlace  string
	Sex         string // "kişi" or "qadın"
	Citizenship string
	Address     Address          // registered (qeydiyyat) address
	IDCard      IdentityDocument // identity card, series AZE
	Passport    *IdentityDocument
}

// FullName is "Surname Name Patronymic", the order Azerbaijani registers use.
func (p Person) FullName() string {
	return p.Surname + " " + p.Name + " " + p.Patronymic
}

// Address is a registered address; empty fields are not part of it.
type Address struct {
	Region     string // "Bakı şəhəri", "Gəncə şəhəri", ...
	District   string // "Nəsimi rayonu"
	Settlement string // "Biləcəri qəsəbəsi"
	Street     string
	House      string
	Apartment  string
}

// String is the one-line form: "Bakı şəhəri, Nəsimi rayonu, ..., ev 45, mənzil 12".
func (a Address) String() string {
	var parts []string
	for _, s := range []string{a.Region, a.District, a.Settlement, a.Street} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if a.House != "" {
		parts = append(parts, "ev "+a.House)
	}
	if a.Apartment != "" {
		parts = append(parts, "mənzil "+a.Apartment)
	}
	return strings.Join(parts, ", ")
}

// IdentityDocument is an identity card (series "AZE", 8-digit number) or a
// passport (series "C", 8-digit number).
type IdentityDocument struct {
	Series           string
	Number           string
	IssueDate        string
	ExpiryDate       string
	IssuingAuthority string
}

// Employer is an insurer (sığortaedən) registered with DSMF: the only VÖENs
// submitQuarterlyReport accepts.
type Employer struct {
	VOEN string // taxpayer id: 10 digits (ends in 1 for legal entities, 2 for individual entrepreneurs)
	Name string
}

const (
	citizenAZ   = "Azərbaycan Respublikası"
	male        = "kişi"
	female      = "qadın"
	idSeries    = "AZE"
	passSeries  = "C"
	passIssuer  = "Azərbaycan Respublikası Daxili İşlər Nazirliyi"
	bakuAsan1   = "Bakı şəhəri 1 saylı ASAN xidmət mərkəzi"
	bakuAsan3   = "Bakı şəhəri 3 saylı ASAN xidmət mərkəzi"
	bakuAsan5   = "Bakı şəhəri 5 saylı ASAN xidmət mərkəzi"
	ganjaAsan   = "Gəncə regional ASAN xidmət mərkəzi"
	sumgaitAsan = "Sumqayıt regional ASAN xidmət mərkəzi"
)

var people = []Person{
	{
		FIN: "5ZJ8K2L", Surname: "Əliyev", Name: "Rəşad", Patronymic: "Həsən oğlu",
		BirthDate: "1984-03-12", BirthPlace: "Bakı şəhəri", Sex: male, Citizenship: citizenAZ,
		Address:  Address{Region: "Bakı şəhəri", District: "Nəsimi rayonu", Street: "Süleyman Rəhimov küçəsi", House: "45", Apartment: "12"},
		IDCard:   IdentityDocument{idSeries, "14873206", "2019-06-18", "2029-06-18", bakuAsan1},
		Passport: &IdentityDocument{passSeries, "03458172", "2022-04-07", "2032-04-07", passIssuer},
	},
	{
		FIN: "3MV6T9A", Surname: "Əliyeva", Name: "Aytən", Patronymic: "Vaqif qızı",
		BirthDate: "1987-08-04", BirthPlace: "Şamaxı rayonu", Sex: female, Citizenship: citizenAZ,
		Address: Address{Region: "Bakı şəhəri", District: "Nəsimi rayonu", Street: "Süleyman Rəhimov küçəsi", House: "45", Apartment: "12"},
		IDCard:  IdentityDocument{idSeries, "15320954", "2020-02-11", "2030-02-11", bakuAsan1},
	},
	{
		FIN: "7KQ3M9P", Surname: "Məmmədova", Name: "Günay", Patronymic: "Elçin qızı",
		BirthDate: "1991-07-25", BirthPlace: "Gəncə şəhəri", Sex: female, Citizenship: citizenAZ,
		Address:  Address{Region: "Gəncə şəhəri", District: "Nizami rayonu", Street: "Cavad xan küçəsi", House: "64"},
		IDCard:   IdentityDocument{idSeries, "12096437", "2017-09-29", "2027-09-29", ganjaAsan},
		Passport: &IdentityDocument{passSeries, "02716540", "2021-05-20", "2031-05-20", passIssuer},
	},
	{
		FIN: "2BXR4T6", Surname: "Hüseynov", Name: "Tural", Patronymic: "Şahin oğlu",
		BirthDate: "1976-11-02", BirthPlace: "Sumqayıt şəhəri", Sex: male, Citizenship: citizenAZ,
		Address:  Address{Region: "Sumqayıt şəhəri", Settlement: "9-cu mikrorayon", Street: "Sülh küçəsi", House: "21", Apartment: "34"},
		IDCard:   IdentityDocument{idSeries, "16604418", "2021-12-03", "2031-12-03", sumgaitAsan},
		Passport: &IdentityDocument{passSeries, "04093385", "2023-08-15", "2033-08-15", passIssuer},
	},
	{
		FIN: "9HD5W1C", Surname: "Quliyeva", Name: "Səbinə", Patronymic: "Ağası qızı",
		BirthDate: "1958-01-19", BirthPlace: "Şəki şəhəri", Sex: female, Citizenship: citizenAZ,
		Address: Address{Region: "Bakı şəhəri", District: "Yasamal rayonu", Street: "Şərifzadə küçəsi", House: "8", Apartment: "27"},
		IDCard:  IdentityDocument{idSeries, "13381560", "2018-03-05", "2028-03-05", bakuAsan3},
	},
	{
		FIN: "4NP7G8E", Surname: "İsmayılov", Name: "Orxan", Patronymic: "Fəxrəddin oğlu",
		BirthDate: "1995-05-30", BirthPlace: "Lənkəran şəhəri", Sex: male, Citizenship: citizenAZ,
		Address:  Address{Region: "Bakı şəhəri", District: "Xətai rayonu", Street: "Xocalı prospekti", House: "30", Apartment: "71"},
		IDCard:   IdentityDocument{idSeries, "17725093", "2023-01-26", "2033-01-26", bakuAsan5},
		Passport: &IdentityDocument{passSeries, "04461207", "2024-02-09", "2034-02-09", passIssuer},
	},
	{
		FIN: "6RC1F3U", Surname: "Şükürov", Name: "Çingiz", Patronymic: "Rövşən oğlu",
		BirthDate: "1969-09-09", BirthPlace: "Ağdam rayonu", Sex: male, Citizenship: citizenAZ,
		Address: Address{Region: "Bakı şəhəri", District: "Binəqədi rayonu", Settlement: "Biləcəri qəsəbəsi", Street: "Ağdam küçəsi", House: "9"},
		IDCard:  IdentityDocument{idSeries, "11257781", "2018-10-15", "2028-10-15", bakuAsan5},
	},
	{
		FIN: "8TL2V6Y", Surname: "Rzayeva", Name: "Nigar", Patronymic: "Vüqar qızı",
		BirthDate: "2004-02-14", BirthPlace: "Göyçay rayonu", Sex: female, Citizenship: citizenAZ,
		Address: Address{Region: "Bakı şəhəri", District: "Nərimanov rayonu", Street: "Təbriz küçəsi", House: "52", Apartment: "88"},
		IDCard:  IdentityDocument{idSeries, "18032647", "2022-03-01", "2032-03-01", bakuAsan3},
	},
}

// People returns the sample residents, in a fixed order, as fresh copies.
// They are invented: any likeness to real persons or documents is accidental.
func People() []Person {
	out := make([]Person, len(people))
	for i, p := range people {
		out[i] = p
		if p.Passport != nil {
			pp := *p.Passport
			out[i].Passport = &pp
		}
	}
	return out
}

func personByFIN(fin string) (Person, bool) {
	for _, p := range people {
		if p.FIN == fin {
			return p, true
		}
	}
	return Person{}, false
}

// ---- ƏMDK: real estate and agricultural land ----

type owner struct {
	FIN, Share, Basis string
}

type encumbrance struct {
	Type, Holder, RegistrationDate, Document, ValidUntil string
}

type realEstate struct {
	RegisterNumber   string // 10 digits
	PropertyType     string // "mənzil", "fərdi yaşayış evi", "torpaq sahəsi"
	Address          string
	AreaSqm          string // decimal, square metres
	CadastralCode    string
	RegistrationDate string
	Owners           []owner
	Encumbrances     []encumbrance
}

const (
	typeFlat  = "mənzil"
	typeHouse = "fərdi yaşayış evi"
	typeLand  = "torpaq sahəsi"
)

var realEstates = []realEstate{
	{
		RegisterNumber: "1100452317", PropertyType: typeFlat,
		Address: people[0].Address.String(), AreaSqm: "86.40",
		CadastralCode: "11:06:0412:0045:012", RegistrationDate: "2019-05-14",
		Owners: []owner{
			{"5ZJ8K2L", "1/2", "alqı-satqı müqaviləsi (2019-05-08)"},
			{"3MV6T9A", "1/2", "alqı-satqı müqaviləsi (2019-05-08)"},
		},
		Encumbrances: []encumbrance{{
			Type: "ipoteka", Holder: `"Abşeron Bank" ASC`, RegistrationDate: "2019-05-14",
			Document: "İpoteka müqaviləsi № İP-2019/0583", ValidUntil: "2034-05-14",
		}},
	},
	{
		RegisterNumber: "2300118904", PropertyType: typeHouse,
		Address: people[2].Address.String(), AreaSqm: "148.00",
		CadastralCode: "23:02:0107:0064", RegistrationDate: "2016-02-03",
		Owners: []owner{{"7KQ3M9P", "1/1", "vərəsəlik hüququ haqqında şəhadətnamə (2016-01-22)"}},
		Encumbrances: []encumbrance{{
			Type: "həbs", Holder: "Gəncə şəhəri Kəpəz Rayon Məhkəməsi", RegistrationDate: "2024-09-12",
			Document: "Məhkəmənin 2024-09-12 tarixli qərardadı № 2(010)-1187/2024",
		}},
	},
	{
		RegisterNumber: "1800337265", PropertyType: typeFlat,
		Address: people[3].Address.String(), AreaSqm: "72.50",
		CadastralCode: "18:01:0209:0021:034", RegistrationDate: "2008-10-21",
		Owners: []owner{{"2BXR4T6", "1/1", "alqı-satqı müqaviləsi (2008-10-15)"}},
	},
	{
		RegisterNumber: "1000864412", PropertyType: typeLand,
		Address: "Abşeron rayonu, Novxanı qəsəbəsi, Bağlar küçəsi, sahə 118", AreaSqm: "600.00",
		CadastralCode: "10:05:0311:0118", RegistrationDate: "2014-06-30",
		Owners: []owner{{"2BXR4T6", "1/1", "bağışlama müqaviləsi (2014-06-24)"}},
		Encumbrances: []encumbrance{{
			Type: "həbs", Holder: "Sumqayıt Şəhər Məhkəməsi", RegistrationDate: "2024-11-05",
			Document: "Məhkəmənin 2024-11-05 tarixli qərardadı № 2(003)-2291/2024",
		}},
	},
	{
		RegisterNumber: "1100209786", PropertyType: typeFlat,
		Address: people[4].Address.String(), AreaSqm: "64.20",
		CadastralCode: "11:08:0115:0008:027", RegistrationDate: "1998-06-30",
		Owners: []owner{{"9HD5W1C", "1/1", "mənzilin özəlləşdirilməsi haqqında qərar (1998-06-02)"}},
	},
	{
		RegisterNumber: "1100671530", PropertyType: typeHouse,
		Address: people[6].Address.String(), AreaSqm: "176.30",
		CadastralCode: "11:02:0521:0009", RegistrationDate: "2012-03-16",
		Owners: []owner{{"6RC1F3U", "1/1", "tikinti və istismara qəbul aktı (2012-02-27)"}},
	},
}

type landParcel struct {
	CadastralCode, District, Locality, AreaHa, LandUse, Share, Basis, RegistrationDate string
	OwnerFIN                                                                           string
}

const landCategoryAgri = "kənd təsərrüfatı təyinatlı torpaqlar"

var landParcels = []landParcel{
	{"31:04:0702:0219", "Quba rayonu", "Talabı kəndi", "2.50", "çoxillik əkmələr (alma bağı)", "1/1", "alqı-satqı müqaviləsi (2015-03-27)", "2015-04-02", "2BXR4T6"},
	{"32:06:0405:0073", "Xaçmaz rayonu", "Qusarçay kəndi", "1.25", "əkin sahəsi", "1/1", "torpaq islahatı üzrə pay torpağı", "1998-11-17", "2BXR4T6"},
	{"52:03:0903:0146", "Şəki rayonu", "Kiş kəndi", "0.85", "əkin sahəsi", "1/1", "torpaq islahatı üzrə pay torpağı", "1999-08-11", "9HD5W1C"},
	{"61:01:0617:0032", "Lənkəran rayonu", "Girdəni kəndi", "1.20", "çoxillik əkmələr (çay plantasiyası)", "1/3", "vərəsəlik hüququ haqqında şəhadətnamə (2021-07-02)", "2021-07-19", "4NP7G8E"},
}

// ---- DSMF: insurers, insured persons, insurance periods ----

var employers = []Employer{
	{"1402367851", `"Xəzər Logistika" MMC`},
	{"1402119461", `"Bakı Liman Xidmətləri" MMC`},
	{"1300458721", "Bakı şəhəri 132 nömrəli tam orta məktəb"},
	{"2000736411", `"Gəncə Tekstil" ASC`},
	{"1700592231", `"Abşeron Kimya Zavodu" ASC`},
	{"1700214861", `"Sumqayıt Boru Zavodu" ASC`},
	{"2900381641", `"Şəki İpəkçilik" ASC`},
	{"1401782391", `"Yasamal Tibb Mərkəzi" MMC`},
	{"3100945021", `"Lənkəran Çay Fabriki" ASC`},
	{"1502684911", `"Qarabağ Tikinti" MMC`},
	{"2601473592", "Şükürov Çingiz Rövşən oğlu (fərdi sahibkar)"},
	{"1400023451", "Azərbaycan Respublikasının Daxili İşlər Nazirliyi"},
	{"1403005721", "Azərbaycan Respublikasının Əmlak Məsələləri Dövlət Komitəsi"},
}

// Employers returns the insurers DSMF knows (the VÖENs submitQuarterlyReport
// accepts), as a fresh slice.
func Employers() []Employer { return append([]Employer(nil), employers...) }

func employerByVOEN(voen string) (Employer, bool) {
	for _, e := range employers {
		if e.VOEN == voen {
			return e, true
		}
	}
	return Employer{}, false
}

const (
	asEmployee = "muzdla işləyən"
	asSelfEmp  = "fərdi sahibkar"
)

type insurancePeriod struct {
	InsurerVOEN string
	Position    string
	InsuredAs   string
	Start       string // YYYY-MM-DD
	End         string // "" while the period is open
}

type pension struct {
	Status, Type, GrantedDate, MonthlyAmount string
}

type insuredPerson struct {
	FIN             string
	InsuranceNumber string // 13 digits
	Periods         []insurancePeriod
	LastMonth       string // last month a contribution was paid, YYYY-MM
	Pension         pension
}

const (
	pensionNone    = "təyin edilməyib"
	pensionGranted = "təyin edilib"
)

// insuranceAsOf is the month the sample insurance register is current to: open
// periods count up to and including it.
var insuranceAsOf = time.Date(2025, time.December, 1, 0, 0, 0, 0, time.UTC)

var insuredPeople = []insuredPerson{
	{
		FIN: "5ZJ8K2L", InsuranceNumber: "1201198403127",
		Periods: []insurancePeriod{
			{"1402119461", "ekspeditor", asEmployee, "2006-08-01", "2012-02-29"},
			{"1402367851", "logistika şöbəsinin müdiri", asEmployee, "2012-03-12", ""},
		},
		LastMonth: "2025-12", Pension: pension{Status: pensionNone},
	},
	{
		FIN: "3MV6T9A", InsuranceNumber: "1201198708045",
		Periods: []insurancePeriod{
			{"1300458721", "ingilis dili müəllimi", asEmployee, "2010-09-15", ""},
		},
		LastMonth: "2025-12", Pension: pension{Status: pensionNone},
	},
	{
		FIN: "7KQ3M9P", InsuranceNumber: "2302199107253",
		Periods: []insurancePeriod{
			{"2000736411", "dizayner-konstruktor", asEmployee, "2013-10-01", ""},
		},
		LastMonth: "2025-12", Pension: pension{Status: pensionNone},
	},
	{
		FIN: "2BXR4T6", InsuranceNumber: "1801197611029",
		Periods: []insurancePeriod{
			{"1700214861", "elektrik montyoru", asEmployee, "1997-08-04", "2009-12-31"},
			{"1700592231", "növbə rəisi", asEmployee, "2010-01-18", ""},
		},
		LastMonth: "2025-12", Pension: pension{Status: pensionNone},
	},
	{
		FIN: "9HD5W1C", InsuranceNumber: "5203195801194",
		Periods: []insurancePeriod{
			{"2900381641", "toxucu", asEmployee, "1978-09-01", "1994-12-30"},
			{"1401782391", "tibb bacısı", asEmployee, "1995-03-06", "2022-12-31"},
		},
		LastMonth: "2022-12",
		Pension: pension{
			Status: pensionGranted, Type: "yaşa görə əmək pensiyası",
			GrantedDate: "2023-01-19", MonthlyAmount: "512.40",
		},
	},
	{
		FIN: "4NP7G8E", InsuranceNumber: "6101199505306",
		Periods: []insurancePeriod{
			{"3100945021", "laborant", asEmployee, "2017-06-05", "2019-08-30"},
			{"1402367851", "proqramçı", asEmployee, "2019-09-02", ""},
		},
		LastMonth: "2025-12", Pension: pension{Status: pensionNone},
	},
	{
		FIN: "6RC1F3U", InsuranceNumber: "1102196909098",
		Periods: []insurancePeriod{
			{"2601473592", "", asSelfEmp, "2005-04-01", "2021-02-28"},
			{"1502684911", "tikinti sahəsinin rəisi", asEmployee, "2021-03-01", ""},
		},
		LastMonth: "2025-12", Pension: pension{Status: pensionNone},
	},
	// 8TL2V6Y (Nigar Rzayeva, a student) has never been insured.
}

func insuredByFIN(fin string) (insuredPerson, bool) {
	for _, p := range insuredPeople {
		if p.FIN == fin {
			return p, true
		}
	}
	return insuredPerson{}, false
}

// insuranceRecord is the length of insurance (staj) in whole years and months:
// the calendar months covered by at least one period, a started month counting
// in full, open periods running to insuranceAsOf.
func insuranceRecord(periods []insurancePeriod) (years, months int) {
	covered := map[int]bool{}
	for _, p := range periods {
		start, err := time.Parse(time.DateOnly, p.Start)
		if err != nil {
			continue
		}
		end := insuranceAsOf
		if p.End != "" {
			if end, err = time.Parse(time.DateOnly, p.End); err != nil {
				continue
			}
		}
		for m := monthIndex(start); m <= monthIndex(end); m++ {
			covered[m] = true
		}
	}
	return len(covered) / 12, len(covered) % 12
}

func monthIndex(t time.Time) int { return t.Year()*12 + int(t.Month()) - 1 }
