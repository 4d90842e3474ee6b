package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
)

const forceUnlockHelp = `Usage: oauthform force-unlock LOCK_ID

Terraform's force-unlock removes a lock left behind by a crashed run.
oauthform's state lock is held by the operating system (flock; LockFileEx on
Windows), or with
the pg backend by PostgreSQL (an advisory lock of the holder's session),
for exactly as long as its holder process lives, so a crash never leaves
one behind: force-unlock checks whether the lock with LOCK_ID is still
held and, if it is, names the process holding it. Stopping that process releases the lock
at once; nothing else can, or should, break it while the process may still
be writing tokens.
`

func runForceUnlock(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("force-unlock")
	help, diags := parseFlags(fs, args, forceUnlockHelp)
	if help {
		fmt.Fprint(g.streams.Out, forceUnlockHelp)
		return exitOK
	}
	if !diags.HasErrors() && fs.NArg() != 1 {
		diags = errDiag("Missing lock ID", "Give the ID of the lock, as printed by the command that found the state locked.\n\n"+forceUnlockHelp)
	}
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	id := fs.Arg(0)
	cfg, diags := loadConfig(config.Inputs{})
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}
	st, diags := g.openConfigState(ctx, cfg, state.Options{})
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	defer st.Close()
	_, err := st.Lock(ctx, "force-unlock")
	var le *state.LockError
	switch {
	case err == nil:
		_ = st.Unlock(ctx)
		fmt.Fprintf(g.streams.Out, "The state is not locked: lock %s is no longer held (its process has ended, and the operating system released the lock with it). Nothing to do.\n", id)
		return exitOK
	case errors.Is(err, state.ErrNoState):
		fmt.Fprintln(g.streams.Out, "There is no state yet, so there is no lock. Nothing to do.")
		return exitOK
	case errors.As(err, &le) && le.Info != nil && le.Info.ID != id:
		writeDiags(g, g.streams.Err, nil, errDiag("Lock ID does not match",
			fmt.Sprintf("The state is locked, but with another ID than %q:\n\n%s\n\nCheck the ID, and whether that process is still at work.", id, le.Info)))
	case errors.As(err, &le) && le.Info != nil:
		writeDiags(g, g.streams.Err, nil, errDiag("The lock is held by a running process",
			fmt.Sprintf("%s\n\nThis process is alive: the operating system holds oauthform's lock only while its holder runs. "+
				"Breaking it could let two runs use the same rotating refresh token. If the process hangs, stop it "+
				"(kill %d on that host) and the lock is released at once.", le.Info, le.Info.PID)))
	default:
		writeDiags(g, g.streams.Err, nil, g.stateErrDiags("Cannot check the state lock", err))
	}
	return exitError
}
