// Package plan computes what apply must do. Diff(cfg, prior, now, opts) is
// the entry point: a pure function of the configuration, a state snapshot
// and the clock, with no I/O, returning a Plan of Actions. WriteFile and
// ReadFile save and load plans (`plan -out`), which remember the state's
// lineage and serial so that applying a stale plan can be refused.
package plan

import (
	"fmt"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
)

// FormatVersion is the version of the saved plan file and of `plan -json`.
const FormatVersion = "1.0"

// Kind is what apply will do for one connection. Its value is the glyph
// shown in the human view (Reconnect renders as "-/+").
//
// Apply branches on Kind only; Reasons exist to explain the plan to people.
type Kind rune

// Kinds, in the order the summary line counts them.
const (
	NoOp       Kind = 0
	Connect    Kind = '+'
	Refresh    Kind = '↻'
	Reconnect  Kind = 'R'
	Update     Kind = '~'
	Disconnect Kind = '-'
)

// Kinds lists the change kinds in summary order.
var Kinds = []Kind{Connect, Refresh, Reconnect, Update, Disconnect}

// String is the kind's name as used in JSON ("connect", "reconnect"…).
func (k Kind) String() string {
	switch k {
	case NoOp:
		return "no-op"
	case Connect:
		return "connect"
	case Refresh:
		return "refresh"
	case Reconnect:
		return "reconnect"
	case Update:
		return "update"
	case Disconnect:
		return "disconnect"
	}
	return "unknown"
}

// MarshalText encodes the kind by name, for JSON.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind name.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, c := range append([]Kind{NoOp}, Kinds...) {
		if c.String() == string(b) {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("unknown action %q", b)
}

// Symbol is the kind's glyph in the human view.
func (k Kind) Symbol() string {
	if k == Reconnect {
		return "-/+"
	}
	if k == NoOp {
		return " "
	}
	return string(k)
}

// Interactive reports whether the kind needs a person (a browser or a
// device grant) for a connection of the authorization code or device
// grant; a client credentials connection never needs one (see
// Action.Interactive).
func (k Kind) Interactive() bool { return k == Connect || k == Reconnect }

// Reason explains an action. Reasons never drive apply.
type Reason string

// Reasons.
const (
	ReasonNotInState           Reason = "not_in_state"
	ReasonProviderChanged      Reason = "provider_changed"
	ReasonClientIDChanged      Reason = "client_id_changed"
	ReasonRedirectURIChanged   Reason = "redirect_uri_changed"
	ReasonGrantChanged         Reason = "grant_changed"
	ReasonParamsChanged        Reason = "params_changed"
	ReasonScopeAdded           Reason = "scope_added"
	ReasonScopeRemoved         Reason = "scope_removed"
	ReasonInvalidGrant         Reason = "invalid_grant"
	ReasonNeedsReconnect       Reason = "needs_reconnect"
	ReasonRevokedAtProvider    Reason = "revoked_at_provider"
	ReasonMetaChanged          Reason = "meta_changed"
	ReasonExpiredNoRefresh     Reason = "expired_no_refresh"
	ReasonExpiring             Reason = "expiring"
	ReasonExpired              Reason = "expired"
	ReasonExpiredRenew         Reason = "expired_renew"
	ReasonIdle                 Reason = "idle"
	ReasonRefreshBeforeChanged Reason = "refresh_before_changed"
	ReasonClientSecretChanged  Reason = "client_secret_changed"
	ReasonNotDeclared          Reason = "not_declared"
	ReasonDestroy              Reason = "destroy"
	ReasonSeal                 Reason = "seal"
	ReasonReseal               Reason = "reseal"
	ReasonEnforce              Reason = "enforce"
)

// Reasons lists every reason in the order Action.Reasons keeps them.
var Reasons = []Reason{
	ReasonNotInState, ReasonProviderChanged, ReasonClientIDChanged,
	ReasonRedirectURIChanged, ReasonGrantChanged, ReasonParamsChanged, ReasonScopeAdded,
	ReasonScopeRemoved, ReasonInvalidGrant, ReasonNeedsReconnect, ReasonRevokedAtProvider,
	ReasonExpiredNoRefresh, ReasonExpiring, ReasonExpired, ReasonExpiredRenew, ReasonIdle,
	ReasonRefreshBeforeChanged, ReasonClientSecretChanged, ReasonMetaChanged, ReasonSeal, ReasonReseal, ReasonEnforce, ReasonNotDeclared,
	ReasonDestroy,
}

