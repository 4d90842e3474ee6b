package command

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// checkGrants calls the check_url of the connected connections (plan
// -check, refresh -check), at most parallelism at once, and returns what
// they answered for plan.Options.Checks. A check that cannot tell (the
// provider is down) is a warning; connections left out (expired tokens,
// which the refresh renews; providers without check_url) are said in the
// debug log.
func (g *globals) checkGrants(ctx context.Context, cfg *config.Config, snap *state.Snapshot, targets []string, parallelism int) (map[string]plan.Check, hcl.Diagnostics) {
	c := &apply.Checker{
		Config:      cfg,
		NewClient:   func(app *config.App) (*providers.Client, error) { return newClient(g, cfg, app) },
		Parallelism: parallelism,
	}
	checks := map[string]plan.Check{}
	var diags hcl.Diagnostics
	for _, o := range c.Check(ctx, snap, targets, g.now()) {
		switch {
		case o.Skipped != "":
			g.log.Debug("check skipped", "connection", o.Conn, "why", o.Skipped)
		case o.Err != nil:
			diags = append(diags, warnDiag("Cannot check "+o.Conn,
				fmt.Sprintf("The check of connection %s against its provider could not tell whether the grant is still accepted: %v", o.Conn, o.Err))...)
		default:
			g.log.Debug("checked", "connection", o.Conn, "status", o.Check.Status, "revoked", o.Check.Revoked)
			checks[o.Conn] = o.Check
		}
	}
	return checks, diags
}
