package plan

import (
	"sort"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// HealthState is how one connection is doing, for `oauthform status`.
type HealthState string

// Health states, from best to worst.
const (
	// Healthy: a valid token that needs nothing before refresh_before.
	Healthy HealthState = "healthy"
	// Expiring: the access token expires within refresh_before, or has
	// expired, and a refresh will renew it.
	Expiring HealthState = "expiring"
	// Idle: the refresh token has been unused for longer than keep_alive.
	Idle HealthState = "idle"
	// Failing: transient refresh failures have lasted give_up_after.
	Failing HealthState = "failing"
	// NeedsReconnect: only a new grant (a person) helps.
	NeedsReconnect HealthState = "needs_reconnect"
	// NotConnected: declared, with no tokens yet.
	NotConnected HealthState = "not_connected"
	// NotDeclared: in the state, no longer in the configuration.
	NotDeclared HealthState = "not_declared"
)

// ConnHealth is one connection's health. Health reads no clock, file or
// network: everything comes from the configuration, the state and now.
type ConnHealth struct {
	Conn     string      `json:"connection"`
	Provider string      `json:"provider"`
	State    HealthState `json:"health"`
	// Expiry of the access token (zero: none, or it does not expire).
	Expiry time.Time `json:"expiry,omitzero"`
	// RefreshTokenUsed and KeepAlive explain Idle.
	RefreshTokenUsed time.Time     `json:"refresh_token_used,omitzero"`
	KeepAlive        time.Duration `json:"keep_alive,omitempty"`
	// LastError is the last refresh failure (nil: none).
	LastError *state.LastError `json:"last_error,omitempty"`
}

// Attention reports whether the connection needs attention: anything but
// Healthy.
func (h *ConnHealth) Attention() bool { return h.State != Healthy }

// Health returns the health of every declared or recorded connection,
// sorted by name.
func Health(cfg *config.Config, snap *state.Snapshot, now time.Time) []*ConnHealth {
	if cfg == nil {
		cfg = &config.Config{}
	}
	if snap == nil {
		snap = &state.Snapshot{}
	}
	names := map[string]bool{}
	for n := range cfg.Connections {
		names[n] = true
	}
	for n := range snap.Records {
		names[n] = true
	}
	out := make([]*ConnHealth, 0, len(names))
	for n := range names {
		out = append(out, connHealth(n, cfg.Connections[n], snap.Records[n], now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Conn < out[j].Conn })
	return out
}

func connHealth(name string, conn *config.Connection, rec *state.Record, now time.Time) *ConnHealth {
	h := &ConnHealth{Conn: name}
	if conn != nil && conn.App != nil {
		h.Provider = conn.App.Provider
	}
	if rec == nil {
		h.State = NotConnected
		return h
	}
	h.Provider, h.Expiry, h.LastError = rec.Provider, rec.Expiry, rec.LastError
	if conn == nil {
		h.State = NotDeclared
		return h
	}
	hasRefresh := !rec.Refresh.IsZero()
	renews := connGrant(conn) == providers.GrantClientCredentials && recordGrant(rec) == providers.GrantClientCredentials
	expired := !rec.Expiry.IsZero() && !now.Before(rec.Expiry)
	switch {
	case rec.Status == state.StatusNeedsReconnect, expired && !hasRefresh && !renews:
		h.State = NeedsReconnect
	case rec.Status == state.StatusFailing:
		h.State = Failing
	case !rec.Expiry.IsZero() && rec.Expiry.Sub(now) <= conn.RefreshBefore:
		h.State = Expiring
	default:
		h.State = Healthy
		last, keep := refreshTokenUse(rec), conn.EffectiveKeepAlive()
		if hasRefresh && keep > 0 && !last.IsZero() && now.Sub(last) >= keep {
			h.State, h.RefreshTokenUsed, h.KeepAlive = Idle, last, keep
		}
	}
	return h
}
