package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

const tokenHelp = `Usage: oauthform token [options] CONNECTION

Print a valid access token of CONNECTION for a program to use, refreshing
it first when it expires within -min-valid. Concurrent calls for one
connection make a single refresh and all print its token. A connection
that needs a person (never connected, rejected grant, expired without a
refresh token) fails with exit status 1: run "oauthform apply".

Options:
  -header           Print "Authorization: Bearer TOKEN".
  -json             Print {"connection", "access_token", "token_type",
                    "expiry", "scopes"} as JSON.
  -min-valid=D      Refresh when the token expires within D (default 1m).
  -var, -var-file   Variables, as for plan.
`

type tokenArgs struct {
	conn     string
	header   bool
	json     bool
	minValid time.Duration
	vars     varFlags
}

func parseTokenArgs(args []string) (*tokenArgs, bool, hcl.Diagnostics) {
	var ta tokenArgs
	fs := newFlagSet("token")
	fs.BoolVar(&ta.header, "header", false, "")
	fs.BoolVar(&ta.json, "json", false, "")
	fs.DurationVar(&ta.minValid, "min-valid", time.Minute, "")
	ta.vars.register(fs)
	help, diags := parseFlags(fs, args, tokenHelp)
	if help || diags.HasErrors() {
		return nil, help, diags
	}
	rest := fs.Args()
	if len(rest) > 0 {
		ta.conn, rest = rest[0], rest[1:]
	}
	switch {
	case ta.conn == "":
		return nil, false, errDiag("Missing connection", "Name the connection whose token to print.\n\n"+tokenHelp)
	case len(rest) > 0:
		return nil, false, errDiag("Unexpected argument", fmt.Sprintf("token takes one connection; %q is extra.", rest[0]))
	case ta.header && ta.json:
		return nil, false, errDiag("Incompatible options", "-header and -json cannot be used together.")
	case ta.minValid < 0:
		return nil, false, errDiag("Invalid -min-valid", "-min-valid must not be negative.")
	}
	return &ta, false, nil
}

func runToken(ctx context.Context, g *globals, args []string) int {
	ta, help, diags := parseTokenArgs(args)
	if code, done := g.parsed(tokenHelp, help, diags); done {
		return code
	}
	tok, ok := currentToken(ctx, g, ta)
	if !ok {
		return ExitError
	}
	g.view.Token(ta.conn, tok.rec, tok.refreshed, ta.format())
	return ExitOK
}

// handedOut is a token currentToken hands out.
type handedOut struct {
	rec       *state.Record
	refreshed bool
	// cfg and conn are the configuration and the connection, when the
	// fast path did not answer (nil otherwise).
	cfg  *config.Config
	conn *config.Connection
}

// currentToken is the one way every consumer gets a token (token,
// credential, exec): the fast path (a token still valid in the local
// state, configuration not loaded), else the configuration and
// apply.Refresher.Ensure, which refreshes under the connection's lock so
// that concurrent callers make one refresh. Failures are reported as
// diagnostics; ok is false then.
func currentToken(ctx context.Context, g *globals, ta *tokenArgs) (tok *handedOut, ok bool) {
	if rec := validTokenFast(ctx, g, ta); rec != nil {
		return &handedOut{rec: rec}, true
	}
	cfg, conn, ok := declaredConnection(g, ta.conn, ta.vars)
	if !ok {
		return nil, false
	}
	st, diags := g.openConfigState(ctx, cfg, state.Options{})
	if g.failed(nil, diags) {
		return nil, false
	}
	defer st.Close()
	res, diags := ensureToken(ctx, g, cfg, conn, st, ta)
	if g.failed(nil, diags) {
		return nil, false
	}
	return &handedOut{rec: res.Record, refreshed: res.Refreshed, cfg: cfg, conn: conn}, true
}

// declaredConnection loads the configuration and finds connection name in
// it, reporting what is wrong (with a suggestion for a near miss).
func declaredConnection(g *globals, name string, vars varFlags) (*config.Config, *config.Connection, bool) {
	in := vars.inputs()
	if cfg, ok := config.LoadConnection(".", in, config.ReadIndexFor(configIndexPath, name), name); ok {
		if conn := cfg.Connections[name]; conn != nil && conn.App != nil {
			g.log.Debug("configuration: loaded the blocks of one connection from the index", "connection", name)
			if diags := g.resolveKeys(cfg); g.failed(files(cfg), diags) {
				return nil, nil, false
			}
			return cfg, conn, true
		}
	}
	cfg, diags := g.loadStateConfig(in)
	if g.failed(files(cfg), diags) {
		return nil, nil, false
	}
	// Written when the command ends: a cache must not take the room (or
	// the time) the command's own writes need.
	g.indexAfter = cfg
	conn, ok := cfg.Connections[name]
	if !ok || conn.App == nil {
		msg := fmt.Sprintf("There is no connection %q in the configuration.", name)
		if sug := suggest(name, connectionNames(cfg)); sug != "" {
			msg += fmt.Sprintf(" Did you mean %q?", sug)
		}
		g.view.Diagnostics(nil, errDiag("Unknown connection", msg))
		return nil, nil, false
	}
	return cfg, conn, true
}

