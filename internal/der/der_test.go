package der

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantErr checks that err is an error whose text contains want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		tag      Tag
		want     string // error text; empty: accepted
	}{
		{"SEQUENCE", "30 03 02 01 05", TagSequence, ""},
		{"empty SEQUENCE", "30 00", TagSequence, ""},
		{"long form", "04 81 80" + strings.Repeat("00", 128), TagOctetString, ""},
		{"empty input", "", TagSequence, "x: empty"},
		{"one octet", "30", TagSequence, "x: truncated element"},
		{"trailing data", "30 00 00", TagSequence, "x: trailing data"},
		{"wrong tag", "31 00", TagSequence, "x: unexpected tag 0x31, want 0x30"},
		{"indefinite length", "30 80 00 00", TagSequence, "indefinite length (not DER)"},
		{"short length in long form", "30 81 05 02 01 05 05 00", TagSequence, "non-minimal length (not DER)"},
		{"leading zero length octet", "04 82 00 80" + strings.Repeat("00", 128), TagOctetString, "non-minimal length (not DER)"},
		{"five length octets", "04 85 01 00 00 00 00", TagOctetString, "length too large"},
		{"truncated length", "04 82 01", TagOctetString, "truncated length"},
		{"truncated contents", "30 05 02 01", TagSequence, "truncated element"},
		{"high tag number", "1f 81 00 00", TagSequence, "high tag number form not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(unhex(t, tc.in), tc.tag, "x")
			if tc.want != "" {
				wantErr(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.tag != TagSequence {
				if r.Empty() {
					t.Fatal("no contents")
				}
				return
			}
			if tc.in != "30 00" {
				if n, err := r.Int64("n"); err != nil || n != 5 {
					t.Fatalf("contents read as %d, %v", n, err)
				}
			}
			if err := r.Done(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// read runs one typed read of r over the hex in and returns its result.
type readCase struct {
	name, in string
	want     any    // the value read, when accepted
	err      string // error text; empty: accepted
}

func runReads(t *testing.T, cases []readCase, read func(*Reader) (any, error)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(unhex(t, tc.in), "s")
			got, err := read(&r)
			if tc.err != "" {
				wantErr(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Done(); err != nil {
				t.Fatal(err)
			}
			switch w := tc.want.(type) {
			case *big.Int:
				if got.(*big.Int).Cmp(w) != 0 {
					t.Fatalf("got %v, want %v", got, w)
				}
			case asn1.ObjectIdentifier:
				if !got.(asn1.ObjectIdentifier).Equal(w) {
					t.Fatalf("got %v, want %v", got, w)
				}
			case []byte:
				if !bytes.Equal(got.([]byte), w) {
					t.Fatalf("got %x, want %x", got, w)
				}
			case time.Time:
				if !got.(time.Time).Equal(w) || got.(time.Time).Location() != time.UTC {
					t.Fatalf("got %v, want %v", got, w)
				}
			case asn1.BitString:
				g := got.(asn1.BitString)
				if g.BitLength != w.BitLength || !bytes.Equal(g.Bytes, w.Bytes) {
					t.Fatalf("got %+v, want %+v", g, w)
				}
			default:
				if got != tc.want {
					t.Fatalf("got %v (%T), want %v (%T)", got, got, tc.want, tc.want)
				}
			}
		})
	}
}

func TestBigInt(t *testing.T) {
	runReads(t, []readCase{
		{"zero", "02 01 00", big.NewInt(0), ""},
		{"128", "02 02 00 80", big.NewInt(128), ""},
		{"-1", "02 01 ff", big.NewInt(-1), ""},
		{"-129", "02 02 ff 7f", big.NewInt(-129), ""},
		{"large", "02 09 01 00 00 00 00 00 00 00 00", new(big.Int).Lsh(big.NewInt(1), 64), ""},
		{"leading 00", "02 02 00 05", nil, "s: n: malformed INTEGER"},
		{"leading ff", "02 02 ff 80", nil, "s: n: malformed INTEGER"},
		{"empty", "02 00", nil, "s: n: malformed INTEGER"},
		{"wrong tag", "0a 01 05", nil, "s: n: unexpected tag 0x0a, want 0x02"},
		{"missing", "", nil, "s: missing n"},
	}, func(r *Reader) (any, error) { return r.BigInt("n") })
}

func TestInt64(t *testing.T) {
	runReads(t, []readCase{
		{"one", "02 01 01", int64(1), ""},
		{"max", "02 08 7f ff ff ff ff ff ff ff", int64(1<<63 - 1), ""},
		{"min", "02 08 80 00 00 00 00 00 00 00", int64(-1 << 63), ""},
		{"too large", "02 09 00 80 00 00 00 00 00 00 00", nil, "s: n: malformed INTEGER"},
		{"non-minimal", "02 02 00 01", nil, "s: n: malformed INTEGER"},
	}, func(r *Reader) (any, error) { return r.Int64("n") })
	runReads(t, []readCase{
		{"[0] IMPLICIT", "80 02 03 e7", int64(999), ""},
		{"universal tag", "02 01 01", nil, "s: millis: unexpected tag 0x02, want 0x80"},
		{"non-minimal", "80 02 00 01", nil, "s: millis: malformed INTEGER"},
	}, func(r *Reader) (any, error) { return r.ImplicitInt64(Context(0), "millis") })
}

func TestEnumerated(t *testing.T) {
	runReads(t, []readCase{
		{"six", "0a 01 06", 6, ""},
		{"int32 max", "0a 04 7f ff ff ff", 1<<31 - 1, ""},
		{"beyond int32", "0a 05 00 80 00 00 00", nil, "s: e: malformed ENUMERATED"},
		{"non-minimal", "0a 02 00 06", nil, "s: e: malformed ENUMERATED"},
		{"INTEGER", "02 01 06", nil, "unexpected tag 0x02, want 0x0a"},
	}, func(r *Reader) (any, error) { return r.Enumerated("e") })
}

func TestOID(t *testing.T) {
	runReads(t, []readCase{
		{"sha256", "06 09 60 86 48 01 65 03 04 02 01", OIDSHA256, ""},
		{"2.999", "06 02 88 37", asn1.ObjectIdentifier{2, 999}, ""},
		{"largest component", "06 06 2a 87 ff ff ff 7f", asn1.ObjectIdentifier{1, 2, 1<<31 - 1}, ""},
		{"component too large", "06 06 2a 88 80 80 80 00", nil, "s: o: malformed OBJECT IDENTIFIER"},
		{"leading 0x80", "06 03 2a 80 01", nil, "s: o: malformed OBJECT IDENTIFIER"},
		{"truncated component", "06 02 2a 81", nil, "s: o: malformed OBJECT IDENTIFIER"},
		{"empty", "06 00", nil, "s: o: malformed OBJECT IDENTIFIER"},
	}, func(r *Reader) (any, error) { return r.OID("o") })
}

func TestBool(t *testing.T) {
	runReads(t, []readCase{
		{"true", "01 01 ff", true, ""},
		{"false", "01 01 00", false, ""},
		{"01 is not DER", "01 01 01", nil, "s: b: malformed BOOLEAN"},
		{"two octets", "01 02 00 00", nil, "s: b: malformed BOOLEAN"},
		{"empty", "01 00", nil, "s: b: malformed BOOLEAN"},
	}, func(r *Reader) (any, error) { return r.Bool("b") })
}

func TestOctetString(t *testing.T) {
	runReads(t, []readCase{
		{"octets", "04 02 ab cd", []byte{0xab, 0xcd}, ""},
		{"empty", "04 00", []byte{}, ""},
		{"constructed", "24 04 04 02 ab cd", nil, "s: v: unexpected tag 0x24, want 0x04"},
	}, func(r *Reader) (any, error) { return r.OctetString("v") })
}

func TestBitString(t *testing.T) {
	runReads(t, []readCase{
		{"whole octets", "03 03 00 ab cd", asn1.BitString{Bytes: []byte{0xab, 0xcd}, BitLength: 16}, ""},
		{"one bit", "03 02 07 80", asn1.BitString{Bytes: []byte{0x80}, BitLength: 1}, ""},
		{"empty", "03 01 00", asn1.BitString{Bytes: []byte{}, BitLength: 0}, ""},
		{"no unused-bits octet", "03 00", nil, "s: bits: malformed BIT STRING"},
		{"unused bits set", "03 02 07 c0", nil, "s: bits: malformed BIT STRING"},
		{"eight unused bits", "03 02 08 00", nil, "s: bits: malformed BIT STRING"},
		{"unused bits without octets", "03 01 01", nil, "s: bits: malformed BIT STRING"},
	}, func(r *Reader) (any, error) { return r.BitString("bits") })
}

func TestUTF8String(t *testing.T) {
	runReads(t, []readCase{
		{"text", "0c 06 68 61 79 c4 b1 72", "hayır", ""},
		{"invalid UTF-8", "0c 02 c4 28", nil, "s: text: invalid UTF-8"},
		{"PrintableString", "13 01 41", nil, "unexpected tag 0x13, want 0x0c"},
	}, func(r *Reader) (any, error) { return r.UTF8String("text") })
}

func TestGeneralizedTime(t *testing.T) {
	gt := func(s string) string { return hex.EncodeToString(TLV(TagGeneralizedTime, []byte(s))) }
	when := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
	runReads(t, []readCase{
		{"whole seconds", gt("20240229235958Z"), when, ""},
		{"fraction", gt("20240229235958.5Z"), when.Add(500 * time.Millisecond), ""},
		{"nanoseconds", gt("20240229235958.000000001Z"), when.Add(1), ""},
		{"year 0", gt("00000101000000Z"), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"offset", gt("20240229235958+0100"), nil, "s: t: GeneralizedTime must be in UTC (Z)"},
		{"+0000", gt("20240229235958+0000"), nil, "must be in UTC (Z)"},
		{"local time", gt("20240229235958"), nil, "must be in UTC (Z)"},
		{"empty", gt(""), nil, "must be in UTC (Z)"},
		{"trailing zero", gt("20240229235958.50Z"), nil, `s: t: GeneralizedTime "20240229235958.50Z" is not in DER form`},
		{"empty fraction", gt("20240229235958.Z"), nil, "s: t: bad GeneralizedTime"},
		{"comma", gt("20240229235958,5Z"), nil, "is not in DER form"},
		{"no seconds", gt("202402292359Z"), nil, "s: t: bad GeneralizedTime"},
		{"month 13", gt("20241329235958Z"), nil, "s: t: bad GeneralizedTime"},
		{"Feb 30", gt("20240230235958Z"), nil, "s: t: bad GeneralizedTime"},
		{"leap second", gt("20161231235960Z"), nil, "s: t: bad GeneralizedTime"},
		{"UTCTime", hex.EncodeToString(TLV(TagUTCTime, []byte("240229235958Z"))), nil, "unexpected tag 0x17, want 0x18"},
	}, func(r *Reader) (any, error) { return r.GeneralizedTime("t") })
}

func TestAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		params   string // hex, "-" for absent
		null     bool
		err      string
	}{
		{"absent parameters", "30 0b 06 09 60 86 48 01 65 03 04 02 01", "-", true, ""},
		{"NULL parameters", "30 0d 06 09 60 86 48 01 65 03 04 02 01 05 00", "05 00", true, ""},
		{"other parameters", "30 0e 06 09 60 86 48 01 65 03 04 02 01 02 01 00", "02 01 00", false, ""},
		{"two parameters", "30 0f 06 09 60 86 48 01 65 03 04 02 01 05 00 05 00", "", false, "s: alg: trailing data"},
		{"no OID", "30 02 05 00", "", false, "s: alg: algorithm: unexpected tag 0x05, want 0x06"},
		{"empty", "30 00", "", false, "s: alg: missing algorithm"},
		{"not a SEQUENCE", "31 00", "", false, "s: alg: unexpected tag 0x31, want 0x30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := unhex(t, tc.in)
			r := NewReader(in, "s")
			a, err := r.Algorithm("alg")
			if tc.err != "" {
				wantErr(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !a.OID.Equal(OIDSHA256) || !bytes.Equal(a.Raw, in) || a.NullParams() != tc.null {
				t.Fatalf("got %+v (NullParams %v)", a, a.NullParams())
			}
			if tc.params == "-" {
				if a.Params != nil {
					t.Fatalf("params %x, want absent", a.Params)
				}
			} else if !bytes.Equal(a.Params, unhex(t, tc.params)) {
				t.Fatalf("params %x, want %s", a.Params, tc.params)
			}
		})
	}
}

func TestExtensions(t *testing.T) {
	ext := func(oid asn1.ObjectIdentifier, critical []byte, value string) []byte {
		return TLV(TagSequence, MustOID(oid), critical, TLV(TagOctetString, []byte(value)))
	}
	a, b := asn1.ObjectIdentifier{1, 2, 3}, asn1.ObjectIdentifier{1, 2, 4}
	for _, tc := range []struct {
		name string
		in   []byte
		want []Extension
		err  string
	}{
		{"two", TLV(TagSequence, ext(a, nil, "x"), ext(b, Bool(true), "y")),
			[]Extension{{a, false, []byte("x")}, {b, true, []byte("y")}}, ""},
		{"explicit FALSE", TLV(TagSequence, ext(a, Bool(false), "x")), []Extension{{a, false, []byte("x")}}, ""},
		{"empty", TLV(TagSequence), nil, "s: exts: empty"},
		{"duplicate", TLV(TagSequence, ext(a, nil, "x"), ext(a, nil, "y")), nil, "s: exts: duplicate extension 1.2.3"},
		{"bad BOOLEAN", TLV(TagSequence, ext(a, []byte{1, 1, 1}, "x")), nil, "s: exts: Extension: critical: malformed BOOLEAN"},
		{"missing value", TLV(TagSequence, TLV(TagSequence, MustOID(a))), nil, "s: exts: Extension: missing extnValue"},
		{"extra element", TLV(TagSequence, TLV(TagSequence, MustOID(a), TLV(TagOctetString), Null)), nil, "s: exts: Extension: trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.in, "s")
			got, err := r.Extensions(TagSequence, "exts")
			if tc.err != "" {
				wantErr(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d extensions, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !got[i].ID.Equal(tc.want[i].ID) || got[i].Critical != tc.want[i].Critical || !bytes.Equal(got[i].Value, tc.want[i].Value) {
					t.Fatalf("extension %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
	// An IMPLICIT tag replaces the SEQUENCE.
	r := NewReader(TLV(ContextCons(1), ext(a, nil, "x")), "s")
	if got, err := r.Extensions(ContextCons(1), "exts"); err != nil || len(got) != 1 {
		t.Fatalf("[1] IMPLICIT Extensions: %v, %v", got, err)
	}
}

func TestExplicitAndEnter(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		err  string
	}{
		{"one element", TLV(ContextCons(0), Int(7)), ""},
		{"empty", TLV(ContextCons(0)), "s: version: missing value"},
		{"two elements", TLV(ContextCons(0), Int(7), Int(8)), "s: version: trailing data"},
		{"primitive [0]", TLV(Context(0), Int(7)), "s: version: unexpected tag 0x80, want 0xa0"},
		{"bad inner element", TLV(ContextCons(0), []byte{0x02, 0x05}), "s: version: value: truncated element"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.in, "s")
			x, err := r.Explicit(0, "version")
			if tc.err != "" {
				wantErr(t, err, tc.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n, err := x.Int64("Version"); err != nil || n != 7 {
				t.Fatalf("read %d, %v", n, err)
			}
			if err := x.Done(); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Errors name the path through nested fields; a copied Reader keeps
	// its position.
	top, err := Parse(TLV(TagSequence, TLV(TagSequence, TLV(TagSequence, Null))), TagSequence, "top")
	if err != nil {
		t.Fatal(err)
	}
	saved := top
	a, err := top.Enter(TagSequence, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.Enter(TagSequence, "b")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, b.Done(), "top: a: b: trailing data")
	_, err = b.Bool("c")
	wantErr(t, err, "top: a: b: c: unexpected tag 0x05, want 0x01")
	if !top.Empty() || saved.Empty() || !saved.Peek(TagSequence) {
		t.Fatal("copy of a Reader does not keep its position")
	}
	wantErr(t, top.Errorf("bad %w", asn1.StructuralError{Msg: "cause"}), "top: bad asn1: structure error: cause")
}

func TestNext(t *testing.T) {
	r := NewReader(TLV(TagSequence, Int(1), TLV(Context(3), []byte("ab"))), "s")
	e, err := r.Next("any")
	if err != nil {
		t.Fatal(err)
	}
	if e.Tag != TagSequence || len(e.Raw) != 2+3+4 || len(e.Content) != 3+4 {
		t.Fatalf("element %+v", e)
	}
	in := NewReader(e.Content, "in")
	if _, err := in.Next("first"); err != nil {
		t.Fatal(err)
	}
	e, err = in.Read(Context(3), "second")
	if err != nil || !bytes.Equal(e.Content, []byte("ab")) || !bytes.Equal(e.Raw, []byte{0x83, 2, 'a', 'b'}) {
		t.Fatalf("element %+v, %v", e, err)
	}
	if _, err := in.Next("third"); err == nil || err.Error() != "in: missing third" {
		t.Fatalf("after the end: %v", err)
	}
}

func TestTLV(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24} {
		content := bytes.Repeat([]byte{0xa5}, n)
		want, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagOctetString, Bytes: content})
		if err != nil {
			t.Fatal(err)
		}
		// Split the contents in parts: TLV concatenates them.
		got := TLV(TagOctetString, content[:n/2], nil, content[n/2:])
		if !bytes.Equal(got, want) {
			t.Fatalf("length %d: header %x, want %x", n, got[:min(len(got), 6)], want[:min(len(want), 6)])
		}
		r := NewReader(got, "s")
		if back, err := r.OctetString("v"); err != nil || len(back) != n {
			t.Fatalf("length %d does not read back: %v", n, err)
		}
	}
}

func TestWriters(t *testing.T) {
	marshal := func(v any, params string) []byte {
		b, err := asn1.MarshalWithParams(v, params)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, n := range []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 1<<63 - 1, -1 << 63} {
		if got, want := Int(n), marshal(n, ""); !bytes.Equal(got, want) {
			t.Errorf("Int(%d) = %x, want %x", n, got, want)
		}
		if got, want := Integer(big.NewInt(n)), marshal(big.NewInt(n), ""); !bytes.Equal(got, want) {
			t.Errorf("Integer(%d) = %x, want %x", n, got, want)
		}
		if got, want := Enumerated(n), marshal(asn1.Enumerated(n), ""); !bytes.Equal(got, want) {
			t.Errorf("Enumerated(%d) = %x, want %x", n, got, want)
		}
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 200)
	if got, want := Integer(huge.Neg(huge)), marshal(huge, ""); !bytes.Equal(got, want) {
		t.Errorf("Integer(-2^200) = %x, want %x", got, want)
	}
	for _, v := range []bool{true, false} {
		if got, want := Bool(v), marshal(v, ""); !bytes.Equal(got, want) {
			t.Errorf("Bool(%v) = %x, want %x", v, got, want)
		}
	}
	for _, bs := range []asn1.BitString{{}, {Bytes: []byte{0x80}, BitLength: 1}, {Bytes: []byte{0, 0x40}, BitLength: 10}, {Bytes: []byte{1, 2}, BitLength: 16}} {
		if got, want := BitString(bs.Bytes, 8*len(bs.Bytes)-bs.BitLength), marshal(bs, ""); !bytes.Equal(got, want) {
			t.Errorf("BitString(%+v) = %x, want %x", bs, got, want)
		}
	}
	for _, oid := range []asn1.ObjectIdentifier{OIDSHA1, OIDEd25519, {2, 999, 3}, {0, 39}, {1, 2, 1<<31 - 1}} {
		got, err := OID(oid)
		if want := marshal(oid, ""); err != nil || !bytes.Equal(got, want) {
			t.Errorf("OID(%v) = %x, %v, want %x", oid, got, err, want)
		}
	}
	for _, oid := range []asn1.ObjectIdentifier{{7}, {}, {3, 1}, {1, 40}, {1, 2, -3}} {
		if b, err := OID(oid); err == nil {
			t.Errorf("OID(%v) = %x, want an error", oid, b)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustOID of an invalid OID did not panic")
			}
		}()
		MustOID(asn1.ObjectIdentifier{7})
	}()
	if got, want := AlgorithmID(OIDSHA256WithRSA, Null), marshal(struct {
		O asn1.ObjectIdentifier
		P asn1.RawValue
	}{OIDSHA256WithRSA, asn1.NullRawValue}, ""); !bytes.Equal(got, want) {
		t.Errorf("AlgorithmID = %x, want %x", got, want)
	}
}

func TestTimeWriters(t *testing.T) {
	istanbul := time.FixedZone("TRT", 3*3600)
	for _, tc := range []struct {
		in   time.Time
		gen  string // GeneralizedTime contents, "" if not encodable
		time string // Time: hex of the whole element
	}{
		{time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC), "20240229235958Z", "17 0d 3234303232393233353935385a"},
		{time.Date(2024, 3, 1, 2, 59, 58, 0, istanbul), "20240229235958Z", "17 0d 3234303232393233353935385a"},
		{time.Date(2024, 2, 29, 23, 59, 58, 120_000_000, time.UTC), "20240229235958.12Z", "17 0d 3234303232393233353935385a"},
		{time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC), "20500101000000Z", "18 0f 32303530303130313030303030305a"},
		{time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC), "19491231235959Z", "18 0f 31393439313233313233353935395a"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "", ""},
		{time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), "", ""},
	} {
		got, err := GeneralizedTime(tc.in)
		switch {
		case tc.gen == "" && err == nil:
			t.Errorf("GeneralizedTime(%v) = %x, want an error", tc.in, got)
		case tc.gen == "":
		case err != nil || !bytes.Equal(got, TLV(TagGeneralizedTime, []byte(tc.gen))):
			t.Errorf("GeneralizedTime(%v) = %q, %v, want %q", tc.in, got, err, tc.gen)
		default:
			r := NewReader(got, "s")
			if back, err := r.GeneralizedTime("t"); err != nil || !back.Equal(tc.in) {
				t.Errorf("GeneralizedTime(%v) reads back as %v, %v", tc.in, back, err)
			}
		}
		gotTime, err := Time(tc.in)
		if tc.time == "" {
			if err == nil {
				t.Errorf("Time(%v) = %x, want an error", tc.in, gotTime)
			}
			continue
		}
		if want := unhex(t, tc.time); err != nil || !bytes.Equal(gotTime, want) {
			t.Errorf("Time(%v) = %x, %v, want %x", tc.in, gotTime, err, want)
		}
		// encoding/asn1 writes the same for whole seconds in UTC.
		if want, err := asn1.Marshal(tc.in.UTC().Truncate(time.Second)); err != nil || !bytes.Equal(gotTime, want) {
			t.Errorf("Time(%v) = %x, encoding/asn1 %x (%v)", tc.in, gotTime, want, err)
		}
	}
}

func TestHashes(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		oid, ok := HashOID(h)
		if !ok {
			t.Fatalf("no OID for %v", h)
		}
		if back, ok := HashFromOID(oid); !ok || back != h {
			t.Fatalf("%v -> %v -> %v", h, oid, back)
		}
	}
	if _, ok := HashOID(crypto.MD5); ok {
		t.Error("MD5 has an OID")
	}
	if _, ok := HashFromOID(asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}); ok {
		t.Error("the MD5 OID maps to a hash")
	}
}

func TestSignatures(t *testing.T) {
	for _, alg := range []x509.SignatureAlgorithm{
		x509.ECDSAWithSHA1, x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.SHA1WithRSA, x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA, x509.PureEd25519,
	} {
		id, ok := SignatureID(alg)
		if !ok {
			t.Fatalf("no AlgorithmIdentifier for %v", alg)
		}
		r := NewReader(id, "s")
		a, err := r.Algorithm("alg")
		if err != nil {
			t.Fatal(err)
		}
		s, ok := SignatureFromOID(a.OID)
		if !ok || s.Algorithm != alg || !s.ParamsOK(a) {
			t.Fatalf("%v: %x reads as %+v (params ok %v)", alg, id, s, s.ParamsOK(a))
		}
		// RSA takes NULL or absent parameters, the others only absent.
		absent := Algorithm{OID: a.OID}
		other := Algorithm{OID: a.OID, Params: Int(0)}
		if !s.ParamsOK(absent) || s.ParamsOK(other) {
			t.Fatalf("%v: ParamsOK(absent) %v, ParamsOK(INTEGER) %v", alg, s.ParamsOK(absent), s.ParamsOK(other))
		}
		if withNull := (Algorithm{OID: a.OID, Params: Null}); s.ParamsOK(withNull) != s.RSA {
			t.Fatalf("%v: ParamsOK(NULL) = %v", alg, s.ParamsOK(withNull))
		}
	}
	if _, ok := SignatureID(x509.SHA256WithRSAPSS); ok {
		t.Error("RSA-PSS has an AlgorithmIdentifier")
	}
	if _, ok := SignatureFromOID(OIDRSAEncryption); ok {
		t.Error("rsaEncryption is a signature algorithm")
	}
}
