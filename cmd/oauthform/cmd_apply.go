package main

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
  -parallelism=N       Run up to N refreshes at once (default 10).
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
}

func runOperation(ctx context.Context, g *globals, command string, args []string) int {
	a, help, diags := parseOpArgs(command, args)
	if help {
		fmt.Fprint(g.streams.Out, map[string]string{"apply": applyHelp, "destroy": destroyHelp, "refresh": refreshHelp}[command])
		return exitOK
	}
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, nil, diags)
		return exitError
	}
	op := &operation{g: g, a: a, stop: make(chan struct{}), flights: &apply.Flights{}}
	hard, done := op.handleInterrupts(ctx)
	defer done()
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
			fmt.Fprintln(op.g.streams.Err, "\nInterrupt received. Finishing the actions in flight and writing the state; press Ctrl-C again to stop at once.")
			if names := op.flights.Names(); len(names) > 0 {
				fmt.Fprintf(op.g.streams.Err, "Waiting for the provider's answer to the refresh of %s: its refresh token is single-use, so the answer must be stored.\n",
					strings.Join(names, ", "))
			}
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
				fmt.Fprintln(op.g.streams.Err, "Two interrupts received. Stopping now; everything finished so far is in the state.")
				if names := op.flights.Names(); len(names) > 0 {
					fmt.Fprintf(op.g.streams.Err, "Abandoned the refresh of %s: the provider may have rotated its refresh token, so its login may be lost; "+
						"the next refresh tries the old token once and says so.\n", strings.Join(names, ", "))
				}
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
	cfg, diags := loadConfig(a.vars.inputs())
	op.cfg = cfg
	if diags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), diags)
		return exitError
	}
	var saved *plan.Plan
	if a.planFile != "" {
		p, err := plan.ReadFile(a.planFile)
		if err != nil {
			writeDiags(g, g.streams.Err, nil, wrapErr("Failed to read the saved plan", err))
			return exitError
		}
		saved = p
	}
	st, sdiags := g.openConfigState(ctx, cfg, state.Options{LockTimeout: a.lockTimeout, Create: a.command == "apply"})
	if sdiags.HasErrors() {
		writeDiags(g, g.streams.Err, files(cfg), append(diags, sdiags...))
		return exitError
	}
	defer st.Close()
	op.st = st
	if _, err := st.Lock(ctx, a.command); err != nil {
		var le *state.LockError
		switch {
		case errors.Is(err, state.ErrNoState):
			// destroy or refresh with no state: nothing to do, nothing to lock.
		case a.command == "refresh" && errors.As(err, &le):
			// A refresh touches only tokens, each under its connection's
			// lock: it need not wait for an apply that waits on a person.
			writeDiags(g, g.streams.Err, nil, warnDiag("Refreshing beside another operation",
				le.Error()+". refresh goes on without the state lock: each connection is refreshed under its own lock, "+
					"so a connection that operation is working on is waited for, never refreshed twice."))
		default:
			writeDiags(g, g.streams.Err, nil, g.stateErrDiags("Error acquiring the state lock", err))
			return exitError
		}
	} else {
		defer func() { _ = st.Unlock(context.WithoutCancel(ctx)) }()
	}
	snap, err := st.Snapshot(ctx)
	if err != nil {
		writeDiags(g, g.streams.Err, nil, g.stateErrDiags("Failed to read the state", err))
		return exitError
	}
	if !backend.IsPG(cfg) {
		writeDiags(g, g.streams.Err, nil, behindDiags(backend.StatePath(cfg), snap))
	}
	// Answers kept outside the state are newer than it: write them first,
	// then plan from the state they make.
	if changed, cdiags := applyPending(ctx, st, backend.LocalDir(cfg), snap); changed || len(cdiags) > 0 {
		writeDiags(g, g.streams.Err, nil, cdiags)
		if snap, err = st.Snapshot(ctx); err != nil {
			writeDiags(g, g.streams.Err, nil, g.stateErrDiags("Failed to read the state", err))
			return exitError
		}
	}
	if snap.Encrypted {
		for _, rec := range snap.Records {
			if rec.Sealed {
				// Refuse before a grant is made whose tokens could not be
				// stored.
				writeDiags(g, g.streams.Err, nil, errDiag("The state is encrypted",
					fmt.Sprintf("oauthform %s needs the state's passphrase to read and write tokens. Give it with an encryption block in the configuration or with %s; "+
						"to keep tokens unencrypted on purpose, decrypt the state once with \"oauthform state rekey -decrypt\" (it asks for the passphrase).",
						a.command, passphraseEnv)))
				return exitError
			}
		}
	}
	p := saved
	if p != nil {
		if d := plan.CheckSaved(p, snap, plan.Digest(cfg, p.Lineage)); d != nil {
			writeDiags(g, g.streams.Err, nil, hcl.Diagnostics{d})
			return exitError
		}
	} else {
		var pdiags hcl.Diagnostics
		p, pdiags = plan.Diff(cfg, snap, clock(), plan.Options{Mode: a.mode, Targets: a.targets, Encrypt: !backend.Passphrase(cfg).IsZero()})
		diags = append(diags, pdiags...)
		if diags.HasErrors() {
			writeDiags(g, g.streams.Err, files(cfg), diags)
			return exitError
		}
	}
	writeDiags(g, g.streams.Err, files(cfg), diags)
	out := g.streams.Out
	if a.command != "refresh" {
		renderPlan(out, newJSONPlan(p, nil), newPalette(g.color()))
	}
	if p.Changes() && a.command != "refresh" && saved == nil && !a.autoApprove {
		if code, ok := op.confirm(ctx, p); !ok {
			return code
		}
	}
	if code, ok := sealPlanned(ctx, g, cfg, st, p); !ok {
		return code
	}
	lineage := snap.Lineage
	if lineage == "" && p.Changes() {
		if lineage, err = st.Init(ctx); err != nil {
			writeDiags(g, g.streams.Err, nil, g.stateErrDiags("Failed to create the state", err))
			return exitError
		}
	}
	prog := newProgress(g, p)
	ex := &apply.Executor{
		Store: st, Config: cfg, Lineage: lineage, EmergencyDir: backend.EmergencyDir(cfg),
		Granter:     &cliGranter{g: g, a: a},
		NewClient:   func(app *config.App) (*providers.Client, error) { return newClient(g, cfg, app) },
		Parallelism: a.parallelism, Now: clock, Done: prog.done, Stop: op.stop,
		Flights: op.flights,
	}
	if p.Changes() && a.command != "refresh" {
		fmt.Fprintln(out)
	}
	outcomes := ex.Run(ctx, p)
	prog.finish()
	// The disconnected connections are forgotten: cleared from the file
	// and the backup too, once for all of them.
	purgeForgotten(ctx, g, st)
	if !p.Changes() {
		prog.noteNothing(a.command)
	}
	return op.report(p, outcomes, prog)
}

