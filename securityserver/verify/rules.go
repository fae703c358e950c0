package verify

import (
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/registry/globalconf"
	"github.com/sluz/sluz/registry/identifier"
	"github.com/sluz/sluz/securityserver/acl"
	"github.com/sluz/sluz/securityserver/message"
	"github.com/sluz/sluz/securityserver/signature"
)

// The rules, in the order the service proxy applies them to a request
// (PR-MESSTRANSP §2): the TLS peer, its OCSP status, the message's
// signature and signer, then the provider, the service, the access rights
// and replay. The client proxy applies the peer rule to the provider's
// server during the handshake and the signature rules to its answer.

// PeerCertificate is the TLS peer's authentication certificate rule: the
// peer presented a certificate that chains to an approved CA with usage,
// and whose hash registered accepts (the global configuration's
// registration of that server, PR-MESSTRANSP §2 steps 1-5). It returns the
// certificate's issuer, which PeerStatus needs.
func (v *Verifier) PeerCertificate(t Trust, chain []*x509.Certificate, usage x509.ExtKeyUsage, registered func(hash []byte) bool) (*x509.Certificate, error) {
	const code = message.SslAuthenticationFailed
	if len(chain) == 0 {
		r := refuse(code, "a client certificate", "none", nil, "the peer presented no certificate")
		r.Reason = ReasonNoCertificate
		return nil, r
	}
	cn := chain[0].Subject.CommonName
	issuer, err := v.Chain(t, chain[0], chain[1:], usage)
	if err != nil {
		r := refuse(code, "an authentication certificate of an approved CA", fmt.Sprintf("%q: %v", cn, err), err,
			"peer certificate %q is not an authentication certificate of an approved CA: %v", cn, err)
		r.Reason = chainReason(err)
		return nil, r
	}
	if hash := globalconf.AuthCertHash(chain[0]); !registered(hash) {
		r := refuse(code, "a certificate the global configuration registers for that security server",
			fmt.Sprintf("%q (hash %s)", cn, hex.EncodeToString(hash)), nil,
			"peer certificate %q is not registered for that security server in the global configuration", cn)
		r.Reason = ReasonNotRegistered
		return nil, r
	}
	return issuer, nil
}

// PeerStatus is the rule on the OCSP response the peer sent for its
// authentication certificate (the transport message's first part): good
// and fresh per t.
func (v *Verifier) PeerStatus(t Trust, ocspDER []byte, cert, issuer *x509.Certificate) error {
	const code = message.SslAuthenticationFailed
	if len(ocspDER) == 0 {
		r := refuse(code, goodResponse(t, cert), "none", nil, "the peer's authentication certificate status is not acceptable: the message carries no OCSP response for it")
		r.Reason = ReasonOCSP
		return r
	}
	if err := v.Status(ocspDER, cert, issuer, t.OCSPFreshness()); err != nil {
		r := refuse(code, goodResponse(t, cert), err.Error(), err, "the peer's authentication certificate status is not acceptable: %v", err)
		r.Reason = statusReason(err)
		return r
	}
	return nil
}

// goodResponse is what the status rules require (built only on refusal:
// the rules run for every message).
func goodResponse(t Trust, cert *x509.Certificate) string {
	return fmt.Sprintf("a good OCSP response for %q at most %s old", cert.Subject.CommonName, t.OCSPFreshness())
}

// Signed is what a message's signature covers: the SOAP message and, for
// a message with attachments, the attachments (each by its bytes or its
// SHA-512 digest, in the order received) and the hash-chain result and
// chain that bind them (PR-MESSTRANSP §2).
type Signed struct {
	SOAP []byte
	// SOAPDigest, optional, is the SHA-512 of SOAP, computed by the caller
	// from these bytes (signature.Part.DataDigest): for a message signed
	// directly it spares hashing SOAP again.
	SOAPDigest      []byte
	Attachments     []signature.Part
	HashChainResult []byte
	HashChain       []byte
}

// SignatureValue is the rule on the signature document itself: well formed
// and verifying over the exact bytes data as /message.xml.
func SignatureValue(sigXML, data []byte) (*signature.Verified, error) {
	return SignedValue(sigXML, Signed{SOAP: data})
}

