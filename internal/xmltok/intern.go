package xmltok

// intern returns b as a string without allocating when it is one of the
// names, prefixes and namespace URIs that X-Road messages and signatures
// repeat in every message.
func intern(b []byte) string {
	if s, ok := lookupKnown(b); ok {
		return s
	}
	return string(b)
}

// lookupKnown returns b as one of the known strings, if it is one.
func lookupKnown(b []byte) (string, bool) {
	if n := len(b); n > 0 {
		for k := internKey(n, b[0], b[n-1], b[n/2]); ; k = (k + 1) & (knownSize - 1) {
			s := knownTable[k]
			if s == "" {
				break
			}
			if s == string(b) {
				return s, true
			}
		}
	}
	return "", false
}

// internKey is where knownTable's probing for a string starts: from its
// length and three of its bytes, cheaper than hashing all of it.
func internKey(n int, first, last, mid byte) int {
	return (n*131 + int(first)*31 + int(last)*7 + int(mid)) & (knownSize - 1)
}

// knownTable holds the known strings by open addressing (linear probing),
// a quarter full: small enough to stay in the CPU cache.
const knownSize = 1024 // a power of two

var knownTable = func() (t [knownSize]string) {
	for s := range known {
		k := internKey(len(s), s[0], s[len(s)-1], s[len(s)/2])
		for t[k] != "" {
			k = (k + 1) & (knownSize - 1)
		}
		t[k] = s
	}
	return t
}()

var known = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{
		// SOAP and X-Road message protocol 4.0
		"SOAP-ENV", "soapenv", "soap", "env", "S", "xrd", "xroad", "id", "iden", "repr", "xsi", "xsd", "xmlns",
		"Envelope", "Header", "Body", "Fault", "faultcode", "faultstring", "faultactor", "detail",
		"client", "service", "centralService", "securityServer", "protocolVersion", "userId", "issue",
		"requestHash", "representedParty", "partyClass", "partyCode",
		"xRoadInstance", "memberClass", "memberCode", "subsystemCode", "serviceCode", "serviceVersion",
		"serverCode", "objectType", "algorithmId", "MEMBER", "SUBSYSTEM", "SERVICE", "SERVER",
		"http://schemas.xmlsoap.org/soap/envelope/", "http://x-road.eu/xsd/xroad.xsd",
		"http://x-road.eu/xsd/identifiers", "http://x-road.eu/xsd/representation.xsd",
		"http://www.w3.org/2001/XMLSchema-instance", "http://www.w3.org/2001/XMLSchema",
		"http://www.w3.org/2001/04/xmlenc#sha512", "4.0", "AZ", "GOV", "COM", "NGO",
		// XML-DSig and XAdES, as X-Road signs
		"asic", "ds", "xades", "XAdESSignatures", "Signature", "SignedInfo",
		"CanonicalizationMethod", "SignatureMethod", "Reference", "Transforms", "Transform",
		"DigestMethod", "DigestValue", "SignatureValue", "KeyInfo", "X509Data", "X509Certificate",
		"Object", "QualifyingProperties", "SignedProperties", "SignedSignatureProperties",
		"SigningTime", "SigningCertificate", "SigningCertificateV2", "Cert", "CertDigest",
		"IssuerSerial", "IssuerSerialV2", "X509IssuerName", "X509SerialNumber",
		"SignaturePolicyIdentifier", "SignaturePolicyId", "SigPolicyId", "Identifier",
		"Description", "SigPolicyHash", "SigPolicyQualifiers", "SigPolicyQualifier", "SPURI",
		"SignedDataObjectProperties", "DataObjectFormat", "MimeType", "UnsignedProperties",
		"UnsignedSignatureProperties", "CompleteCertificateRefs", "CertRefs", "CertificateValues",
		"EncapsulatedX509Certificate", "RevocationValues", "OCSPValues", "EncapsulatedOCSPValue",
		"SignatureTimeStamp", "EncapsulatedTimeStamp",
		"Id", "URI", "Type", "Algorithm", "Target", "Qualifier", "ObjectReference",
		"http://www.w3.org/2000/09/xmldsig#", "http://uri.etsi.org/01903/v1.3.2#",
		"http://uri.etsi.org/02918/v1.2.1#", "http://uri.etsi.org/01903#SignedProperties",
		"http://www.w3.org/TR/2001/REC-xml-c14n-20010315", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", "/message.xml", "#signed-properties",
		// X-Road's hash chains (batch signatures) and common prefixes
		"HashChainResult", "HashChain", "HashStep", "HashValue", "StepRef", "DataRef",
		"DefaultDigestMethod", "http://cyber.ee/hashchain", "xml", "ns1", "ns2", "ns3",
	} {
		m[s] = s
	}
	return m
}()
