package globalconf

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluz/sluz/internal/xmldsig"
)

// FuzzVerify feeds arbitrary bytes to Verify: it must never panic, and
// every refusal must wrap one of the package's sentinel errors.
func FuzzVerify(f *testing.F) {
	p := newPKI(f, "")
	anchor := p.anchor("http://127.0.0.1/globalconf")
	good := build(f, p, sampleConf(f, p, 1))
	f.Add(good)
	f.Add(bytes.Replace(good, []byte("Daxili"), []byte("Eaxili"), 1))
	f.Add(bytes.Replace(good, []byte("<members>"), []byte("<members><!-- x -->"), 1))
	f.Add([]byte(`<?xml version="1.0"?><conf xmlns="urn:sluz:globalconf:1"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></conf>`))
	f.Add([]byte(`<a xmlns:p="urn:p"><p:b p:x="1" x="2"/></a>`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Verify(data, anchor, testNow)
		if err == nil {
			if c == nil {
				t.Fatal("nil Conf without an error")
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("accepted an invalid configuration: %v", err)
			}
			return
		}
		for _, sentinel := range []error{ErrMalformed, ErrSignature, ErrSigner, ErrInstance, ErrExpired} {
			if errors.Is(err, sentinel) {
				return
			}
		}
		t.Fatalf("error wraps no sentinel: %v", err)
	})
}

// FuzzParse reaches what FuzzVerify cannot get past the signature: the
// strict reader, the canonicaliser and the content parser, on arbitrary
// documents. None may panic; accepted content must index cleanly.
func FuzzParse(f *testing.F) {
	p := newPKI(f, "")
	good := build(f, p, sampleConf(f, p, 1))
	f.Add(good)
	f.Add([]byte(`<a xmlns="urn:a"><b xmlns=""><c xmlns:p="urn:p" p:x="&#9;"/></b></a>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := xmldsig.Read(data, readOptions)
		if err != nil {
			if !errors.Is(sentinel(err), ErrMalformed) {
				t.Fatalf("read error wraps no ErrMalformed: %v", err)
			}
			return
		}
		xmldsig.Canonicalize(nil, doc.Root, false, nil)
		if sig, err := parseSignature(doc); err == nil {
			xmldsig.Canonicalize(nil, doc.Root, false, sig.Element)
			xmldsig.Canonicalize(nil, sig.SignedInfo, false, nil)
		}
		c, err := parseConf(doc.Root)
		if err != nil {
			return
		}
		if c.Validate() == nil {
			s := NewSnapshot(c)
			for _, m := range c.Members {
				s.ServersFor(m.ID)
				s.MemberName(m.ID)
			}
		}
	})
}
