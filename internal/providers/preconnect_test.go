package providers

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// preconnectServer is an HTTP server counting its connections, and a
// client whose refresh endpoint it is.
func preconnectServer(t *testing.T, h http.Handler) (*countingListener, *Client, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	srv.Start()
	t.Cleanup(srv.Close)
	p := Generic("pre")
	p.TokenURL = srv.URL + "/token"
	return cl, &Client{Profile: p, ClientID: "c"}, srv.Listener.Addr().String()
}

// pooled is how many connections to addr wait in the pool, open.
func pooled(addr string) int {
	preconnected.mu.Lock()
	defer preconnected.mu.Unlock()
	if ap := preconnected.addrs[addr]; ap != nil {
		return len(ap.idle)
	}
	return 0
}

// waitFor polls cond until it holds, failing the test after a while (the
// connections are opened in the background).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Preconnect opens at most limit connections to a host, and the requests
// that follow go over them instead of opening their own.
func TestPreconnectOpensAheadAndRequestsUseThem(t *testing.T) {
	const n = 3
	var arrived sync.WaitGroup
	arrived.Add(n)
	cl, c, addr := preconnectServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every request waits for the others: n connections at once.
		arrived.Done()
		arrived.Wait()
		_, _ = io.WriteString(w, "ok")
	}))
	Preconnect(context.Background(), map[*Client]int{c: 10}, n)
	waitFor(t, "3 connections opened ahead", func() bool { return pooled(addr) == n && cl.accepted.Load() == n })
	hc := &http.Client{Transport: sharedTransport, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Post(c.Profile.TokenURL, "text/plain", nil)
			if err != nil {
				errs <- err
				return
			}
			_ = resp.Body.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := cl.accepted.Load(); got != n {
		t.Errorf("after %d requests at once the server accepted %d connections, want the %d opened ahead", n, got, n)
	}
	if got := pooled(addr); got != 0 {
		t.Errorf("%d connections left in the pool, want 0", got)
	}
}

// A connection the server closed while it waited is not handed out: the
// request dials a new one.
func TestPreconnectSkipsConnectionsTheServerClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	closed := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.Close()
		}
		close(closed)
	}()
	addr := ln.Addr().String()
	p := Generic("pre")
	p.TokenURL = "http://" + addr + "/token"
	Preconnect(context.Background(), map[*Client]int{{Profile: p}: 1}, 1)
	waitFor(t, "the connection opened ahead", func() bool { return pooled(addr) == 1 })
	<-closed
	// The close reaches this side of the loopback connection at once;
	// take must see it.
	waitFor(t, "the closed connection skipped", func() bool {
		if c, _ := preconnected.take(context.Background(), addr); c != nil {
			_ = c.Close()
			t.Fatal("take handed out a connection the server had closed")
		}
		return pooled(addr) == 0
	})
}

