package plan

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// Diff compares the configuration with a prior state snapshot at the time
// now and returns the actions apply must take. It is a pure function: no
// I/O, no clock other than now, and the same inputs always give the same
// plan. prior may be nil or empty (no state yet); cfg may be nil in Destroy
// mode.
//
// For a connection that is declared and recorded, every rule of DESIGN.md's
// table is checked and every reason that applies is listed (in the order of
// Reasons); the kind is the strongest that applies: Reconnect, then Refresh,
// then Update. Refresh reasons need a usable refresh token: one exists and
// the record is not marked needs_reconnect.
//
// When the returned diagnostics hold an error (an invalid target), the plan
// is nil. Warnings (a token that expires soon and cannot be refreshed) come
// with a plan.
func Diff(cfg *config.Config, prior *state.Snapshot, now time.Time, opts Options) (*Plan, hcl.Diagnostics) {
	if cfg == nil {
		cfg = &config.Config{}
	}
	if prior == nil {
		prior = &state.Snapshot{}
	}

	names, diags := connNames(cfg, prior, opts.Targets)
	if diags.HasErrors() {
		return nil, diags
	}

	p := &Plan{
		FormatVersion: FormatVersion,
		Lineage:       prior.Lineage,
		Serial:        prior.Serial,
		ConfigDigest:  Digest(cfg, prior.Lineage),
		Created:       now,
		Mode:          opts.Mode,
		Targets:       sortedUnique(opts.Targets),
		Actions:       []*Action{},
	}

	d := differ{cfg: cfg, lineage: prior.Lineage, now: now, hashes: map[*config.App]string{},
		encrypted: prior.Encrypted, encrypt: opts.Encrypt, reseal: resealReason(prior, opts), checks: opts.Checks}
	for _, name := range names {
		conn := cfg.Connections[name]
		rec := prior.Records[name]

		if opts.Mode == Destroy {
			if rec != nil {
				p.Actions = append(p.Actions, d.destroy(name, conn, rec))
			}
			continue
		}

		var a *Action
		switch {
		case conn != nil && rec == nil:
			a = &Action{Conn: name, Kind: Connect, Reasons: []Reason{ReasonNotInState}, After: d.afterSide(conn)}
		case conn == nil && rec != nil:
			a = d.disconnect(name, rec, []Reason{ReasonNotDeclared})
		default:
			var diag *hcl.Diagnostic
			a, diag = d.change(name, conn, rec)
			if diag != nil {
				diags = append(diags, diag)
			}
		}
		if a == nil {
			continue
		}

		if opts.Mode == RefreshOnly {
			switch a.Kind {
			case Refresh:
			case Connect, Reconnect:
				// A client credentials (re)connect needs no person, but
				// it is not a refresh either: left for apply.
				if a.Interactive() {
					p.Blocked = append(p.Blocked, a)
				}
				continue
			default:
				continue
			}
		}
		p.Actions = append(p.Actions, a)
	}
	return p, diags
}

// connNames returns the sorted names of the connections the plan covers:
// every declared or recorded connection, or only the targets. A target that
// is neither is an error.
func connNames(cfg *config.Config, prior *state.Snapshot, targets []string) ([]string, hcl.Diagnostics) {
	all := make([]string, 0, len(cfg.Connections)+len(prior.Records))
	for n := range cfg.Connections {
		all = append(all, n)
	}
	for n := range prior.Records {
		if _, ok := cfg.Connections[n]; !ok {
			all = append(all, n)
		}
	}
	sort.Strings(all)
	if len(targets) == 0 {
		return all, nil
	}

	var diags hcl.Diagnostics
	var names []string
	for _, t := range sortedUnique(targets) {
		_, declared := cfg.Connections[t]
		_, recorded := prior.Records[t]
		if declared || recorded {
			names = append(names, t)
			continue
		}
		detail := fmt.Sprintf("No connection named %q is declared in the configuration or recorded in the state.", t)
		if s := suggest(t, all); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid target",
			Detail:   detail,
		})
	}
	return names, diags
}

