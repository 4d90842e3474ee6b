package command

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/state"
)

const planHelp = `Usage: oauthform plan [options]

Show what apply would do: which connections need a grant, a refresh, a
reconnect, an update or a disconnect. Writes nothing to the state.

Options:
  -out=FILE            Save the plan to FILE for "oauthform apply FILE".
  -json                Print the plan as one JSON document (docs/json-output.md).
  -detailed-exitcode   Exit 0 with no changes, 1 on error, 2 with changes.
  -target=NAME         Plan only this connection (repeatable).
  -destroy             Plan disconnecting every connection in the state.
  -refresh-only        Plan only token refreshes.
  -check               Ask each provider whether it still accepts the grant
                       (its check_url, with the access token): one request
                       per connected connection. Without -check, plan
                       sends nothing.
  -parallelism=N       Run up to N checks at once (default 10).
  -var 'NAME=VALUE'    Set a variable (repeatable).
  -var-file=FILE       Read variables from an HCL file (repeatable).
  -lock=false          Do not take the state lock while reading.
  -lock-timeout=D      Wait up to D for the state lock (default 0s).
`

type planArgs struct {
	out              string
	json             bool
	detailedExitcode bool
	targets          []string
	mode             plan.Mode
	vars             varFlags
	lock             bool
	lockTimeout      time.Duration
	check            bool
	parallelism      int
}

func parsePlanArgs(args []string) (*planArgs, bool, hcl.Diagnostics) {
	a := &planArgs{lock: true}
	fs := newFlagSet("plan")
	var targets multiFlag
	var lockTimeout string
	var destroy, refreshOnly bool
	fs.StringVar(&a.out, "out", "", "")
	fs.BoolVar(&a.json, "json", false, "")
	fs.BoolVar(&a.detailedExitcode, "detailed-exitcode", false, "")
	fs.Var(&targets, "target", "")
	fs.BoolVar(&destroy, "destroy", false, "")
	fs.BoolVar(&refreshOnly, "refresh-only", false, "")
	fs.BoolVar(&a.check, "check", false, "")
	fs.IntVar(&a.parallelism, "parallelism", 10, "")
	fs.BoolVar(&a.lock, "lock", true, "")
	fs.StringVar(&lockTimeout, "lock-timeout", "0s", "")
	a.vars.register(fs)
	help, diags := parseFlags(fs, args, planHelp)
	if help || diags.HasErrors() {
		return a, help, diags
	}
	if fs.NArg() > 0 {
		diags = append(diags, errDiag("Unexpected argument", fmt.Sprintf("plan takes no positional arguments, got %q. To plan one connection use -target=%s.", fs.Arg(0), fs.Arg(0)))...)
	}
	if a.parallelism < 1 {
		diags = append(diags, errDiag("Invalid -parallelism", fmt.Sprintf("-parallelism=%d: give a number of at least 1.", a.parallelism))...)
	}
	if destroy && refreshOnly {
		diags = append(diags, errDiag("Incompatible options", "-destroy and -refresh-only cannot be used together.")...)
	}
	switch {
	case destroy:
		a.mode = plan.Destroy
	case refreshOnly:
		a.mode = plan.RefreshOnly
	}
	a.targets = targets
	var d hcl.Diagnostics
	a.lockTimeout, d = parseLockTimeout(lockTimeout)
	diags = append(diags, d...)
	return a, false, diags
}

func runPlan(ctx context.Context, g *globals, args []string) int {
	a, help, diags := parsePlanArgs(args)
	if help {
		g.view.Help(planHelp)
		return ExitOK
	}
	if diags.HasErrors() {
		return planFailed(g, a, nil, diags)
	}
	p, cfg, diags := makePlan(ctx, g, a)
	if diags.HasErrors() {
		return planFailed(g, a, cfg, diags)
	}
	g.log.Debug("plan computed", "actions", len(p.Actions), "serial", p.Serial)
	if a.out != "" {
		if err := plan.WriteFile(a.out, p); err != nil {
			return planFailed(g, a, cfg, append(diags, wrapErr("Failed to save the plan", err)...))
		}
	}
	if err := g.view.Plan(views.NewPlan(p, diags, g.version), files(cfg), diags, a.json, a.out); err != nil {
		return ExitError
	}
	if a.detailedExitcode && p.Changes() {
		return ExitChanges
	}
	return ExitOK
}

// makePlan loads the configuration, reads the state and plans, with the
// warnings about what the state alone does not say.
func makePlan(ctx context.Context, g *globals, a *planArgs) (*plan.Plan, *config.Config, hcl.Diagnostics) {
	cfg, diags := g.loadStateConfig(a.vars.inputs())
	if diags.HasErrors() {
		return nil, cfg, diags
	}
	st, sdiags := g.openConfigState(ctx, cfg, state.Options{LockTimeout: a.lockTimeout})
	diags = append(diags, sdiags...)
	if diags.HasErrors() {
		return nil, cfg, diags
	}
	defer st.Close()
	// The custody journal is read while the state is.
	custody := apply.StartCustodyReport(backend.LocalDir(cfg))
	snap, sdiags := g.readSnapshot(ctx, st, "plan", a.lock, a.lockTimeout > 0)
	diags = append(diags, sdiags...)
	if diags.HasErrors() {
		return nil, cfg, diags
	}
	opts := plan.Options{Mode: a.mode, Targets: a.targets, Encrypt: !backend.Passphrase(cfg).IsZero(), Enforce: backend.Enforced(cfg)}
	if a.check {
		var cdiags hcl.Diagnostics
		opts.Checks, cdiags = g.checkGrants(ctx, cfg, snap, a.targets, a.parallelism)
		diags = append(diags, cdiags...)
	}
	p, pdiags := plan.Diff(cfg, snap, g.now(), opts)
	diags = append(diags, pdiags...)
	if diags.HasErrors() {
		return nil, cfg, diags
	}
	diags = append(diags, custodyDiags(custody(snap))...)
	if snap.Enforced && backend.Passphrase(cfg).IsZero() {
		diags = append(diags, warnDiag("The state enforces encryption, the configuration gives no key", state.ErrEnforced.Error()+
			". apply, refresh and token refuse until its key is given in the configuration's encryption block or with "+passphraseEnv+"; see docs/keys.md.")...)
	} else if snap.Encrypted && backend.Passphrase(cfg).IsZero() {
		diags = append(diags, warnDiag("The state is encrypted, the configuration is not",
			fmt.Sprintf("The state's tokens are sealed at rest, but no encryption is configured (no encryption block, no %s): "+
				"apply, refresh and token will refuse until the passphrase is given. To keep tokens unencrypted on purpose, "+
				"run \"oauthform state rekey -decrypt\" once with the passphrase.", passphraseEnv))...)
	}
	if !backend.IsPG(cfg) {
		diags = append(diags, behindDiags(backend.StatePath(cfg), snap)...)
	}
	return p, cfg, diags
}

// planFailed renders diagnostics in the output format the user chose and
// returns the error status.
func planFailed(g *globals, a *planArgs, cfg *config.Config, diags hcl.Diagnostics) int {
	g.view.PlanFailed(files(cfg), diags, a != nil && a.json)
	return ExitError
}
