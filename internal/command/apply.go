package command

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/backend"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/grant"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/state"
)

const applyHelp = `Usage: oauthform apply [options] [PLANFILE]

Make the connections match the configuration: walk a person through each
grant that is needed (one at a time), refresh tokens about to expire,
update local settings and revoke what was removed. Without PLANFILE, plan
first and ask for confirmation; with PLANFILE (from "plan -out"), perform
exactly that plan, refusing it if the state moved on since.

Options:
  -auto-approve        Do not ask for confirmation.
  -parallelism=N       Run up to N refreshes, updates and disconnects at
                       once (default 10). Grants always run one at a time.
  -no-browser          Do not open a browser; only print each URL.
  -grant-timeout=D     Give up a grant when no callback arrives within D
                       (default 5m).
  -target=NAME         Apply only this connection (repeatable).
  -destroy             Disconnect every connection (as "oauthform destroy").
  -refresh-only        Only refresh (as "oauthform refresh").
  -var 'NAME=VALUE'    Set a variable (repeatable).
  -var-file=FILE       Read variables from an HCL file (repeatable).
  -lock-timeout=D      Wait up to D for the state lock (default 0s).

Ctrl-C ends a grant that waits for a person and lets the actions in flight
finish and be written; a second Ctrl-C stops at once.
`

const destroyHelp = `Usage: oauthform destroy [options]

Disconnect every connection in the state (or only -target ones): revoke
its tokens where the provider can, then forget them. Where the provider
cannot revoke remotely (Burner, PhoneBurner), oauthform says so: revoke the
app's access in the provider's settings.

Options:
  -auto-approve        Do not ask for confirmation.
  -parallelism=N       Disconnect up to N connections at once (default 10).
  -target=NAME         Disconnect only this connection (repeatable).
  -var, -var-file      Variables, as for plan.
  -lock-timeout=D      Wait up to D for the state lock (default 0s).
`

const refreshHelp = `Usage: oauthform refresh [options]

Refresh every token that "oauthform plan" would refresh. Never asks
anything and never opens a browser, so it can run from cron or CI. Exits 1
when a refresh failed or when a connection needs a person (its refresh
token was rejected, or it expired without one), listing them: run
"oauthform apply" for those.

Options:
  -parallelism=N       Run up to N refreshes (and checks) at once (default 10).
  -check               First ask each provider whether it still accepts the
                       grant (its check_url): a revoked one needs a person.
  -json                Print one JSON line per connection outcome instead of
                       the human output (docs/json-output.md).
  -watch=INTERVAL      Keep running: refresh what is due, respecting the
                       backoff of failing connections, then wait INTERVAL
                       and start again. SIGTERM or Ctrl-C lets the refreshes
                       in flight finish and be written, then exits 0.
  -target=NAME         Refresh only this connection (repeatable).
  -var, -var-file      Variables, as for plan.
  -lock-timeout=D      Wait up to D for the state lock (default 0s).
`

// opArgs are the options of apply, destroy and refresh.
type opArgs struct {
	command      string // apply, destroy, refresh
	planFile     string
	autoApprove  bool
	parallelism  int
	noBrowser    bool
	grantTimeout time.Duration
	lockTimeout  time.Duration
	targets      []string
	mode         plan.Mode
	vars         varFlags
	check        bool
	json         bool
	watch        time.Duration
}