// Connections nobody asks for are closed after preconnectMaxAge.
func TestPreconnectClosesUnusedConnections(t *testing.T) {
	old := preconnectMaxAge
	preconnectMaxAge = 50 * time.Millisecond
	t.Cleanup(func() { preconnectMaxAge = old })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	eof := make(chan error, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_, err := c.Read(make([]byte, 1))
				eof <- err
				_ = c.Close()
			}()
		}
	}()
	addr := ln.Addr().String()
	p := Generic("pre")
	p.TokenURL = "http://" + addr + "/token"
	Preconnect(context.Background(), map[*Client]int{{Profile: p}: 2}, 10)
	for range 2 {
		select {
		case err := <-eof:
			if err != io.EOF {
				t.Errorf("the server read %v from an unused connection, want EOF (closed)", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the unused connections were never closed")
		}
	}
	if got := pooled(addr); got != 0 {
		t.Errorf("%d expired connections left in the pool", got)
	}
}

func TestRefreshAddr(t *testing.T) {
	direct := &http.Transport{}
	proxied := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: "proxy.example:3128"})}
	client := func(token, refresh string) *Client {
		p := Generic("x")
		p.TokenURL, p.RefreshURL = token, refresh
		return &Client{Profile: p}
	}
	for _, tc := range []struct {
		name string
		c    *Client
		rt   http.RoundTripper
		want string
	}{
		{"https, default port", client("https://api.example/token", ""), direct, "api.example:443"},
		{"http, default port", client("http://api.example/token", ""), direct, "api.example:80"},
		{"explicit port", client("http://127.0.0.1:8080/token", ""), direct, "127.0.0.1:8080"},
		{"IPv6", client("https://[::1]/token", ""), direct, "[::1]:443"},
		{"the refresh URL first", client("https://a.example/token", "https://b.example/refresh"), direct, "b.example:443"},
		{"no URL yet (discovery)", client("", ""), direct, ""},
		{"through a proxy", client("https://api.example/token", ""), proxied, ""},
	} {
		if got := refreshAddr(tc.c, tc.rt); got != tc.want {
			t.Errorf("%s: refreshAddr = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A client with a transport of its own is left out: its requests never
// reach the shared dialer.
func TestPreconnectLeavesOwnTransportsOut(t *testing.T) {
	cl, c, addr := preconnectServer(t, http.NotFoundHandler())
	c.HTTP = &http.Client{Transport: &http.Transport{}}
	Preconnect(context.Background(), map[*Client]int{c: 3}, 3)
	// Nothing is started for it (Preconnect returns having started
	// nothing): a client of the shared transport to the same server,
	// preconnected after it, finds only its own connection.
	shared := &Client{Profile: c.Profile}
	Preconnect(context.Background(), map[*Client]int{shared: 1}, 1)
	waitFor(t, "the shared client's connection", func() bool { return pooled(addr) == 1 && cl.accepted.Load() == 1 })
	if c, _ := preconnected.take(context.Background(), addr); c != nil {
		_ = c.Close()
	}
}

// waitForWaiter waits until a request waits for a dial to addr in progress.
func waitForWaiter(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, "the request waiting for the dial in progress", func() bool {
		preconnected.mu.Lock()
		defer preconnected.mu.Unlock()
		ap := preconnected.addrs[addr]
		return ap != nil && len(ap.waiters) == 1
	})
}

// A request that finds a connection still being opened for it waits for
// that one instead of opening a second: a first wave to a distant
// provider starts before the connections opened ahead are up, and must
// not double them. A dial that fails leaves the request to dial itself.
func TestPreconnectRequestJoinsTheDialInProgress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	addr := ln.Addr().String()
	release := make(chan struct{})
	var dials atomic.Int64
	fail := false
	old := dialTCP
	dialTCP = func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		<-release
		if fail {
			return nil, errors.New("refused")
		}
		return old(ctx, network, a)
	}
	t.Cleanup(func() { dialTCP = old })
	p := Generic("pre")
	p.TokenURL = "http://" + addr + "/token"
	c := &Client{Profile: p}

	Preconnect(context.Background(), map[*Client]int{c: 1}, 1)
	got := make(chan net.Conn, 1)
	go func() {
		conn, _ := dialContext(context.Background(), "tcp", addr)
		got <- conn
	}()
	waitForWaiter(t, addr)
	close(release)
	conn := <-got
	if conn == nil {
		t.Fatal("the request got no connection")
	}
	_ = conn.Close()
	if n := dials.Load(); n != 1 {
		t.Errorf("%d dials for one request and one connection opened ahead, want 1", n)
	}

	// A failed dial: the waiting request dials itself.
	release = make(chan struct{})
	fail = true
	dials.Store(0)
	Preconnect(context.Background(), map[*Client]int{c: 1}, 1)
	go func() {
		conn, err := dialContext(context.Background(), "tcp", addr)
		if err == nil {
			_ = conn.Close()
		}
		got <- conn
	}()
	waitForWaiter(t, addr)
	close(release)
	<-got
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials after the one opened ahead failed, want 2 (the request's own)", n)
	}

	// A request whose context ends while it waits gives up, and the
	// connection, when it comes, waits for the next request.
	release = make(chan struct{})
	fail = false
	Preconnect(context.Background(), map[*Client]int{c: 1}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := dialContext(ctx, "tcp", addr)
		errc <- err
	}()
	waitForWaiter(t, addr)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("a request cancelled while waiting: err = %v, want context.Canceled", err)
	}
	close(release)
	waitFor(t, "the connection kept for the next request", func() bool { return pooled(addr) == 1 })
	if conn, _ := preconnected.take(context.Background(), addr); conn == nil {
		t.Error("the connection opened ahead was not kept")
	} else {
		_ = conn.Close()
	}
}