// Text is the reason as a phrase for the human view.
func (r Reason) Text() string {
	switch r {
	case ReasonNotInState:
		return "declared in configuration, not in state"
	case ReasonProviderChanged:
		return "provider changed"
	case ReasonClientIDChanged:
		return "client_id changed"
	case ReasonRedirectURIChanged:
		return "redirect_uri changed"
	case ReasonGrantChanged:
		return "grant changed: the tokens must come from the new grant"
	case ReasonParamsChanged:
		return "params changed"
	case ReasonScopeAdded:
		return "new scopes need a new grant"
	case ReasonScopeRemoved:
		return "fewer scopes"
	case ReasonInvalidGrant:
		return "the provider rejected the refresh token (invalid_grant)"
	case ReasonNeedsReconnect:
		return "marked as needing a new grant"
	case ReasonRevokedAtProvider:
		return "revoked at the provider"
	case ReasonMetaChanged:
		return "changed at the provider"
	case ReasonExpiredNoRefresh:
		return "token expired and there is no refresh token"
	case ReasonExpiring:
		return "token expires within refresh_before"
	case ReasonExpired:
		return "token expired; a refresh token exists"
	case ReasonExpiredRenew:
		return "token expired; the app obtains a new one (client credentials)"
	case ReasonIdle:
		return "refresh token unused for longer than keep_alive"
	case ReasonRefreshBeforeChanged:
		return "refresh_before changed"
	case ReasonClientSecretChanged:
		return "client_secret changed"
	case ReasonNotDeclared:
		return "in state, no longer declared"
	case ReasonDestroy:
		return "destroy removes every connection"
	case ReasonSeal:
		return "encryption at rest is configured and its tokens are stored in plain text"
	case ReasonReseal:
		return "sealed under the fallback key: apply reseals it under the new key"
	case ReasonEnforce:
		return "encryption is enforced: apply reseals it so that the state records enforced = true"
	}
	return string(r)
}

// Side is the non-secret settings of a connection on one side of a change:
// Before from the state record, After from the configuration.
type Side struct {
	Provider    string `json:"provider"`
	App         string `json:"app,omitempty"` // After only: state does not record the app name
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	// Grant is how the tokens are (after) or were (before) obtained;
	// empty for the authorization code (the default, and records older
	// than the grant attribute).
	Grant         providers.Grant   `json:"grant,omitempty"`
	Scopes        []string          `json:"scopes"`
	Params        map[string]string `json:"params"`
	RefreshBefore time.Duration     `json:"refresh_before"`
	// Sealed: the tokens are (before) or will be (after) sealed at rest.
	Sealed bool `json:"sealed"`
}

// Action is one change to one connection.
type Action struct {
	Conn    string   `json:"connection"`
	Kind    Kind     `json:"action"`
	Reasons []Reason `json:"reasons"`
	// Before is nil for Connect; After is nil for Disconnect.
	Before *Side `json:"before"`
	After  *Side `json:"after"`
	// Expiry of the current access token (zero: none or no token).
	Expiry time.Time `json:"expiry"`
	// HasRefresh tells whether the state holds a refresh token.
	HasRefresh bool `json:"has_refresh_token"`
	// RefreshTokenUsed and KeepAlive explain ReasonIdle: when the refresh
	// token was last used (or issued) and the keep_alive it exceeded.
	RefreshTokenUsed time.Time     `json:"refresh_token_used,omitzero"`
	KeepAlive        time.Duration `json:"keep_alive,omitempty"`
	// CheckStatus explains ReasonRevokedAtProvider: the HTTP status the
	// check_url answered (0: the provider refused without one).
	CheckStatus int `json:"check_status,omitempty"`
	// Meta, for ReasonMetaChanged, holds the connection metadata as the
	// provider now has it (Burner's connected_burners without the burners
	// gone from the account); apply writes it to the record.
	Meta map[string]any `json:"meta,omitempty"`
	// CanRevoke, for Disconnect, says whether the provider can revoke
	// remotely; when false the user must revoke at the provider.
	CanRevoke bool `json:"can_revoke"`
	// RevokeByDiscovery, for Disconnect, says that whether the provider
	// can revoke is known only from its discovery document, at apply.
	RevokeByDiscovery bool `json:"revoke_by_discovery,omitempty"`
}

