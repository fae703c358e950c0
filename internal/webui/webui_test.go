package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		accept, cookie string
		want           Lang
	}{
		{"", "", AZ},
		{"en-GB,en;q=0.9", "", EN},
		{"ru-RU, az;q=0.5, en;q=0.8", "", EN},
		{"az-Latn-AZ;q=0.9, en;q=0.2", "", AZ},
		{"en;q=0", "", AZ}, // q=0 means "not acceptable"
		{"de, fr", "", AZ},
		{"en", "az", AZ}, // the switch wins over the browser
		{"az", "xx", AZ}, // an unknown cookie is ignored
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Language", tc.accept)
		if tc.cookie != "" {
			r.AddCookie(&http.Cookie{Name: LangCookie, Value: tc.cookie})
		}
		if got := Choose(r); got != tc.want {
			t.Errorf("Accept-Language %q, cookie %q: %s, want %s", tc.accept, tc.cookie, got, tc.want)
		}
	}
}

func TestSessions(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	s := &Sessions{Now: func() time.Time { return now }}
	withCookie := func(sess *Session) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: PlainSessionCookie, Value: sess.id})
		return r
	}

	tok := s.NewLoginToken("Mərkəzi operator")
	sess, ok := s.Redeem(tok)
	if !ok || sess.Actor != "Mərkəzi operator" || sess.CSRF == "" {
		t.Fatalf("redeeming a fresh token: %v %+v", ok, sess)
	}
	if _, ok := s.Redeem(tok); ok {
		t.Error("a login token worked twice")
	}
	late := s.NewLoginToken("x")
	now = now.Add(DefaultLoginTokenTTL + time.Second)
	if _, ok := s.Redeem(late); ok {
		t.Error("an expired login token worked")
	}

	if s.Get(withCookie(sess)) != sess {
		t.Fatal("the session is not found by its cookie")
	}
	now = now.Add(DefaultIdleTimeout + time.Second)
	if s.Get(withCookie(sess)) != nil {
		t.Error("an idle session is still alive")
	}

	long := s.Start("y")
	for range DefaultMaxAge / (DefaultIdleTimeout / 2) {
		now = now.Add(DefaultIdleTimeout / 2)
		s.Get(withCookie(long))
	}
	now = now.Add(time.Minute)
	if s.Get(withCookie(long)) != nil {
		t.Error("a session outlived MaxAge")
	}

	// Tokens minted elsewhere (Verify) work once too, and not after expiry.
	s.Verify = func(tok string) (string, time.Time, error) {
		if tok == "expired" {
			return "x", now.Add(-time.Second), nil
		}
		return "DİN administratoru", now.Add(time.Minute), nil
	}
	if sess, ok := s.Redeem("signed"); !ok || sess.Actor != "DİN administratoru" {
		t.Errorf("a verified token: %v %+v", ok, sess)
	}
	if _, ok := s.Redeem("signed"); ok {
		t.Error("a verified token worked twice")
	}
	if _, ok := s.Redeem("expired"); ok {
		t.Error("an expired verified token worked")
	}

	ended := s.Start("z")
	s.End(ended)
	if s.Get(withCookie(ended)) != nil {
		t.Error("a signed-out session is still alive")
	}
}

func TestCatalogIncomplete(t *testing.T) {
	c := kitLabels.Merge(Catalog{"a": {"A", ""}, "b": {" ", "B"}})
	if got := c.Incomplete(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("Incomplete: %v, want [a b]", got)
	}
	if got := kitLabels.Incomplete(); len(got) != 0 {
		t.Errorf("the kit's own labels lack a language: %v", got)
	}
}

// TestLangSwitchStaysInConsole: the language switch redirects back to the
// page asked for, and never to another host ("//evil.example/x" is one to
// a browser) or outside the console.
func TestLangSwitchStaysInConsole(t *testing.T) {
	k := &Kit{Prefix: "/console", Sessions: &Sessions{}}
	m := k.Mux()
	for path, want := range map[string]string{
		"/console/members?lang=en&q=DİN": "/console/members?q=D%C4%B0N",
		"//evil.example/x?lang=az":       "/console",
		"/elsewhere?lang=xx":             "/console",
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4000/", nil)
		r.URL.Path, r.URL.RawQuery, _ = strings.Cut(path, "?")
		r.RemoteAddr = "127.0.0.1:5000"
		m.ServeHTTP(w, r)
		if got := w.Header().Get("Location"); w.Code != http.StatusSeeOther || got != want {
			t.Errorf("GET %s: %d, Location %q; want 303 to %q", path, w.Code, got, want)
		}
	}
}
