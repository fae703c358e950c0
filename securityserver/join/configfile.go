package join

import (
	"fmt"
	"strconv"
	"strings"
)

// configText is the new server's configuration file: the shape and comments
// of configs/securityserver-din.yaml, with this server's values and every
// path relative to the file (the server directory).
func configText(o InitOptions) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Şlüz security server of %s (%s): written by securityserver init.\n", o.Server.Owner, strings.ReplaceAll(o.MemberName, "\n", " "))
	p("#\n# Relative paths are resolved against this file's directory. The certificates\n")
	p("# (%s, %s) arrive from the central operator; install them with\n", FileAuthCert, FileSignCert)
	p("#   securityserver install --dir DIR --bundle RESPONSE.json\n")
	p("# then check and start:\n#   securityserver check-config --config %s\n#   securityserver serve --config %s\n\n", FileConfig, FileConfig)
	p("# This server, as registered in the central registry.\nserver: %s\n\n", o.Server)
	p("# The configuration anchor the registry hands out (a copy of the one given to init).\nanchor: %s\n\n", FileAnchor)
	p("# Global configuration cache, access rights (acl.db), message log, monitoring records.\ndataDir: %s\n\n", DirData)
	p("keys:\n")
	p("  auth:                                   # TLS to peer servers (pkiutil profile auth)\n")
	p("    cert: %s\n    key: %s                         # private: never leaves this machine\n", FileAuthCert, FileAuthKey)
	p("  sign:                                   # one signing key per hosted member (profile sign)\n")
	p("    - member: %s\n      cert: %s\n", o.Server.Owner, FileSignCert)
	if k := o.SignPKCS11; k != nil {
		p("      pkcs11:                             # the key stays on the token\n")
		p("        module: %s\n        tokenLabel: %s\n", strconv.Quote(k.Module), strconv.Quote(k.TokenLabel))
		if k.PINFile != "" {
			p("        pinFile: %s\n", strconv.Quote(k.PINFile))
		} else {
			p("        pin: %s                       # prefer pinFile\n", strconv.Quote(k.PIN))
		}
		if k.KeyLabel != "" {
			p("        keyLabel: %s\n", strconv.Quote(k.KeyLabel))
		}
		if k.KeyID != "" {
			p("        keyID: %s\n", strconv.Quote(k.KeyID))
		}
		p("        # maxSessions: 16                 # default\n")
	} else {
		p("      key: %s                     # private: never leaves this machine\n", FileSignKey)
	}
	p("\nclientProxy:\n  listen: %s                # the agency's IS sends X-Road SOAP requests here\n", o.ClientListen)
	p("  # tls:                                  # optional HTTPS with IS client certificates\n  #   cert: is-tls.pem\n  #   key: is-tls.key\n  #   clientCAs: [is-ca.pem]\n\n")
	p("serverProxy:\n  listen: %s                # peers connect here (mutual TLS 1.3); registered address %s\n\n", o.ServerListen, o.Address)
	p("# globalConf:\n#   refreshInterval: 60s                  # default: how often the registry is asked for a newer version\n")
	p("#   recheckInterval: 5s                   # default: an unknown peer, client or service makes the server ask at once, at most this often\n\n")
	if o.AdminListen == "off" {
		p("# admin:\n#   listen: %s                # /metrics (Prometheus), /healthz, /readyz; off when unset\n\n", DefaultAdminListen)
	} else {
		p("admin:\n  listen: %s                # /metrics (Prometheus), /healthz, /readyz, /messagelog/backup; off when unset\n\n", o.AdminListen)
	}
	p("services: []                              # what this server provides, and the IS endpoint behind it, e.g.\n")
	p("#  - service: %s/getSomething        # every version\n#    url: http://127.0.0.1:9000/\n#    timeout: 10s\n\n", o.Server.Owner.Subsystem(o.Subsystems[0]))
	p(`messageLog:                               # dataDir/messagelog.db
  bodies: true                            # default; false keeps only message digests
  # digestOnly: [%s]   # local subsystems logged as digests only
  archive:                                # old records move into dated archive files (dataDir/archive)
    after: 720h                           # default; whole time-stamped batches whose newest record is this old
    interval: 1h                          # default; how often the archiver runs
    # retention: 8760h                    # delete archive files whose newest record is older; default: keep forever
    # dir: /var/lib/sluz/archive          # default dataDir/archive
    # maxRecords: 10000                   # default; records per archive file
    # enabled: false                      # default true

opmon:                                    # operational monitoring records (dataDir/opmon.db; no bodies)
  enabled: true                           # default; also answers getSecurityServerOperationalData
  retention: 168h                         # default (7 days)

signing:
  batch: true                             # default: messages waiting for the signing key share one signature (hash chain)

limits:
  maxMessageSize: 10MiB                   # default: a message without its attachments (held in memory)
  # maxAttachmentSize: 4GiB              # default: a message's attachments together, or a REST body (streamed via dataDir/spool)
  providerTimeout: 30s                    # default
  peerTimeout: 60s                        # default
  readTimeout: 30s                        # default
  replayWindow: 10m                       # default
  # replayCapacity: 1000000               # default: most message ids the replay guard holds
  # verifyCacheSize: 10000                # default: verified chains (and OCSP responses, batch signatures) kept
  # headerTimeout: 10s                    # default: time to send the HTTP request headers
  # idleTimeout: 2m                       # default: keep-alive connections idle this long are closed
  # maxHeaderBytes: 64KiB                 # default
  # shutdownGrace: 10s                    # default: time exchanges in flight get on stop

logFormat: text
`, o.Server.Owner.Subsystem(o.Subsystems[0]))
	return b.String()
}
