package providers

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Preconnecting. An apply refreshing many connections of one provider at
// once (-parallelism) sends its first wave of requests together, and each
// of them would open a connection of its own only then, on a machine busy
// preparing the refreshes. Preconnect starts opening those TCP connections
// beforehand, while the refreshes are being prepared (their intents, their
// custody files), and the shared transport's dialer hands them out: a
// request takes a connection already open, or waits for one being opened
// for it (never opening a second one beside it), and dials itself only
// when none was started. Only TCP is opened ahead: TLS is negotiated by
// the transport on the connection it is handed, so its configuration
// applies unchanged. net/http has no way to add connections to its pool,
// hence this dialer.

// preconnectMaxAge is how long an opened connection waits to be used: a
// server may close a connection that carries no request (which take
// checks), and one nobody needs (an HTTP/2 provider serves every request
// over one) is closed after it. A variable for tests.
var preconnectMaxAge = 10 * time.Second

// netDialer is http.DefaultTransport's dialer; dialTCP dials with it (a
// variable for tests).
var (
	netDialer = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	dialTCP   = netDialer.DialContext
)

// preconnected holds the connections opened ahead, by dial address.
var preconnected = &connPool{addrs: map[string]*addrPool{}, live: map[string]int{}}

type connPool struct {
	mu    sync.Mutex
	addrs map[string]*addrPool
	timer *time.Timer // closes what is left unused after preconnectMaxAge
	// live counts, by address, the connections this dialer handed to the
	// transport that are not closed yet (in use, or idle in its pool):
	// Preconnect opens only what they do not cover, so that a process
	// refreshing round after round (refresh -watch) reuses them.
	live map[string]int
}

// addrPool is what Preconnect opened, or is opening, to one address.
type addrPool struct {
	idle []pooledConn
	// pending counts the dials in progress; waiters are requests each
	// waiting for one of them (never more waiters than pending dials),
	// first come first served. A failed dial hands its waiter nil.
	pending int
	waiters []chan net.Conn
}

type pooledConn struct {
	net.Conn
	opened time.Time
}

// dialContext is the shared transport's dialer: a connection opened ahead
// to addr, or one being opened, when there is one; a new one otherwise.
func dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" {
		return dialTCP(ctx, network, addr)
	}
	p := preconnected
	c, err := p.take(ctx, addr)
	if c == nil && err == nil {
		c, err = dialTCP(ctx, network, addr)
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.live[addr]++
	p.mu.Unlock()
	return &liveConn{Conn: c, release: sync.OnceFunc(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.live[addr]--; p.live[addr] <= 0 {
			delete(p.live, addr)
		}
	})}, nil
}

// liveConn is a connection handed to the transport, counted in
// connPool.live until it is closed.
type liveConn struct {
	net.Conn
	release func()
}

