package command

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/state"
)

// warnDiag is sourceless(hcl.DiagWarning, …).
func warnDiag(summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{sourceless(hcl.DiagWarning, summary, detail)}
}

// custodyDiags turns the custody report into one warning per connection,
// for plan: what the state alone does not say.
func custodyDiags(report map[string]*apply.CustodyStatus, err error) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if err != nil {
		diags = append(diags, warnDiag("Cannot read the custody journal", err.Error())...)
	}
	names := make([]string, 0, len(report))
	for n := range report {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := report[n]
		if c.State == apply.CustodyInFlight {
			continue
		}
		summary := map[string]string{
			apply.CustodyInterrupted: "A refresh was interrupted",
			apply.CustodyPending:     "Tokens kept outside the state",
			apply.CustodyBehind:      "The state is behind",
		}[c.State]
		diags = append(diags, warnDiag(fmt.Sprintf("%s: %s", summary, n), "Connection "+n+": "+c.Detail)...)
	}
	return diags
}

// applyPending writes to the state the answers kept outside it (custody
// journal, emergency files) before a writing command plans: they are newer
// than the state's tokens. Failures are warnings: the refresh of that
// connection refuses on its own, with the reason.
func (g *globals) applyPending(ctx context.Context, st state.Store, dir string, snap *state.Snapshot,
	report func(*state.Snapshot) (map[string]*apply.CustodyStatus, error)) (changed bool, diags hcl.Diagnostics) {
	pending, err := report(snap)
	if err != nil {
		diags = append(diags, warnDiag("Cannot read the custody journal", err.Error())...)
	}
	r := &apply.Refresher{Store: st, Now: g.now, EmergencyDir: dir}
	for name, c := range pending {
		if c.State != apply.CustodyPending {
			continue
		}
		ok, err := r.Recover(ctx, name)
		if err != nil {
			diags = append(diags, warnDiag("Cannot apply the kept tokens of "+name, err.Error())...)
		}
		changed = changed || ok
	}
	return changed, diags
}

// refreshInterrupts makes the first SIGINT or SIGTERM of a command that
// refreshes (token) wait for the answers already on the wire, naming
// them, and the second abandon them, naming the connections whose login
// may be lost. ctx is the context the first signal cancels; the returned
// channel is closed on the second; done releases the handler.
func refreshInterrupts(g *globals, flights *apply.Flights) (abandon <-chan struct{}, done func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ab := make(chan struct{})
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		n := 0
		for {
			select {
			case <-quit:
				return
			case <-sigs:
				n++
				names := flights.Names()
				if n == 1 {
					g.view.TokenInterrupted(names)
					continue
				}
				g.view.TokenAbandoned(names)
				close(ab)
				return
			}
		}
	}()
	return ab, func() {
		signal.Stop(sigs)
		close(quit)
		<-finished
	}
}

// behindDiags warns when the local state at path (empty: not local) went
// back in time (state.CheckWatermark).
func behindDiags(path string, snap *state.Snapshot) hcl.Diagnostics {
	if path == "" {
		return nil
	}
	if err := state.CheckWatermark(path, snap); err != nil {
		return warnDiag("The state went back in time", err.Error())
	}
	return nil
}
