package plan

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// testCase is one Diff table entry.
type testCase struct {
	cfg         *config.Config
	prior       *state.Snapshot
	now         time.Time // t0 when zero
	opts        Options
	want        []*Action
	wantBlocked []*Action
	wantDiags   hcl.Diagnostics
}

// diffCases is the Diff table, shared by TestDiff and the coverage check.
func diffCases() map[string]testCase {
	// Connections on the acme app (no down-scoping, can revoke) and on the
	// narrow app (down-scoping, no revoke).
	mail := conn("mail", appA, 10, "read", "send")
	docs := conn("docs", appA, 20, "docs")
	feed := conn("feed", appN, 30, "read", "write")

	mailRec := recordFor(mail)
	docsRec := recordFor(docs)
	feedRec := recordFor(feed)

	// A recorded connection no longer declared, on each kind of provider.
	gone := recordFor(conn("gone", appA, 40, "read"))
	goneNarrow := recordFor(conn("gone_narrow", appN, 41))
	goneUnknown := withRec(recordFor(conn("gone_unknown", appA, 42)), func(r *state.Record) { r.Provider = "vanished" })

	expiredNoRefresh := func(r *state.Record) {
		r.Refresh = secret.Secret{}
		r.Expiry = t0.Add(-time.Minute)
	}

	return map[string]testCase{
		"nil prior: everything connects, sorted by name": {
			cfg:   newConfig(mail, docs, feed),
			prior: nil,
			want:  []*Action{connectAction(docs), connectAction(feed), connectAction(mail)},
		},
		"empty state": {
			cfg:   newConfig(mail),
			prior: &state.Snapshot{Lineage: testLineage},
			want:  []*Action{connectAction(mail)},
		},
		"empty config, empty state": {
			cfg:  newConfig(),
			want: nil,
		},
		"no changes": {
			cfg:   newConfig(mail, docs, feed),
			prior: snapshot(mailRec, docsRec, feedRec),
			want:  nil,
		},
		"connect one, keep the others": {
			cfg:   newConfig(mail, docs, feed),
			prior: snapshot(mailRec, feedRec),
			want:  []*Action{connectAction(docs)},
		},

		// Reconnect, one reason each.
		"provider changed": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.Provider = "narrow" })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonProviderChanged)},
			}
		}(),
		"client_id changed": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.ClientID = "cid-old" })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonClientIDChanged)},
			}
		}(),
		"redirect_uri changed": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.RedirectURI = "http://127.0.0.1:9999/cb" })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonRedirectURIChanged)},
			}
		}(),
		"params changed": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.Params = map[string]string{"prompt": "consent"} })
			r := withRec(mailRec, func(r *state.Record) { r.Params = map[string]string{"prompt": "login"} })
			return testCase{
				cfg: newConfig(c), prior: snapshot(r),
				want: []*Action{changeAction(c, r, Reconnect, ReasonParamsChanged)},
			}
		}(),
		"params added": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.Params = map[string]string{"prompt": "consent"} })
			return testCase{
				cfg: newConfig(c), prior: snapshot(mailRec),
				want: []*Action{changeAction(c, mailRec, Reconnect, ReasonParamsChanged)},
			}
		}(),
		"params nil and empty are equal": {
			cfg:   newConfig(withConn(mail, func(c *config.Connection) { c.Params = map[string]string{} })),
			prior: snapshot(mailRec),
			want:  nil,
		},
		"scope added": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.Scopes = append(c.Scopes, "admin") })
			return testCase{
				cfg: newConfig(c), prior: snapshot(mailRec),
				want: []*Action{changeAction(c, mailRec, Reconnect, ReasonScopeAdded)},
			}
		}(),
		"scope order and duplicates do not matter": {
			cfg:   newConfig(withConn(mail, func(c *config.Connection) { c.Scopes = []string{"send", "read"} })),
			prior: snapshot(withRec(mailRec, func(r *state.Record) { r.Scopes = []string{"read", "send", "read"} })),
			want:  nil,
		},
		"scope removed without down-scoping: reconnect for least privilege": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.Scopes = []string{"read"} })
			return testCase{
				cfg: newConfig(c), prior: snapshot(mailRec),
				want: []*Action{changeAction(c, mailRec, Reconnect, ReasonScopeRemoved)},
			}
		}(),
		"scope swapped: added and removed": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.Scopes = []string{"read", "admin"} })
			return testCase{
				cfg: newConfig(c), prior: snapshot(mailRec),
				want: []*Action{changeAction(c, mailRec, Reconnect, ReasonScopeAdded, ReasonScopeRemoved)},
			}
		}(),
		"needs_reconnect after invalid_grant": func() testCase {
			r := withRec(mailRec, func(r *state.Record) {
				r.Status = state.StatusNeedsReconnect
				r.LastError = &state.LastError{Kind: "invalid_grant", Code: "invalid_grant", At: t0.Add(-time.Hour)}
			})
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonInvalidGrant)},
			}
		}(),
		"needs_reconnect for another error": func() testCase {
			r := withRec(mailRec, func(r *state.Record) {
				r.Status = state.StatusNeedsReconnect
				r.LastError = &state.LastError{Kind: "invalid_client"}
			})
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonNeedsReconnect)},
			}
		}(),
		"needs_reconnect without a last error": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.Status = state.StatusNeedsReconnect })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonNeedsReconnect)},
			}
		}(),
		"needs_reconnect with an expired token: the rejected refresh token is not offered": func() testCase {
			r := withRec(mailRec, func(r *state.Record) {
				r.Status = state.StatusNeedsReconnect
				r.LastError = &state.LastError{Kind: "invalid_grant"}
				r.Expiry = t0.Add(-time.Minute)
			})
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonInvalidGrant)},
			}
		}(),
		"expired without refresh token": func() testCase {
			r := withRec(mailRec, expiredNoRefresh)
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonExpiredNoRefresh)},
			}
		}(),
		"boundary: exactly at expiry without refresh token is expired": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.Refresh = secret.Secret{}; r.Expiry = t0 })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonExpiredNoRefresh)},
			}
		}(),
		"no expiry, no refresh token: nothing to do": {
			cfg:   newConfig(mail),
			prior: snapshot(withRec(mailRec, func(r *state.Record) { r.Refresh = secret.Secret{}; r.Expiry = time.Time{} })),
			want:  nil,
		},

		// Refresh.
		"expired with refresh token": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.Expiry = t0.Add(-time.Hour) })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Refresh, ReasonExpired)},
			}
		}(),
		"boundary: exactly at expiry with refresh token is expired": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.Expiry = t0 })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Refresh, ReasonExpired)},
			}
		}(),
		"boundary: 1ns before expiry is expiring, not expired": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.Expiry = t0.Add(time.Nanosecond) })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Refresh, ReasonExpiring)},
			}
		}(),
		"keep_alive: a refresh token unused that long is refreshed": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.KeepAlive = 120 * time.Hour })
			idle := withRec(mailRec, func(r *state.Record) { r.Refreshed = t0.Add(-121 * time.Hour) })
			want := changeAction(c, idle, Refresh, ReasonIdle)
			want.RefreshTokenUsed, want.KeepAlive = idle.Refreshed, 120*time.Hour
			return testCase{cfg: newConfig(c), prior: snapshot(idle), want: []*Action{want}}
		}(),
		"check: a grant revoked at the provider is a reconnect": func() testCase {
			want := changeAction(mail, mailRec, Reconnect, ReasonRevokedAtProvider)
			want.CheckStatus = 401
			return testCase{cfg: newConfig(mail, docs), prior: snapshot(mailRec, docsRec),
				opts: Options{Checks: map[string]Check{"mail": {Revoked: true, Status: 401}, "docs": {Status: 200}}},
				want: []*Action{want}}
		}(),
		"check: metadata changed at the provider is an update": func() testCase {
			meta := map[string]any{"connected_burners": []any{}}
			want := changeAction(mail, mailRec, Update, ReasonMetaChanged)
			want.Meta = meta
			return testCase{cfg: newConfig(mail), prior: snapshot(mailRec),
				opts: Options{Checks: map[string]Check{"mail": {Status: 200, Meta: meta}}},
				want: []*Action{want}}
		}(),
		"keep_alive: a refresh token used within it is left alone": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.KeepAlive = 120 * time.Hour })
			used := withRec(mailRec, func(r *state.Record) { r.Refreshed = t0.Add(-119 * time.Hour) })
			return testCase{cfg: newConfig(c), prior: snapshot(used)}
		}(),
		// Grants.
		"grant changed: reconnect": func() testCase {
			dev := withConn(mail, func(c *config.Connection) { c.Grant = providers.GrantDeviceCode })
			return testCase{
				cfg: newConfig(dev), prior: snapshot(mailRec),
				want: []*Action{changeAction(dev, mailRec, Reconnect, ReasonGrantChanged)},
			}
		}(),
		"client credentials expiring, no refresh token: refresh, no warning": func() testCase {
			cc := withConn(mail, func(c *config.Connection) { c.Grant = providers.GrantClientCredentials })
			r := withRec(recordFor(cc), func(r *state.Record) {
				r.Refresh = secret.Secret{}
				r.Expiry = t0.Add(5 * time.Minute)
			})
			return testCase{
				cfg: newConfig(cc), prior: snapshot(r),
				want: []*Action{changeAction(cc, r, Refresh, ReasonExpiring)},
			}
		}(),
		"client credentials expired, no refresh token: refresh, never a reconnect": func() testCase {
			cc := withConn(mail, func(c *config.Connection) { c.Grant = providers.GrantClientCredentials })
			r := withRec(recordFor(cc), expiredNoRefresh)
			return testCase{
				cfg: newConfig(cc), prior: snapshot(r),
				want: []*Action{changeAction(cc, r, Refresh, ReasonExpiredRenew)},
			}
		}(),
		"client credentials in refresh-only mode: connect left out, not blocked": func() testCase {
			cc := withConn(mail, func(c *config.Connection) { c.Grant = providers.GrantClientCredentials })
			return testCase{
				cfg: newConfig(cc, docs), prior: snapshot(), opts: Options{Mode: RefreshOnly},
				wantBlocked: []*Action{connectAction(docs)},
			}
		}(),
		"expiring within refresh_before": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.Expiry = t0.Add(5 * time.Minute) })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Refresh, ReasonExpiring)},
			}
		}(),
		"boundary: exactly refresh_before from expiry is expiring": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.Expiry = t0.Add(config.DefaultRefreshBefore) })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Refresh, ReasonExpiring)},
			}
		}(),
		"boundary: 1ns outside refresh_before is not expiring": {
			cfg:   newConfig(mail),
			prior: snapshot(withRec(mailRec, func(r *state.Record) { r.Expiry = t0.Add(config.DefaultRefreshBefore + time.Nanosecond) })),
			want:  nil,
		},
		"the declared refresh_before decides expiring": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.RefreshBefore = 2 * time.Hour })
			r := withRec(mailRec, func(r *state.Record) { r.RefreshBefore = 2 * time.Hour })
			return testCase{
				cfg: newConfig(c), prior: snapshot(r),
				want: []*Action{changeAction(c, r, Refresh, ReasonExpiring)},
			}
		}(),

		// Update.
		"refresh_before changed": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.RefreshBefore = 30 * time.Minute })
			return testCase{
				cfg: newConfig(c), prior: snapshot(mailRec),
				want: []*Action{changeAction(c, mailRec, Update, ReasonRefreshBeforeChanged)},
			}
		}(),
		"encryption configured on a plain state: every record is sealed": func() testCase {
			want := changeAction(mail, mailRec, Update, ReasonSeal)
			want.After.Sealed = true
			return testCase{
				cfg: newConfig(mail), prior: snapshot(mailRec), opts: Options{Encrypt: true},
				want: []*Action{want},
			}
		}(),
		"state sealed under the fallback key: every record is resealed": func() testCase {
			prior := snapshot(mailRec)
			prior.Encrypted, prior.UnderFallback = true, true
			want := changeAction(mail, mailRec, Update, ReasonReseal)
			want.Before.Sealed, want.After.Sealed = true, true
			return testCase{
				cfg: newConfig(mail), prior: prior, opts: Options{Encrypt: true},
				want: []*Action{want},
			}
		}(),
		"enforced on an encrypted state that does not record it: resealed": func() testCase {
			prior := snapshot(mailRec)
			prior.Encrypted = true
			want := changeAction(mail, mailRec, Update, ReasonEnforce)
			want.Before.Sealed, want.After.Sealed = true, true
			return testCase{
				cfg: newConfig(mail), prior: prior, opts: Options{Encrypt: true, Enforce: true},
				want: []*Action{want},
			}
		}(),
		"enforced on a state that records it: nothing to do": func() testCase {
			prior := snapshot(mailRec)
			prior.Encrypted, prior.Enforced = true, true
			return testCase{
				cfg: newConfig(mail), prior: prior, opts: Options{Encrypt: true, Enforce: true},
				want: nil,
			}
		}(),
		"encryption configured on an encrypted state: nothing to seal": func() testCase {
			prior := snapshot(mailRec)
			prior.Encrypted = true
			return testCase{
				cfg: newConfig(mail), prior: prior, opts: Options{Encrypt: true},
				want: nil,
			}
		}(),
		"scope removed with down-scoping: update": func() testCase {
			c := withConn(feed, func(c *config.Connection) { c.Scopes = []string{"read"} })
			return testCase{
				cfg: newConfig(c), prior: snapshot(feedRec),
				want: []*Action{changeAction(c, feedRec, Update, ReasonScopeRemoved)},
			}
		}(),
		"scope added with down-scoping is still a reconnect": func() testCase {
			c := withConn(feed, func(c *config.Connection) { c.Scopes = []string{"read", "admin"} })
			return testCase{
				cfg: newConfig(c), prior: snapshot(feedRec),
				want: []*Action{changeAction(c, feedRec, Reconnect, ReasonScopeAdded, ReasonScopeRemoved)},
			}
		}(),
		"client_secret changed": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.ClientSecretHash = state.HashSecret(testLineage, secret.New("old")) })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Update, ReasonClientSecretChanged)},
			}
		}(),
		"client_secret fingerprint is keyed by the lineage": func() testCase {
			r := withRec(mailRec, func(r *state.Record) { r.ClientSecretHash = state.HashSecret("another-lineage", appA.ClientSecret) })
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Update, ReasonClientSecretChanged)},
			}
		}(),

		// Disconnect.
		"disconnect, provider can revoke": {
			cfg:   newConfig(mail),
			prior: snapshot(mailRec, gone),
			want:  []*Action{disconnectAction(gone, true, ReasonNotDeclared)},
		},
		"disconnect, an issuer-only provider: its discovery document decides": func() testCase {
			cfg := newConfig(mail)
			acme := &providers.Profile{Name: "acme", Issuer: "https://auth.acme.example"}
			cfg.Providers[acme.Name] = acme
			r := withRec(gone, func(r *state.Record) { r.Provider = "acme" })
			want := disconnectAction(r, false, ReasonNotDeclared)
			want.RevokeByDiscovery = true
			return testCase{cfg: cfg, prior: snapshot(mailRec, r), want: []*Action{want}}
		}(),
		"disconnect, an issuer-only provider whose metadata the record keeps: exact": func() testCase {
			cfg := newConfig(mail)
			acme := &providers.Profile{Name: "acme", Issuer: "https://auth.acme.example"}
			cfg.Providers[acme.Name] = acme
			with := withRec(gone, func(r *state.Record) {
				r.Conn, r.Provider = "with", "acme"
				r.Discovery = &state.Discovery{Issuer: acme.Issuer + "/", TokenURL: acme.Issuer + "/token", RevokeURL: acme.Issuer + "/revoke"}
			})
			without := withRec(gone, func(r *state.Record) {
				r.Conn, r.Provider = "without", "acme"
				r.Discovery = &state.Discovery{Issuer: acme.Issuer, TokenURL: acme.Issuer + "/token"}
			})
			// Metadata of another issuer (the provider block changed) says
			// nothing about this one.
			other := withRec(gone, func(r *state.Record) {
				r.Conn, r.Provider = "other", "acme"
				r.Discovery = &state.Discovery{Issuer: "https://old.example", RevokeURL: "https://old.example/revoke"}
			})
			wantOther := disconnectAction(other, false, ReasonNotDeclared)
			wantOther.RevokeByDiscovery = true
			return testCase{cfg: cfg, prior: snapshot(mailRec, with, without, other), want: []*Action{
				wantOther, disconnectAction(with, true, ReasonNotDeclared), disconnectAction(without, false, ReasonNotDeclared),
			}}
		}(),
		"disconnect, provider cannot revoke": {
			cfg:   newConfig(),
			prior: snapshot(goneNarrow),
			want:  []*Action{disconnectAction(goneNarrow, false, ReasonNotDeclared)},
		},
		"disconnect, provider no longer known": {
			cfg:   newConfig(),
			prior: snapshot(goneUnknown),
			want:  []*Action{disconnectAction(goneUnknown, false, ReasonNotDeclared)},
		},

		// Precedence and multiple reasons.
		"reconnect beats refresh and update; every reason listed in order": func() testCase {
			c := withConn(mail, func(c *config.Connection) { c.RefreshBefore = 20 * time.Minute })
			r := withRec(mailRec, func(r *state.Record) {
				r.ClientID = "cid-old"
				r.Expiry = t0.Add(15 * time.Minute)
				r.ClientSecretHash = "hmac-sha256:old"
			})
			return testCase{
				cfg: newConfig(c), prior: snapshot(r),
				want: []*Action{changeAction(c, r, Reconnect,
					ReasonClientIDChanged, ReasonExpiring, ReasonRefreshBeforeChanged, ReasonClientSecretChanged)},
			}
		}(),
		"refresh beats update": func() testCase {
			r := withRec(mailRec, func(r *state.Record) {
				r.Expiry = t0.Add(-time.Second)
				r.RefreshBefore = time.Minute
				r.ClientSecretHash = ""
			})
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Refresh, ReasonExpired, ReasonRefreshBeforeChanged, ReasonClientSecretChanged)},
			}
		}(),
		"every reconnect reason at once": func() testCase {
			c := withConn(mail, func(c *config.Connection) {
				c.Scopes = []string{"read", "admin"}
				c.Params = map[string]string{"prompt": "consent"}
			})
			r := withRec(mailRec, func(r *state.Record) {
				r.Provider = "narrow"
				r.ClientID = "cid-old"
				r.RedirectURI = "http://127.0.0.1:1/old"
				r.Status = state.StatusNeedsReconnect
				r.LastError = &state.LastError{Kind: "invalid_grant"}
				r.Refresh = secret.Secret{}
				r.Expiry = t0.Add(-time.Hour)
			})
			return testCase{
				cfg: newConfig(c), prior: snapshot(r),
				want: []*Action{changeAction(c, r, Reconnect,
					ReasonProviderChanged, ReasonClientIDChanged, ReasonRedirectURIChanged, ReasonParamsChanged,
					ReasonScopeAdded, ReasonScopeRemoved, ReasonInvalidGrant, ReasonExpiredNoRefresh)},
			}
		}(),
		"one of each kind, sorted by name": func() testCase {
			docsR := withRec(docsRec, func(r *state.Record) { r.Expiry = t0.Add(time.Minute) })
			feedC := withConn(feed, func(c *config.Connection) { c.RefreshBefore = time.Minute })
			mailR := withRec(mailRec, func(r *state.Record) { r.ClientID = "cid-old" })
			newC := conn("new", appA, 50)
			return testCase{
				cfg:   newConfig(mail, docs, feedC, newC),
				prior: snapshot(mailR, docsR, feedRec, gone),
				want: []*Action{
					changeAction(docs, docsR, Refresh, ReasonExpiring),
					changeAction(feedC, feedRec, Update, ReasonRefreshBeforeChanged),
					disconnectAction(gone, true, ReasonNotDeclared),
					changeAction(mail, mailR, Reconnect, ReasonClientIDChanged),
					connectAction(newC),
				},
			}
		}(),

		// A token that will expire and cannot be refreshed.
		"expiring without refresh token: no action, a warning": {
			cfg: newConfig(mail),
			prior: snapshot(withRec(mailRec, func(r *state.Record) {
				r.Refresh = secret.Secret{}
				r.Expiry = t0.Add(5 * time.Minute)
			})),
			want: nil,
			wantDiags: hcl.Diagnostics{{
				Severity: hcl.DiagWarning,
				Summary:  "Token expires soon and cannot be refreshed",
				Detail: `The access token of connection "mail" expires at 2026-03-01T12:05:00Z (in 5m0s) and there is no refresh token. ` +
					`After that time it needs a new grant: run "oauthform apply" to authorize it again.`,
				Subject: &mail.DeclRange,
			}},
		},
		"boundary: exactly refresh_before from expiry without refresh token warns": {
			cfg: newConfig(mail),
			prior: snapshot(withRec(mailRec, func(r *state.Record) {
				r.Refresh = secret.Secret{}
				r.Expiry = t0.Add(config.DefaultRefreshBefore)
			})),
			wantDiags: hcl.Diagnostics{{
				Severity: hcl.DiagWarning,
				Summary:  "Token expires soon and cannot be refreshed",
				Detail: `The access token of connection "mail" expires at 2026-03-01T12:10:00Z (in 10m0s) and there is no refresh token. ` +
					`After that time it needs a new grant: run "oauthform apply" to authorize it again.`,
				Subject: &mail.DeclRange,
			}},
		},
		"expiring without refresh token and an update: both": func() testCase {
			r := withRec(mailRec, func(r *state.Record) {
				r.Refresh = secret.Secret{}
				r.Expiry = t0.Add(90 * time.Second)
				r.RefreshBefore = time.Minute
			})
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Update, ReasonRefreshBeforeChanged)},
				wantDiags: hcl.Diagnostics{{
					Severity: hcl.DiagWarning,
					Summary:  "Token expires soon and cannot be refreshed",
					Detail: `The access token of connection "mail" expires at 2026-03-01T12:01:30Z (in 1m30s) and there is no refresh token. ` +
						`After that time it needs a new grant: run "oauthform apply" to authorize it again.`,
					Subject: &mail.DeclRange,
				}},
			}
		}(),
		"expiring without refresh token but reconnecting anyway: no warning": func() testCase {
			r := withRec(mailRec, func(r *state.Record) {
				r.Refresh = secret.Secret{}
				r.Expiry = t0.Add(time.Minute)
				r.ClientID = "cid-old"
			})
			return testCase{
				cfg: newConfig(mail), prior: snapshot(r),
				want: []*Action{changeAction(mail, r, Reconnect, ReasonClientIDChanged)},
			}
		}(),

		// Targets.
		"targets limit the plan": {
			cfg:   newConfig(mail, docs, feed),
			prior: nil,
			opts:  Options{Targets: []string{"mail", "docs", "mail"}},
			want:  []*Action{connectAction(docs), connectAction(mail)},
		},
		"target only in state": {
			cfg:   newConfig(mail),
			prior: snapshot(mailRec, gone, goneNarrow),
			opts:  Options{Targets: []string{"gone"}},
			want:  []*Action{disconnectAction(gone, true, ReasonNotDeclared)},
		},
		"target with nothing to do": {
			cfg:   newConfig(mail, docs),
			prior: snapshot(mailRec),
			opts:  Options{Targets: []string{"mail"}},
			want:  nil,
		},
		"invalid target with a suggestion": {
			cfg:   newConfig(mail, docs),
			prior: snapshot(gone),
			opts:  Options{Targets: []string{"mial", "docs", "nonesuch"}},
			wantDiags: hcl.Diagnostics{
				{
					Severity: hcl.DiagError,
					Summary:  "Invalid target",
					Detail:   `No connection named "mial" is declared in the configuration or recorded in the state. Did you mean "mail"?`,
				},
				{
					Severity: hcl.DiagError,
					Summary:  "Invalid target",
					Detail:   `No connection named "nonesuch" is declared in the configuration or recorded in the state.`,
				},
			},
		},
		"invalid target suggests a name from state": {
			cfg:   newConfig(),
			prior: snapshot(gone),
			opts:  Options{Targets: []string{"gnoe"}},
			wantDiags: hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid target",
				Detail:   `No connection named "gnoe" is declared in the configuration or recorded in the state. Did you mean "gone"?`,
			}},
		},

		// Refresh-only mode.
		"refresh-only keeps refreshes, blocks what needs a person": func() testCase {
			docsR := withRec(docsRec, func(r *state.Record) { r.Expiry = t0.Add(-time.Minute) })
			feedC := withConn(feed, func(c *config.Connection) { c.RefreshBefore = time.Minute })
			mailR := withRec(mailRec, expiredNoRefresh)
			newC := conn("new", appA, 50)
			return testCase{
				cfg:   newConfig(mail, docs, feedC, newC),
				prior: snapshot(mailR, docsR, feedRec, gone),
				opts:  Options{Mode: RefreshOnly},
				want:  []*Action{changeAction(docs, docsR, Refresh, ReasonExpired)},
				wantBlocked: []*Action{
					changeAction(mail, mailR, Reconnect, ReasonExpiredNoRefresh),
					connectAction(newC),
				},
			}
		}(),
		"refresh-only with targets": func() testCase {
			docsR := withRec(docsRec, func(r *state.Record) { r.Expiry = t0.Add(-time.Minute) })
			mailR := withRec(mailRec, func(r *state.Record) { r.Expiry = t0.Add(-time.Minute) })
			return testCase{
				cfg:   newConfig(mail, docs),
				prior: snapshot(mailR, docsR),
				opts:  Options{Mode: RefreshOnly, Targets: []string{"mail"}},
				want:  []*Action{changeAction(mail, mailR, Refresh, ReasonExpired)},
			}
		}(),
		"refresh-only still warns about tokens that cannot be refreshed": {
			cfg: newConfig(mail),
			prior: snapshot(withRec(mailRec, func(r *state.Record) {
				r.Refresh = secret.Secret{}
				r.Expiry = t0.Add(time.Minute)
			})),
			opts: Options{Mode: RefreshOnly},
			wantDiags: hcl.Diagnostics{{
				Severity: hcl.DiagWarning,
				Summary:  "Token expires soon and cannot be refreshed",
				Detail: `The access token of connection "mail" expires at 2026-03-01T12:01:00Z (in 1m0s) and there is no refresh token. ` +
					`After that time it needs a new grant: run "oauthform apply" to authorize it again.`,
				Subject: &mail.DeclRange,
			}},
		},

		// Destroy mode.
		"destroy disconnects every record and nothing else": {
			cfg:   newConfig(mail, docs, feed),
			prior: snapshot(withRec(mailRec, expiredNoRefresh), feedRec, goneUnknown),
			opts:  Options{Mode: Destroy},
			want: []*Action{
				disconnectAction(feedRec, false, ReasonDestroy),
				disconnectAction(goneUnknown, false, ReasonNotDeclared, ReasonDestroy),
				disconnectAction(withRec(mailRec, expiredNoRefresh), true, ReasonDestroy),
			},
		},
		"destroy with targets": {
			cfg:   newConfig(mail, docs, feed),
			prior: snapshot(mailRec, feedRec),
			opts:  Options{Mode: Destroy, Targets: []string{"mail", "docs"}},
			want:  []*Action{disconnectAction(mailRec, true, ReasonDestroy)},
		},
		"destroy without configuration": {
			cfg:   nil,
			prior: snapshot(mailRec),
			opts:  Options{Mode: Destroy},
			want:  []*Action{disconnectAction(mailRec, false, ReasonNotDeclared, ReasonDestroy)},
		},
		"destroy with no state": {
			cfg:   newConfig(mail),
			prior: nil,
			opts:  Options{Mode: Destroy},
			want:  nil,
		},
	}
}