// confirm asks the person to approve the plan. It returns ok=false with
// the exit status when the apply must not go on.
func (op *operation) confirm(ctx context.Context, p *plan.Plan) (int, bool) {
	g, a := op.g, op.a
	if !g.streams.InTerminal {
		writeDiags(g, g.streams.Err, nil, errDiag("No terminal to confirm on",
			fmt.Sprintf("oauthform %s asks for confirmation before changing anything, and standard input is not a terminal. "+
				"Run \"oauthform %s -auto-approve\" to go ahead without asking, or save a plan with \"oauthform plan -out=FILE\" and run \"oauthform apply FILE\".",
				a.command, a.command)))
		return exitError, false
	}
	question := "Do you want to perform these actions?\n  oauthform will perform the actions described above."
	if p.Mode == plan.Destroy {
		question = "Do you really want to disconnect these connections?\n  oauthform will revoke their tokens where the provider can and forget them. There is no undo."
	}
	fmt.Fprintf(g.streams.Out, "\n%s\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", question)
	answer, err := readLine(ctx, g.streams.In)
	fmt.Fprintln(g.streams.Out)
	if err != nil || strings.TrimSpace(answer) != "yes" {
		verb := map[string]string{"apply": "Apply", "destroy": "Destroy"}[a.command]
		fmt.Fprintf(g.streams.Err, "Error: %s cancelled.\n", verb)
		return exitError, false
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
func (op *operation) report(p *plan.Plan, outcomes []apply.Outcome, prog *progress) int {
	g := op.g
	done := map[plan.Kind]int{}
	var failed []apply.Outcome
	var person []string // refresh: connections that now need a person
	for _, o := range outcomes {
		if o.Err != nil {
			failed = append(failed, o)
			if errors.Is(o.Err, apply.ErrNeedsPerson) {
				person = append(person, fmt.Sprintf("%s: %v", o.Action.Conn, o.Err))
			}
			continue
		}
		done[o.Action.Kind]++
	}
	for _, o := range failed {
		if op.a.command == "refresh" && errors.Is(o.Err, apply.ErrNeedsPerson) {
			continue // listed below, with what to do
		}
		writeDiags(g, g.streams.Err, nil, errDiag(
			fmt.Sprintf("Failed to %s %s", o.Action.Kind, o.Action.Conn), o.Err.Error()))
	}
	var notes []string
	for _, o := range outcomes {
		// What happened, not what the plan expected: a discovered
		// revocation endpoint revokes although the plan could not know.
		if o.Err == nil && o.Action.Kind == plan.Disconnect && !o.Revoked && o.Action.Before != nil {
			notes = append(notes, fmt.Sprintf("%s (%s)", o.Action.Conn, o.Action.Before.Provider))
		}
	}
	if len(notes) > 0 {
		writeDiags(g, g.streams.Err, nil, hcl.Diagnostics{sourceless(hcl.DiagWarning, "Revoke these at the provider",
			"oauthform forgot these connections, but their tokens were not revoked (the provider cannot revoke remotely, or no declared app could). "+
				"Revoke the app's access in each provider's settings:\n\n  "+strings.Join(notes, "\n  "))})
	}
	out := g.streams.Out
	word := "complete"
	if len(failed) > 0 {
		word = "failed"
	}
	var summary string
	switch op.a.command {
	case "destroy":
		summary = fmt.Sprintf("Destroy %s! %d disconnected.", word, done[plan.Disconnect])
	case "refresh":
		summary = fmt.Sprintf("Refresh %s! %d refreshed.", word, done[plan.Refresh])
	default:
		summary = fmt.Sprintf("Apply %s! %d connected, %d refreshed, %d reconnected, %d updated, %d disconnected.", word,
			done[plan.Connect], done[plan.Refresh], done[plan.Reconnect], done[plan.Update], done[plan.Disconnect])
	}
	if len(failed) > 0 {
		summary += fmt.Sprintf(" %d failed: %s.", len(failed), failedNames(failed))
	}
	if !prog.blank {
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, summary)
	for _, a := range p.Blocked {
		person = append(person, fmt.Sprintf("%s: %s", a.Conn, reasonsText(newJSONChange(a).Reasons)))
	}
	if op.a.command == "refresh" && len(person) > 0 {
		fmt.Fprintf(g.streams.Err, "\nThese connections need a person; run \"oauthform apply\" to authorize them again:\n  %s\n", strings.Join(person, "\n  "))
		return exitError
	}
	if len(failed) > 0 {
		return exitError
	}
	return exitOK
}

func failedNames(failed []apply.Outcome) string {
	names := make([]string, len(failed))
	for i, o := range failed {
		names[i] = o.Action.Conn
	}
	return strings.Join(names, ", ")
}

// cliGranter runs each grant with internal/grant on the person's terminal
// and browser; grants of an in-process emulator are approved by an
// in-process browser, so the quickstart needs nobody at the keyboard.
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
		c.r.Browser = &emulator.Browser{Approve: true}
	case c.a.noBrowser:
		c.r.Browser = nil
	default:
		c.r.Browser = grant.SystemBrowser(os.Getenv)
	}
	return c.r.Grant(ctx, req)
}

