package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

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

// showFlags are the flags of show and state show: where the state is,
// -json and -show-sensitive.
type showFlags struct {
	sf                  stateFlags
	json, showSensitive bool
}

func (s *showFlags) register(fs *flag.FlagSet) {
	s.sf.register(fs)
	fs.BoolVar(&s.json, "json", false, "")
	fs.BoolVar(&s.showSensitive, "show-sensitive", false, "")
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
		opts.Version, opts.Now = g.version, g.now
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
func (s *stateFlags) locate(g *globals) (*stateTarget, *config.Config, hcl.Diagnostics) {
	if s.path != "" {
		return &stateTarget{path: s.path}, nil, nil
	}
	cfg, diags := g.loadConfig(s.vars.inputs())
	if diags.HasErrors() {
		diags = append(diags, sourceless(hcl.DiagError, "Cannot find the state",
			"The configuration above has errors, so where its state is (state_path, backend) is unknown. Fix it, or name the state file with -state=PATH."))
		return nil, cfg, diags
	}
	if d := g.resolveKeys(cfg); d.HasErrors() {
		return nil, cfg, append(diags, d...)
	}
	t := &stateTarget{cfg: cfg}
	if !backend.IsPG(cfg) {
		t.path = backend.StatePath(cfg)
	}
	return t, cfg, diags
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

// encryptionErrDiags explains the errors of an encrypted state; nil for
// other errors.
func encryptionErrDiags(summary string, err error) hcl.Diagnostics {
	switch {
	case errors.Is(err, state.ErrWrongPassphrase):
		return errDiag(summary, err.Error()+".\n\nNothing was read or written. oauthform takes the passphrase from the configuration's "+
			"encryption block, or from "+passphraseEnv+" when there is none. If it was changed with \"oauthform state rekey\", give the new one.")
	case errors.Is(err, state.ErrEnforced):
		return errDiag(summary, err.Error()+".\n\nNothing was read or written. Give the state's key with a key provider in the configuration's "+
			"encryption block (passphrase, passphrase_command, keyring or key_file) or with "+passphraseEnv+"; see docs/keys.md.")
	case errors.Is(err, state.ErrSealed):
		return errDiag(summary, err.Error()+".\n\nThe state's tokens are sealed at rest, and this needs them. Give the passphrase with an "+
			"encryption block in the configuration or with "+passphraseEnv+" (plan and show work without it). "+
			"To stop encrypting the state, run \"oauthform state rekey -decrypt\" with the current passphrase.")
	}
	return nil
}

// readStateSensitive is readState for a command that prints the tokens
// when reveal is set: an encrypted state read without its passphrase holds
// only stand-ins, so it fails clearly instead of printing them.
func readStateSensitive(ctx context.Context, g *globals, t *stateTarget, reveal bool) (*state.Snapshot, hcl.Diagnostics) {
	snap, path, diags := readState(ctx, g, t)
	if diags.HasErrors() || !reveal {
		return snap, diags
	}
	for _, r := range snap.Records {
		if r.Sealed {
			return nil, errDiag("The tokens are sealed", fmt.Sprintf("The state %s is encrypted at rest and no passphrase was given, "+
				"so -show-sensitive cannot show its tokens. Give the passphrase with an encryption block in the configuration or with %s; "+
				"without -show-sensitive, show works without it.", path, passphraseEnv))
		}
	}
	return snap, diags
}

// locateAndRead finds the state sf names and reads it (readStateSensitive),
// printing what went wrong.
func locateAndRead(ctx context.Context, g *globals, sf *stateFlags, reveal bool) (*stateTarget, *config.Config, *state.Snapshot, bool) {
	target, cfg, diags := sf.locate(g)
	if g.failed(files(cfg), diags) {
		return nil, nil, nil, false
	}
	snap, diags := readStateSensitive(ctx, g, target, reveal)
	if g.failed(nil, diags) {
		return nil, nil, nil, false
	}
	return target, cfg, snap, true
}
