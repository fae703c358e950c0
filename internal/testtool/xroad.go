package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// XRoadRepoDefault is where X-Road's repository is looked for when
// SLUZ_XROAD_REPO is not set.
const XRoadRepoDefault = "/work/.mirror/nordic-institute+X-Road/repo"

// XRoadRepo returns the path of nordic-institute/X-Road's repository (a
// checkout or a bare clone) that SLUZ_XROAD_REPO names, or skips t. Tests
// read X-Road's test vectors from it at test time; they are never copied
// into this repository.
func XRoadRepo(t testing.TB) string {
	t.Helper()
	repo := os.Getenv("SLUZ_XROAD_REPO")
	if repo == "" {
		repo = XRoadRepoDefault
	}
	if _, err := os.Stat(repo); err != nil {
		t.Skipf("X-Road's repository is not at %s (set SLUZ_XROAD_REPO to a checkout or bare clone of nordic-institute/X-Road to run this test)", repo)
	}
	return repo
}

// ReadXRoad reads path from X-Road's repository at repo: the file of a
// checkout, or else the file at HEAD of a bare clone.
func ReadXRoad(repo, path string) ([]byte, error) {
	if b, err := os.ReadFile(filepath.Join(repo, path)); err == nil {
		return b, nil
	}
	return exec.Command("git", "-C", repo, "show", "HEAD:"+path).Output()
}