func TestDiff(t *testing.T) {
	for name, tc := range diffCases() {
		t.Run(name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			got, diags := Diff(tc.cfg, tc.prior, now, tc.opts)
			if d := cmp.Diff(tc.wantDiags, diags); d != "" {
				t.Errorf("diagnostics (-want +got):\n%s", d)
			}
			if diags.HasErrors() {
				if got != nil {
					t.Errorf("got a plan with error diagnostics")
				}
				return
			}
			if d := cmp.Diff(tc.want, got.Actions, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("actions (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantBlocked, got.Blocked); d != "" {
				t.Errorf("blocked (-want +got):\n%s", d)
			}
			if got.Changes() != (len(tc.want) > 0) {
				t.Errorf("Changes() = %v with %d actions", got.Changes(), len(tc.want))
			}
		})
	}
}

// TestDiffTableCoverage checks that the Diff table is complete: every
// reason and every kind appears in some expected action.
func TestDiffTableCoverage(t *testing.T) {
	seenReasons := map[Reason]bool{}
	seenKinds := map[Kind]bool{}
	for _, tc := range diffCases() {
		for _, a := range append(append([]*Action{}, tc.want...), tc.wantBlocked...) {
			seenKinds[a.Kind] = true
			for _, r := range a.Reasons {
				seenReasons[r] = true
			}
		}
	}
	for _, r := range Reasons {
		if !seenReasons[r] {
			t.Errorf("no table case expects reason %s", r)
		}
		if r.Text() == string(r) {
			t.Errorf("reason %s has no text", r)
		}
	}
	for _, k := range Kinds {
		if !seenKinds[k] {
			t.Errorf("no table case expects kind %s", k)
		}
	}
}

