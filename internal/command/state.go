package command

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/state"
)

// stateSubcommand is one verb of `oauthform state`.
type stateSubcommand struct {
	name, synopsis string
	run            func(ctx context.Context, g *globals, args []string) int
}

// stateSubcommands are state's verbs, in the order help lists them; the
// top-level help lists them too.
func stateSubcommands() []stateSubcommand {
	return []stateSubcommand{
		{"list", "List the connections in the state", runStateList},
		{"show", "Show one connection (tokens redacted unless -show-sensitive)", runStateShow},
		{"rm", "Forget connections WITHOUT revoking them at the provider", runStateRm},
		{"restore", "Put tokens saved in an emergency file back in the state", runStateRestore},
		{"rekey", "Change the passphrase of encryption at rest, or turn it on or off", runStateRekey},
		{"migrate", "Move the whole state to PostgreSQL or a local file", runStateMigrate},
	}
}

// stateHelp is the help of `oauthform state`.
func stateHelp() string {
	var b strings.Builder
	b.WriteString(`Usage: oauthform state <subcommand> [options] [args]

Advanced state management.

Subcommands:
`)
	for _, sc := range stateSubcommands() {
		fmt.Fprintf(&b, "  %-9s %s\n", sc.name, sc.synopsis)
	}
	b.WriteString(`
Run "oauthform state <subcommand> -help" for a subcommand's options.
`)
	return b.String()
}

const stateListHelp = `Usage: oauthform state list [options]

List the names of the connections in the state, one a line, sorted.

Options:
  -state=PATH       Use this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

const stateShowHelp = `Usage: oauthform state show [options] CONNECTION

Show one connection as the state records it. Tokens are shown as
(sensitive) unless -show-sensitive.

Options:
  -json             Print the connection as JSON (docs/json-output.md).
  -show-sensitive   Print the tokens themselves. Think before you do.
  -state=PATH       Use this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

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

func runState(ctx context.Context, g *globals, args []string) int {
	if len(args) == 0 {
		g.view.HelpErr(stateHelp())
		return ExitError
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		g.view.Help(stateHelp())
		return ExitOK
	}
	var names []string
	for _, sc := range stateSubcommands() {
		if sc.name == args[0] {
			return sc.run(ctx, g, args[1:])
		}
		names = append(names, sc.name)
	}
	msg := fmt.Sprintf("Unknown state subcommand %q.", args[0])
	if s := suggest(args[0], names); s != "" {
		msg += fmt.Sprintf(" Did you mean %q?", s)
	}
	g.view.Diagnostics(nil, errDiag("Invalid command line", msg+"\n\n"+stateHelp()))
	return ExitError
}

// stateListArgs are the arguments of `oauthform state list`.
type stateListArgs struct {
	sf stateFlags
}

func parseStateListArgs(args []string) (*stateListArgs, bool, hcl.Diagnostics) {
	a := &stateListArgs{}
	fs := newFlagSet("state list")
	a.sf.register(fs)
	help, diags := parseFlags(fs, args, stateListHelp)
	return a, help, diags
}

func runStateList(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStateListArgs(args)
	if code, done := g.parsed(stateListHelp, help, diags); done {
		return code
	}
	target, cfg, diags := a.sf.locate()
	if diags.HasErrors() {
		g.view.Diagnostics(files(cfg), diags)
		return ExitError
	}
	snap, _, diags := readState(ctx, g, target)
	if diags.HasErrors() {
		g.view.Diagnostics(nil, diags)
		return ExitError
	}
	g.view.StateList(slices.Collect(maps.Keys(snap.Records)))
	return ExitOK
}

// stateShowArgs are the arguments of `oauthform state show`.
type stateShowArgs struct {
	sf                  stateFlags
	json, showSensitive bool
	name                string
}

func parseStateShowArgs(args []string) (*stateShowArgs, bool, hcl.Diagnostics) {
	a := &stateShowArgs{}
	fs := newFlagSet("state show")
	a.sf.register(fs)
	fs.BoolVar(&a.json, "json", false, "")
	fs.BoolVar(&a.showSensitive, "show-sensitive", false, "")
	help, diags := parseFlags(fs, args, stateShowHelp)
	if !help && fs.NArg() != 1 {
		diags = append(diags, errDiag("Invalid command line", "state show needs exactly one connection name, e.g. oauthform state show sms_main")...)
	}
	a.name = fs.Arg(0)
	return a, help, diags
}

func runStateShow(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStateShowArgs(args)
	if code, done := g.parsed(stateShowHelp, help, diags); done {
		return code
	}
	target, cfg, diags := a.sf.locate()
	if diags.HasErrors() {
		g.view.Diagnostics(files(cfg), diags)
		return ExitError
	}
	snap, diags := readStateSensitive(ctx, g, target, a.showSensitive)
	if diags.HasErrors() {
		g.view.Diagnostics(nil, diags)
		return ExitError
	}
	rec, ok := snap.Records[a.name]
	if !ok {
		g.view.Diagnostics(nil, noSuchConnection(a.name, snap, nil))
		return ExitError
	}
	declared := false
	if cfg != nil {
		_, declared = cfg.Connections[a.name]
	}
	jc := views.NewConnection(rec, declared, a.showSensitive)
	c, err := apply.CustodyOf(target.localDir(), rec)
	if err != nil {
		g.view.Diagnostics(nil, warnDiag("Cannot read the custody journal", err.Error()))
	}
	if c != nil {
		jc.Custody = &views.Custody{State: c.State, Detail: c.Detail, File: c.File}
	}
	g.view.StateShow(jc, g.now(), a.json)
	return ExitOK
}

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
	target, cfg, diags := a.sf.locate()
	if diags.HasErrors() {
		g.view.Diagnostics(files(cfg), diags)
		return ExitError
	}
	st, diags := target.open(ctx, g, state.Options{LockTimeout: a.lockTimeout})
	if diags.HasErrors() {
		g.view.Diagnostics(nil, diags)
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
