package providers_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
)

// The conformance suite runs the client against each provider's emulator.
// The emulators are written from the providers' documents, independently
// of the client, so a misreading on either side fails here.

const (
	testClientID     = "conformance-client"
	testClientSecret = "conformance-secret"
	testRedirect     = "http://127.0.0.1:8765/callback"
)

// clock is a fake clock shared by an emulator and a client.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one emulator on 127.0.0.1 and a client of its provider.
type env struct {
	emu    *emulator.Server
	srv    *httptest.Server
	clock  *clock
	client *providers.Client
}

type envOptions struct {
	rotate *bool
}

// newEnv starts the emulator of provider and a client whose profile is p
// (nil: the built-in of the same name rebased onto the emulator).
func newEnv(t *testing.T, provider string, p *providers.Profile, eo envOptions) *env {
	t.Helper()
	clk := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	emu, err := emulator.New(emulator.Options{
		Provider:      provider,
		Clients:       []emulator.Client{{ID: testClientID, Secret: testClientSecret, RedirectURIs: []string{testRedirect}}},
		Now:           clk.Now,
		RotateRefresh: eo.rotate,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	if p == nil {
		b, ok := providers.Builtin(provider)
		if !ok {
			t.Fatalf("no built-in %s", provider)
		}
		if p, err = b.Rebase(srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	return &env{emu: emu, srv: srv, clock: clk, client: &providers.Client{
		Profile: p, ClientID: testClientID, ClientSecret: secret.New(testClientSecret),
		RedirectURI: testRedirect, Now: clk.Now, Timeout: 5 * time.Second,
	}}
}

// authorize walks the consent page like a browser and returns the request
// and the callback query.
func (e *env) authorize(t *testing.T, scopes []string, params map[string]string, approve bool) (*providers.AuthRequest, url.Values) {
	t.Helper()
	req, err := e.client.AuthCodeURL(scopes, params)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := emulator.Consent(context.Background(), e.srv.Client(), req.URL, approve)
	if err != nil {
		t.Fatalf("consent at %s: %v", req.URL, err)
	}
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != testRedirect {
		t.Fatalf("the emulator redirected to %s, want %s", got, testRedirect)
	}
	return req, cb.Query()
}

// connect runs a whole grant and returns the tokens.
func (e *env) connect(t *testing.T, scopes []string, params map[string]string) (*providers.AuthRequest, *providers.Token) {
	t.Helper()
	req, q := e.authorize(t, scopes, params, true)
	code, err := e.client.ParseCallback(q, req)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	tok, err := e.client.Exchange(context.Background(), req, code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return req, tok
}

func kindOf(err error) providers.Kind {
	var pe *providers.Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return ""
}

// suiteCase describes one provider for the shared suite.
type suiteCase struct {
	name     string // test name
	emulator string // emulator provider
	profile  func(t *testing.T, base string) *providers.Profile
	scopes   []string
	params   map[string]string
	// wrongSecret is the kind a wrong client secret gets; "" when the
	// provider does not verify secrets (PhoneBurner: "required but not
	// verified").
	wrongSecret providers.Kind
}

func builtinCases() []suiteCase {
	return []suiteCase{
		{name: "burner", emulator: "burner", scopes: []string{"messages:connect", "burners:read"}, wrongSecret: providers.KindInvalidClient},
		{name: "sms77", emulator: "sms77", scopes: []string{"sms", "analytics"}, wrongSecret: providers.KindInvalidClient},
		{name: "seven", emulator: "seven", scopes: []string{"sms", "rcs"}, wrongSecret: providers.KindInvalidClient},
		{name: "buffer", emulator: "buffer", wrongSecret: providers.KindInvalidClient},
		{name: "buffer_v2", emulator: "buffer_v2", scopes: []string{"posts:read", "offline_access"}, wrongSecret: providers.KindInvalidClient},
		{name: "phoneburner", emulator: "phoneburner", params: map[string]string{"owner_type": "vendor"}},
	}
}

func TestConformance(t *testing.T) {
	cases := builtinCases()
	cases = append(cases, hclCases(t)...)
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			runSuite(t, sc)
		})
	}
}

func runSuite(t *testing.T, sc suiteCase) {
	mk := func(t *testing.T) *env {
		var p *providers.Profile
		e := newEnv(t, sc.emulator, nil, envOptions{})
		if sc.profile != nil {
			p = sc.profile(t, e.srv.URL)
			e.client.Profile = p
			if err := e.client.Discover(context.Background()); err != nil {
				t.Fatalf("discover: %v", err)
			}
		}
		return e
	}
	t.Run("authorize URL shape", func(t *testing.T) {
		e := mk(t)
		req, err := e.client.AuthCodeURL(sc.scopes, sc.params)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(req.URL)
		if want := e.emu.Paths()["authorize"]; u.Path != want {
			t.Errorf("authorize path %s, the emulator serves %s", u.Path, want)
		}
		q := u.Query()
		if q.Get("client_id") != testClientID || q.Get("state") != req.State || q.Get("response_type") != "code" {
			t.Errorf("authorize URL = %s", req.URL)
		}
		if p := e.client.Profile; p.PKCE != q.Has("code_challenge") {
			t.Errorf("PKCE %v but code_challenge present=%v", p.PKCE, q.Has("code_challenge"))
		}
		if len(sc.scopes) > 0 && q.Get("scope") != strings.Join(sc.scopes, e.client.Profile.ScopeSeparator) {
			t.Errorf("scope = %q", q.Get("scope"))
		}
	})
	t.Run("connect, check", func(t *testing.T) {
		e := mk(t)
		_, tok := e.connect(t, sc.scopes, sc.params)
		if tok.AccessToken.IsZero() {
			t.Fatal("no access token")
		}
		p := e.client.Profile
		if p.Expiry == providers.ExpiresNever != tok.Expiry.IsZero() {
			t.Errorf("expiry %v for expiry source %q", tok.Expiry, p.Expiry)
		}
		if !tok.Expiry.IsZero() && !tok.Expiry.After(e.clock.Now()) {
			t.Errorf("expiry %v is not after now %v", tok.Expiry, e.clock.Now())
		}
		if len(sc.scopes) > 0 && len(tok.Scopes) == 0 {
			t.Errorf("no granted scopes recorded")
		}
		if p.CheckURL != "" {
			if _, err := e.client.Check(context.Background(), tok.AccessToken); err != nil {
				t.Errorf("check: %v", err)
			}
			if _, err := e.client.Check(context.Background(), secret.New("not-a-token")); kindOf(err) != providers.KindInvalidToken {
				t.Errorf("check with a bad token: %v", err)
			}
		}
		if st := e.emu.Stats(); st.Exchanges != 1 || st.Authorizations < 1 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("refresh", func(t *testing.T) {
		e := mk(t)
		p := e.client.Profile
		_, tok := e.connect(t, sc.scopes, sc.params)
		if !p.Refresh || tok.RefreshToken.IsZero() {
			if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); !errors.Is(err, providers.ErrNoRefresh) {
				t.Errorf("refresh without a refresh token: %v", err)
			}
			return
		}
		e.clock.Add(30 * time.Minute)
		next, err := e.client.Refresh(context.Background(), tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.AccessToken.Equal(tok.AccessToken) || next.RefreshToken.IsZero() {
			t.Errorf("refresh returned the same access token or no refresh token")
		}
		if p.CheckURL != "" {
			if _, err := e.client.Check(context.Background(), next.AccessToken); err != nil {
				t.Errorf("check with the refreshed token: %v", err)
			}
		}
		if p.RotatesRefresh {
			if !next.Rotated || next.RefreshToken.Equal(tok.RefreshToken) {
				t.Errorf("a rotating provider returned the old refresh token")
			}
			if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); !providers.NeedsReconnect(err) {
				t.Errorf("reusing a rotated refresh token: err = %v, want invalid_grant", err)
			}
		} else {
			if next.Rotated || !next.RefreshToken.Equal(tok.RefreshToken) {
				t.Errorf("a non-rotating refresh must keep the old refresh token")
			}
			if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); err != nil {
				t.Errorf("the kept refresh token must still work: %v", err)
			}
		}
		if st := e.emu.Stats(); st.Refreshes < 1 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		e := mk(t)
		p := e.client.Profile
		_, tok := e.connect(t, sc.scopes, sc.params)
		err := e.client.Revoke(context.Background(), tok.AccessToken, tok.RefreshToken)
		if p.RevokeURL == "" {
			if !errors.Is(err, providers.ErrNoRevoke) {
				t.Errorf("revoke without an endpoint: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if p.CheckURL != "" {
			if _, err := e.client.Check(context.Background(), tok.AccessToken); kindOf(err) != providers.KindInvalidToken {
				t.Errorf("check after revoke: %v, want invalid_token", err)
			}
		}
		if !tok.RefreshToken.IsZero() {
			if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); !providers.NeedsReconnect(err) {
				t.Errorf("refresh after revoke: %v, want invalid_grant", err)
			}
		}
		if st := e.emu.Stats(); st.Revokes != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("deny at the consent page", func(t *testing.T) {
		e := mk(t)
		req, q := e.authorize(t, sc.scopes, sc.params, false)
		_, err := e.client.ParseCallback(q, req)
		if kindOf(err) != providers.KindAccessDenied {
			t.Errorf("deny: %v, want access_denied", err)
		}
		if st := e.emu.Stats(); st.Denials != 1 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("forged state", func(t *testing.T) {
		e := mk(t)
		req, q := e.authorize(t, sc.scopes, sc.params, true)
		q.Set("state", "forged")
		if _, err := e.client.ParseCallback(q, req); !errors.Is(err, providers.ErrStateMismatch) {
			t.Errorf("forged state: %v", err)
		}
	})
	t.Run("reused code", func(t *testing.T) {
		e := mk(t)
		req, q := e.authorize(t, sc.scopes, sc.params, true)
		code, err := e.client.ParseCallback(q, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Exchange(context.Background(), req, code); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.Exchange(context.Background(), req, code); kindOf(err) != providers.KindInvalidGrant {
			t.Errorf("reused code: %v, want invalid_grant", err)
		}
	})
	t.Run("expired code", func(t *testing.T) {
		e := mk(t)
		req, q := e.authorize(t, sc.scopes, sc.params, true)
		code, _ := e.client.ParseCallback(q, req)
		e.clock.Add(11 * time.Minute) // beyond every documented code lifetime
		if _, err := e.client.Exchange(context.Background(), req, code); kindOf(err) != providers.KindInvalidGrant {
			t.Errorf("expired code: %v, want invalid_grant", err)
		}
	})
	t.Run("wrong redirect_uri", func(t *testing.T) {
		e := mk(t)
		e.client.RedirectURI = "http://127.0.0.1:9999/elsewhere"
		req, err := e.client.AuthCodeURL(sc.scopes, sc.params)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := e.srv.Client().Get(req.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("authorize with an unregistered redirect_uri: HTTP %d, want 400 without a redirect", resp.StatusCode)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		e := mk(t)
		req, q := e.authorize(t, sc.scopes, sc.params, true)
		code, _ := e.client.ParseCallback(q, req)
		e.client.ClientSecret = secret.New("wrong-secret")
		_, err := e.client.Exchange(context.Background(), req, code)
		if sc.wrongSecret == "" {
			if err != nil {
				t.Errorf("a provider that does not verify secrets refused: %v", err)
			}
			return
		}
		if kindOf(err) != sc.wrongSecret {
			t.Errorf("wrong secret: %v, want %s", err, sc.wrongSecret)
		}
		if err != nil && strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("the error leaks the secret: %v", err)
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		e := mk(t)
		req, q := e.authorize(t, sc.scopes, sc.params, true)
		code, _ := e.client.ParseCallback(q, req)
		e.client.ClientID = "someone-else"
		if _, err := e.client.Exchange(context.Background(), req, code); kindOf(err) != providers.KindInvalidClient &&
			kindOf(err) != providers.KindInvalidGrant {
			t.Errorf("unknown client: %v, want invalid_client or invalid_grant", err)
		}
	})
	runGrantSuite(t, sc, mk)
}

// runGrantSuite runs the grants without a browser (RFC 8628, RFC 6749
// §4.4) where the profile offers them, and checks that a provider
// documenting only the authorization code refuses them offline.
func runGrantSuite(t *testing.T, sc suiteCase, mk func(*testing.T) *env) {
	t.Run("grants offered", func(t *testing.T) {
		e := mk(t)
		p := e.client.Profile
		for _, g := range []providers.Grant{providers.GrantDeviceCode, providers.GrantClientCredentials} {
			if msg := p.GrantProblem(g); (msg == "") != p.OffersGrant(g) {
				t.Errorf("%s: offered %v, problem %q", g, p.OffersGrant(g), msg)
			}
		}
	})
	// decide makes the person approve (or deny) during the client's
	// n-th wait; the waits advance the shared clock and take no time.
	decide := func(t *testing.T, e *env, da *providers.DeviceAuth, n int, approve bool) {
		waits := 0
		e.client.Sleep = func(ctx context.Context, d time.Duration) error {
			e.clock.Add(d)
			if waits++; waits == n {
				if err := emulator.ApproveDevice(ctx, e.srv.Client(), da.VerificationURI, da.UserCode.Reveal(), approve); err != nil {
					t.Errorf("verification page: %v", err)
				}
			}
			return ctx.Err()
		}
	}
	if e := mk(t); e.client.Profile.OffersGrant(providers.GrantDeviceCode) {
		t.Run("device flow", func(t *testing.T) {
			e := mk(t)
			da, err := e.client.DeviceAuth(context.Background(), sc.scopes, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := e.srv.URL + e.emu.Paths()["verification"]; da.VerificationURI != want {
				t.Errorf("verification_uri %s, want %s", da.VerificationURI, want)
			}
			decide(t, e, da, 2, true)
			tok, err := e.client.DeviceAccessToken(context.Background(), da)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(tok.Scopes, " ") != strings.Join(sc.scopes, " ") || tok.RefreshToken.IsZero() {
				t.Errorf("token %+v", tok)
			}
			if _, err := e.client.Check(context.Background(), tok.AccessToken); err != nil {
				t.Errorf("check: %v", err)
			}
			if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); err != nil {
				t.Errorf("refresh: %v", err)
			}
		})
		t.Run("device flow denied", func(t *testing.T) {
			e := mk(t)
			da, err := e.client.DeviceAuth(context.Background(), sc.scopes, nil)
			if err != nil {
				t.Fatal(err)
			}
			decide(t, e, da, 1, false)
			if _, err := e.client.DeviceAccessToken(context.Background(), da); kindOf(err) != providers.KindAccessDenied {
				t.Errorf("denied: %v, want access_denied", err)
			}
		})
	}
	if e := mk(t); e.client.Profile.OffersGrant(providers.GrantClientCredentials) {
		t.Run("client credentials", func(t *testing.T) {
			e := mk(t)
			tok, err := e.client.ClientCredentials(context.Background(), sc.scopes, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.RefreshToken.IsZero() || tok.Expiry.IsZero() {
				t.Errorf("token %+v: want an expiry and no refresh token", tok)
			}
			if _, err := e.client.Check(context.Background(), tok.AccessToken); err != nil {
				t.Errorf("check: %v", err)
			}
			e.client.ClientSecret = secret.New("wrong-secret")
			if _, err := e.client.ClientCredentials(context.Background(), sc.scopes, nil); kindOf(err) != sc.wrongSecret {
				t.Errorf("wrong secret: %v, want %s", err, sc.wrongSecret)
			}
		})
	}
}

// hclCases declare generic providers in HCL only, pointed at the
// standards emulator: once with every endpoint, once by discovery.
func hclCases(t *testing.T) []suiteCase {
	load := func(name, body string) func(t *testing.T, base string) *providers.Profile {
		return func(t *testing.T, base string) *providers.Profile {
			dir := t.TempDir()
			src := strings.ReplaceAll(body, "BASE", base) + `
app "a" {
  provider      = "` + name + `"
  client_id     = "` + testClientID + `"
  client_secret = "` + testClientSecret + `"
  redirect_uri  = "` + testRedirect + `"
}
connection "c" {
  app    = app.a
  scopes = ["read", "write"]
}
`
			if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, diags := config.Load(dir, config.Inputs{})
			if diags.HasErrors() {
				t.Fatalf("loading the HCL provider: %s", diags.Error())
			}
			return cfg.Providers[name]
		}
	}
	return []suiteCase{
		{
			name: "hcl_declared", emulator: "oauth2", scopes: []string{"read", "write"}, wrongSecret: providers.KindInvalidClient,
			profile: load("acme", `
provider "acme" {
  authorize_url   = "BASE/authorize"
  token_url       = "BASE/token"
  revoke_url      = "BASE/revoke"
  check_url       = "BASE/userinfo"
  device_authorization_url = "BASE/device_authorization"
  client_auth     = "basic"
  scope_separator = " "
  pkce            = true
  rotates_refresh = false
}
`),
		},
		{
			name: "hcl_discovered", emulator: "oauth2", scopes: []string{"read"}, wrongSecret: providers.KindInvalidClient,
			profile: load("acme_discovered", `
provider "acme_discovered" {
  issuer      = "BASE"
  client_auth = "body"
}
`),
		},
	}
}

// TestQuirksRejected shows, for each documented quirk, the emulator
// refusing the request a naive client would send and the real client
// getting it right.
func TestQuirksRejected(t *testing.T) {
	exchange := func(t *testing.T, e *env, scopes []string) error {
		req, q := e.authorize(t, scopes, nil, true)
		code, err := e.client.ParseCallback(q, req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client.Exchange(context.Background(), req, code)
		return err
	}
	tests := []struct {
		name     string
		provider string
		scopes   []string
		breakIt  func(p *providers.Profile)
		// op runs the operation under test; nil means an exchange.
		op func(t *testing.T, e *env) error
	}{
		{name: "burner without camelCase names", provider: "burner", scopes: []string{"burners:read"},
			breakIt: func(p *providers.Profile) { p.ParamAliases = nil }},
		{name: "buffer with a %2F code", provider: "buffer",
			breakIt: func(p *providers.Profile) { p.CodeRaw = false }},
		{name: "sms77 with body credentials", provider: "sms77", scopes: []string{"sms"},
			breakIt: func(p *providers.Profile) { p.ClientAuth = providers.AuthBody }},
		{name: "buffer_v2 with Basic credentials", provider: "buffer_v2", scopes: []string{"posts:read"},
			breakIt: func(p *providers.Profile) { p.ClientAuth = providers.AuthBasic }},
		{name: "buffer_v2 without PKCE", provider: "buffer_v2", scopes: []string{"posts:read"},
			breakIt: func(p *providers.Profile) { p.PKCE = false },
			op: func(t *testing.T, e *env) error {
				req, err := e.client.AuthCodeURL([]string{"posts:read"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				cb, err := emulator.Consent(context.Background(), e.srv.Client(), req.URL, true)
				if err != nil {
					return err
				}
				_, err = e.client.ParseCallback(cb.Query(), req)
				return err
			}},
		{name: "phoneburner refresh at /oauth/accesstoken", provider: "phoneburner",
			breakIt: func(p *providers.Profile) { p.RefreshURL = "" },
			op: func(t *testing.T, e *env) error {
				_, tok := e.connect(t, nil, nil)
				_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := tt.op
			if op == nil {
				op = func(t *testing.T, e *env) error { return exchange(t, e, tt.scopes) }
			}
			right := newEnv(t, tt.provider, nil, envOptions{})
			if err := op(t, right); err != nil {
				t.Fatalf("the real client failed: %v", err)
			}
			wrong := newEnv(t, tt.provider, nil, envOptions{})
			tt.breakIt(wrong.client.Profile)
			err := op(t, wrong)
			if err == nil {
				t.Fatal("the emulator accepted the naive request")
			}
			st := wrong.emu.Stats()
			if st.Rejections == 0 || st.LastRejection == "" {
				t.Errorf("stats = %+v, want a rejection with its reason", st)
			}
			t.Logf("rejected: %v (emulator: %s)", err, st.LastRejection)
		})
	}
}

// TestPhoneBurnerRotatingRefresh covers the seed's prose: a refresh that
// does return a refresh_token replaces the stored one.
func TestPhoneBurnerRotatingRefresh(t *testing.T) {
	rotate := true
	e := newEnv(t, "phoneburner", nil, envOptions{rotate: &rotate})
	_, tok := e.connect(t, nil, nil)
	next, err := e.client.Refresh(context.Background(), tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if !next.Rotated || next.RefreshToken.Equal(tok.RefreshToken) {
		t.Error("a refresh_token in the answer must replace the old one")
	}
}

// TestBurnerConnectedBurners checks the metadata Burner returns with
// messages:connect is kept.
func TestBurnerConnectedBurners(t *testing.T) {
	e := newEnv(t, "burner", nil, envOptions{})
	_, tok := e.connect(t, []string{"messages:connect"}, nil)
	raw, ok := tok.Metadata["connected_burners"]
	var list []map[string]any
	if !ok || json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		t.Errorf("connected_burners = %s", raw)
	}
}

// TestBufferV2ReuseRevokesGrant: reusing a rotated refresh token revokes
// every token of the grant, as Buffer documents.
func TestBufferV2ReuseRevokesGrant(t *testing.T) {
	e := newEnv(t, "buffer_v2", nil, envOptions{})
	_, tok := e.connect(t, []string{"posts:read", "offline_access"}, nil)
	next, err := e.client.Refresh(context.Background(), tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); !providers.NeedsReconnect(err) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := e.client.Refresh(context.Background(), next.RefreshToken); !providers.NeedsReconnect(err) {
		t.Errorf("after a reuse, the newest refresh token must be dead too: %v", err)
	}
}

// TestRebasedPathsMatchEmulators: every built-in's endpoints, rebased, are
// paths its emulator serves.
func TestRebasedPathsMatchEmulators(t *testing.T) {
	for _, name := range []string{"burner", "sms77", "seven", "buffer", "buffer_v2", "phoneburner"} {
		e := newEnv(t, name, nil, envOptions{})
		paths := e.emu.Paths()
		p := e.client.Profile
		for kind, u := range map[string]string{
			"authorize": p.AuthorizeURL, "token": p.TokenURL, "refresh": p.RefreshURL, "revoke": p.RevokeURL, "check": p.CheckURL,
		} {
			if u == "" {
				continue
			}
			pu, _ := url.Parse(u)
			if paths[kind] != pu.Path && !(kind == "refresh" && paths["token"] == pu.Path) {
				t.Errorf("%s %s: client uses %s, emulator serves %q", name, kind, pu.Path, paths[kind])
			}
		}
	}
}

// TestPhoneBurnerErrorShapes drives each of PhoneBurner's four documented
// error shapes out of its emulator and checks the Kind, code and message
// the client makes of it.
func TestPhoneBurnerErrorShapes(t *testing.T) {
	t.Run("(a) a sentence in error", func(t *testing.T) {
		e := newEnv(t, "phoneburner", nil, envOptions{})
		req, q := e.authorize(t, nil, nil, true)
		code, _ := e.client.ParseCallback(q, req)
		e.client.ClientID = "" // x/oauth2 then leaves client_id out
		_, err := e.client.Exchange(context.Background(), req, code)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Kind != providers.KindInvalidRequest || pe.Code != "" ||
			!strings.Contains(pe.Message, `Check the "client_id" parameter`) {
			t.Errorf("err = %#v", err)
		}
	})
	t.Run("(b) access_denied with error_message", func(t *testing.T) {
		e := newEnv(t, "phoneburner", nil, envOptions{})
		req, q := e.authorize(t, nil, nil, false)
		_, err := e.client.ParseCallback(q, req)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Kind != providers.KindAccessDenied || pe.Code != "access_denied" ||
			!strings.Contains(pe.Message, "denied the request") {
			t.Errorf("err = %#v", err)
		}
	})
	t.Run(`(c) "invalid client_id"`, func(t *testing.T) {
		e := newEnv(t, "phoneburner", nil, envOptions{})
		req, q := e.authorize(t, nil, nil, true)
		code, _ := e.client.ParseCallback(q, req)
		e.client.ClientID = "878x518e02c5e4bbf38784a0644db99feabe55a89"
		_, err := e.client.Exchange(context.Background(), req, code)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Kind != providers.KindInvalidClient || pe.Code != "invalid client_id" ||
			!strings.Contains(pe.Message, "878x518e") {
			t.Errorf("err = %#v", err)
		}
	})
	t.Run("(d) standard invalid_grant", func(t *testing.T) {
		e := newEnv(t, "phoneburner", nil, envOptions{})
		_, err := e.client.Exchange(context.Background(), &providers.AuthRequest{RedirectURI: testRedirect}, secret.New("no-such-code"))
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Kind != providers.KindInvalidGrant || pe.Code != "invalid_grant" ||
			!strings.Contains(pe.Message, "authorization grant is invalid") {
			t.Errorf("err = %#v", err)
		}
	})
}

// TestFaultsThroughClient injects each emulator fault and checks the
// client's typed error, and that a rotating refresh is never repeated.
func TestFaultsThroughClient(t *testing.T) {
	tests := []struct {
		name     string
		provider string
		faults   emulator.Faults
		kind     providers.Kind
		requests int // refresh requests the emulator should have seen
	}{
		{"500 JSON", "sms77", emulator.Faults{FailNext: 1, FailStatus: 500}, providers.KindServerError, 1},
		{"HTML error page", "sms77", emulator.Faults{FailNext: 1, FailStatus: 502, HTMLError: true}, providers.KindServerError, 1},
		{"truncated body", "sms77", emulator.Faults{Truncate: true}, providers.KindMalformed, 1},
		{"forced invalid_grant", "sms77", emulator.Faults{InvalidGrant: true}, providers.KindInvalidGrant, 1},
		{"dropped connection", "sms77", emulator.Faults{Drop: true}, providers.KindNetwork, 1},
		{"429 on a rotating refresh is not retried", "sms77",
			emulator.Faults{FailNext: 1, FailStatus: 429, RetryAfter: time.Second}, providers.KindRateLimited, 1},
		{"latency beyond the timeout", "sms77", emulator.Faults{Latency: 2 * time.Second}, providers.KindNetwork, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.provider, nil, envOptions{})
			_, tok := e.connect(t, []string{"sms"}, nil)
			e.client.Timeout = 200 * time.Millisecond
			e.client.AnswerWait = 200 * time.Millisecond
			e.client.Sleep = func(context.Context, time.Duration) error { return nil }
			before := e.emu.Stats().Requests
			e.emu.SetFaults(tt.faults)
			_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
			if kindOf(err) != tt.kind {
				t.Errorf("err = %v (kind %q), want %q", err, kindOf(err), tt.kind)
			}
			if n := e.emu.Stats().Requests - before; n != tt.requests {
				t.Errorf("%d requests reached the emulator, want %d", n, tt.requests)
			}
			if err != nil && strings.Contains(err.Error(), tok.RefreshToken.Reveal()) {
				t.Errorf("the error leaks the refresh token: %v", err)
			}
		})
	}
	t.Run("an answer slower than the timeout is waited for once sent", func(t *testing.T) {
		// The refresh is on the wire: its answer holds the only live
		// refresh token, so Timeout no longer applies, AnswerWait does.
		e := newEnv(t, "sms77", nil, envOptions{})
		_, tok := e.connect(t, []string{"sms"}, nil)
		e.client.Timeout = 100 * time.Millisecond
		e.client.AnswerWait = time.Minute
		e.emu.SetFaults(emulator.Faults{Latency: 400 * time.Millisecond})
		got, err := e.client.Refresh(context.Background(), tok.RefreshToken)
		if err != nil {
			t.Fatalf("Refresh = %v, want the slow answer", err)
		}
		if got.RefreshToken.IsZero() || got.RefreshToken.Reveal() == tok.RefreshToken.Reveal() {
			t.Errorf("the answer's refresh token was not the rotated one")
		}
	})
	t.Run("no answer within AnswerWait names the limit", func(t *testing.T) {
		e := newEnv(t, "sms77", nil, envOptions{})
		_, tok := e.connect(t, []string{"sms"}, nil)
		e.client.Timeout = 100 * time.Millisecond
		e.client.AnswerWait = 300 * time.Millisecond
		e.emu.SetFaults(emulator.Faults{Latency: 2 * time.Second})
		_, err := e.client.Refresh(context.Background(), tok.RefreshToken)
		if kindOf(err) != providers.KindNetwork || !strings.Contains(err.Error(), "no answer within 300ms") {
			t.Errorf("err = %v, want a network error naming the 300ms answer wait", err)
		}
	})
	t.Run("429 on a non-rotating refresh is retried", func(t *testing.T) {
		e := newEnv(t, "phoneburner", nil, envOptions{})
		_, tok := e.connect(t, nil, nil)
		var waited []time.Duration
		e.client.Sleep = func(_ context.Context, d time.Duration) error { waited = append(waited, d); return nil }
		e.emu.SetFaults(emulator.Faults{FailNext: 1, FailStatus: 429, RetryAfter: 3 * time.Second, Endpoints: []string{"refresh"}})
		if _, err := e.client.Refresh(context.Background(), tok.RefreshToken); err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if len(waited) != 1 || waited[0] != 3*time.Second {
			t.Errorf("waited %v, want one Retry-After of 3s", waited)
		}
	})
}
