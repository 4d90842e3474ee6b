// Command oauthform is Terraform for OAuth 2.0 connections: it reads the
// *.oauth.hcl files of a directory, diffs them against the recorded state
// and shows (plan) or performs (apply) the grants, refreshes and revocations
// that are needed.
//
// This package is deliberately thin: it parses flags, calls into internal/…
// and renders views. main only calls realMain.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// clock is the time every command plans and refreshes against. Only the
// script tests' copy of the binary replaces it (to let time pass without
// sleeping); the real binary always uses the system clock.
var clock = time.Now

// Exit statuses. Scripts may rely on them.
const (
	exitOK      = 0
	exitError   = 1
	exitChanges = 2 // only with -detailed-exitcode
)

func main() {
	os.Exit(runWithSignals(os.Args[1:], stdStreams()))
}

// runWithSignals is realMain with SIGINT and SIGTERM cancelling its
// context (the test binary's oauthform runs it too, so that the fault
// tests signal the same program users run).
func runWithSignals(args []string, s *streams) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return realMain(ctx, args, s)
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
		"state":        {"Advanced state management: the subcommands below", runState},
		"providers":    {"List built-in providers and their quirks", runProviders},
		"emulate":      {"Run a local emulator of a provider, for trying and testing", runEmulate},
		"token":        {"Print a valid access token for a program, refreshing it first", runToken},
		"apply":        {"Perform the actions: grants, refreshes, updates, disconnects", runApply},
		"refresh":      {"Refresh the tokens that need it; never interactive (cron, CI)", runRefresh},
		"destroy":      {"Revoke (where the provider can) and forget connections", runDestroy},
		"force-unlock": {"Explain or clear a state lock (a crashed run never leaves one)", runForceUnlock},
		"version":      {"Print the oauthform version", runVersion},
	}
}

// realMain runs the CLI with args (without the program name) and returns the
// exit status.
func realMain(ctx context.Context, args []string, s *streams) int {
	g, rest, err := parseGlobals(args, s)
	if err != nil {
		fmt.Fprintf(s.Err, "Error: %v\n\n", err)
		usage(s.Err)
		return exitError
	}
	if len(rest) == 0 {
		usage(s.Out)
		return exitOK
	}
	name, cmdArgs := rest[0], rest[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(s.Out)
		return exitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	cmd, ok := commands()[name]
	if !ok {
		msg := fmt.Sprintf("Unknown command %q.", name)
		if sug := suggest(name, commandNames()); sug != "" {
			msg += fmt.Sprintf(" Did you mean %q?", sug)
		}
		fmt.Fprintf(s.Err, "Error: %s\n\n", msg)
		usage(s.Err)
		return exitError
	}
	var noColor bool
	cmdArgs, noColor = stripNoColor(cmdArgs)
	g.noColor = g.noColor || noColor
	if g.chdir != "" {
		if err := os.Chdir(g.chdir); err != nil {
			fmt.Fprintf(s.Err, "Error: -chdir: cannot change to %q: %v\n", g.chdir, err)
			return exitError
		}
	}
	g.log.Debug("running command", "command", name, "version", version)
	defer g.emus.close()
	return cmd.run(ctx, g, cmdArgs)
}

func commandNames() []string {
	var names []string
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Usage: oauthform [global options] <command> [args]

oauthform declares OAuth 2.0 connections in *.oauth.hcl files and keeps their
tokens in a local state, the way Terraform keeps infrastructure.

Commands:
`)
	cmds := commands()
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].synopsis)
		if n == "state" {
			for _, sc := range stateSubcommands() {
				fmt.Fprintf(w, "  %-14s %s\n", "state "+sc.name, sc.synopsis)
			}
		}
	}
	fmt.Fprintf(w, `
Global options (before the command):
  -chdir=DIR        Switch to DIR before running the command.
  -no-color         Disable colour in the output (every command also takes
                    it after its name).
  -log-level=LEVEL  Log to stderr: trace, debug, info, warn, error, off
                    (also OAUTHFORM_LOG).

Run "oauthform <command> -help" for a command's options.
`)
}

// fmtList joins quoted names for messages.
func fmtList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
