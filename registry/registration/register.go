package registration

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/store"
)

// Operator is the admin API as Register uses it (*adminapi.Client).
type Operator interface {
	Do(ctx context.Context, method, path string, in, out any) error
}

// Result is what Register did.
type Result struct {
	Response   *Response
	Entry      store.AuditEntry // the batch in the registry's audit trail
	NewMember  bool             // the owner was added as a member
	Changes    []store.Change
	AuthSerial string // hex serials of the issued certificates
	SignSerial string
}

// Register turns a checked request into issued certificates and one batch
// of registry changes: the owner member unless it exists, its subsystems
// that do not exist yet, the server with its authentication certificate,
// the approval, and the hosted subsystems. See the package comment for
// what it promises when it refuses.
func Register(ctx context.Context, op Operator, ca *pkiutil.CA, req *Request) (*Result, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	if req.Server.Owner.Instance != ca.Federation.Instance {
		return nil, fmt.Errorf("server %s is of instance %s, but this trust directory's CA issues for %s: use the federation's trust directory", req.Server, req.Server.Owner.Instance, ca.Federation.Instance)
	}
	var st store.State
	if err := op.Do(ctx, http.MethodGet, "/api/v1/state", nil, &st); err != nil {
		return nil, err
	}
	owner := req.Server.Owner
	if st.Instance != "" && st.Instance != owner.Instance {
		return nil, fmt.Errorf("server %s is of instance %s, but the registry is instance %s", req.Server, owner.Instance, st.Instance)
	}
	if _, ok := st.Servers[req.Server.String()]; ok {
		return nil, fmt.Errorf("security server %s is already registered: give the new server another code (securityserver init --server) or remove the old one first (registry server remove)", req.Server)
	}
	if _, ok := st.MemberClasses[owner.MemberClass]; !ok {
		have := make([]string, 0, len(st.MemberClasses))
		for k := range st.MemberClasses {
			have = append(have, k)
		}
		slices.Sort(have)
		return nil, fmt.Errorf("member class %s of %s is not known to the registry (it has %s): correct the server identifier", owner.MemberClass, owner, strings.Join(have, ", "))
	}
	if !caApproved(&st, ca) {
		return nil, fmt.Errorf("the registry does not approve this trust directory's CA (%q): add it with registry trust ca, or use the federation's trust directory", ca.Root.Subject.CommonName)
	}

	var changes []store.Change
	res := &Result{}
	m, isMember := st.Members[owner.String()]
	if !isMember {
		changes = append(changes, store.AddMember{ID: owner, Name: req.MemberName})
		res.NewMember = true
	}
	for _, s := range req.Subsystems {
		if !isMember || !slices.Contains(m.Subsystems, s.SubsystemCode) {
			changes = append(changes, store.AddSubsystem{ID: s})
		}
	}

	authCSR, signCSR := req.AuthRequest(), req.SignRequest()
	auth, err := ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileAuth, Member: owner.String(),
		DNSNames: authCSR.DNSNames, IPAddresses: authCSR.IPAddresses, PublicKey: authCSR.PublicKey})
	if err != nil {
		return nil, fmt.Errorf("issuing the authentication certificate: %w", err)
	}
	sign, err := ca.Issue(pkiutil.IssueRequest{Profile: pkiutil.ProfileSign, Member: owner.String(), PublicKey: signCSR.PublicKey})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("issuing the signing certificate: %w", err), revoke(ca, auth))
	}
	changes = append(changes,
		store.AddServer{ID: req.Server, Address: req.Address, AuthCert: string(pkiutil.EncodeCertificates(auth, ca.Cert))},
		store.ApproveServer{ID: req.Server})
	for _, s := range req.Subsystems {
		changes = append(changes, store.AddServerClient{Server: req.Server, Client: s})
	}
	batch, err := adminapi.NewBatchRequest("register-"+batchName(req.Server.String()), changes)
	if err == nil {
		err = op.Do(ctx, http.MethodPost, "/api/v1/batch", batch, &res.Entry)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("registering %s: %w (the certificates issued for it were revoked)", req.Server, err), revoke(ca, auth, sign))
	}
	res.Changes = changes
	res.AuthSerial, res.SignSerial = pkiutil.SerialHex(auth.SerialNumber), pkiutil.SerialHex(sign.SerialNumber)
	res.Response = &Response{Format: ResponseFormat, Server: req.Server,
		AuthCert: string(pkiutil.EncodeCertificates(auth, ca.Cert)),
		SignCert: string(pkiutil.EncodeCertificates(sign, ca.Cert)),
		RootCA:   string(pkiutil.EncodeCertificates(ca.Root))}
	return res, nil
}

// batchName makes an identifier part of a server id for the audit trail.
func batchName(s string) string { return strings.ReplaceAll(s, "/", ".") }

func caApproved(st *store.State, ca *pkiutil.CA) bool {
	for _, a := range st.Trust.ApprovedCAs {
		if c, err := x509.ParseCertificate(a.Cert); err == nil && c.Equal(ca.Root) {
			return true
		}
	}
	return false
}

// revoke withdraws certificates issued for a registration that did not
// happen.
func revoke(ca *pkiutil.CA, certs ...*x509.Certificate) error {
	var errs []error
	for _, c := range certs {
		if _, err := ca.Revoke(c.SerialNumber, pkiutil.RevocationReasons["cessationOfOperation"]); err != nil {
			errs = append(errs, fmt.Errorf("revoking the unused certificate %s failed, revoke it with pkiutil revoke: %w", pkiutil.SerialHex(c.SerialNumber), err))
		}
	}
	return errors.Join(errs...)
}

// Host is the host part of a host:port address, for callers that name the
// authentication certificate after it.
func Host(address string) string {
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return ""
	}
	return h
}
