package apply

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// deviceGranter plays the device flow: it starts the device authorization,
// approves it at the emulator's verification page and polls for the token.
type deviceGranter struct {
	mu   sync.Mutex
	seen []GrantRequest
}

func (g *deviceGranter) Grant(ctx context.Context, req GrantRequest) (*providers.Token, error) {
	g.mu.Lock()
	g.seen = append(g.seen, req)
	g.mu.Unlock()
	da, err := req.Client.DeviceAuth(ctx, req.Scopes, req.Params)
	if err != nil {
		return nil, err
	}
	if err := emulator.ApproveDevice(ctx, nil, da.VerificationURI, da.UserCode.Reveal(), true); err != nil {
		return nil, err
	}
	return req.Client.DeviceAccessToken(ctx, da)
}

// TestExecutorGrants connects a device and a client credentials connection
// of an issuer-only provider: only the device grant reaches the Granter,
// the client credentials token is renewed by Refresher.Ensure without a
// refresh token, and a plan never asks for a person for it.
func TestExecutorGrants(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	emu, err := emulator.New(emulator.Options{Provider: "oauth2", Now: clock, AccessTTL: time.Hour,
		DeviceInterval: time.Second, Clients: []emulator.Client{{ID: "cid", Secret: "csecret"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	src := `provider "gen" {
  issuer = "` + srv.URL + `"
}
app "gen" {
  provider = "gen"
  client_id = "cid"
  client_secret = "csecret"
}
connection "dev" {
  app = app.gen
  grant = "device_code"
  scopes = ["read"]
}
connection "svc" {
  app = app.gen
  grant = "client_credentials"
  scopes = ["read"]
  refresh_before = "10m"
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.oauth.hcl"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir, config.Inputs{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	st, err := bolt.Open(filepath.Join(dir, "state.db"), state.Options{Create: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	lineage, err := st.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The client sleeps by moving the clock: no test waits.
	var clockMu sync.Mutex
	newClient := func(app *config.App) (*providers.Client, error) {
		return &providers.Client{Profile: cfg.Providers[app.Provider].Clone(), ClientID: app.ClientID,
			ClientSecret: app.ClientSecret, RedirectURI: app.RedirectURI, Now: clock,
			Sleep: func(ctx context.Context, d time.Duration) error {
				clockMu.Lock()
				defer clockMu.Unlock()
				now = now.Add(d)
				return ctx.Err()
			}}, nil
	}
	g := &deviceGranter{}
	ex := &Executor{Store: st, Config: cfg, Lineage: lineage, Granter: g, Now: clock, NewClient: newClient}
	snap, _ := st.Snapshot(ctx)
	p, diags := plan.Diff(cfg, snap, now, plan.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, a := range p.Actions {
		if want := a.Conn == "dev"; a.Interactive() != want {
			t.Errorf("%s: Interactive() = %v, want %v", a.Conn, a.Interactive(), want)
		}
	}
	mustSucceed(t, ex.Run(ctx, p))
	if len(g.seen) != 1 || g.seen[0].Conn != "dev" || g.seen[0].Grant != providers.GrantDeviceCode {
		t.Fatalf("granter saw %+v, want only dev's device grant", g.seen)
	}
	snap, _ = st.Snapshot(ctx)
	dev, svc := snap.Records["dev"], snap.Records["svc"]
	if dev == nil || dev.Grant != "device_code" || dev.Access.IsZero() || dev.Refresh.IsZero() {
		t.Fatalf("dev record = %+v", dev)
	}
	if svc == nil || svc.Grant != "client_credentials" || svc.Access.IsZero() || !svc.Refresh.IsZero() {
		t.Fatalf("svc record = %+v", svc)
	}
	if s := emu.Stats(); s.ClientCredentials != 1 || s.DeviceTokens != 1 {
		t.Errorf("stats: %d client credentials, %d device tokens", s.ClientCredentials, s.DeviceTokens)
	}

	// Within refresh_before: the plan refreshes dev and renews svc (no
	// person), apply does.
	now = svc.Expiry.Add(-5 * time.Minute)
	p, _ = plan.Diff(cfg, snap, now, plan.Options{Mode: plan.RefreshOnly})
	if kinds(p) != "dev:refresh svc:refresh" || len(p.Blocked) != 0 {
		t.Fatalf("refresh plan: %s, blocked %d", kinds(p), len(p.Blocked))
	}
	mustSucceed(t, ex.Run(ctx, p))
	snap, _ = st.Snapshot(ctx)
	if got := snap.Records["svc"]; got.Access.Equal(svc.Access) || !got.Expiry.After(svc.Expiry) {
		t.Errorf("svc not renewed: expiry %v", got.Expiry)
	}

	// Expired, asked through the Refresher as `token` does: one new token
	// for concurrent callers.
	now = now.Add(2 * time.Hour)
	client, _ := newClient(cfg.Connections["svc"].App)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &Refresher{Store: st, Now: clock}
			if _, err := r.Ensure(ctx, "svc", client, time.Minute); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if s := emu.Stats(); s.ClientCredentials != 3 {
		t.Errorf("%d client credentials tokens issued, want 3", s.ClientCredentials)
	}
}

// waitingStore runs hook when a connection lock is asked for, before it is
// taken: another process refreshing while the caller waits.
type waitingStore struct {
	state.Store
	hook func()
}

func (s *waitingStore) LockConn(ctx context.Context, conn string, wait time.Duration) (func() error, error) {
	if s.hook != nil {
		s.hook()
	}
	return s.Store.LockConn(ctx, conn, wait)
}

// TestEnsureTakesTokenRefreshedWhileWaiting: a caller whose -min-valid the
// provider's token lifetime cannot meet takes the token another process
// obtained while it waited for the lock, instead of refreshing again; a
// caller that did not wait refreshes.
func TestEnsureTakesTokenRefreshedWhileWaiting(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 30, 0, 0, time.UTC))
	st := f.store(t)
	clock := func() time.Time { return f.now }
	ctx := context.Background()
	other := &Refresher{Store: st, Now: clock}
	ws := &waitingStore{Store: st, hook: func() {
		f.now = f.now.Add(time.Second) // the other process answers a second later
		if _, err := other.Ensure(ctx, "c", f.client, time.Hour); err != nil {
			t.Error(err)
		}
		f.now = f.now.Add(time.Second)
	}}
	res, err := (&Refresher{Store: ws, Now: clock}).Ensure(ctx, "c", f.client, 2*time.Hour)
	if err != nil || res.Refreshed {
		t.Fatalf("Ensure = %+v, %v; want the other process's token, not a refresh", res, err)
	}
	if got := f.emu.Stats().Refreshes; got != 1 {
		t.Fatalf("%d refreshes, want 1", got)
	}
	// Not waited for: the 2h the caller asks for means a refresh.
	res, err = (&Refresher{Store: st, Now: clock}).Ensure(ctx, "c", f.client, 2*time.Hour)
	if err != nil || !res.Refreshed || f.emu.Stats().Refreshes != 2 {
		t.Fatalf("Ensure = %+v, %v with %d refreshes; want a second refresh", res, err, f.emu.Stats().Refreshes)
	}
}