func TestDiffPlanHeader(t *testing.T) {
	mail := conn("mail", appA, 1, "read")
	cfg := newConfig(mail)

	t.Run("from a snapshot", func(t *testing.T) {
		snap := snapshot(recordFor(mail))
		got, diags := Diff(cfg, snap, t0, Options{Targets: []string{"mail"}})
		if len(diags) != 0 {
			t.Fatal(diags)
		}
		want := &Plan{
			FormatVersion: FormatVersion,
			Lineage:       testLineage,
			Serial:        7,
			ConfigDigest:  Digest(cfg, testLineage),
			Created:       t0,
			Mode:          Normal,
			Targets:       []string{"mail"},
			Actions:       []*Action{},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("plan (-want +got):\n%s", d)
		}
	})
	t.Run("without state", func(t *testing.T) {
		got, _ := Diff(cfg, nil, t0, Options{Mode: RefreshOnly, Targets: []string{"mail"}})
		if got.Lineage != "" || got.Serial != 0 || got.ConfigDigest != Digest(cfg, "") || got.Mode != RefreshOnly {
			t.Errorf("header = %q %d %q %v", got.Lineage, got.Serial, got.ConfigDigest, got.Mode)
		}
		if len(got.Actions) != 0 || len(got.Blocked) != 1 {
			t.Errorf("actions %d, blocked %d; want 0, 1", len(got.Actions), len(got.Blocked))
		}
	})
}

