package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/apply"
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
		fmt.Fprint(g.streams.Err, stateHelp())
		return exitError
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(g.streams.Out, stateHelp())
		return exitOK
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
	writeDiags(g, g.streams.Err, nil, errDiag("Invalid command line", msg+"\n\n"+stateHelp()))
	return exitError
}

func runStateList(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("state list")
	var sf stateFlags
	sf.register(fs)
	help, diags := parseFlags(fs, args, stateListHelp)
	if help {
		fmt.Fprint(g.streams.Out, stateListHelp)
		return exitOK
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
	snap, _, diags := readState(ctx, g, target)
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	names := make([]string, 0, len(snap.Records))
	for n := range snap.Records {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintln(g.streams.Out, n)
	}
	return exitOK
}

func runStateShow(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("state show")
	var sf stateFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "")
	showSensitive := fs.Bool("show-sensitive", false, "")
	help, diags := parseFlags(fs, args, stateShowHelp)
	if help {
		fmt.Fprint(g.streams.Out, stateShowHelp)
		return exitOK
	}
	if fs.NArg() != 1 {
		diags = append(diags, errDiag("Invalid command line", "state show needs exactly one connection name, e.g. oauthform state show sms_main")...)
	}
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	name := fs.Arg(0)
	target, cfg, diags := sf.locate()
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}
	snap, diags := readStateSensitive(ctx, g, target, *showSensitive)
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	rec, ok := snap.Records[name]
	if !ok {
		writeDiags(g, g.streams.Err, nil, noSuchConnection(name, snap, nil))
		return exitError
	}
	declared := false
	if cfg != nil {
		_, declared = cfg.Connections[name]
	}
	jc := newJSONConnection(rec, declared, *showSensitive)
	c, err := apply.CustodyOf(target.localDir(), rec)
	if err != nil {
		writeDiags(g, g.streams.Err, nil, warnDiag("Cannot read the custody journal", err.Error()))
	}
	if c != nil {
		jc.Custody = &jsonCustody{State: c.State, Detail: c.Detail, File: c.File}
	}
	if *asJSON {
		_ = writeJSON(g.streams.Out, struct {
			FormatVersion string `json:"format_version"`
			jsonConnection
		}{jsonShowFormatVersion, jc})
		return exitOK
	}
	renderConnection(g.streams.Out, jc, clock())
	return exitOK
}

func runStateRm(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("state rm")
	var sf stateFlags
	sf.register(fs)
	lockTimeout := fs.String("lock-timeout", "0s", "")
	dryRun := fs.Bool("dry-run", false, "")
	help, diags := parseFlags(fs, args, stateRmHelp)
	if help {
		fmt.Fprint(g.streams.Out, stateRmHelp)
		return exitOK
	}
	if fs.NArg() == 0 {
		diags = append(diags, errDiag("Invalid command line", "state rm needs at least one connection name, e.g. oauthform state rm sms_main")...)
	}
	timeout, tdiags := parseLockTimeout(*lockTimeout)
	diags = append(diags, tdiags...)
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	target, cfg, diags := sf.locate()
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}
	st, diags := target.open(ctx, g, state.Options{LockTimeout: timeout})
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	defer st.Close()
	if _, err := st.Lock(ctx, "state rm"); err != nil {
		writeDiags(g, g.streams.Err, nil, g.stateErrDiags("Error acquiring the state lock", err))
		return exitError
	}
	defer func() { _ = st.Unlock(ctx) }()
	snap, err := st.Snapshot(ctx)
	if err != nil {
		writeDiags(g, g.streams.Err, nil, g.stateErrDiags("Failed to read the state", err))
		return exitError
	}
	// Check every name before removing any, so a typo removes nothing.
	for _, name := range fs.Args() {
		if _, ok := snap.Records[name]; !ok {
			writeDiags(g, g.streams.Err, nil, noSuchConnection(name, snap, nil))
			fmt.Fprintln(g.streams.Err, "Nothing was removed.")
			return exitError
		}
	}
	if *dryRun {
		for _, name := range fs.Args() {
			fmt.Fprintf(g.streams.Out, "Would remove connection %q\n", name)
		}
		return exitOK
	}
	// Whatever was removed, even before an error, is then cleared from
	// the file and its backup, once for all of them.
	defer purgeForgotten(ctx, g, st)
	removed := 0
	for _, name := range fs.Args() {
		if err := removeConnection(ctx, st, name, timeout); err != nil {
			if errors.Is(err, state.ErrNotFound) {
				continue
			}
			writeDiags(g, g.streams.Err, nil, g.stateErrDiags(fmt.Sprintf("Failed to remove %q", name), err))
			fmt.Fprintf(g.streams.Err, "%d connection(s) were removed before the error.\n", removed)
			return exitError
		}
		if err := apply.Forget(target.localDir(), name); err != nil {
			writeDiags(g, g.streams.Err, nil, warnDiag("Tokens of "+name+" may remain outside the state", err.Error()))
		}
		removed++
		fmt.Fprintf(g.streams.Out, "Removed connection %q\n", name)
	}
	fmt.Fprintf(g.streams.Out, "Successfully removed %d connection(s). Their grants were NOT revoked at the provider; use \"oauthform destroy -target=NAME\" to revoke.\n", removed)
	return exitOK
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
