package command

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
)

const emulateHelp = `Usage: oauthform emulate PROVIDER [options]

Run a local emulator of a built-in provider in the foreground, until Ctrl-C.
It behaves as the provider documents (paths, client authentication, token
shapes, errors) and prints the provider block that points a configuration
at it. Try a whole connect/refresh/revoke cycle without any account.

Options:
  -addr=127.0.0.1:9400    Listen address; loopback only.
  -auto-approve           Approve every authorization without a consent page.
  -access-ttl=D           Access token lifetime (default: the provider's).
  -code-ttl=D             Authorization code lifetime (default: the provider's).
  -latency=D              Delay every token and refresh answer by D (default 0),
                          to try oauthform against a slow provider.
  -answer-latency=D       Carry out each token and refresh request at once
                          (a refresh rotates) but send its answer D later, as
                          a slow network does: the window in which a client
                          that gives up or dies loses a rotating login.
  -client-id=ID           The registered app's client_id (default "oauthform-demo").
  -client-secret=S        Its client secret (default "demo-secret").
  -redirect-uri=URI       A registered redirect URI; repeatable
                          (default http://127.0.0.1:8765/callback).
`

// emulateOptions are the parsed flags of `emulate`.
type emulateOptions struct {
	provider      string
	addr          string
	opts          emulator.Options
	redirectFlags multiFlag
	latency       time.Duration // Faults.Latency: token and refresh endpoints
	answerLatency time.Duration // Faults.AnswerLatency
}

func parseEmulateArgs(args []string) (*emulateOptions, bool, hcl.Diagnostics) {
	var eo emulateOptions
	fs := newFlagSet("emulate")
	fs.StringVar(&eo.addr, "addr", "127.0.0.1:9400", "")
	fs.BoolVar(&eo.opts.AutoApprove, "auto-approve", false, "")
	fs.DurationVar(&eo.opts.AccessTTL, "access-ttl", 0, "")
	fs.DurationVar(&eo.opts.CodeTTL, "code-ttl", 0, "")
	fs.DurationVar(&eo.latency, "latency", 0, "")
	fs.DurationVar(&eo.answerLatency, "answer-latency", 0, "")
	clientID := fs.String("client-id", "oauthform-demo", "")
	clientSecret := fs.String("client-secret", "demo-secret", "")
	fs.Var(&eo.redirectFlags, "redirect-uri", "")
	help, diags := parseFlags(fs, args, emulateHelp)
	if help || diags.HasErrors() {
		return nil, help, diags
	}
	if fs.NArg() > 1 {
		return nil, false, errDiag("Unexpected argument", fmt.Sprintf("emulate takes one provider; %q is extra.", fs.Arg(1)))
	}
	eo.provider = fs.Arg(0)
	if eo.provider == "" {
		return nil, false, errDiag("Missing provider", "Name the provider to emulate, one of "+fmtList(emulator.Providers())+".\n\n"+emulateHelp)
	}
	known := emulator.Providers()
	if !slices.Contains(known, eo.provider) {
		msg := fmt.Sprintf("There is no emulator for provider %q.", eo.provider)
		if sug := suggest(eo.provider, known); sug != "" {
			msg += fmt.Sprintf(" Did you mean %q?", sug)
		}
		return nil, false, errDiag("Unknown provider", msg+" Emulators exist for "+fmtList(known)+".")
	}
	host, _, err := net.SplitHostPort(eo.addr)
	if err != nil || !providers.IsLoopbackHost(host) {
		return nil, false, errDiag("Invalid -addr", fmt.Sprintf("-addr=%q must be a loopback host and port such as 127.0.0.1:9400: the emulator is for local testing.", eo.addr))
	}
	if eo.opts.AccessTTL < 0 || eo.opts.CodeTTL < 0 || eo.latency < 0 || eo.answerLatency < 0 {
		return nil, false, errDiag("Invalid duration", "-access-ttl, -code-ttl, -latency and -answer-latency must not be negative.")
	}
	redirects := []string(eo.redirectFlags)
	if len(redirects) == 0 {
		redirects = []string{"http://127.0.0.1:8765/callback"}
	}
	eo.opts.Provider = eo.provider
	eo.opts.Clients = []emulator.Client{{ID: *clientID, Secret: *clientSecret, RedirectURIs: redirects}}
	return &eo, false, nil
}

func runEmulate(ctx context.Context, g *globals, args []string) int {
	eo, help, diags := parseEmulateArgs(args)
	if code, done := g.parsed(emulateHelp, help, diags); done {
		return code
	}
	eo.opts.Logf = func(format string, a ...any) { g.log.Info(fmt.Sprintf(format, a...)) }
	srv, err := emulator.New(eo.opts)
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Cannot start the emulator", err))
		return ExitError
	}
	if eo.latency > 0 || eo.answerLatency > 0 {
		// No Endpoints: token and refresh.
		srv.SetFaults(emulator.Faults{Latency: eo.latency, AnswerLatency: eo.answerLatency})
	}
	ln, err := net.Listen("tcp", eo.addr)
	if err != nil {
		g.view.Diagnostics(nil, errDiag("Cannot listen",
			fmt.Sprintf("Listening on %s: %v. Choose another port with -addr.", eo.addr, err)))
		return ExitError
	}
	base := "http://" + ln.Addr().String()
	banner, err := emulatorBanner(eo, srv, base)
	if err == nil {
		err = g.view.EmulatorBanner(banner)
	}
	if err != nil {
		_ = ln.Close()
		g.view.Diagnostics(nil, wrapErr("Cannot describe the emulator", err))
		return ExitError
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-done
		g.view.EmulatorStopped()
		return ExitOK
	case err := <-done:
		if errors.Is(err, http.ErrServerClosed) {
			return ExitOK
		}
		g.view.Diagnostics(nil, wrapErr("The emulator stopped", err))
		return ExitError
	}
}

// emulatorBanner describes the emulator eo started as srv on base, with
// the provider block that points a configuration at it.
func emulatorBanner(eo *emulateOptions, srv *emulator.Server, base string) (*views.Emulator, error) {
	block, err := views.ProviderBlock(eo.provider, srv.Paths(), base)
	if err != nil {
		return nil, err
	}
	c := eo.opts.Clients[0]
	return &views.Emulator{
		Provider: eo.provider, Base: base, ClientID: c.ID, RedirectURIs: c.RedirectURIs,
		AutoApprove: eo.opts.AutoApprove, Latency: eo.latency, AnswerLatency: eo.answerLatency, Block: block,
	}, nil
}
