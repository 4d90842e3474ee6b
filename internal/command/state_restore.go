package command

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/state"
)

const stateRestoreHelp = `Usage: oauthform state restore [options] FILE

Put back in the state the tokens saved in an emergency file. oauthform
writes one (mode 0600, next to the state) when a provider issued new tokens
but the state could not be written: with a rotating refresh token they are
the only live ones. The connection's lock is taken, so this is safe while
other commands run. A file older than the state's tokens is refused unless
-force. Delete the file afterwards: it holds live tokens.

Options:
  -force            Restore even when the state's tokens are newer.
  -state=PATH       Use this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

// stateRestoreArgs are the arguments of `oauthform state restore`.
type stateRestoreArgs struct {
	sf    stateFlags
	force bool
	file  string
}

func parseStateRestoreArgs(args []string) (*stateRestoreArgs, bool, hcl.Diagnostics) {
	a := &stateRestoreArgs{}
	fs := newFlagSet("state restore")
	a.sf.register(fs)
	fs.BoolVar(&a.force, "force", false, "")
	help, diags := parseFlags(fs, args, stateRestoreHelp)
	if !help && !diags.HasErrors() && fs.NArg() != 1 {
		diags = errDiag("Invalid command line", "state restore takes one emergency file.\n\n"+stateRestoreHelp)
	}
	a.file = fs.Arg(0)
	return a, help, diags
}

func runStateRestore(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStateRestoreArgs(args)
	if code, done := g.parsed(stateRestoreHelp, help, diags); done {
		return code
	}
	target, cfg, diags := a.sf.locate(g)
	if g.failed(files(cfg), diags) {
		return ExitError
	}
	st, diags := target.open(ctx, g, state.Options{})
	if g.failed(nil, diags) {
		return ExitError
	}
	defer st.Close()
	conn, err := apply.Restore(ctx, st, a.file, a.force)
	if err != nil {
		g.view.Diagnostics(nil, wrapErr("Restore failed", err))
		return ExitError
	}
	g.view.Restored(conn, a.file)
	return ExitOK
}