// progress reports finished actions: one plain line each, or, on a
// terminal with many non-interactive actions, a live counter.
type progress struct {
	out      io.Writer
	live     bool
	total    int // non-interactive actions
	verb     string
	finished int
	drawn    bool
	blank    bool // the last line written was blank
}

// liveThreshold is how many non-interactive actions make a run "long".
const liveThreshold = 20

func newProgress(g *globals, p *plan.Plan) *progress {
	pr := &progress{out: g.streams.Out, verb: "Working"}
	kinds := map[plan.Kind]bool{}
	for _, a := range p.Actions {
		if !a.Interactive() {
			pr.total++
			kinds[a.Kind] = true
		}
	}
	if len(kinds) == 1 {
		for k := range kinds {
			pr.verb = map[plan.Kind]string{plan.Refresh: "Refreshing", plan.Update: "Updating", plan.Disconnect: "Disconnecting"}[k]
		}
	}
	pr.live = g.streams.OutTerminal && pr.total > liveThreshold
	return pr
}

var pastTense = map[plan.Kind]string{
	plan.Connect: "Connected", plan.Refresh: "Refreshed", plan.Reconnect: "Reconnected",
	plan.Update: "Updated", plan.Disconnect: "Disconnected",
}

// done is apply.Executor.Done: never called concurrently.
func (pr *progress) done(o apply.Outcome) {
	a := o.Action
	if pr.live && !a.Interactive() {
		pr.finished++
		if o.Err != nil {
			fmt.Fprintf(pr.out, "\r\033[K%s: %s failed\n", a.Conn, a.Kind)
		}
		fmt.Fprintf(pr.out, "\r\033[K%s %d/%d", pr.verb, pr.finished, pr.total)
		pr.drawn = true
		return
	}
	if pr.drawn {
		fmt.Fprintln(pr.out)
		pr.drawn = false
	}
	switch {
	case o.Err != nil:
		fmt.Fprintf(pr.out, "%s: %s failed (see below)\n", a.Conn, a.Kind)
	case o.Note != "":
		fmt.Fprintf(pr.out, "%s: %s (%s)\n", a.Conn, pastTense[a.Kind], o.Note)
	default:
		fmt.Fprintf(pr.out, "%s: %s\n", a.Conn, pastTense[a.Kind])
	}
	// A grant's output is a block of its own (header, URL, result).
	pr.blank = a.Interactive()
	if pr.blank {
		fmt.Fprintln(pr.out)
	}
}

