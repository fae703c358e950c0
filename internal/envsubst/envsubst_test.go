package envsubst_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/envsubst"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestExpand(t *testing.T) {
	vars := env(map[string]string{"SLUZ_STATE": "/srv/sluz", "EMPTY": ""})
	for _, tc := range []struct{ in, want, err string }{
		{"anchor: ${SLUZ_STATE}/anchor.json", "anchor: /srv/sluz/anchor.json", ""},
		{"anchor: ${SLUZ_STATE:-../state}/anchor.json", "anchor: /srv/sluz/anchor.json", ""},
		{"dataDir: ${UNSET:-../state}/DIN/ss", "dataDir: ../state/DIN/ss", ""},
		{"dataDir: ${EMPTY:-../state}/DIN/ss", "dataDir: ../state/DIN/ss", ""},
		{"pin: a$b$c $HOME", "pin: a$b$c $HOME", ""}, // only ${...} is a reference
		{"a: ${SLUZ_STATE}\nb: ${SLUZ_STATE}", "a: /srv/sluz\nb: /srv/sluz", ""},
		{"no references", "no references", ""},
		{"# ${UNSET} in a comment\na: ${SLUZ_STATE} # and ${UNSET}", "# ${UNSET} in a comment\na: /srv/sluz # and ${UNSET}", ""},
		{"a: \"x # ${SLUZ_STATE}\"", "a: \"x # /srv/sluz\"", ""}, // quoted: not a comment
		{"a: x#${SLUZ_STATE}", "a: x#/srv/sluz", ""},             // no space before #: not a comment
		{"a: 1\nb: ${UNSET}/x", "", "line 2: ${UNSET}: the environment variable UNSET is not set"},
		{"a: ${SLUZ_STATE", "", "line 1: \"${SLUZ_STATE\" has no closing }"},
		{"a: ${1X}", "", `"1X" is not an environment variable name`},
		{"a: ${}", "", `"" is not an environment variable name`},
		{"a: ${A B}", "", `"A B" is not an environment variable name`},
	} {
		got, err := envsubst.Expand([]byte(tc.in), vars)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || string(got) != tc.want):
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func ExampleExpand() {
	lookup := func(k string) (string, bool) {
		return map[string]string{"SLUZ_STATE": "/srv/sluz"}[k], k == "SLUZ_STATE"
	}
	out, _ := envsubst.Expand([]byte("anchor: ${SLUZ_STATE:-../state}/anchor.json\npin: s3cr$t"), lookup)
	fmt.Println(string(out))
	// Output:
	// anchor: /srv/sluz/anchor.json
	// pin: s3cr$t
}
