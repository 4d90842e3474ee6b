package command

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/command/views"
)

const stateShowHelp = `Usage: oauthform state show [options] CONNECTION

Show one connection as the state records it. Tokens are shown as
(sensitive) unless -show-sensitive.

Options:
  -json             Print the connection as JSON (docs/json-output.md).
  -show-sensitive   Print the tokens themselves. Think before you do.
  -state=PATH       Use this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

// stateShowArgs are the arguments of `oauthform state show`.
type stateShowArgs struct {
	showFlags
	name string
}

func parseStateShowArgs(args []string) (*stateShowArgs, bool, hcl.Diagnostics) {
	a := &stateShowArgs{}
	fs := newFlagSet("state show")
	a.showFlags.register(fs)
	help, diags := parseFlags(fs, args, stateShowHelp)
	if !help && fs.NArg() != 1 {
		diags = append(diags, errDiag("Invalid command line", "state show needs exactly one connection name, e.g. oauthform state show sms_main")...)
	}
	a.name = fs.Arg(0)
	return a, help, diags
}

func runStateShow(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStateShowArgs(args)
	if code, done := g.parsed(stateShowHelp, help, diags); done {
		return code
	}
	target, cfg, snap, ok := locateAndRead(ctx, g, &a.sf, a.showSensitive)
	if !ok {
		return ExitError
	}
	rec, ok := snap.Records[a.name]
	if !ok {
		g.view.Diagnostics(nil, noSuchConnection(a.name, snap, nil))
		return ExitError
	}
	declared := false
	if cfg != nil {
		_, declared = cfg.Connections[a.name]
	}
	jc := views.NewConnection(rec, declared, a.showSensitive)
	c, err := apply.CustodyOf(target.localDir(), rec)
	if err != nil {
		g.view.Diagnostics(nil, warnDiag("Cannot read the custody journal", err.Error()))
	}
	if c != nil {
		jc.Custody = &views.Custody{State: c.State, Detail: c.Detail, File: c.File}
	}
	g.view.StateShow(jc, g.now(), a.json)
	return ExitOK
}