func parseOpArgs(command string, args []string) (*opArgs, bool, hcl.Diagnostics) {
	a := &opArgs{command: command}
	help := map[string]string{"apply": applyHelp, "destroy": destroyHelp, "refresh": refreshHelp}[command]
	switch command {
	case "destroy":
		a.mode = plan.Destroy
	case "refresh":
		a.mode = plan.RefreshOnly
	}
	fs := newFlagSet(command)
	var targets multiFlag
	var lockTimeout string
	var destroy, refreshOnly bool
	fs.IntVar(&a.parallelism, "parallelism", 10, "")
	fs.Var(&targets, "target", "")
	fs.StringVar(&lockTimeout, "lock-timeout", "0s", "")
	a.vars.register(fs)
	if command == "refresh" {
		fs.BoolVar(&a.check, "check", false, "")
		fs.BoolVar(&a.json, "json", false, "")
		fs.DurationVar(&a.watch, "watch", 0, "")
	}
	if command != "refresh" {
		fs.BoolVar(&a.autoApprove, "auto-approve", false, "")
	}
	if command == "apply" {
		fs.BoolVar(&a.noBrowser, "no-browser", false, "")
		fs.DurationVar(&a.grantTimeout, "grant-timeout", 5*time.Minute, "")
		fs.BoolVar(&destroy, "destroy", false, "")
		fs.BoolVar(&refreshOnly, "refresh-only", false, "")
	}
	helpAsked, diags := parseFlags(fs, args, help)
	if helpAsked || diags.HasErrors() {
		return a, helpAsked, diags
	}
	rest := fs.Args()
	if command == "apply" && len(rest) > 0 {
		a.planFile, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		what := "no positional arguments"
		if command == "apply" {
			what = "at most one plan file"
		}
		diags = append(diags, errDiag("Unexpected argument", fmt.Sprintf("%s takes %s, got %q.", command, what, rest[0]))...)
	}
	switch {
	case destroy && refreshOnly:
		diags = append(diags, errDiag("Incompatible options", "-destroy and -refresh-only cannot be used together.")...)
	case destroy:
		a.mode = plan.Destroy
	case refreshOnly:
		a.mode = plan.RefreshOnly
	}
	if a.planFile != "" && (len(targets) > 0 || destroy || refreshOnly) {
		diags = append(diags, errDiag("Incompatible options", "A saved plan already fixes its targets and mode: -target, -destroy and -refresh-only cannot be used with a plan file.")...)
	}
	if a.parallelism < 1 {
		diags = append(diags, errDiag("Invalid -parallelism", fmt.Sprintf("-parallelism=%d: give a number of at least 1.", a.parallelism))...)
	}
	if a.watch < 0 || (a.watch > 0 && a.watch < 100*time.Millisecond) {
		diags = append(diags, errDiag("Invalid -watch", fmt.Sprintf("-watch=%s: give the interval between refresh rounds, such as 5m.", a.watch))...)
	}
	if a.grantTimeout < 0 {
		diags = append(diags, errDiag("Invalid -grant-timeout", "-grant-timeout must not be negative.")...)
	}
	a.targets = targets
	var d hcl.Diagnostics
	a.lockTimeout, d = parseLockTimeout(lockTimeout)
	diags = append(diags, d...)
	return a, false, diags
}

func runApply(ctx context.Context, g *globals, args []string) int {
	return runOperation(ctx, g, "apply", args)
}

func runDestroy(ctx context.Context, g *globals, args []string) int {
	return runOperation(ctx, g, "destroy", args)
}

func runRefresh(ctx context.Context, g *globals, args []string) int {
	return runOperation(ctx, g, "refresh", args)
}

// operation is one run of apply, destroy or refresh.
type operation struct {
	g    *globals
	a    *opArgs
	cfg  *config.Config
	st   state.Store
	stop chan struct{} // closed on the first interrupt
	// flights names the refreshes on the wire, for the interrupt messages.
	flights *apply.Flights
	// jsonOut, for refresh -json, is where the JSON lines go (the human
	// output is discarded).
	jsonOut io.Writer
	// before holds the records as the run found them, to tell which
	// connections it turned failing or needs_reconnect (on_failure).
	before map[string]*state.Record
}

// opHelp is the help of apply, destroy or refresh.
func opHelp(command string) string {
	switch command {
	case "destroy":
		return destroyHelp
	case "refresh":
		return refreshHelp
	}
	return applyHelp
}

func runOperation(ctx context.Context, g *globals, command string, args []string) int {
	a, help, diags := parseOpArgs(command, args)
	if code, done := g.parsed(opHelp(command), help, diags); done {
		return code
	}
	op := &operation{g: g, a: a, stop: make(chan struct{}), flights: &apply.Flights{}}
	if a.json {
		op.jsonOnly()
	}
	hard, done := op.handleInterrupts(ctx)
	defer done()
	if a.watch > 0 {
		return op.watch(hard)
	}
	return op.run(hard)
}