// TestDiffDoesNotAliasInputs checks that a plan shares no slice or map with
// the configuration or the state, so renderers may not corrupt them.
func TestDiffDoesNotAliasInputs(t *testing.T) {
	c := withConn(conn("mail", appA, 1, "read"), func(c *config.Connection) { c.Params = map[string]string{"p": "1"} })
	r := withRec(recordFor(c), func(r *state.Record) { r.ClientID = "old" })
	p, _ := Diff(newConfig(c), snapshot(r), t0, Options{})
	a := p.Actions[0]
	a.Before.Scopes[0], a.After.Scopes[0] = "x", "x"
	a.Before.Params["p"], a.After.Params["p"] = "x", "x"
	if c.Scopes[0] != "read" || r.Scopes[0] != "read" || c.Params["p"] != "1" || r.Params["p"] != "1" {
		t.Error("the plan aliases its inputs")
	}
}

func TestDiffIsDeterministic(t *testing.T) {
	cfg, snap := bigFixture(200, true)
	for _, r := range snap.Records {
		r.ClientID = "changed"
	}
	first, _ := Diff(cfg, snap, t0, Options{})
	for range 10 {
		again, _ := Diff(cfg, snap, t0, Options{})
		if d := cmp.Diff(first, again); d != "" {
			t.Fatalf("plans differ between runs:\n%s", d)
		}
	}
}

// TestInteractiveByGrant checks that a client credentials connect needs no
// person, and that the other grants' connects and reconnects do.
func TestInteractiveByGrant(t *testing.T) {
	for g, want := range map[providers.Grant]bool{
		"": true, providers.GrantAuthorizationCode: true,
		providers.GrantDeviceCode: true, providers.GrantClientCredentials: false,
	} {
		c := withConn(conn("c", appA, 1, "read"), func(c *config.Connection) { c.Grant = g })
		p, diags := Diff(newConfig(c), nil, t0, Options{})
		if diags.HasErrors() || len(p.Actions) != 1 {
			t.Fatalf("grant %q: %v, %d actions", g, diags, len(p.Actions))
		}
		if got := p.Actions[0].Interactive(); got != want {
			t.Errorf("grant %q: connect Interactive() = %v, want %v", g, got, want)
		}
	}
}
