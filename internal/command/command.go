// Package command is oauthform's command line, after Terraform's
// internal/command: one file per command, each with a parse function that
// turns its flags and arguments into a typed struct and a run that calls
// the domain packages (config, plan, apply, grant, providers, state,
// backend) and hands the result to a view (internal/command/views).
// Output goes only to the streams Run is given.
package command

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/keys"
)

// Exit statuses. Scripts may rely on them.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2 // only with -detailed-exitcode
)

// Meta is what the program gives every command.
type Meta struct {
	// Version is oauthform's version, recorded in the state and printed;
	// Revision the VCS revision it was built from ("" when unknown).
	Version, Revision string
	// Now is the now every command plans and refreshes against; nil
	// means time.Now.
	Now func() time.Time
	// Keyring is the keyring of keyring = "SERVICE" and state rekey
	// -to-keyring; nil means the OS keyring. Only tests give another.
	Keyring keys.Keyring
}

// command is one CLI verb.
type command struct {
	synopsis string
	run      func(ctx context.Context, g *globals, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"init":         {"Create the state and a .gitignore entry; check the configuration", runInit},
		"validate":     {"Check the configuration offline", runValidate},
		"fmt":          {"Rewrite configuration files in canonical form", runFmt},
		"plan":         {"Show the actions needed to match the configuration", runPlan},
		"show":         {"Show connections, status, scopes and expiry (secrets redacted)", runShow},
		"status":       {"One line of health per connection; exit 2 when one needs attention", runStatus},
		"state":        {"Advanced state management: the subcommands below", runState},
		"providers":    {"List built-in providers and their quirks", runProviders},
		"emulate":      {"Run a local emulator of a provider, for trying and testing", runEmulate},
		"token":        {"Print a valid access token for a program, refreshing it first", runToken},
		"credential":   {"Hand a token to git, kubectl or curl in their own format", runCredential},
		"exec":         {"Run a program with access tokens in its environment", runExec},
		"import":       {"Bring a grant obtained outside oauthform under management", runImport},
		"apply":        {"Perform the actions: grants, refreshes, updates, disconnects", runApply},
		"refresh":      {"Refresh the tokens that need it; never interactive (cron, CI)", runRefresh},
		"destroy":      {"Revoke (where the provider can) and forget connections", runDestroy},
		"force-unlock": {"Explain or clear a state lock (a crashed run never leaves one)", runForceUnlock},
		"version":      {"Print the oauthform version", runVersion},
		"completion":   {"Print a shell completion script (bash, zsh, fish)", runCompletion},
	}
}

// Run runs the CLI with args (without the program name) on the streams s
// and returns the exit status.
func Run(ctx context.Context, args []string, s *Streams, meta Meta) int {
	v := &views.View{Out: s.Out, Err: s.Err}
	g, rest, err := parseGlobals(args, s, meta)
	if err != nil {
		v.UsageError(err.Error(), usageLines())
		return ExitError
	}
	if len(rest) == 0 {
		v.Usage(usageLines())
		return ExitOK
	}
	name, cmdArgs := rest[0], rest[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		v.Usage(usageLines())
		return ExitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	if name == "__complete" {
		// The completion scripts' callback: hidden from the help.
		return runComplete(ctx, g, cmdArgs)
	}
	cmd, ok := commands()[name]
	if !ok {
		msg := fmt.Sprintf("Unknown command %q.", name)
		if sug := suggest(name, commandNames()); sug != "" {
			msg += fmt.Sprintf(" Did you mean %q?", sug)
		}
		v.UsageError(msg, usageLines())
		return ExitError
	}
	var noColor bool
	cmdArgs, noColor = stripNoColor(cmdArgs)
	g.noColor = g.noColor || noColor
	g.view = g.newView()
	if g.chdir != "" {
		if err := os.Chdir(g.chdir); err != nil {
			g.view.ChdirFailed(g.chdir, err)
			return ExitError
		}
	}
	g.log.Debug("running command", "command", name, "version", g.version)
	defer g.emus.close()
	code := cmd.run(ctx, g, cmdArgs)
	writeConfigIndex(g, g.indexAfter)
	writeConfigCache(g)
	return code
}

func commandNames() []string {
	var names []string
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// usageLines are the commands the top-level help lists, state's
// subcommands included, with their synopses.
func usageLines() []views.CommandLine {
	var lines []views.CommandLine
	cmds := commands()
	for _, n := range commandNames() {
		lines = append(lines, views.CommandLine{Name: n, Synopsis: cmds[n].synopsis})
		if n == "state" {
			for _, sc := range stateSubcommands() {
				lines = append(lines, views.CommandLine{Name: "state " + sc.name, Synopsis: sc.synopsis})
			}
		}
	}
	return lines
}

// fmtList joins quoted names for messages.
func fmtList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
