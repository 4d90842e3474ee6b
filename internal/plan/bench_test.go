package plan

import (
	"fmt"
	"testing"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/state"
)

// bigFixture declares n connections spread over four apps and, when
// withState, a state in which every one of them is up to date.
func bigFixture(n int, withState bool) (*config.Config, *state.Snapshot) {
	provs := testProviders()
	apps := []*config.App{
		newApp(provs, "a1", "acme", "cid-1", "secret-1"),
		newApp(provs, "a2", "acme", "cid-2", "secret-2"),
		newApp(provs, "n1", "narrow", "cid-3", "secret-3"),
		newApp(provs, "n2", "narrow", "cid-4", "secret-4"),
	}
	cfg := &config.Config{
		Providers:   provs,
		Apps:        map[string]*config.App{},
		Connections: make(map[string]*config.Connection, n),
	}
	for _, a := range apps {
		cfg.Apps[a.Name] = a
	}
	snap := &state.Snapshot{Records: map[string]*state.Record{}}
	if withState {
		snap = &state.Snapshot{Lineage: testLineage, Serial: uint64(n), Records: make(map[string]*state.Record, n)}
	}
	for i := range n {
		c := conn(fmt.Sprintf("conn_%05d", i), apps[i%len(apps)], i+1, "read", "write", fmt.Sprintf("scope%d", i%7))
		if i%3 == 0 {
			c.Params = map[string]string{"prompt": "consent"}
		}
		cfg.Connections[c.Name] = c
		if withState {
			snap.Records[c.Name] = recordFor(c)
		}
	}
	return cfg, snap
}

func BenchmarkDiff10k(b *testing.B) {
	for _, bc := range []struct {
		name      string
		withState bool
		want      int
	}{
		{"full-state-no-changes", true, 0},
		{"empty-state", false, 10_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg, snap := bigFixture(10_000, bc.withState)
			p, diags := Diff(cfg, snap, t0, Options{})
			if diags.HasErrors() || len(p.Actions) != bc.want {
				b.Fatalf("%d actions, %d diagnostics; want %d actions", len(p.Actions), len(diags), bc.want)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				Diff(cfg, snap, t0, Options{})
			}
		})
	}
}
