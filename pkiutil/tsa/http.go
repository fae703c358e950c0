package tsa

import (
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Media types of RFC 3161 section 3.4.
const (
	ContentTypeQuery = "application/timestamp-query"
	ContentTypeReply = "application/timestamp-reply"
)

// MaxRequestSize is the largest request body ServeHTTP reads.
const MaxRequestSize = 64 << 10

// systemFailureDER is the answer when even encoding a response fails.
var systemFailureDER = func() []byte {
	der, err := (&Response{Status: StatusRejection, FailInfo: FailSystemFailure}).Marshal()
	if err != nil {
		panic(err) // constant input
	}
	return der
}()

// ServeHTTP implements the RFC 3161 HTTP transport. It accepts only POST
// (405 otherwise) with Content-Type application/timestamp-query (415
// otherwise) and a body of at most MaxRequestSize bytes (413 with a
// rejection response otherwise). Every request it can read is answered with
// 200 and an application/timestamp-reply body: a granted response, or a
// rejection with failInfo badDataFormat, badAlg, unacceptedPolicy,
// unacceptedExtension or, for internal failures, systemFailure.
func (a *Authority) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "tsa: method not allowed, use POST", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != ContentTypeQuery {
		w.Header().Set("Accept-Post", ContentTypeQuery)
		http.Error(w, "tsa: Content-Type must be "+ContentTypeQuery, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			a.reply(w, http.StatusRequestEntityTooLarge,
				rejection(FailBadDataFormat, fmt.Sprintf("request body exceeds %d bytes", MaxRequestSize)))
			return
		}
		a.reply(w, http.StatusBadRequest, rejection(FailBadRequest, "could not read the request body"))
		return
	}
	a.reply(w, http.StatusOK, a.handle(body))
}

// handle turns a request body into a response; it never panics.
func (a *Authority) handle(body []byte) (resp *Response) {
	defer func() {
		if p := recover(); p != nil {
			a.logf("tsa: panic while answering a request: %v", p)
			resp = rejection(FailSystemFailure, "internal error")
		}
	}()
	req, err := ParseRequest(body)
	if err != nil {
		return rejection(failInfoOf(err), strings.TrimPrefix(err.Error(), "tsa: "))
	}
	resp, err = a.Respond(req)
	if err != nil {
		a.logf("%v", err)
		return rejection(FailSystemFailure, "internal error")
	}
	return resp
}

func (a *Authority) reply(w http.ResponseWriter, code int, resp *Response) {
	der, err := resp.Marshal()
	if err != nil {
		a.logf("tsa: encoding response: %v", err)
		der = systemFailureDER
	}
	h := w.Header()
	h.Set("Content-Type", ContentTypeReply)
	h.Set("Content-Length", strconv.Itoa(len(der)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(der)
}

func (a *Authority) logf(format string, args ...any) {
	if a != nil && a.ErrorLog != nil {
		a.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}
