package der

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReader walks arbitrary input with the Reader, element by element and
// into every constructed element. The Reader must not panic, must refuse
// everything encoding/asn1 refuses (the element structure, and INTEGER,
// ENUMERATED, BOOLEAN, OBJECT IDENTIFIER, BIT STRING, UTF8String and
// GeneralizedTime values), and must read the same values where both
// accept; what it accepts is DER, so TLV re-encodes it byte for byte.
func FuzzReader(f *testing.F) {
	for _, s := range [][]byte{
		TLV(TagSequence, Int(1), Integer(big.NewInt(-300)), Bool(true), MustOID(OIDSHA256), Null),
		TLV(TagSequence, AlgorithmID(OIDSHA256WithRSA, Null), BitString([]byte{0xa0}, 5), Enumerated(6)),
		TLV(TagSequence, TLV(TagSequence, TLV(TagSequence, MustOID(OIDEd25519), Bool(true), TLV(TagOctetString, []byte("v"))))),
		TLV(ContextCons(0), TLV(TagGeneralizedTime, []byte("20240229235958.5Z")), TLV(TagUTF8String, []byte("hayır"))),
		TLV(TagSet, TLV(Context(1), []byte{3, 0xe7}), TLV(TagUTCTime, []byte("240229235958Z"))),
		{0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00},
		{0x30, 0x81, 0x03, 0x02, 0x01, 0x01},
		{0x1f, 0x81, 0x00, 0x00},
		{0x02, 0x02, 0x00, 0x01},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(data, "fuzz")
		walk(t, &r, 0)
	})
}

func walk(t *testing.T, r *Reader, depth int) {
	for !r.Empty() {
		rest := []byte(r.s)
		var std asn1.RawValue
		_, stdErr := asn1.Unmarshal(rest, &std)
		e, err := r.Next("element")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name what was read", err)
			}
			return // refusing more than encoding/asn1 is allowed
		}
		if stdErr != nil {
			t.Fatalf("accepted %x, which encoding/asn1 refuses: %v", e.Raw, stdErr)
		}
		if !bytes.Equal(std.FullBytes, e.Raw) || !bytes.Equal(std.Bytes, e.Content) || std.Tag >= 31 ||
			Tag(std.Class<<6|std.Tag) != e.Tag&^0x20 || std.IsCompound != (e.Tag&0x20 != 0) {
			t.Fatalf("element %x read as %+v, encoding/asn1 reads %+v", rest, e, std)
		}
		if again := TLV(e.Tag, e.Content); !bytes.Equal(again, e.Raw) {
			t.Fatalf("accepted %x, which is not DER (DER is %x)", e.Raw, again)
		}
		checkValue(t, e)
		if e.Tag&0x20 != 0 && depth < 8 {
			checkStructures(t, e)
			in := Reader{s: e.Content, name: "in", parent: r}
			walk(t, &in, depth+1)
		}
	}
}

// same runs a Reader method on the element e and encoding/asn1 on its
// encoding, and checks that they agree; strict means encoding/asn1 may
// accept what the Reader refuses.
func same[T any](t *testing.T, e Element, strict bool, read func(*Reader) (T, error), std func([]byte) (T, error), equal func(a, b T) bool) {
	t.Helper()
	r := NewReader(e.Raw, "fuzz")
	got, err := read(&r)
	want, stdErr := std(e.Raw)
	switch {
	case err == nil && stdErr != nil:
		t.Fatalf("accepted %x, which encoding/asn1 refuses: %v", e.Raw, stdErr)
	case err != nil && stdErr == nil && !strict:
		t.Fatalf("refused %x, which encoding/asn1 accepts as %v: %v", e.Raw, want, err)
	case err == nil && !equal(got, want):
		t.Fatalf("%x reads as %v, encoding/asn1 reads %v", e.Raw, got, want)
	case err == nil && !r.Empty():
		t.Fatalf("%x not read whole", e.Raw)
	}
}

// stdUnmarshal is encoding/asn1's reading of one whole value.
func stdUnmarshal[T any](params string) func([]byte) (T, error) {
	return func(b []byte) (T, error) {
		var v T
		rest, err := asn1.UnmarshalWithParams(b, &v, params)
		if err == nil && len(rest) != 0 {
			err = asn1.SyntaxError{Msg: "trailing data"}
		}
		return v, err
	}
}

func eq[T comparable](a, b T) bool { return a == b }