// SignedValue is SignatureValue for a message that may have attachments:
// then the signature covers /sig-hashchainresult.xml and the chain binds
// the SOAP message and every attachment, in order.
func SignedValue(sigXML []byte, m Signed) (*signature.Verified, error) {
	if len(sigXML) == 0 {
		return nil, refuse(message.MalformedSignature, "a signature part", "none", nil, "the message carries no signature")
	}
	if m.HashChainResult == nil && len(m.Attachments) == 0 {
		v, err := signature.Verify(sigXML, signature.Part{URI: "/message.xml", Data: m.SOAP, DataDigest: m.SOAPDigest, MimeType: "text/xml"})
		switch {
		case errors.Is(err, signature.ErrMalformed):
			return nil, refuse(message.MalformedSignature, "a well-formed XAdES signature", err.Error(), err, "malformed signature: %v", err)
		case err != nil:
			return nil, refuse(message.InvalidSignatureValue, "a signature over the message's exact bytes", err.Error(), err, "the signature does not verify: %v", err)
		}
		return v, nil
	}
	if m.HashChainResult == nil || m.HashChain == nil {
		return nil, refuse(message.MalformedSignature, "a hash-chain result and hash chain beside the attachments", "none", nil,
			"the message has %d attachments but no hash chain binding them to its signature", len(m.Attachments))
	}
	v, err := signature.VerifyChained(sigXML, signature.Part{Data: m.SOAP}, m.Attachments, m.HashChainResult, m.HashChain)
	if err != nil {
		return nil, chainRefusal(err)
	}
	return v, nil
}

// chainRefusal is the refusal of a message signed through a hash chain
// for an error of VerifyChained or CheckChain.
func chainRefusal(err error) error {
	want := "a signature through the hash chain over the message and its attachments"
	switch {
	case errors.Is(err, signature.ErrMalformed):
		return refuse(message.MalformedSignature, "a well-formed XAdES signature and hash chain", err.Error(), err, "malformed signature or hash chain: %v", err)
	case errors.Is(err, signature.ErrAttachmentOrder):
		return refuse(message.InvalidSignatureValue, want, err.Error(), err, "the attachments are not in the order signed: %v", err)
	case errors.Is(err, signature.ErrAttachment):
		return refuse(message.InvalidSignatureValue, want, err.Error(), err, "an attachment was changed after signing: %v", err)
	case errors.Is(err, signature.ErrChainInput):
		return refuse(message.InvalidSignatureValue, want, err.Error(), err, "the hash chain does not cover exactly the message's attachments: %v", err)
	case errors.Is(err, signature.ErrChain):
		return refuse(message.InvalidSignatureValue, want, err.Error(), err, "the hash chain is not the one the signature covers: %v", err)
	}
	return refuse(message.InvalidSignatureValue, want, err.Error(), err, "the signature does not verify: %v", err)
}

// SignerChain is the rule on the signing certificate: it chains to an
// approved CA (any usage; the profile is the CA's). It returns the issuer.
func (v *Verifier) SignerChain(t Trust, cert *x509.Certificate, extra []*x509.Certificate) (*x509.Certificate, error) {
	issuer, err := v.Chain(t, cert, extra, x509.ExtKeyUsageAny)
	if err != nil {
		return nil, refuse(message.CertValidation, "a signing certificate of an approved CA", fmt.Sprintf("%q: %v", cert.Subject.CommonName, err), err,
			"the signing certificate %q is not from an approved CA: %v", cert.Subject.CommonName, err)
	}
	return issuer, nil
}

// SignerIdentity is the rule that the message is signed by the member it
// must be: the client's member for a request, the provider's for a
// response.
func SignerIdentity(cert *x509.Certificate, want identifier.Client) error {
	id, err := pkiutil.MemberFromSubject(cert.Subject)
	if err != nil {
		id = cert.Subject.String()
	}
	if id != want.String() {
		return refuse(message.IncorrectCertificate, want.String(), id, err, "the message is signed by %q, but must be signed by %s", id, want)
	}
	return nil
}

// SignerStatus is the rule on the OCSP responses inside the signature: one
// of them is a good, fresh response for the signing certificate.
func (v *Verifier) SignerStatus(t Trust, responses [][]byte, cert, issuer *x509.Certificate) error {
	_, err := v.signerStatus(t, responses, cert, issuer)
	return err
}

