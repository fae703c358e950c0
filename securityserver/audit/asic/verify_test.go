package asic_test

import (
	"archive/zip"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/sluz/sluz/securityserver/audit/asic"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "asic-test-")
	if err != nil {
		panic(err)
	}
	fedDir = dir
	code := m.Run()
	if fed != nil {
		fed.services.Close()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

var allOK = map[string]string{"format": "", "signature": "", "timestamp": "", "ocsp": "", "trust": ""}

// TestValid: a container of each kind, checked against the federation's
// CA, passes every check; the report says which kind it was.
func TestValid(t *testing.T) {
	f := getFederation(t)
	for _, tc := range []struct {
		name        string
		attachments []string
	}{{"plain", nil}, {"batch signature", []string{"B1 quarterly report", "second attachment"}}} {
		t.Run(tc.name, func(t *testing.T) {
			rep := asic.Verify(f.build(t, tc.attachments...).zip(t), f.anchors())
			wantChecks(t, rep, allOK)
			if !rep.Valid() || rep.Failed() {
				t.Errorf("Valid() = %v, Failed() = %v", rep.Valid(), rep.Failed())
			}
			if rep.Batch != (tc.attachments != nil) || !rep.BatchTimestamp {
				t.Errorf("Batch = %v, BatchTimestamp = %v", rep.Batch, rep.BatchTimestamp)
			}
			if rep.Signer == nil || rep.Signer.Serial != f.signer.Cert.SerialNumber.String() || rep.TSA == nil || rep.TimestampTime.Before(rep.SigningTime) || rep.OCSPProducedAt.IsZero() {
				t.Errorf("report details: %+v", rep)
			}
			if len(rep.Format.Notes) != 0 {
				t.Errorf("notes on a container written as X-Road writes it: %q", rep.Format.Notes)
			}
		})
	}
}

// TestTrust: without anchors the trust check says so and nothing else
// changes; with the wrong CA it fails as an unknown CA.
func TestTrust(t *testing.T) {
	f := getFederation(t)
	data := f.build(t).zip(t)
	rep := asic.Verify(data, asic.Options{})
	wantChecks(t, rep, map[string]string{"format": "", "signature": "", "timestamp": "",
		"ocsp": asic.CodeAnchorNotGiven, "trust": asic.CodeAnchorNotGiven})
	if rep.Trust.Status != asic.NotChecked || rep.Failed() || rep.Valid() {
		t.Errorf("trust %s, Failed %v, Valid %v", rep.Trust.Status, rep.Failed(), rep.Valid())
	}

	rogue := asic.Options{Anchors: []*x509.Certificate{f.rogue.Root}, Intermediates: []*x509.Certificate{f.rogue.Cert}}
	rep = asic.Verify(data, rogue)
	wantChecks(t, rep, map[string]string{"format": "", "signature": "", "timestamp": "", "ocsp": "issuer_unknown", "trust": "unknown_ca"})
	if !rep.Trust.Has("unknown_tsa") || len(rep.Trust.Problems) != 2 {
		t.Errorf("trust problems: %+v", rep.Trust.Problems)
	}

	// The TSA trusted by its own certificate, as X-Road's verification
	// configuration does, but not the signer's CA.
	tsaOnly := asic.Options{Anchors: []*x509.Certificate{f.tsaCert}}
	rep = asic.Verify(data, tsaOnly)
	if rep.Trust.Code != "unknown_ca" || rep.Trust.Has("unknown_tsa") {
		t.Errorf("trust with the TSA certificate as anchor: %+v", rep.Trust)
	}
}

// TestRefusals: each way a container can be wrong is refused by the check
// it concerns, with its own code, and the other checks still report.
func TestRefusals(t *testing.T) {
	f := getFederation(t)
	plain := f.build(t)
	batch := f.build(t, "attachment one", "attachment two")
	otherBatch := f.build(t, "attachment one", "attachment three")
	other := f.build(t) // another signature over the same message: its own ts chain and token

	revokedSigner, err := f.newSigner()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ca.Revoke(revokedSigner.Cert.SerialNumber, 1); err != nil {
		t.Fatal(err)
	}
	if revokedSigner.OCSP, err = f.ocspFor(revokedSigner.Cert); err != nil {
		t.Fatal(err)
	}
	saved := f.signer
	f.signer = revokedSigner
	revoked := f.build(t)
	f.signer = saved

	deflatedMimetype := append(container(nil), plain...)
	deflatedMimetype[0].method = zip.Deflate

	for _, tc := range []struct {
		name string
		c    container
		opts func(*asic.Options)
		want map[string]string
	}{
		{"tampered message", plain.with(asic.EntryMessage, []byte(strings.Replace(string(plain.get(asic.EntryMessage)), "1", "2", 1))), nil,
			map[string]string{"format": "", "signature": "digest_mismatch", "timestamp": "", "ocsp": "signature_not_verified", "trust": "signature_not_verified"}},
		{"tampered attachment", batch.with("attachment2", []byte("attachment 2")), nil,
			map[string]string{"format": "", "signature": "invalid_hash_chain_ref", "timestamp": ""}},
		{"tampered signature", plain.with(asic.EntrySignature, bytes.Replace(plain.get(asic.EntrySignature), []byte("<ds:SignatureValue"), []byte("<ds:SignatureValue "), 1)), nil,
			map[string]string{"format": "", "signature": "", "timestamp": "invalid_hash_chain_ref"}},
		{"wrong signature hash chain", batch.with(asic.EntrySigChain, otherBatch.get(asic.EntrySigChain)), nil,
			map[string]string{"format": "", "signature": "invalid_hash_chain_ref", "timestamp": ""}},
		{"wrong signature hash chain result", batch.with(asic.EntrySigChainResult, otherBatch.get(asic.EntrySigChainResult)), nil,
			map[string]string{"format": "", "signature": "digest_mismatch", "timestamp": ""}},
		{"wrong time-stamp hash chain", plain.with(asic.EntryTSChain, other.get(asic.EntryTSChain)), nil,
			map[string]string{"format": "", "signature": "", "timestamp": "invalid_hash_chain_ref", "ocsp": "", "trust": "timestamp_not_verified"}},
		{"bad token imprint", plain.with(asic.EntryTimestamp, other.get(asic.EntryTimestamp)), nil,
			map[string]string{"format": "", "signature": "", "timestamp": "imprint_mismatch", "ocsp": "", "trust": "timestamp_not_verified"}},
		{"ASiC manifest digest", plain.with(asic.EntryASiCManifest, other.get(asic.EntryASiCManifest)), nil,
			map[string]string{"format": "", "timestamp": "asic_manifest_digest"}},
		{"token missing", plain.without(asic.EntryTimestamp).without(asic.EntryASiCManifest), nil,
			map[string]string{"format": "timestamp_not_found", "signature": "", "timestamp": "input_missing"}},
		{"message missing", plain.without(asic.EntryMessage), nil,
			map[string]string{"format": "message_not_found", "signature": "input_missing", "timestamp": ""}},
		{"signature missing", plain.without(asic.EntrySignature), nil,
			map[string]string{"format": "signature_not_found", "signature": "input_missing", "timestamp": "input_missing"}},
		{"hash chain missing", batch.without(asic.EntrySigChain), nil,
			map[string]string{"format": "hashchain_not_found", "signature": "invalid_reference"}},
		{"mimetype missing", plain.without(asic.EntryMimeType), nil,
			map[string]string{"format": "mimetype_not_found", "signature": ""}},
		{"extra entry", plain.with("evil.xml", []byte("<x/>")), nil,
			map[string]string{"format": "unexpected_entry", "signature": "", "timestamp": "", "ocsp": "", "trust": ""}},
		{"case-folded name", plain.without(asic.EntryMessage).with("MESSAGE.XML", plain.get(asic.EntryMessage)), nil,
			map[string]string{"format": "message_not_found", "format+": "unexpected_entry"}},
		{"duplicate entry", append(plain, entry{name: asic.EntryMessage, data: []byte("<other/>"), method: zip.Deflate}), nil,
			map[string]string{"format": "duplicate_entry"}},
		{"attachment gap", withManifest(batch.without("attachment1")), nil,
			map[string]string{"format": "attachment_gap"}},
		{"wrong mimetype", plain.with(asic.EntryMimeType, []byte("application/zip")), nil,
			map[string]string{"format": "invalid_mimetype", "signature": "", "timestamp": ""}},
		{"mimetype deflated, strict", deflatedMimetype, func(o *asic.Options) { o.StrictMimetype = true },
			map[string]string{"format": "mimetype_not_first_stored", "signature": ""}},
		{"mimetype deflated", deflatedMimetype, nil, map[string]string{"format": ""}},
		{"manifest lists a missing entry", plain.with(asic.EntryManifest, manifest(plain.with("attachment1", nil))), nil,
			map[string]string{"format": "invalid_manifest", "signature": ""}},
		{"revoked signer", revoked, nil,
			map[string]string{"format": "", "signature": "", "timestamp": "", "ocsp": "certificate_revoked", "trust": ""}},
		{"zip bomb", plain.with("attachment1", make([]byte, 4<<20)), func(o *asic.Options) { o.Limits.MaxEntryBytes = 1 << 20 },
			map[string]string{"format": "too_large", "signature": "unreadable_container"}},
		{"too many entries", plain, func(o *asic.Options) { o.Limits.MaxEntries = 3 },
			map[string]string{"format": "too_large"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := f.anchors()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			rep := asic.Verify(tc.c.zip(t), opts)
			wantChecks(t, rep, tc.want)
			if !rep.Failed() {
				if tc.name != "mimetype deflated" {
					t.Error("Failed() = false")
				} else if len(rep.Format.Notes) != 1 {
					t.Errorf("notes: %q", rep.Format.Notes)
				}
			}
		})
	}
}

func withManifest(c container) container { return c.with(asic.EntryManifest, manifest(c)) }

// TestNotZip: what is not a ZIP archive is refused by the format check,
// and the other checks say they could not run.
func TestNotZip(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("Hello world!\n"), []byte("PK\x03\x04 truncated")} {
		rep := asic.Verify(data, asic.Options{})
		wantChecks(t, rep, map[string]string{"format": "not_zip", "signature": "unreadable_container", "trust": "unreadable_container"})
	}
}

// TestSignatureTimeStamp: a record time-stamped alone carries its token
// in the signature, over the SignatureValue.
func TestSignatureTimeStamp(t *testing.T) {
	f := getFederation(t)
	plain := f.build(t).without(asic.EntryTSChainResult).without(asic.EntryTSChain).without(asic.EntryTimestamp).without(asic.EntryASiCManifest)
	plain = plain.with(asic.EntryManifest, manifest(plain))
	sig := string(plain.get(asic.EntrySignature))
	start, end := strings.Index(sig, "<ds:SignatureValue"), strings.Index(sig, "</ds:SignatureValue>")
	value := sig[strings.Index(sig[start:], ">")+start+1 : end]
	der, err := base64Decode(value)
	if err != nil {
		t.Fatal(err)
	}
	withToken := func(token []byte) container {
		el := "<xades:SignatureTimeStamp><xades:EncapsulatedTimeStamp>" + base64Encode(token) + "</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp>"
		return plain.with(asic.EntrySignature, []byte(strings.Replace(sig, "<xades:UnsignedSignatureProperties>", "<xades:UnsignedSignatureProperties>"+el, 1)))
	}
	rep := asic.Verify(withToken(f.stamp(t, der)).zip(t), f.anchors())
	wantChecks(t, rep, allOK)
	if rep.BatchTimestamp {
		t.Error("BatchTimestamp = true")
	}
	rep = asic.Verify(withToken(f.stamp(t, []byte("something else"))).zip(t), f.anchors())
	wantChecks(t, rep, map[string]string{"signature": "", "timestamp": "imprint_mismatch"})
	rep = asic.Verify(plain.zip(t), f.anchors())
	wantChecks(t, rep, map[string]string{"signature": "", "timestamp": "not_timestamped"})
}

// TestJSON: the report marshals with its checks by name.
func TestJSON(t *testing.T) {
	f := getFederation(t)
	rep := asic.Verify(f.build(t).zip(t), asic.Options{})
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	trust, _ := back["trust"].(map[string]any)
	if trust["status"] != "not_checked" || trust["code"] != asic.CodeAnchorNotGiven {
		t.Errorf("trust in JSON: %v", trust)
	}
	if sig, _ := back["signature"].(map[string]any); sig["status"] != "ok" {
		t.Errorf("signature in JSON: %v", sig)
	}
}

// TestVerifyFile: the file is read within the limits.
func TestVerifyFile(t *testing.T) {
	f := getFederation(t)
	path := t.TempDir() + "/x.asice"
	if err := os.WriteFile(path, f.build(t).zip(t), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := asic.VerifyFile(path, f.anchors())
	if err != nil {
		t.Fatal(err)
	}
	wantChecks(t, rep, allOK)
	rep, err = asic.VerifyFile(path, asic.Options{Limits: asic.Limits{MaxTotalBytes: 100, MaxEntries: 1}})
	if err != nil {
		t.Fatal(err)
	}
	wantChecks(t, rep, map[string]string{"format": "too_large"})
	if _, err := asic.VerifyFile(path+".missing", asic.Options{}); err == nil {
		t.Error("no error for a missing file")
	}
}