// handleInterrupts makes the first Ctrl-C (or the end of ctx) a graceful
// stop (op.stop) and the second a hard one (the returned context is
// cancelled). The returned func releases the signal handler and its
// goroutine.
func (op *operation) handleInterrupts(ctx context.Context) (context.Context, func()) {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		soft := ctx.Done()
		stopped, signals := false, 0
		first := func() {
			stopped, soft = true, nil
			close(op.stop)
			op.g.view.Interrupted(op.flights.Names())
		}
		for {
			select {
			case <-quit:
				return
			case <-soft:
				// ctx ends with the first signal (main's NotifyContext),
				// which sigs receives too: only signals are counted.
				first()
			case <-sigs:
				signals++
				if signals == 1 {
					if !stopped {
						first()
					}
					continue
				}
				op.g.view.Stopped(op.flights.Names())
				cancel()
				return
			}
		}
	}()
	return hard, func() {
		signal.Stop(sigs)
		close(quit)
		<-finished
		cancel()
	}
}

func (op *operation) run(ctx context.Context) int {
	g, a := op.g, op.a
	saved, diags := op.load()
	if diags.HasErrors() {
		return ExitError
	}
	st, sdiags := g.openConfigState(ctx, op.cfg, state.Options{LockTimeout: a.lockTimeout, Create: a.command == "apply"})
	if sdiags.HasErrors() {
		g.view.Diagnostics(files(op.cfg), append(diags, sdiags...))
		return ExitError
	}
	defer st.Close()
	op.st = st
	unlock, ok := op.lock(ctx)
	if !ok {
		return ExitError
	}
	defer unlock()
	snap, ok := op.snapshot(ctx)
	if !ok {
		return ExitError
	}
	op.before = snap.Records
	p, ok := op.plan(ctx, snap, saved, diags)
	if !ok {
		return ExitError
	}
	// The first write waits for what prepareWrite does, not the rest.
	defer op.prepareWrite(ctx, snap, p, saved)()
	if op.approved(saved) {
		// The dials are done while the plan prints.
		op.executor("").Preconnect(ctx, p)
	}
	if a.command != "refresh" {
		if op.approved(saved) && !p.Interactive() {
			// The work starts while the plan prints (a grant's
			// prompts would bypass the view, so not with grants).
			// The executor only reads p.
			printed := g.view.ApplyPlanBehind(func() *views.Plan { return views.NewPlan(p, nil, g.version) })
			defer printed()
		} else {
			g.view.ApplyPlan(views.NewPlan(p, nil, g.version))
		}
	}
	if p.Changes() && a.command != "refresh" && saved == nil && !a.autoApprove {
		if code, ok := op.confirm(ctx, p); !ok {
			return code
		}
	}
	if code, ok := sealPlanned(ctx, g, op.cfg, st, p); !ok {
		return code
	}
	lineage := snap.Lineage
	if lineage == "" && p.Changes() {
		var err error
		if lineage, err = st.Init(ctx); err != nil {
			g.view.Diagnostics(nil, g.stateErrDiags("Failed to create the state", err))
			return ExitError
		}
	}
	return op.execute(ctx, p, lineage)
}

// prepareWrite has the store do what its first write would do first (the
// local backend's backup of the state, state.WritePreparer) while the plan
// is printed, when the plan is approved already (-auto-approve, a saved
// plan, refresh) and changes an existing state without changing its
// encryption (sealPlanned does that, with its own backup). The store's
// first write waits for it; the returned func waits for it too, for the
// command to call before it returns. A failure is left to the first
// write, which does the same again and reports it.
func (op *operation) prepareWrite(ctx context.Context, snap *state.Snapshot, p *plan.Plan, saved *plan.Plan) (wait func()) {
	wp, ok := op.st.(state.WritePreparer)
	if !ok || !op.approved(saved) || !p.Changes() || snap.Lineage == "" || sealing(p) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = wp.PrepareWrite(ctx)
	}()
	return func() { <-done }
}

// approved reports whether the plan needs no confirmation: -auto-approve,
// a saved plan (saved), or refresh.
func (op *operation) approved(saved *plan.Plan) bool {
	return op.a.autoApprove || saved != nil || op.a.command == "refresh"
}

// sealing reports whether p changes how the state is sealed.
func sealing(p *plan.Plan) bool {
	for _, a := range p.Actions {
		for _, r := range a.Reasons {
			if r == plan.ReasonSeal || r == plan.ReasonReseal || r == plan.ReasonEnforce {
				return true
			}
		}
	}
	return false
}

