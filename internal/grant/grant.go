package grant

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
)

// DefaultTimeout is how long a grant waits for its callback when
// [Runner.Timeout] is zero.
const DefaultTimeout = 5 * time.Minute

// Errors returned (wrapped) by [Runner.Run].
var (
	// ErrTimeout: no callback arrived (or nothing was pasted) within the
	// grant's timeout.
	ErrTimeout = errors.New("grant timed out")
	// ErrNoTerminal: the grant needs a person to paste the URL the browser
	// landed on, and there is no terminal to read it from.
	ErrNoTerminal = errors.New("no terminal")
	// ErrCanceled: the caller's context ended (Ctrl-C) while the grant was
	// waiting. The error also wraps the context's error.
	ErrCanceled = errors.New("grant canceled")
)

// Runner performs interactive authorization-code grants for apply. The
// zero value is usable: it prints nothing, opens no browser and, for a
// non-loopback redirect_uri, fails with [ErrNoTerminal].
//
// A Runner runs one grant at a time; Run must not be called concurrently.
type Runner struct {
	// Out is the person's terminal (stdout); nil discards. Run writes to it
	// only from its own goroutine.
	Out io.Writer
	// In is read for the paste flow; nil means there is no terminal. It
	// must not change after the first Run: a line read from it belongs to
	// the Runner, and a read left blocked by an ended grant is reused by
	// the next one.
	In io.Reader
	// Browser opens the authorization URL; nil means do not open one
	// (-no-browser): the URL is printed either way.
	Browser Browser
	// Timeout bounds each grant's wait; 0 means [DefaultTimeout].
	Timeout time.Duration
	// Logger receives debug lines, never a secret; nil means
	// hclog.NewNullLogger().
	Logger hclog.Logger
	// ListenHook, when set, is called with the bound address
	// ("127.0.0.1:8765") once the loopback listener is up, before the
	// browser is opened. Tests use it.
	ListenHook func(addr string)

	mu    sync.Mutex
	stdin *lineReader
}

// Request is one grant to perform.
type Request struct {
	// Conn and Provider name the connection and its provider, for the
	// person.
	Conn, Provider string
	// Grant is providers.GrantDeviceCode for a device authorization;
	// anything else is the authorization code.
	Grant providers.Grant
	// Client is the provider client; its RedirectURI decides between the
	// loopback listener and the paste flow.
	Client *providers.Client
	Scopes []string
	Params map[string]string
	// Index and Total number the grant in its apply ("Grant 2 of 3").
	// Zero values print "Grant 1 of 1".
	Index, Total int
}

// Run performs one grant. A device grant (Request.Grant) prints the
// verification address and the user code and polls the provider (see
// device.go). Otherwise it prints a header and the authorization URL
// (alone on its own line, so that a script or a person on another machine
// can use it), opens the browser, waits for the callback (or the pasted
// URL), checks its state and exchanges the code.
//
// A timeout returns [ErrTimeout] and a canceled ctx [ErrCanceled]; a
// provider's refusal (access_denied…) or a failed exchange returns the
// *providers.Error. In every case the loopback listener is closed and the
// goroutines Run started have ended when Run returns, with two exceptions
// outside its control, both documented where they arise: a read of In that
// is still blocked (see [Runner.In]) and the reaper of a browser process
// that is still running (see [CommandBrowser]).
func (r *Runner) Run(ctx context.Context, req Request) (*providers.Token, error) {
	if req.Client == nil {
		return nil, fmt.Errorf("grant for %s: no provider client", req.Conn)
	}
	index := max(req.Index, 1)
	total := max(req.Total, index)
	out := r.out()
	fmt.Fprintf(out, "Grant %d of %d: %s (%s)\n", index, total, req.Conn, req.Provider)
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if req.Grant == providers.GrantDeviceCode {
		return r.device(ctx, req, timeout)
	}

	lb, err := parseRedirect(req.Client.RedirectURI)
	if err != nil {
		return nil, fmt.Errorf("connection %s: %w", req.Conn, err)
	}
	if lb == nil && r.In == nil {
		return nil, fmt.Errorf("%w: the redirect_uri of %s (%s) is not a loopback address, so the URL the browser lands on must be pasted on a terminal; run apply on a terminal, or register a loopback redirect_uri such as http://127.0.0.1:8765/callback",
			ErrNoTerminal, req.Conn, req.Client.RedirectURI)
	}
	ar, err := req.Client.AuthCodeURL(req.Scopes, req.Params)
	if err != nil {
		return nil, fmt.Errorf("building the authorization URL for %s: %w", req.Conn, err)
	}
	gctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s := &session{
		r: r, req: req, ar: ar, parent: ctx, ctx: gctx, cancel: cancel, timeout: timeout, out: out,
		log:     r.logger().With("conn", req.Conn, "provider", req.Provider),
		secrets: []secret.Secret{secret.New(ar.State), ar.Verifier, req.Client.ClientSecret},
	}
	if lb != nil {
		return s.loopback(lb)
	}
	return s.paste()
}

