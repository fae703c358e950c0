package webui

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Lang is a console language.
type Lang string

// The console languages; AZ is the default when the browser asks for neither.
const (
	AZ Lang = "az"
	EN Lang = "en"
)

// Langs lists the languages in the order the switch shows them.
var Langs = []Lang{AZ, EN}

// Text is one label in both languages: {Azerbaijani, English}.
type Text [2]string

// In returns the label in l.
func (t Text) In(l Lang) string {
	if l == EN {
		return t[1]
	}
	return t[0]
}

// Catalog maps label keys to their texts.
type Catalog map[string]Text

// Incomplete lists the keys that lack a text in one of the languages, sorted.
func (c Catalog) Incomplete() []string {
	var out []string
	for k, t := range c {
		if strings.TrimSpace(t[0]) == "" || strings.TrimSpace(t[1]) == "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Merge returns c with the entries of others added (later ones win).
func (c Catalog) Merge(others ...Catalog) Catalog {
	out := make(Catalog, len(c))
	for _, m := range append([]Catalog{c}, others...) {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// MissingLabel is what a page shows for a key the catalogue lacks; tests
// look for it.
const MissingLabel = "⟦missing label: "

// LangCookie remembers the language switch.
const LangCookie = "sluz-lang"

// Choose picks the language: the switch's cookie first, then the best
// match in Accept-Language (RFC 9110 §12.5.4 quality values), then AZ.
func Choose(r *http.Request) Lang {
	if c, err := r.Cookie(LangCookie); err == nil && slices.Contains(Langs, Lang(c.Value)) {
		return Lang(c.Value)
	}
	best, bestQ := AZ, -1.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if l := Lang(base); slices.Contains(Langs, l) && q > bestQ && q > 0 {
			best, bestQ = l, q
		}
	}
	return best
}