// load loads the configuration (op.cfg) and the saved plan, if any,
// printing the errors.
func (op *operation) load() (*plan.Plan, hcl.Diagnostics) {
	g, a := op.g, op.a
	cfg, diags := g.loadStateConfig(a.vars.inputs())
	op.cfg = cfg
	if diags.HasErrors() {
		g.view.Diagnostics(files(cfg), diags)
		return nil, diags
	}
	if a.planFile == "" {
		return nil, diags
	}
	p, err := plan.ReadFile(a.planFile)
	if err != nil {
		d := wrapErr("Failed to read the saved plan", err)
		g.view.Diagnostics(nil, d)
		return nil, d
	}
	return p, diags
}

// lock takes the state lock for the operation; unlock releases it.
func (op *operation) lock(ctx context.Context) (unlock func(), ok bool) {
	g, st := op.g, op.st
	_, err := st.Lock(ctx, op.a.command)
	if err == nil {
		return func() { _ = st.Unlock(context.WithoutCancel(ctx)) }, true
	}
	var le *state.LockError
	switch {
	case errors.Is(err, state.ErrNoState):
		// destroy or refresh with no state: nothing to do, nothing to lock.
	case op.a.command == "refresh" && errors.As(err, &le):
		// A refresh touches only tokens, each under its connection's
		// lock: it need not wait for an apply that waits on a person.
		g.view.Diagnostics(nil, warnDiag("Refreshing beside another operation",
			le.Error()+". refresh goes on without the state lock: each connection is refreshed under its own lock, "+
				"so a connection that operation is working on is waited for, never refreshed twice."))
	default:
		g.view.Diagnostics(nil, g.stateErrDiags("Error acquiring the state lock", err))
		return nil, false
	}
	return func() {}, true
}

// snapshot reads the state to plan from: after the answers kept outside
// it are written, and refusing an encrypted state without its passphrase.
func (op *operation) snapshot(ctx context.Context) (*state.Snapshot, bool) {
	g, cfg, st := op.g, op.cfg, op.st
	// The custody journal is read while the state is.
	report := apply.StartCustodyReport(backend.LocalDir(cfg))
	snap, err := st.Snapshot(ctx)
	if err != nil {
		g.view.Diagnostics(nil, g.stateErrDiags("Failed to read the state", err))
		return nil, false
	}
	if !backend.IsPG(cfg) {
		g.view.Diagnostics(nil, behindDiags(backend.StatePath(cfg), snap))
	}
	// Answers kept outside the state are newer than it: write them first,
	// then plan from the state they make.
	if changed, cdiags := g.applyPending(ctx, st, backend.LocalDir(cfg), snap, report); changed || len(cdiags) > 0 {
		g.view.Diagnostics(nil, cdiags)
		if snap, err = st.Snapshot(ctx); err != nil {
			g.view.Diagnostics(nil, g.stateErrDiags("Failed to read the state", err))
			return nil, false
		}
	}
	if snap.Encrypted {
		for _, rec := range snap.Records {
			if rec.Sealed {
				// Refuse before a grant is made whose tokens could not be
				// stored.
				g.view.Diagnostics(nil, sealedStateDiags(op.a.command, snap.Enforced))
				return nil, false
			}
		}
	}
	return snap, true
}

// plan checks the saved plan against the state, or plans anew.
func (op *operation) plan(ctx context.Context, snap *state.Snapshot, saved *plan.Plan, diags hcl.Diagnostics) (*plan.Plan, bool) {
	g, a, cfg := op.g, op.a, op.cfg
	p := saved
	if p != nil {
		if d := plan.CheckSaved(p, snap, plan.Digest(cfg, p.Lineage)); d != nil {
			g.view.Diagnostics(nil, hcl.Diagnostics{d})
			return nil, false
		}
	} else {
		var pdiags hcl.Diagnostics
		opts := plan.Options{Mode: a.mode, Targets: a.targets, Encrypt: !backend.Passphrase(cfg).IsZero(), Enforce: backend.Enforced(cfg)}
		if a.check {
			opts.Checks, pdiags = g.checkGrants(ctx, cfg, snap, a.targets, a.parallelism)
			diags = append(diags, pdiags...)
		}
		p, pdiags = plan.Diff(cfg, snap, g.now(), opts)
		diags = append(diags, pdiags...)
		if diags.HasErrors() {
			g.view.Diagnostics(files(cfg), diags)
			return nil, false
		}
	}
	g.view.Diagnostics(files(cfg), diags)
	return p, true
}

