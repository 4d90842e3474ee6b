package command

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
)

const initHelp = `Usage: oauthform init [options]

Check the configuration, create the state (.oauthform/state.db, mode 0600)
if it does not exist, and add the state folder to .gitignore: tokens never
belong in git. (The .oauthform folder also ignores itself, with a .gitignore
of its own holding "*", so a state that apply created without init is not
committed either.) With a backend "pg" block, create the state (its schema
and tables) in PostgreSQL instead. Safe to run again.

Options:
  -var 'NAME=VALUE'  Set a variable (repeatable).
  -var-file=FILE     Read variables from an HCL file (repeatable).
`

// initArgs are the arguments of `oauthform init`.
type initArgs struct {
	vars varFlags
}

func parseInitArgs(args []string) (*initArgs, bool, hcl.Diagnostics) {
	a := &initArgs{}
	fs := newFlagSet("init")
	a.vars.register(fs)
	help, diags := parseFlags(fs, args, initHelp)
	return a, help, diags
}

func runInit(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseInitArgs(args)
	if code, done := g.parsed(initHelp, help, diags); done {
		return code
	}
	cfg, diags := g.loadStateConfig(a.vars.inputs())
	g.view.Diagnostics(files(cfg), diags)
	if diags.HasErrors() {
		g.view.InitStopped()
		return ExitError
	}
	if backend.IsPG(cfg) {
		return initPG(ctx, g, cfg)
	}
	path := backend.StatePath(cfg)
	_, statErr := os.Stat(path)
	res := views.InitResult{Path: path, Existed: statErr == nil}
	st, diags := g.openConfigState(ctx, cfg, state.Options{Create: true})
	if g.failed(nil, diags) {
		return ExitError
	}
	defer st.Close()
	lineage, err := st.Init(ctx)
	if err != nil {
		g.view.Diagnostics(nil, g.stateErrDiags("Failed to create the state", err))
		return ExitError
	}
	res.Lineage = lineage
	res.GitignoreEntry, res.GitignoreAdded, err = ensureGitignore(cfg.Dir, path)
	if err != nil {
		g.view.InitLocal(res, false)
		g.view.Diagnostics(nil, wrapErr("Failed to update .gitignore", fmt.Errorf("%w; add the state folder to it by hand so tokens never reach git", err)))
		return ExitError
	}
	g.view.InitLocal(res, true)
	return ExitOK
}

// initPG is init for a backend "pg" state: it creates the schema and the
// state in PostgreSQL if they do not exist. Nothing is stored locally, so
// .gitignore is left alone.
func initPG(ctx context.Context, g *globals, cfg *config.Config) int {
	// Opened without Create, which would create the state at once: the
	// read tells whether it existed, and Init creates it.
	st, diags := g.openConfigState(ctx, cfg, state.Options{})
	if g.failed(nil, diags) {
		return ExitError
	}
	defer st.Close()
	snap, err := st.Snapshot(ctx)
	if err != nil {
		g.view.Diagnostics(nil, g.stateErrDiags("Failed to read the state", err))
		return ExitError
	}
	lineage, err := st.Init(ctx)
	if err != nil {
		g.view.Diagnostics(nil, g.stateErrDiags("Failed to create the state", err))
		return ExitError
	}
	g.view.InitPG(st.Path(), lineage, !snap.Empty(), len(snap.Records))
	return ExitOK
}

// ensureGitignore makes sure dir/.gitignore ignores the folder holding the
// state. It returns the entry and whether it was added. A state outside dir
// needs no entry ("" returned).
func ensureGitignore(dir, statePath string) (entry string, added bool, err error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", false, err
	}
	absState, err := filepath.Abs(statePath)
	if err != nil {
		return "", false, err
	}
	rel, err := filepath.Rel(absDir, filepath.Dir(absState))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false, nil
	}
	if rel == "." {
		entry = filepath.Base(absState) + "*" // state.db, .backup, .lock
	} else {
		entry = filepath.ToSlash(rel) + "/"
	}
	gi := filepath.Join(dir, ".gitignore")
	data, err := os.ReadFile(gi)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return entry, false, fmt.Errorf("reading %s: %w", gi, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		if l == entry || l == "/"+entry || strings.TrimSuffix(l, "/") == strings.TrimSuffix(entry, "/") {
			return entry, false, nil
		}
	}
	var b strings.Builder
	b.Write(data)
	if len(data) > 0 && !strings.HasSuffix(string(data), "\n") {
		b.WriteByte('\n')
	}
	b.WriteString("# oauthform state: holds OAuth tokens, never commit it\n" + entry + "\n")
	if err := os.WriteFile(gi, []byte(b.String()), 0o644); err != nil {
		return entry, false, fmt.Errorf("writing %s: %w", gi, err)
	}
	return entry, true, nil
}
