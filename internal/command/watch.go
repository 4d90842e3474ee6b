package command

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/command/views"
	"github.com/oauthform/oauthform/internal/plan"
)

// watch runs refresh rounds every a.watch until the first interrupt (or
// SIGTERM): each round refreshes what is due, respecting the backoff of
// failing connections, and reloads the configuration and the state. The
// interrupt lets the round in flight finish and be written; watch then
// exits 0. The second interrupt abandons what is on the wire.
func (op *operation) watch(ctx context.Context) int {
	g := op.g
	for round := 1; ; round++ {
		code := op.run(ctx)
		g.log.Debug("watch round done", "round", round, "status", code)
		if stopped(op.stop) {
			g.view.WatchStopped()
			return ExitOK
		}
		if ctx.Err() != nil {
			return ExitError
		}
		g.view.WatchRound(g.now().Add(op.a.watch))
		t := time.NewTimer(op.a.watch)
		select {
		case <-t.C:
		case <-op.stop:
			t.Stop()
			g.view.WatchStopped()
			return ExitOK
		case <-ctx.Done():
			t.Stop()
			return ExitError
		}
	}
}

func stopped(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// jsonOnly sends the human output of a refresh -json to nowhere: its
// standard output is the JSON lines (op.jsonOut); diagnostics stay on
// standard error.
func (op *operation) jsonOnly() {
	v := *op.g.view
	op.jsonOut, v.Out = v.Out, io.Discard
	op.g.view = &v
}

// refreshEvents are the `refresh -json` lines of one round: one per
// action and per connection that needs a person.
func (op *operation) refreshEvents(ctx context.Context, p *plan.Plan, outcomes []apply.Outcome, alerts []apply.Alert) []views.RefreshEvent {
	alerted := map[string]bool{}
	for _, a := range alerts {
		alerted[a.Conn] = true
	}
	now := op.g.now().UTC().Format(time.RFC3339)
	var events []views.RefreshEvent
	add := func(a *plan.Action, outcome string, err error) {
		e := views.RefreshEvent{FormatVersion: views.RefreshEventFormatVersion, Time: now, Connection: a.Conn,
			Outcome: outcome, Alerted: alerted[a.Conn]}
		for _, r := range a.Reasons {
			e.Reasons = append(e.Reasons, string(r))
		}
		if err != nil {
			e.Error = err.Error()
		}
		if rec, rerr := op.st.Get(context.WithoutCancel(ctx), a.Conn); rerr == nil {
			e.Status = string(rec.Status)
			if le := rec.LastError; le != nil && err != nil {
				e.ErrorKind, e.Failures = le.Kind, le.Count
				if !le.Next.IsZero() {
					e.NextAttempt = le.Next.UTC().Format(time.RFC3339)
				}
			}
		}
		events = append(events, e)
	}
	for _, o := range outcomes {
		switch {
		case o.Err == nil:
			add(o.Action, views.OutcomeRefreshed, nil)
		case errors.Is(o.Err, apply.ErrBackoff):
			add(o.Action, views.OutcomeWaiting, o.Err)
		case errors.Is(o.Err, apply.ErrNeedsPerson):
			add(o.Action, views.OutcomeNeedsPerson, o.Err)
		case errors.Is(o.Err, apply.ErrInterrupted):
			add(o.Action, views.OutcomeNotStarted, o.Err)
		default:
			add(o.Action, views.OutcomeFailed, o.Err)
		}
	}
	for _, a := range p.Blocked {
		add(a, views.OutcomeNeedsPerson, nil)
	}
	return events
}