// suggest returns the candidate closest to name, or "" when none is close
// (the same threshold HCL uses for its "Did you mean" hints).
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(name, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

type differ struct {
	cfg     *config.Config
	lineage string
	now     time.Time
	// hashes caches the client secret fingerprint per app: there are few
	// apps and many connections.
	hashes map[*config.App]string
	// encrypted: the state is encrypted at rest; encrypt: the
	// configuration says it must be.
	encrypted, encrypt bool
	// reseal: why every record is resealed under the configured key ("":
	// it is not; resealReason).
	reseal Reason
	// checks are the check_url answers of plan -check (nil: none).
	checks map[string]Check
}

// reasonSet collects reasons; Reasons gives them back in canonical order.
type reasonSet uint32

func (s *reasonSet) add(r Reason) {
	for i, o := range Reasons {
		if o == r {
			*s |= 1 << i
			return
		}
	}
	panic("plan: unknown reason " + string(r))
}

func (s reasonSet) list() []Reason {
	var out []Reason
	for i, r := range Reasons {
		if s&(1<<i) != 0 {
			out = append(out, r)
		}
	}
	return out
}

// change diffs a declared connection against its record. It returns nil
// when nothing needs doing, and a warning when the token will soon expire
// and cannot be refreshed.
func (d *differ) change(name string, conn *config.Connection, rec *state.Record) (*Action, *hcl.Diagnostic) {
	app := conn.App
	if app == nil {
		app = &config.App{}
	}
	profile := d.profile(app)

	var (
		reasons                    reasonSet
		reconnect, refresh, update bool
	)
	need := func(kind *bool, r Reason) {
		*kind = true
		reasons.add(r)
	}

	// Reconnect: the grant itself no longer matches.
	if rec.Provider != app.Provider {
		need(&reconnect, ReasonProviderChanged)
	}
	if rec.ClientID != app.ClientID {
		need(&reconnect, ReasonClientIDChanged)
	}
	if rec.RedirectURI != app.RedirectURI {
		need(&reconnect, ReasonRedirectURIChanged)
	}
	if recordGrant(rec) != connGrant(conn) {
		need(&reconnect, ReasonGrantChanged)
	}
	if !maps.Equal(rec.Params, conn.Params) {
		need(&reconnect, ReasonParamsChanged)
	}
	if !subset(conn.Scopes, rec.Scopes) {
		need(&reconnect, ReasonScopeAdded)
	}
	if !subset(rec.Scopes, conn.Scopes) {
		// Least privilege: a provider that cannot narrow an existing grant
		// needs a new one.
		if profile != nil && profile.DownScope {
			need(&update, ReasonScopeRemoved)
		} else {
			need(&reconnect, ReasonScopeRemoved)
		}
	}
	if rec.Status == state.StatusNeedsReconnect {
		if rec.LastError != nil && rec.LastError.Kind == "invalid_grant" {
			need(&reconnect, ReasonInvalidGrant)
		} else {
			need(&reconnect, ReasonNeedsReconnect)
		}
	}

	check, checked := d.checks[name]
	if checked && check.Revoked {
		need(&reconnect, ReasonRevokedAtProvider)
	}
	if checked && len(check.Meta) > 0 {
		need(&update, ReasonMetaChanged)
	}

	hasRefresh := !rec.Refresh.IsZero()
	expires := !rec.Expiry.IsZero()
	expired := expires && !d.now.Before(rec.Expiry)
	expiring := expires && !expired && rec.Expiry.Sub(d.now) <= conn.RefreshBefore
	// A client credentials connection needs no refresh token: its
	// "refresh" is a new token for the app (no person either way).
	renews := connGrant(conn) == providers.GrantClientCredentials && recordGrant(rec) == providers.GrantClientCredentials
	if expired && !hasRefresh && !renews {
		need(&reconnect, ReasonExpiredNoRefresh)
	}

	// Refresh: only with a refresh token the provider has not rejected,
	// or by the client credentials.
	if renews && !hasRefresh {
		if expired {
			need(&refresh, ReasonExpiredRenew)
		} else if expiring {
			need(&refresh, ReasonExpiring)
		}
	} else if hasRefresh && rec.Status != state.StatusNeedsReconnect {
		if expired {
			need(&refresh, ReasonExpired)
		} else if expiring {
			need(&refresh, ReasonExpiring)
		}
	}

	// Keep-alive: a refresh token unused for keep_alive is refreshed, for
	// providers that expire idle refresh tokens.
	lastUse, keepAlive := refreshTokenUse(rec), conn.EffectiveKeepAlive()
	idle := hasRefresh && rec.Status != state.StatusNeedsReconnect && keepAlive > 0 && !lastUse.IsZero() &&
		d.now.Sub(lastUse) >= keepAlive
	if idle && !refresh {
		need(&refresh, ReasonIdle)
	}

	// Update: local settings only.
	if conn.RefreshBefore != rec.RefreshBefore {
		need(&update, ReasonRefreshBeforeChanged)
	}
	// Configured encryption is in force at once: a plain record is sealed.
	if d.encrypt && !d.encrypted {
		need(&update, ReasonSeal)
	}
	if d.reseal != "" {
		need(&update, d.reseal)
	}
	// A record read without the passphrase has its secret hash sealed:
	// nothing to compare it with.
	if !rec.Sealed && d.secretHash(app) != rec.ClientSecretHash {
		need(&update, ReasonClientSecretChanged)
	}

	var diag *hcl.Diagnostic
	if expiring && !hasRefresh && !reconnect && !renews {
		diag = &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Token expires soon and cannot be refreshed",
			Detail: fmt.Sprintf("The access token of connection %q expires at %s (in %s) and there is no refresh token. "+
				"After that time it needs a new grant: run \"oauthform apply\" to authorize it again.",
				name, rec.Expiry.UTC().Format(time.RFC3339), rec.Expiry.Sub(d.now).Round(time.Second)),
			Subject: conn.DeclRange.Ptr(),
		}
	}

	if le := rec.LastError; diag == nil && rec.Status == state.StatusFailing && le != nil {
		diag = &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Connection failing",
			Detail: fmt.Sprintf("Refreshes of connection %q have failed since %s (%d attempts; last: %s at %s). "+
				"oauthform keeps retrying with backoff (next attempt %s); check the provider's status, or run \"oauthform apply\" to authorize it again if it no longer accepts the grant.",
				name, le.Since.UTC().Format(time.RFC3339), le.Count, le.Kind, le.At.UTC().Format(time.RFC3339), le.Next.UTC().Format(time.RFC3339)),
			Subject: conn.DeclRange.Ptr(),
		}
	}

	var kind Kind
	switch {
	case reconnect:
		kind = Reconnect
	case refresh:
		kind = Refresh
	case update:
		kind = Update
	default:
		return nil, diag
	}
	a := &Action{
		Conn:       name,
		Kind:       kind,
		Reasons:    reasons.list(),
		Before:     d.beforeSide(rec),
		After:      d.afterSide(conn),
		Expiry:     rec.Expiry,
		HasRefresh: hasRefresh,
	}
	if idle {
		a.RefreshTokenUsed, a.KeepAlive = lastUse, keepAlive
	}
	if checked && check.Revoked {
		a.CheckStatus = check.Status
	}
	if checked && len(check.Meta) > 0 {
		a.Meta = check.Meta
	}
	return a, diag
}

