package views

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/plan"
)

// On a terminal a long run redraws one counter line; elsewhere every
// finished action gets a plain line of its own.
func TestProgressLiveOnTerminalPlainElsewhere(t *testing.T) {
	p := &plan.Plan{}
	for i := range 30 {
		p.Actions = append(p.Actions, &plan.Action{Conn: fmt.Sprintf("c%02d", i), Kind: plan.Refresh})
	}
	for _, tty := range []bool{true, false} {
		var out strings.Builder
		v := &View{Out: &out, OutTerminal: tty}
		pr := v.NewProgress(p)
		for i, a := range p.Actions {
			var err error
			if i == 7 {
				err = errors.New("boom")
			}
			pr.Done(apply.Outcome{Action: a, Err: err})
		}
		pr.Finish()
		got := out.String()
		if tty {
			if !strings.Contains(got, "\r\033[KRefreshing 30/30") || strings.Contains(got, "c03: Refreshed") {
				t.Errorf("terminal output is not a live counter: %q", got)
			}
			if !strings.Contains(got, "c07: refresh failed") {
				t.Errorf("a failure must stay visible above the counter: %q", got)
			}
			continue
		}
		if strings.Contains(got, "\r") || strings.Count(got, ": Refreshed\n") != 29 || !strings.Contains(got, "c07: refresh failed (see below)\n") {
			t.Errorf("plain output wants one line per action: %q", got)
		}
	}
}
