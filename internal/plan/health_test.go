package plan

import (
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// TestHealth: each state of a connection, from the configuration, the
// state and now alone.
func TestHealth(t *testing.T) {
	healthy := conn("healthy", appA, 10, "read")
	expiring := conn("expiring", appA, 10, "read")
	expired := conn("expired", appA, 10, "read")
	idle := withConn(conn("idle", appA, 10, "read"), func(c *config.Connection) { c.KeepAlive = 30 * time.Minute })
	failing := conn("failing", appA, 10, "read")
	reconnect := conn("reconnect", appA, 10, "read")
	dead := conn("dead", appA, 10, "read")
	fresh := conn("fresh", appA, 10, "read")
	recs := []*state.Record{
		recordFor(healthy),
		withRec(recordFor(expiring), func(r *state.Record) { r.Expiry = t0.Add(5 * time.Minute) }),
		withRec(recordFor(expired), func(r *state.Record) { r.Expiry = t0.Add(-time.Minute) }),
		recordFor(idle), // refreshed an hour ago
		withRec(recordFor(failing), func(r *state.Record) {
			r.Status, r.LastError = state.StatusFailing, &state.LastError{Kind: "server_error", Count: 9, Since: t0.Add(-97 * time.Hour)}
		}),
		withRec(recordFor(reconnect), func(r *state.Record) { r.Status = state.StatusNeedsReconnect }),
		withRec(recordFor(dead), func(r *state.Record) { r.Refresh, r.Expiry = secret.Secret{}, t0.Add(-time.Second) }),
		recordFor(conn("gone", appA, 10, "read")),
	}
	got := map[string]HealthState{}
	for _, h := range Health(newConfig(healthy, expiring, expired, idle, failing, reconnect, dead, fresh), snapshot(recs...), t0) {
		got[h.Conn] = h.State
		if (h.State == Healthy) == h.Attention() {
			t.Errorf("%s: attention %v for %s", h.Conn, h.Attention(), h.State)
		}
		if h.State == Idle && (h.KeepAlive != 30*time.Minute || !h.RefreshTokenUsed.Equal(t0.Add(-time.Hour))) {
			t.Errorf("idle without why: %+v", h)
		}
	}
	want := map[string]HealthState{
		"healthy": Healthy, "expiring": Expiring, "expired": Expiring, "idle": Idle, "failing": Failing,
		"reconnect": NeedsReconnect, "dead": NeedsReconnect, "fresh": NotConnected, "gone": NotDeclared,
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s: %q, want %q", n, got[n], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d connections, want %d", len(got), len(want))
	}
}
