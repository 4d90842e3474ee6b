package grant

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
)

// shutdownTimeout bounds the graceful shutdown of the loopback listener;
// after it the remaining connections are closed.
const shutdownTimeout = 2 * time.Second

// loopbackAddr is where a loopback redirect_uri is served.
type loopbackAddr struct {
	listen string // host:port to bind, never a wildcard address
	path   string // the only path answered
}

// parseRedirect returns where to listen for a loopback redirect_uri
// (http://127.0.0.1, http://[::1] or http://localhost, RFC 8252 §7.3), or
// nil for any other redirect_uri, which needs the paste flow. localhost is
// served on 127.0.0.1; a missing port is 80.
func parseRedirect(raw string) (*loopbackAddr, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing redirect_uri %q: %w", raw, err)
	}
	if u.Scheme != "http" {
		return nil, nil
	}
	host := u.Hostname()
	switch {
	case host == "127.0.0.1", host == "::1":
	case strings.EqualFold(host, "localhost"):
		host = "127.0.0.1"
	default:
		return nil, nil
	}
	port := u.Port()
	switch port {
	case "":
		port = "80"
	case "0":
		return nil, fmt.Errorf("redirect_uri %s has port 0; a loopback redirect_uri needs the fixed port registered with the provider", raw)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	return &loopbackAddr{listen: net.JoinHostPort(host, port), path: path}, nil
}

// loopback runs the grant over a listener on the redirect_uri's address.
func (s *session) loopback(lb *loopbackAddr) (*providers.Token, error) {
	ln, err := net.Listen("tcp", lb.listen)
	if err != nil {
		return nil, s.listenError(lb, err)
	}
	h := &callbackHandler{
		path: lb.path, conn: s.req.Conn, provider: s.req.Provider,
		client: s.req.Client, ar: s.ar, ctx: s.ctx, log: s.log, scrub: s.scrub,
		results: make(chan result, 1),
	}
	var conns unusedConns
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ConnState:         conns.track,
		ErrorLog:          s.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // returns http.ErrServerClosed after Shutdown
	}()
	waitBrowser := func() {}
	defer func() {
		// In this order: no more callbacks (an answer being written is
		// finished), then end the grant's context, which ends the
		// browser goroutine.
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		srv.SetKeepAlivesEnabled(false)
		conns.closeAll()
		if err := srv.Shutdown(sctx); err != nil {
			s.log.Debug("loopback listener did not shut down in time; closing it", "error", err)
			_ = srv.Close()
		}
		<-served
		s.cancel()
		waitBrowser()
	}()
	addr := ln.Addr().String()
	s.log.Debug("listening for the callback", "addr", addr, "path", lb.path)
	if s.r.ListenHook != nil {
		s.r.ListenHook(addr)
	}

	s.printURL()
	var browserErr <-chan error
	browserErr, waitBrowser = s.startBrowser()
	fmt.Fprintf(s.out, "Waiting for the callback on http://%s%s ...\n", addr, lb.path)
	for {
		select {
		case res := <-h.results:
			return res.tok, res.err
		case err := <-browserErr:
			browserErr = nil
			if err != nil {
				s.browserFailed(err)
			}
		case <-s.ctx.Done():
			// A token obtained just as the wait ended still counts.
			select {
			case res := <-h.results:
				if res.err == nil {
					return res.tok, nil
				}
			default:
			}
			return nil, s.doneErr()
		}
	}
}

