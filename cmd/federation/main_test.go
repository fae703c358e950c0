package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOnce runs the local federation twice on one state directory, as a user
// would, and requires every sample check to pass both times with the state
// reused (same CA) rather than recreated.
func TestOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var out bytes.Buffer
	if code := run(dir, true, "127.0.0.1:0", "127.0.0.1:0", false, &out); code != 0 {
		t.Fatalf("first run exit %d:\n%s", code, out.String())
	}
	for _, want := range []string{"Daxili İşlər Nazirliyi", "Əmlak Məsələləri Dövlət Komitəsi", "Dövlət Sosial Müdafiə Fondu", "token verified", "all 4 checks passed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	root1, err := os.ReadFile(filepath.Join(dir, "pki", "root-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(dir, true, "127.0.0.1:0", "127.0.0.1:0", false, &out); code != 0 {
		t.Fatalf("second run exit %d:\n%s", code, out.String())
	}
	root2, _ := os.ReadFile(filepath.Join(dir, "pki", "root-ca.pem"))
	if !bytes.Equal(root1, root2) {
		t.Fatal("second start replaced the federation CA instead of reusing it")
	}
}

// TestOnceFailsOnBrokenState: a state directory whose CA key was replaced is
// reported, not silently recreated.
func TestOnceFailsOnBrokenState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var out bytes.Buffer
	if code := run(dir, true, "127.0.0.1:0", "127.0.0.1:0", false, &out); code != 0 {
		t.Fatalf("first run exit %d:\n%s", code, out.String())
	}
	os.WriteFile(filepath.Join(dir, "pki", "ca.key"), []byte("garbage"), 0o600)
	if code := run(dir, true, "127.0.0.1:0", "127.0.0.1:0", false, &out); code != 1 {
		t.Fatalf("run on broken state exit %d, want 1", code)
	}
}
