package providers

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Preconnecting. An apply refreshing many connections of one provider at
// once (-parallelism) sends its first wave of requests together, and each
// of them would wait for a connection of its own to be opened, in turn,
// on a machine busy preparing the refreshes. Preconnect opens those TCP
// connections beforehand, while the refreshes are being prepared (their
// intents, their custody files), and the shared transport's dialer hands
// them out. Only TCP is opened ahead: TLS is negotiated by the transport
// on the connection it is handed, so its configuration applies unchanged.
// net/http has no way to add connections to its pool, hence this dialer.

// preconnectMaxAge is how long an opened connection waits to be used: a
// server may close a connection that carries no request (which the check
// in take sees), and one that is not needed is closed after it. A
// variable for tests.
var preconnectMaxAge = 10 * time.Second

// preconnectDialers bounds the connections Preconnect opens at once.
const preconnectDialers = 4

// netDialer is http.DefaultTransport's dialer.
var netDialer = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}

// preconnected holds the connections opened ahead, by dial address.
var preconnected = &connPool{conns: map[string][]pooledConn{}}

type connPool struct {
	mu    sync.Mutex
	conns map[string][]pooledConn
	timer *time.Timer // closes what is left after preconnectMaxAge
}

type pooledConn struct {
	net.Conn
	opened time.Time
}

// dialContext is the shared transport's dialer: a connection opened ahead
// to addr when there is one that is still open, a new one otherwise.
func dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network == "tcp" {
		if c := preconnected.take(addr); c != nil {
			return c, nil
		}
	}
	return netDialer.DialContext(ctx, network, addr)
}

// take returns a connection opened ahead to addr, nil when none is left.
// A connection the server has closed meanwhile (or wrote to unasked) is
// closed and skipped.
func (p *connPool) take(addr string) net.Conn {
	for {
		p.mu.Lock()
		list := p.conns[addr]
		if len(list) == 0 {
			p.mu.Unlock()
			return nil
		}
		c := list[len(list)-1]
		if p.conns[addr] = list[:len(list)-1]; len(list) == 1 {
			delete(p.conns, addr)
		}
		if len(p.conns) == 0 && p.timer != nil {
			p.timer.Stop()
			p.timer = nil
		}
		p.mu.Unlock()
		if time.Since(c.opened) < preconnectMaxAge && !closedByPeer(c.Conn) {
			return c.Conn
		}
		_ = c.Close()
	}
}

// put adds c, opened to addr, to the pool.
func (p *connPool) put(addr string, c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[addr] = append(p.conns[addr], pooledConn{Conn: c, opened: time.Now()})
	if p.timer == nil {
		p.timer = time.AfterFunc(preconnectMaxAge, p.expire)
	}
}

// expire closes the connections that waited preconnectMaxAge unused.
func (p *connPool) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	var oldest time.Time
	for addr, list := range p.conns {
		kept := list[:0]
		for _, c := range list {
			if time.Since(c.opened) >= preconnectMaxAge {
				_ = c.Close()
				continue
			}
			kept = append(kept, c)
			if oldest.IsZero() || c.opened.Before(oldest) {
				oldest = c.opened
			}
		}
		if len(kept) == 0 {
			delete(p.conns, addr)
		} else {
			p.conns[addr] = kept
		}
	}
	if !oldest.IsZero() {
		p.timer = time.AfterFunc(preconnectMaxAge-time.Since(oldest), p.expire)
	}
}

// Preconnect opens, in the background, want[client] connections to the
// host each client sends its refreshes to, for the refreshes about to be
// sent, at most limit per host (the requests sent at once); clients with
// the same host share them. A client with a transport of its own, a
// refresh URL not known yet (discovery) or a proxy in the way is left
// out. Dialing stops when ctx ends; a failure is left to the request,
// which dials again.
func Preconnect(ctx context.Context, want map[*Client]int, limit int) {
	perAddr := map[string]int{}
	for c, n := range want {
		if c.HTTP != nil && c.HTTP.Transport != nil || n <= 0 {
			continue
		}
		if addr := refreshAddr(c, sharedTransport); addr != "" {
			perAddr[addr] = min(perAddr[addr]+n, limit)
		}
	}
	if len(perAddr) == 0 {
		return
	}
	addrs := make(chan string)
	for range preconnectDialers {
		go func() {
			for addr := range addrs {
				if c, err := netDialer.DialContext(ctx, "tcp", addr); err == nil {
					preconnected.put(addr, c)
				}
			}
		}()
	}
	go func() {
		defer close(addrs)
		for addr, n := range perAddr {
			for range n {
				select {
				case addrs <- addr:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
}

// refreshAddr is the dial address of c's refresh endpoint as rt dials it
// (host:port), "" when it is not known or rt sends it through a proxy.
func refreshAddr(c *Client, rt http.RoundTripper) string {
	raw := firstNonEmpty(c.Profile.RefreshURL, c.Profile.TokenURL)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	if t, ok := rt.(*http.Transport); ok && t.Proxy != nil {
		if pu, err := t.Proxy(&http.Request{URL: u}); err != nil || pu != nil {
			return ""
		}
	}
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "https":
		port = "443"
	case u.Scheme == "http":
		port = "80"
	default:
		return ""
	}
	return net.JoinHostPort(u.Hostname(), port)
}
