package localfed

import (
	"fmt"
	"net"

	"github.com/sluz/sluz/securityserver"
	"github.com/sluz/sluz/securityserver/config"
)

// RestartAgency stops the security server of the agency with the given
// code and starts it again on the same addresses, with its configuration
// changed by adjust (nil: unchanged; the file in the state directory is not
// rewritten) and the given options. The load test uses it to measure the
// same pair of servers with the message log or time-stamping switched off.
func (f *Federation) RestartAgency(code string, adjust func(*config.Config), opts ...securityserver.Option) error {
	a := f.Agency(code)
	if a == nil || a.Server == nil {
		return fmt.Errorf("localfed: no running security server for %q", code)
	}
	a.cancel()
	err := <-a.done
	a.done = nil
	if cerr := a.Server.Close(); err == nil {
		err = cerr
	}
	a.Server = nil
	if err != nil {
		return fmt.Errorf("localfed: stopping %s: %w", code, err)
	}
	if a.clientLn, err = net.Listen("tcp", a.clientLn.Addr().String()); err != nil {
		return fmt.Errorf("localfed: %s client proxy: %w", code, err)
	}
	if a.serverLn, err = net.Listen("tcp", a.serverLn.Addr().String()); err != nil {
		a.clientLn.Close()
		return fmt.Errorf("localfed: %s service proxy: %w", code, err)
	}
	if adjust != nil {
		adjust(a.Config)
		if err := grantRights(a); err != nil { // the storage may have changed
			return fmt.Errorf("localfed: %s: %w", code, err)
		}
	}
	return f.serveAgency(f.agencyCtx, a, f.log, opts...)
}
