package command

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/plan"
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

// showArgs are the arguments of `oauthform show`.
type showArgs struct {
	showFlags
	only string // a connection or a plan file
}

func parseShowArgs(args []string) (*showArgs, bool, hcl.Diagnostics) {
	a := &showArgs{}
	fs := newFlagSet("show")
	a.showFlags.register(fs)
	help, diags := parseFlags(fs, args, showHelp)
	if !help && fs.NArg() > 1 {
		diags = append(diags, errDiag("Too many arguments", "show takes at most one connection name.")...)
	}
	a.only = fs.Arg(0)
	return a, help, diags
}

func runShow(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseShowArgs(args)
	if code, done := g.parsed(showHelp, help, diags); done {
		return code
	}
	if p, diags, ok := readPlanArg(a.only); ok {
		if g.failed(nil, diags) {
			return ExitError
		}
		if err := g.view.SavedPlan(views.NewPlan(p, nil, g.version), a.json); err != nil {
			return ExitError
		}
		return ExitOK
	}
	target, cfg, snap, ok := locateAndRead(ctx, g, &a.sf, a.showSensitive)
	if !ok {
		return ExitError
	}
	js := views.NewState(snap, cfg, a.only, a.showSensitive, g.version)
	custody, err := apply.CustodyReport(target.localDir(), snap)
	if err != nil {
		g.view.Diagnostics(nil, warnDiag("Cannot read the custody journal", err.Error()+"\nWhat show says about refreshes in flight may be incomplete."))
	}
	js.AddCustody(custody)
	g.view.Diagnostics(nil, behindDiags(target.path, snap))
	if a.only != "" && len(js.Connections) == 0 {
		g.view.Diagnostics(nil, noSuchConnection(a.only, snap, cfg))
		return ExitError
	}
	if err := g.view.Show(js, a.only != "", g.now(), a.json); err != nil {
		return ExitError
	}
	return ExitOK
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
