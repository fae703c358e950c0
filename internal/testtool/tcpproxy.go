package testtool

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TCPProxy is a TCP load balancer for tests of a server's nodes: each
// connection goes to the next backend that accepts one (round robin: a
// backend refusing the connection is skipped), or to the pinned one.
type TCPProxy struct {
	ln net.Listener

	mu       sync.Mutex
	backends []string
	next     int
	pinned   string
	open     map[net.Conn]struct{}
	accepted map[string]int // connections per backend
}

// StartTCPProxy listens on addr until the test ends.
func StartTCPProxy(t testing.TB, addr string) *TCPProxy {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &TCPProxy{ln: ln, open: map[net.Conn]struct{}{}, accepted: map[string]int{}}
	t.Cleanup(func() { ln.Close(); p.CloseAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

// SetBackends replaces the backends and closes the open connections.
func (p *TCPProxy) SetBackends(backends ...string) {
	p.mu.Lock()
	p.backends, p.next = backends, 0
	p.mu.Unlock()
	p.CloseAll()
}

// Add adds a backend.
func (p *TCPProxy) Add(backend string) {
	p.mu.Lock()
	p.backends = append(p.backends, backend)
	p.mu.Unlock()
}

// Pin sends new connections to backend only ("" for round robin) and
// closes the open ones, so that clients connect again; it waits a moment
// for the clients to see their idle connections closed (a request written
// on one is not sent again: it may have reached the server).
func (p *TCPProxy) Pin(backend string) {
	p.mu.Lock()
	p.pinned = backend
	p.mu.Unlock()
	p.CloseAll()
	time.Sleep(200 * time.Millisecond)
}

// Connections counts the connections passed to backend.
func (p *TCPProxy) Connections(backend string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted[backend]
}

// CloseAll closes every open connection.
func (p *TCPProxy) CloseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.open {
		c.Close()
	}
}

func (p *TCPProxy) candidates() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pinned != "" {
		return []string{p.pinned}
	}
	out := make([]string, 0, len(p.backends))
	for i := range p.backends {
		out = append(out, p.backends[(p.next+i)%len(p.backends)])
	}
	p.next++
	return out
}

func (p *TCPProxy) serve(c net.Conn) {
	defer c.Close()
	var up net.Conn
	var backend string
	for _, b := range p.candidates() { // a backend that refuses the connection is skipped
		var err error
		if up, err = net.DialTimeout("tcp", b, 2*time.Second); err == nil {
			backend = b
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.open[c], p.open[up] = struct{}{}, struct{}{}
	p.accepted[backend]++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.open, c)
		delete(p.open, up)
		p.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.Close(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.Close(); done <- struct{}{} }()
	<-done
	<-done
}
