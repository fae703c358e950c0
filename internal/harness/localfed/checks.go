package localfed

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
	"github.com/sluz/sluz/registry/adminapi"
	"github.com/sluz/sluz/registry/identifier"
)

// Check is one outcome of the sample run.
type Check struct {
	What   string
	Result string
	OK     bool
}

func check(what string, ok bool, format string, a ...any) Check {
	return Check{What: what, Result: fmt.Sprintf(format, a...), OK: ok}
}

// Checks exercises the federation the way security servers and operators
// will: the registry's published configuration is downloaded and verified
// against the anchor and looked up; each member's signing certificate gets a
// verified OCSP answer; a sample message gets a verified time-stamp token;
// and the admin API refuses a caller without an operator certificate.
func (f *Federation) Checks(ctx context.Context) []Check {
	var out []Check
	if f.LoadedNow {
		out = append(out, check("Operator loads the sample federation over TLS", true, "one batch, audit #%d", f.loadEntry))
	} else {
		out = append(out, check("Operator loads the sample federation over TLS", true, "already loaded (state reused)"))
	}
	out = append(out, f.confChecks(ctx)...)

	client := &ocsp.Client{}
	for _, m := range Members {
		what := fmt.Sprintf("OCSP status of %s signing certificate (%s)", m.Code, m.Name)
		cert, err := pkiutil.ReadCertificate(filepath.Join(f.Dir, m.Code, "sign.pem"))
		if err != nil {
			out = append(out, check(what, false, "%v", err))
			continue
		}
		resp, err := client.Fetch(ctx, f.OCSPURL, cert, f.CA.Cert, ocsp.VerifyOptions{MaxAge: time.Hour})
		if err != nil {
			out = append(out, check(what, false, "%v", err))
			continue
		}
		out = append(out, check(what, resp.Status == ocsp.Good, "%s, signature verified", resp.Status))
	}

	intermediates := x509.NewCertPool()
	intermediates.AddCert(f.CA.Cert)
	tc := &tsa.Client{URL: f.TSAURL, Verify: tsa.VerifyOptions{Roots: f.CA.Roots(), Intermediates: intermediates, MaxAge: time.Minute}}
	sum := sha256.Sum256([]byte(`<getPersonByFin><fin>5ZJ8K2L</fin></getPersonByFin>`))
	const what = "RFC 3161 time-stamp over a sample message"
	if tok, err := tc.Timestamp(ctx, crypto.SHA256, sum[:]); err != nil {
		out = append(out, check(what, false, "%v", err))
	} else {
		out = append(out, check(what, true, "serial %s at %s, token verified", tok.SerialNumber, tok.GenTime.Format(time.RFC3339)))
	}

	anon, err := adminapi.NewClient(f.AdminURL, "", "", filepath.Join(f.Dir, "pki", pkiutil.FileRootCert))
	const anonWhat = "Admin API call without an operator certificate"
	if err == nil {
		err = anon.Do(ctx, http.MethodGet, "/api/v1/members", nil, nil)
	}
	var ae *adminapi.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		out = append(out, check(anonWhat, true, "refused: HTTP 401"))
	} else {
		out = append(out, check(anonWhat, false, "not refused as expected: %v", err))
	}
	return out
}

// confChecks downloads the configuration as a security server would and
// answers the lookups a security server makes.
func (f *Federation) confChecks(ctx context.Context) []Check {
	const what = "Global configuration downloaded and verified against the anchor"
	if err := f.ConfClient.Refresh(ctx); err != nil {
		return []Check{check(what, false, "%v", err)}
	}
	snap, err := f.ConfClient.Current()
	if err != nil {
		return []Check{check(what, false, "%v", err)}
	}
	out := []Check{check(what, true, "version %d: %d members, %d servers, %d services, expires %s",
		snap.Version, len(snap.Conf.Members), len(snap.Conf.Servers), len(snap.Conf.Services), snap.Expires.Format(time.RFC3339))}
	provider, _ := identifier.ParseSubsystem("AZ/GOV/DIN/population")
	lookup := "ƏMDK finds the security server of AZ/GOV/DIN/population"
	if servers := snap.ServersFor(provider); len(servers) == 1 {
		out = append(out, check(lookup, true, "%s at %s", servers[0].ID, servers[0].Address))
	} else {
		out = append(out, check(lookup, false, "found %d servers", len(servers)))
	}
	return out
}
