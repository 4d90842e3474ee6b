package views

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

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

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// gatedBuffer is a lockedBuffer whose writes wait until open is closed
// (a terminal that is slow to take the plan).
type gatedBuffer struct {
	lockedBuffer
	open chan struct{}
}

func (g *gatedBuffer) Write(p []byte) (int, error) {
	<-g.open
	return g.lockedBuffer.Write(p)
}

// What the view prints while ApplyPlanBehind writes the plan comes after
// the plan, on both streams, without waiting for it; and the plan is the
// one ApplyPlan prints.
func TestApplyPlanBehindKeepsTheOrder(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	p := &plan.Plan{Lineage: "l", Serial: 3, Created: now}
	for i := range 2000 {
		side := &plan.Side{Provider: "sms77", App: "sms77", ClientID: "client", Scopes: []string{"sms"}, RefreshBefore: 10 * time.Minute}
		p.Actions = append(p.Actions, &plan.Action{Conn: fmt.Sprintf("sms77_%05d", i), Kind: plan.Refresh,
			Reasons: []plan.Reason{plan.ReasonExpiring}, Before: side, After: side, Expiry: now.Add(5 * time.Minute), HasRefresh: true})
	}
	var want bytes.Buffer
	(&View{Out: &want}).ApplyPlan(NewPlan(p, nil, "dev"))

	out := &gatedBuffer{open: make(chan struct{})}
	v := &View{Out: out, Err: out}
	wait := v.ApplyPlanBehind(func() *Plan { return NewPlan(p, nil, "dev") })
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		fmt.Fprintln(v.Err, "an error meanwhile")
		v.ApplyStart()
		fmt.Fprintln(v.Out, "progress")
	}()
	select {
	case <-printed:
	case <-time.After(10 * time.Second):
		t.Fatal("printing while the plan was being written waited for it")
	}
	close(out.open)
	wait()
	got := out.b.String()
	plan, rest, ok := strings.Cut(got, "an error meanwhile\n")
	if !ok || plan != want.String() || rest != "\nprogress\n" {
		t.Errorf("output (%d bytes) is not the plan (%d bytes) followed by what was printed meanwhile; it ends with %q",
			len(got), want.Len(), got[max(0, len(got)-80):])
	}
	fmt.Fprintln(v.Out, "after")
	if !strings.HasSuffix(out.b.String(), "progress\nafter\n") {
		t.Error("a write after the plan was not written through")
	}
}

// countingWriter counts the writes it gets.
type countingWriter struct {
	lockedBuffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.lockedBuffer.Write(p)
}

// A run without grants has its progress written in a few writes, not one
// per action, with the same lines; a run with a grant writes each at once
// (a grant's prompts do not go through the view).
func TestProgressCoalescesWithoutGrants(t *testing.T) {
	p := &plan.Plan{}
	for i := range 200 {
		p.Actions = append(p.Actions, &plan.Action{Conn: fmt.Sprintf("c%03d", i), Kind: plan.Refresh})
	}
	var want strings.Builder
	for _, a := range p.Actions {
		fmt.Fprintf(&want, "%s: Refreshed\n", a.Conn)
	}
	out := &countingWriter{}
	pr := (&View{Out: out}).NewProgress(p)
	for _, a := range p.Actions {
		pr.Done(apply.Outcome{Action: a})
	}
	pr.Finish()
	if got := out.b.String(); got != want.String() {
		t.Errorf("coalesced progress differs from one line per action:\n%s", got)
	}
	if out.writes > 5 {
		t.Errorf("%d writes for 200 finished actions, want a few", out.writes)
	}

	grant := &plan.Action{Conn: "new", Kind: plan.Connect}
	withGrant := &plan.Plan{Actions: append([]*plan.Action{grant}, p.Actions[:3]...)}
	out = &countingWriter{}
	pr = (&View{Out: out}).NewProgress(withGrant)
	for _, a := range withGrant.Actions[1:] {
		pr.Done(apply.Outcome{Action: a})
		if !strings.HasSuffix(out.b.String(), a.Conn+": Refreshed\n") {
			t.Fatalf("with a grant in the plan, %s's line was not written at once: %q", a.Conn, out.b.String())
		}
	}
}
