package main

import (
	"context"
	"fmt"

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

func runStateRestore(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("state restore")
	var sf stateFlags
	sf.register(fs)
	force := fs.Bool("force", false, "")
	help, diags := parseFlags(fs, args, stateRestoreHelp)
	if help {
		fmt.Fprint(g.streams.Out, stateRestoreHelp)
		return exitOK
	}
	if !diags.HasErrors() && fs.NArg() != 1 {
		diags = errDiag("Invalid command line", "state restore takes one emergency file.\n\n"+stateRestoreHelp)
	}
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	target, cfg, diags := sf.locate()
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}
	st, diags := target.open(ctx, g, state.Options{})
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	defer st.Close()
	conn, err := apply.Restore(ctx, st, fs.Arg(0), *force)
	if err != nil {
		writeDiags(g, g.streams.Err, nil, wrapErr("Restore failed", err))
		return exitError
	}
	fmt.Fprintf(g.streams.Out, "Restored the tokens of %s from %s.\nDelete that file now: it holds live tokens.\n", conn, fs.Arg(0))
	return exitOK
}
