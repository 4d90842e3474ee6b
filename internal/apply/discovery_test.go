package apply

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

// A provider declared by issuer is discovered once: the refresh keeps the
// endpoints in the record, and the next refresh (another process, a new
// client) uses them without fetching the metadata until they are a day
// old.
func TestRefreshKeepsDiscoveredEndpoints(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	emu, err := emulator.New(emulator.Options{
		Provider: "oauth2",
		Clients:  []emulator.Client{{ID: "id", Secret: "sec", RedirectURIs: []string{"http://127.0.0.1:8765/cb"}}},
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/") {
			fetches.Add(1)
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ts, err := emu.IssueTokens("id", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	st, err := bolt.Open(path, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	if _, err := st.Lock(ctx, "setup"); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, &state.Record{Conn: "c", Provider: "acme", ClientID: "id", Scopes: []string{"read"},
		Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken), TokenType: "Bearer",
		Expiry: now.Add(10 * time.Second), Status: state.StatusActive, Created: now}); err != nil {
		t.Fatal(err)
	}
	_ = st.Unlock(ctx)

	newClient := func() *providers.Client {
		p := providers.Generic("acme")
		p.Issuer = srv.URL
		return &providers.Client{Profile: p, ClientID: "id", ClientSecret: secret.New("sec"),
			RedirectURI: "http://127.0.0.1:8765/cb", Now: func() time.Time { return now }, Timeout: 5 * time.Second}
	}
	refresh := func() *state.Record {
		t.Helper()
		r := &Refresher{Store: st, Now: func() time.Time { return now }, LockWait: 10 * time.Second}
		res, err := r.Ensure(ctx, "c", newClient(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Refreshed {
			t.Fatal("not refreshed")
		}
		return res.Record
	}

	rec := refresh()
	if fetches.Load() != 1 {
		t.Fatalf("first refresh fetched the metadata %d times, want 1", fetches.Load())
	}
	if d := rec.Discovery; d == nil || d.TokenURL == "" || d.RevokeURL == "" || !d.Fetched.Equal(now) {
		t.Fatalf("record's discovery = %+v, want the emulator's endpoints fetched at %v", d, now)
	}
	stored, err := st.Get(ctx, "c")
	if err != nil || stored.Discovery == nil || stored.Discovery.TokenURL != rec.Discovery.TokenURL {
		t.Fatalf("stored discovery = %+v (%v)", stored.Discovery, err)
	}

	now = now.Add(time.Hour)
	refresh()
	if fetches.Load() != 1 {
		t.Errorf("a refresh an hour later fetched the metadata again (%d fetches)", fetches.Load())
	}
	now = now.Add(providers.DiscoveryMaxAge)
	if rec = refresh(); fetches.Load() != 2 || !rec.Discovery.Fetched.Equal(now) {
		t.Errorf("a refresh a day later: %d fetches, fetched %v; want the metadata fetched again", fetches.Load(), rec.Discovery.Fetched)
	}
}
