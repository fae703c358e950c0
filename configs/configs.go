// Package configs embeds the sample configuration files of this folder, so
// that the one-command local federation runs on embedded defaults.
package configs

import "embed"

// FS holds registry.yaml, federation.yaml, securityserver-*.yaml, the
// OpenAPI descriptions of the sample REST services (openapi/) and the
// WSDLs of the sample SOAP services (wsdl/).
//
//go:embed registry.yaml federation.yaml securityserver-din.yaml securityserver-emdk.yaml securityserver-dsmf.yaml openapi/emdk-realestate.yaml wsdl/*.wsdl
var FS embed.FS