// refreshTokenUse is when rec's refresh token was last used or issued.
func refreshTokenUse(rec *state.Record) time.Time {
	if !rec.Refreshed.IsZero() {
		return rec.Refreshed
	}
	return rec.Created
}

func (d *differ) disconnect(name string, rec *state.Record, reasons []Reason) *Action {
	canRevoke, byDiscovery := revocable(d.cfg.Providers[rec.Provider], rec)
	return &Action{
		Conn:       name,
		Kind:       Disconnect,
		Reasons:    reasons,
		Before:     d.beforeSide(rec),
		Expiry:     rec.Expiry,
		HasRefresh: !rec.Refresh.IsZero(),
		CanRevoke:  canRevoke,
		// An issuer-only provider's endpoints, revocation included, come
		// from its discovery document when the apply runs; the record
		// keeps what the last one found.
		RevokeByDiscovery: byDiscovery,
	}
}

// revocable says whether rec's tokens can be revoked at provider p, and
// whether that is only known once p's discovery runs (no copy of its
// metadata in the record).
func revocable(p *providers.Profile, rec *state.Record) (can, byDiscovery bool) {
	switch {
	case p == nil:
		return false, false
	case p.RevokeURL != "":
		return true, false
	case p.Issuer == "" || p.TokenURL != "":
		return false, false
	case rec.Discovery != nil && providers.SameIssuer(rec.Discovery.Issuer, p.Issuer):
		return rec.Discovery.RevokeURL != "", false
	}
	return false, true
}

