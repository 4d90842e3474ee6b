package command

import (
	"context"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/plan"
)

const statusHelp = `Usage: oauthform status [options]

Print one line per connection: healthy, expiring, idle (refresh token
unused for longer than keep_alive), failing (since when, next attempt),
needs_reconnect or not_connected. Offline: reads the configuration and
the state, sends nothing. For monitoring checks.

Exit status: 0 when every connection is healthy, 2 when one needs
attention, 1 on error.

Options:
  -json             Print one JSON document (docs/json-output.md).
  -state=PATH       Read this state file instead of the configured one.
  -var, -var-file   Variables, as for plan.
`

// statusArgs are the arguments of `oauthform status`.
type statusArgs struct {
	sf   stateFlags
	json bool
}

func parseStatusArgs(args []string) (*statusArgs, bool, hcl.Diagnostics) {
	a := &statusArgs{}
	fs := newFlagSet("status")
	a.sf.register(fs)
	fs.BoolVar(&a.json, "json", false, "")
	help, diags := parseFlags(fs, args, statusHelp)
	if !help && fs.NArg() > 0 {
		diags = append(diags, errDiag("Unexpected argument", "status takes no positional arguments.")...)
	}
	return a, help, diags
}

func runStatus(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parseStatusArgs(args)
	if code, done := g.parsed(statusHelp, help, diags); done {
		return code
	}
	target, cfg, snap, ok := locateAndRead(ctx, g, &a.sf, false)
	if !ok {
		return ExitError
	}
	g.view.Diagnostics(nil, behindDiags(target.path, snap))
	now := g.now()
	s := views.NewStatus(plan.Health(cfg, snap, now))
	if err := g.view.Status(s, now, a.json); err != nil {
		return ExitError
	}
	if !s.Healthy {
		return ExitChanges
	}
	return ExitOK
}
