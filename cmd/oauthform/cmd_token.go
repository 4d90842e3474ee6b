package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
	"github.com/oauthform/oauthform/internal/textsafe"
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

// jsonTokenFormatVersion versions the `token -json` document
// (docs/json-output.md).
const jsonTokenFormatVersion = "1.0"

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
	if help {
		fmt.Fprint(g.streams.Out, tokenHelp)
		return exitOK
	}
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	if rec := validTokenFast(ctx, g, ta); rec != nil {
		printToken(g, ta, rec, false)
		return exitOK
	}
	cfg, diags := loadConfig(ta.vars.inputs())
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}
	conn, ok := cfg.Connections[ta.conn]
	if !ok || conn.App == nil {
		msg := fmt.Sprintf("There is no connection %q in the configuration.", ta.conn)
		if sug := suggest(ta.conn, connectionNames(cfg)); sug != "" {
			msg += fmt.Sprintf(" Did you mean %q?", sug)
		}
		writeDiags(g, g.streams.Err, nil, errDiag("Unknown connection", msg))
		return exitError
	}
	st, diags := openConfigState(ctx, cfg, state.Options{})
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	defer st.Close()
	if d := plainUnderEncryption(ctx, st, configPassphrase(cfg)); d != nil {
		writeDiags(g, g.streams.Err, nil, d)
		return exitError
	}
	if _, err := st.Get(ctx, ta.conn); err != nil {
		diags := stateErrDiags("Cannot read the token", err)
		if errors.Is(err, state.ErrNotFound) || errors.Is(err, state.ErrNoState) {
			diags = errDiag("No token", fmt.Sprintf("Connection %s has no tokens yet. Run \"oauthform apply\" to authorize it.", ta.conn))
		}
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	client, err := newClient(ctx, g, cfg, conn.App)
	if err != nil {
		writeDiags(g, g.streams.Err, nil, wrapErr("Cannot reach the provider", err))
		return exitError
	}
	flights := &apply.Flights{}
	abandon, done := refreshInterrupts(g, flights)
	defer done()
	r := &apply.Refresher{Store: st, Now: clock, EmergencyDir: emergencyDir(cfg), Abandon: abandon, Flights: flights, TokenLifetime: conn.TokenLifetime}
	res, err := r.Ensure(ctx, ta.conn, client, ta.minValid)
	if err != nil {
		summary := "Refresh failed"
		if errors.Is(err, apply.ErrNeedsPerson) {
			summary = "Connection needs a person"
		}
		writeDiags(g, g.streams.Err, nil, wrapErr(summary, err))
		return exitError
	}
	printToken(g, ta, res.Record, res.Refreshed)
	return exitOK
}

