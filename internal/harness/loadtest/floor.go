package loadtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/sluz/sluz/securityserver/config"
	"github.com/sluz/sluz/securityserver/messagelog"
)

// The floor pairs measure what the throughput target leaves for
// everything else: the plain pair plus only the work no pair of security
// servers can skip, with none of Şlüz's XML, certificates or checks.
//
//	crypto-pair  the plain pair, and each message end signs the body
//	             (SHA-512, ECDSA P-256, as Şlüz's keys) or verifies the
//	             peer's signature: two signatures and two verifications
//	             per exchange, bodies read whole as a verifier must
//	floor-pair   the crypto pair, and each side logs what it signed or
//	             verified in Şlüz's message log (write-ahead file, group
//	             commit, fdatasync, bbolt) as a security server must before
//	             it answers: the server side the request before forwarding
//	             it and the response before returning it, the client side
//	             both once the response is verified
//
// The floor pair is the per-message floor: a pair that signs, verifies and
// logs each message alone cannot exceed it on the same machine in the same
// run. A pair that signs several waiting messages with one signature and
// verifies that signature once (Şlüz with signing.batch) does less crypto
// per message, and can.
const (
	NameCryptoPair = "crypto-pair"
	NameFloorPair  = "floor-pair"
)

// headerFloorSig carries a message's signature between the floor pair's
// sides: base64 of the ASN.1 ECDSA signature over SHA-512 of the body.
const headerFloorSig = "X-Floor-Signature"

type floor struct {
	clientKey, serverKey *ecdsa.PrivateKey
	clientLog, serverLog *messagelog.Log // nil: the crypto pair
}

// sentKey keys the client side's request body and signature in the
// request context, for logging with the response.
type sentKey struct{}

type sent struct {
	body, digest, sig []byte
	contentType       string
}

// StartFloorPair starts a floor pair on free loopback ports, certificates
// as StartPlainPair. With logDir empty it is the crypto pair; otherwise
// each side keeps its message log in logDir.
func StartFloorPair(clientCert, serverCert tls.Certificate, roots *x509.CertPool, serverName, providerURL, logDir string, errLog *log.Logger) (*PlainPair, error) {
	f := &floor{}
	var err error
	if f.clientKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if f.serverKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	if logDir != "" {
		opts := messagelog.Options{WALSize: config.DefaultWALSize, CommitInterval: config.DefaultCommitInterval}
		if f.clientLog, err = messagelog.Open(filepath.Join(logDir, "floor-client.db"), opts); err != nil {
			return nil, err
		}
		if f.serverLog, err = messagelog.Open(filepath.Join(logDir, "floor-server.db"), opts); err != nil {
			f.clientLog.Close()
			return nil, err
		}
	}
	p, err := startPair(clientCert, serverCert, roots, serverName, providerURL, errLog, &pairHooks{
		logs:   [2]*messagelog.Log{f.clientLog, f.serverLog},
		client: f.clientIn, clientResp: f.clientOut,
		server: f.serverIn, serverResp: f.serverOut,
		close: f.close,
	})
	if err != nil {
		f.close()
		return nil, err
	}
	return p, nil
}

func (f *floor) close() error {
	if f.clientLog == nil {
		return nil
	}
	return errors.Join(f.clientLog.Close(), f.serverLog.Close())
}

// clientIn signs the IS's request and forwards it with its signature.
func (f *floor) clientIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		digest, sig, err := sign(f.clientKey, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		setBody(r.Header, &r.Body, &r.ContentLength, body)
		r.Header.Set(headerFloorSig, base64.StdEncoding.EncodeToString(sig))
		ctx := context.WithValue(r.Context(), sentKey{}, &sent{body: body, digest: digest, sig: sig, contentType: r.Header.Get("Content-Type")})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// clientOut verifies the server side's response and logs the request and
// the response before the IS gets the answer.
func (f *floor) clientOut(resp *http.Response) error {
	body, digest, sig, err := verified(resp.Body, resp.Header.Get(headerFloorSig), &f.serverKey.PublicKey)
	if err != nil {
		return fmt.Errorf("client side: the response: %w", err)
	}
	s, _ := resp.Request.Context().Value(sentKey{}).(*sent)
	if f.clientLog != nil && s != nil {
		err := f.clientLog.Append(context.WithoutCancel(resp.Request.Context()),
			record(messagelog.ClientSide, messagelog.Request, s.body, s.digest, s.sig, s.contentType),
			record(messagelog.ClientSide, messagelog.Response, body, digest, sig, resp.Header.Get("Content-Type")))
		if err != nil {
			return err
		}
	}
	resp.Header.Del(headerFloorSig)
	setBody(resp.Header, &resp.Body, &resp.ContentLength, body)
	return nil
}

// serverIn verifies the client side's request and logs it before the
// provider IS sees it.
func (f *floor) serverIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, digest, sig, err := verified(r.Body, r.Header.Get(headerFloorSig), &f.clientKey.PublicKey)
		if err != nil {
			http.Error(w, "server side: the request: "+err.Error(), http.StatusForbidden)
			return
		}
		if f.serverLog != nil {
			rec := record(messagelog.ServerSide, messagelog.Request, body, digest, sig, r.Header.Get("Content-Type"))
			if err := f.serverLog.Append(context.WithoutCancel(r.Context()), rec); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		r.Header.Del(headerFloorSig)
		setBody(r.Header, &r.Body, &r.ContentLength, body)
		next.ServeHTTP(w, r)
	})
}

// serverOut signs the provider IS's response and logs it before returning it.
func (f *floor) serverOut(resp *http.Response) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	digest, sig, err := sign(f.serverKey, body)
	if err != nil {
		return err
	}
	if f.serverLog != nil {
		rec := record(messagelog.ServerSide, messagelog.Response, body, digest, sig, resp.Header.Get("Content-Type"))
		if err := f.serverLog.Append(context.WithoutCancel(resp.Request.Context()), rec); err != nil {
			return err
		}
	}
	resp.Header.Set(headerFloorSig, base64.StdEncoding.EncodeToString(sig))
	setBody(resp.Header, &resp.Body, &resp.ContentLength, body)
	return nil
}

func sign(key *ecdsa.PrivateKey, body []byte) (digest, sig []byte, err error) {
	d := sha512.Sum512(body)
	sig, err = ecdsa.SignASN1(rand.Reader, key, d[:])
	return d[:], sig, err
}

// verified reads a body whole and checks its signature (header: base64).
func verified(rc io.ReadCloser, header string, pub *ecdsa.PublicKey) (body, digest, sig []byte, err error) {
	body, err = io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, nil, nil, err
	}
	if sig, err = base64.StdEncoding.DecodeString(header); err != nil || len(sig) == 0 {
		return nil, nil, nil, fmt.Errorf("no readable %s header", headerFloorSig)
	}
	d := sha512.Sum512(body)
	if !ecdsa.VerifyASN1(pub, d[:], sig) {
		return nil, nil, nil, errors.New("bad signature")
	}
	return body, d[:], sig, nil
}

func setBody(h http.Header, rc *io.ReadCloser, n *int64, body []byte) {
	*rc, *n = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	h.Set("Content-Length", strconv.Itoa(len(body)))
}

func record(side messagelog.Side, kind messagelog.Kind, body, digest, sig []byte, contentType string) *messagelog.Record {
	return &messagelog.Record{Side: side, Kind: kind, Client: "floor", Service: "floor",
		Message: body, MessageDigest: digest, Signature: sig, ContentType: contentType}
}