func (pr *progress) finish() {
	if pr.drawn {
		fmt.Fprintln(pr.out)
	}
}

// noteNothing says so when a run had nothing to do.
func (pr *progress) noteNothing(command string) {
	if command == "refresh" {
		fmt.Fprintln(pr.out, "No token needs a refresh: each is valid for longer than its refresh_before.")
	}
}

// sealPlanned carries out the seal a plan shows (encryption configured on
// a state that holds plain tokens) before the other actions: every record
// in one transaction, then the file and its backup rewritten so that no
// plain copy is left (state.Rekeyer). The seal is all or nothing.
func sealPlanned(ctx context.Context, g *globals, cfg *config.Config, st state.Store, p *plan.Plan) (int, bool) {
	seal := false
	for _, a := range p.Actions {
		seal = seal || slices.Contains(a.Reasons, plan.ReasonSeal)
	}
	if !seal {
		return 0, true
	}
	res, err := state.Rekey(ctx, st, backend.Passphrase(cfg))
	switch {
	case errors.Is(err, state.ErrCannotRekey):
		writeDiags(g, g.streams.Err, nil, errDiag("Cannot seal the state", "This state backend cannot turn encryption at rest on."))
		return exitError, false
	case err != nil:
		writeDiags(g, g.streams.Err, nil, g.stateErrDiags("Failed to seal the state", err))
		return exitError, false
	}
	fmt.Fprintf(g.streams.Out, "Sealed the tokens of %d connection(s) at rest.\n", res.Records)
	return 0, true
}
