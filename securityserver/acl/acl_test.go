package acl

import (
	"testing"
)

func TestParseSubjectErrors(t *testing.T) {
	for _, s := range []string{"", "AZ", "group:AZ", "group:AZ/x y", "AZ/GOV/DİN"} {
		if _, err := ParseSubject(s); err == nil {
			t.Errorf("ParseSubject(%q) accepted", s)
		}
	}
}
