// Package configs embeds the sample configuration files of this folder, so
// that the one-command local federation runs on embedded defaults.
package configs

import "embed"

// FS holds registry.yaml, federation.yaml and securityserver-*.yaml.
//
//go:embed registry.yaml federation.yaml securityserver-din.yaml securityserver-emdk.yaml securityserver-dsmf.yaml
var FS embed.FS
