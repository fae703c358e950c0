package message

import "testing"

// TestCheckSOAPAction: the first block is X-Road's own table
// (ValidateSoapActionTest in src/service/proxy/proxy-core/src/test, and the
// value of its proxy test SoapActionMalformedHeader); the rest are what
// java.net.URI's parser accepts and refuses inside the quotes.
func TestCheckSOAPAction(t *testing.T) {
	tests := []struct {
		v  string
		ok bool
	}{
		// X-Road's ValidateSoapActionTest (null is an absent header: "" here).
		{``, true},
		{`""`, true},
		{`"http://example.org/test"`, true},
		{`"urn:foo"`, true},
		{`http://quotes/missing`, false},
		{`"http://extra/quote""`, false},
		{`"spaces "`, false},
		// SoapActionMalformedHeader.
		{`http://example.org/action`, false},

		// Quoting.
		{`"`, false},
		{`"x`, false},
		{`x"`, false},
		{`'urn:foo'`, false},
		{`"""`, false},
		{`"a"`, true},
		// Schemes, opaque parts, relative references.
		{`"http://din.gov.az/population/v1/getPersonByFin"`, true},
		{`"https://din.gov.az:8443/p;v=1/getPersonByFin?x=1&y=%C6%8F#top"`, true},
		{`"urn:x-road:getPersonByFin"`, true},
		{`"getPersonByFin"`, true},
		{`"/services/getPersonByFin"`, true},
		{`"a/b:c"`, true}, // a relative path may hold ':' after a '/'
		{`"#frag"`, true},
		{`"?q"`, true},
		{`"file:///srv/x"`, true},
		{`"mailto:a@b.az"`, true},
		{`"HTTP+x-1.0:y"`, true},
		{`":foo"`, false},
		{`"urn:"`, false},
		{`"urn:#f"`, false},
		{`"1urn:foo"`, false},
		{`"my_scheme:foo"`, false},
		{`"http://"`, false},
		{`"a#b#c"`, false},
		// Characters.
		{`"http://h/a%20b"`, true},
		{`"http://h/a%2"`, false},
		{`"http://h/a%zz"`, false},
		{`"%"`, false},
		{`"http://h/a b"`, false},
		{"\"http://h/a\tb\"", false},
		{`"http://h/{x}"`, false},
		{`"http://h/a|b"`, false},
		{`"http://h/a\b"`, false},
		{`"http://h/a^b"`, false},
		{`"http://h/<a>"`, false},
		{`"http://h/[a]"`, false}, // RFC 2732 made [] reserved: legal in a query or opaque part, not in a path
		{`"http://h/?[a]"`, true},
		{`"urn:[a]"`, true},
		{`"urn:din:əmlak"`, true}, // visible non-ASCII is allowed unescaped
		{"\"urn:din:\u00a0x\"", false},
		{"\"urn:din:\u0085x\"", false},
		{"\"urn:din:\u2028x\"", false},
		{"\"urn:\xff\"", false},
		// Authorities.
		{`"http://user:pw@din.gov.az:80/x"`, true},
		{`"http://din_gov.az/x"`, true},           // not a host name, but a registry name
		{`"http://h:99999999999/x"`, true},        // likewise
		{`"http://h%41/x"`, true},                 // escaped
		{`"http://h%4/x"`, false},                 // malformed escape
		{`"http://[::1]:8080/x"`, true},           // IPv6 literal
		{`"http://u@[2001:db8::7]/x"`, true},      // with user info
		{`"http://[fe80::1%eth0]/x"`, true},       // with a scope id
		{`"http://[fe80::1%]/x"`, false},          // empty scope id
		{`"http://[fe80::1%e-0]/x"`, false},       // bad scope id
		{`"http://[::1/x"`, false},                // no ']'
		{`"http://[]/x"`, false},                  // empty
		{`"http://[zz::1]/x"`, false},             // not IPv6
		{`"http://[127.0.0.1]/x"`, false},         // IPv4 is not an IPv6 literal
		{`"http://[::1]:99999999999/x"`, false},   // port beyond int
		{`"http://[::1]:/x"`, true},               // empty port
		{`"http://[::1]x/x"`, false},              // junk after ']'
		{`"http://h[::1]/x"`, false},              // '[' not at the host's start
		{`"http://a b/x"`, false},                 // space in authority
		{`"http://us%zz@[::1]/x"`, false},         // malformed escape in user info
		{`"http://[::ffff:10.0.0.1]/x"`, true},    // IPv4-mapped
		{`"http://[1:2:3:4:5:6:7:8:9]/x"`, false}, // too long
	}
	for _, tc := range tests {
		err := checkSOAPAction(tc.v)
		if (err == nil) != tc.ok {
			t.Errorf("SOAPAction %q: got %v, want valid=%v", tc.v, err, tc.ok)
		}
	}
}