func checkValue(t *testing.T, e Element) {
	switch e.Tag {
	case TagInteger:
		same(t, e, false, func(r *Reader) (*big.Int, error) { return r.BigInt("n") }, stdUnmarshal[*big.Int](""),
			func(a, b *big.Int) bool { return a.Cmp(b) == 0 })
		same(t, e, false, func(r *Reader) (int64, error) { return r.Int64("n") }, stdUnmarshal[int64](""), eq)
	case TagEnumerated:
		same(t, e, false, func(r *Reader) (int, error) { return r.Enumerated("e") },
			func(b []byte) (int, error) { v, err := stdUnmarshal[asn1.Enumerated]("")(b); return int(v), err }, eq)
	case TagBoolean:
		same(t, e, false, func(r *Reader) (bool, error) { return r.Bool("b") }, stdUnmarshal[bool](""), eq)
	case TagOID:
		same(t, e, false, func(r *Reader) (asn1.ObjectIdentifier, error) { return r.OID("o") }, stdUnmarshal[asn1.ObjectIdentifier](""),
			asn1.ObjectIdentifier.Equal)
	case TagBitString:
		same(t, e, false, func(r *Reader) (asn1.BitString, error) { return r.BitString("b") }, stdUnmarshal[asn1.BitString](""),
			func(a, b asn1.BitString) bool { return a.BitLength == b.BitLength && bytes.Equal(a.Bytes, b.Bytes) })
	case TagUTF8String:
		same(t, e, false, func(r *Reader) (string, error) { return r.UTF8String("s") }, stdUnmarshal[string]("utf8"), eq)
	case TagGeneralizedTime:
		// Stricter than encoding/asn1: only UTC ("Z").
		same(t, e, true, func(r *Reader) (time.Time, error) { return r.GeneralizedTime("t") }, stdUnmarshal[time.Time]("generalized"),
			time.Time.Equal)
	}
}

// checkStructures reads the constructed element e as the structures the
// Reader knows; where it accepts one, the parts must be consistent.
func checkStructures(t *testing.T, e Element) {
	r := NewReader(e.Raw, "fuzz")
	if a, err := r.Algorithm("alg"); err == nil {
		if !bytes.Equal(a.Raw, e.Raw) || len(a.OID) < 2 || (a.Params != nil && !bytes.HasSuffix(e.Raw, a.Params)) {
			t.Fatalf("AlgorithmIdentifier %x read as %+v", e.Raw, a)
		}
	}
	r = NewReader(e.Raw, "fuzz")
	if exts, err := r.Extensions(e.Tag, "exts"); err == nil {
		if len(exts) == 0 {
			t.Fatal("empty Extensions accepted")
		}
		for i, x := range exts {
			for _, y := range exts[:i] {
				if x.ID.Equal(y.ID) {
					t.Fatalf("duplicate extension %v accepted", x.ID)
				}
			}
		}
	}
	if e.Tag&0xe0 == 0xa0 {
		r = NewReader(e.Raw, "fuzz")
		if x, err := r.Explicit(int(e.Tag&0x1f), "x"); err == nil {
			inner, err := x.Next("inner")
			if err != nil || !x.Empty() || len(inner.Raw) != len(e.Content) {
				t.Fatalf("[%d] EXPLICIT %x read as %+v, %v", e.Tag&0x1f, e.Raw, inner, err)
			}
		}
	}
}