// Grant makes a Runner an [apply.Granter].
func (r *Runner) Grant(ctx context.Context, req apply.GrantRequest) (*providers.Token, error) {
	return r.Run(ctx, Request{
		Conn: req.Conn, Provider: req.Provider, Grant: req.Grant, Client: req.Client,
		Scopes: req.Scopes, Params: req.Params, Index: req.Index, Total: req.Total,
	})
}

var _ apply.Granter = (*Runner)(nil)

func (r *Runner) out() io.Writer {
	if r.Out != nil {
		return r.Out
	}
	return io.Discard
}

func (r *Runner) logger() hclog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return hclog.NewNullLogger()
}

// session is one Run in progress.
type session struct {
	r      *Runner
	req    Request
	ar     *providers.AuthRequest
	parent context.Context // the caller's: its end is a cancellation
	ctx    context.Context // parent plus the timeout: every wait uses it
	cancel context.CancelFunc
	// timeout is the grant's wait, for the message.
	timeout time.Duration
	out     io.Writer
	log     hclog.Logger
	// secrets are scrubbed from any text shown to the person.
	secrets []secret.Secret
}

// doneErr is the error of a grant whose context ended: the caller's
// cancellation, or the grant's own timeout.
func (s *session) doneErr() error {
	if err := s.parent.Err(); err != nil {
		return fmt.Errorf("%w while waiting for the authorization of %s: %w", ErrCanceled, s.req.Conn, err)
	}
	return fmt.Errorf("%w: no callback for %s within %s; run apply again when ready", ErrTimeout, s.req.Conn, s.timeout)
}

// printURL prints the authorization URL alone on its own line.
func (s *session) printURL() {
	fmt.Fprintf(s.out, "Open this URL to authorize %s:\n%s\n", s.req.Conn, s.ar.URL)
}

// startBrowser opens the authorization URL in its own goroutine, because
// an opener may block until the callback is answered (the emulators' in-process browser). The
// goroutine is bound to the session's context; Open's error arrives on
// errc (nil when there is no browser: a nil channel never delivers), and
// wait blocks until the goroutine has ended.
func (s *session) startBrowser() (errc <-chan error, wait func()) {
	if s.r.Browser == nil {
		return nil, func() {}
	}
	c := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c <- s.r.Browser.Open(s.ctx, s.ar.URL)
	}()
	return c, func() { <-done }
}

// browserFailed tells the person that the browser could not be opened. It
// is not fatal: the URL was printed.
func (s *session) browserFailed(err error) {
	if s.ctx.Err() != nil {
		// The grant is ending (timeout, Ctrl-C) and took the browser with
		// it: nothing for the person to do about the browser.
		return
	}
	msg := s.scrub(err.Error())
	s.log.Warn("could not open a browser", "error", msg)
	fmt.Fprintf(s.out, "Could not open a browser (%s); open the URL above by hand.\n", msg)
}

// scrub makes text fit to show the person or log: every form of the
// session's secrets (raw, percent- or JSON-encoded, the Basic credentials
// of the client) is redacted, and escape sequences and control characters
// are removed (providers.ScrubText). The code is added by callers that
// know it.
func (s *session) scrub(text string, extra ...secret.Secret) string {
	secrets := slices.Concat(extra, s.secrets)
	if s.req.Client != nil {
		return s.req.Client.Scrub(text, secrets...)
	}
	return providers.ScrubText(text, secrets...)
}
