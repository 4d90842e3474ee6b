package command

import (
	"context"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"
)

const stateListHelp = `Usage: oauthform state list [options]

List the names of the connections in the state, one a line, sorted.

Options:
  -state=PATH       Use this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

// stateListArgs are the arguments of `oauthform state list`.
type stateListArgs struct {
	sf stateFlags
}

func parseStateListArgs(args []string) (*stateListArgs, bool, hcl.Diagnostics) {
	a := &stateListArgs{}
	fs := newFlagSet("state list")
	a.sf.register(fs)
	help, diags := parseFlags(fs, args, stateListHelp)
	return a, help, diags
}

func runStateList(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStateListArgs(args)
	if code, done := g.parsed(stateListHelp, help, diags); done {
		return code
	}
	_, _, snap, ok := locateAndRead(ctx, g, &a.sf, false)
	if !ok {
		return ExitError
	}
	g.view.StateList(slices.Collect(maps.Keys(snap.Records)))
	return ExitOK
}
