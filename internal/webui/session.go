package webui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Session limits (zero values in Sessions mean these).
const (
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultMaxAge        = 8 * time.Hour
	DefaultLoginTokenTTL = 2 * time.Minute
)

// SessionCookie names the session cookie. The __Host- prefix makes the
// browser refuse it unless it is Secure, host-only and for path /.
const SessionCookie = "__Host-sluz-console"

// Session is a signed-in operator.
type Session struct {
	Actor string // the audit name of the operator's certificate
	CSRF  string // the token every POST of this session must carry

	id            string
	started, seen time.Time
	flash         string
}

// Sessions keeps the signed-in operators and the unused login links.
type Sessions struct {
	IdleTimeout, MaxAge, LoginTokenTTL time.Duration // zero: the defaults above
	Now                                func() time.Time
	// Verify, when set, accepts login tokens minted elsewhere (by another
	// process holding a shared secret): it returns the token's actor and
	// expiry. Each such token still works once.
	Verify func(tok string) (actor string, expires time.Time, err error)

	mu     sync.Mutex
	byID   map[[32]byte]*Session
	tokens map[[32]byte]loginToken
	used   map[[32]byte]time.Time // Verify's tokens already redeemed, until they expire
}

type loginToken struct {
	actor   string
	expires time.Time
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// The maps are keyed by the secret's hash so that looking one up does not
// compare secrets byte by byte.
func key(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// NewLoginToken returns a one-time secret that starts a session for actor
// when redeemed within LoginTokenTTL.
func (s *Sessions) NewLoginToken(actor string) string {
	tok := random()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = map[[32]byte]loginToken{}
	}
	now := s.now()
	for k, t := range s.tokens {
		if now.After(t.expires) {
			delete(s.tokens, k)
		}
	}
	s.tokens[key(tok)] = loginToken{actor, now.Add(or(s.LoginTokenTTL, DefaultLoginTokenTTL))}
	return tok
}

// Redeem starts the session a login token was minted for; a token works once.
func (s *Sessions) Redeem(tok string) (*Session, bool) {
	now := s.now()
	s.mu.Lock()
	t, ok := s.tokens[key(tok)]
	delete(s.tokens, key(tok))
	if !ok && s.Verify != nil {
		if actor, exp, err := s.Verify(tok); err == nil && now.Before(exp) {
			if s.used == nil {
				s.used = map[[32]byte]time.Time{}
			}
			for k, e := range s.used {
				if now.After(e) {
					delete(s.used, k)
				}
			}
			if _, again := s.used[key(tok)]; !again {
				s.used[key(tok)] = exp
				t, ok = loginToken{actor, exp}, true
			}
		}
	}
	s.mu.Unlock()
	if !ok || now.After(t.expires) {
		return nil, false
	}
	return s.Start(t.actor), true
}

// Start begins a session for actor.
func (s *Sessions) Start(actor string) *Session {
	now := s.now()
	sess := &Session{Actor: actor, CSRF: random(), id: random(), started: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[[32]byte]*Session{}
	}
	for k, o := range s.byID {
		if s.expired(o, now) {
			delete(s.byID, k)
		}
	}
	s.byID[key(sess.id)] = sess
	return sess
}

func (s *Sessions) expired(sess *Session, now time.Time) bool {
	return now.Sub(sess.seen) > or(s.IdleTimeout, DefaultIdleTimeout) || now.Sub(sess.started) > or(s.MaxAge, DefaultMaxAge)
}

// Get returns the live session r's cookie names, if any, and marks it used.
func (s *Sessions) Get(r *http.Request) *Session {
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byID[key(c.Value)]
	if sess == nil {
		return nil
	}
	if s.expired(sess, now) {
		delete(s.byID, key(c.Value))
		return nil
	}
	sess.seen = now
	return sess
}

// End signs the session out.
func (s *Sessions) End(sess *Session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, key(sess.id))
}

// Flash keeps a message for the session's next page.
func (s *Sessions) Flash(sess *Session, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.flash = msg
}

func (s *Sessions) takeFlash(sess *Session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := sess.flash
	sess.flash = ""
	return msg
}

// PlainSessionCookie names the session cookie on a plain-HTTP listener
// (a security server's loopback admin listener), where a Secure cookie
// would not come back.
const PlainSessionCookie = "sluz-console"

func cookieName(r *http.Request) string {
	if r.TLS != nil {
		return SessionCookie
	}
	return PlainSessionCookie
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, sess *Session) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: sess.id, Path: "/", Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName(r), Value: "", Path: "/", Secure: r.TLS != nil, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}