// format is the output format ta asks for.
func (ta *tokenArgs) format() views.TokenFormat {
	switch {
	case ta.header:
		return views.TokenHeader
	case ta.json:
		return views.TokenJSON
	}
	return views.TokenPlain
}

// ensureToken makes conn's token valid for ta.minValid, refreshing it
// (apply.Refresher.Ensure).
func ensureToken(ctx context.Context, g *globals, cfg *config.Config, conn *config.Connection, st state.Store, ta *tokenArgs) (*apply.Result, hcl.Diagnostics) {
	if d := plainUnderEncryption(ctx, st, backend.Passphrase(cfg)); d != nil {
		return nil, d
	}
	// A token still valid is read without the connection's lock (the
	// local fast path does the same before the configuration is read):
	// on PostgreSQL the lock is a round trip of its own.
	if rec := apply.ValidStored(ctx, st, ta.conn, ta.minValid, g.now(), backend.EmergencyDir(cfg), !backend.Passphrase(cfg).IsZero()); rec != nil {
		return &apply.Result{Record: rec}, nil
	}
	if _, err := st.Get(ctx, ta.conn); err != nil {
		diags := g.stateErrDiags("Cannot read the token", err)
		if errors.Is(err, state.ErrNotFound) || errors.Is(err, state.ErrNoState) {
			diags = errDiag("No token", fmt.Sprintf("Connection %s has no tokens yet. Run \"oauthform apply\" to authorize it.", ta.conn))
		}
		return nil, diags
	}
	client, err := newClient(g, cfg, conn.App)
	if err != nil {
		return nil, wrapErr("Cannot reach the provider", err)
	}
	flights := &apply.Flights{}
	abandon, done := refreshInterrupts(g, flights)
	defer done()
	r := &apply.Refresher{Store: st, Now: g.now, EmergencyDir: backend.EmergencyDir(cfg), Abandon: abandon, Flights: flights, TokenLifetime: conn.TokenLifetime,
		GiveUpAfter: cfg.EffectiveGiveUpAfter(conn)}
	res, err := r.Ensure(ctx, ta.conn, client, ta.minValid)
	if err != nil {
		summary := "Refresh failed"
		if errors.Is(err, apply.ErrNeedsPerson) {
			summary = "Connection needs a person"
		}
		return nil, wrapErr(summary, err)
	}
	return res, nil
}

// plainUnderEncryption refuses to hand out tokens of a state that is not
// encrypted at rest while encryption is configured (pass set): the
// configured protection is in force, or the command refuses.
func plainUnderEncryption(ctx context.Context, st state.Store, pass secret.Secret) hcl.Diagnostics {
	er, ok := st.(state.EncryptionReporter)
	if pass.IsZero() || !ok {
		return nil
	}
	enc, err := er.Encrypted(ctx)
	if err != nil || enc {
		return nil // the read that follows reports a broken state
	}
	return errDiag("The state is not sealed yet", fmt.Sprintf("Encryption at rest is configured (an encryption block or %s), "+
		"but the tokens in %s are still stored in plain text. Run \"oauthform apply\" to seal them (plan shows it), "+
		"or \"oauthform state rekey\"; until then oauthform does not hand them out.", passphraseEnv, st.Path()))
}

// validTokenFast is token's fast path (apply.FastToken): a token still
// valid in the state at its default place, without loading the
// configuration; nil when the full path must run. -var flags always take
// the full path.
func validTokenFast(ctx context.Context, g *globals, ta *tokenArgs) *state.Record {
	if len(ta.vars.vars) > 0 || len(ta.vars.varFiles) > 0 {
		return nil
	}
	ft := &apply.FastToken{
		Conn: ta.conn, MinValid: ta.minValid, Now: g.now,
		Encrypted: !backend.Passphrase(nil).IsZero(),
		Open: func(path string) (state.Store, error) {
			return backend.Open(ctx, backend.Settings{Path: path, Options: state.Options{Version: g.version, Now: g.now, Notify: func(string) {}}})
		},
	}
	rec := ft.Valid(ctx)
	if rec != nil {
		g.log.Debug("token: valid in the state, configuration not loaded", "connection", ta.conn)
	}
	return rec
}

// newClient builds the provider client of app; a provider declared with
// `emulator = true` is served by an emulator in this process.
func newClient(g *globals, cfg *config.Config, app *config.App) (*providers.Client, error) {
	p, ok := cfg.Providers[app.Provider]
	if !ok {
		return nil, fmt.Errorf("provider %q is not known", app.Provider)
	}
	if p.Emulator {
		base, err := g.emulators(cfg).url(p, cfg)
		if err != nil {
			return nil, err
		}
		if p, err = p.Rebase(base); err != nil {
			return nil, err
		}
	}
	creds := providers.Credentials{ClientID: app.ClientID, ClientSecret: app.ClientSecret, RedirectURI: app.RedirectURI}
	return providers.NewClient(p, creds, g.log.Named("provider"), g.now)
}

func connectionNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Connections))
	for n := range cfg.Connections {
		names = append(names, n)
	}
	return names
}