// Connections the transport already holds (in use or idle) count against
// the ones Preconnect opens: a process that refreshes round after round
// (refresh -watch) reuses its connections instead of opening more each
// round.
func TestPreconnectCountsTheTransportsConnections(t *testing.T) {
	const n = 2
	var arrived sync.WaitGroup
	arrived.Add(n)
	cl, c, addr := preconnectServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("together") != "" {
			arrived.Done()
			arrived.Wait()
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tr := sharedTransport.(*http.Transport)
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	post := func(together bool) {
		u := c.Profile.TokenURL
		if together {
			u += "?together=1"
		}
		resp, err := hc.Post(u, "text/plain", nil)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	// Round one: n connections opened ahead, used at once, then idle in
	// the transport.
	Preconnect(context.Background(), map[*Client]int{c: n}, n)
	waitFor(t, "the connections opened ahead", func() bool { return pooled(addr) == n })
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); post(true) }()
	}
	wg.Wait()
	if got := cl.accepted.Load(); got != n {
		t.Fatalf("round one: %d connections, want %d", got, n)
	}
	// Round two: nothing to open (Preconnect counts what it starts before
	// it returns), the transport's idle ones serve.
	Preconnect(context.Background(), map[*Client]int{c: n}, n)
	preconnected.mu.Lock()
	ap := preconnected.addrs[addr]
	preconnected.mu.Unlock()
	if ap != nil {
		t.Fatalf("round two started %d dials beside the transport's %d connections", ap.pending, n)
	}
	post(false)
	if got, p := cl.accepted.Load(), pooled(addr); got != n || p != 0 {
		t.Errorf("round two: %d connections accepted (want still %d), %d opened ahead (want 0)", got, n, p)
	}
	// Once the transport has closed them, Preconnect opens again.
	tr.CloseIdleConnections()
	waitFor(t, "the transport's connections closed", func() bool {
		preconnected.mu.Lock()
		defer preconnected.mu.Unlock()
		return preconnected.live[addr] == 0
	})
	Preconnect(context.Background(), map[*Client]int{c: 1}, n)
	waitFor(t, "a connection opened ahead again", func() bool { return pooled(addr) == 1 })
	if conn, _ := preconnected.take(context.Background(), addr); conn != nil {
		_ = conn.Close()
	}
}

// A second Preconnect while the first one's connections are still being
// opened (or wait unused) opens none beside them.
func TestPreconnectTwiceOpensOnce(t *testing.T) {
	release := make(chan struct{})
	var dials atomic.Int64
	old := dialTCP
	dialTCP = func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		<-release
		return nil, errors.New("refused")
	}
	t.Cleanup(func() { dialTCP = old })
	p := Generic("pre")
	p.TokenURL = "http://127.0.0.1:9/token"
	c := &Client{Profile: p}
	Preconnect(context.Background(), map[*Client]int{c: 3}, 3)
	Preconnect(context.Background(), map[*Client]int{c: 3}, 3)
	preconnected.mu.Lock()
	pending := preconnected.addrs["127.0.0.1:9"].pending
	preconnected.mu.Unlock()
	close(release)
	if pending != 3 {
		t.Errorf("%d dials pending after two calls for 3, want 3", pending)
	}
	waitFor(t, "the failed dials delivered", func() bool {
		preconnected.mu.Lock()
		defer preconnected.mu.Unlock()
		return preconnected.addrs["127.0.0.1:9"] == nil
	})
	if n := dials.Load(); n != 3 {
		t.Errorf("%d dials, want 3", n)
	}
}

// CloseIdleConnections closes both the transport's idle connections and
// the ones opened ahead that nobody took; the next request opens anew.
func TestCloseIdleConnections(t *testing.T) {
	cl, c, addr := preconnectServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	hc := &http.Client{Transport: sharedTransport, Timeout: 5 * time.Second}
	post := func() {
		resp, err := hc.Post(c.Profile.TokenURL, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	Preconnect(context.Background(), map[*Client]int{c: 3}, 3)
	waitFor(t, "3 connections opened ahead", func() bool { return pooled(addr) == 3 })
	post() // one of them, then idle in the transport
	CloseIdleConnections()
	if p := pooled(addr); p != 0 {
		t.Errorf("%d connections opened ahead are still open", p)
	}
	waitFor(t, "the transport's connection closed", func() bool {
		preconnected.mu.Lock()
		defer preconnected.mu.Unlock()
		return preconnected.live[addr] == 0
	})
	post()
	if got := cl.accepted.Load(); got != 4 {
		t.Errorf("the server accepted %d connections, want the 3 opened ahead and one new", got)
	}
	CloseIdleConnections()
}