// Interactive reports whether the action needs a person: a connect or
// reconnect by the authorization code or the device grant. A client
// credentials connect is the app's own request, done with the other
// non-interactive actions.
func (a *Action) Interactive() bool {
	return a.Kind.Interactive() && a.Grant() != providers.GrantClientCredentials
}

// Grant is the grant the action obtains tokens by (the configuration's;
// for a disconnect, the record's).
func (a *Action) Grant() providers.Grant {
	s := a.After
	if s == nil {
		s = a.Before
	}
	if s == nil || s.Grant == "" {
		return providers.GrantAuthorizationCode
	}
	return s.Grant
}

// Mode selects what Diff plans.
type Mode int

// Modes.
const (
	// Normal plans every kind of change.
	Normal Mode = iota
	// RefreshOnly plans only refreshes (the `refresh` command); actions that
	// would need a person go to Plan.Blocked instead.
	RefreshOnly
	// Destroy plans a Disconnect for every connection in state.
	Destroy
)

// String names the mode, for JSON.
func (m Mode) String() string {
	switch m {
	case RefreshOnly:
		return "refresh-only"
	case Destroy:
		return "destroy"
	}
	return "normal"
}

// MarshalText encodes the mode by name.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText decodes a mode name.
func (m *Mode) UnmarshalText(b []byte) error {
	for _, c := range []Mode{Normal, RefreshOnly, Destroy} {
		if c.String() == string(b) {
			*m = c
			return nil
		}
	}
	return fmt.Errorf("unknown plan mode %q", b)
}

// Options tune Diff.
type Options struct {
	Mode Mode
	// Targets, when non-empty, limits the plan to these connections.
	Targets []string
	// Encrypt says encryption at rest is configured: records of a state
	// that is not encrypted yet are sealed (an update each).
	Encrypt bool
	// Enforce says the configuration enforces encryption at rest
	// (enforced = true): an encrypted state that does not record it yet
	// is resealed so that it does (ReasonEnforce).
	Enforce bool
	// Checks are what each connection's check_url answered (plan -check),
	// gathered before Diff: Diff itself sends nothing. A connection
	// without an entry was not checked.
	Checks map[string]Check
}

// Check is what one connection's check call answered.
type Check struct {
	// Revoked: the provider refused the access token (RFC 6750 401, or
	// 403): the grant is no longer accepted and needs a reconnect.
	Revoked bool
	// Status is the HTTP status of the answer (0: none).
	Status int
	// Meta holds the metadata fields (providers.Profile.Metadata) whose
	// value at the provider differs from the record's, with the value the
	// record should now hold: an update.
	Meta map[string]any
}

// Plan is the result of Diff. Actions are sorted by connection name.
type Plan struct {
	FormatVersion string `json:"format_version"`
	// Lineage and Serial of the state snapshot the plan was made from.
	Lineage string `json:"lineage"`
	Serial  uint64 `json:"serial"`
	// ConfigDigest fingerprints the configuration the plan was made from
	// (secrets only as keyed hashes); see Digest.
	ConfigDigest string    `json:"config_digest"`
	Created      time.Time `json:"created"`
	Mode         Mode      `json:"mode"`
	Targets      []string  `json:"targets,omitempty"`
	Actions      []*Action `json:"actions"`
	// Blocked lists, in RefreshOnly mode, the actions left out because they
	// need a person.
	Blocked []*Action `json:"blocked,omitempty"`
}

// Counts returns how many actions of each kind the plan holds.
func (p *Plan) Counts() map[Kind]int {
	c := make(map[Kind]int, len(Kinds))
	for _, k := range Kinds {
		c[k] = 0
	}
	for _, a := range p.Actions {
		c[a.Kind]++
	}
	return c
}

// Changes reports whether the plan holds any action.
func (p *Plan) Changes() bool { return len(p.Actions) > 0 }

// Interactive reports whether any of the plan's actions needs a person.
func (p *Plan) Interactive() bool {
	for _, a := range p.Actions {
		if a.Interactive() {
			return true
		}
	}
	return false
}
