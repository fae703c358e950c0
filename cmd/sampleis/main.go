// Command sampleis runs the agencies' sample provider information systems
// alone, as an agency's own back end runs beside its security server: DİN's
// population register (/din), ƏMDK's real-estate register (/emdk) and DSMF's
// insurance register (/dsmf), X-Road message protocol 4.0 SOAP services with
// their WSDLs (GET /din?wsdl). The sample security server configurations
// (configs/securityserver-*.yaml) name them at http://127.0.0.1:9000.
//
// Run `sampleis help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluz/sluz/internal/cli"
	"github.com/sluz/sluz/internal/harness/sampleis"
)

var program = &cli.Program{
	Name:  "sampleis",
	Intro: "sampleis: the sample provider information systems of DİN, ƏMDK and DSMF (invented data).",
	Commands: []cli.Command{
		{Name: "serve", Args: "[--listen HOST:PORT]",
			Summary: "serve /din, /emdk and /dsmf (SOAP, X-Road message protocol 4.0) until Ctrl-C",
			Example: "sampleis serve --listen 127.0.0.1:9000", Run: runServe},
	},
}

func main() { os.Exit(program.Main(os.Args[1:], os.Stdout, os.Stderr)) }

func runServe(env *cli.Env, args []string) error {
	fs := env.Flags()
	listen := fs.String("listen", "127.0.0.1:9000", "listen address (plain HTTP: keep it on loopback or the agency's internal network)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, ln, env.Out, slog.New(slog.NewTextHandler(env.Err, nil)))
}

// serve answers on ln until ctx is done, then lets requests in flight
// finish (at most 5 s).
func serve(ctx context.Context, ln net.Listener, out io.Writer, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           sampleis.NewMux(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "sample information systems at %s/din, %s/emdk, %s/dsmf (WSDL: %s/din?wsdl)\n", base, base, base, base)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