// plainUnderEncryption refuses to hand out tokens of a state that is not
// encrypted at rest while encryption is configured (pass set): the
// configured protection is in force, or the command refuses.
func plainUnderEncryption(ctx context.Context, st state.Store, pass secret.Secret) hcl.Diagnostics {
	er, ok := state.Store(st).(state.EncryptionReporter)
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

// printToken prints rec's access token in the format ta asks for.
func printToken(g *globals, ta *tokenArgs, rec *state.Record, refreshed bool) {
	// A state written by an older oauthform may hold any token_type the
	// provider sent: it goes into a header line, so it is sanitized.
	tokenType := textsafe.Sanitize(rec.TokenType)
	if tokenType == "" || strings.EqualFold(tokenType, "bearer") {
		tokenType = "Bearer"
	}
	switch {
	case ta.header:
		fmt.Fprintf(g.streams.Out, "Authorization: %s %s\n", tokenType, rec.Access.Reveal())
	case ta.json:
		out := struct {
			FormatVersion string     `json:"format_version"`
			Conn          string     `json:"connection"`
			AccessToken   string     `json:"access_token"`
			TokenType     string     `json:"token_type"`
			Expiry        *time.Time `json:"expiry"`
			Scopes        []string   `json:"scopes"`
			Refreshed     bool       `json:"refreshed"`
		}{FormatVersion: jsonTokenFormatVersion, Conn: ta.conn, AccessToken: rec.Access.Reveal(), TokenType: tokenType, Scopes: rec.GrantedScopes, Refreshed: refreshed}
		if out.Scopes == nil {
			out.Scopes = rec.Scopes
		}
		if out.Scopes == nil {
			out.Scopes = []string{}
		}
		if !rec.Expiry.IsZero() {
			e := rec.Expiry.UTC()
			out.Expiry = &e
		}
		_ = writeJSON(g.streams.Out, out)
	default:
		fmt.Fprintln(g.streams.Out, rec.Access.Reveal())
	}
}

// hasSettingsBlock reports whether src may hold an oauthform block (which
// may move the state or hold its passphrase): the word at the start of a
// line, followed by "{". A plain scan: a regexp over a large configuration
// cost more than the whole fast path.
func hasSettingsBlock(src []byte) bool {
	const word = "oauthform"
	for i := 0; ; {
		j := bytes.Index(src[i:], []byte(word))
		if j < 0 {
			return false
		}
		j += i
		k := j - 1
		for k >= 0 && (src[k] == ' ' || src[k] == '\t') {
			k--
		}
		m := j + len(word)
		for m < len(src) && (src[m] == ' ' || src[m] == '\t') {
			m++
		}
		if (k < 0 || src[k] == '\n') && m < len(src) && src[m] == '{' {
			return true
		}
		i = j + len(word)
	}
}

// validTokenFast is token's fast path, for the common case of a program
// asking again and again for a token that is still valid: it reads the
// record straight from the state at its default place, without loading
// the configuration (parsing thousands of connections costs far more than
// the read). It returns nil, and the full path runs, whenever anything
// else may be needed: an oauthform block (another state path, a
// passphrase), -var flags, a missing or sealed record, a status other than
// active, or a token that expires within -min-valid.
func validTokenFast(ctx context.Context, g *globals, ta *tokenArgs) *state.Record {
	if len(ta.vars.vars) > 0 || len(ta.vars.varFiles) > 0 {
		return nil
	}
	paths, err := filepath.Glob("*" + config.FileSuffix)
	if err != nil || len(paths) == 0 {
		return nil
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || hasSettingsBlock(b) {
			return nil
		}
	}
	path := config.DefaultStatePath
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	st, err := bolt.Open(path, state.Options{Version: version, Now: clock, Passphrase: passphraseFor(path), Notify: func(string) {}})
	if err != nil {
		return nil
	}
	defer st.Close()
	rec, err := st.Get(ctx, ta.conn)
	if err != nil || rec.Sealed || rec.Status != state.StatusActive || rec.Access.IsZero() || rec.InFlight != nil {
		return nil
	}
	if !passphraseFor(path).IsZero() {
		// Encryption is configured: a plain state is refused by the full
		// path.
		er, ok := state.Store(st).(state.EncryptionReporter)
		if !ok {
			return nil
		}
		if enc, err := er.Encrypted(ctx); err != nil || !enc {
			return nil
		}
	}
	// Tokens kept outside the state (a custody or emergency file) are
	// newer, or say the state went back in time: the full path decides.
	if c, err := apply.CustodyOf(filepath.Dir(path), rec); err != nil || c != nil {
		return nil
	}
	if !rec.Expiry.IsZero() && !rec.Expiry.After(clock().Add(ta.minValid)) {
		return nil
	}
	g.log.Debug("token: valid in the state, configuration not loaded", "connection", ta.conn)
	return rec
}

// newClient builds the provider client of app.
func newClient(ctx context.Context, g *globals, cfg *config.Config, app *config.App) (*providers.Client, error) {
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
	c := &providers.Client{
		Profile: p, ClientID: app.ClientID, ClientSecret: app.ClientSecret,
		RedirectURI: app.RedirectURI, Logger: g.log.Named("provider"), Now: clock,
	}
	var err error
	if c.Timeout, err = envDuration(requestTimeoutEnv); err == nil {
		c.AnswerWait, err = envDuration(answerWaitEnv)
	}
	if err != nil {
		return nil, err
	}
	// Endpoints of a provider declared by issuer are discovered when they
	// are needed (apply.Refresher, Executor), from the state's copy while
	// it is fresh.
	return c, nil
}

// Environment variables that bound provider calls.
const (
	// requestTimeoutEnv bounds each provider request until it is sent
	// (default 30s).
	requestTimeoutEnv = "OAUTHFORM_REQUEST_TIMEOUT"
	// answerWaitEnv bounds the wait for the answer to a sent token
	// request (default 5m): that answer holds single-use tokens.
	answerWaitEnv = "OAUTHFORM_ANSWER_WAIT"
)

// envDuration reads a positive duration from the environment; unset is 0
// (the default).
func envDuration(name string) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q is not a positive duration such as 30s or 5m", name, v)
	}
	return d, nil
}

func connectionNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Connections))
	for n := range cfg.Connections {
		names = append(names, n)
	}
	return names
}
