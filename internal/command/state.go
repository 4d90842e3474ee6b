package command

import (
	"context"
	"fmt"
	"strings"
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
