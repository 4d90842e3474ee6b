package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
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

// forceUnlockArgs are the arguments of `oauthform force-unlock`.
type forceUnlockArgs struct {
	id string
}

func parseForceUnlockArgs(args []string) (*forceUnlockArgs, bool, hcl.Diagnostics) {
	fs := newFlagSet("force-unlock")
	help, diags := parseFlags(fs, args, forceUnlockHelp)
	if !help && !diags.HasErrors() && fs.NArg() != 1 {
		diags = errDiag("Missing lock ID", "Give the ID of the lock, as printed by the command that found the state locked.\n\n"+forceUnlockHelp)
	}
	return &forceUnlockArgs{id: fs.Arg(0)}, help, diags
}

func runForceUnlock(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseForceUnlockArgs(args)
	if code, done := g.parsed(forceUnlockHelp, help, diags); done {
		return code
	}
	id := a.id
	cfg, diags := g.loadStateConfig(config.Inputs{})
	if g.failed(files(cfg), diags) {
		return ExitError
	}
	st, diags := g.openConfigState(ctx, cfg, state.Options{})
	if g.failed(nil, diags) {
		return ExitError
	}
	defer st.Close()
	_, err := st.Lock(ctx, "force-unlock")
	var le *state.LockError
	switch {
	case err == nil:
		_ = st.Unlock(ctx)
		g.view.NotLocked(id)
		return ExitOK
	case errors.Is(err, state.ErrNoState):
		g.view.NotLocked("")
		return ExitOK
	case errors.As(err, &le) && le.Info != nil && le.Info.ID != id:
		g.view.Diagnostics(nil, errDiag("Lock ID does not match",
			fmt.Sprintf("The state is locked, but with another ID than %q:\n\n%s\n\nCheck the ID, and whether that process is still at work.", id, le.Info)))
	case errors.As(err, &le) && le.Info != nil:
		g.view.Diagnostics(nil, errDiag("The lock is held by a running process",
			fmt.Sprintf("%s\n\nThis process is alive: the operating system holds oauthform's lock only while its holder runs. "+
				"Breaking it could let two runs use the same rotating refresh token. If the process hangs, stop it "+
				"(kill %d on that host) and the lock is released at once.", le.Info, le.Info.PID)))
	default:
		g.view.Diagnostics(nil, g.stateErrDiags("Cannot check the state lock", err))
	}
	return ExitError
}
