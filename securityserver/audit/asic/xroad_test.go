package asic_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/testtool"
	"github.com/sluz/sluz/securityserver/audit/asic"
)

// xroadFile reads path from X-Road's repository (SLUZ_XROAD_REPO, a
// checkout or a bare clone; read at test time, never vendored); the test
// is skipped when the repository is absent.
func xroadFile(t *testing.T, path string) []byte {
	t.Helper()
	repo := testtool.XRoadRepo(t)
	b, err := testtool.ReadXRoad(repo, path)
	if err != nil {
		t.Skipf("%s is not readable from X-Road's repository at %s: %v", path, repo, err)
	}
	return b
}

const (
	asicCore    = "src/lib/asic-core/src/test/resources/"
	verifierCLI = "src/tool/asic-verifier-cli/src/test/resources/"
)

// TestXRoadAsicCore: X-Road's asic-core test containers
// (AsicContainerTest): the two valid ones pass format, signature (with its
// hash chain) and time-stamp, with trust "anchor not given"; the invalid
// ones are refused with the reason X-Road gives (X_ASIC_*_NOT_FOUND).
func TestXRoadAsicCore(t *testing.T) {
	noAnchor := map[string]string{"format": "", "signature": "", "timestamp": "",
		"ocsp": asic.CodeAnchorNotGiven, "trust": asic.CodeAnchorNotGiven}
	for _, tc := range []struct {
		file string
		want map[string]string
	}{
		// Written by X-Road in 2014, before message-log time-stamps were
		// kept in containers: no time-stamp, a manifest without version.
		{"valid-signed-message.asice", map[string]string{"format": "", "signature": "", "timestamp": "not_timestamped",
			"ocsp": asic.CodeAnchorNotGiven, "trust": asic.CodeAnchorNotGiven}},
		{"valid-signed-message-with-attachments.asice", noAnchor},
		// X_ASIC_MIME_TYPE_NOT_FOUND
		{"no-mimetype.asice", map[string]string{"format": "mimetype_not_found", "signature": "input_missing"}},
		// X_ASIC_MESSAGE_NOT_FOUND
		{"no-message.asice", map[string]string{"format": "message_not_found", "signature": "input_missing"}},
		// X_ASIC_SIGNATURE_NOT_FOUND
		{"no-signature.asice", map[string]string{"format": "signature_not_found", "signature": "input_missing"}},
		// X_ASIC_MIME_TYPE_NOT_FOUND: X-Road's stream reader finds no entry
		// in a file that is not a ZIP archive; here it is not_zip.
		{"not-asic.asice", map[string]string{"format": "not_zip", "signature": "unreadable_container"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rep := asic.Verify(xroadFile(t, asicCore+tc.file), asic.Options{})
			wantChecks(t, rep, tc.want)
			switch {
			case strings.HasPrefix(tc.file, "valid"):
				if rep.Failed() || rep.Signer == nil {
					t.Errorf("Failed() = %v, signer %v", rep.Failed(), rep.Signer)
				}
			case tc.file == "not-asic.asice":
				if !strings.Contains(rep.Format.Reason, "no mimetype") {
					t.Errorf("reason %q does not say there is no mimetype", rep.Format.Reason)
				}
			}
		})
	}
}

// TestXRoadVerifierCLI: the containers of X-Road's asicverifier tests
// (AsicContainerVerifierTest), with what X-Road expects for each.
func TestXRoadVerifierCLI(t *testing.T) {
	valid := map[string]string{"format": "", "signature": "", "timestamp": "", "trust": asic.CodeAnchorNotGiven}
	for _, tc := range []struct {
		file, xroad string
		want        map[string]string
	}{
		{"valid-signed-message.asice", "valid", valid},
		{"valid-non-batch-rest.asice", "valid", valid},
		{"valid-non-batch-soap-attachments.asice", "valid", valid},
		// Its chain references /attachment1, which was not logged: taken
		// on the chain's word, as X-Road does, and noted.
		{"valid-signed-hashchain.asice", "valid", valid},
		{"valid-batch-ts.asice", "valid", valid},
		{"wrong-message.asice", "X_INVALID_SIGNATURE_VALUE", map[string]string{"format": "", "signature": "digest_mismatch"}},
		{"invalid-digest.asice", "X_INVALID_SIGNATURE_VALUE", map[string]string{"format": "", "signature": "digest_mismatch"}},
		{"invalid-signed-hashchain.asice", "X_MALFORMED_SIGNATURE.X_INVALID_HASH_CHAIN_REF", map[string]string{"format": "", "signature": "invalid_hash_chain_ref"}},
		// messageX.xml is not an entry X-Road writes: refused as such, and
		// the chain that references it fails too.
		{"invalid-hashchain-modified-message.asice", "X_MALFORMED_SIGNATURE.X_HASHCHAIN_UNUSED_INPUTS", map[string]string{"format": "unexpected_entry", "signature": "digest_mismatch"}},
		// X-Road passes this one (it ignores entries it does not know);
		// here the unknown entries and the signature over a missing part
		// are refused.
		{"invalid-not-signed-hashchain.asice", "valid", map[string]string{"format": "unexpected_entry", "signature": "malformed_signature"}},
		{"invalid-incorrect-references.asice", "X_MALFORMED_SIGNATURE", map[string]string{"signature": "malformed_signature"}},
		{"invalid-ts-hashchainresult.asice", "X_MALFORMED_SIGNATURE", map[string]string{"timestamp": "malformed_hash_chain"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rep := asic.Verify(xroadFile(t, verifierCLI+tc.file), asic.Options{})
			wantChecks(t, rep, tc.want)
			if (tc.want["format"] == "" && tc.want["signature"] == "" && tc.want["timestamp"] == "") == rep.Failed() {
				t.Errorf("Failed() = %v (X-Road: %s)", rep.Failed(), tc.xroad)
			}
		})
	}
}

// TestXRoadTrusted: with the CA and TSA certificates of X-Road's test
// global configuration (globalconf_good2_v3, the one its verifier tests
// use) as anchors, the valid containers pass every check.
func TestXRoadTrusted(t *testing.T) {
	params := xroadFile(t, "src/lib/globalconf-core/src/test/resources/globalconf_good2_v3/DEV/shared-params.xml")
	var anchors []*x509.Certificate
	// topCA, the OCSP responder's and the TSA's <cert>, each base64 PEM.
	for _, m := range regexp.MustCompile(`<cert>([^<]+)</cert>`).FindAllSubmatch(params, -1) {
		p, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(m[1])))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(p)
		if block == nil {
			t.Fatalf("shared-params: a <cert> is not base64 PEM")
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		anchors = append(anchors, c)
	}
	for _, file := range []string{asicCore + "valid-signed-message-with-attachments.asice", verifierCLI + "valid-signed-message.asice",
		verifierCLI + "valid-batch-ts.asice", verifierCLI + "valid-non-batch-rest.asice", verifierCLI + "valid-signed-hashchain.asice"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rep := asic.Verify(xroadFile(t, file), asic.Options{Anchors: anchors})
			wantChecks(t, rep, allOK)
		})
	}
}
