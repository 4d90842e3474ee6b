package views

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/plan"
)

// Progress reports finished actions: one plain line each, or, on a
// terminal with many non-interactive actions, a live counter.
type Progress struct {
	out      io.Writer
	live     bool
	total    int // non-interactive actions
	verb     string
	finished int
	drawn    bool
	blank    bool // the last line written was blank

	// With coalesce (a run without grants, whose prompts do not go
	// through the view), what Done prints is written at most every
	// progressEvery, and the live counter drawn then: an apply of 1,000
	// refreshes wrote 1,000 times, each waking whoever reads the output
	// (a terminal, a CI log) while the refreshes needed the CPU.
	coalesce bool
	mu       sync.Mutex // guards what follows, and out once coalescing
	pending  bytes.Buffer
	redraw   bool // the counter changed since it was drawn
	timer    *time.Timer
}

// progressEvery is how often, at most, a coalescing Progress writes.
const progressEvery = 100 * time.Millisecond

// liveThreshold is how many non-interactive actions make a run "long".
const liveThreshold = 20

// NewProgress returns the progress view of p's actions.
func (v *View) NewProgress(p *plan.Plan) *Progress {
	pr := &Progress{out: v.Out, verb: "Working"}
	kinds := map[plan.Kind]bool{}
	for _, a := range p.Actions {
		if !a.Interactive() {
			pr.total++
			kinds[a.Kind] = true
		}
	}
	if len(kinds) == 1 {
		for k := range kinds {
			pr.verb = progressVerb(k)
		}
	}
	pr.live = v.OutTerminal && pr.total > liveThreshold
	pr.coalesce = pr.total > 1 && !p.Interactive()
	return pr
}

// progressVerb is the live counter's word for a run of one kind.
func progressVerb(k plan.Kind) string {
	switch k {
	case plan.Refresh:
		return "Refreshing"
	case plan.Update:
		return "Updating"
	case plan.Disconnect:
		return "Disconnecting"
	}
	return ""
}

// pastTense is what a finished action did.
func pastTense(k plan.Kind) string {
	switch k {
	case plan.Connect:
		return "Connected"
	case plan.Refresh:
		return "Refreshed"
	case plan.Reconnect:
		return "Reconnected"
	case plan.Update:
		return "Updated"
	case plan.Disconnect:
		return "Disconnected"
	}
	return ""
}

// Done is apply.Executor.Done: never called concurrently.
func (pr *Progress) Done(o apply.Outcome) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	out := pr.out
	if pr.coalesce {
		out = &pr.pending
		if pr.timer == nil {
			pr.timer = time.AfterFunc(progressEvery, pr.flush)
		}
	}
	a := o.Action
	if pr.live && !a.Interactive() {
		pr.finished++
		if o.Err != nil {
			fmt.Fprintf(out, "\r\033[K%s: %s failed\n", a.Conn, a.Kind)
			pr.drawn = false
		}
		if pr.coalesce {
			pr.redraw = true
			return
		}
		fmt.Fprintf(out, "\r\033[K%s %d/%d", pr.verb, pr.finished, pr.total)
		pr.drawn = true
		return
	}
	if pr.drawn {
		fmt.Fprintln(out)
		pr.drawn = false
	}
	switch {
	case o.Err != nil:
		fmt.Fprintf(out, "%s: %s failed (see below)\n", a.Conn, a.Kind)
	case o.Note != "":
		fmt.Fprintf(out, "%s: %s (%s)\n", a.Conn, pastTense(a.Kind), o.Note)
	default:
		fmt.Fprintf(out, "%s: %s\n", a.Conn, pastTense(a.Kind))
	}
	// A grant's output is a block of its own (header, URL, result).
	pr.blank = a.Interactive()
	if pr.blank {
		fmt.Fprintln(out)
	}
}

// flush writes what Done kept, and draws the counter when it changed.
func (pr *Progress) flush() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.flushLocked()
}

func (pr *Progress) flushLocked() {
	pr.timer = nil
	if pr.redraw {
		fmt.Fprintf(&pr.pending, "\r\033[K%s %d/%d", pr.verb, pr.finished, pr.total)
		pr.drawn, pr.redraw = true, false
	}
	if pr.pending.Len() > 0 {
		_, _ = pr.out.Write(pr.pending.Bytes())
		pr.pending.Reset()
	}
}

// Finish writes what is left and ends the live counter's line.
func (pr *Progress) Finish() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.timer != nil {
		pr.timer.Stop()
	}
	pr.flushLocked()
	if pr.drawn {
		fmt.Fprintln(pr.out)
		pr.drawn = false
	}
}

// NoteNothing says so when a run had nothing to do.
func (pr *Progress) NoteNothing(command string) {
	if command == "refresh" {
		fmt.Fprintln(pr.out, "No token needs a refresh: each is valid for longer than its refresh_before.")
	}
}

// ApplyResult is what apply, destroy or refresh did.
type ApplyResult struct {
	Command string // apply, destroy, refresh
	// Done counts the actions that succeeded, by kind.
	Done map[plan.Kind]int
	// Failed names the connections whose action failed.
	Failed []string
	// Person lists the connections that need a person, with why
	// (refresh only).
	Person []string
}