// signerStatus is SignerStatus returning the good response it found.
func (v *Verifier) signerStatus(t Trust, responses [][]byte, cert, issuer *x509.Certificate) (*ocsp.Response, error) {
	if len(responses) == 0 {
		return nil, refuse(message.CertValidation, goodResponse(t, cert), "none", nil, "the signature carries no OCSP response for its certificate")
	}
	var errs []error
	for _, der := range responses {
		resp, err := v.status(der, cert, issuer, t.OCSPFreshness())
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	return nil, refuse(message.CertValidation, goodResponse(t, cert), err.Error(), err, "the signing certificate's status is not acceptable: %v", err)
}

// Signature applies the signature rules in turn to a signed message:
// SignatureValue, SignerChain, SignerIdentity (signer is the member that
// must have signed), SignerStatus.
func (v *Verifier) Signature(t Trust, sigXML, data []byte, signer identifier.Client) error {
	return v.SignatureOf(t, sigXML, Signed{SOAP: data}, signer)
}

// SignatureOf is Signature for a message that may have attachments
// (SignedValue in place of SignatureValue).
//
// With v.Signatures set, a signature through a hash chain that verified
// (a batch signature) is remembered, and further messages under the same
// signature document are checked through their own hash chain alone
// (see SignatureCache).
func (v *Verifier) SignatureOf(t Trust, sigXML []byte, m Signed, signer identifier.Client) error {
	_, err := v.SignatureOfDigest(t, sigXML, m, signer)
	return err
}

// SignatureOfDigest is SignatureOf, and returns the SHA-512 of sigXML when
// it computed it (the key of a batch signature, with v.Signatures set),
// else nil: the caller's message log takes it as the record's time-stamp
// input (messagelog.Record.SignatureDigest) without hashing the document
// again.
func (v *Verifier) SignatureOfDigest(t Trust, sigXML []byte, m Signed, signer identifier.Client) ([]byte, error) {
	c := v.Signatures
	if c == nil || m.HashChainResult == nil {
		_, err := v.signatureOf(t, sigXML, m, signer)
		return nil, err
	}
	key := cacheKey{trust: t, doc: sha512.Sum512(sigXML)}
	err := v.cachedSignatureOf(c, key, t, sigXML, m, signer)
	return key.doc[:], err
}

// cachedSignatureOf is SignatureOf through the cache c, the signature
// document being key.doc.
func (v *Verifier) cachedSignatureOf(c *SignatureCache, key cacheKey, t Trust, sigXML []byte, m Signed, signer identifier.Client) error {
	if e := c.get(key, v.now()); e != nil {
		if sha512.Sum512(m.HashChainResult) != e.result {
			err := fmt.Errorf("%w: the hash-chain result received is not the one this signature covers", signature.ErrChain)
			return chainRefusal(err)
		}
		if err := signature.CheckChain(signature.Part{Data: m.SOAP}, m.Attachments, m.HashChainResult, m.HashChain); err != nil {
			return chainRefusal(err)
		}
		return SignerIdentity(e.cert, signer)
	}
	e, err := v.signatureOf(t, sigXML, m, signer)
	if err != nil {
		return err // refusals are never remembered
	}
	e.result = sha512.Sum512(m.HashChainResult)
	c.put(key, e)
	return nil
}

// signatureOf applies the rules in full and returns what a cache entry
// needs: the signing certificate and until when the checks hold.
func (v *Verifier) signatureOf(t Trust, sigXML []byte, m Signed, signer identifier.Client) (*cacheEntry, error) {
	sig, err := SignedValue(sigXML, m)
	if err != nil {
		return nil, err
	}
	issuer, err := v.SignerChain(t, sig.Cert, sig.Extra)
	if err != nil {
		return nil, err
	}
	if err := SignerIdentity(sig.Cert, signer); err != nil {
		return nil, err
	}
	resp, err := v.signerStatus(t, sig.OCSP, sig.Cert, issuer)
	if err != nil {
		return nil, err
	}
	return &cacheEntry{cert: sig.Cert, until: validUntil(t, resp, append([]*x509.Certificate{sig.Cert, issuer}, sig.Extra...))}, nil
}

// Hosting says which clients a security server hosts (the global
// configuration).
type Hosting interface {
	Hosts(server identifier.ServerID, client identifier.Client) bool
}

// HostedProvider is the rule that the service's provider is hosted by this
// security server.
func HostedProvider(h Hosting, server identifier.ServerID, provider identifier.Client) error {
	if !h.Hosts(server, provider) {
		return refuse(message.UnknownService, "a provider hosted by "+server.String(), provider.String(), nil,
			"provider %s is not hosted by this security server (%s)", provider, server)
	}
	return nil
}

// KnownService is the rule that this security server provides the
// service: lookup is its configured services.
func KnownService[S any](lookup func(identifier.ServiceID) (S, bool), id identifier.ServiceID) (S, error) {
	s, ok := lookup(id)
	if !ok {
		return s, refuse(message.UnknownService, "a service this security server provides", id.String(), nil,
			"service %s is not provided by this security server", id)
	}
	return s, nil
}

// AccessChecker answers whether a client may call a service (the access
// rights; acl.Checker on bbolt).
type AccessChecker interface {
	Allowed(service identifier.ServiceID, client identifier.Client, inGroup acl.GroupMembership) (bool, error)
	// AllowedEndpoint is Allowed for a REST call of method to servicePath
	// (raw), which a right on one endpoint also admits.
	AllowedEndpoint(service identifier.ServiceID, client identifier.Client, inGroup acl.GroupMembership, method, servicePath string) (bool, error)
}

// Access is the access-rights rule: client holds a right to the service
// (any version), directly or through a global group.
func Access(ac AccessChecker, service identifier.ServiceID, client identifier.Client, inGroup acl.GroupMembership) error {
	allowed, err := ac.Allowed(service, client, inGroup)
	return accessRefusal(allowed, err, service.WithoutVersion().String(), client)
}

// EndpointAccess is the access-rights rule of a REST call: client holds a
// right to the service or to an endpoint admitting method and servicePath
// (X-Road's endpoint-level rights).
func EndpointAccess(ac AccessChecker, service identifier.ServiceID, client identifier.Client, inGroup acl.GroupMembership, method, servicePath string) error {
	allowed, err := ac.AllowedEndpoint(service, client, inGroup, method, servicePath)
	return accessRefusal(allowed, err, fmt.Sprintf("%s (%s %s)", service.WithoutVersion(), method, servicePath), client)
}

func accessRefusal(allowed bool, err error, what string, client identifier.Client) error {
	if err != nil {
		return refuse(message.InternalError, "readable access rights", err.Error(), err, "the access rights cannot be read")
	}
	if !allowed {
		return refuse(message.AccessDenied, "an access right to "+what, "none for "+client.String(), nil,
			"client %s is not allowed to call %s", client, what)
	}
	return nil
}

// DuplicateMessage is the fault code of a replayed message id. X-Road has
// no such check (it relies on TLS and its log); the name follows its style.
const DuplicateMessage = "DuplicateMessage"

// ErrGuardUnavailable is wrapped by a ReplayGuard kept in the message
// log's database (pgreplay) when that database cannot be reached: the
// message is refused with LoggingFailed, as the log would refuse it, so
// that an outage of the database reads as one fault whichever step meets
// it first.
var ErrGuardUnavailable = errors.New("the replay guard's database cannot be reached")

// ReplayGuard remembers the message ids each client sent.
type ReplayGuard interface {
	// Fresh records (client, id) as received at now and reports whether
	// the pair was new within the guard's window.
	Fresh(client, id string, now time.Time) (bool, error)
}

// Replay is the rule that a request's id was not received from the same
// client before (PR-MESS: ids are unique per message).
func Replay(g ReplayGuard, client identifier.Client, id string, now time.Time) error {
	fresh, err := g.Fresh(client.String(), id, now)
	if errors.Is(err, ErrGuardUnavailable) {
		return refuse(message.LoggingFailed, "a reachable message log database", err.Error(), err, "the message log's database cannot be reached, so the message id cannot be checked for replay nor the message logged")
	}
	if err != nil {
		return refuse(message.InternalError, "a working replay guard", err.Error(), err, "the message id cannot be checked for replay")
	}
	if !fresh {
		return refuse(DuplicateMessage, "a message id new from "+client.String(), id, nil,
			"message id %q from %s was already received: each request needs a new id", id, client)
	}
	return nil
}
