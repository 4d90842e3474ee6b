package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

const importHelp = `Usage: oauthform import [options] CONNECTION [FILE|-]

Bring a grant obtained outside oauthform under management, as terraform
import does: its tokens become CONNECTION's record, written under the
connection's lock. CONNECTION must be declared; the next plan then shows
no change for it (or a refresh when it is about to expire).

The grant is read as JSON from FILE, or from standard input with "-" or
without FILE: the provider's token response (access_token, refresh_token,
token_type, expires_in or PhoneBurner's absolute expires, scope), or the
document "oauthform token -json" prints. Tokens are never taken from flags
or arguments, which end up in the shell's history, and import never
prints them.

At a provider that rotates refresh tokens, the first refresh retires the
imported one: stop using the source copy, or the two fork the grant.

Options:
  -replace          Import over a connection that holds tokens.
  -check            First try the access token at the provider's check_url;
                    a refused token is not imported.
  -lock-timeout=D   Wait up to D for the state lock (default 0s).
  -var, -var-file   Variables, as for plan.
`

type importArgs struct {
	conn        string
	file        string // "" or "-": standard input
	replace     bool
	check       bool
	lockTimeout time.Duration
	vars        varFlags
}

func parseImportArgs(args []string) (*importArgs, bool, hcl.Diagnostics) {
	var ia importArgs
	fs := newFlagSet("import")
	fs.BoolVar(&ia.replace, "replace", false, "")
	fs.BoolVar(&ia.check, "check", false, "")
	fs.DurationVar(&ia.lockTimeout, "lock-timeout", 0, "")
	ia.vars.register(fs)
	help, diags := parseFlags(fs, args, importHelp)
	if help || diags.HasErrors() {
		return nil, help, diags
	}
	rest := fs.Args()
	switch {
	case len(rest) == 0:
		return nil, false, errDiag("Missing connection", "Name the connection to import into.\n\n"+importHelp)
	case len(rest) > 2:
		return nil, false, errDiag("Unexpected argument", fmt.Sprintf("import takes a connection and a file; %q is extra. Tokens are never taken from arguments: put the token document in a file or pipe it in.", rest[2]))
	}
	ia.conn = rest[0]
	if len(rest) == 2 {
		ia.file = rest[1]
	}
	return &ia, false, nil
}

func runImport(ctx context.Context, g *globals, args []string) int {
	ia, help, diags := parseImportArgs(args)
	if code, done := g.parsed(importHelp, help, diags); done {
		return code
	}
	cfg, conn, ok := declaredConnection(g, ia.conn, ia.vars)
	if !ok {
		return ExitError
	}
	client, tok, diags := readImported(ctx, g, cfg, conn, ia)
	if g.failed(nil, diags) {
		return ExitError
	}
	st, diags := g.openConfigState(ctx, cfg, state.Options{LockTimeout: ia.lockTimeout})
	if g.failed(nil, diags) {
		return ExitError
	}
	defer st.Close()
	// The operation lock: a first write with a passphrase seals a plain
	// state, and Terraform's import locks the state too.
	if _, err := st.Init(ctx); err != nil {
		g.view.Diagnostics(nil, g.stateErrDiags("Cannot create the state", err))
		return ExitError
	}
	if _, err := st.Lock(ctx, "import"); err != nil {
		g.view.Diagnostics(nil, g.stateErrDiags("Error acquiring the state lock", err))
		return ExitError
	}
	defer func() { _ = st.Unlock(ctx) }()
	if client.Profile.RotatesRefresh && !tok.RefreshToken.IsZero() {
		g.view.Diagnostics(nil, warnDiag("Stop using the source copy", fmt.Sprintf(
			"%s rotates refresh tokens: oauthform's first refresh of %s retires the refresh token being imported. "+
				"Whatever held it before (a script, an .env file, another tool) must no longer use it: using both forks the grant, "+
				"and the provider may then revoke it.", client.Profile.Name, ia.conn)))
	}
	res, err := apply.Import(ctx, st, apply.ImportRequest{
		Conn: ia.conn, Connection: conn, Client: client, Token: tok,
		Replace: ia.replace, Dir: backend.EmergencyDir(cfg), Now: g.now(),
	})
	if err != nil {
		summary := "Import failed"
		if errors.Is(err, apply.ErrAlreadyConnected) {
			summary = "Connection already connected"
		}
		g.view.Diagnostics(nil, wrapErr(summary, err))
		return ExitError
	}
	if res.ScopesAssumed {
		g.view.Diagnostics(nil, warnDiag("Scopes assumed", fmt.Sprintf(
			"The token document names no scope, so %s's declared scopes were recorded as granted. "+
				"If the grant holds fewer, a program will find out when the provider refuses a call.", ia.conn)))
	}
	g.view.Imported(views.ImportReport{Conn: ia.conn, Provider: conn.App.Provider, Record: res.Record, Replaced: res.Replaced, Now: g.now()})
	return ExitOK
}

// readImported reads the token document and, with -check, tries its
// access token at the provider.
func readImported(ctx context.Context, g *globals, cfg *config.Config, conn *config.Connection, ia *importArgs) (*providers.Client, *providers.Token, hcl.Diagnostics) {
	in, closeIn, diags := importInput(g, ia.file)
	if diags.HasErrors() {
		return nil, nil, diags
	}
	defer closeIn()
	client, err := newClient(g, cfg, conn.App)
	if err == nil {
		err = client.DiscoverCached(ctx, nil)
	}
	if err != nil {
		return nil, nil, wrapErr("Cannot reach the provider", err)
	}
	tok, err := client.ImportToken(in)
	if err != nil {
		return nil, nil, wrapErr("Cannot read the token document", err)
	}
	if !ia.check {
		return client, tok, nil
	}
	if client.Profile.CheckURL == "" {
		return nil, nil, errDiag("Cannot check the token", fmt.Sprintf(
			"Provider %q has no check_url to try the token at. Declare check_url in its provider block, or import without -check.", client.Profile.Name))
	}
	if _, err := client.Check(ctx, tok.AccessToken); err != nil {
		return nil, nil, wrapErr("The provider refused the token; nothing was imported", err)
	}
	return client, tok, nil
}

// importInput opens the token document: FILE, or standard input.
func importInput(g *globals, file string) (io.Reader, func(), hcl.Diagnostics) {
	if file != "" && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, nil, wrapErr("Cannot read the token document", err)
		}
		return f, func() { _ = f.Close() }, nil
	}
	if g.streams.InTerminal {
		return nil, nil, errDiag("No token document", "Give the token document as FILE, or pipe it in (oauthform import CONNECTION - < tokens.json): "+
			"typing a token at the terminal would leave it on the screen.")
	}
	return g.streams.In, func() {}, nil
}
