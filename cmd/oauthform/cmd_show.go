package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

const showHelp = `Usage: oauthform show [options] [CONNECTION | PLANFILE]

Show the connections in the state (and declared ones not connected yet):
provider, status, scopes, expiry. Tokens are shown as (sensitive).

With a plan file saved by "oauthform plan -out=FILE", show that plan as
plan showed it (with -json, as plan -json does) instead; a plan holds no
secrets.

Options:
  -json             Print one JSON document (docs/json-output.md).
  -show-sensitive   Print the tokens themselves. Think before you do.
  -state=PATH       Read this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

// stateFlags locate the state: -state PATH, or the configuration's
// state_path or backend (which needs -var/-var-file when the configuration
// has variables).
type stateFlags struct {
	path string
	vars varFlags
}

func (s *stateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.path, "state", "", "")
	s.vars.register(fs)
}

// stateTarget is the state a command works on: the file given with
// -state, or the configuration's backend (a local file or PostgreSQL).
type stateTarget struct {
	// path is the local state file: -state, or the configuration's; ""
	// for a PostgreSQL state.
	path string
	// cfg is the configuration; nil with -state.
	cfg *config.Config
}

// open opens the target's state with opts.
func (t *stateTarget) open(ctx context.Context, g *globals, opts state.Options) (state.Store, hcl.Diagnostics) {
	if t.cfg == nil {
		return g.openState(ctx, backend.Settings{Path: t.path, Options: opts})
	}
	return g.openConfigState(ctx, t.cfg, opts)
}

// opener opens the target's state with options whose passphrase is
// used as given, for the state's multi-step flows (state.Rekeying).
func (t *stateTarget) opener(g *globals) func(context.Context, state.Options) (state.Store, error) {
	return func(ctx context.Context, opts state.Options) (state.Store, error) {
		opts.Version, opts.Now = version, clock
		if opts.Notify == nil {
			opts.Notify = g.stateNotice
		}
		s := backend.Settings{Config: t.cfg, Path: t.path, Options: opts, ExactPassphrase: true, Secrets: &g.secrets}
		return backend.Open(ctx, s)
	}
}

// localDir is the local folder of the target's state: where the custody
// journal and emergency files are (for a PostgreSQL state, the folder a
// local state would have).
func (t *stateTarget) localDir() string {
	if t.cfg != nil && backend.IsPG(t.cfg) {
		return backend.LocalDir(t.cfg)
	}
	return filepath.Dir(t.path)
}

// passphrase is the passphrase oauthform uses for the target's state
// (backend.Passphrase).
func (t *stateTarget) passphrase() secret.Secret {
	return backend.Passphrase(t.cfg)
}

// locate returns the state and the configuration when it was loaded (nil
// with -state). Configuration errors are fatal: a broken state_path or
// backend must not send us to the wrong state.
func (s *stateFlags) locate() (*stateTarget, *config.Config, hcl.Diagnostics) {
	if s.path != "" {
		return &stateTarget{path: s.path}, nil, nil
	}
	cfg, diags := loadConfig(s.vars.inputs())
	if diags.HasErrors() {
		diags = append(diags, sourceless(hcl.DiagError, "Cannot find the state",
			"The configuration above has errors, so where its state is (state_path, backend) is unknown. Fix it, or name the state file with -state=PATH."))
		return nil, cfg, diags
	}
	t := &stateTarget{cfg: cfg}
	if !backend.IsPG(cfg) {
		t.path = backend.StatePath(cfg)
	}
	return t, cfg, diags
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
	if p, diags, ok := readPlanArg(only); ok {
		if diags.HasErrors() {
			writeDiags(g, g.streams.Err, nil, diags)
			return exitError
		}
		return showPlan(g, p, *asJSON)
	}
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
	js := newJSONState(snap, cfg, only, *showSensitive)
	custody, err := apply.CustodyReport(target.localDir(), snap)
	if err != nil {
		writeDiags(g, g.streams.Err, nil, warnDiag("Cannot read the custody journal", err.Error()+"\nWhat show says about refreshes in flight may be incomplete."))
	}
	js.addCustody(custody)
	writeDiags(g, g.streams.Err, nil, behindDiags(target.path, snap))
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

// readPlanArg tells whether show's argument names a saved plan: a file
// that reads as one. Otherwise it is a connection name when it could be
// one (an identifier, as every connection name is), and else an error
// about the plan file it must be.
func readPlanArg(arg string) (*plan.Plan, hcl.Diagnostics, bool) {
	if arg == "" {
		return nil, nil, false
	}
	ident := hclsyntax.ValidIdentifier(arg)
	if fi, err := os.Stat(arg); ident && (err != nil || !fi.Mode().IsRegular()) {
		return nil, nil, false
	}
	p, err := plan.ReadFile(arg)
	switch {
	case err == nil:
		return p, nil, true
	case ident:
		return nil, nil, false
	}
	return nil, errDiag("Cannot show the plan file", fmt.Sprintf("%v\n\n%q is not a connection name either: those are identifiers (letters, digits, underscores and dashes).", err, arg)), true
}

// showPlan renders a saved plan with plan's own views.
func showPlan(g *globals, p *plan.Plan, asJSON bool) int {
	jp := newJSONPlan(p, nil)
	if asJSON {
		if err := writeJSON(g.streams.Out, jp); err != nil {
			return exitError
		}
		return exitOK
	}
	renderPlan(g.streams.Out, jp, newPalette(g.color()))
	return exitOK
}

// readState opens the target's state read-only and returns a snapshot
// and the state's name for messages (Store.Path).
func readState(ctx context.Context, g *globals, t *stateTarget) (*state.Snapshot, string, hcl.Diagnostics) {
	st, diags := t.open(ctx, g, state.Options{})
	if diags.HasErrors() {
		return nil, "", diags
	}
	defer st.Close()
	snap, err := st.Snapshot(ctx)
	if err != nil {
		return nil, "", g.stateErrDiags("Failed to read the state", err)
	}
	return snap, st.Path(), nil
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
