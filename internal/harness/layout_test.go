package harness

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sluz/sluz"

// TestLayout: the libraries in internal/ import no other package of the
// module (but each other), and no package outside the harnesses and cmd/
// imports a harness (test files aside: the end-to-end tests run the local
// federation).
func TestLayout(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"/...").Output()
	if err != nil {
		t.Skipf("go list: %v", err) // no go command: nothing to check against
	}
	var checked int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg, imports := fields[0], fields[1:]
		kind := kindOf(pkg)
		for _, imp := range imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			checked++
			switch dep := kindOf(imp); {
			case kind == "library" && dep != "library":
				t.Errorf("library %s imports %s: libraries in internal/ import only each other", pkg, imp)
			case dep == "harness" && kind != "harness" && kind != "cmd":
				t.Errorf("%s imports the harness %s: only cmd/ and other harnesses may", pkg, imp)
			case dep == "cmd":
				t.Errorf("%s imports %s: nothing imports cmd/", pkg, imp)
			}
		}
	}
	if checked == 0 {
		t.Fatalf("go list named no imports within the module:\n%s", out)
	}
}

func kindOf(pkg string) string {
	p := strings.TrimPrefix(pkg, module+"/")
	switch {
	case strings.HasPrefix(p, "internal/harness"):
		return "harness"
	case strings.HasPrefix(p, "internal/"):
		return "library"
	case strings.HasPrefix(p, "cmd/"):
		return "cmd"
	}
	return "server" // pkiutil, registry, securityserver, configs
}
