package main

import (
	"strings"
	"testing"

	"github.com/sluz/sluz/internal/cli/clitest"
	"github.com/sluz/sluz/registry"
)

// TestHelpEverywhere: federation --help, help and -h give usage and an example.
func TestHelpEverywhere(t *testing.T) {
	t.Logf("%d help screens", clitest.HelpEverywhere(t, program))
}

// TestTryItCredentials: what the running federation suggests says how
// operator commands take their credentials in the words registry --help
// uses, and its operator command gives them that way (flags).
func TestTryItCredentials(t *testing.T) {
	text := tryIt("state", "https://127.0.0.1:4000", "http://127.0.0.1:4001/globalconf", "http://127.0.0.1:8888", "state/request.xml", "http://127.0.0.1:8082/", "http://127.0.0.1:8081/")
	for _, want := range []string{registry.OperatorCredentialsHelp,
		"curl -s -H 'X-Road-Client: AZ/GOV/DIN/population' http://127.0.0.1:8081/r1/AZ/GOV/EMDK/realestate/realEstateRegistry/extract/5ZJ8K2L",
		"go run ./cmd/registry member list --registry https://127.0.0.1:4000 --cert state/operator.pem --key state/operator.key --ca state/pki/root-ca.pem"} {
		if !strings.Contains(text, want) {
			t.Errorf("federation's hints lack\n%s\nin\n%s", want, text)
		}
	}
}
