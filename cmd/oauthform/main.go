// Command oauthform is Terraform for OAuth 2.0 connections: it reads the
// *.oauth.hcl files of a directory, diffs them against the recorded state
// and shows (plan) or performs (apply) the grants, refreshes and revocations
// that are needed.
//
// This package only starts the program: the commands live in
// internal/command, their output in internal/command/views.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/oauthform/oauthform/internal/command"
)

// version and revision may be set at link time (-ldflags "-X
// main.version=0.2.0 -X main.revision=COMMIT", as the release builds do);
// otherwise the toolchain's build information gives them
// (command.BuildVersion).
var version, revision string

// streams are the process's standard streams; tests substitute buffers.
type streams = command.Streams

func main() {
	os.Exit(runWithSignals(os.Args[1:], stdStreams()))
}

// runWithSignals is realMain with SIGINT and SIGTERM cancelling its
// context (the test binary's oauthform runs it too, so that the fault
// tests signal the same program users run).
func runWithSignals(args []string, s *streams) int {
	return runWithSignalsAt(args, s, time.Now)
}

// runWithSignalsAt is runWithSignals with the clock now: only the script
// tests' copy of the binary gives another one (to let time pass without
// sleeping); the real binary always uses the system clock.
func runWithSignalsAt(args []string, s *streams, now func() time.Time) int {
	return runWithSignalsMeta(args, s, meta(now))
}

// runWithSignalsMeta is runWithSignals with the Meta m: only the script
// tests' copy of the binary changes it (a keyring in a folder).
func runWithSignalsMeta(args []string, s *streams, m command.Meta) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return command.Run(ctx, args, s, m)
}

// realMain runs the CLI with args (without the program name) and returns the
// exit status.
func realMain(ctx context.Context, args []string, s *streams) int {
	return command.Run(ctx, args, s, meta(time.Now))
}

// stdStreams are the process's standard streams, with what the terminal
// says about them.
func stdStreams() *streams {
	s := &streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	s.InTerminal = term.IsTerminal(int(os.Stdin.Fd()))
	s.OutTerminal = term.IsTerminal(int(os.Stdout.Fd()))
	s.ErrTerminal = term.IsTerminal(int(os.Stderr.Fd()))
	if s.OutTerminal {
		if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
			s.Width = w
		}
	}
	return s
}

// meta is what the program tells every command: its version and clock.
func meta(now func() time.Time) command.Meta {
	info, ok := debug.ReadBuildInfo()
	v, r := command.BuildVersion(version, revision, info, ok)
	return command.Meta{Version: v, Revision: r, Now: now}
}
