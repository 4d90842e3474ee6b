package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
)

const showHelp = `Usage: oauthform show [options] [CONNECTION]

Show the connections in the state (and declared ones not connected yet):
provider, status, scopes, expiry. Tokens are shown as (sensitive).

Options:
  -json             Print one JSON document (docs/json-output.md).
  -show-sensitive   Print the tokens themselves. Think before you do.
  -state=PATH       Read this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

// stateFlags locate the state: -state PATH, or the configuration's
// state_path (which needs -var/-var-file when the configuration has
// variables).
type stateFlags struct {
	path string
	vars varFlags
}

func (s *stateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.path, "state", "", "")
	s.vars.register(fs)
}

// locate returns the state path and the configuration when it was loaded
// (nil with -state). Configuration errors are fatal: a broken state_path
// must not send us to the wrong state.
func (s *stateFlags) locate() (string, *config.Config, hcl.Diagnostics) {
	if s.path != "" {
		return s.path, nil, nil
	}
	cfg, diags := loadConfig(s.vars.inputs())
	if diags.HasErrors() {
		diags = append(diags, sourceless(hcl.DiagError, "Cannot find the state",
			"The configuration above has errors, so its state_path is unknown. Fix it, or name the state file with -state=PATH."))
		return "", cfg, diags
	}
	return statePath(cfg), cfg, diags
}

func runShow(ctx context.Context, g *globals, args []string) int {
	fs := newFlagSet("show")
	var sf stateFlags
	sf.register(fs)
	asJSON := fs.Bool("json", false, "")
	showSensitive := fs.Bool("show-sensitive", false, "")
	help, diags := parseFlags(fs, args, showHelp)
	if help {
		fmt.Fprint(g.streams.Out, showHelp)
		return exitOK
	}
	if fs.NArg() > 1 {
		diags = append(diags, errDiag("Too many arguments", "show takes at most one connection name.")...)
	}
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	only := fs.Arg(0)
	path, cfg, diags := sf.locate()
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}
	snap, diags := readStateSensitive(ctx, path, *showSensitive)
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	js := newJSONState(snap, cfg, only, *showSensitive)
	if only != "" && len(js.Connections) == 0 {
		writeDiags(g, g.streams.Err, nil, noSuchConnection(only, snap, cfg))
		return exitError
	}
	if *asJSON {
		if err := writeJSON(g.streams.Out, js); err != nil {
			return exitError
		}
		return exitOK
	}
	now := clock()
	if only != "" {
		renderConnection(g.streams.Out, js.Connections[0], now)
		return exitOK
	}
	renderStateTable(g.streams.Out, js, now)
	return exitOK
}

// readState opens the state at path read-only and returns a snapshot.
func readState(ctx context.Context, path string) (*state.Snapshot, hcl.Diagnostics) {
	st, diags := openState(path, state.Options{})
	if diags.HasErrors() {
		return nil, diags
	}
	defer st.Close()
	snap, err := st.Snapshot(ctx)
	if err != nil {
		return nil, stateErrDiags("Failed to read the state", err)
	}
	return snap, nil
}

// noSuchConnection explains an unknown connection name, suggesting a close
// one.
func noSuchConnection(name string, snap *state.Snapshot, cfg *config.Config) hcl.Diagnostics {
	var names []string
	for n := range snap.Records {
		names = append(names, n)
	}
	if cfg != nil {
		for n := range cfg.Connections {
			names = append(names, n)
		}
	}
	detail := fmt.Sprintf("There is no connection %q in the state or the configuration.", name)
	if s := suggest(name, names); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	} else {
		detail += " Run \"oauthform state list\" to see the connections in the state."
	}
	return errDiag("No such connection", detail)
}
