// Package localfed runs a complete Şlüz federation on loopback for trying
// Şlüz out and for end-to-end tests: the federation PKI (CA, OCSP responder,
// time-stamp authority) and the sample members DİN, ƏMDK and DSMF with their
// certificates. State lives in one directory and is reused on the next start.
//
// # Caveats
//
// It binds loopback addresses only and keeps every private key in its state
// directory: it is a demonstration and test harness, not a deployment.
package localfed

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sluz/sluz/pkiutil"
	"github.com/sluz/sluz/pkiutil/ocsp"
	"github.com/sluz/sluz/pkiutil/tsa"
)

// Member is one sample agency of the local federation.
type Member struct {
	ID   string // X-Road member identifier
	Code string
	Name string // Azerbaijani display name
	Host string // DNS name in its authentication certificate
}

// Members are the sample agencies used across configs, tests and docs.
var Members = []Member{
	{ID: "AZ/GOV/DIN", Code: "DIN", Name: "Daxili İşlər Nazirliyi", Host: "ss.din.gov.az"},
	{ID: "AZ/GOV/EMDK", Code: "EMDK", Name: "Əmlak Məsələləri Dövlət Komitəsi", Host: "ss.emdk.gov.az"},
	{ID: "AZ/GOV/DSMF", Code: "DSMF", Name: "Dövlət Sosial Müdafiə Fondu", Host: "ss.dsmf.gov.az"},
}

// Options configures Start.
type Options struct {
	Dir      string // state directory; created on first start, reused after
	OCSPAddr string // default pkiutil.DefaultOCSPAddr
	TSAAddr  string // default pkiutil.DefaultTSAAddr
	Log      *slog.Logger
}

// Federation is a running local federation.
type Federation struct {
	Dir     string
	CA      *pkiutil.CA
	OCSPURL string
	TSAURL  string
	certs   map[string]*x509.Certificate // member code + "-sign"/"-auth"
	cancel  context.CancelFunc
	done    chan error
	svc     *pkiutil.Services
}

// Start creates or reuses the state in opts.Dir and starts the trust services.
func Start(opts Options) (*Federation, error) {
	if opts.Dir == "" {
		return nil, errors.New("localfed: no state directory")
	}
	if opts.OCSPAddr == "" {
		opts.OCSPAddr = pkiutil.DefaultOCSPAddr
	}
	if opts.TSAAddr == "" {
		opts.TSAAddr = pkiutil.DefaultTSAAddr
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pkiDir := filepath.Join(opts.Dir, "pki")
	ca, err := pkiutil.Open(pkiDir)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(pkiDir, pkiutil.FileFederation)); statErr == nil {
			return nil, fmt.Errorf("localfed: existing state in %s is unusable (%w): remove the directory to start afresh", opts.Dir, err)
		}
		if ca, err = pkiutil.Init(pkiutil.InitOptions{Dir: pkiDir}); err != nil {
			return nil, fmt.Errorf("localfed: %w", err)
		}
		opts.Log.Info("created federation PKI", "dir", pkiDir)
	}
	f := &Federation{Dir: opts.Dir, CA: ca, certs: map[string]*x509.Certificate{}}
	if err := f.memberCerts(); err != nil {
		return nil, err
	}
	svc, err := pkiutil.NewServices(ca, opts.Log)
	if err != nil {
		return nil, fmt.Errorf("localfed: %w", err)
	}
	ocspLn, err := net.Listen("tcp", opts.OCSPAddr)
	if err != nil {
		svc.Close()
		return nil, fmt.Errorf("localfed: OCSP responder: %w (another federation running? pass other addresses)", err)
	}
	tsaLn, err := net.Listen("tcp", opts.TSAAddr)
	if err != nil {
		svc.Close()
		ocspLn.Close()
		return nil, fmt.Errorf("localfed: TSA: %w (another federation running? pass other addresses)", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.svc, f.cancel, f.done = svc, cancel, make(chan error, 1)
	f.OCSPURL, f.TSAURL = "http://"+ocspLn.Addr().String()+"/", "http://"+tsaLn.Addr().String()+"/"
	go func() { f.done <- svc.Serve(ctx, ocspLn, tsaLn) }()
	return f, nil
}

// memberCerts issues each member's signing and authentication certificate
// once; later starts load them.
func (f *Federation) memberCerts() error {
	for _, m := range Members {
		dir := filepath.Join(f.Dir, m.Code)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, req := range []pkiutil.IssueRequest{
			{Profile: pkiutil.ProfileSign, Member: m.ID},
			{Profile: pkiutil.ProfileAuth, Member: m.ID, DNSNames: []string{m.Host, "localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}},
		} {
			prefix := filepath.Join(dir, req.Profile)
			cert, err := pkiutil.ReadCertificate(prefix + ".pem")
			if errors.Is(err, os.ErrNotExist) {
				cert, _, err = f.CA.IssueToFiles(req, prefix+".pem", prefix+".key", false)
			}
			if err != nil {
				return fmt.Errorf("localfed: %s %s certificate: %w", m.Code, req.Profile, err)
			}
			f.certs[m.Code+"-"+req.Profile] = cert
		}
	}
	return nil
}

// Close stops the services.
func (f *Federation) Close() error {
	f.cancel()
	err := <-f.done
	f.svc.Close()
	return err
}

// Check is one outcome of the sample run.
type Check struct {
	What   string
	Result string
	OK     bool
}

// Checks exercises the trust services the way security servers will: each
// member's signing certificate gets a verified OCSP answer, and a sample
// message gets a verified time-stamp token.
func (f *Federation) Checks(ctx context.Context) []Check {
	var out []Check
	client := &ocsp.Client{}
	for _, m := range Members {
		cert := f.certs[m.Code+"-sign"]
		what := fmt.Sprintf("OCSP status of %s signing certificate (%s)", m.Code, m.Name)
		resp, err := client.Fetch(ctx, f.OCSPURL, cert, f.CA.Cert, ocsp.VerifyOptions{MaxAge: time.Hour})
		switch {
		case err != nil:
			out = append(out, Check{what, err.Error(), false})
		default:
			out = append(out, Check{what, resp.Status.String() + ", signature verified", resp.Status == ocsp.Good})
		}
	}
	intermediates := x509.NewCertPool()
	intermediates.AddCert(f.CA.Cert)
	tc := &tsa.Client{URL: f.TSAURL, Verify: tsa.VerifyOptions{Roots: f.CA.Roots(), Intermediates: intermediates, MaxAge: time.Minute}}
	msg := []byte(`<getPersonByFin><fin>5ZJ8K2L</fin></getPersonByFin>`)
	sum := sha256.Sum256(msg)
	tok, err := tc.Timestamp(ctx, crypto.SHA256, sum[:])
	if err != nil {
		out = append(out, Check{"RFC 3161 time-stamp over a sample message", err.Error(), false})
	} else {
		out = append(out, Check{"RFC 3161 time-stamp over a sample message",
			fmt.Sprintf("serial %s at %s, token verified", tok.SerialNumber, tok.GenTime.Format(time.RFC3339)), true})
	}
	return out
}