// ApplySummary prints the closing summary, after the progress pr, and
// for refresh the connections that need a person.
func (v *View) ApplySummary(r *ApplyResult, pr *Progress) {
	word := "complete"
	if len(r.Failed) > 0 {
		word = "failed"
	}
	done := r.Done
	var summary string
	switch r.Command {
	case "destroy":
		summary = fmt.Sprintf("Destroy %s! %d disconnected.", word, done[plan.Disconnect])
	case "refresh":
		summary = fmt.Sprintf("Refresh %s! %d refreshed.", word, done[plan.Refresh])
	default:
		summary = fmt.Sprintf("Apply %s! %d connected, %d refreshed, %d reconnected, %d updated, %d disconnected.", word,
			done[plan.Connect], done[plan.Refresh], done[plan.Reconnect], done[plan.Update], done[plan.Disconnect])
	}
	if len(r.Failed) > 0 {
		summary += fmt.Sprintf(" %d failed: %s.", len(r.Failed), strings.Join(r.Failed, ", "))
	}
	if !pr.blank {
		fmt.Fprintln(v.Out)
	}
	fmt.Fprintln(v.Out, summary)
	if r.Command == "refresh" && len(r.Person) > 0 {
		fmt.Fprintf(v.Err, "\nThese connections need a person; run \"oauthform apply\" to authorize them again:\n  %s\n", strings.Join(r.Person, "\n  "))
	}
}

// ApplyPlan shows the plan apply or destroy is about to perform.
func (v *View) ApplyPlan(jp *Plan) {
	RenderPlan(v.Out, jp, NewPalette(v.Color))
}

// ApplyPlanBehind is ApplyPlan in the background, for a plan that needs no
// approval: the work starts while the plan is built (build, which must
// only read what the work reads too) and printed (a plan of 1,000
// refreshes takes 10 ms to render, one of 10,000 ten times that). Until
// the plan is written, whatever else the view prints, on either stream,
// is kept and written after it, in order: the output is the same, and no
// caller waits for the plan. The returned func waits for the plan and
// what was kept; call it before the command returns.
func (v *View) ApplyPlanBehind(build func() *Plan) (wait func()) {
	h := &held{on: true}
	out := v.Out
	v.Out = heldWriter{w: out, h: h}
	v.Err = heldWriter{w: v.Err, h: h}
	written := make(chan struct{})
	go func() {
		defer close(written)
		RenderPlan(out, build(), NewPalette(v.Color))
		h.release()
	}()
	return func() { <-written }
}

// held is output kept while a plan is written in the background.
type held struct {
	mu    sync.Mutex
	on    bool
	kept  [][]byte
	dests []io.Writer
}

// release writes what was kept, in order, and lets writes through.
func (h *held) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.kept {
		_, _ = h.dests[i].Write(b)
	}
	h.kept, h.dests, h.on = nil, nil, false
}

// heldWriter writes to w, or has h keep the write while h is on.
type heldWriter struct {
	w io.Writer
	h *held
}

func (hw heldWriter) Write(b []byte) (int, error) {
	hw.h.mu.Lock()
	if hw.h.on {
		hw.h.kept = append(hw.h.kept, bytes.Clone(b))
		hw.h.dests = append(hw.h.dests, hw.w)
		hw.h.mu.Unlock()
		return len(b), nil
	}
	hw.h.mu.Unlock()
	return hw.w.Write(b)
}

// ApplyStart separates the plan from the progress.
func (v *View) ApplyStart() {
	fmt.Fprintln(v.Out)
}

// Confirm asks the person to approve (question on stdout, then the
// prompt).
func (v *View) Confirm(question string) {
	fmt.Fprintf(v.Out, "\n%s\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", question)
}

// Confirmed ends the confirmation prompt's line.
func (v *View) Confirmed() {
	fmt.Fprintln(v.Out)
}

// Cancelled says that the person did not approve.
func (v *View) Cancelled(verb string) {
	fmt.Fprintf(v.Err, "Error: %s cancelled.\n", verb)
}

// Sealed says that apply sealed the state's tokens.
func (v *View) Sealed(records int) {
	fmt.Fprintf(v.Out, "Sealed the tokens of %d connection(s) at rest.\n", records)
}

// Interrupted says what the first interrupt of an apply does: the actions
// in flight finish, and the refreshes on the wire (names) are waited for.
func (v *View) Interrupted(names []string) {
	fmt.Fprintln(v.Err, "\nInterrupt received. Finishing the actions in flight and writing the state; press Ctrl-C again to stop at once.")
	if len(names) > 0 {
		fmt.Fprintf(v.Err, "Waiting for the provider's answer to the refresh of %s: its refresh token is single-use, so the answer must be stored.\n",
			strings.Join(names, ", "))
	}
}

// Stopped says what the second interrupt of an apply does: everything
// stops, and the refreshes on the wire (names) are abandoned.
func (v *View) Stopped(names []string) {
	fmt.Fprintln(v.Err, "Two interrupts received. Stopping now; everything finished so far is in the state.")
	if len(names) > 0 {
		fmt.Fprintf(v.Err, "Abandoned the refresh of %s: the provider may have rotated its refresh token, so its login may be lost; "+
			"the next refresh tries the old token once and says so.\n", strings.Join(names, ", "))
	}
}

// TokenInterrupted is token's first interrupt: the refreshes on the wire
// (names) are waited for.
func (v *View) TokenInterrupted(names []string) {
	if len(names) > 0 {
		fmt.Fprintf(v.Err, "\nInterrupt received. Waiting for the provider's answer to the refresh of %s: "+
			"its refresh token is single-use, so the answer must be stored. Interrupt again to abandon it (the login may then be lost).\n",
			strings.Join(names, ", "))
	}
}

// TokenAbandoned is token's second interrupt: the refreshes on the wire
// (names) are abandoned.
func (v *View) TokenAbandoned(names []string) {
	if len(names) > 0 {
		fmt.Fprintf(v.Err, "Second interrupt: abandoning the refresh of %s. The provider may have rotated its refresh token, "+
			"so its login may be lost: the next `oauthform token` tries the old token once and says so.\n", strings.Join(names, ", "))
	}
}
