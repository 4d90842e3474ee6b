package apply

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oauthform/oauthform/internal/config"
	"github.com/oauthform/oauthform/internal/plan"
	"github.com/oauthform/oauthform/internal/providers"
	"github.com/oauthform/oauthform/internal/state"
)

// failingPuts is a store whose writes fail while fail is set, from the
// (after+1)th write on, as a full disk or a revoked permission would make
// them. It hides the store's custody journal (it embeds only state.Store),
// so the emergency file is the last resort.
type failingPuts struct {
	state.Store
	fail  bool
	after int
	puts  int
}

func (s *failingPuts) Put(ctx context.Context, rec *state.Record) error {
	s.puts++
	if s.fail && s.puts > s.after {
		return errors.New("disk full")
	}
	return s.Store.Put(ctx, rec)
}

// A rotating provider answered a refresh but the state write failed: the
// new tokens (the only live ones) go to a 0600 emergency file, the error
// says how to restore them, and Restore puts them back so the next refresh
// works without a new grant.
func TestEnsureStateWriteFailureSavesEmergencyFile(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC))
	st := &failingPuts{Store: f.store(t), fail: true, after: 1} // the intent is written, the answer is not
	dir := t.TempDir()
	r := &Refresher{Store: st, Now: func() time.Time { return f.now }, EmergencyDir: dir}
	old, err := st.Get(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}

	_, ensureErr := r.Ensure(context.Background(), "c", f.client, time.Minute)
	if ensureErr == nil || !strings.Contains(ensureErr.Error(), "oauthform state restore") {
		t.Fatalf("err = %v, want advice to run state restore", ensureErr)
	}
	path := regexp.MustCompile(`saved to (\S+) \(mode 0600\)`).FindStringSubmatch(ensureErr.Error())
	if path == nil || filepath.Dir(path[1]) != dir {
		t.Fatalf("error does not name an emergency file in %s: %v", dir, ensureErr)
	}
	fi, err := os.Stat(path[1])
	if err == nil && fi.Mode().Perm() != 0o600 {
		err = errors.New(fi.Mode().String())
	}
	if err != nil {
		t.Fatalf("emergency file %s: %v, want mode 0600", path[1], err)
	}
	saved, err := os.ReadFile(path[1])
	if err != nil {
		t.Fatal(err)
	}
	var e emergencyTokens
	if err := json.Unmarshal(saved, &e); err != nil || e.RefreshToken == "" || e.RefreshToken == old.Refresh.Reveal() {
		t.Fatalf("emergency file does not hold the rotated refresh token: %v", err)
	}
	for _, s := range []string{old.Access.Reveal(), old.Refresh.Reveal(), e.AccessToken, e.RefreshToken} {
		if strings.Contains(ensureErr.Error(), s) {
			t.Errorf("the error reveals a token")
		}
	}
	// The old refresh token is dead at the provider now (rotation).
	if _, err := f.client.Refresh(context.Background(), old.Refresh); !providers.NeedsReconnect(err) {
		t.Fatalf("old refresh token after rotation: err = %v, want invalid_grant", err)
	}
	if got, _ := st.Get(context.Background(), "c"); got.Refresh.Reveal() != old.Refresh.Reveal() || got.InFlight == nil {
		t.Fatal("a failed write changed the record's tokens, or the intent is not in it")
	}

	st.fail = false
	conn, err := Restore(context.Background(), st, path[1], false)
	if err != nil || conn != "c" {
		t.Fatalf("Restore = %q, %v", conn, err)
	}
	restored, _ := st.Get(context.Background(), "c")
	if restored.Refresh.Reveal() == old.Refresh.Reveal() || restored.Status != state.StatusActive {
		t.Fatalf("Restore did not put the new tokens in: %+v", restored)
	}
	// The restored refresh token is the live one.
	f.now = f.now.Add(2 * time.Hour)
	res, err := r.Ensure(context.Background(), "c", f.client, time.Minute)
	if err != nil || !res.Refreshed {
		t.Fatalf("refresh with the restored token: %v", err)
	}
	// The file is now older than the state's tokens: restoring it again
	// would put dead tokens back, so it is refused.
	if _, err := Restore(context.Background(), st, path[1], false); !errors.Is(err, ErrStaleEmergency) {
		t.Errorf("restore of a stale file: err = %v, want ErrStaleEmergency", err)
	}
}

func TestRestoreRefusesForeignFiles(t *testing.T) {
	f := newFixture(t, "sms77", []string{"sms"}, time.Date(2026, 11, 24, 13, 0, 0, 0, time.UTC))
	st := f.store(t)
	dir := t.TempDir()
	notEmergency := filepath.Join(dir, "x.json")
	if err := os.WriteFile(notEmergency, []byte(`{"access_token":"a"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(context.Background(), st, notEmergency, false); err == nil || !strings.Contains(err.Error(), "not an oauthform emergency file") {
		t.Errorf("foreign file: err = %v", err)
	}
	rec, _ := st.Get(context.Background(), "c")
	rec.ClientID = "another-client"
	path, err := writeEmergency(dir, rec, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(context.Background(), st, path, false); err == nil || !strings.Contains(err.Error(), "another-client") {
		t.Errorf("tokens of another client: err = %v", err)
	}
}

// A new grant whose tokens the state cannot take is not dropped: they go
// to an emergency file, and restoring it recreates the connection, so the
// next plan does not ask for the grant again.
func TestGrantStateWriteFailureKeepsTheGrant(t *testing.T) {
	w := newWorld(t)
	conns := "connection \"c\" {\n  app = app.sms77\n  scopes = [\"sms\"]\n}\n"
	if err := os.WriteFile(filepath.Join(w.dir, "main.oauth.hcl"), []byte(w.providerBlocks()+conns), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(w.dir, config.Inputs{})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	ctx := context.Background()
	lineage, err := w.store.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := w.store.Snapshot(ctx)
	p, _ := plan.Diff(cfg, snap, w.now, plan.Options{})
	st := &failingPuts{Store: w.store, fail: true}
	dir := t.TempDir()
	ex := w.executor(cfg, st, lineage)
	ex.EmergencyDir = dir
	outs := ex.Run(ctx, p)
	if len(outs) != 1 || outs[0].Err == nil || !strings.Contains(outs[0].Err.Error(), "oauthform state restore") {
		t.Fatalf("outcomes = %+v, want the grant kept in an emergency file", outs)
	}
	path := regexp.MustCompile(`saved to (\S+) \(mode 0600\)`).FindStringSubmatch(outs[0].Err.Error())
	if path == nil {
		t.Fatalf("no emergency file named: %v", outs[0].Err)
	}
	if _, err := Restore(ctx, w.store, path[1], false); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	snap, _ = w.store.Snapshot(ctx)
	rec := snap.Records["c"]
	if rec == nil || rec.Access.IsZero() || rec.RedirectURI != redirect {
		t.Fatalf("restored record = %+v", rec)
	}
	p, _ = plan.Diff(cfg, snap, w.now, plan.Options{})
	for _, a := range p.Actions {
		if a.Kind == plan.Connect || a.Kind == plan.Reconnect {
			t.Fatalf("after restoring the grant the plan asks for it again: %s %v", kinds(p), a.Reasons)
		}
	}
}
