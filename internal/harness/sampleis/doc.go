// Package sampleis is three sample provider information systems: the agencies'
// back-end SOAP services a security server calls in the local federation. The
// data is invented sample data, not real: no real person, document, property
// or company is described, and any likeness is accidental.
//
// # Services
//
//	handler  X-Road subsystem              namespace                                operations (all v1)
//	DIN()    AZ/GOV/DIN/population         http://din.gov.az/xroad/population/v1    getPersonByFin
//	EMDK()   AZ/GOV/EMDK/realestate        http://emdk.gov.az/xroad/realestate/v1   getRealEstateExtract, getLandOwnershipByFin
//	DSMF()   AZ/GOV/DSMF/insurance         http://dsmf.gov.az/xroad/insurance/v1    getInsuredPerson, submitQuarterlyReport
//
// NewMux mounts them under /din, /emdk and /dsmf. The WSDLs are
// configs/wsdl/din-population.wsdl, emdk-realestate.wsdl and
// dsmf-insurance.wsdl, with the local X-Road schemas xroad.xsd and
// identifiers.xsd they import; the package embeds identical copies (WSDLFS,
// WSDL), and every handler serves its WSDL on GET ?wsdl and the schemas on
// GET …/xroad.xsd and …/identifiers.xsd.
//
// # Sample people
//
// People returns eight residents. Every FİN below is known to DİN; the other
// registers hold what the last columns say, so cross-agency scenarios line up.
//
//	FİN      name                            ƏMDK real estate / land             DSMF
//	5ZJ8K2L  Əliyev Rəşad Həsən oğlu         flat 1100452317 (1/2, ipoteka)      insured, 2 periods
//	3MV6T9A  Əliyeva Aytən Vaqif qızı        flat 1100452317 (1/2, ipoteka)      insured
//	7KQ3M9P  Məmmədova Günay Elçin qızı      house 2300118904 (həbs)             insured
//	2BXR4T6  Hüseynov Tural Şahin oğlu       flat, land plot (həbs); 2 parcels   insured, 2 periods
//	9HD5W1C  Quliyeva Səbinə Ağası qızı      flat 1100209786; 1 parcel           pensioner
//	4NP7G8E  İsmayılov Orxan Fəxrəddin oğlu  no real estate; 1 parcel (1/3)      insured, 2 periods
//	6RC1F3U  Şükürov Çingiz Rövşən oğlu      house 1100671530                    ex-entrepreneur, insured
//	8TL2V6Y  Rzayeva Nigar Vüqar qızı        nothing                             never insured (NOT_FOUND)
//
// Employers lists the insurers (VÖENs) DSMF knows. The insurance register is
// current to December 2025: open periods count up to that month.
//
// # Protocol (X-Road message protocol 4.0, SOAP 1.1)
//
// A request is an HTTP POST with Content-Type text/xml (charset utf-8 or
// none), at most MaxRequestBytes, whose SOAP Header carries the X-Road fields
// client, service, id and protocolVersion (4.x) and whose Body holds one
// document/literal wrapper element named after the service code, in the
// service namespace, with unqualified (or service-qualified) simple fields.
// The response is the request's own envelope and header, unchanged — every
// header element in the same order, with the same values, prefixes and
// namespace declarations — with the Body replaced by <serviceCodeResponse>
// in the service namespace, whose fields are unqualified, named in English
// camelCase, with values in Azerbaijani (UTF-8).
//
// # The quarterly report as an attachment
//
// An insurer may send the report document itself with submitQuarterlyReport,
// as SOAP with attachments (SwA, PR-MESS §2.4): Content-Type
// multipart/related; type="text/xml" (the start parameter names the SOAP
// part, else it is the first part), the SOAP part as usual plus
// <reportFile>cid:Content-ID</reportFile> after totalContributions, and
// exactly one attachment with that Content-ID (binary, 8bit or base64):
//
//   - application/pdf: the report as filed, starting "%PDF-";
//   - application/xml (or text/xml): <quarterlyReport> in the DSMF namespace
//     with the six fields of the request (voen, year, quarter, form,
//     insuredCount, totalContributions), which must have the same values.
//
// At most MaxReportFileBytes. The receipt then ends with
// <reportFile><contentId/><contentType/><size/><sha256/></reportFile>. The
// same file again for the same VÖEN, year, quarter and form (an insurer's
// retry) gets the original receipt; any other second report is
// DUPLICATE_REPORT. A wrong, empty, oversized, mismatched, missing or
// unreferenced attachment, or a cid: reference that is not one, is a Client
// fault (invalid_report_file, report_file_too_large, report_mismatch,
// unsupported_report_file, missing_attachment, unreferenced_attachment,
// invalid_field); the other operations refuse attachments
// (attachments_not_accepted), and MTOM (application/xop+xml) is refused
// with 415.
//
// Errors:
//
//   - Not found, duplicate report, unknown insurer: HTTP 200, a normal response
//     whose wrapper holds <error><code>NOT_FOUND|DUPLICATE_REPORT|INSURER_NOT_FOUND</code><message>…</message></error>
//     (message in Azerbaijani). A known person with no property or land gets an
//     empty list (propertyCount/parcelCount 0), not an error.
//   - Malformed input (not XML, DTD, not a SOAP 1.1 envelope, missing X-Road
//     header field, serviceCode differing from the wrapper, another service
//     version, operation not offered here, unknown or missing field, bad FİN,
//     VÖEN, quarter, form or amount): SOAP 1.1 Fault with faultcode Client
//     (VersionMismatch for a non-SOAP-1.1 envelope namespace), HTTP 500 as WS-I
//     Basic Profile R1126 asks and X-Road accepts; faultstring in English,
//     detail/faultDetail a machine-readable reason such as invalid_fin.
//   - Wrong Content-Type: HTTP 415 with a Client fault. Body over the limit:
//     HTTP 413 with a Client fault. Internal error (a recovered panic): HTTP
//     500 with a Server fault. faultcode is the bare "Client"/"Server", as
//     X-Road itself writes it, not a namespace-qualified QName.
//   - GET or HEAD without ?wsdl, and other methods: HTTP 405, Allow: POST.
//
// # Caveats
//
// These are fixtures for the local federation and tests, not models of the
// agencies' real systems: field sets, number formats (register numbers,
// cadastral codes, insurance numbers) and report forms are plausible
// inventions. The services do not check who the X-Road client is (that is
// the security server's job) nor the member part of the service identifier;
// they check only serviceCode and serviceVersion. Attachments are taken only
// by submitQuarterlyReport (SwA, not MTOM); SOAP 1.2 and non-UTF-8 encodings
// are refused. A PDF report is checked only for its header. Accepted quarterly reports live in the
// memory of one DSMF handler and are lost on restart.
package sampleis