// executor is the Executor of op's actions on the state of lineage.
func (op *operation) executor(lineage string) *apply.Executor {
	g, a, cfg := op.g, op.a, op.cfg
	return &apply.Executor{
		Store: op.st, Config: cfg, Lineage: lineage, EmergencyDir: backend.EmergencyDir(cfg),
		Granter:     &cliGranter{g: g, a: a},
		NewClient:   func(app *config.App) (*providers.Client, error) { return newClient(g, cfg, app) },
		Parallelism: a.parallelism, Now: g.now, Stop: op.stop,
		Flights: op.flights,
		// A watch keeps its connections for the next round.
		CloseIdle: a.watch == 0,
	}
}

// execute performs p's actions and reports them.
func (op *operation) execute(ctx context.Context, p *plan.Plan, lineage string) int {
	g, a := op.g, op.a
	prog := g.view.NewProgress(p)
	ex := op.executor(lineage)
	ex.Done = prog.Done
	if p.Changes() && a.command != "refresh" {
		g.view.ApplyStart()
	}
	outcomes := ex.Run(ctx, p)
	prog.Finish()
	alerts := op.alertFailures(ctx, outcomes)
	if op.jsonOut != nil {
		if err := views.RefreshEvents(op.jsonOut, op.refreshEvents(ctx, p, outcomes, alerts)); err != nil {
			return ExitError
		}
	}
	// The disconnected connections are forgotten: cleared from the file
	// and the backup too, once for all of them.
	purgeForgotten(ctx, g, op.st)
	if !p.Changes() {
		prog.NoteNothing(a.command)
	}
	return op.report(p, outcomes, prog)
}

// confirm asks the person to approve the plan. It returns ok=false with
// the exit status when the apply must not go on.
func (op *operation) confirm(ctx context.Context, p *plan.Plan) (int, bool) {
	g, a := op.g, op.a
	if !g.streams.InTerminal {
		g.view.Diagnostics(nil, errDiag("No terminal to confirm on",
			fmt.Sprintf("oauthform %s asks for confirmation before changing anything, and standard input is not a terminal. "+
				"Run \"oauthform %s -auto-approve\" to go ahead without asking, or save a plan with \"oauthform plan -out=FILE\" and run \"oauthform apply FILE\".",
				a.command, a.command)))
		return ExitError, false
	}
	question := "Do you want to perform these actions?\n  oauthform will perform the actions described above."
	if p.Mode == plan.Destroy {
		question = "Do you really want to disconnect these connections?\n  oauthform will revoke their tokens where the provider can and forget them. There is no undo."
	}
	g.view.Confirm(question)
	answer, err := readLine(ctx, g.streams.In)
	g.view.Confirmed()
	if err != nil || strings.TrimSpace(answer) != "yes" {
		verb := "Apply"
		if a.command == "destroy" {
			verb = "Destroy"
		}
		g.view.Cancelled(verb)
		return ExitError, false
	}
	return 0, true
}

