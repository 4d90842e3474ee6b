package views

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/plan"
)

// BenchmarkRenderPlan1k renders the plan of an apply that refreshes 1,000
// connections (what apply prints before it starts).
func BenchmarkRenderPlan1k(b *testing.B) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	p := &plan.Plan{Lineage: "l", Serial: 3, Created: now}
	for i := range 1000 {
		side := &plan.Side{Provider: "sms77", App: "sms77", ClientID: "client", RedirectURI: "http://127.0.0.1:8765/callback",
			Scopes: []string{"sms"}, Params: map[string]string{}, RefreshBefore: 10 * time.Minute}
		p.Actions = append(p.Actions, &plan.Action{Conn: fmt.Sprintf("sms77_%05d", i), Kind: plan.Refresh,
			Reasons: []plan.Reason{plan.ReasonExpiring}, Before: side, After: side, Expiry: now.Add(5 * time.Minute), HasRefresh: true})
	}
	for b.Loop() {
		RenderPlan(io.Discard, NewPlan(p, nil, "dev"), NewPalette(false))
	}
}
