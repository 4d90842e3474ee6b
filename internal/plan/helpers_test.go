package plan

import (
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
)

// Test fixtures: configurations are built directly in Go, never loaded.

var (
	t0          = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	testLineage = "0f1e2d3c-lineage"
)

// Secret values that must never appear in a plan, a digest input or a plan
// file.
const (
	secretA  = "s3cr3t-client-A"
	secretN  = "s3cr3t-client-N"
	accessT  = "s3cr3t-access-token"
	refreshT = "s3cr3t-refresh-token"
)

func profileAcme() *providers.Profile {
	p := providers.Generic("acme")
	p.AuthorizeURL = "https://auth.acme.example/authorize"
	p.TokenURL = "https://auth.acme.example/token"
	p.RevokeURL = "https://auth.acme.example/revoke"
	return p
}

// profileNarrow can narrow a grant without a new one (DownScope) and cannot
// revoke.
func profileNarrow() *providers.Profile {
	p := providers.Generic("narrow")
	p.AuthorizeURL = "https://narrow.example/authorize"
	p.TokenURL = "https://narrow.example/token"
	p.DownScope = true
	return p
}

func testProviders() map[string]*providers.Profile {
	return map[string]*providers.Profile{"acme": profileAcme(), "narrow": profileNarrow()}
}

func newApp(provs map[string]*providers.Profile, name, provider, clientID, clientSecret string) *config.App {
	return &config.App{
		Name:         name,
		Provider:     provider,
		Profile:      provs[provider],
		ClientID:     clientID,
		ClientSecret: secret.New(clientSecret),
		RedirectURI:  "http://127.0.0.1:8765/callback",
	}
}

var (
	provs  = testProviders()
	appA   = newApp(provs, "a", "acme", "cid-a", secretA)
	appN   = newApp(provs, "n", "narrow", "cid-n", secretN)
	appSet = []*config.App{appA, appN}
)

// conn declares a connection on line n of main.oauth.hcl.
func conn(name string, app *config.App, line int, scopes ...string) *config.Connection {
	return &config.Connection{
		Name:          name,
		App:           app,
		Scopes:        scopes,
		RefreshBefore: config.DefaultRefreshBefore,
		DeclRange: hcl.Range{
			Filename: "main.oauth.hcl",
			Start:    hcl.Pos{Line: line, Column: 1, Byte: 0},
			End:      hcl.Pos{Line: line, Column: 20, Byte: 19},
		},
	}
}

// withConn returns a copy of c changed by f.
func withConn(c *config.Connection, f func(*config.Connection)) *config.Connection {
	cp := *c
	cp.Scopes = slices.Clone(c.Scopes)
	cp.Params = maps.Clone(c.Params)
	f(&cp)
	return &cp
}

func newConfig(conns ...*config.Connection) *config.Config {
	cfg := &config.Config{
		Providers:   testProviders(),
		Apps:        map[string]*config.App{},
		Connections: map[string]*config.Connection{},
	}
	for _, a := range appSet {
		cfg.Apps[a.Name] = a
	}
	for _, c := range conns {
		cfg.Connections[c.Name] = c
	}
	return cfg
}

// recordFor is the record a successful apply of c leaves: nothing to do
// at t0 (the token expires in an hour, a refresh token exists).
func recordFor(c *config.Connection) *state.Record {
	return &state.Record{
		Version:          state.RecordVersion,
		Conn:             c.Name,
		Provider:         c.App.Provider,
		ClientID:         c.App.ClientID,
		ClientSecretHash: state.HashSecret(testLineage, c.App.ClientSecret),
		RedirectURI:      c.App.RedirectURI,
		Grant:            string(sideGrant(c.Grant)),
		Scopes:           slices.Clone(c.Scopes),
		GrantedScopes:    slices.Clone(c.Scopes),
		Params:           maps.Clone(c.Params),
		RefreshBefore:    c.RefreshBefore,
		Access:           secret.New(accessT),
		Refresh:          secret.New(refreshT),
		TokenType:        "Bearer",
		Expiry:           t0.Add(time.Hour),
		Status:           state.StatusActive,
		Created:          t0.Add(-24 * time.Hour),
		Refreshed:        t0.Add(-time.Hour),
	}
}

// withRec returns a copy of r changed by f.
func withRec(r *state.Record, f func(*state.Record)) *state.Record {
	cp := *r
	cp.Scopes = slices.Clone(r.Scopes)
	cp.Params = maps.Clone(r.Params)
	f(&cp)
	return &cp
}

func snapshot(recs ...*state.Record) *state.Snapshot {
	s := &state.Snapshot{Lineage: testLineage, Serial: 7, Records: map[string]*state.Record{}}
	for _, r := range recs {
		s.Records[r.Conn] = r
	}
	return s
}

// Expected sides, built field by field from the inputs.

func wantAfter(c *config.Connection) *Side {
	return &Side{
		Provider:      c.App.Provider,
		App:           c.App.Name,
		ClientID:      c.App.ClientID,
		RedirectURI:   c.App.RedirectURI,
		Grant:         sideGrant(c.Grant),
		Scopes:        c.Scopes,
		Params:        c.Params,
		RefreshBefore: c.RefreshBefore,
	}
}

func wantBefore(r *state.Record) *Side {
	return &Side{
		Provider:      r.Provider,
		ClientID:      r.ClientID,
		RedirectURI:   r.RedirectURI,
		Grant:         providers.Grant(r.Grant),
		Scopes:        r.Scopes,
		Params:        r.Params,
		RefreshBefore: r.RefreshBefore,
	}
}

func connectAction(c *config.Connection) *Action {
	return &Action{Conn: c.Name, Kind: Connect, Reasons: []Reason{ReasonNotInState}, After: wantAfter(c)}
}

// changeAction is the expected action for a declared, recorded connection.
func changeAction(c *config.Connection, r *state.Record, kind Kind, reasons ...Reason) *Action {
	return &Action{
		Conn:       c.Name,
		Kind:       kind,
		Reasons:    reasons,
		Before:     wantBefore(r),
		After:      wantAfter(c),
		Expiry:     r.Expiry,
		HasRefresh: !r.Refresh.IsZero(),
	}
}

func disconnectAction(r *state.Record, canRevoke bool, reasons ...Reason) *Action {
	return &Action{
		Conn:       r.Conn,
		Kind:       Disconnect,
		Reasons:    reasons,
		Before:     wantBefore(r),
		Expiry:     r.Expiry,
		HasRefresh: !r.Refresh.IsZero(),
		CanRevoke:  canRevoke,
	}
}
