package command

import (
	"context"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/state"
)

// alertFailures runs on_failure once per connection that this run turned
// failing or needs_reconnect: the records before the run (op.before)
// against the same records read after it, under the same state lock. The
// command gets no token; its failure is a warning.
func (op *operation) alertFailures(ctx context.Context, outcomes []apply.Outcome) []apply.Alert {
	g := op.g
	var after []*state.Record
	for _, o := range outcomes {
		if o.Err == nil || o.Action == nil {
			continue
		}
		rec, err := op.st.Get(context.WithoutCancel(ctx), o.Action.Conn)
		if err != nil {
			g.log.Debug("cannot read the record after its refresh", "connection", o.Action.Conn, "error", err)
			continue
		}
		after = append(after, rec)
	}
	alerts := apply.Alerts(op.before, after)
	argv := op.cfg.Settings.OnFailure
	if len(argv) == 0 {
		return alerts
	}
	cmd := &apply.AlertCommand{Argv: argv, Dir: op.cfg.Dir}
	for _, a := range alerts {
		g.log.Info("running on_failure", "connection", a.Conn, "status", a.Status)
		if err := cmd.Run(ctx, a); err != nil {
			g.view.Diagnostics(nil, warnDiag("on_failure failed", err.Error()))
		}
	}
	return alerts
}