// listenError explains why the callback address could not be bound.
func (s *session) listenError(lb *loopbackAddr, err error) error {
	what := fmt.Sprintf("cannot listen on %s for the callback of %s (redirect_uri %s)", lb.listen, s.req.Conn, s.req.Client.RedirectURI)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint := "another process is using that port: stop it, or register a redirect_uri on a free port with the provider and set it as the app's redirect_uri"
		if free := freeRedirect(s.req.Client.RedirectURI, lb); free != "" {
			hint += fmt.Sprintf(" (for example %s, free right now)", free)
		}
		return fmt.Errorf("%s: %w; %s", what, err, hint)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%s: %w; ports below 1024 need privileges: register a redirect_uri with a port above 1024", what, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// freeRedirect returns redirect with its port replaced by one that is free
// on the same loopback host at this moment, or "" if none could be found.
func freeRedirect(redirect string, lb *loopbackAddr) string {
	host, _, err := net.SplitHostPort(lb.listen)
	if err != nil {
		return ""
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return ""
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	u, err := url.Parse(redirect)
	if err != nil {
		return ""
	}
	u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
	return u.String()
}

// unusedConns tracks the connections that have not carried a request yet.
// Shutdown waits for those as if they were busy for their first seconds,
// and browsers open them speculatively (preconnect); once the grant is over
// they are closed at once.
type unusedConns struct {
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// track is the server's ConnState hook.
func (u *unusedConns) track(c net.Conn, st http.ConnState) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if st == http.StateNew {
		if u.conns == nil {
			u.conns = map[net.Conn]bool{}
		}
		u.conns[c] = true
		return
	}
	delete(u.conns, c)
}

// closeAll closes the connections still unused.
func (u *unusedConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.conns {
		_ = c.Close()
	}
	clear(u.conns)
}

// result is how a grant ended in the callback handler.
type result struct {
	tok *providers.Token
	err error
}

// callbackHandler answers the loopback listener. Only the redirect path is
// served. A callback whose state does not match is refused and the wait
// goes on (it may be forged or stale); the first callback with the right
// state ends the grant: its code is exchanged before the browser is
// answered, and every later callback is a replay.
type callbackHandler struct {
	path           string
	conn, provider string
	client         *providers.Client
	ar             *providers.AuthRequest
	// ctx is the grant's: the exchange is bound to it.
	ctx   context.Context
	log   hclog.Logger
	scrub func(text string, extra ...secret.Secret) string
	// results receives the grant's one result; it has room for it.
	results chan result

	mu   sync.Mutex // held for a whole callback: they are handled one at a time
	done bool
}

func (h *callbackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if r.URL.Path != h.path {
		writePage(w, http.StatusNotFound, page{Title: "Not found", Message: "oauthform answers only the OAuth callback here."})
		return
	}
	if r.Method != http.MethodGet {
		// Only a browser's GET may spend the one-time code, not a HEAD
		// from a link previewer.
		hdr.Set("Allow", http.MethodGet)
		writePage(w, http.StatusMethodNotAllowed, page{Title: "Method not allowed", Message: "The callback is answered to GET only."})
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		h.log.Debug("refused a callback after the grant completed")
		writePage(w, http.StatusBadRequest, page{Title: "Already completed",
			Message: "This authorization has already completed. You can close this tab."})
		return
	}
	if h.ctx.Err() != nil {
		writePage(w, http.StatusBadRequest, page{Title: "No longer waiting",
			Message: "oauthform is no longer waiting for this authorization. Run apply again."})
		return
	}
	code, err := h.client.ParseCallback(r.URL.Query(), h.ar)
	if errors.Is(err, providers.ErrStateMismatch) {
		h.log.Warn("ignored a callback whose state does not match the authorization in progress", "remote", r.RemoteAddr)
		writePage(w, http.StatusBadRequest, page{Title: "Unexpected callback",
			Message: "This callback does not belong to the authorization in progress. oauthform is still waiting; finish the authorization from the URL it printed."})
		return
	}
	h.done = true
	if err != nil {
		h.log.Debug("the callback carries an error", "error", h.scrub(err.Error(), code))
		h.finish(w, http.StatusBadRequest, page{Title: "Authorization failed",
			Message: fmt.Sprintf("%s (%s) was not connected: the authorization failed.", h.conn, h.provider),
			Detail:  h.scrub(err.Error(), code)}, result{err: err})
		return
	}
	tok, err := h.client.Exchange(h.ctx, h.ar, code)
	if err != nil {
		h.log.Debug("exchange failed", "error", h.scrub(err.Error(), code))
		h.finish(w, http.StatusBadGateway, page{Title: "Connection failed",
			Message: fmt.Sprintf("%s (%s) was not connected: exchanging the authorization code for tokens failed.", h.conn, h.provider),
			Detail:  h.scrub(err.Error(), code)}, result{err: err})
		return
	}
	h.log.Debug("exchanged the authorization code")
	h.finish(w, http.StatusOK, page{OK: true, Title: "Connected",
		Message: fmt.Sprintf("Connected %s (%s). You can close this tab.", h.conn, h.provider)}, result{tok: tok})
}

// finish answers the browser, then hands the grant's result to Run.
func (h *callbackHandler) finish(w http.ResponseWriter, status int, p page, res result) {
	writePage(w, status, p)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	h.results <- res // room for the one result: done is set before
}
