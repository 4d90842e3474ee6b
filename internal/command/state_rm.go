package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/state"
)

const stateRmHelp = `Usage: oauthform state rm [options] CONNECTION...

Forget connections WITHOUT revoking them at the provider: their grants stay
valid there (use "oauthform destroy -target=NAME" to revoke). Their tokens
are cleared from the state file and its backup. Every name is checked
before any is removed, so a typo removes nothing.

Options:
  -dry-run          Only say what would be removed.
  -lock-timeout=D   Wait up to D for the state lock (default 0s).
  -state=PATH       Use this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

// stateRmArgs are the arguments of `oauthform state rm`.
type stateRmArgs struct {
	sf          stateFlags
	dryRun      bool
	lockTimeout time.Duration
	names       []string
}

func parseStateRmArgs(args []string) (*stateRmArgs, bool, hcl.Diagnostics) {
	a := &stateRmArgs{}
	fs := newFlagSet("state rm")
	a.sf.register(fs)
	lockTimeout := fs.String("lock-timeout", "0s", "")
	fs.BoolVar(&a.dryRun, "dry-run", false, "")
	help, diags := parseFlags(fs, args, stateRmHelp)
	if help {
		return a, help, diags
	}
	if fs.NArg() == 0 {
		diags = append(diags, errDiag("Invalid command line", "state rm needs at least one connection name, e.g. oauthform state rm sms_main")...)
	}
	var tdiags hcl.Diagnostics
	a.lockTimeout, tdiags = parseLockTimeout(*lockTimeout)
	a.names = fs.Args()
	return a, false, append(diags, tdiags...)
}

func runStateRm(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStateRmArgs(args)
	if code, done := g.parsed(stateRmHelp, help, diags); done {
		return code
	}
	target, cfg, diags := a.sf.locate(g)
	if g.failed(files(cfg), diags) {
		return ExitError
	}
	st, diags := target.open(ctx, g, state.Options{LockTimeout: a.lockTimeout})
	if g.failed(nil, diags) {
		return ExitError
	}
	defer st.Close()
	if _, err := st.Lock(ctx, "state rm"); err != nil {
		g.view.Diagnostics(nil, g.stateErrDiags("Error acquiring the state lock", err))
		return ExitError
	}
	defer func() { _ = st.Unlock(ctx) }()
	snap, err := st.Snapshot(ctx)
	if err != nil {
		g.view.Diagnostics(nil, g.stateErrDiags("Failed to read the state", err))
		return ExitError
	}
	// Check every name before removing any, so a typo removes nothing.
	for _, name := range a.names {
		if _, ok := snap.Records[name]; !ok {
			g.view.Diagnostics(nil, noSuchConnection(name, snap, nil))
			g.view.StateRmNothing()
			return ExitError
		}
	}
	if a.dryRun {
		g.view.StateRmDryRun(a.names)
		return ExitOK
	}
	return removeConnections(ctx, g, st, target, a)
}

// removeConnections removes a's connections, then clears them from the
// file and its backup.
func removeConnections(ctx context.Context, g *globals, st state.Store, target *stateTarget, a *stateRmArgs) int {
	// Whatever was removed, even before an error, is then cleared from
	// the file and its backup, once for all of them.
	defer purgeForgotten(ctx, g, st)
	removed := 0
	for _, name := range a.names {
		if err := removeConnection(ctx, st, name, a.lockTimeout); err != nil {
			if errors.Is(err, state.ErrNotFound) {
				continue
			}
			g.view.Diagnostics(nil, g.stateErrDiags(fmt.Sprintf("Failed to remove %q", name), err))
			g.view.StateRmStopped(removed)
			return ExitError
		}
		if err := apply.Forget(target.localDir(), name); err != nil {
			g.view.Diagnostics(nil, warnDiag("Tokens of "+name+" may remain outside the state", err.Error()))
		}
		removed++
		g.view.StateRemoved(name)
	}
	g.view.StateRmDone(removed)
	return ExitOK
}

// removeConnection deletes name's record under its connection lock, so
// that a refresh in flight elsewhere (`token`) finishes first instead of
// writing the record back after it was removed. It waits for that lock up
// to the longer of timeout and a refresh's own wait.
func removeConnection(ctx context.Context, st state.Store, name string, timeout time.Duration) error {
	release, err := st.LockConn(ctx, name, max(timeout, apply.DefaultLockWait))
	if err != nil {
		return err
	}
	defer func() { _ = release() }()
	return st.Delete(ctx, name)
}
