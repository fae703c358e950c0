// Package webui is the small kit the Şlüz web consoles are built on:
// server-rendered pages (html/template and embed, nothing fetched from
// another host), Azerbaijani and English labels chosen by the browser's
// Accept-Language or the language switch, sessions started by an
// authenticated operator, CSRF protection on every POST and a strict
// Content-Security-Policy with no script at all.
//
// A console gives the Kit its pages (templates that define "content"), its
// labels (a Catalog with both languages for every key) and the function
// that authenticates an operator's client certificate; the Kit serves the
// login page, the language switch, the stylesheet, and wraps every handler
// so that it runs only for a signed-in operator.
//
// # Signing in
//
// A session starts in one of two ways, both resting on the operator's
// certificate: the browser presents the certificate itself (a POST to
// {prefix}/login over the TLS connection that carried it), or a tool holding
// the certificate mints a one-time link (Sessions.NewLoginToken; valid for
// LoginTokenTTL, used once) that the operator opens. The session cookie is
// HttpOnly, Secure and SameSite=Strict; a session ends after IdleTimeout
// without requests or MaxAge in all.
//
// # Caveats
//
// Sessions live in memory: a restart signs everyone out. The kit checks
// the CSRF token and the request's origin, but the state changes themselves
// must go through the same code path (and checks, and audit trail) as the
// console's API: the kit does not authorise anything beyond "this operator
// signed in".
package webui