func (c *liveConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// take returns a connection opened ahead to addr, waiting for a dial in
// progress when none is open yet; nil when there is none to wait for, or
// the dial it waited for failed. A connection the server has closed
// meanwhile (or wrote to unasked) is closed and skipped.
func (p *connPool) take(ctx context.Context, addr string) (net.Conn, error) {
	for {
		p.mu.Lock()
		ap := p.addrs[addr]
		if ap == nil {
			p.mu.Unlock()
			return nil, nil
		}
		if n := len(ap.idle); n > 0 {
			c := ap.idle[n-1]
			ap.idle = ap.idle[:n-1]
			p.tidy(addr, ap)
			p.mu.Unlock()
			if time.Since(c.opened) < preconnectMaxAge && !closedByPeer(c.Conn) {
				return c.Conn, nil
			}
			_ = c.Close()
			continue
		}
		if ap.pending <= len(ap.waiters) {
			p.mu.Unlock()
			return nil, nil
		}
		ch := make(chan net.Conn, 1)
		ap.waiters = append(ap.waiters, ch)
		p.mu.Unlock()
		select {
		case c := <-ch:
			return c, nil // nil: the dial failed, the caller dials
		case <-ctx.Done():
			p.mu.Lock()
			if i := slices.Index(ap.waiters, ch); i >= 0 {
				ap.waiters = slices.Delete(ap.waiters, i, i+1)
				p.mu.Unlock()
			} else {
				// Handed a connection meanwhile: it goes back.
				p.mu.Unlock()
				if c := <-ch; c != nil {
					p.deliver(addr, c, false)
				}
			}
			return nil, ctx.Err()
		}
	}
}

// deliver hands c (nil: a failed dial) to the first request waiting for a
// connection to addr, or keeps it for the next one. dialed says c ends a
// dial in progress.
func (p *connPool) deliver(addr string, c net.Conn, dialed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ap := p.addrs[addr]
	if ap == nil {
		ap = &addrPool{}
		p.addrs[addr] = ap
	}
	if dialed {
		ap.pending--
	}
	switch {
	case len(ap.waiters) > 0:
		ch := ap.waiters[0]
		ap.waiters = ap.waiters[1:]
		ch <- c
	case c != nil:
		ap.idle = append(ap.idle, pooledConn{Conn: c, opened: time.Now()})
		if p.timer == nil {
			p.timer = time.AfterFunc(preconnectMaxAge, p.expire)
		}
	}
	p.tidy(addr, ap)
}

// tidy forgets addr when nothing is left for it, and stops the timer when
// nothing is left at all. p.mu is held.
func (p *connPool) tidy(addr string, ap *addrPool) {
	if len(ap.idle) == 0 && ap.pending == 0 && len(ap.waiters) == 0 {
		delete(p.addrs, addr)
	}
	if len(p.addrs) == 0 && p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// expire closes the connections that waited preconnectMaxAge unused.
// closeIdle closes every connection opened ahead that nobody took.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, ap := range p.addrs {
		for _, c := range ap.idle {
			_ = c.Close()
		}
		ap.idle = nil
		p.tidy(addr, ap)
	}
}

// CloseIdleConnections closes the connections the shared transport keeps
// idle and those Preconnect opened that nobody took, for a process that
// sends no more requests: closing them while its last requests are
// answered spares its exit their teardown. A later request opens a new
// one.
func CloseIdleConnections() {
	if t, ok := sharedTransport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	preconnected.closeIdle()
}

func (p *connPool) expire() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = nil
	var oldest time.Time
	for addr, ap := range p.addrs {
		kept := ap.idle[:0]
		for _, c := range ap.idle {
			if time.Since(c.opened) >= preconnectMaxAge {
				_ = c.Close()
				continue
			}
			kept = append(kept, c)
			if oldest.IsZero() || c.opened.Before(oldest) {
				oldest = c.opened
			}
		}
		ap.idle = kept
		p.tidy(addr, ap)
	}
	if !oldest.IsZero() && p.timer == nil {
		p.timer = time.AfterFunc(preconnectMaxAge-time.Since(oldest), p.expire)
	}
}

// Preconnect starts opening, in the background, want[client] connections
// to the host each client sends its refreshes to, for the refreshes about
// to be sent, at most limit per host (the requests sent at once) counting
// the connections the transport already holds there; clients with the
// same host share them. All are dialed at once, as the requests
// would be. A client with a transport of its own, a refresh URL not known
// yet (discovery) or a proxy in the way is left out. Dialing stops when
// ctx ends; a failed dial is left to the request waiting for it, which
// dials again.
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
	p := preconnected
	for addr, n := range perAddr {
		p.mu.Lock()
		// The transport's own connections to addr come first, then those
		// opened, or being opened, ahead already.
		ap := p.addrs[addr]
		if ap == nil {
			ap = &addrPool{}
			p.addrs[addr] = ap
		}
		if n -= p.live[addr] + len(ap.idle) + ap.pending; n <= 0 {
			p.tidy(addr, ap)
			p.mu.Unlock()
			continue
		}
		ap.pending += n
		p.mu.Unlock()
		for range n {
			go func() {
				c, err := dialTCP(ctx, "tcp", addr)
				if err != nil {
					c = nil
				}
				p.deliver(addr, c, true)
			}()
		}
	}
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
