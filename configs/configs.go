// Package configs embeds the sample configuration files of this folder, so
// that the one-command local federation runs on embedded defaults.
package configs

import "embed"

// FS holds registry.yaml and federation.yaml.
//
//go:embed registry.yaml federation.yaml
var FS embed.FS