// FuzzRoundTrip writes values with the writers and reads them back: the
// Reader returns what was written, and the writers produce what
// encoding/asn1 produces for the same values.
func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(0), []byte{}, false, int64(0), uint32(0), []byte{1, 2}, "")
	f.Add(int64(-129), []byte{0x80, 0}, true, int64(1709251198), uint32(500_000_000), []byte{2, 200, 0xff, 0xff}, "hayır")
	f.Add(int64(1<<62), []byte{0xff}, true, int64(-62167219200), uint32(1), []byte{0, 39, 7}, "x")
	f.Fuzz(func(t *testing.T, n int64, mag []byte, flag bool, secs int64, nanos uint32, arcs []byte, text string) {
		num := new(big.Int).SetBytes(mag)
		if flag {
			num.Neg(num)
		}
		// A time in the years 0 to 9999.
		const lo, hi = -62167219200, 253402300799
		secs = lo + (secs%(hi-lo+1)+(hi-lo+1))%(hi-lo+1)
		when := time.Unix(secs, int64(nanos%1_000_000_000)).UTC()
		// An OID with valid first arcs.
		oid := asn1.ObjectIdentifier{0, 0}
		if len(arcs) > 0 {
			oid[0] = int(arcs[0] % 3)
		}
		if len(arcs) > 1 {
			oid[1] = int(arcs[1])
			if oid[0] < 2 {
				oid[1] %= 40
			}
		}
		for i := 2; i+1 < len(arcs); i += 2 {
			oid = append(oid, int(arcs[i])<<8|int(arcs[i+1]))
		}
		unused := 0
		bits := bytes.Clone(mag)
		if len(bits) > 0 {
			unused = int(uint64(n) % 8)
			bits[len(bits)-1] &^= byte(1<<unused - 1)
		}
		if !utf8.ValidString(text) {
			text = strings.ToValidUTF8(text, "?")
		}

		gt, err := GeneralizedTime(when)
		if err != nil {
			t.Fatalf("GeneralizedTime(%v): %v", when, err)
		}
		tm, err := Time(when)
		if err != nil {
			t.Fatalf("Time(%v): %v", when, err)
		}
		oidDER, err := OID(oid)
		if err != nil {
			t.Fatalf("OID(%v): %v", oid, err)
		}
		enc := TLV(TagSequence,
			Int(n), Integer(num), Enumerated(int64(int32(n))), Bool(flag), TLV(TagOctetString, mag),
			BitString(bits, unused), oidDER, TLV(TagUTF8String, []byte(text)), gt, tm,
			TLV(ContextCons(3), Int(n)), AlgorithmID(oid, Null))

		for _, c := range []struct {
			got  []byte
			want any
			p    string
		}{
			{Int(n), n, ""}, {Integer(num), num, ""}, {Enumerated(int64(int32(n))), asn1.Enumerated(int32(n)), ""},
			{Bool(flag), flag, ""}, {BitString(bits, unused), asn1.BitString{Bytes: bits, BitLength: 8*len(bits) - unused}, ""},
			{oidDER, oid, ""}, {TLV(TagUTF8String, []byte(text)), text, "utf8"},
			{tm, when.Truncate(time.Second), ""},
		} {
			want, err := asn1.MarshalWithParams(c.want, c.p)
			if err != nil || !bytes.Equal(c.got, want) {
				t.Fatalf("%v encodes as %x, encoding/asn1 %x (%v)", c.want, c.got, want, err)
			}
		}
		if when.Nanosecond() == 0 {
			if want, err := asn1.MarshalWithParams(when, "generalized"); err != nil || !bytes.Equal(gt, want) {
				t.Fatalf("%v encodes as %q, encoding/asn1 %q (%v)", when, gt, want, err)
			}
		}

		r, err := Parse(enc, TagSequence, "rt")
		if err != nil {
			t.Fatal(err)
		}
		check := func(ok bool, err error, what string) {
			t.Helper()
			if err != nil || !ok {
				t.Fatalf("%s does not read back (%v) from %x", what, err, enc)
			}
		}
		gotN, err := r.Int64("n")
		check(gotN == n, err, "Int")
		gotNum, err := r.BigInt("num")
		check(gotNum.Cmp(num) == 0, err, "Integer")
		gotE, err := r.Enumerated("e")
		check(gotE == int(int32(n)), err, "Enumerated")
		gotB, err := r.Bool("b")
		check(gotB == flag, err, "Bool")
		gotOS, err := r.OctetString("os")
		check(bytes.Equal(gotOS, mag), err, "OCTET STRING")
		gotBits, err := r.BitString("bits")
		check(bytes.Equal(gotBits.Bytes, bits) && gotBits.BitLength == 8*len(bits)-unused, err, "BitString")
		gotOID, err := r.OID("oid")
		check(gotOID.Equal(oid), err, "OID")
		gotText, err := r.UTF8String("text")
		check(gotText == text, err, "UTF8String")
		gotTime, err := r.GeneralizedTime("gt")
		check(gotTime.Equal(when), err, "GeneralizedTime")
		_, err = r.Read(Tag(tm[0]), "time")
		check(true, err, "Time")
		x, err := r.Explicit(3, "explicit")
		check(err == nil, err, "[3] EXPLICIT")
		gotX, err := x.Int64("n")
		check(gotX == n, err, "[3] EXPLICIT INTEGER")
		alg, err := r.Algorithm("alg")
		check(alg.OID.Equal(oid) && bytes.Equal(alg.Params, Null) && alg.NullParams(), err, "AlgorithmIdentifier")
		check(true, r.Done(), "the end")
	})
}
