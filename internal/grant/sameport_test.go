package grant

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/apply"
	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// TestSamePortGrantsNeverCollide runs one apply of three connections whose
// app has one redirect_uri, so every grant listens on the same port: the
// Executor hands them to the Runner one at a time, and each listener is
// closed before the next opens (RFC 8252 §7.3 loopback, a fixed port).
func TestSamePortGrantsNeverCollide(t *testing.T) {
	redirect := loopbackRedirect(t)
	f := newFixture(t, "sms77", redirect)
	app := &config.App{Name: "sms", Provider: "sms77", Profile: f.client.Profile, ClientID: testClientID,
		ClientSecret: f.client.ClientSecret, RedirectURI: redirect}
	cfg := &config.Config{
		Providers:   map[string]*providers.Profile{"sms77": f.client.Profile},
		Apps:        map[string]*config.App{"sms": app},
		Connections: map[string]*config.Connection{},
	}
	for _, n := range []string{"one", "two", "three"} {
		cfg.Connections[n] = &config.Connection{Name: n, App: app, Scopes: []string{"sms"},
			RefreshBefore: config.DefaultRefreshBefore, Grant: providers.GrantAuthorizationCode}
	}
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	lineage, err := st.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var addrs []string
	r := &Runner{Browser: emulator.Browser{HTTP: f.srv.Client(), Approve: true}, Timeout: 10 * time.Second,
		ListenHook: func(addr string) {
			mu.Lock()
			defer mu.Unlock()
			addrs = append(addrs, addr)
		}}
	// Each grant binds the one port: a listener left open by the grant
	// before would make the next one fail with "address in use".
	ex := &apply.Executor{Store: st, Config: cfg, Lineage: lineage, Granter: r,
		NewClient: func(app *config.App) (*providers.Client, error) {
			c := *f.client
			return &c, nil
		}}
	p, diags := plan.Diff(cfg, nil, time.Now(), plan.Options{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for _, o := range ex.Run(ctx, p) {
		if o.Err != nil {
			t.Errorf("%s: %v", o.Action.Conn, o.Err)
		}
	}
	if len(addrs) != 3 || addrs[0] != addrs[1] || addrs[1] != addrs[2] {
		t.Fatalf("listeners = %v, want three on one address", addrs)
	}
	// After the apply, the port is free again: the last listener closed.
	_, port, _ := net.SplitHostPort(addrs[0])
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		t.Fatalf("the redirect port is still held after the apply: %v", err)
	}
	_ = ln.Close()
	if got := f.emu.Stats().Exchanges; got != 3 {
		t.Errorf("%d exchanges, want 3", got)
	}
}
