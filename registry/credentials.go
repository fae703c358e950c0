package registry

// The central operator's commands (cmd/registry) find the admin API and the
// operator's credentials one way: in flags, with these environment
// variables as the fallback.
const (
	EnvAdminURL     = "SLUZ_REGISTRY_URL"  // --registry
	EnvOperatorCert = "SLUZ_OPERATOR_CERT" // --cert
	EnvOperatorKey  = "SLUZ_OPERATOR_KEY"  // --key
	EnvAdminCA      = "SLUZ_REGISTRY_CA"   // --ca
)

// OperatorCredentialsHelp says so, in the words `registry --help`, every
// operator command's --help, README.md and cmd/federation all use.
const OperatorCredentialsHelp = `Operator credentials: flags, with the environment as the fallback.
  --registry URL  admin API (else $` + EnvAdminURL + `, else https://` + DefaultAdminListen + `)
  --cert FILE     operator certificate, PEM, from pkiutil issue --profile admin (else $` + EnvOperatorCert + `)
  --key FILE      its private key, PEM (else $` + EnvOperatorKey + `)
  --ca FILE       PEM roots of the registry's TLS certificate (else $` + EnvAdminCA + `)
`
