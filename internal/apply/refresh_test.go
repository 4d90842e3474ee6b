package apply

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/providers/emulator"
	"github.com/oauthform/oauthform/internal/secret"
	"github.com/oauthform/oauthform/internal/state"
	"github.com/oauthform/oauthform/internal/state/bolt"
)

type fixture struct {
	emu    *emulator.Server
	client *providers.Client
	path   string
	now    time.Time
}

// newFixture starts provider's emulator and a state holding one record,
// conn "c", with tokens the emulator issued, expiring at expiry.
func newFixture(t *testing.T, provider string, scopes []string, expiry time.Time) *fixture {
	t.Helper()
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	emu, err := emulator.New(emulator.Options{
		Provider: provider,
		Clients:  []emulator.Client{{ID: "id", Secret: "sec", RedirectURIs: []string{"http://127.0.0.1:8765/cb"}}},
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	b, _ := providers.Builtin(provider)
	p, err := b.Rebase(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := emu.IssueTokens("id", scopes)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{emu: emu, path: filepath.Join(t.TempDir(), "state.db"), now: now,
		client: &providers.Client{Profile: p, ClientID: "id", ClientSecret: secret.New("sec"),
			RedirectURI: "http://127.0.0.1:8765/cb", Now: func() time.Time { return now }, Timeout: 5 * time.Second}}
	st := f.store(t)
	if _, err := st.Lock(context.Background(), "setup"); err != nil {
		t.Fatal(err)
	}
	rec := &state.Record{Conn: "c", Provider: provider, ClientID: "id", Scopes: scopes,
		Access: secret.New(ts.AccessToken), Refresh: secret.New(ts.RefreshToken), TokenType: "Bearer",
		Expiry: expiry, Status: state.StatusActive, Created: now}
	if err := st.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	_ = st.Unlock(context.Background())
	return f
}

func (f *fixture) store(t *testing.T) state.Store {
	t.Helper()
	st, err := bolt.Open(f.path, state.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func (f *fixture) refresher(t *testing.T) *Refresher {
	return &Refresher{Store: f.store(t), Now: func() time.Time { return f.now }, LockWait: 10 * time.Second}
}

func TestEnsureValidTokenIsNotRefreshed(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC))
	res, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Refreshed || f.emu.Stats().Refreshes != 0 {
		t.Errorf("a token valid for an hour was refreshed")
	}
}

func TestEnsureRefreshesAndStoresTheRotatedToken(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
	before, _ := f.store(t).Get(context.Background(), "c")
	res, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := f.store(t).Get(context.Background(), "c")
	if !res.Refreshed || after.Access.Equal(before.Access) || after.Refresh.Equal(before.Refresh) {
		t.Errorf("the state does not hold the new (rotated) tokens")
	}
	if !after.Expiry.After(f.now.Add(time.Minute)) || !after.Refreshed.Equal(f.now) || after.LastError != nil {
		t.Errorf("record after refresh = %+v", after)
	}
	// The stored refresh token is the live one: it refreshes again.
	f.now = f.now.Add(2 * time.Hour)
	if _, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute); err != nil {
		t.Errorf("second refresh with the stored token: %v", err)
	}
}

// TestEnsureSingleFlight: many stores (as many `token` processes) asking
// at once make exactly one refresh and all get the same token.
func TestEnsureSingleFlight(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 10, 0, time.UTC))
	const n = 20
	var wg sync.WaitGroup
	tokens := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		r := f.refresher(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Ensure(context.Background(), "c", f.client, time.Minute)
			errs[i] = err
			if err == nil {
				tokens[i] = res.Record.Access.Reveal()
			}
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if tokens[i] != tokens[0] {
			t.Errorf("caller %d got another token", i)
		}
	}
	if got := f.emu.Stats().Refreshes; got != 1 {
		t.Errorf("%d refreshes at the provider, want exactly 1", got)
	}
}

func TestEnsureInvalidGrantMarksNeedsReconnect(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, f0())
	f.emu.SetFaults(emulator.Faults{InvalidGrant: true})
	_, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute)
	if !errors.Is(err, ErrNeedsPerson) || !providers.NeedsReconnect(err) {
		t.Fatalf("err = %v", err)
	}
	rec, _ := f.store(t).Get(context.Background(), "c")
	if rec.Status != state.StatusNeedsReconnect || rec.LastError == nil || rec.LastError.Kind != "invalid_grant" || rec.Access.IsZero() {
		t.Errorf("record = %+v, want it kept and marked needs_reconnect", rec)
	}
	f.emu.SetFaults(emulator.Faults{})
	before := f.emu.Stats().Requests
	if _, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute); !errors.Is(err, ErrNeedsPerson) {
		t.Errorf("a needs_reconnect record: %v", err)
	}
	if f.emu.Stats().Requests != before {
		t.Error("a needs_reconnect record must not be sent to the provider")
	}
}