func (d *differ) destroy(name string, conn *config.Connection, rec *state.Record) *Action {
	if conn == nil {
		return d.disconnect(name, rec, []Reason{ReasonNotDeclared, ReasonDestroy})
	}
	return d.disconnect(name, rec, []Reason{ReasonDestroy})
}

func (d *differ) profile(app *config.App) *providers.Profile {
	if app.Profile != nil {
		return app.Profile
	}
	return d.cfg.Providers[app.Provider]
}

func (d *differ) secretHash(app *config.App) string {
	h, ok := d.hashes[app]
	if !ok {
		h = state.HashSecret(d.lineage, app.ClientSecret)
		d.hashes[app] = h
	}
	return h
}

// recordGrant is the grant rec's tokens came from (empty: the
// authorization code, as before the grant attribute).
func recordGrant(rec *state.Record) providers.Grant {
	if rec.Grant == "" {
		return providers.GrantAuthorizationCode
	}
	return providers.Grant(rec.Grant)
}

// connGrant is the grant conn is declared with (empty: the default).
func connGrant(conn *config.Connection) providers.Grant {
	if conn.Grant == "" {
		return providers.GrantAuthorizationCode
	}
	return conn.Grant
}

// sideGrant is g as a Side keeps it: empty for the default, so that a
// plan of connections without a grant attribute reads as before.
func sideGrant(g providers.Grant) providers.Grant {
	if g == providers.GrantAuthorizationCode {
		return ""
	}
	return g
}

// subset reports whether every element of a is in b. Scope lists are short,
// so a nested scan beats building a set.
func subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

func (d *differ) beforeSide(rec *state.Record) *Side {
	return &Side{
		Sealed:        d.encrypted,
		Provider:      rec.Provider,
		ClientID:      rec.ClientID,
		RedirectURI:   rec.RedirectURI,
		Grant:         sideGrant(recordGrant(rec)),
		Scopes:        slices.Clone(rec.Scopes),
		Params:        maps.Clone(rec.Params),
		RefreshBefore: rec.RefreshBefore,
	}
}

func (d *differ) afterSide(conn *config.Connection) *Side {
	s := &Side{
		Grant:         sideGrant(connGrant(conn)),
		Sealed:        d.encrypted || d.encrypt,
		Scopes:        slices.Clone(conn.Scopes),
		Params:        maps.Clone(conn.Params),
		RefreshBefore: conn.RefreshBefore,
	}
	if app := conn.App; app != nil {
		s.Provider = app.Provider
		s.App = app.Name
		s.ClientID = app.ClientID
		s.RedirectURI = app.RedirectURI
	}
	return s
}
