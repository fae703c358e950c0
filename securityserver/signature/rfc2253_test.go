package signature

import (
	"encoding/hex"
	"testing"
)

// TestJavaRFC2253 compares javaRFC2253 with what
// javax.security.auth.x500.X500Principal.getName() printed for the same DER
// names (OpenJDK 17 and Temurin 25 agree on all of these).
func TestJavaRFC2253(t *testing.T) {
	tests := []struct{ der, want string }{
		// pkiutil's issuing CA: UTF8String values, non-ASCII kept.
		{"3040310b300906035504061302415a31123010060355040a0c09c59e6cc3bc7a20415a311d301b06035504030c14c59e6cc3bc7a20415a2049737375696e67204341",
			"CN=Şlüz AZ Issuing CA,O=Şlüz AZ,C=AZ"},
		// X-Road's sample issuer: emailAddress has no RFC 2253 keyword.
		{"305d310b300906035504061302454531143012060355040a130b43796265726e6574696361310c300a060355040b130349544f310e300c060355040313054379626572311a301806092a864886f70d010901160b616161406262622e636363",
			"1.2.840.113549.1.9.1=#160b616161406262622e636363,CN=Cyber,OU=ITO,O=Cybernetica,C=EE"},
		// Keywords Java knows (DC, UID, L, ST, STREET) and does not
		// (businessCategory, serialNumber, postalCode).
		{"3081a831123010060a0992268993f22c6401191602617a31133011060a0992268993f22c6401191603676f7631123010060a0992268993f22c6401010c027531310e300c06035504070c0542616bc4b13111300f06035504080c084162c59f65726f6e3111300f06035504090c084e697a616d692031310f300d06035504111306415a31303030311430120603550405130b4445562f5353312f434f4d310c300a060355040f0c03474f56",
			"2.5.4.15=#0c03474f56,2.5.4.5=#130b4445562f5353312f434f4d,2.5.4.17=#1306415a31303030,STREET=Nizami 1,ST=Abşeron,L=Bakı,UID=u1,DC=gov,DC=az"},
		{"301e311c301a06035504030c13612c622b6322645c653c663e673b683d69236a", `CN=a\,b\+c\"d\\e\<f\>g\;h\=i\#j`},
		{"301d311b301906035504030c1220206c65616420616e6420747261696c2020", `CN=\ \ lead and trail\ \ `},
		{"3020310f300d06035504030c06237374617274310d300b060355040a0c04780d790d", "O=x\ry\\\r,CN=\\#start"},
		{"302e311d300c06035504030c056d756c7469300d060355040b0c0676616c756564310d300b060355040a130454657374", "O=Test,CN=multi+OU=valued"},
		{"301b310a30080603550403020105310d300b060355040a1c0400000055", "O=#1c0400000055,CN=#020105"},
		{"302e3113301106035504030c0a6e756c00696e7369646531173015060355040a0c0e756e6465725f73636f7265402a21", `O=under_score@*!,CN=nul\00inside`},
		{"300d310b300906035504030c02ff78", "CN=\uFFFDx"},
		{"3000", ""},
		// BMPString and T61String (Temurin 25; JDK 17 decoded them as UTF-8).
		{"302d310f300d06035504031e060042015f0050310c300a060355040a140354e96c310c300a060355040b160361c3a9", "OU=aÃ©,O=Tél,CN=BşP"},
	}
	for _, tc := range tests {
		der, err := hex.DecodeString(tc.der)
		if err != nil {
			t.Fatal(err)
		}
		got, err := javaRFC2253(der)
		if err != nil {
			t.Errorf("%s: %v", tc.want, err)
			continue
		}
		if got != tc.want {
			t.Errorf("javaRFC2253 = %q, Java wrote %q", got, tc.want)
		}
	}
	if _, err := javaRFC2253([]byte{0x30, 0x03, 0x31}); err == nil {
		t.Error("javaRFC2253 accepted truncated DER")
	}
}