func TestEnsureServerErrorKeepsTokens(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, f0())
	before, _ := f.store(t).Get(context.Background(), "c")
	f.emu.SetFaults(emulator.Faults{FailNext: 1, FailStatus: 500})
	_, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute)
	if err == nil || errors.Is(err, ErrNeedsPerson) {
		t.Fatalf("err = %v", err)
	}
	rec, _ := f.store(t).Get(context.Background(), "c")
	if rec.Status != state.StatusActive || !rec.Refresh.Equal(before.Refresh) || rec.LastError == nil || rec.LastError.Kind != "server_error" {
		t.Errorf("record = %+v", rec)
	}
}

// TestEnsureTokenTypeRefusedSalvagesTheRotatedToken: sms77 rotates its
// refresh token and answers a token_type oauthform does not accept. The
// answer is refused, but its new refresh token is stored: the old one is
// dead, and the next refresh succeeds with the stored one.
func TestEnsureTokenTypeRefusedSalvagesTheRotatedToken(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, f0())
	before, _ := f.store(t).Get(context.Background(), "c")
	f.emu.SetFaults(emulator.Faults{TokenType: "mac"})
	_, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute)
	if err == nil || !strings.Contains(err.Error(), `token_type "mac"`) || errors.Is(err, ErrNeedsPerson) {
		t.Fatalf("err = %v, want the token_type refused", err)
	}
	rec, _ := f.store(t).Get(context.Background(), "c")
	if rec.Refresh.Equal(before.Refresh) || rec.Refresh.IsZero() || rec.LastError == nil || rec.LastError.Kind != "malformed_response" {
		t.Fatalf("record = %+v, want the rotated refresh token salvaged and the failure recorded", rec)
	}
	if !rec.Access.Equal(before.Access) || rec.Status != state.StatusActive {
		t.Errorf("record = %+v, want the refused access token not stored", rec)
	}
	f.emu.SetFaults(emulator.Faults{})
	if _, err := f.client.Refresh(context.Background(), before.Refresh); !providers.NeedsReconnect(err) {
		t.Errorf("the old refresh token: %v, want invalid_grant (the emulator rotated it)", err)
	}
	res, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute)
	if err != nil || !res.Refreshed {
		t.Fatalf("refresh with the salvaged token: %+v, %v", res, err)
	}
}

func TestEnsureExpiredWithoutRefreshToken(t *testing.T) {
	f := newFixture(t, "burner", []string{"burners:read"}, f0())
	_, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute)
	if !errors.Is(err, ErrNeedsPerson) {
		t.Errorf("err = %v", err)
	}
}

func TestExpiresWithin(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := secret.New("x")
	tests := []struct {
		rec  state.Record
		want bool
	}{
		{state.Record{}, true},
		{state.Record{Access: tok}, false},
		{state.Record{Access: tok, Expiry: now.Add(time.Hour)}, false},
		{state.Record{Access: tok, Expiry: now.Add(time.Minute)}, true},
		{state.Record{Access: tok, Expiry: now.Add(-time.Minute)}, true},
	}
	for i, tt := range tests {
		if got := expiresWithin(&tt.rec, now, time.Minute); got != tt.want {
			t.Errorf("case %d: %v, want %v", i, got, tt.want)
		}
	}
}

// f0 is an expiry already past at the fixtures' clock.
func f0() time.Time { return time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC) }

// TestEnsureAssumesExpiryWhenTheAnswerHasNone: a refresh answer without
// expires_in is stored with an assumed expiry, flagged as such (the
// connection's token_lifetime, else an hour), never as "does not expire";
// an answer with one clears the flag (issue 14, item 3).
func TestEnsureAssumesExpiryWhenTheAnswerHasNone(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
	f.emu.SetFaults(emulator.Faults{OmitExpiry: true})
	if _, err := f.refresher(t).Ensure(context.Background(), "c", f.client, time.Minute); err != nil {
		t.Fatal(err)
	}
	rec, _ := f.store(t).Get(context.Background(), "c")
	if !rec.ExpiryAssumed || !rec.Expiry.Equal(f.now.Add(providers.DefaultAssumedLifetime)) {
		t.Errorf("expiry %v assumed %v, want %v assumed", rec.Expiry, rec.ExpiryAssumed, f.now.Add(time.Hour))
	}

	// The assumed expiry is refreshed like any other, with the
	// connection's token_lifetime.
	r := f.refresher(t)
	r.TokenLifetime = 20 * time.Minute
	res, err := r.Ensure(context.Background(), "c", f.client, 2*time.Hour)
	if err != nil || !res.Refreshed {
		t.Fatalf("-min-valid beyond the assumed expiry: refreshed %v, %v", res != nil && res.Refreshed, err)
	}
	rec, _ = f.store(t).Get(context.Background(), "c")
	if !rec.ExpiryAssumed || !rec.Expiry.Equal(f.now.Add(20*time.Minute)) {
		t.Errorf("with token_lifetime 20m: expiry %v assumed %v", rec.Expiry, rec.ExpiryAssumed)
	}

	f.emu.SetFaults(emulator.Faults{})
	if _, err := f.refresher(t).Ensure(context.Background(), "c", f.client, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	rec, _ = f.store(t).Get(context.Background(), "c")
	if rec.ExpiryAssumed || rec.Expiry.IsZero() {
		t.Errorf("an answer with expires_in: expiry %v assumed %v, want the provider's", rec.Expiry, rec.ExpiryAssumed)
	}
}
