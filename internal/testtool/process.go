package testtool

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Build compiles the main package in dir (e.g. ".") into the test's temp
// directory and returns the binary's path.
func Build(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir)+".bin")
	if b, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	return bin
}

// FreeAddr returns a loopback address that was free a moment ago, for a
// child process that must be told its listen address.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Process is a server started as its own process.
type Process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	log    strings.Builder
	done   chan error
	exited atomic.Bool
}

// Start runs bin with args and waits until a line of its standard error
// contains ready. The process is killed at the end of the test if still
// running.
func Start(t testing.TB, ready, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(bin, args...), done: make(chan error, 1)}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if !seen && strings.Contains(sc.Text(), ready) {
				seen = true
				close(up)
			}
		}
		err := p.cmd.Wait()
		p.exited.Store(true)
		p.done <- err
	}()
	select {
	case <-up:
	case err := <-p.done:
		t.Fatalf("%s exited before it was ready (%v):\n%s", filepath.Base(bin), err, p.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not become ready:\n%s", filepath.Base(bin), p.Log())
	}
	return p
}

// Running reports whether the process has not exited.
func (p *Process) Running() bool { return !p.exited.Load() }

// Log is what the process wrote to standard error so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Stop interrupts the process (as Ctrl-C would) and requires a clean exit.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("process exited with %v:\n%s", err, p.Log())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("process did not stop on interrupt:\n%s", p.Log())
	}
}

// Kill ends the process at once (SIGKILL), as a crash or power loss would
// for the process, and waits for it.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("killed process did not exit")
	}
}