// readLine reads one line from r, giving up when ctx ends. The reading
// goroutine ends with the read; on a terminal that is the next Enter, and
// the process exits soon after a cancellation anyway.
func readLine(ctx context.Context, r io.Reader) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err == io.EOF && line != "" {
			err = nil
		}
		ch <- result{line, err}
	}()
	select {
	case res := <-ch:
		return res.line, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// report prints the failures and the closing summary, and returns the
// exit status.
func (op *operation) report(p *plan.Plan, outcomes []apply.Outcome, prog *views.Progress) int {
	g := op.g
	r := &views.ApplyResult{Command: op.a.command, Done: map[plan.Kind]int{}}
	for _, o := range outcomes {
		if o.Err != nil {
			r.Failed = append(r.Failed, o.Action.Conn)
			if errors.Is(o.Err, apply.ErrNeedsPerson) {
				r.Person = append(r.Person, fmt.Sprintf("%s: %v", o.Action.Conn, o.Err))
			}
			if op.a.command == "refresh" && errors.Is(o.Err, apply.ErrNeedsPerson) {
				continue // listed below, with what to do
			}
			g.view.Diagnostics(nil, errDiag(fmt.Sprintf("Failed to %s %s", o.Action.Kind, o.Action.Conn), o.Err.Error()))
			continue
		}
		r.Done[o.Action.Kind]++
	}
	g.view.Diagnostics(nil, revokeNotes(outcomes))
	for _, a := range p.Blocked {
		r.Person = append(r.Person, fmt.Sprintf("%s: %s", a.Conn, views.ReasonsText(views.NewChange(a).Reasons)))
	}
	g.view.ApplySummary(r, prog)
	if (op.a.command == "refresh" && len(r.Person) > 0) || len(r.Failed) > 0 {
		return ExitError
	}
	return ExitOK
}

// revokeNotes warns about the connections forgotten without being
// revoked. What happened, not what the plan expected: a discovered
// revocation endpoint revokes although the plan could not know.
func revokeNotes(outcomes []apply.Outcome) hcl.Diagnostics {
	var notes []string
	for _, o := range outcomes {
		if o.Err == nil && o.Action.Kind == plan.Disconnect && !o.Revoked && o.Action.Before != nil {
			notes = append(notes, fmt.Sprintf("%s (%s)", o.Action.Conn, o.Action.Before.Provider))
		}
	}
	if len(notes) == 0 {
		return nil
	}
	return warnDiag("Revoke these at the provider",
		"oauthform forgot these connections, but their tokens were not revoked (the provider cannot revoke remotely, or no declared app could). "+
			"Revoke the app's access in each provider's settings:\n\n  "+strings.Join(notes, "\n  "))
}

// cliGranter runs each grant (authorization code or device) with
// internal/grant on the person's terminal and browser; grants of an
// in-process emulator are approved by an in-process browser, so the
// quickstart needs nobody at the keyboard.
type cliGranter struct {
	g *globals
	a *opArgs
	// r is one Runner for the whole apply: a read of standard input left
	// waiting by one grant's paste prompt is taken over by the next.
	r *grant.Runner
}

func (c *cliGranter) Grant(ctx context.Context, req apply.GrantRequest) (*providers.Token, error) {
	if c.r == nil {
		c.r = &grant.Runner{
			Out: c.g.streams.Out, In: c.g.streams.In, Timeout: c.a.grantTimeout,
			Logger: c.g.log.Named("grant"),
		}
	}
	switch {
	case req.Client.Profile.Emulator:
		c.r.Browser = emulatorBrowser{emulator.Browser{Approve: true}}
	case c.a.noBrowser:
		c.r.Browser = nil
	default:
		c.r.Browser = grant.SystemBrowser(os.Getenv)
	}
	return c.r.Grant(ctx, req)
}

// sealPlanned carries out the seal a plan shows (encryption configured on
// a state that holds plain tokens) before the other actions: every record
// in one transaction, then the file and its backup rewritten so that no
// plain copy is left (state.Rekeyer). The seal is all or nothing.
func sealPlanned(ctx context.Context, g *globals, cfg *config.Config, st state.Store, p *plan.Plan) (int, bool) {
	seal, reseal := false, false
	for _, a := range p.Actions {
		seal = seal || slices.Contains(a.Reasons, plan.ReasonSeal)
		reseal = reseal || slices.Contains(a.Reasons, plan.ReasonReseal) || slices.Contains(a.Reasons, plan.ReasonEnforce) // keys.go
	}
	if reseal {
		return resealPlanned(ctx, g, cfg, st)
	}
	if !seal {
		return 0, true
	}
	res, err := state.Rekey(ctx, st, backend.Passphrase(cfg))
	switch {
	case errors.Is(err, state.ErrCannotRekey):
		g.view.Diagnostics(nil, errDiag("Cannot seal the state", "This state backend cannot turn encryption at rest on."))
		return ExitError, false
	case err != nil:
		g.view.Diagnostics(nil, g.stateErrDiags("Failed to seal the state", err))
		return ExitError, false
	}
	g.view.Sealed(res.Records)
	return 0, true
}
